-- nt3.cli.repl: `nt3 repl`, and `nt3 run` with no script at a terminal
-- (docs/architecture.md, "The REPL"). A Lua prompt with `nt3` loaded: an
-- expression prints its value, a statement that is not finished yet reads
-- more lines, as `lua -i` does. Each line runs as a task of nt3.task, so
-- requests may run side by side; Ctrl-C ends the line being typed, or
-- cancels the task that runs. Private to commands/repl.lua and
-- commands/run.lua.
local _G, debug, getmetatable, io, ipairs, load = _G, debug, getmetatable, io, ipairs, load
local pairs, require, select, setmetatable, table = pairs, require, select, setmetatable, table
local tostring, type, xpcall = tostring, type, xpcall
local embedded = require "nt3.embedded"
local fs = require "nt3.fs"
local json = require "nt3.json"
local policy = require "nt3.policy"
local prompt = require "nt3.prompt"

local M = {}

M.HISTORY_LINES = 1000              -- kept in the file, the newest
M.HISTORY_MAX_BYTES = 1024 * 1024   -- a longer file is not read
local FILE_MODE = 384               -- 0600
local ENOENT = 2

---------------------------------------------------------------------------
-- history: $XDG_STATE_HOME/nt3/history, one line an entry
---------------------------------------------------------------------------

-- history.path() -> the file | nil, message
function M.history_path()
  local dir, err = require("nt3.xdg").dir("state")
  if not dir then return nil, err end
  return dir .. "/history"
end

-- The lines of the history file | nil, why it is not used. It is read only
-- if it is a regular file of this user's, not a link: lstat first, then
-- the read, then lstat again, the same file (a link swapped in meanwhile
-- is caught by the second look, having been read for nothing).
local function read_history(path)
  local st, err, code = fs.lstat(path)
  if not st then
    if code == ENOENT then return {} end
    return nil, err
  end
  if st.type == "link" then return nil, path .. " is a symbolic link" end
  if st.type ~= "file" then return nil, path .. " is not a regular file" end
  if st.uid ~= require("nt3.env").uid() then return nil, path .. " is owned by another user" end
  local text, rerr = fs.read(path, M.HISTORY_MAX_BYTES)
  local again = fs.lstat(path)
  if not text then return nil, rerr end
  if not again or again.type ~= "file" or again.ino ~= st.ino or again.dev ~= st.dev then
    return nil, path .. " changed while it was read"
  end
  local lines = {}
  for line in text:gmatch("[^\n]+") do lines[#lines + 1] = line end
  return lines
end

local History = {}
History.__index = History

-- The session's history: its lines, and where they are kept (nil: nowhere,
-- after one warning saying why).
local function open_history(warn)
  local h = setmetatable({ lines = {} }, History)
  local path, err = M.history_path()
  local dir = path and path:match("^(.*)/[^/]*$")
  local ok = path and require("nt3.xdg").own_dir(dir, true)
  if ok then h.lines, err = read_history(path) end
  if not ok or not h.lines then
    h.lines = {}
    warn(("the REPL keeps no history: %s"):format(err or (dir .. " is not a directory of this user")))
    return h
  end
  h.path = path
  return h
end

-- history:add(line): an entry, written to the file at once (atomically,
-- 0600, never through a link: fs.write). A line holding token-shaped text
-- is kept for this session only, never written.
function History:add(line, warn)
  if line:find("^%s*$") or self.lines[#self.lines] == line then return false end
  self.lines[#self.lines + 1] = line
  if #self.lines > M.HISTORY_LINES then table.remove(self.lines, 1) end
  if not self.path then return true end
  if policy.redact(line) ~= line then
    self.secret = true
    self.lines[#self.lines] = nil
    return true
  end
  local ok, err = fs.write(self.path, table.concat(self.lines, "\n") .. "\n", FILE_MODE, { sync = false })
  if not ok then
    warn(("the REPL keeps no history: %s"):format(err))
    self.path = nil
  end
  return true
end

---------------------------------------------------------------------------
-- values as text
---------------------------------------------------------------------------

-- Whether t is a list: json.array_mt, or keys 1..n (and, as
-- table.pack makes them, maybe n = n, which is then left out of keys).
local function is_array(t, keys)
  if getmetatable(t) == json.array_mt then return true end
  local n = #keys
  if keys[n] == "n" and t.n == n - 1 then n = n - 1 end
  if n == 0 then return false end
  for i = 1, n do
    if keys[i] ~= i then return false end
  end
  keys[n + 1] = nil
  return true
end

local function key_order(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return ta < tb end
  if ta == "number" or ta == "string" then return a < b end
  return tostring(a) < tostring(b)
end

local show

local function show_table(t, indent, seen, out)
  local mt = getmetatable(t)
  if type(mt) == "table" and mt.__tostring then
    out[#out + 1] = tostring(t)
    return
  end
  if type(mt) == "table" and type(mt.__name) == "string" then
    out[#out + 1] = "<" .. mt.__name .. ">"
    return
  end
  if seen[t] then
    out[#out + 1] = "<cycle>"
    return
  end
  seen[t] = true
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, key_order)
  local array = is_array(t, keys)
  if #keys == 0 then
    out[#out + 1] = array and "[]" or "{}"
  else
    local inner = indent .. "  "
    out[#out + 1] = array and "[\n" or "{\n"
    for i, k in ipairs(keys) do
      out[#out + 1] = inner
      if not array then
        out[#out + 1] = type(k) == "string" and json.encode(k) or "[" .. tostring(k) .. "]"
        out[#out + 1] = ": "
      end
      show(t[k], inner, seen, out)
      out[#out + 1] = i < #keys and ",\n" or "\n"
    end
    out[#out + 1] = indent .. (array and "]" or "}")
  end
  seen[t] = nil
end

function show(v, indent, seen, out)
  if v == json.null then
    out[#out + 1] = "null"
  elseif type(v) == "string" then
    out[#out + 1] = json.encode(v) or ("%q"):format(v)
  elseif type(v) == "table" then
    show_table(v, indent, seen, out)
  else
    out[#out + 1] = tostring(v)
  end
end

-- repl.text(...) -> the values as the REPL shows them: a string as it is,
-- a table as indented JSON-ish text (keys sorted, strings quoted; what
-- JSON has no words for as Lua names it), several values a line each.
function M.text(...)
  local parts = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if type(v) == "string" then
      parts[i] = v
    else
      local out = {}
      show(v, "", {}, out)
      parts[i] = table.concat(out)
    end
  end
  return table.concat(parts, "\n")
end

---------------------------------------------------------------------------
-- reading and running
---------------------------------------------------------------------------

-- The chunk for what was typed, as lua -i finds it: on its first line,
-- `=expr` and `expr` are tried as `return expr`. Returns fn | nil, message
-- | nil, nil (not finished: the syntax error is at the end of the text).
local function compile(text, first)
  if first then
    local expr = text:match("^%s*=(.*)$")
    local fn = load("return " .. (expr or text), "=stdin", "t")
    if fn then return fn end
  end
  local fn, err = load(text, "=stdin", "t")
  if fn then return fn end
  if err:sub(-5) == "<eof>" then return nil, nil end
  return nil, err
end

local function message_of(e)
  if type(e) == "table" and type(e.message) == "string" then return e.message end
  if type(e) == "string" then return e end
  return M.text(e)
end

-- Runs fn as a task of its own, while Ctrl-C raises "interrupted"
-- (nt3.cli.script): in fn when it runs Lua, here when every task waits,
-- and then fn's task is cancelled (its request aborted) and waited for.
-- Returns true, fn's results (packed) | false, the error.
local function evaluate(fn)
  local task, script = require "nt3.task", require "nt3.cli.script"
  local function handler(e)
    if policy.debug() and type(e) == "string" then return debug.traceback(e, 2) end
    return e
  end
  local lineedit = require "nt3.lineedit"
  script.catch_interrupts()
  lineedit.let_interrupts()
  local t = task.spawn(function() return table.pack(xpcall(fn, handler)) end)
  local ok, r = xpcall(task.wait, handler, t)
  if not ok then
    task.cancel(t)
    while not t:done() do xpcall(task.wait, handler, t) end
  end
  -- Ctrl-C, wherever it landed: the tasks the line spawned end too
  if not ok or (not r[1] and r[2] == task.INTERRUPTED) then task._cancel_others(task.INTERRUPTED) end
  lineedit.hold_interrupts()
  script.release_interrupts()
  if not ok then return false, r end
  if not r[1] then return false, r[2] end
  return true, table.pack(table.unpack(r, 2, r.n))
end

-- Ctrl-C at the prompt: the tasks earlier lines spawned and left (they
-- run only while a line is evaluated) end, "interrupted" raised where
-- each waits, their <close> clean-ups run, before the prompt comes back.
local function stop_spawned()
  local script, lineedit = require "nt3.cli.script", require "nt3.lineedit"
  local task = require "nt3.task"
  script.catch_interrupts()
  lineedit.let_interrupts()
  task._cancel_others(task.INTERRUPTED)
  lineedit.hold_interrupts()
  script.release_interrupts()
end

-- The REPL's output: through the sanitiser on a terminal (what is shown
-- came from a server), as it is on a pipe.
local function shown(name, text)
  if prompt.isatty(name) then return policy.sanitize(text, 0, { lines = true }) end
  return text
end

local function open_reader(interactive, warn)
  local lineedit = require "nt3.lineedit"
  if not interactive then return lineedit.plain() end
  local reader, why = lineedit.open()
  if reader then return reader end
  warn(("line editing is off (%s): lines are read as the terminal gives them"):format(why))
  return lineedit.plain()
end

-- repl.run() -> exit code: 0 when standard input ends (Ctrl-D)
function M.run()
  local interactive = prompt.isatty("stdin")
  local function warn(message) policy.warn(message) end
  -- Ctrl-C is this loop's own while a line is read (nt3.lineedit), the
  -- task's while it runs (evaluate), and waits for the next read between
  local lineedit = require "nt3.lineedit"
  lineedit.hold_interrupts()
  require("nt3.cli.script").release_interrupts()
  local reader = open_reader(interactive, warn)
  local history = interactive and open_history(warn) or nil
  if history then
    for _, line in ipairs(history.lines) do reader:add(line) end
  end
  _G.nt3 = require "nt3"
  if interactive then
    io.stdout:write(("nt3 %s, Lua 5.4: `nt3` is loaded (nt3.api, nt3.task, ...). Ctrl-D leaves.\n")
      :format(embedded.version))
  end
  local pending
  while true do
    local line, err, code = reader:read(interactive and (pending and ">> " or "> ") or "")
    if not line then
      if code == "interrupted" then
        pending = nil
        io.stdout:write("\n")
        stop_spawned()
      else
        if interactive then io.stdout:write("\n") end
        if code ~= "end_of_input" then
          warn("cannot read a line: " .. tostring(err))
          reader:close()
          lineedit.let_interrupts()
          return 1
        end
        break
      end
    else
      if history and history:add(line, warn) then reader:add(line) end
      local text = pending and pending .. "\n" .. line or line
      local fn, cerr = compile(text, pending == nil)
      if fn then
        pending = nil
        local ok, results = evaluate(fn)
        if ok and results.n > 0 then
          io.stdout:write(shown("stdout", M.text(table.unpack(results, 1, results.n))), "\n")
        elseif not ok then
          local msg = message_of(results)
          io.stderr:write(shown("stderr", msg), "\n")
        end
      elseif cerr then
        pending = nil
        io.stderr:write(shown("stderr", cerr), "\n")
      else
        pending = text
      end
    end
  end
  reader:close()
  lineedit.let_interrupts()
  return 0
end

return M
