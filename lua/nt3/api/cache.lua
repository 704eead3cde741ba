-- nt3.api.cache: the private HTTP cache of nt3.api (`api.get(path, params,
-- { cache = seconds })`, `nt3 api --cache`),
-- docs/architecture.md, "The HTTP cache". Loaded only by a request that asks for it.
--
-- An entry is one file, <dir>/<account>/<key>, written atomically through
-- nt3.fs.write (mode 0600, directories 0700): a line of JSON (what was
-- asked, the status, the headers, the body's length and SHA-256), then the
-- body; when it was stored is the file's modification time, so a 304 that
-- brings nothing new refreshes it in place (fs.touch) instead of writing
-- the body again. A file that does not read back whole is a miss. The key
-- hashes the profile, the API URL, the method, the full URL and a hash of
-- the token: another token (another account, a new login) never finds an
-- entry, and the token itself is never written.
local io, ipairs, math, os, pairs, require = io, ipairs, math, os, pairs, require
local table, tonumber, tostring, type = table, tonumber, tostring, type
local fs = require "nt3.fs"
local json = require "nt3.json"
local policy = require "nt3.policy"
local xdg = require "nt3.xdg"

local M = {}

M.MAX_BYTES = 64 * 1024 * 1024   -- the whole cache; eviction keeps it under this
M.ENTRY_MAX = 8 * 1024 * 1024    -- one body; a larger one is not stored
local FILE_MODE = 384 -- 0600
local FORMAT = 2 -- 1 kept the time stored in the JSON line

-- RFC 9111 3: what a cache may store at all
local STORABLE = { [200] = true, [203] = true, [300] = true, [301] = true }

local function debug(what, url)
  if policy.debug() then io.stderr:write("* ", what, ": ", policy.sanitize(url, 300), "\n") end
end

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
local function directives(value)
  local out = {}
  for part in (value or ""):gmatch("[^,]+") do
    local name, arg = part:match("^%s*([%w-]+)%s*=?%s*\"?([^\"]*)\"?%s*$")
    if name then out[name:lower()] = arg ~= "" and arg or true end
  end
  return out
end

local function header(res, name) return res.headers and res.headers[name] end

local function request_header(headers, name)
  for k, v in pairs(headers) do
    if type(k) == "string" and k:lower() == name then return v end
  end
end

-- The request's values of the headers the response varies on (RFC 9111 4.1)
local function vary_of(res, headers)
  local vary = header(res, "vary")
  if not vary then return {} end
  local out = {}
  for name in vary:gmatch("[^,%s]+") do
    name = name:lower()
    if name == "*" then return nil end
    out[name] = request_header(headers, name) or ""
  end
  return out
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
  if type(meta) ~= "table" or meta.format ~= FORMAT or type(meta.status) ~= "number"
    or type(meta.header_list) ~= "table" then
    return nil
  end
  local body = text:sub(nl + 1)
  if #body ~= meta.size or fs.sha256_text(body) ~= meta.sha256 then return nil end
  meta.body, meta.stored = body, st.mtime
  return meta
end

-- What the cache holds, in bytes, as last counted plus what this process
-- wrote since: the directory is listed once a process and again only when
-- the count passes the bound, not at every write.
local counted
-- the order of this process's writes: mtime has whole seconds only, and
-- the entry written last must never be the one to go
local sequence, written = 0, {}

local function evict(dir, added)
  if counted and counted + added <= M.MAX_BYTES then
    counted = counted + added
    return
  end
  local root = dir:match("^(.*)/[^/]*$")
  local files, total = {}, 0
  for _, sub in ipairs(fs.dir(root) or {}) do
    for _, name in ipairs(fs.dir(root .. "/" .. sub) or {}) do
      local path = root .. "/" .. sub .. "/" .. name
      local st = fs.lstat(path)
      if st and st.type == "file" then
        files[#files + 1] = { path = path, size = st.size, mtime = st.mtime, seq = written[path] or 0 }
        total = total + st.size
      end
    end
  end
  counted = total
  if total <= M.MAX_BYTES then return end
  table.sort(files, function(a, b)
    if a.mtime ~= b.mtime then return a.mtime < b.mtime end
    return a.seq < b.seq
  end)
  for _, f in ipairs(files) do
    if total <= M.MAX_BYTES * 0.9 or f.seq == sequence then break end
    if fs.remove(f.path) then total = total - f.size end
  end
  counted = total
end

local function write_entry(path, dir, meta, body)
  if #body > M.ENTRY_MAX then return nil, "too large" end
  meta.format, meta.size, meta.sha256, meta.body, meta.stored = FORMAT, #body, fs.sha256_text(body), nil, nil
  local line, err = json.encode(meta)
  if not line then return nil, err end
  -- atomic, but not synced: an entry is checked when read and can be
  -- fetched again, so a crash costs a miss, never a wrong answer
  local ok, werr = fs.write(path, line .. "\n" .. body, FILE_MODE, { sync = false })
  if not ok then
    -- a full disk, a read-only cache: the answer is still the answer
    debug("cache not written (" .. tostring(werr) .. ")", meta.url)
    return nil, werr
  end
  sequence = sequence + 1
  written[path] = sequence
  evict(dir, #line + 1 + #body)
  return true
end

local function response_of(entry)
  local headers = {}
  for _, h in ipairs(entry.header_list) do
    local k = h.name:lower()
    headers[k] = headers[k] and (headers[k] .. ", " .. h.value) or h.value
  end
  return { status = math.tointeger(entry.status), reason = entry.reason, version = entry.version,
    url = entry.url, headers = headers, header_list = entry.header_list, body = entry.body, cached = true }
end

-- A 304's header lines that say nothing about the stored answer
local FRAMING = { ["content-length"] = true, ["transfer-encoding"] = true }

-- Whether every header line of the 304 is already stored, as it is (the
-- Date aside: it changes every second and says nothing about the body):
-- then only the entry's time changes.
local function confirms(entry, res)
  local sent = {}
  for _, h in ipairs(res.header_list or {}) do
    local n = h.name:lower()
    if not FRAMING[n] and n ~= "date" then
      local list = sent[n] or {}
      list[#list + 1] = h.value
      sent[n] = list
    end
  end
  for n, values in pairs(sent) do
    local i = 0
    for _, h in ipairs(entry.header_list) do
      if h.name:lower() == n then
        i = i + 1
        if values[i] ~= h.value then return false end
      end
    end
    if i ~= #values then return false end
  end
  return true
end

-- RFC 9111 4.3.4: a 304's headers replace the stored ones of the same name
local function refresh(entry, res)
  local replaced = {}
  for _, h in ipairs(res.header_list or {}) do replaced[h.name:lower()] = true end
  local list = {}
  for _, h in ipairs(entry.header_list) do
    if not replaced[h.name:lower()] then list[#list + 1] = h end
  end
  for _, h in ipairs(res.header_list or {}) do
    if not FRAMING[h.name:lower()] then list[#list + 1] = h end
  end
  entry.header_list = list
end

-- cache.request(opts, cred, method, url, headers, transfer) -> response |
-- nil, message, kind. transfer(extra_headers) sends the request (with
-- validators added) and returns nt3.http's answer.
-- opts.cache: seconds an entry is answered without a request;
-- opts.cache_404: a 404 may be stored too.
function M.request(opts, cred, method, url, headers, transfer)
  local seconds = opts.cache
  local dir, derr = entry_dir(cred, true)
  if not dir then
    debug("cache unavailable (" .. tostring(derr) .. ")", url)
    return transfer({})
  end
  local key = fs.sha256_text(table.concat({ cred.api_url, method, url,
    token_hash("nt3-cache-token\0" .. cred.token) }, "\0"))
  local path = dir .. "/" .. key
  local entry = read_entry(path)
  if entry and entry.method == method and entry.url_asked == url then
    for name, value in pairs(entry.vary or {}) do
      if (request_header(headers, name) or "") ~= value then entry = nil break end
    end
  else
    entry = nil
  end
  local now = os.time()
  if entry then
    local cc = directives(entry.cache_control)
    local age = now - entry.stored
    local max_age = tonumber(cc["max-age"])
    local fresh = age >= 0 and age < seconds and not cc["no-cache"] and (not max_age or age < max_age)
    if fresh then
      debug("cache hit", url)
      return response_of(entry)
    end
  end
  local extra = {}
  if entry then
    local etag, modified
    for _, h in ipairs(entry.header_list) do
      local n = h.name:lower()
      if n == "etag" then etag = h.value elseif n == "last-modified" then modified = h.value end
    end
    if etag then extra["If-None-Match"] = etag end
    if modified then extra["If-Modified-Since"] = modified end
  end
  local res, err, kind = transfer(extra)
  if not res then return nil, err, kind end
  if entry and res.status == 304 then
    debug("revalidated (304)", url)
    -- the usual 304 (the same validators, no new directive): the entry's
    -- time is set in place, one system call; the file is neither read
    -- again nor written, so no reader ever sees it half-written
    if confirms(entry, res) and fs.touch(path) then return response_of(entry) end
    refresh(entry, res)
    local found = {}
    for _, h in ipairs(entry.header_list) do
      if h.name:lower() == "cache-control" then found[#found + 1] = h.value end
    end
    entry.cache_control = table.concat(found, ", ")
    local body = entry.body
    if directives(entry.cache_control)["no-store"] then
      fs.remove(path)
    else
      write_entry(path, dir, entry, body)
      entry.body = body
    end
    return response_of(entry)
  end
  debug("miss", url)
  local cc = directives(header(res, "cache-control"))
  local vary = vary_of(res, headers)
  local storable = (STORABLE[res.status] or (res.status == 404 and opts.cache_404)) and not cc["no-store"]
    and vary ~= nil
  if storable then
    write_entry(path, dir, {
      method = method, url_asked = url, url = res.url, status = res.status, reason = res.reason,
      version = res.version, header_list = res.header_list or {},
      cache_control = header(res, "cache-control"), vary = vary,
    }, res.body or "")
  elseif entry or cc["no-store"] then
    fs.remove(path)
  end
  return res
end

-- cache.clear([cred]) -> files removed | nil, message: every entry, or
-- those of one account (a logout, `nt3 cache clear --profile`)
function M.clear(cred)
  local dir, err = M.dir()
  if not dir then return nil, err end
  local subs = cred and { M.account(cred) } or fs.dir(dir) or {}
  local n = 0
  for _, sub in ipairs(subs) do
    local d = dir .. "/" .. sub
    local st = fs.lstat(d)
    if st and st.type == "directory" then
      for _, name in ipairs(fs.dir(d) or {}) do
        if fs.remove(d .. "/" .. name) then n = n + 1 end
      end

    end
  end
  return n
end

-- cache.forget(scope, profile, path): a login or a logout of that entry of
-- the credential store clears its account's entries (a new token never
-- finds them anyway: the key hashes the token; this frees the space).
function M.forget(scope, profile, path)
  if profile and scope == "global" then return M.clear({ source = "profile", profile = profile }) end
  return M.clear({ source = scope, path = path })
end

-- cache.info() -> { dir, entries, bytes, max_bytes, accounts } | nil, message
function M.info()
  local dir, err = M.dir()
  if not dir then return nil, err end
  local out = { dir = dir, entries = 0, bytes = 0, max_bytes = M.MAX_BYTES, accounts = 0 }
  for _, sub in ipairs(fs.dir(dir) or {}) do
    out.accounts = out.accounts + 1
    for _, name in ipairs(fs.dir(dir .. "/" .. sub) or {}) do
      local st = fs.lstat(dir .. "/" .. sub .. "/" .. name)
      if st and st.type == "file" then out.entries, out.bytes = out.entries + 1, out.bytes + st.size end
    end
  end
  return out
end

return M
