-- nt3.cli: the command registry, flag parsing, help text and the one place
-- where errors become a message on stderr and an exit code.
--
-- A command is a table: name, aliases, summary, flags, run (see
-- docs/writing-commands.md). Built-in commands are the embedded modules
-- commands.<name>; user commands are ~/.nt3/commands/<name>.lua and the
-- directories of NT3_COMMANDS_PATH. Both go through the same validation,
-- parsing and help.
local coroutine, debug, error, getmetatable, io = coroutine, debug, error, getmetatable, io
local ipairs, math, pairs, pcall, require = ipairs, math, pairs, pcall, require
local setmetatable, table, tostring, type, xpcall = setmetatable, table, tostring, type, xpcall
local check = require "nt3.check"
local embedded = require "nt3.embedded"
local policy = require "nt3.policy"
local registry = require "nt3.cli.registry"

local M = {}

M.EXIT = { ok = 0, failure = 1, usage = 2, not_logged_in = 4, interrupted = 130 }

-- The one table from a failure's kind (the stable code a library function
-- returns or raises with its message) to an exit code; every other kind,
-- an HTTP status included, is a failure (1).
local EXIT_OF_KIND = { not_logged_in = M.EXIT.not_logged_in, interrupted = M.EXIT.interrupted }

-- cli.exit_code(kind) -> the exit code for a failure of that kind
function M.exit_code(kind)
  return EXIT_OF_KIND[kind] or M.EXIT.failure
end

local PROGRAM = registry.PROGRAM

---------------------------------------------------------------------------
-- errors that carry an exit code
---------------------------------------------------------------------------

local Failure = {}
Failure.__index = Failure
Failure.__tostring = function(self) return self.message or "" end

-- cli.fail(message, code): stop the command; message goes to stderr as
-- "nt3: <message>" and the process exits with code (default 1), or with
-- the exit code of the failure kind given instead ("not_logged_in": 4).
function M.fail(message, code)
  if math.type(code) ~= "integer" then code = M.exit_code(code) end
  error(setmetatable({ message = message, code = code }, Failure), 0)
end

-- cli.usage_error(message, command): as fail, exit 2, followed by the
-- command's one line of usage and where its help is.
function M.usage_error(message, command)
  error(setmetatable({ message = message, code = M.EXIT.usage, usage_of = command }, Failure), 0)
end

local function is_failure(e) return getmetatable(e) == Failure end

---------------------------------------------------------------------------
-- output
---------------------------------------------------------------------------

function M.out(...)
  io.stdout:write(...)
end

function M.print(...)
  local parts = table.pack(...)
  for i = 1, parts.n do parts[i] = tostring(parts[i]) end
  io.stdout:write(table.concat(parts, " "), "\n")
end

function M.errorln(message)
  io.stderr:write(message, "\n")
end

-- cli.warn(message): "nt3: warning: <message>" on stderr, one line
M.warn = registry.warn

---------------------------------------------------------------------------
-- validation
---------------------------------------------------------------------------

local NAME = registry.NAME

-- cli.validate(command, where) -> command | nil, message
M.validate = registry.validate

---------------------------------------------------------------------------
-- flag parsing
---------------------------------------------------------------------------

local function key_of(flag) return (flag.long:gsub("-", "_")) end

local function store(opts, flag, value)
  local key = key_of(flag)
  if flag.multiple then
    local list = opts[key] or {}
    list[#list + 1] = value
    opts[key] = list
  else
    opts[key] = value
  end
end

local function arg_bounds(cmd)
  local min, max = 0, 0
  for _, a in ipairs(cmd.args or {}) do
    if a:sub(-3) == "..." then
      max = math.huge
    elseif a:sub(-1) == "?" then
      max = max + 1
    else
      min, max = min + 1, max + 1
    end
  end
  return min, max
end

-- The word after a flag that takes a value is that value, unless it is
-- one of the command's own flags: in `-t -u URL` the token was forgotten,
-- and "-u" is not it. Any other word is a value, a leading dash or not
-- (`--retries -1`, `-t -abc`, `--input -`).
local function is_flag(word, by_long, by_short)
  if word == "--" then return true end
  if word:sub(1, 2) == "--" then
    local name = word:match("^%-%-([^=]+)")
    return name == "help" or by_long[name] ~= nil
  end
  if #word > 1 and word:sub(1, 1) == "-" then
    local c = word:sub(2, 2)
    return c == "h" or by_short[c] ~= nil
  end
  return false
end

-- "unknown flag: --<name>", naming the nearest flag of the command, or
-- what the command says instead of a flag people expect (api's --jq)
local function unknown_flag(name, by_long, cmd)
  local instead = type(cmd.unknown_flags) == "table" and cmd.unknown_flags[name]
  if type(instead) == "string" then return ("unknown flag: --%s (%s)"):format(name, instead) end
  local longs = { "help" }
  for long in pairs(by_long) do longs[#longs + 1] = long end
  table.sort(longs)
  return require("nt3.cli.help").unknown_flag(name, longs)
end

-- cli.parse(command, argv) -> opts, args | nil, message[, unexpected argument]
-- opts is keyed by the long name with - turned into _ (opts.api_url);
-- a flag with multiple = true collects a list. args are the positionals.
-- A command that uses a token also takes the global --profile NAME
-- (opts.profile).
function M.parse(cmd, argv)
  check.arg(1, "parse", cmd, "table")
  check.arg(2, "parse", argv, "table")
  local by_long, by_short = {}, {}
  for _, f in ipairs(cmd.flags or {}) do
    by_long[f.long] = f
    if f.short then by_short[f.short] = f end
  end
  if registry.takes_profile(cmd) then by_long.profile = registry.PROFILE_FLAG end
  if registry.takes_format(cmd) then
    for _, f in ipairs(registry.FORMAT_FLAGS) do by_long[f.long] = f end
  end
  -- an extension's command parses its own flags, once the sandbox has said
  -- which they are (nt3.cli.ext); only a leading --help is nt3's
  if cmd.raw_args then
    if argv[1] == "--help" or argv[1] == "-h" then return { help = true }, {} end
    return {}, table.move(argv, 1, #argv, 1, {})
  end
  local opts, args = {}, {}
  local i, n = 1, #argv
  local only_args = false
  -- the next word, as the value of the flag the user spelt `spelt`
  local function next_value(spelt)
    if i + 1 > n or is_flag(argv[i + 1], by_long, by_short) then
      return nil, spelt .. " needs a value"
    end
    i = i + 1
    return argv[i]
  end
  while i <= n do
    local a = argv[i]
    if only_args or a == "-" or a:sub(1, 1) ~= "-" then
      args[#args + 1] = a
      if cmd.stop_at_first_arg then only_args = true end
    elseif a == "--" then
      only_args = true
    elseif a:sub(1, 2) == "--" then
      local name, value = a:match("^%-%-([^=]+)=(.*)$")
      name = name or a:sub(3)
      if name == "help" then
        opts.help = true
      else
        local f = by_long[name]
        if not f then return nil, unknown_flag(name, by_long, cmd) end
        if f.value then
          if value == nil then
            local err
            value, err = next_value("--" .. name)
            if not value then return nil, err end
          end
          store(opts, f, value)
        else
          if value ~= nil then return nil, ("flag --%s does not take a value"):format(name) end
          store(opts, f, true)
        end
      end
    else
      -- -abc: booleans combined; a flag taking a value takes the rest or the next
      local j = 2
      while j <= #a do
        local c = a:sub(j, j)
        if c == "h" then
          opts.help = true
        else
          local f = by_short[c]
          if not f then return nil, "unknown shorthand flag: '" .. c .. "' in " .. a end
          if f.value then
            local value = a:sub(j + 1)
            if value == "" then
              local err
              value, err = next_value("-" .. c)
              if not value then return nil, err end
            end
            store(opts, f, value)
            break
          end
          store(opts, f, true)
        end
        j = j + 1
      end
    end
    i = i + 1
  end
  if not opts.help then
    local min, max = arg_bounds(cmd)
    if #args < min then
      return nil, ("missing argument: %s"):format(cmd.args[#args + 1]:gsub("[?.]+$", ""))
    end
    if #args > max then
      return nil, ("unexpected argument: %s"):format(args[max + 1]), args[max + 1]
    end
  end
  return opts, args
end

---------------------------------------------------------------------------
-- help
---------------------------------------------------------------------------

-- The help text (nt3.cli.help) and user commands (nt3.cli.user) are
-- modules of their own, loaded on first use: this one is undumped on every
-- run, and most runs need neither.

-- cli.usage(command) -> the command's help text
function M.usage(cmd)
  check.arg(1, "usage", cmd, "table")
  return require("nt3.cli.help").usage(cmd)
end

---------------------------------------------------------------------------
-- the registry
---------------------------------------------------------------------------

local fs -- loaded on first use: `nt3 --version` needs no binding
local function the_fs()
  fs = fs or require "nt3.fs"
  return fs
end

local load_builtin = registry.load_builtin

-- cli.user_command_dirs() -> the directories user commands come from, in order
M.user_command_dirs = registry.user_command_dirs

-- cli.trusted(path, kind) -> true | nil, reason, errno
-- Code is only run from files and directories owned by the user or root
-- and not writable by group or others, nor is any directory above them up
-- to the home directory (or /). The rule lives in nt3.fs (fs.trusted), in
-- C, on the descriptors that are then read.
function M.trusted(path, kind)
  check.arg(1, "trusted", path, "string")
  if kind ~= "file" and kind ~= "directory" then
    check.fail(2, "trusted", ("invalid option '%s'"):format(tostring(kind)))
  end
  return the_fs().trusted(path, kind)
end

-- cli.commands() -> every command, sorted by name (user overrides applied)
function M.commands() return require("nt3.cli.user").commands() end

local function user_file(name)
  for _, dir in ipairs(M.user_command_dirs()) do
    local path = dir .. "/" .. name .. ".lua"
    if the_fs().stat(path) then return path end
  end
end

-- cli.find(name) -> command | nil
-- Looks only at what it has to: the built-in module of that name and one
-- file per user directory; every command is loaded only to resolve an alias.
function M.find(name)
  check.arg(1, "find", name, "string")
  if not name:match(NAME) then return nil end
  local builtin = load_builtin(name)
  local path = user_file(name)
  if path then
    local part = require "nt3.cli.user"
    local user = part.load(path)
    local chosen = user and user.name == name and part.arbitrate(user)
    if chosen then return chosen end
  end
  if builtin then return builtin end
  -- an extension's command: its name and summary are in the lock
  local ext = require("nt3.cli.ext").find(name)
  if ext then return ext end
  -- an alias: the lists know every one, and only its command is loaded
  for _, cmd in ipairs(require("nt3.cli.user").listing()) do
    for _, alias in ipairs(cmd.aliases or {}) do
      if alias == name then return cmd.builtin and load_builtin(cmd.name) or cmd end
    end
  end
  return nil
end

-- cli.unknown_command(name[, tail]): a usage error naming the nearest command
function M.unknown_command(name, tail)
  local near = M.suggest(name)
  local hint = near and (' (did you mean "%s"?)'):format(near) or ""
  M.usage_error(('unknown command "%s"%s%s'):format(name, hint, tail or ""))
end

-- cli.suggest(name) -> the nearest command name, if any is near enough
function M.suggest(name)
  check.arg(1, "suggest", name, "string")
  return require("nt3.cli.help").suggest(name)
end

-- cli.help_text() -> the command list shown by `nt3` and `nt3 help`
function M.help_text() return require("nt3.cli.help").help_text() end

function M.version_text()
  return ("nt3 version %s\n"):format(embedded.version)
end

---------------------------------------------------------------------------
-- running
---------------------------------------------------------------------------

-- A developer's traceback (NT3_DEBUG): the one message printed on more
-- than one line, on purpose.
local Trace = {}

-- An error raised with a kind by a library (nt3.api.pages) is a table
-- with a message and a kind.
local function has_kind(e) return type(e) == "table" and e.kind ~= nil and type(e.message) == "string" end

local function message_of(e)
  if is_failure(e) or getmetatable(e) == Trace or has_kind(e) then return e.message end
  if type(e) == "string" then return e end
  return tostring(e)
end

-- The message handler of a command's run: a developer's traceback is taken
-- where the error happened, before the stack unwinds.
local function traceback(e)
  if policy.debug() and not is_failure(e) then
    return setmetatable({ message = debug.traceback(message_of(e), 2), kind = has_kind(e) and e.kind or nil }, Trace)
  end
  return e
end

-- Scripts (`nt3 run`) and user commands run as a task of nt3.task, so they
-- may spawn, map and sleep with no set-up, and Ctrl-C raises "interrupted"
-- in them (nt3.cli.script). Built-ins do not: `nt3 status` loads neither.
local in_script = false

-- The progress nt3 shows by itself (task.map, nt3 api --paginate;
-- docs/architecture.md, "Output for people and for pipes"): a bar of
-- nt3.ui (opts: total, label, count, delay), which decides whether it is
-- shown (the terminal, --no-progress, NT3_NO_PROGRESS, the setting), as it
-- does for a command's own. opts.flag: false for --no-progress.
function M._progress(opts)
  local ui = require "nt3.ui"
  if opts.flag ~= nil then ui._set_progress_flag(opts.flag) end
  return ui.progress { total = opts.total, label = opts.label, count = opts.count, delay = opts.delay }
end

local function run_as_task(cmd, opts, ctx)
  local task = require "nt3.task"
  -- `nt3 config set http.concurrency`, read only if task.map needs it
  task._set_default_concurrency(function() return require("nt3.config.settings").get("http.concurrency") end)
  -- its progress, once a map has run a second; nt3 run --no-progress turns
  -- off every bar, the script's own ui.progress too. With stderr no
  -- terminal a map does not even start the timer (nt3.ui would show none).
  if opts.no_progress then require("nt3.ui")._set_progress_flag(false) end
  task._set_progress(require("nt3.prompt").isatty("stderr") and function(total, label, count)
    return M._progress { total = total, label = label, count = count }
  end or nil)
  local script = require "nt3.cli.script"
  local function script_error(e)
    if e == script.INTERRUPTED then
      return setmetatable({ message = e, code = M.EXIT.interrupted }, Failure)
    end
    return traceback(e)
  end
  local main
  local function body()
    main = coroutine.running()
    -- the error is handled in the task, where it happened: the traceback is
    -- still there, and the <close> variables are closed (a coroutine that
    -- dies of an error keeps them open)
    local ok, result = xpcall(cmd.run, script_error, opts, ctx)
    if not ok then error(result, 0) end
    return result
  end
  in_script = true
  script.catch_interrupts()
  local ok, result = pcall(task.run, body)
  script.release_interrupts()
  in_script = false
  -- interrupted while the scheduler waited (a request, task.sleep): the
  -- script's own <close> variables are closed all the same
  if main and coroutine.status(main) == "suspended" then coroutine.close(main) end
  if ok then return result end
  if result == script.INTERRUPTED then M.fail(result, M.EXIT.interrupted) end
  error(result, 0)
end

-- A script's `arg`, as `nt3 run` sets it (arg[-1] "nt3 run", arg[0] the
-- path as given): its command is run as `nt3 run <path>`, so its usage must
-- say that, not `nt3 <name>`, a command that does not exist. A copy, so the
-- script's own table is left as it wrote it.
local function as_script(cmd, argv)
  if argv[-1] ~= "nt3 run" or type(argv[0]) ~= "string" then return cmd end
  local copy = {}
  for k, v in pairs(cmd) do copy[k] = v end
  copy.script = argv[0]
  return copy
end

-- --profile NAME: the credential store takes the profile for this process
-- (nothing is written: two shells never race). An unknown profile is
-- "not logged in", exit 4.
local function use_profile(name)
  local config = require "nt3.config"
  if type(config.use_profile) ~= "function" then M.fail("profiles are not available") end
  local ok, err = config.use_profile(name)
  if not ok and err then M.fail(err, M.EXIT.not_logged_in) end
end

-- What a command with format = true prints its rows as: --format (default
-- table) and --columns (default: the command's columns, else the first
-- row's), checked before it runs (docs/architecture.md, "Output formats").
local function output_of(cmd, opts)
  local kind, columns = require("nt3.cli.format").choose(opts.format or "table", opts.columns)
  if not kind then M.usage_error(columns, cmd) end
  if kind ~= "json" then columns = columns or cmd.columns end
  return { kind = kind, columns = columns }
end

-- Runs a command with its own arguments; raises Failure on usage errors.
function M.run_command(cmd, argv, invoked_as)
  check.arg(1, "run_command", cmd, "table")
  check.arg(2, "run_command", argv, "table")
  check.arg(3, "run_command", invoked_as, "string", true)
  cmd = as_script(cmd, argv)
  local opts, args, unexpected = M.parse(cmd, argv)
  if not opts then
    -- `nt3 auth status` is what gh users type; here auth is login's alias
    if unexpected and unexpected:match(NAME) and load_builtin(unexpected) then
      args = ('%s (did you mean "%s %s"?)'):format(args, PROGRAM, unexpected)
    end
    M.usage_error(args, cmd)
  end
  -- a secret flag's value (login -t) leaves the process's arguments, which
  -- every local user can read (ps, /proc/<pid>/cmdline), once parsed
  for _, f in ipairs(cmd.flags or {}) do
    local value = f.secret and opts[key_of(f)]
    if type(value) == "string" then embedded.hide_arg(value) end
  end
  if opts.help then
    io.stdout:write(M.usage(cmd))
    return M.EXIT.ok
  end
  if opts.profile ~= nil and registry.takes_profile(cmd) then use_profile(opts.profile) end
  local output = registry.takes_format(cmd) and output_of(cmd, opts)
  local ctx = { name = invoked_as or cmd.name, command = cmd, args = args, argv = argv, cli = M }
  local result
  -- a sandboxed command runs as a task in its own state (src/sandbox.c)
  if (cmd.user or cmd.as_task) and not cmd.sandboxed and not in_script then
    result = run_as_task(cmd, opts, ctx)
  else
    result = cmd.run(opts, ctx)
  end
  -- a command with format = true returns its rows, written as --format says
  if output and type(result) == "table" then
    require("nt3.cli.format").write(output.kind, result, output.columns)
    return M.EXIT.ok
  end
  if result == nil or result == true then return M.EXIT.ok end
  if result == false then return M.EXIT.failure end
  if math.type(result) == "integer" then return result end
  error(("command '%s' returned %s instead of an exit code"):format(cmd.name, tostring(result)), 0)
end

local dispatch
function dispatch(argv)
  local first = argv[1]
  if first == nil then
    io.stdout:write(M.help_text())
    return M.EXIT.ok
  end
  if first == "--version" or first == "-v" then
    io.stdout:write(M.version_text())
    return M.EXIT.ok
  end
  if first == "--help" or first == "-h" then
    first = "help"
  end
  if first:sub(1, 1) == "-" then
    local near = require("nt3.cli.help").nearest(first:gsub("^%-+", ""), { "version", "help" })
    if near then M.usage_error(("unknown flag: %s (did you mean --%s?)"):format(first, near)) end
    M.usage_error(("unknown flag: %s (flags go after the command; see 'nt3 help')"):format(first))
  end
  local rest = table.move(argv, 2, #argv, 1, {})
  local cmd = M.find(first)
  if not cmd then
    -- only a name that is no command is looked up as an alias: no run of a
    -- command reads one (docs/architecture.md, "Settings and aliases")
    local expanded, why = require("nt3.cli.alias").expand(first, rest)
    if expanded == false then M.usage_error(why) end
    if expanded then return dispatch(expanded) end
    M.unknown_command(first, "; run 'nt3 help' for the list")
  end
  return M.run_command(cmd, rest, first)
end

-- cli.main(argv) -> exit code. Every error ends here, as one line.
-- The message quotes what the user typed and what a server or a script
-- said: it is printed as one line of printable text with every token
-- masked (a token is never printed whole, docs/architecture.md, invariant 5). A
-- traceback keeps its lines, its tokens masked all the same.
function M.main(argv)
  check.arg(1, "main", argv, "table")
  local ok, result = xpcall(dispatch, traceback, argv)
  -- output that never arrived (a full disk, a closed pipe) is a failure,
  -- never a success
  local flushed, ferr = io.stdout:flush()
  if ok and not flushed then
    ok, result = false, "cannot write to standard output: " .. tostring(ferr)
  end
  if ok then return result end
  local msg = message_of(result)
  if msg and msg ~= "" then
    local shown = getmetatable(result) == Trace and policy.redact(tostring(msg)) or policy.sanitize(tostring(msg))
    io.stderr:write(PROGRAM, ": ", shown, "\n")
  end
  if is_failure(result) then
    if result.usage_of then
      for line in require("nt3.cli.help").usage_hint(result.usage_of):gmatch("[^\n]+") do
        io.stderr:write(policy.sanitize(line), "\n")
      end
    end
    return result.code
  end
  if type(result) == "table" and result.kind ~= nil then return M.exit_code(result.kind) end
  return M.EXIT.failure
end

return M
