-- nt3.config.write: saving and clearing tokens for nt3.config, one
-- credential file at a time, under that file's lock. nt3.config loads
-- this only when something is to be written (login, logout): reading and
-- resolving a token does not undump it. Use it through nt3.config
-- (config.update, config.save, config.clear, config.check).
local error, getmetatable, ipairs, math, next = error, getmetatable, ipairs, math, next
local pairs, pcall, table, tostring, type = pairs, pcall, table, tostring, type
local check = require "nt3.check"
local env = require "nt3.env"
local fs = require "nt3.fs"
local json = require "nt3.json"
local store = require "nt3.config.store"

local M = {}

local LOCK_TIMEOUT = 10

local FILE_MODE = 384 -- 0600
local DIR_MODE = 448  -- 0700

-- The keys nt3 itself writes; every other key is the user's, kept as it is.
local OWNED = { token = true, api_url = true }

---------------------------------------------------------------------------
-- the lock and the directory
---------------------------------------------------------------------------

-- The lock is a file of its own beside the credential file: ".<name>.lock"
-- (./.nt3.local.json.lock, ~/.nt3/.config.json.lock), created with mode
-- 0600 by the writer that takes it and removed when it lets go, so nothing
-- is left behind in a project. Not the directory: anyone who can read a
-- directory can open and flock it, and so stop every login there. Not the
-- credential file: each write renames a new file into its place, so a
-- writer waiting on the old one would get a lock nobody else contends for.
local function lock_path(dir, name)
  return dir .. "/" .. (name:sub(1, 1) == "." and name or "." .. name) .. ".lock"
end

-- nt3.fs names a temp file ".<name>.tmp-<12 hex digits>", the name cut to
-- its first 200 bytes (src/atomic.c).
local TMP_NAME_KEEP = 200

local function is_temp_of(entry, name)
  local prefix = "." .. name:sub(1, TMP_NAME_KEEP) .. ".tmp-"
  return #entry == #prefix + 12 and entry:sub(1, #prefix) == prefix
    and entry:find("^[0-9a-f]+$", #prefix + 1) ~= nil
end

-- A writer killed between creating its temp file and renaming it leaves the
-- temp file behind. Every writer holds the lock, so a name nt3 generates
-- that is there now is such a leftover; any other name is the user's.
local function remove_stale_temps(dir, name)
  local entries = fs.dir(dir)
  if not entries then return end
  for _, e in ipairs(entries) do
    if is_temp_of(e, name) then
      local st = fs.lstat(dir .. "/" .. e)
      if st and st.type == "file" and st.uid == env.uid() then fs.remove(dir .. "/" .. e) end
    end
  end
end

-- write.lock_file(dir, name) -> lock | nil, message: the lock of the
-- file dir/name, taken as every writer of a credential file takes it (the
-- extensions lock file is written under the same rules)
function M.lock_file(dir, name)
  return fs.lock(lock_path(dir, name), LOCK_TIMEOUT, true)
end

-- write.remove_stale_temps(dir, name): the temp files of dir/name that a
-- killed writer left, removed (call it holding the lock)
M.remove_stale_temps = remove_stale_temps

local function prepare_dir(scope, path)
  local dir = store.dir_of(path)
  if scope == "global" then
    local st = fs.stat(dir)
    if not st then
      local ok, err = fs.mkdir(dir, DIR_MODE)
      if not ok then return nil, ("cannot create %s: %s"):format(store.display(dir, scope), err) end
    end
  end
  local ok, err = store.check_dir(dir, store.display(path, scope), scope)
  if not ok then return nil, err end
  if scope == "global" then
    -- the directory is ours alone (docs/architecture.md, "The credential store"): tighten one someone made 0755
    local st = fs.stat(dir)
    if st and st.mode & store.GROUP_OTHER_ANY ~= 0 then fs.chmod(dir, DIR_MODE) end
  end
  return dir
end

---------------------------------------------------------------------------
-- the text of a rewritten file
---------------------------------------------------------------------------

local function skip_space(text, i)
  return text:match("^[ \t\r\n]*()", i)
end

-- The index just past the JSON string that starts at i.
local function string_end(text, i)
  local j = i + 1
  while true do
    local q = text:find('["\\]', j)
    if not q then return nil end
    if text:byte(q) == 92 then j = q + 2 else return q + 1 end
  end
end

-- The index just past the JSON value that starts at i.
local function value_end(text, i)
  local c = text:sub(i, i)
  if c == '"' then return string_end(text, i) end
  if c == "{" or c == "[" then
    local depth, j = 0, i
    while true do
      local k = text:find('[][{}"]', j)
      if not k then return nil end
      local b = text:sub(k, k)
      if b == '"' then
        j = string_end(text, k)
        if not j then return nil end
      else
        depth = depth + ((b == "{" or b == "[") and 1 or -1)
        j = k + 1
        if depth == 0 then return j end
      end
    end
  end
  return text:match("^[^,}%]%s]+()", i)
end

-- The members of the JSON object text (already read as valid JSON), as
-- written: { [key] = text of its value } (the last of a repeated key, as
-- the decoder takes it), or nil when the text is not such an object.
local function members(text)
  local out = {}
  local i = skip_space(text, 1)
  if text:sub(i, i) ~= "{" then return nil end
  i = skip_space(text, i + 1)
  if text:sub(i, i) == "}" then return out end
  while true do
    if text:sub(i, i) ~= '"' then return nil end
    local key_end = string_end(text, i)
    if not key_end then return nil end
    local key = json.decode(text:sub(i, key_end - 1))
    i = skip_space(text, key_end)
    if text:sub(i, i) ~= ":" then return nil end
    i = skip_space(text, i + 1)
    local stop = value_end(text, i)
    if not stop then return nil end
    if type(key) == "string" then out[key] = text:sub(i, stop - 1) end
    i = skip_space(text, stop)
    local c = text:sub(i, i)
    if c == "}" then return out end
    if c ~= "," then return nil end
    i = skip_space(text, i + 1)
  end
end

local function same(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then
    return a == b and math.type(a) == math.type(b)
  end
  if getmetatable(a) ~= getmetatable(b) then return false end
  for k, v in pairs(a) do
    if not same(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

-- The text of data as config.format writes it, except that a value fn left
-- as it was read is written as it was read. Decoding turns every number
-- into a double: 12345678901234567890, 9007199254740993 or 1.0 would come
-- back as another number, so what nt3 does not own is never re-encoded.
local function encode(data, rec)
  local raw = rec.text and members(rec.text)
  local before = raw and json.decode(rec.text)
  if not raw or type(before) ~= "table" then return store.format(data) end
  local keys = {}
  for k in pairs(data) do
    if type(k) ~= "string" then return store.format(data) end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  local out = {}
  for i, k in ipairs(keys) do
    local v = data[k]
    local text
    if raw[k] and not OWNED[k] and same(v, before[k]) then
      text = raw[k]
    else
      local err
      text, err = json.pretty(v)
      if not text then return nil, err end
      text = text:gsub("\n", "\n  ")
    end
    out[i] = "  " .. json.encode(k) .. ": " .. text
  end
  return "{\n" .. table.concat(out, ",\n") .. "\n}\n"
end

-- A file nt3 would refuse to read (over the size cap, nested deeper than
-- the decoder reads) is never written: the login would seem to work and
-- every later command fail.
local function readable(text, shown)
  if #text > store.FILE_MAX then
    return nil, ("refusing to write %s: it would be larger than %d bytes, more than nt3 reads back")
      :format(shown, store.FILE_MAX)
  end
  local ok, why = json.decode(text)
  if ok == nil or not store.parse(text, shown) then
    return nil, ("refusing to write %s: nt3 could not read it back (%s)"):format(shown, why or "not a JSON object")
  end
  return true
end

---------------------------------------------------------------------------
-- the public functions (through nt3.config)
---------------------------------------------------------------------------

local function check_scope(scope, n, fname, what)
  if scope ~= "global" and scope ~= "local" then
    check.fail(n, fname, ('%s must be "global" or "local", got %s'):format(what, tostring(scope)), 2)
  end
end

-- config.update(scope, fn) -> result | nil, message
-- Read-modify-write of one credential file under its lock: fn(data)
-- changes the table in place (data is {} for a missing file) and returns
-- "remove" to delete the file, false to leave it as it is, or anything
-- else to write it. Concurrent updates of different keys are all kept.
-- The result is { path, display, written, removed, value = fn's result }.
function M.update(scope, fn)
  check_scope(scope, 1, "update", "scope")
  check.arg(2, "update", fn, "function")
  local path, perr = store.path(scope)
  if not path then return nil, perr end
  local dir, derr = prepare_dir(scope, path)
  if not dir then return nil, derr end
  local name = store.base_of(path)
  local lock, lerr = M.lock_file(dir, name)
  if not lock then return nil, lerr end
  local function finish(...)
    lock:unlock()
    return ...
  end
  local rec = store.read(scope)
  if rec.state == "invalid" then return finish(nil, rec.error) end
  remove_stale_temps(dir, name)
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
    local t, why = store.validate_token(data.token)
    if not t then return finish(nil, why) end
    data.token = t
  end
  if data.api_url ~= nil then
    if type(data.api_url) ~= "string" then return finish(nil, "the API URL must be a string") end
    local u, why = store.validate_url(data.api_url)
    if not u then return finish(nil, why) end
    data.api_url = u
  end
  local text, eerr = encode(data, rec)
  if not text then return finish(nil, "cannot encode the configuration: " .. tostring(eerr)) end
  local fits, ferr = readable(text, rec.display)
  if not fits then return finish(nil, ferr) end
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
  check_scope(scope, 1, "check", "scope")
  local rec = store.read(scope)
  if rec.state == "invalid" then return nil, rec.error end
  return true, rec.warnings
end

-- The table a save writes into: the top level of the file, or one profile
-- of it (created when missing; a profile's unknown keys are kept too).
local function account_of(data, profile)
  if not profile then return data end
  if type(data.profiles) ~= "table" then data.profiles = {} end
  local p = data.profiles[profile]
  if type(p) ~= "table" then
    p = {}
    data.profiles[profile] = p
  end
  return p
end

local function check_profile(t, fname)
  if t.profile == nil then return nil end
  if type(t.profile) ~= "string" then check.fail(1, fname, "field 'profile' must be a string", 2) end
  return store.validate_profile_name(t.profile)
end

-- config.save{ token =, api_url = nil, scope = "global"|"local", profile = nil,
--   credential_command = nil } -> { path, display } | nil, message
-- The URL belongs to the token: saving a token without one drops a URL saved
-- with the previous token. Other keys in the file are kept.
-- profile: the token goes into that profile of the global file; with scope
-- "local" and no token, the local file names the profile instead (a folder
-- that names an account and holds no secret). credential_command (an argv
-- list, global file only) is saved instead of a token.
function M.save(t)
  check.arg(1, "save", t, "table")
  local scope = t.scope or "global"
  check_scope(scope, 1, "save", "field 'scope'")
  local profile, perr = check_profile(t, "save")
  if t.profile ~= nil and not profile then return nil, perr end
  if scope == "local" and profile then
    if t.token ~= nil or t.credential_command ~= nil or t.api_url ~= nil then
      return nil, "a local file names a profile (which holds the token and URL) or holds a token, not both"
    end
    return M.update("local", function(data)
      data.token, data.api_url, data.profile = nil, nil, profile
    end)
  end
  local argv = t.credential_command
  if argv ~= nil then
    if scope == "local" then
      return nil, "a credential command is saved only in the global file: a folder never makes nt3 run a program"
    end
    local ok, why = store.validate_command(argv)
    if not ok then return nil, why end
    if t.token ~= nil then check.fail(1, "save", "give field 'token' or field 'credential_command', not both") end
  elseif type(t.token) ~= "string" then
    check.fail(1, "save", "field 'token' must be a string")
  end
  local token, why
  if argv == nil then
    token, why = store.validate_token(t.token)
    if not token then return nil, why end
  end
  local url
  if t.api_url ~= nil then
    if type(t.api_url) ~= "string" then check.fail(1, "save", "field 'api_url' must be a string") end
    url, why = store.validate_url(t.api_url)
    if not url then return nil, why end
  end
  return M.update(scope, function(data)
    local account = account_of(data, profile)
    account.token, account.api_url, account.credential_command = token, url, argv
    -- a token saved here wins over the profile this folder named before
    if scope == "local" then data.profile = nil end
  end)
end

-- config.clear(scope[, profile]) -> result | nil, message
-- Removes the token, its API URL and any credential command (with profile:
-- that whole profile of the global file; in a local file, the profile it
-- names too); other keys stay, and a file left empty is deleted.
-- result.removed_token is false when there was nothing to remove.
function M.clear(scope, profile)
  scope = scope or "global"
  check_scope(scope, 1, "clear", "scope")
  check.arg(2, "clear", profile, "string", true)
  local rec = store.read(scope)
  if rec.state == "invalid" then return nil, rec.error end
  local function holds(data)
    if profile and scope == "global" then
      local p = type(data.profiles) == "table" and data.profiles[profile]
      return type(p) == "table" and (p.token ~= nil or p.credential_command ~= nil or p.api_url ~= nil
        or p.settings == nil)
    end
    return data.token ~= nil or data.credential_command ~= nil or (scope == "local" and data.profile ~= nil)
  end
  if rec.state == "missing" or not holds(rec.data) then
    -- nothing to clear (no file, or no token in it): no lock, no ~/.nt3 created
    return { path = rec.path, display = rec.display, removed_token = false }
  end
  local res, err = M.update(scope, function(data)
    -- an api_url with no token beside it belongs to no token: leave it
    if not holds(data) then return false end
    if profile and scope == "global" then
      -- the profile's settings outlive its token (docs/architecture.md,
      -- "Settings and aliases"): the next login to it finds them again
      local settings = data.profiles[profile].settings
      data.profiles[profile] = settings ~= nil and { settings = settings } or nil
      if next(data.profiles) == nil then data.profiles = nil end
      return true
    end
    data.token, data.api_url, data.credential_command = nil, nil, nil
    if scope == "local" then data.profile = nil end
    return true
  end)
  if not res then return nil, err end
  res.removed_token = res.value == true
  return res
end

return M
