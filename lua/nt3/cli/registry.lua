-- nt3.cli.registry: what nt3.cli and its parts (nt3.cli.help, nt3.cli.user)
-- share, so each of them requires this one instead of reaching back into
-- nt3.cli: the program name, the warning line, a command's validation, the
-- built-in commands and the directories user commands come from. Use it
-- through nt3.cli (cli.warn, cli.validate, cli.user_command_dirs).
local assert, ipairs, load, pairs, require, tostring, type = assert, ipairs, load, pairs, require, tostring, type
local embedded = require "nt3.embedded"
local policy = require "nt3.policy"

local M = {}

M.PROGRAM = "nt3"

-- a command's name, and an alias
M.NAME = "^[%a][%w_-]*$"

-- cli.warn(message): "nt3: warning: <message>" on stderr, as one line: a
-- warning names files and quotes what servers and users wrote, and none of
-- that may add a line or reach the terminal as control codes
function M.warn(message)
  policy.warn(tostring(message))
end

---------------------------------------------------------------------------
-- validation
---------------------------------------------------------------------------

-- what is wrong with flag i of where, worded only when something is:
-- every run validates its command's flags (nt3 api has twenty)
local function bad_flag(where, i, why) return nil, ("%s: flags[%d]"):format(where, i) .. why end

local function check_flag(where, i, f)
  if type(f) ~= "table" then return bad_flag(where, i, " must be a table") end
  if type(f.long) ~= "string" or not f.long:match("^[%a][%w-]*$") then
    return bad_flag(where, i, ": 'long' must be a name like \"api-url\"")
  end
  if f.short ~= nil and (type(f.short) ~= "string" or not f.short:match("^%w$")) then
    return bad_flag(where, i, ": 'short' must be one letter or digit")
  end
  if f.value ~= nil and type(f.value) ~= "string" then
    return bad_flag(where, i, ": 'value' must be a string naming the value, like \"url\"")
  end
  if f.help ~= nil and type(f.help) ~= "string" then
    return bad_flag(where, i, ": 'help' must be a string")
  end
  if f.long == "help" or f.short == "h" then
    return bad_flag(where, i, ": -h/--help is reserved")
  end
  return true
end

-- cli.validate(command, where) -> command | nil, message
-- where names the source in messages (a file path or a module name).
function M.validate(cmd, where)
  where = where or "command"
  if type(cmd) ~= "table" then
    return nil, ("%s: a command must return a table, got %s"):format(where, type(cmd))
  end
  if type(cmd.name) ~= "string" or not cmd.name:match(M.NAME) then
    return nil, where .. ": field 'name' is missing or not a name (letters, digits, - and _)"
  end
  if type(cmd.summary) ~= "string" or cmd.summary == "" then
    return nil, where .. ": field 'summary' is missing (one line saying what the command does)"
  end
  if type(cmd.run) ~= "function" then
    return nil, where .. ": field 'run' is missing or not a function"
  end
  if cmd.aliases ~= nil then
    if type(cmd.aliases) ~= "table" then return nil, where .. ": field 'aliases' must be a list of names" end
    for _, a in ipairs(cmd.aliases) do
      if type(a) ~= "string" or not a:match(M.NAME) then
        return nil, where .. ": field 'aliases' must be a list of names"
      end
    end
  end
  if cmd.args ~= nil then
    if type(cmd.args) ~= "table" then return nil, where .. ": field 'args' must be a list of names" end
    for _, a in ipairs(cmd.args) do
      if type(a) ~= "string" then return nil, where .. ": field 'args' must be a list of names" end
    end
  end
  if cmd.flags ~= nil and type(cmd.flags) ~= "table" then
    return nil, where .. ": field 'flags' must be a list of flags"
  end
  if cmd.format ~= nil and type(cmd.format) ~= "boolean" then
    return nil, where .. ": field 'format' must be true (run returns rows) or false"
  end
  if cmd.columns ~= nil then
    local ok = type(cmd.columns) == "table" and #cmd.columns > 0
    for _, c in ipairs(ok and cmd.columns or {}) do
      if type(c) ~= "string" or c == "" then ok = false end
    end
    if not ok then
      return nil, where .. ": field 'columns' must be a list of field names, like { \"id\", \"owner.login\" }"
    end
  end
  local seen = {}
  for i, f in ipairs(cmd.flags or {}) do
    if cmd.format == true and (f.long == "format" or f.long == "columns") then
      return nil, ("%s: flag --%s comes with format = true; remove the command's own"):format(where, f.long)
    end
    local ok, err = check_flag(where, i, f)
    if not ok then return nil, err end
    for _, key in ipairs({ "--" .. f.long, f.short and ("-" .. f.short) }) do
      if key then
        if seen[key] then return nil, ("%s: flag %s is declared twice"):format(where, key) end
        seen[key] = true
      end
    end
  end
  return cmd
end

---------------------------------------------------------------------------
-- built-in commands: the embedded modules commands.<name>
---------------------------------------------------------------------------

local builtin_cache = {}

-- registry.load_builtin(name) -> command | nil
function M.load_builtin(name)
  if builtin_cache[name] == nil then
    if not embedded.has("commands." .. name) then
      builtin_cache[name] = false
    else
      local cmd = assert(M.validate(require("commands." .. name), "commands." .. name))
      cmd.builtin = true
      builtin_cache[name] = cmd
    end
  end
  return builtin_cache[name] or nil
end

local index

-- registry.builtin_index() -> every built-in as the lists show it, sorted
-- by name: { name, summary, aliases, hidden, builtin = true }. The build
-- read them from each command's own table (src/embedgen.c), so help,
-- completion's names and did-you-mean load no command module (one costs
-- a quarter of a millisecond to undump; docs/architecture.md, "Commands").
function M.builtin_index()
  if not index then
    index = embedded.commands()
    for _, entry in ipairs(index) do entry.builtin = true end
  end
  return index
end

-- registry.builtin_shape(entry) -> the built-in of that index entry as a
-- completion script needs it: the entry (its aliases as the list shows
-- them) with the flags, args, complete, stop_at_first_arg, uses_token and
-- format the build read from the command's table (src/embedgen.c), so
-- `nt3 completion` loads no command module; where the build could not read
-- them as plain data, the loaded module's fields.
function M.builtin_shape(entry)
  local text = embedded.command_shape(entry.name)
  local shape = text and assert(load(text, "=commands." .. entry.name .. " (index)", "t", { require = require }))()
    or M.load_builtin(entry.name)
  local cmd = {}
  for k, v in pairs(shape) do cmd[k] = v end
  for k, v in pairs(entry) do cmd[k] = v end
  return cmd
end

-- registry.builtin_names() -> the names of the built-in commands, sorted
function M.builtin_names()
  local names = {}
  for i, entry in ipairs(M.builtin_index()) do names[i] = entry.name end
  return names
end

-- registry.builtin_named(name) -> the index entry of the built-in whose
-- name or alias is name | nil (a user command's clash check, an
-- extension's at install)
function M.builtin_named(name)
  for _, entry in ipairs(M.builtin_index()) do
    if entry.name == name then return entry end
    for _, alias in ipairs(entry.aliases) do
      if alias == name then return entry end
    end
  end
  return nil
end

---------------------------------------------------------------------------
-- the global --profile flag
---------------------------------------------------------------------------

-- Every command that uses a token takes --profile NAME before its own flags
-- (nt3.cli.parse); a command says it uses none with uses_token = false. A
-- command that declares a --profile of its own reads it itself.
M.PROFILE_FLAG = {
  long = "profile", value = "name",
  help = "Use the token and API URL of this profile (default: NT3_PROFILE)",
}

-- registry.takes_profile(command) -> whether nt3.cli parses --profile for it
function M.takes_profile(cmd)
  if cmd.uses_token == false then return false end
  for _, f in ipairs(cmd.flags or {}) do
    if f.long == "profile" then return false end
  end
  return true
end

---------------------------------------------------------------------------
-- --format and --columns, for a command that returns rows
---------------------------------------------------------------------------

-- What --format takes (nt3 api, and a command with format = true); the
-- rows are written by nt3.cli.format (docs/architecture.md, "Output formats").
M.FORMATS = { "json", "table", "csv", "ndjson" }

M.FORMAT_FLAGS = {
  { long = "format", value = "format", complete = M.FORMATS,
    help = "Print the result as json, table (aligned on a terminal, tab-separated on a pipe), csv or ndjson" },
  { long = "columns", value = "a,b.c",
    help = "With --format table, csv or ndjson: these fields (b.c: field c of b) in this order" },
}

-- registry.takes_format(command) -> whether nt3.cli parses --format and
-- --columns for it (it says format = true; validate refused one that
-- declares either flag itself)
function M.takes_format(cmd)
  return cmd.format == true
end

---------------------------------------------------------------------------
-- where user commands come from
---------------------------------------------------------------------------

-- relative NT3_COMMANDS_PATH entries already warned about in this process
local warned_relative = {}

-- registry.config_dir() -> $NT3_CONFIG_DIR or ~/.nt3 | nil: where user
-- commands and extensions are looked for, without loading nt3.config
function M.config_dir()
  local env = require "nt3.env"
  local base = env.get("NT3_CONFIG_DIR")
  if not base or base == "" then
    local home = env.home()
    if home then base = home .. "/.nt3" end
  end
  -- never a relative NT3_CONFIG_DIR: that would be a directory of the
  -- current one (nt3.config refuses it too)
  if base and base:sub(1, 1) == "/" then return base end
end

-- cli.user_command_dirs() -> the directories user commands come from, in order
function M.user_command_dirs()
  local env = require "nt3.env"
  local dirs = {}
  local base = M.config_dir()
  if base then dirs[#dirs + 1] = base .. "/commands" end
  local extra = env.get("NT3_COMMANDS_PATH")
  if extra then
    for d in extra:gmatch("[^:]+") do
      if d:sub(1, 1) == "/" then
        dirs[#dirs + 1] = d
      elseif not warned_relative[d] then
        -- relative, it would name a directory of whatever repository one is
        -- in; skipped, but not silently, or a typo'd entry is never noticed
        warned_relative[d] = true
        M.warn(('ignoring relative directory "%s" in NT3_COMMANDS_PATH (only absolute directories are searched)')
          :format(d))
      end
    end
  end
  return dirs
end

return M
