-- nt3.api.cache.lookup: the part of the HTTP cache (nt3.api.cache) that
-- finds an entry and answers with it while it is fresh, all a hit needs
-- (docs/architecture.md, "The HTTP cache"). Storing, revalidating and
-- eviction are nt3.api.cache, loaded only when a request is made.
-- Private to nt3.api, nt3.api.cache and nt3.cli.api.
local io, ipairs, math, next, os, pairs, require = io, ipairs, math, next, os, pairs, require
local table, tonumber, tostring, type = table, tonumber, tostring, type
local auth = require "nt3.api.auth"
local fs = require "nt3.fs"
local json = require "nt3.json"
local policy = require "nt3.policy"
local xdg = require "nt3.xdg"

local M = {}

M.ENTRY_MAX = 8 * 1024 * 1024    -- one body; a larger one is not stored
-- 1 kept the time stored in the JSON line; 2 kept each header line as an
-- object { name =, value = } (header_list), which cost a page's decoding a
-- table a line and a lower-casing a line at each use
M.FORMAT = 3

function M.debug(what, url)
  if policy.debug() then io.stderr:write("* ", what, ": ", policy.sanitize(url, 300), "\n") end
end
local debug = M.debug

-- cache.dir() -> $XDG_CACHE_HOME/nt3 (an absolute one), else ~/.cache/nt3 | nil, message
function M.dir() return xdg.dir("cache") end

-- A hash of a text that a process asks for again and again (a walk of
-- pages asks once a page), computed once: the last text and its hash.
local function remembered()
  local last, hash
  return function(text)
    if text ~= last then last, hash = text, fs.sha256_text(text) end
    return hash
  end
end
local account_hash, token_hash = remembered(), remembered()

-- the name of an account's directory: which credential store entry holds
-- the token (the profile, the global file, a folder's file, the variable)
function M.account(cred)
  local label
  if cred.source == "profile" then
    label = "profile:" .. cred.profile
  elseif cred.source == "local" then
    label = "local:" .. tostring(cred.path)
  else
    label = cred.source or "global"
  end
  return account_hash("nt3-cache-account\0" .. label):sub(1, 32)
end

-- the account directories this process has made sure of
local ready = {}

local function entry_dir(cred, create)
  local dir, err = M.dir()
  if not dir then return nil, err end
  local sub = dir .. "/" .. M.account(cred)
  if create and not ready[sub] then
    ready[sub] = true
    for i, d in ipairs({ dir, sub }) do
      local ok, derr = xdg.own_dir(d, i == 1)
      if not ok then
        ready[sub] = nil
        return nil, derr
      end
    end
  end
  return sub
end

-- Cache-Control's directives, lower case: { ["no-store"] = true, ["max-age"] = "60" }
function M.directives(value)
  local out = {}
  for part in (value or ""):gmatch("[^,]+") do
    local name, arg = part:match("^%s*([%w-]+)%s*=?%s*\"?([^\"]*)\"?%s*$")
    if name then out[name:lower()] = arg ~= "" and arg or true end
  end
  return out
end

function M.request_header(headers, name)
  for k, v in pairs(headers) do
    if type(k) == "string" and k:lower() == name then return v end
  end
end

local function read_entry(path)
  -- the time first: a writer replacing the file between the two leaves
  -- the older time on the newer entry, which only revalidates it sooner
  local st = fs.lstat(path)
  if not st or st.type ~= "file" then return nil end
  local text = fs.read(path, M.ENTRY_MAX + 65536)
  if not text then return nil end
  local nl = text:find("\n", 1, true)
  if not nl then return nil end
  local meta = json.decode(text:sub(1, nl - 1))
  if type(meta) ~= "table" or meta.format ~= M.FORMAT or type(meta.status) ~= "number"
    or type(meta.lines) ~= "table" then
    return nil
  end
  local body = text:sub(nl + 1)
  if #body ~= meta.size or fs.sha256_text(body) ~= meta.sha256 then return nil end
  meta.body, meta.stored = body, st.mtime
  return meta
end

-- An entry's header lines (entry.lines) are one flat list, name, value,
-- name, value..., in the order received, every name lower case (as
-- nt3.http gives them; nt3.api.cache lowers them once, when it stores).
-- lookup.value_of(lines, name) -> the value of the first line named name
function M.value_of(lines, name)
  for i = 1, #lines, 2 do
    if lines[i] == name then return lines[i + 1] end
  end
end

-- lookup.response_of(entry) -> the response an entry answers with: as
-- nt3.http's, with headers (lower case, repeated lines joined with ", ")
-- and header_list ({ name =, value = } a line), and cached = true
function M.response_of(entry)
  local lines, headers, list = entry.lines, {}, {}
  for i = 1, #lines, 2 do
    local k, v = lines[i], lines[i + 1]
    local had = headers[k]
    headers[k] = had and (had .. ", " .. v) or v
    list[(i + 1) // 2] = { name = k, value = v }
  end
  return { status = math.tointeger(entry.status), reason = entry.reason, version = entry.version,
    url = entry.url, headers = headers, header_list = list, body = entry.body, cached = true }
end

-- lookup.find(seconds, cred, method, url, headers) -> response (a fresh
-- entry: the answer, no request) | nil, found, where found = { dir =,
-- path =, entry = } for nt3.api.cache.request: the account's directory,
-- the entry's file and what it holds for this request (a stale entry to
-- revalidate; nil for none). found.dir is nil when there is no cache
-- directory to use (NT3_DEBUG says why): the request then goes without the
-- cache. The caller says "cache hit" (lookup.debug) when it answers with one.
function M.find(seconds, cred, method, url, headers)
  local dir, derr = entry_dir(cred, true)
  if not dir then
    debug("cache unavailable (" .. tostring(derr) .. ")", url)
    return nil, {}
  end
  local key = fs.sha256_text(table.concat({ cred.api_url, method, url,
    token_hash("nt3-cache-token\0" .. cred.token) }, "\0"))
  local path = dir .. "/" .. key
  local entry = read_entry(path)
  if entry and entry.method == method and entry.url_asked == url then
    for name, value in pairs(entry.vary or {}) do
      if (M.request_header(headers, name) or "") ~= value then entry = nil break end
    end
  else
    entry = nil
  end
  if entry then
    local cc = M.directives(entry.cache_control)
    local age = os.time() - entry.stored
    local max_age = tonumber(cc["max-age"])
    local fresh = age >= 0 and age < seconds and not cc["no-cache"] and (not max_age or age < max_age)
    if fresh then return M.response_of(entry) end
  end
  return nil, { dir = dir, path = path, entry = entry }
end

-- lookup.applies(req, method, body) -> whether api.request's req (method,
-- body as it will be sent) may go through the cache at all: GET or HEAD, no
-- body, no header of the caller's (RFC 9111: only a request with the
-- standard headers), the body kept in memory (not req.output or req.sink).
function M.applies(req, method, body)
  return (method == "GET" or method == "HEAD") and body == nil
    and (req.headers == nil or next(req.headers) == nil) and req.output == nil and req.sink == nil
end

-- lookup.answer(req) -> response | nil, cred[, found] | nil, nil, message,
-- kind: api.request(req)'s answer from a fresh entry, found with nt3.api not
-- loaded (`nt3 api --cache` to a pipe, nt3.cli.api). req: a valid
-- api.request table (method upper case, path from /) with a cache and no
-- query. No answer (no entry, a stale one, a request the cache does not
-- take, an error status, which api.request reports) gives the credential,
-- resolved once, and what find found: the caller passes them on to
-- api.request as req.credential and req.looked_up, so that a credential
-- command runs once and the entry is read once. A credential that cannot be
-- had gives api.request's failure.
function M.answer(req)
  local cred, err, kind = auth.credential(req.credential)
  if not cred then return nil, nil, err, kind end
  if req.query ~= nil or not M.applies(req, req.method, req.body) then return nil, cred end
  local url = auth.root(cred) .. req.path
  local res, found = M.find(req.cache, cred, req.method, url, auth.headers(cred, req.headers, false))
  if not res then return nil, cred, found end
  if res.status >= 400 then return nil, cred end
  debug("cache hit", url)
  return res
end

return M
