-- Progress on stderr
-- (docs/architecture.md, "Output for people and for pipes"): ui.progress, and the one task.map and nt3 api --paginate show
-- by themselves after a second. Each run is on a real pseudo-terminal
-- (tests/helpers/pty_run.py) with stdout sent to a file, so what the
-- terminal shows is stderr's alone and stdout's bytes are checked exactly;
-- or with stderr a pipe. No check depends on timing: slow work sleeps well
-- past the delay, and the final screen is what matters.
local at = require "helpers.apitest"
local pty = require "helpers.pty"
local sh = require "helpers.sh"

local ESC = "\27"

-- The lines a terminal shows once it has drawn `output`: "\r" goes back to
-- the line's start, ESC [ K erases the rest of the line, "\n" starts the
-- next one, anything else is written over what the line held.
local function screen(output)
  local lines, row, col = { "" }, 1, 0
  local i = 1
  while i <= #output do
    local c = output:sub(i, i)
    if c == "\r" then
      col = 0
    elseif c == "\n" then
      row = row + 1
      lines[row] = lines[row] or ""
      col = 0
    elseif output:sub(i, i + 2) == ESC .. "[K" then
      lines[row] = lines[row]:sub(1, col)
      i = i + 2
    else
      local line = lines[row]
      if #line < col then line = line .. (" "):rep(col - #line) end
      lines[row] = line:sub(1, col) .. c .. line:sub(col + 2)
      col = col + 1
    end
    i = i + 1
  end
  return lines
end

-- Starts `args` (nt3's own) at a pty of opts.columns columns with stdout
-- sent to a file; result() -> the pty's result, and stdout's bytes.
local function start(args, opts)
  opts = opts or {}
  local out = sh.tmpdir() .. "/stdout"
  local argv = { "-c", 'exec "$0" "$@" >"$PROGRESS_SPEC_OUT"', sh.bin }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local env = { PROGRESS_SPEC_OUT = out }
  for k, v in pairs(opts.env or {}) do env[k] = v end
  local run = pty.start(argv, { bin = "/bin/sh", env = env, home = opts.home, columns = opts.columns or 60,
    timeout = 30, steps = opts.steps })
  return {
    result = function()
      local r = run.result()
      return r, sh.slurp(out) or ""
    end,
  }
end

local function on_terminal(args, opts)
  return start(args, opts).result()
end

-- the lines of a bar in what the terminal was sent: "[###...] n/total"
local function bars(output, total)
  local list = {}
  for bar in output:gmatch("\r([^\r]-/" .. total .. ")" .. ESC .. "%[K") do list[#list + 1] = bar end
  return list
end

local function assert_blank(lines)
  for _, line in ipairs(lines) do assert.are.equal("", line, table.concat(lines, "\n")) end
end

-- a map of `n` items, one at a time, each sleeping `each` seconds
local function slow_map(n, each, opts)
  return sh.script(([[
local task = require("nt3").task
local r = task.map({ %s }, function(i) task.sleep(%g) return i * 10 end, { concurrency = 1%s })
io.stdout:write("results ", table.concat(r, ","), "\n")
]]):format(table.concat((function()
    local t = {}
    for i = 1, n do t[i] = tostring(i) end
    return t
  end)(), ", "), each, opts or ""))
end

describe("task.map's progress", function()
  it("appears on a terminal's stderr once the map has taken a second, never in stdout, and is erased at the end", function()
    local r, stdout = on_terminal { "run", slow_map(4, 0.5) }
    assert.are.equal(0, r.code, r.output)
    assert.are.equal("results 10,20,30,40\n", stdout)
    local shown = bars(r.output, 4)
    assert.is_true(#shown >= 1, r.output)
    assert.matches("^%[[#.]+%] %d/4$", shown[1])
    -- nothing else reached the terminal, and the bar left no trace on it
    assert.are.equal("", (r.output:gsub("\r[^\r]-/4" .. ESC .. "%[K", ""):gsub("\r" .. ESC .. "%[K", "")))
    assert_blank(screen(r.output))
  end)

  it("never flickers for quick work: a map that ends within the second draws nothing", function()
    local r, stdout = on_terminal { "run", sh.script([[
local task = require("nt3").task
local r = task.map({ 1, 2, 3 }, function(i) return i end)
io.stdout:write(#r, "\n")
]]) }
    assert.are.equal(0, r.code, r.output)
    assert.are.equal("3\n", stdout)
    assert.are.equal("", r.output)
  end)

  it("draws nothing when stderr is a pipe", function()
    local r = sh.run { "run", slow_map(3, 0.5) }
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("results 10,20,30\n", r.stdout)
    assert.are.equal("", r.stderr)
  end)

  it("is off with nt3 run --no-progress, NT3_NO_PROGRESS, the progress setting or the map's progress = false", function()
    local off_home = sh.tmpdir()
    local set = sh.run({ "config", "set", "progress", "false" }, { home = off_home })
    assert.are.equal(0, set.code, set.stderr)
    -- the environment wins over the setting
    local on_home = sh.tmpdir()
    assert.are.equal(0, sh.run({ "config", "set", "progress", "true" }, { home = on_home }).code)
    local runs = {
      flag = start { "run", "--no-progress", slow_map(3, 0.5) },
      env = start({ "run", slow_map(3, 0.5) }, { env = { NT3_NO_PROGRESS = "1" } }),
      env_over_setting = start({ "run", slow_map(3, 0.5) }, { home = on_home, env = { NT3_NO_PROGRESS = "yes" } }),
      setting = start({ "run", slow_map(3, 0.5) }, { home = off_home }),
      option = start { "run", slow_map(3, 0.5, ", progress = false") },
    }
    for name, run in pairs(runs) do
      local r, stdout = run.result()
      assert.are.equal(0, r.code, name .. ": " .. r.output)
      assert.are.equal("results 10,20,30\n", stdout, name)
      assert.are.equal("", r.output, name)
    end
    -- and the setting that turned it off shows its value
    local get = sh.run({ "config", "get", "progress", "--json" }, { home = off_home, env = { NT3_NO_PROGRESS = "1" } })
    assert.are.equal('{"key":"progress","source":"NT3_NO_PROGRESS","value":false}\n', get.stdout)
  end)

  it("follows the profile's setting over the global one, and takes only true or false", function()
    local home = sh.tmpdir()
    os.execute("mkdir -p -m 700 " .. sh.quote(home .. "/.nt3"))
    sh.spit(home .. "/.nt3/config.json", require("nt3.json").encode {
      token = "entri_progress_spec_global", settings = { progress = false },
      profiles = { work = { token = "entri_progress_spec_work", settings = { progress = true } } },
    })
    os.execute("chmod 600 " .. sh.quote(home .. "/.nt3/config.json"))
    local work = start({ "run", "--profile", "work", slow_map(3, 0.5) }, { home = home })
    local global = start({ "run", slow_map(3, 0.5) }, { home = home })
    local r, stdout = work.result()
    assert.are.equal(0, r.code, r.output)
    assert.are.equal("results 10,20,30\n", stdout)
    assert.is_true(#bars(r.output, 3) >= 1, r.output)
    r = global.result()
    assert.are.equal(0, r.code, r.output)
    assert.are.equal("", r.output)
    local bad = sh.run({ "config", "set", "progress", "off" }, { home = home })
    assert.are.equal(2, bad.code)
    assert.matches('progress must be true or false, not "off"', bad.stderr, 1, true)
  end)

  it("shows a hostile label as printable text", function()
    local r, stdout = on_terminal { "run", slow_map(3, 0.5, [[, progress = "\27]0;owned\7\27[31mred\27[2J"]]) }
    assert.are.equal(0, r.code, r.output)
    assert.are.equal("results 10,20,30\n", stdout)
    assert.truthy(r.output:find("?]0;owned??[31mred?[2J", 1, true),
      r.output)
    -- the only escape sequence on the terminal is the bar's own erase
    assert.is_nil((r.output:gsub(ESC .. "%[K", "")):find(ESC, 1, true), r.output)
    assert_blank(screen(r.output))
  end)

  it("is erased when Ctrl-C ends the map", function()
    local r = on_terminal({ "run", slow_map(3, 20) }, { steps = { { expect = "0/3" }, { send = "\3" } } })
    assert.are.equal(130, r.code, r.output)
    local lines = screen(r.output)
    assert.are.equal("nt3: interrupted", lines[1], r.output)
    for i = 2, #lines do assert.are.equal("", lines[i], r.output) end
  end)
end)

describe("ui.progress", function()
  local function script(source) return sh.script('local ui = require("nt3").ui\n' .. source) end

  it("draws at once on a terminal, within its width, and leaves the line as it was", function()
    local r, stdout = on_terminal({ "run", script([[
local p <close> = ui.progress { total = 3, label = ("a long label "):rep(10) .. "日本語" }
for _ = 1, 3 do p:add() end
io.stdout:write("ok\n")
]]) }, { columns = 30 })
    assert.are.equal(0, r.code, r.output)
    assert.are.equal("ok\n", stdout)
    local shown = bars(r.output, 3)
    assert.is_true(#shown >= 1, r.output)
    for _, bar in ipairs(shown) do
      assert.is_true(require("nt3.ui").width(bar) <= 29, bar)
      assert.matches("^a long label.*…", bar)
    end
    assert_blank(screen(r.output))
  end)

  -- Ctrl-C is raised at the next Lua instruction, which can be the moment
  -- the first draw's write returns: before ui.progress hands the bar to
  -- anyone who could close it. The script's stderr writer does what that
  -- Ctrl-C does (raises "interrupted" once the bar is written) and records
  -- each write, so the race happens every time.
  it("is erased when Ctrl-C lands in its first draw, and draws each line in one write", function()
    local r, stdout = on_terminal({ "run", script([[
local file = getmetatable(io.stderr).__index
local write, writes, raised = file.write, {}, false
file.write = function(f, ...)
  if f ~= io.stderr then return write(f, ...) end
  writes[#writes + 1] = table.concat({ ... })
  local ok, err = write(f, ...)
  if not raised and writes[#writes]:find("/3", 1, true) then
    raised = true
    error("interrupted", 0)
  end
  return ok, err
end
local ok, err = pcall(ui.progress, { total = 3, label = "work" })
file.write = write
io.stderr:write("caught ", tostring(err), "\n")
for _, w in ipairs(writes) do io.stdout:write(("%q"):format(w), "\n") end
]]) })
    assert.are.equal(0, r.code, r.output)
    local lines = screen(r.output)
    assert.are.equal("caught interrupted", lines[1], r.output)
    for i = 2, #lines do assert.are.equal("", lines[i], r.output) end
    -- the bar, then its erase: each a whole line, "\r" to ESC [ K
    local writes = {}
    for w in stdout:gmatch("[^\n]+") do writes[#writes + 1] = load("return " .. w)() end
    assert.are.equal(2, #writes, stdout)
    assert.matches("^\rwork %[%.+%] 0/3" .. ESC .. "%[K$", writes[1])
    assert.are.equal("\r" .. ESC .. "[K", writes[2])
  end)

  it("counts with no total, and is erased by an error", function()
    local r, stdout = on_terminal { "run", script([[
local p <close> = ui.progress { label = "pages" }
p:add(7)
io.stdout:write("before\n")
error("boom", 0)
]]) }
    assert.are.equal(1, r.code, r.output)
    assert.are.equal("before\n", stdout)
    assert.truthy(r.output:find("\rpages [|/\\-] %d+" .. ESC .. "%[K"), r.output)
    local lines = screen(r.output)
    assert.are.equal("nt3: boom", lines[1], r.output)
  end)

  it("writes nothing when stderr is a pipe", function()
    local r = sh.run { "run", script([[
local p = ui.progress { total = 2, label = "x" }
p:set(2)
p:done()
print("ok")
]]) }
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("ok\n", r.stdout)
    assert.are.equal("", r.stderr)
  end)

  it("follows the one rule of every bar: off with --no-progress, NT3_NO_PROGRESS or the progress setting", function()
    local source = script([[
local p <close> = ui.progress { total = 2, label = "own" }
p:set(1)
io.stdout:write("ok\n")
]])
    local off_home = sh.tmpdir()
    assert.are.equal(0, sh.run({ "config", "set", "progress", "false" }, { home = off_home }).code)
    local runs = {
      flag = start { "run", "--no-progress", source },
      env = start({ "run", source }, { env = { NT3_NO_PROGRESS = "1" } }),
      setting = start({ "run", source }, { home = off_home }),
    }
    for name, run in pairs(runs) do
      local r, stdout = run.result()
      assert.are.equal(0, r.code, name .. ": " .. r.output)
      assert.are.equal("ok\n", stdout, name)
      assert.are.equal("", r.output, name)
    end
    -- and it is the bar's setting that turned it off: on, it draws
    local r = on_terminal { "run", source }
    assert.are.equal(0, r.code, r.output)
    assert.is_true(#bars(r.output, 2) >= 1, r.output)
  end)

  it("is erased before output to the same terminal and drawn again after, never mixed with it", function()
    -- stdout is the terminal too here: print, io.write, io.stdout and
    -- io.stderr, ui.table, and a line written in two pieces
    local r = pty.run({ "run", script([[
local p <close> = ui.progress { total = 4, label = "working" }
p:add()
print("printed", 1)
io.write("two ")
p:add()
io.write("pieces\n")
io.stdout:write("to stdout\n")
io.stderr:write("to stderr\n")
assert(ui.table({ { a = 1 } }, { columns = { "a" } }))
p:add()
io.stdout:write("last\n")
]]) }, { columns = 50, timeout = 30 })
    assert.are.equal(0, r.code, r.output)
    local lines = screen(r.output)
    assert.are.same({ "printed\t1", "two pieces", "to stdout", "to stderr", "A", "1", "last", "" }, lines)
    -- the bar was shown between the lines, each time after a line had ended
    assert.is_true(#bars(r.output, 4) >= 3, r.output)
    assert.is_nil(r.output:find("two \r", 1, true), r.output)
  end)

  it("refuses a total that is not a whole number", function()
    local r = sh.run { "run", script([[ui.progress { total = 1.5 }]]) }
    assert.are.equal(1, r.code)
    assert.matches("bad argument #1 to 'progress' %(total must be a whole number", r.stderr)
  end)
end)

describe("nt3 api --paginate's progress", function()
  local srv
  setup(function() srv = require("helpers.server").start { tls = false } end)
  teardown(function() srv.stop() end)

  -- 3 pages, each answered after 0.6 s: the third arrives well after the second
  local LIST = "/list?per=2&total=6&delay=0.6"

  it("counts the items on a terminal's stderr, never in stdout, and erases itself", function()
    local piped = at.nt3(srv, { "api", LIST, "--paginate" })
    assert.are.equal(0, piped.code, piped.stderr)
    assert.are.equal("", piped.stderr)
    assert.are.equal(6, #at.decode(piped.stdout))
    local r, stdout = on_terminal({ "api", LIST, "--paginate" }, { env = at.env(srv) })
    assert.are.equal(0, r.code, r.output)
    assert.are.equal(piped.stdout, stdout)
    assert.truthy(r.output:find("\rnt3 api %-%-paginate: items [|/\\-] %d" .. ESC .. "%[K"), r.output)
    assert_blank(screen(r.output))
  end)

  it("is off with --no-progress or NT3_NO_PROGRESS", function()
    local flag = start({ "api", LIST, "--paginate", "--no-progress" }, { env = at.env(srv) })
    local env = start({ "api", LIST, "--paginate" }, { env = at.env(srv, { NT3_NO_PROGRESS = "1" }) })
    for _, run in ipairs { flag, env } do
      local r, stdout = run.result()
      assert.are.equal(0, r.code, r.output)
      assert.are.equal(6, #at.decode(stdout))
      assert.are.equal("", r.output)
    end
  end)
end)
