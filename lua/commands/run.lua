-- nt3 run <file.lua|-> [args...]: a user's automation script, with the nt3
-- API a `require "nt3"` away and `arg` set as the lua interpreter sets it.
-- nt3.cli runs it as a task of nt3.task (as_task), with Ctrl-C raising
-- "interrupted" in it.
local _G, error, io, ipairs, load, loadfile, math, package = _G, error, io, ipairs, load, loadfile, math, package
local require, table, tostring = require, table, tostring
local cli = require "nt3.cli"
local script = require "nt3.cli.script"

-- A UTF-8 byte order mark, then a first line starting with '#' (`#!/usr/bin/env
-- -S nt3 run`), are skipped as loadfile skips them; the line stays, empty,
-- so that line numbers are those of the file.
local function skip_header(text)
  text = text:gsub("^\239\187\191", "", 1)
  if text:sub(1, 1) == "#" then text = text:gsub("^[^\n]*", "", 1) end
  return text
end

-- The script as a function: "-" is standard input (chunk name "stdin"),
-- anything else a file. "t": source text only; bytecode is never loaded.
local function load_script(file)
  if file ~= "-" then return loadfile(file, "t") end
  local text, err = io.stdin:read("a")
  if not text then return nil, "cannot read the script from standard input: " .. tostring(err) end
  return load(skip_header(text), "=stdin", "t")
end

-- Modules beside the script: its own directory, links resolved, is searched
-- right after nt3's own modules, before package.path. Never the current
-- directory as such (docs/architecture.md, "Commands"), and nothing for a
-- script from standard input. A file found there is run only if it passes the trust check of user commands
-- (user.code: fs.read_trusted, on the descriptor it checked): in a
-- directory others can write to (/tmp itself, a shared 1777 one), another
-- user could otherwise put their code there as the script's module.
local FORMS = { "%s%s.lua", "%s%s/init.lua" }

local function search_beside(file)
  if file == "-" then return end
  local real = script.realpath(file)
  local dir = real and real:match("^(.*/)[^/]*$")
  if not dir then return end
  local fs, user = require "nt3.fs", require "nt3.cli.user"
  table.insert(package.searchers, 3, function(name)
    local rel = name:gsub("%.", "/")
    local tried = {}
    for i, form in ipairs(FORMS) do
      local path = form:format(dir, rel)
      if fs.lstat(path) then
        local chunk, why = user.code(path)
        if not chunk then error(("module '%s' is not loaded: %s"):format(name, why), 0) end
        return chunk, path
      end
      tried[i] = "no file '" .. path .. "'"
    end
    return table.concat(tried, "\n\t")
  end)
end

return {
  name = "run",
  summary = "Run a Lua script with the nt3 API available",
  args = { "file?", "args..." },
  -- completion offers Lua files (and directories) for the script
  complete = "*.lua",
  -- everything after the script's name belongs to the script
  stop_at_first_arg = true,
  as_task = true,
  flags = {
    { long = "no-progress", help = "task.map shows no progress on stderr (a terminal shows it after a second)" },
  },
  description = [[
The script runs in nt3's Lua 5.4 with `require "nt3"` giving the whole API
(see lua-api.md in share/doc/nt3). `arg[0]` is the script's path and arg[1..n] its
arguments; `-` reads the script from standard input. A first line starting
with '#' is skipped, so a script can start with `#!/usr/bin/env -S nt3 run`
and be made executable. Only Lua source is run, never precompiled bytecode.
With no script, at a terminal, it starts the REPL (see nt3 repl).

The script runs as a task of nt3.task: it may call task.spawn, task.map and
task.sleep as it is. A task.map that takes more than a second shows its
progress on stderr when stderr is a terminal, erased when the map ends
(--no-progress, NT3_NO_PROGRESS or `nt3 config set progress false`: none).
`require` also finds modules in the script's own directory (never in the
current one), if they pass the trust check of user commands: owned by you
or root, and neither the file nor a directory above it writable by group
or others. Ctrl-C raises the error
"interrupted" in the Lua code that runs: pcall catches it, <close>
variables are closed. One that comes during a wait (a request,
task.sleep) ends the script, its <close> variables closed. Uncaught, it
ends nt3 with exit code 130; a second Ctrl-C ends nt3 at once.]],
  examples = { "nt3 run report.lua --since 2026-01-01", "nt3 run - < report.lua" },
  run = function(opts, ctx)
    local file = ctx.args[1]
    if file == nil then
      -- a person at a terminal gets the prompt; a pipe or a script still
      -- has to name its script
      if require("nt3.prompt").isatty("stdin") then return require("nt3.cli.repl").run(opts, ctx) end
      cli.usage_error("missing argument: file", ctx.command)
    end
    local chunk, err = load_script(file)
    if not chunk then cli.fail(err) end
    search_beside(file)
    local script_arg = { [0] = file }
    for i = 2, #ctx.args do script_arg[i - 1] = ctx.args[i] end
    script_arg[-1] = "nt3 run"
    _G.arg = script_arg
    local result = chunk(table.unpack(script_arg, 1, #script_arg))
    if math.type(result) == "integer" then return result end
    return 0
  end,
}
