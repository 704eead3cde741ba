-- nt3.config: the credential store. Finds the active token and where it
-- came from, saves and clears tokens, and refuses any file that someone
-- else could have tampered with. `login`, `logout`, `status` and `nt3.api`
-- all go through here, so every one of them resolves a token the same way.
--
-- Sources, highest priority first: the NT3_API_TOKEN environment variable,
-- ./.nt3.local.json, ~/.nt3/config.json (DESIGN.md, "The credential store").
local env = require "nt3.env"
local policy = require "nt3.policy"
local store = require "nt3.config.store"

local M = {}

M.DEFAULT_API_URL = store.DEFAULT_API_URL
M.TOKEN_PREFIX = store.TOKEN_PREFIX
M.TOKEN_MAX = store.TOKEN_MAX
M.LOCAL_NAME = store.LOCAL_NAME
M.GLOBAL_NAME = store.GLOBAL_NAME

-- The rules and the paths are nt3.config.store's, shared with the writer.

-- config.validate_token(t) -> trimmed token | nil, message
M.validate_token = store.validate_token

-- config.validate_url(u) -> normalised URL (no trailing slash) | nil, message
M.validate_url = store.validate_url

-- config.mask(token) -> "entri_****abcd": the prefix and at most the last
-- four characters, and only when at least eight others stay hidden. The
-- one masking rule, nt3.policy's, that every message and trace uses too.
M.mask = policy.mask

-- config.global_dir() -> $NT3_CONFIG_DIR, else ~/.nt3 | nil, message
M.global_dir = store.global_dir

-- config.path(scope) -> the credential file of "global" or "local"
M.path = store.path

-- config.display(path[, scope]) -> the path as the user would type it
M.display = store.display

-- config.format(value) -> text | nil, message: how credential files (and
-- `status --json`) are written.
M.format = store.format

---------------------------------------------------------------------------
-- resolution
---------------------------------------------------------------------------

local function env_source()
  local rec = { source = "environment", display = "NT3_API_TOKEN", warnings = {} }
  local t = env.get("NT3_API_TOKEN")
  if t == nil or t == "" then
    rec.state = "missing"
    return rec
  end
  local ok, why = M.validate_token(t)
  if not ok then
    rec.state, rec.error = "invalid", "NT3_API_TOKEN is not usable: " .. why
  else
    rec.state, rec.token = "ok", ok
  end
  return rec
end

-- config.sources() -> list of every source, highest priority first:
--   { source = "environment"|"local"|"global", path, display,
--     state = "missing"|"ok"|"invalid", token, api_url, error, warnings,
--     active = true for the one in use, shadowed = true for a lower-priority
--     source that holds a token nobody uses }
-- The list is also indexed by name (list.environment, list["local"],
-- list.global) through its metatable, so a caller names the source it
-- wants instead of counting positions; ipairs, # and pairs see the list.
function M.sources()
  local list = { env_source(), store.read("local"), store.read("global") }
  local by_name = {}
  local found = false
  for _, rec in ipairs(list) do
    by_name[rec.source] = rec
    if found then
      rec.shadowed = rec.token ~= nil or nil
    elseif rec.state == "invalid" then
      found = true -- a broken source stops resolution: never fall through silently
    elseif rec.token then
      rec.active, found = true, true
    end
  end
  return setmetatable(list, { __index = by_name })
end

-- The API URL that goes with a token from rec: NT3_API_URL, else the URL
-- saved in the same file as the token, else the default. A URL in a file
-- with no token (or another token) never applies.
local function api_url_for(rec)
  local override = env.get("NT3_API_URL")
  if override and override ~= "" then
    local u, why = M.validate_url(override)
    if not u then return nil, "NT3_API_URL is not usable: " .. why end
    return u, "environment"
  end
  if rec.source ~= "environment" and rec.api_url then
    return M.validate_url(rec.api_url), rec.source
  end
  return M.DEFAULT_API_URL, "default"
end

-- config.resolve(list) -> cred | nil, message, kind  (from config.sources())
function M.resolve(list)
  local warnings = {}
  for _, rec in ipairs(list) do
    for _, w in ipairs(rec.warnings) do warnings[#warnings + 1] = w end
  end
  for _, rec in ipairs(list) do
    if rec.state == "invalid" then return nil, rec.error, "invalid" end
    if rec.active then
      local url, where = api_url_for(rec)
      if not url then return nil, where, "invalid" end
      return {
        token = rec.token,
        api_url = url,
        api_url_source = where,
        source = rec.source,
        path = rec.path,
        display = rec.display,
        warnings = warnings,
      }
    end
  end
  return nil, "not logged in; run 'nt3 login' to authenticate", "not_logged_in"
end

-- config.active() -> cred | nil, message, kind
-- cred = { token, api_url, api_url_source = "environment"|"local"|"global"|
--   "default", source = "environment"|"local"|"global", path (nil for the
--   environment), display, warnings = { ... } }
-- kind = "not_logged_in" | "invalid" (a corrupted or insecure file, a bad
-- NT3_API_TOKEN or NT3_API_URL).
function M.active()
  return M.resolve(M.sources())
end

---------------------------------------------------------------------------
-- writing
---------------------------------------------------------------------------

-- Writing (config.update, save, clear, check) lives in nt3.config.write,
-- loaded on first use: most runs (status, api, every script) only read.
-- Tail calls, so that a bad argument is still blamed on the caller.

-- config.update(scope, fn) -> result | nil, message (see nt3.config.write)
function M.update(scope, fn) return require("nt3.config.write").update(scope, fn) end

-- config.check(scope) -> true, warnings | nil, message
function M.check(scope) return require("nt3.config.write").check(scope) end

-- config.save{ token =, api_url = nil, scope = "global"|"local" } -> { path, display } | nil, message
function M.save(t) return require("nt3.config.write").save(t) end

-- config.clear(scope) -> result | nil, message
function M.clear(scope) return require("nt3.config.write").clear(scope) end

return M
