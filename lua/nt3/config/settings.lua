-- nt3.config.settings: the documented settings (`nt3 config`), kept in the
-- global file beside the profiles
-- (docs/architecture.md, "Settings and aliases"): "settings" at the top level, and "settings" inside a profile
-- for that profile. Read only from the global file: a cloned repository's
-- ./.nt3.local.json never changes how nt3 behaves. Written with
-- config.update, the one writer of that file (atomic, under its lock).
-- Loaded only by what uses a setting (nt3.api, task.map, config, status).
local error, ipairs, math, next, pairs, require = error, ipairs, math, next, pairs, require
local table, tonumber, tostring, type = table, tonumber, tostring, type
local env = require "nt3.env"
local policy = require "nt3.policy"
local store = require "nt3.config.store"

local M = {}

local function seconds(text)
  local n = tonumber(text)
  if not n or n ~= n or n <= 0 or n > 86400 then return nil, "a number of seconds above 0, at most 86400" end
  return n
end

local function count(min, max)
  return function(text)
    local n = math.tointeger(tonumber(text))
    if not n or n < min or n > max then return nil, ("a whole number from %d to %d"):format(min, max) end
    return n
  end
end

local function boolean(text)
  if text == "true" then return true end
  if text == "false" then return false end
  return nil, "true or false"
end

-- one of a fixed list of words
local function one_of(list)
  return function(text)
    for _, word in ipairs(list) do
      if text == word then return text end
    end
    return nil, "one of " .. table.concat(list, ", ")
  end
end

-- --columns' list as nt3.cli.format reads it (the text is kept: "" is none)
local function columns(text)
  if text == "" then return text end
  local ok, why = require("nt3.cli.format").columns(text)
  if not ok then return nil, why end
  return text
end

local function command_line(text)
  if #text > 1024 or text:find("%z") then return nil, "a command line of at most 1024 bytes" end
  return text
end

-- Every setting nt3 knows: what it is, how a value is read, the variable
-- that overrides it, and its default. Only settings that change something
-- today are here (a setting that does nothing is not shipped).
M.LIST = {
  { key = "http.timeout", env = "NT3_HTTP_TIMEOUT", parse = seconds, default = 30,
    help = "Seconds an nt3.api request (and nt3 api) may take in all" },
  { key = "http.retries", env = "NT3_HTTP_RETRIES", parse = count(0, 100), default = 3,
    help = "How many times nt3.api retries on 429/502/503/504 or a failed connection (nt3 api --retries)" },
  { key = "http.concurrency", env = "NT3_HTTP_CONCURRENCY", parse = count(1, 1000), default = 8,
    help = "How many items task.map runs at a time (its concurrency option)" },
  -- NT3_NO_PROGRESS, as NO_COLOR: any value but "" turns progress off
  { key = "progress", env = "NT3_NO_PROGRESS", parse = boolean, env_parse = function() return false end,
    default = true,
    help = "Whether progress shows on a terminal's stderr (ui.progress; task.map, nt3 api --paginate after 1 s)" },
  { key = "pager", env = "NT3_PAGER", parse = command_line, default = "",
    help = "The program nt3 api's output goes through on a terminal (\"less\"; empty or cat: none)" },
  { key = "api.format", env = "NT3_API_FORMAT", parse = one_of(require("nt3.cli.registry").FORMATS), default = "json",
    help = "The output of nt3 api when no --format is given: json (the body as sent), table, csv or ndjson" },
  { key = "api.columns", env = "NT3_API_COLUMNS", parse = columns, default = "",
    help = "nt3 api's columns for table, csv and ndjson when no --columns is given (a,b.c; empty: the first item's)" },
  { key = "color", env = "NT3_COLOR", parse = one_of({ "auto", "always", "never" }), default = "auto",
    help = "Colour in nt3's output: auto (on a terminal, unless NO_COLOR or TERM=dumb), always or never" },
}

local BY_KEY = {}
for _, s in ipairs(M.LIST) do BY_KEY[s.key] = s end

-- settings.keys() -> every key, sorted
function M.keys()
  local keys = {}
  for _, s in ipairs(M.LIST) do keys[#keys + 1] = s.key end
  table.sort(keys)
  return keys
end

-- settings.find(key) -> the setting | nil, message
function M.find(key)
  local s = BY_KEY[key]
  if s then return s end
  return nil, ('unknown setting "%s"; run \'nt3 config list\' for the settings'):format(policy.sanitize(key, 80))
end

-- settings.parse(key, text) -> value | nil, message
function M.parse(key, text)
  local s, err = M.find(key)
  if not s then return nil, err end
  local v, why = s.parse(tostring(text))
  if v == nil then return nil, ('%s must be %s, not "%s"'):format(key, why, policy.sanitize(tostring(text), 80)) end
  return v
end

-- the global file, read once a process
local global
local function global_record()
  global = global or store.read("global")
  return global
end

-- settings.forget(): the next lookup reads the file again (after a write)
function M.forget() global = nil end

local function table_at(data, profile)
  if type(data) ~= "table" then return nil end
  if profile then
    local p = type(data.profiles) == "table" and data.profiles[profile]
    data = type(p) == "table" and p or nil
    if not data then return nil end
  end
  return type(data.settings) == "table" and data.settings or nil
end

-- The profile of the token in use, without running a credential command.
local function active_profile()
  local config = require "nt3.config"
  local cred = config.resolve(config.sources())
  return cred and cred.profile
end

local function select_why(s)
  local _, why = s.parse("")
  return why
end

-- A value stored in the file, checked with the rule `config set` uses.
local function stored(s, where, value, shown)
  if value == nil then return nil end
  local v, why = s.parse(tostring(value))
  local t = type(value)
  if t ~= "number" and t ~= "string" and t ~= "boolean" then v, why = nil, select_why(s) end
  if v == nil then
    return nil, ('%s has "%s" = %s in %s, which is not %s; fix it with \'nt3 config set %s <value>\'')
      :format(shown, s.key, policy.sanitize(tostring(value), 40), where, why, s.key)
  end
  return v
end

-- settings.get(key[, opts]) -> value, source | nil, message
-- opts.flag: the value a flag (or a script's option) gave, which wins;
-- opts.profile: the profile whose setting applies (default: the profile of
-- the token in use; false: none); opts.global: the global file's record,
-- when the caller has read it. Precedence: flag > environment > profile setting >
-- global setting > default. source is "flag", the variable's name,
-- "profile <name>", "global" or "default".
function M.get(key, opts)
  opts = opts or {}
  local s = BY_KEY[key]
  if not s then error("no setting " .. tostring(key), 2) end
  if opts.flag ~= nil then return opts.flag, "flag" end
  local e = env.get(s.env)
  if e and e ~= "" then
    local v, why = (s.env_parse or s.parse)(e)
    if v == nil then return nil, ('%s must be %s, not "%s"'):format(s.env, why, policy.sanitize(e, 80)) end
    return v, s.env
  end
  local rec = opts.global or global_record()
  if rec.state == "ok" then
    local profile = opts.profile
    if profile == nil then profile = active_profile() end
    if profile then
      local t = table_at(rec.data, profile)
      local v, err = stored(s, ('profile "%s"'):format(profile), t and t[key], rec.display)
      if err then return nil, err end
      if v ~= nil then return v, "profile " .. profile end
    end
    local t = table_at(rec.data, nil)
    local v, err = stored(s, "the global settings", t and t[key], rec.display)
    if err then return nil, err end
    if v ~= nil then return v, "global" end
  end
  return s.default, "default"
end

-- settings.changed(rec, profile) -> { { key, value, source }, ... }: the
-- settings whose value is not the default (`nt3 status`), or nil, message.
-- rec: the global file's record (store.read) already read.
function M.changed(rec, profile)
  local out = {}
  for _, s in ipairs(M.LIST) do
    local value, source = M.get(s.key, { global = rec, profile = profile or false })
    if value == nil then return nil, source end
    if value ~= s.default then out[#out + 1] = { key = s.key, value = value, source = source } end
  end
  return out
end

-- settings.stored(profile) -> { key = value } as saved (global when profile is nil)
function M.stored(profile)
  local rec = global_record()
  local out = {}
  if rec.state ~= "ok" then return out end
  for k, v in pairs(table_at(rec.data, profile) or {}) do out[k] = v end
  return out
end

-- settings.set(key, value, profile) -> result | nil, message
-- value nil unsets. A profile's settings need that profile to exist.
function M.set(key, value, profile)
  local config = require "nt3.config"
  local missing
  local res, err = config.update("global", function(data)
    local at = data
    if profile then
      local p = type(data.profiles) == "table" and data.profiles[profile]
      if type(p) ~= "table" then
        missing = value ~= nil
        return false
      end
      at = p
    end
    local t = type(at.settings) == "table" and at.settings or {}
    if value == nil and t[key] == nil then return false end
    t[key] = value
    at.settings = next(t) ~= nil and t or nil
  end)
  M.forget()
  if missing then
    return nil, ('there is no profile "%s" in %s; run \'nt3 login --profile %s\' first')
      :format(policy.sanitize(profile, 80), res.display, policy.sanitize(profile, 80)), "not_logged_in"
  end
  return res, err
end

return M
