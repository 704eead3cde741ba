-- nt3.cli.ext: the commands of installed extensions, for nt3.cli. What
-- help, completion and the man page show comes from the lock alone
-- (~/.nt3/extensions.lock: each command's name and summary, copied from
-- the manifest that was verified at install), or from its index while
-- that is the lock's (nt3.ext.lock.indexed); no extension file is read
-- and no extension code runs for them. Running one checks its files
-- against the lock and hands it to the sandbox with the permissions the
-- lock grants (docs/architecture.md, "Extensions").
local ipairs, pairs, require, table = ipairs, pairs, require, table
local lock_file = require "nt3.ext.lock"
local registry = require "nt3.cli.registry"

local M = {}

local warned = false
-- The lock's path and fs.stat | nil when there is none (no lock, no
-- extensions: nothing more is loaded, and nt3 help stays as fast)
local function the_lock()
  local base = registry.config_dir()
  local path = base and base .. "/" .. lock_file.FILE_NAME
  local st = path and require("nt3.fs").stat(path)
  if st then return base, path, st end
end

local function entries(path)
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

local function run(_, ctx) return run_extension(ctx.command, ctx) end

-- An extension's command as the lists show it, from its row (name,
-- summary, extension, source: nt3.ext.lock.rows); with its lock entry,
-- also the words of its grant (what its help shows: nt3.ext.manifest is
-- loaded then)
local function command_of(row, entry)
  local ename = row[3]
  return {
    name = row[1],
    summary = row[2],
    extension = ename,
    source = "extension " .. ename .. " (" .. row[4] .. ")",
    uses_token = false,
    raw_args = true,
    args = { "args..." },
    description = entry and ("A command of the extension " .. ename .. ", run in the sandbox with the"
      .. " permissions granted at install: "
      .. table.concat(require("nt3.ext.manifest").describe(entry.permissions), "; ") .. ".") or nil,
    run = run,
  }
end

-- ext.commands([described]) -> the command tables of every installed
-- extension, sorted by name; described: with their descriptions. Without
-- (help, completion, did-you-mean), they come from the lock's index while
-- it is the lock's: a few lines split, no JSON decoded.
function M.commands(described)
  local base, path, st = the_lock()
  if not base then return {} end
  local list = {}
  local rows = not described and lock_file.indexed(base, st)
  if rows then
    for i, row in ipairs(rows) do list[i] = command_of(row) end
    return list
  end
  local extensions = entries(path)
  for i, row in ipairs(lock_file.rows(extensions)) do
    list[i] = command_of(row, described and extensions[row[3]])
  end
  return list
end

-- ext.find(name) -> the extension command of that name | nil
function M.find(name)
  local _, path = the_lock()
  if not path then return nil end
  local extensions = entries(path)
  for _, row in ipairs(lock_file.rows(extensions)) do
    if row[1] == name then return command_of(row, extensions[row[3]]) end
  end
end

return M
