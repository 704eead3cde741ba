-- nt3.cli.ext: the commands of installed extensions, for nt3.cli. What
-- help, completion and the man page show comes from the lock alone
-- (~/.nt3/extensions.lock: each command's name and summary, copied from
-- the manifest that was verified at install); no extension file is read
-- and no extension code runs for them. Running one checks its files
-- against the lock and hands it to the sandbox with the permissions the
-- lock grants (docs/architecture.md, "Extensions").
local ipairs, pairs, require, table, type = ipairs, pairs, require, table, type
local registry = require "nt3.cli.registry"

local M = {}

local warned = false
local function entries()
  -- no lock, no extensions: nothing more is loaded (nt3 help stays as fast)
  local base = registry.config_dir()
  local lock_file = require "nt3.ext.lock"
  local path = base and base .. "/" .. lock_file.FILE_NAME
  if not path or not require("nt3.fs").stat(path) then return {} end
  local lock, err = lock_file.read(path)
  if not lock then
    if not warned then
      warned = true
      registry.warn("ignoring the installed extensions: " .. err)
    end
    return {}
  end
  return lock.extensions
end

local function run_extension(cmd, ctx)
  local store = require "nt3.ext.store"
  local cli = require "nt3.cli"
  if store.pending() then
    -- a switch a killed run left: finished (or undone) first
    local ok, err = store.locked(function() return true end)
    if not ok then cli.fail(err) end
  end
  local lock, lerr = store.read_lock()
  if not lock then cli.fail(lerr) end
  local entry = lock.extensions[cmd.extension]
  if not entry then cli.fail(("extension %s is no longer installed"):format(cmd.extension)) end
  local ok, verr = store.verify(cmd.extension, entry)
  if not ok then cli.fail(verr .. " (refusing to run it; see nt3 ext verify)") end
  local file
  for _, c in ipairs(entry.commands) do
    if c.name == cmd.name then file = c.file end
  end
  if not file then cli.fail(("extension %s no longer has the command %s"):format(cmd.extension, cmd.name)) end
  local sandbox = require "nt3.sandbox"
  local dir = store.root() .. "/" .. cmd.extension
  local described, derr = sandbox.describe { dir = dir, file = file, files = entry.files }
  if not described then cli.fail(derr) end
  local runner = require "nt3.cli.sandboxed"
  local shape = {}
  for k, v in pairs(described) do shape[k] = v end
  shape.has_run, shape.permissions = nil, nil
  shape.name, shape.run, shape.uses_token = cmd.name, function() end, false
  shape.flags = runner.flags(shape.flags)
  local valid, why = registry.validate(shape, cmd.extension .. "/" .. file)
  if not valid then cli.fail(why) end
  local opts, args = cli.parse(shape, ctx.argv)
  if not opts then cli.usage_error(args, shape) end
  if opts.help then
    cli.out(cli.usage(shape))
    return 0
  end
  -- the permissions are the lock's, granted at install: never what the
  -- manifest or the command file says now
  return runner.run({ dir = dir, file = file, files = entry.files, permissions = entry.permissions, name = cmd.name,
    opts = opts, args = args }, shape)
end

-- An extension's command as the lists show it; with described, also the
-- words of its grant (what its help shows: nt3.ext.manifest is loaded then)
local function command_of(ename, entry, c, described)
  return {
    name = c.name,
    summary = c.summary,
    extension = ename,
    source = "extension " .. ename .. " (" .. entry.source .. ")",
    uses_token = false,
    raw_args = true,
    args = { "args..." },
    description = described and ("A command of the extension " .. ename .. ", run in the sandbox with the"
      .. " permissions granted at install: "
      .. table.concat(require("nt3.ext.manifest").describe(entry.permissions), "; ") .. ".") or nil,
    run = function(_, ctx) return run_extension(ctx.command, ctx) end,
  }
end

local function each_command(fn)
  for ename, entry in pairs(entries()) do
    for _, c in ipairs(entry.commands) do
      if type(c) == "table" and type(c.name) == "string" and type(c.summary) == "string" then
        fn(ename, entry, c)
      end
    end
  end
end

-- ext.commands([described]) -> the command tables of every installed
-- extension; described: with their descriptions (help and the lists
-- need none, and so never load nt3.ext.manifest)
function M.commands(described)
  local list = {}
  each_command(function(ename, entry, c) list[#list + 1] = command_of(ename, entry, c, described) end)
  table.sort(list, function(a, b) return a.name < b.name end)
  return list
end

-- ext.find(name) -> the extension command of that name | nil
function M.find(name)
  local found
  each_command(function(ename, entry, c)
    if c.name == name and not found then found = command_of(ename, entry, c, true) end
  end)
  return found
end

return M
