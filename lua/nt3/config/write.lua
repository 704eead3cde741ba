-- nt3.config.write: saving and clearing tokens for nt3.config, one
-- credential file at a time, under the directory's lock. nt3.config loads
-- this only when something is to be written (login, logout): reading and
-- resolving a token does not undump it. Use it through nt3.config
-- (config.update, config.save, config.clear, config.check).
local config = require "nt3.config"
local env = require "nt3.env"
local fs = require "nt3.fs"

local internal = config._internal

local M = {}

local LOCK_TIMEOUT = 10

local FILE_MODE = 384 -- 0600
local DIR_MODE = 448  -- 0700

-- A writer killed between creating its temp file and renaming it leaves the
-- temp file behind (nt3.fs names them .<name>.tmp-<random>). Every writer
-- holds the directory lock, so whatever is there now is such a leftover.
local function remove_stale_temps(dir, name)
  local entries = fs.dir(dir)
  if not entries then return end
  local prefix = "." .. name .. ".tmp"
  for _, e in ipairs(entries) do
    if e:sub(1, #prefix) == prefix then
      local st = fs.lstat(dir .. "/" .. e)
      if st and st.type == "file" and st.uid == env.uid() then fs.remove(dir .. "/" .. e) end
    end
  end
end

local function prepare_dir(scope, path)
  local dir = internal.dir_of(path)
  if scope == "global" then
    local st = fs.stat(dir)
    if not st then
      local ok, err = fs.mkdir(dir, DIR_MODE)
      if not ok then return nil, ("cannot create %s: %s"):format(config.display(dir, scope), err) end
    end
  end
  local ok, err = internal.check_dir(dir, config.display(path, scope), scope)
  if not ok then return nil, err end
  if scope == "global" then
    -- the directory is ours alone (DESIGN.md): tighten one someone made 0755
    local st = fs.stat(dir)
    if st and st.mode & internal.GROUP_OTHER_ANY ~= 0 then fs.chmod(dir, DIR_MODE) end
  end
  return dir
end

local function check_scope(scope, fname)
  if scope ~= "global" and scope ~= "local" then
    error(("bad argument to '%s' (scope must be \"global\" or \"local\", got %s)"):format(fname, tostring(scope)), 3)
  end
end

-- config.update(scope, fn) -> result | nil, message
-- Read-modify-write of one credential file under the directory's lock:
-- fn(data) changes the table in place (data is {} for a missing file) and
-- returns "remove" to delete the file, false to leave it as it is, or
-- anything else to write it. Concurrent updates of different keys are all
-- kept. The result is { path, display, written, removed, value = fn's result }.
function M.update(scope, fn)
  check_scope(scope, "update")
  if type(fn) ~= "function" then error("bad argument #2 to 'update' (function expected)", 2) end
  local path, perr = config.path(scope)
  if not path then return nil, perr end
  local dir, derr = prepare_dir(scope, path)
  if not dir then return nil, derr end
  local lock, lerr = fs.lock(dir, LOCK_TIMEOUT)
  if not lock then return nil, lerr end
  local function finish(...)
    lock:unlock()
    return ...
  end
  local rec = internal.read_source(scope)
  if rec.state == "invalid" then return finish(nil, rec.error) end
  remove_stale_temps(dir, internal.base_of(path))
  local data = rec.data or {}
  local okfn, what = pcall(fn, data)
  if not okfn then
    lock:unlock()
    error(what, 0)
  end
  local result = { path = path, display = rec.display, value = what, existed = rec.state == "ok" }
  if what == false then return finish(result) end
  if what == "remove" or next(data) == nil then
    if rec.state == "ok" then
      local ok, err = fs.remove(path)
      if not ok then return finish(nil, ("cannot remove %s: %s"):format(rec.display, err)) end
      result.removed = true
    end
    return finish(result)
  end
  if data.token ~= nil then
    if type(data.token) ~= "string" then return finish(nil, "the token must be a string") end
    local t, why = config.validate_token(data.token)
    if not t then return finish(nil, why) end
    data.token = t
  end
  if data.api_url ~= nil then
    if type(data.api_url) ~= "string" then return finish(nil, "the API URL must be a string") end
    local u, why = config.validate_url(data.api_url)
    if not u then return finish(nil, why) end
    data.api_url = u
  end
  local text, eerr = config.format(data)
  if not text then return finish(nil, "cannot encode the configuration: " .. tostring(eerr)) end
  local ok, werr = fs.write(path, text, FILE_MODE)
  if not ok then return finish(nil, ("cannot write %s: %s"):format(rec.display, werr)) end
  result.written = true
  return finish(result)
end

-- config.check(scope) -> true, warnings | nil, message
-- Whether the file of that scope could be written now (not corrupted, not
-- insecure), and what is worth a warning about it; login asks before
-- prompting for a token it could not save.
function M.check(scope)
  check_scope(scope, "check")
  local rec = internal.read_source(scope)
  if rec.state == "invalid" then return nil, rec.error end
  return true, rec.warnings
end

-- config.save{ token =, api_url = nil, scope = "global"|"local" }
--   -> { path, display } | nil, message
-- The URL belongs to the token: saving a token without one drops a URL saved
-- with the previous token. Other keys in the file are kept.
function M.save(t)
  if type(t) ~= "table" then error("bad argument #1 to 'save' (table expected)", 2) end
  local scope = t.scope or "global"
  check_scope(scope, "save")
  if type(t.token) ~= "string" then error("bad argument #1 to 'save' (field 'token' must be a string)", 2) end
  local token, why = config.validate_token(t.token)
  if not token then return nil, why end
  local url
  if t.api_url ~= nil then
    if type(t.api_url) ~= "string" then error("bad argument #1 to 'save' (field 'api_url' must be a string)", 2) end
    url, why = config.validate_url(t.api_url)
    if not url then return nil, why end
  end
  return M.update(scope, function(data)
    data.token, data.api_url = token, url
  end)
end

-- config.clear(scope) -> result | nil, message
-- Removes the token and its API URL; other keys stay, and a file left
-- empty is deleted. result.removed_token is false when there was none.
function M.clear(scope)
  scope = scope or "global"
  check_scope(scope, "clear")
  local rec = internal.read_source(scope)
  if rec.state == "invalid" then return nil, rec.error end
  if rec.state == "missing" or rec.token == nil then
    -- nothing to clear (no file, or no token in it): no lock, no ~/.nt3 created
    return { path = rec.path, display = rec.display, removed_token = false }
  end
  local res, err = M.update(scope, function(data)
    -- an api_url with no token beside it belongs to no token: leave it
    if data.token == nil then return false end
    data.token, data.api_url = nil, nil
    return true
  end)
  if not res then return nil, err end
  res.removed_token = res.value == true
  return res
end

return M
