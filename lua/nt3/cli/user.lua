-- nt3.cli.user: user commands for nt3.cli. Loading and checking one file
-- (only if fs.read_trusted accepts it), and the list of every command. nt3.cli
-- loads this only when a user command file exists or the whole list is
-- needed (help, an alias, a misspelt name): a run of a built-in with its
-- flags right does not undump it. Use it through nt3.cli (cli.commands).
local error, ipairs, load, pairs, pcall, require = error, ipairs, load, pairs, pcall, require
local table, tostring, type = table, tostring, type
local fs = require "nt3.fs"
local registry = require "nt3.cli.registry"

local M = {}

local USER_COMMAND_MAX = 1024 * 1024

local warned = {}
local function warn_once(message)
  if not warned[message] then
    warned[message] = true
    registry.warn(message)
  end
end

-- "skipping <path>: <why>", unless why already starts with the path (Lua's
-- own messages do, with the line: "<path>:4: unexpected symbol").
local function skip(path, why)
  if why:sub(1, #path + 1) == path .. ":" then
    warn_once("skipping " .. why)
  else
    warn_once("skipping " .. path .. ": " .. why)
  end
end

-- The line of the file's top-level `return`, where the command table is
-- built: a missing field is pointed at there.
local function return_line(text)
  local found, n = nil, 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    if line:match("^return%f[%W]") then found = n end
  end
  return found
end

-- user.code(path) -> chunk, text | nil, why: the Lua source of a file
-- that may be run (user commands, modules beside an `nt3 run` script).
-- The text comes from the descriptor that passed the trust check
-- (fs.read_trusted), never from the path again: whoever can rename entries
-- on the path could otherwise swap in their own file between the check and
-- the read. Source only, never bytecode.
function M.code(path)
  local text, why = fs.read_trusted(path, USER_COMMAND_MAX)
  if not text then return nil, why end
  local chunk, lerr = load(text, "@" .. path, "t")
  if not chunk then return nil, lerr end
  return chunk, text
end

-- A command that declares `permissions` as the host knows it: the plain
-- data sandbox.describe copied out of a sandbox state, and a run that
-- runs it in a sandbox of its own (nt3.cli.sandboxed, src/sandbox.c). Its
-- code never runs in this state.
local function sandboxed(path, desc)
  local dir, file = path:match("^(.*)/([^/]+)$")
  local cmd = {}
  for k, v in pairs(desc) do cmd[k] = v end
  cmd.has_run = nil
  local runner = require "nt3.cli.sandboxed"
  cmd.flags = runner.flags(cmd.flags)
  cmd.sandboxed = true
  cmd.run = function(opts, ctx)
    return runner.run({ dir = dir, file = file, permissions = cmd.permissions, name = ctx.name, opts = opts,
      args = ctx.args }, cmd)
  end
  return cmd
end

-- user.load(path) -> command | nil: one user command file; warns and
-- returns nil when it cannot be used.
function M.load(path)
  local chunk, text = M.code(path)
  if not chunk then
    skip(path, text)
    return nil
  end
  -- a file that may declare permissions (its text names them, however the
  -- key is written) is first loaded in a sandbox, and if it does, its code
  -- never runs here. One that cannot be loaded there is refused rather than
  -- run here: its top level would run with full authority before anyone
  -- saw what it declares.
  local cmd
  if text:find("permissions", 1, true) then
    local dir, file = path:match("^(.*)/([^/]+)$")
    local desc, berr, bcode = require("nt3.sandbox").describe { dir = dir, file = file }
    if not desc then
      -- Ctrl-C while its top level ran ends nt3, not this one file (which
      -- would be read again by the next lookup)
      if bcode == "interrupted" then error({ message = "interrupted", kind = "interrupted" }, 0) end
      skip(path, tostring(berr))
      return nil
    end
    if desc.permissions ~= nil then
      if not desc.has_run then
        skip(path, "field 'run' is missing or not a function")
        return nil
      end
      cmd = sandboxed(path, desc)
    end
  end
  if not cmd then
    local okrun, result = pcall(chunk)
    if not okrun then
      skip(path, tostring(result))
      return nil
    end
    -- permissions that appear only here (a key the text does not spell, a
    -- value that depends on where it runs) are never trusted: such a
    -- command would be shown as sandboxed and run with full authority
    local read, declared = pcall(function() if type(result) == "table" then return result.permissions end end)
    if not read or declared ~= nil then
      skip(path, "it declares permissions only when loaded outside a sandbox, so it is not run")
      return nil
    end
    cmd = result
  end
  local line = return_line(text)
  local valid, verr = registry.validate(cmd, line and (path .. ":" .. line) or path)
  if not valid then
    skip(path, verr)
    return nil
  end
  -- find() looks a command up by its file name, so the two must agree
  local base = path:match("([^/]+)%.lua$")
  if cmd.name ~= base then
    skip(path, ("the command is named '%s', so its file must be %s.lua"):format(cmd.name, cmd.name))
    return nil
  end
  cmd.source = path
  cmd.user = true
  return cmd
end

local function dir_exists(dir)
  local st = fs.stat(dir)
  return st and st.type == "directory"
end

-- The built-in a user command's name or alias clashes with (its name or
-- one of its aliases), as a warning's words; nil when there is none.
local function clash(user)
  local names = { user.name, table.unpack(user.aliases or {}) }
  for i, name in ipairs(names) do
    local builtin = registry.builtin_named(name)
    if builtin then
      local mine = i == 1 and "it has the name" or ("its alias '%s' is the name"):format(name)
      if builtin.name == name then
        return builtin, name, ("%s of the built-in command '%s'"):format(mine, name)
      end
      return builtin, name, ("%s of an alias of the built-in command '%s'"):format(mine, builtin.name)
    end
  end
end

-- user.arbitrate(user) -> the user command, or nil when a built-in keeps
-- the name. A user command may take a built-in's name, or a built-in's
-- alias, only when it says so (overrides = true); otherwise it is ignored
-- with a warning. An alias never takes a built-in's own name: finding that
-- would mean loading every user command to run any built-in (`nt3 status`
-- stays as fast as it is); the command takes the built-in's name instead.
function M.arbitrate(user)
  local builtin, name, why = clash(user)
  if not builtin then return user end
  if name ~= user.name and name == builtin.name then
    warn_once(("ignoring %s: %s (a user command replaces a built-in by its name: %s.lua with overrides = true)")
      :format(user.source, why, name))
    return nil
  end
  if user.overrides == true then
    user.overrides_builtin = true
    return user
  end
  warn_once(("ignoring %s: %s (add overrides = true to replace it)"):format(user.source, why))
  return nil
end

-- A built-in as the list shows it: without the aliases a user command took.
local function without(builtin, taken)
  local kept = {}
  for _, alias in ipairs(builtin.aliases or {}) do
    if not taken[alias] then kept[#kept + 1] = alias end
  end
  if #kept == #(builtin.aliases or {}) then return builtin end
  local copy = {}
  for k, v in pairs(builtin) do copy[k] = v end
  copy.aliases = kept
  return copy
end

-- Every command, sorted by name, user overrides applied; a built-in is its
-- module when loaded is true, else its index entry (registry.builtin_index).
local function merged(loaded)
  local list, by_name, seen, taken = {}, {}, {}, {}
  for _, entry in ipairs(registry.builtin_index()) do
    by_name[entry.name] = loaded and registry.load_builtin(entry.name) or entry
  end
  for _, dir in ipairs(registry.user_command_dirs()) do
    if dir_exists(dir) then
      local names = fs.dir(dir) or {}
      for _, file in ipairs(names) do
        local base = file:match("^(.+)%.lua$")
        -- the first directory holding <name>.lua decides, as find() does
        if base and not seen[base] then
          seen[base] = true
          local cmd = M.load(dir .. "/" .. file)
          cmd = cmd and M.arbitrate(cmd)
          if cmd then
            by_name[cmd.name] = cmd
            taken[cmd.name] = true
            for _, alias in ipairs(cmd.aliases or {}) do taken[alias] = true end
          end
        end
      end
    end
  end
  -- an extension never takes a name (install refuses a clash; a command
  -- added later wins over it)
  for _, cmd in ipairs(require("nt3.cli.ext").commands(loaded)) do
    if not by_name[cmd.name] and not taken[cmd.name] then by_name[cmd.name] = cmd end
  end
  -- sorted by name as plain strings (no Lua comparator: nt3 help with
  -- twenty extensions sorts in C)
  local names = {}
  for name in pairs(by_name) do names[#names + 1] = name end
  table.sort(names)
  for i, name in ipairs(names) do
    local cmd = by_name[name]
    list[i] = cmd.builtin and without(cmd, taken) or cmd
  end
  return list
end

-- cli.commands() -> every command, sorted by name (user overrides applied)
function M.commands()
  return merged(true)
end

-- user.listing() -> every command as help, did-you-mean and the alias
-- checks list them: as commands() gives them, but each built-in only its
-- name, summary, aliases and hidden (and builtin = true), no module loaded
function M.listing()
  return merged(false)
end

-- cli.command_names() -> { name = what has it, in words } for every name
-- that runs a command: each command's name and aliases, built-in or the
-- user's. The one list an alias is checked against (nt3.cli.alias): a
-- source of commands that is not in listing() must add its names here.
function M.command_names()
  local names = {}
  for _, cmd in ipairs(M.listing()) do
    local what
    if cmd.user then
      what = ("the user command %s"):format(cmd.source)
    else
      what = ("the built-in command '%s'"):format(cmd.name)
    end
    names[cmd.name] = what
    for _, a in ipairs(cmd.aliases or {}) do
      names[a] = names[a] or ("an alias of %s"):format(what)
    end
  end
  return names
end

return M
