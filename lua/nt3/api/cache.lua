-- nt3.api.cache: the private HTTP cache of nt3.api (`api.get(path, params,
-- { cache = seconds })`, `nt3 api --cache`),
-- docs/architecture.md, "The HTTP cache". Loaded only when a request that asks for
-- it is sent: finding an entry and answering while it is fresh (a hit) is
-- nt3.api.cache.lookup, which needs none of this.
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
local ipairs, pairs, require = ipairs, pairs, require
local table, tostring = table, tostring
local fs = require "nt3.fs"
local json = require "nt3.json"
local lookup = require "nt3.api.cache.lookup"

local M = {}

M.MAX_BYTES = 64 * 1024 * 1024   -- the whole cache; eviction keeps it under this
local FILE_MODE = 384 -- 0600

-- RFC 9111 3: what a cache may store at all
local STORABLE = { [200] = true, [203] = true, [300] = true, [301] = true }

-- where entries are and how they are read: nt3.api.cache.lookup, which a hit needs alone
M.dir, M.account = lookup.dir, lookup.account
local debug, directives, request_header, response_of, value_of = lookup.debug, lookup.directives,
  lookup.request_header, lookup.response_of, lookup.value_of

local function header(res, name) return res.headers and res.headers[name] end

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
  if #body > lookup.ENTRY_MAX then return nil, "too large" end
  meta.format, meta.size, meta.sha256, meta.body, meta.stored = lookup.FORMAT, #body, fs.sha256_text(body), nil, nil
  json.array(meta.lines) -- none is [], not {}
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

-- A 304's header lines that say nothing about the stored answer
local FRAMING = { ["content-length"] = true, ["transfer-encoding"] = true }

-- A response's header lines as an entry keeps them (lookup.value_of):
-- name, value, name, value..., names lower case
local function lines_of(res)
  local lines = {}
  for _, h in ipairs(res.header_list or {}) do
    lines[#lines + 1] = h.name:lower()
    lines[#lines + 1] = h.value
  end
  return lines
end

-- Whether every header line of the 304 is already stored, as it is (the
-- Date aside: it changes every second and says nothing about the body):
-- then only the entry's time changes.
local function confirms(entry, sent_lines)
  local sent = {}
  for i = 1, #sent_lines, 2 do
    local n = sent_lines[i]
    if not FRAMING[n] and n ~= "date" then
      local list = sent[n] or {}
      list[#list + 1] = sent_lines[i + 1]
      sent[n] = list
    end
  end
  local lines = entry.lines
  for n, values in pairs(sent) do
    local k = 0
    for i = 1, #lines, 2 do
      if lines[i] == n then
        k = k + 1
        if values[k] ~= lines[i + 1] then return false end
      end
    end
    if k ~= #values then return false end
  end
  return true
end

-- RFC 9111 4.3.4: a 304's headers replace the stored ones of the same name
local function refresh(entry, sent_lines)
  local replaced = {}
  for i = 1, #sent_lines, 2 do replaced[sent_lines[i]] = true end
  local lines, out = entry.lines, {}
  for i = 1, #lines, 2 do
    if not replaced[lines[i]] then
      out[#out + 1] = lines[i]
      out[#out + 1] = lines[i + 1]
    end
  end
  for i = 1, #sent_lines, 2 do
    if not FRAMING[sent_lines[i]] then
      out[#out + 1] = sent_lines[i]
      out[#out + 1] = sent_lines[i + 1]
    end
  end
  entry.lines = out
end

-- cache.request(opts, method, url, headers, transfer, looked_up) ->
-- response | nil, message, kind: a request that nt3.api.cache.lookup.find
-- did not answer (looked_up is what it found; its dir nil: no cache
-- directory; its response, if any, lookup.response_of(looked_up.entry)
-- made already and read by nobody but nt3.api, answers a confirming 304).
-- transfer(extra_headers) sends the request (with validators added) and
-- returns nt3.http's answer. opts.cache_404: a 404 may be stored too.
function M.request(opts, method, url, headers, transfer, looked_up)
  if not looked_up.dir then return transfer({}) end
  local dir, path, entry = looked_up.dir, looked_up.path, looked_up.entry
  local extra = {}
  if entry then
    local etag, modified = value_of(entry.lines, "etag"), value_of(entry.lines, "last-modified")
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
    local sent = lines_of(res)
    if confirms(entry, sent) and fs.touch(path) then return looked_up.response or response_of(entry) end
    refresh(entry, sent)
    local found, lines = {}, entry.lines
    for i = 1, #lines, 2 do
      if lines[i] == "cache-control" then found[#found + 1] = lines[i + 1] end
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
      version = res.version, lines = lines_of(res),
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
