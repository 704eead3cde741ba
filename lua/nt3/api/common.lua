-- nt3.api.common: the rules of nt3.api that do not depend on where the
-- token is (docs/architecture.md, "Sandboxed commands", "One home for each rule"):
-- query strings, decoding, the path check, the page loop and the verbs.
-- nt3.api (the host's, token in Lua) and the sandbox's nt3.api
-- (lua/nt3/sandbox/api.lua, token in C) are each a transport under these,
-- so a rule here is never written twice. Internal: no part of the API.
local error, ipairs, math, next, pairs, require = error, ipairs, math, next, pairs, require
local pcall, setmetatable, table, tonumber, tostring, type = pcall, setmetatable, table, tonumber, tostring, type
local check = require "nt3.check"
local json = require "nt3.json"
local policy = require "nt3.policy"

local M = {}

local function urlencode(v)
  -- nt3.json decodes every number as a float: a next_page of 3 must go
  -- back out as "3", not "3.0"
  if math.type(v) == "float" and math.tointeger(v) then v = math.tointeger(v) end
  return (tostring(v):gsub("[^%w%-._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

-- api.query{ page = 2, q = "a b" } -> "page=2&q=a%20b" (keys sorted; a list
-- value repeats its key; booleans as true/false)
function M.query(params)
  local keys = {}
  for k in pairs(params) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = params[k]
    if v == nil then v = params[tonumber(k)] end
    local list = type(v) == "table" and v or { v }
    for _, item in ipairs(list) do
      if item == json.null then item = "" end
      parts[#parts + 1] = urlencode(k) .. "=" .. urlencode(item)
    end
  end
  return table.concat(parts, "&")
end

-- path with the query of params appended (nothing for none)
function M.with_query(path, params)
  if not params or next(params) == nil then return path end
  return path .. (path:find("?", 1, true) and "&" or "?") .. M.query(params)
end

-- Whether a response may be JSON: a body, and a Content-Type that says
-- JSON or nothing.
local function json_typed(res)
  if (res.body or "") == "" then return false end
  local ctype = (res.headers and res.headers["content-type"] or ""):lower()
  return ctype == "" or ctype:find("json", 1, true) ~= nil
end

-- api.decode(response) -> value, is_json: the body decoded when it is JSON
-- (by its Content-Type, or for a body that parses as JSON when none is
-- given), else the body as it is.
function M.decode(res)
  local body = res.body or ""
  if json_typed(res) then
    local value = json.decode(body)
    if value ~= nil then return value, true end
  end
  return body, false
end

-- A path under the API URL: never a URL of its own (the token goes only to
-- the API URL), always from the root. A caller's mistake, so it raises,
-- blamed on the caller of the function that checks.
function M.check_path(n, fname, path)
  check.arg(n, fname, path, "string", false, 2)
  if path:match("^%a[%w+.-]*:") then
    error(("refusing %s: nt3.api sends the token only to the API URL; give a path like /api/v1/me")
      :format(policy.sanitize(path, 200)), 3)
  end
  if path:sub(1, 1) ~= "/" then
    error(("bad path %q: it must start with /"):format(policy.sanitize(path, 200)), 3)
  end
end

-- What api.pages raises: a message and a stable kind, as api.request's
-- failure codes (an HTTP status, "not_logged_in", "network", ...) or one
-- of pages' own ("not_a_list", "cross_origin", "loop", "too_many_pages",
-- "invalid_url"). tostring(err) is the message; nt3's CLI turns the kind
-- into its exit code.
local PagesError = { __name = "nt3.api.error" }
PagesError.__index = PagesError
PagesError.__tostring = function(e) return e.message end

local function raise(message, kind)
  error(setmetatable({ message = message, kind = kind }, PagesError), 0)
end

-- The items of a page, or nil and why not. A page is JSON (by its
-- Content-Type, as api.decode judges it): an array, or an object whose
-- `key` member (default "data") is one.
local function items_of(res, raw, key)
  -- raw: the items' own bytes, cut out of the page in one pass that also
  -- checks it is JSON; nothing is decoded (docs/architecture.md, "JSON")
  local list, value, is_json
  if raw then
    if json_typed(res) then list, is_json = require("nt3.json.text").items(res.body, key) end
    is_json = list ~= nil or is_json
  else
    value, is_json = M.decode(res)
  end
  if not is_json then
    local ctype = res.headers and res.headers["content-type"]
    return nil, "is not JSON" .. (ctype and (" (Content-Type %s)"):format(policy.sanitize(ctype, 80)) or "")
  end
  local want = key and ('an object with a "%s" array'):format(policy.sanitize(key, 80))
    or 'a JSON array, or an object with a "data" array'
  if raw then
    if not list then return nil, "is not a list (" .. want .. ")" end
    return list
  end
  if type(value) == "table" then
    if key then
      value = value[key]
    elseif type(value.data) == "table" then
      value = value.data
    end
  end
  if type(value) ~= "table" or (next(value) ~= nil and value[1] == nil) then
    return nil, "is not a list (" .. want .. ")"
  end
  return value
end

-- How many pages api.pages has in flight at most when it looks ahead
-- (docs/architecture.md, "The HTTP cache"): the one the loop waits for and
-- the next ones that the cache's entries say follow it. Kept small: each
-- is a connection of its own, and the pages past a changed one are sent
-- for nothing.
M.LOOKAHEAD = 3

-- the next link of a page (a response, or a cached one) asked at url ->
-- { url, origin, shown } | nil (no next link) | false, message (a bad one).
-- parsed: the links the look-ahead parsed (libcurl's URL parser is most of
-- a link's cost), by base and target: a page's answer that repeats its
-- cached link takes that one's parse (take = true) instead of doing it again
local function next_of(http, res, url, parsed, take)
  local link = res.headers and res.headers.link
  local target = link and http.link(link, "next")
  if not target then return nil end
  local base = res.url ~= "" and res.url or url
  local key = base .. "\n" .. target
  local nxt = parsed[key]
  if nxt then
    if take then parsed[key] = nil end
    return nxt
  end
  local lerr
  nxt, lerr = http.parse_url(target, base)
  if not nxt then return false, lerr end
  if not take then parsed[key] = nxt end
  return nxt
end

-- common.pages(path, opts, transport): api.pages's loop (docs/lua-api.md,
-- "api.pages"), whoever fetches. transport = { max_pages = the default,
-- connect = function(opts) -> api_url, get[, peek] | nil, message, kind },
-- called once the arguments are checked; get(url[, found]) -> value,
-- response | nil, message, status_or_kind (a page fetched raw; found is
-- what peek found for url). peek(url) -> the cached response of url, found
-- (found.hit: it is fresh, the answer) | nil (no entry). With peek, in a
-- task, the loop looks ahead (M.LOOKAHEAD) along the next links the cached
-- pages hold: the conditional GET of each is sent before the loop reaches
-- it. A page whose answer leads elsewhere discards (cancels) what was sent
-- past it; so does leaving the loop (its closing value). A page sent ahead
-- is one the loop would fetch next were every page unchanged: never past
-- max_pages, to another origin, to a page already in the list, to a fresh
-- one or to one with no entry.
function M.pages(path, opts, transport)
  M.check_path(1, "pages", path)
  check.arg(2, "pages", opts, "table", true)
  opts = opts or {}
  check.arg(2, "pages", opts.key, "string", true)
  local max_pages = opts.max_pages or transport.max_pages
  if math.type(max_pages) ~= "integer" or max_pages < 1 then
    check.fail(2, "pages", "max_pages must be a whole number of at least 1")
  end
  if opts.cache ~= nil and (type(opts.cache) ~= "number" or opts.cache < 0 or opts.cache ~= opts.cache) then
    check.fail(2, "pages", "cache must be a number of seconds >= 0")
  end
  local http = require "nt3.http"
  local api_url, get, peek = transport.connect(opts)
  if not api_url then raise(get, peek) end
  local first, uerr, ukind = http.parse_url((api_url:gsub("/+$", "")) .. M.with_query(path, opts.query))
  if not first then raise(uerr, ukind) end
  local origin, url, shown = first.origin, first.url, first.shown
  local seen, page, items, i, parsed = {}, 0, {}, 0, {}

  -- the look-ahead: sent[j] = { url =, cached = the cached response, t =
  -- the task fetching it }, page + j in order
  local task = type(peek) == "function" and require "nt3.task"
  if task and not task._in_task() then task = nil end
  local sent, waited = {}, nil -- waited: the page the loop waits for
  local function discard()
    if waited then task.cancel(waited.t) end
    for j = #sent, 1, -1 do
      task.cancel(sent[j].t)
      sent[j] = nil
    end
  end
  local function send(u, cached, found)
    return { url = u, cached = cached, t = task.spawn(function() return table.pack(pcall(get, u, found)) end) }
  end
  -- sends the pages the cached ones say follow the last one sent, while
  -- fewer than M.LOOKAHEAD are in flight
  local function look_ahead(current)
    local planned = { [current.url] = true }
    for _, s in ipairs(sent) do planned[s.url] = true end
    while #sent < M.LOOKAHEAD - 1 and page + #sent < max_pages do
      local last = sent[#sent] or current
      local nxt = next_of(http, last.cached, last.url, parsed)
      if not nxt or nxt.origin ~= origin or seen[nxt.url] or planned[nxt.url] then return end
      local cached, found = peek(nxt.url)
      if not cached or found.hit then return end -- a fresh page needs no request
      planned[nxt.url] = true
      sent[#sent + 1] = send(nxt.url, cached, found)
    end
  end
  local function fetch(u)
    if not task then return get(u) end
    local current
    if sent[1] and sent[1].url == u then
      current = table.remove(sent, 1)
    else
      discard()
      local cached, found = peek(u)
      if not cached then return get(u) end
      if found.hit then return get(u, found) end
      current = send(u, cached, found)
    end
    look_ahead(current)
    waited = current
    local r = task.wait(current.t)
    waited = nil
    if not r[1] then error(r[2], 0) end
    return table.unpack(r, 2, r.n)
  end

  local iterator = function()
    while true do
      if i < #items then
        i = i + 1
        return items[i], i
      end
      if not url then return nil end
      if seen[url] then
        raise(("page %d's next link points at page %d again (%s): the list would never end")
          :format(page, seen[url], shown), "loop")
      end
      if page >= max_pages then
        raise(("page %d has a next link (%s): the list is longer than %d pages (max_pages)")
          :format(page, shown, max_pages), "too_many_pages")
      end
      page = page + 1
      seen[url] = page
      local value, res, status = fetch(url)
      if value == nil then
        local where = type(status) == "number" and ("HTTP %d, "):format(status) or ""
        raise(("%s (%spage %d of %s)"):format(res, where, page, shown), status)
      end
      local list, why = items_of(res, opts.raw, opts.key)
      if not list then raise(("page %d of %s %s"):format(page, shown, why), "not_a_list") end
      items, i = list, 0
      local nxt, lerr = next_of(http, res, url, parsed, true)
      url = nil
      if nxt == false then raise(("page %d's next link: %s"):format(page, lerr), "invalid_url") end
      if nxt then
        if nxt.origin ~= origin then
          raise(("refusing to follow page %d's next link to %s: it is not on the API URL's origin %s, and the"
            .. " token goes nowhere else"):format(page, nxt.shown, origin), "cross_origin")
        end
        url, shown = nxt.url, nxt.shown
      end
      if not url then discard() end
    end
  end
  if not task then return iterator end
  -- the generic for closes this when the loop ends, by a break or an error
  return iterator, nil, nil, setmetatable({}, { __close = discard })
end

-- common.verbs(request) -> { get =, post =, put =, patch =, delete = }:
-- api.get(path [, params [, opts]]), api.post(path [, body [, opts]]), ...
-- as request{ method =, path =, ... } of the module they are put in.
function M.verbs(request)
  local function verb(method)
    return function(path, body, opts)
      local req = {}
      for k, v in pairs(opts or {}) do req[k] = v end
      req.method, req.path = method, path
      if body ~= nil then
        -- GET and HEAD carry no body: a table of fields becomes the query
        if (method == "GET" or method == "HEAD") and type(body) == "table" then
          local q = {}
          for k, v in pairs(req.query or {}) do q[k] = v end
          for k, v in pairs(body) do q[k] = v end
          req.query = q
        else
          req.body = body
        end
      end
      return request(req)
    end
  end
  return { get = verb("GET"), post = verb("POST"), put = verb("PUT"), patch = verb("PATCH"), delete = verb("DELETE") }
end

return M
