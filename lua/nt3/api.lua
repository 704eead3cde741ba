-- nt3.api: authenticated requests to the active API URL with the active
-- token, resolved exactly as `nt3 status` resolves them (nt3.config). JSON
-- bodies are encoded, JSON responses decoded, API errors become
-- nil, message, status.
--
-- The token only ever goes to <api_url><path>: a path must start with "/",
-- so nothing a caller passes can change the scheme, host or port; nt3.http
-- drops Authorization on a redirect to any other origin.
local error, ipairs, math, next, pairs, require = error, ipairs, math, next, pairs, require
local setmetatable = setmetatable
local table, tonumber, tostring, type = table, tonumber, tostring, type
local check = require "nt3.check"
local json = require "nt3.json"
local policy = require "nt3.policy"

local M = {}

local METHODS = { GET = true, POST = true, PUT = true, PATCH = true, DELETE = true, HEAD = true, OPTIONS = true }

-- Options passed through to nt3.http.request as they are.
local HTTP_OPTIONS = {
  "timeout", "connect_timeout", "stall_timeout", "max_size", "max_redirects", "cafile",
  "retries", "max_retry_wait", "output", "sink", "decompress",
}

-- What an API request does unless told otherwise: try an idempotent
-- request up to three more times on 429/502/503/504 or a failed
-- connection, waiting at most a minute in all (docs/architecture.md, "Rate limits").
M.RETRIES = 3
M.MAX_RETRY_WAIT = 60

-- nt3.http's failure codes that are not the network's fault keep their
-- name as the kind; every other is "network".
local LOCAL_KINDS = { rate_limited = true, sink = true, output = true, invalid = true }

-- api.on_warning(message): called with each warning about the credential
-- files (a token file readable by others, ...), once per process. The
-- default prints it as every nt3 warning is printed; a script may replace it.
M.on_warning = policy.warn

local warned = false

-- The credential to use, or nil, message, kind ("not_logged_in"|"invalid").
local function credential()
  local cred, err, kind = require("nt3.config").active()
  if not cred then return nil, err, kind or "not_logged_in" end
  if not warned then
    warned = true
    for _, w in ipairs(cred.warnings or {}) do M.on_warning(w) end
  end
  return cred
end

-- The CA file to verify the server with: the caller's cafile, else
-- $NT3_CA_FILE for a self-hosted server with a private CA, else the system's
-- (nil). A relative NT3_CA_FILE is refused: it would trust a file of
-- whatever directory one is in, where a cloned repository could plant a CA
-- and read the token.
local function cafile(given)
  if given ~= nil then return given end
  local path = require("nt3.env").get("NT3_CA_FILE")
  if not path or path == "" then return nil end
  if path:sub(1, 1) ~= "/" then
    return nil, ('NT3_CA_FILE must be an absolute path (it is "%s")'):format(path)
  end
  return path
end

-- api.http(req) -> response | nil, message
-- nt3.http.request with the TLS settings of every nt3.api request (and of
-- `nt3 status --check`): NT3_CA_FILE unless req.cafile is given.
function M.http(req)
  check.arg(1, "http", req, "table")
  local ca, err = cafile(req.cafile)
  if err then return nil, err, "invalid" end
  local copy = {}
  for k, v in pairs(req) do copy[k] = v end
  copy.cafile = ca
  local res, herr, code = require("nt3.http").request(copy)
  if code == "untrusted_certificate" and not ca then
    -- the user of nt3 sets a variable; `cafile` is the name for scripts
    herr = herr:gsub(" %(for a private CA give cafile%)$", " (for a private CA set NT3_CA_FILE)")
  end
  return res, herr, code
end

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

local function with_query(path, params)
  if not params or next(params) == nil then return path end
  return path .. (path:find("?", 1, true) and "&" or "?") .. M.query(params)
end

-- A server's message goes to a terminal or a log as one line: control
-- characters (a newline, an escape sequence) become spaces and a message
-- longer than anyone reads is cut.
local MESSAGE_MAX = 300
local function one_line(text)
  return policy.sanitize((text:gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "")), MESSAGE_MAX)
end

-- The server's own words for an error, when it sends any: {"message":..},
-- {"error":".."}, {"error":{"message":..}}, {"errors":[{"message":..}]},
-- or a short plain-text body.
local function error_message(res, data)
  if type(data) == "table" then
    local candidates = {
      data.message, data.error_description, data.error,
      type(data.error) == "table" and data.error.message or nil,
      type(data.errors) == "table" and type(data.errors[1]) == "table" and data.errors[1].message or nil,
      type(data.errors) == "table" and data.errors[1] or nil,
    }
    for i = 1, 6 do
      local c = candidates[i]
      if type(c) == "string" and one_line(c) ~= "" then return one_line(c) end
    end
  end
  local body = res.body or ""
  local ctype = res.headers and res.headers["content-type"] or ""
  if body ~= "" and #body <= 200 and ctype:find("^text/plain") then
    return one_line(body)
  end
  return ("HTTP %d"):format(res.status)
end

-- api.decode(response) -> value, is_json: the body decoded when it is JSON
-- (by its Content-Type, or for a body that parses as JSON when none is
-- given), else the body as it is.
-- Whether a response may be JSON: a body, and a Content-Type that says
-- JSON or nothing.
local function json_typed(res)
  if (res.body or "") == "" then return false end
  local ctype = (res.headers and res.headers["content-type"] or ""):lower()
  return ctype == "" or ctype:find("json", 1, true) ~= nil
end

function M.decode(res)
  local body = res.body or ""
  if json_typed(res) then
    local value = json.decode(body)
    if value ~= nil then return value, true end
  end
  return body, false
end

-- A path under the API URL: never a URL of its own (the token goes only to
-- the API URL), always from the root. A caller's mistake, so it raises.
local function check_path(n, fname, path)
  check.arg(n, fname, path, "string", false, 2)
  if path:match("^%a[%w+.-]*:") then
    error(("refusing %s: nt3.api sends the token only to the API URL; give a path like /api/v1/me")
      :format(policy.sanitize(path, 200)), 3)
  end
  if path:sub(1, 1) ~= "/" then
    error(("bad path %q: it must start with /"):format(policy.sanitize(path, 200)), 3)
  end
end

-- api.url(path) -> the full URL of path under the active API URL | nil, message, kind
function M.url(path)
  check_path(1, "url", path)
  local cred, err, kind = credential()
  if not cred then return nil, err, kind end
  return (cred.api_url:gsub("/+$", "")) .. path
end

-- A setting of `nt3 config` for a request with cred's token: the caller's
-- value (a flag) first, then the environment, the profile's, the global one
-- (docs/architecture.md, "Settings and aliases").
local function setting(key, given, cred)
  return require("nt3.config.settings").get(key, { flag = given, profile = cred.profile or false })
end

-- One request to a URL already known to be under the API URL: nt3.http's
-- answer, or nil, message, kind.
local function transfer(req, method, url, headers, body, cred)
  local http_req = { method = method, url = url, headers = headers, body = body }
  for _, k in ipairs(HTTP_OPTIONS) do http_req[k] = req[k] end
  for option, key in pairs({ retries = "http.retries", timeout = "http.timeout" }) do
    local value, err = setting(key, http_req[option], cred)
    if value == nil then return nil, err, "invalid" end
    http_req[option] = value
  end
  if http_req.max_retry_wait == nil then http_req.max_retry_wait = M.MAX_RETRY_WAIT end
  local res, herr, code = M.http(http_req)
  if not res then return nil, herr, LOCAL_KINDS[code] and code or "network" end
  return res
end

-- req.cache (seconds): through the cache (nt3.api.cache) when the request
-- may be cached at all: GET or HEAD, no body, no header of the caller's,
-- the body kept in memory (RFC 9111; docs/architecture.md, "The HTTP cache").
local function fetch(req, method, url, headers, body, cred)
  local seconds = req.cache
  if seconds ~= nil and (method == "GET" or method == "HEAD") and body == nil
    and (req.headers == nil or next(req.headers) == nil) and req.output == nil and req.sink == nil then
    return require("nt3.api.cache").request(req, cred, method, url, headers, function(extra)
      local with = headers
      if next(extra) ~= nil then
        with = {}
        for k, v in pairs(headers) do with[k] = v end
        for k, v in pairs(extra) do with[k] = v end
      end
      return transfer(req, method, url, with, body, cred)
    end)
  end
  return transfer(req, method, url, headers, body, cred)
end

local function send(req, method, url, headers, body, cred)
  local res, herr, code = fetch(req, method, url, headers, body, cred)
  if not res then return nil, herr, code end
  if res.status >= 400 then
    return nil, error_message(res, (M.decode(res))), res.status, res
  end
  local value = res.body
  if not req.raw then value = M.decode(res) end
  return value, res
end

-- The headers of every API request: the token, JSON, then the caller's,
-- which win whatever their case and form.
local function headers_for(cred, given, has_body)
  local headers = {
    ["Authorization"] = "Bearer " .. cred.token,
    ["Accept"] = "application/json",
  }
  if has_body then headers["Content-Type"] = "application/json" end
  local function replace_default(name)
    if type(name) ~= "string" then return end
    for existing in pairs(headers) do
      if type(existing) == "string" and existing:lower() == name:lower() then headers[existing] = nil end
    end
  end
  given = given or {}
  for key, value in pairs(given) do
    if type(key) == "string" then
      replace_default(key)
    elseif type(value) == "table" then
      replace_default(value[1])
    end
  end
  for key, value in pairs(given) do
    if type(key) == "string" then headers[key] = value end
  end
  for _, pair in ipairs(given) do headers[#headers + 1] = pair end
  return headers
end

-- api.request{ method=, path=, body=, query=, headers=, raw=, timeout=, ... }
--   -> value, response | nil, message, status_or_kind, response
-- body: a table is sent as JSON; a string as it is (Content-Type
-- application/json unless headers say otherwise). query: a table of
-- parameters. raw = true: value is the body as received, never decoded.
-- credential: a credential from config.active() to use instead of resolving
-- one (`nt3 status --check` checks the very one it shows).
-- Failures: HTTP >= 400 -> nil, the server's message, the status, the
-- response; no usable token -> nil, message, "not_logged_in" | "invalid";
-- no response at all -> nil, message, "network".
function M.request(req)
  check.arg(1, "request", req, "table")
  local method = (req.method or "GET")
  if type(method) ~= "string" or not METHODS[method:upper()] then
    check.fail(1, "request", ("bad method %s (one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS)")
      :format(policy.sanitize(tostring(method), 40)))
  end
  method = method:upper()
  check_path(1, "request", req.path)
  if req.cache ~= nil and (type(req.cache) ~= "number" or req.cache < 0 or req.cache ~= req.cache) then
    check.fail(1, "request", "field 'cache' must be a number of seconds >= 0")
  end
  for _, field in ipairs { "headers", "query", "credential" } do
    if req[field] ~= nil and type(req[field]) ~= "table" then
      check.fail(1, "request", ("field '%s' must be a table, not %s"):format(field, type(req[field])))
    end
  end

  local body = req.body
  if type(body) == "table" then
    local encoded, err = json.encode(body)
    if not encoded then check.fail(1, "request", "cannot encode the body as JSON: " .. tostring(err)) end
    body = encoded
  elseif body ~= nil and type(body) ~= "string" then
    check.fail(1, "request", ("field 'body' must be a table or a string, not %s"):format(type(body)))
  end

  local cred = req.credential
  if not cred then
    local err, kind
    cred, err, kind = credential()
    if not cred then return nil, err, kind end
  end

  -- User-Agent is nt3.http's: one place says who we are
  local headers = headers_for(cred, req.headers, body ~= nil)
  return send(req, method, (cred.api_url:gsub("/+$", "")) .. with_query(req.path, req.query), headers, body, cred)
end

-- api.pages stops before fetching a page past this many (opts.max_pages
-- says otherwise): a server whose next links never end would otherwise
-- fill memory.
M.MAX_PAGES = 1000

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

-- api.pages(path[, opts]) -> iterator over every item of a list, page by page
-- A list answers a JSON array (or an object whose "data", or opts.key, is
-- the array) and, while more items exist, a Link: <url>; rel="next" header
-- (RFC 8288), whose target may be relative to the page's URL (RFC 3986).
-- Each page is fetched when the loop reaches it, so breaking out stops the
-- fetching. opts: query, headers, raw (items as the JSON text the server
-- sent), key, max_pages and the options of api.request. A failure, a page
-- that is not a JSON list, a next link to another origin (the token stays
-- with the API URL), one already fetched, or one past max_pages raises an
-- error with a message and a kind.
-- via (not for scripts: docs/sandbox.md, "api") is a sandbox's transport,
-- { base = API URL, get = function(url) -> value, response | nil, message,
-- kind }, so a sandboxed nt3.api pages by this very loop with the token
-- added in C; the credential is then never looked up.
function M.pages(path, opts, via)
  check_path(1, "pages", path)
  check.arg(2, "pages", opts, "table", true)
  opts = opts or {}
  check.arg(2, "pages", opts.key, "string", true)
  local max_pages = opts.max_pages or M.MAX_PAGES
  if math.type(max_pages) ~= "integer" or max_pages < 1 then
    check.fail(2, "pages", "max_pages must be a whole number of at least 1")
  end
  if opts.cache ~= nil and (type(opts.cache) ~= "number" or opts.cache < 0 or opts.cache ~= opts.cache) then
    check.fail(2, "pages", "cache must be a number of seconds >= 0")
  end
  local http = require "nt3.http"
  local api_url, get
  if via then
    api_url, get = via.base, via.get
  else
    local cred = opts.credential
    if not cred then
      local cerr, kind
      cred, cerr, kind = credential()
      if not cred then raise(cerr, kind) end
    end
    local headers = headers_for(cred, opts.headers, false)
    local req = { raw = true }
    for _, k in ipairs(HTTP_OPTIONS) do req[k] = opts[k] end
    req.cache, req.cache_404, req.headers = opts.cache, opts.cache_404, opts.headers
    api_url = cred.api_url
    get = function(url) return send(req, "GET", url, headers, nil, cred) end
  end
  local first, uerr, ukind = http.parse_url((api_url:gsub("/+$", "")) .. with_query(path, opts.query))
  if not first then raise(uerr, ukind) end
  local origin, url, shown = first.origin, first.url, first.shown
  local seen, page, items, i = {}, 0, {}, 0
  return function()
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
      local value, res, status = get(url)
      if value == nil then
        local where = type(status) == "number" and ("HTTP %d, "):format(status) or ""
        raise(("%s (%spage %d of %s)"):format(res, where, page, shown), status)
      end
      local list, why = items_of(res, opts.raw, opts.key)
      if not list then raise(("page %d of %s %s"):format(page, shown, why), "not_a_list") end
      items, i = list, 0
      local link = res.headers and res.headers.link
      local target = link and http.link(link, "next")
      local base = res.url ~= "" and res.url or url
      url = nil
      if target then
        local nxt, lerr = http.parse_url(target, base)
        if not nxt then raise(("page %d's next link: %s"):format(page, lerr), "invalid_url") end
        if nxt.origin ~= origin then
          raise(("refusing to follow page %d's next link to %s: it is not on the API URL's origin %s, and the"
            .. " token goes nowhere else"):format(page, nxt.shown, origin), "cross_origin")
        end
        url, shown = nxt.url, nxt.shown
      end
    end
  end
end

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
    return M.request(req)
  end
end

-- api.get(path [, params [, opts]]), api.post(path [, body [, opts]]), and
-- put, patch, delete alike: api.request with that method.
M.get = verb("GET")
M.post = verb("POST")
M.put = verb("PUT")
M.patch = verb("PATCH")
M.delete = verb("DELETE")

return M
