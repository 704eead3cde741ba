-- nt3.api: authenticated requests to the active API URL with the active
-- token, resolved exactly as `nt3 status` resolves them (nt3.config). JSON
-- bodies are encoded, JSON responses decoded, API errors become
-- nil, message, status.
--
-- The token only ever goes to <api_url><path>: a path must start with "/",
-- so nothing a caller passes can change the scheme, host or port; nt3.http
-- drops Authorization on a redirect to any other origin.
local ipairs, next, pairs, require = ipairs, next, pairs, require
local tostring, type = tostring, type
local auth = require "nt3.api.auth"
local check = require "nt3.check"
local common = require "nt3.api.common"
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

-- The credential to use (the one given, else the active one), or nil,
-- message, kind ("not_logged_in"|"invalid"|"credential"): nt3.api.auth's.
local function credential(given) return auth.credential(given, M.on_warning) end

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
-- own_http(req): the same on a table of its own, which it changes
local function own_http(req)
  local ca, err = cafile(req.cafile)
  if err then return nil, err, "invalid" end
  req.cafile = ca
  local res, herr, code = require("nt3.http").request(req)
  if code == "untrusted_certificate" and not ca then
    -- the user of nt3 sets a variable; `cafile` is the name for scripts
    herr = herr:gsub(" %(for a private CA give cafile%)$", " (for a private CA set NT3_CA_FILE)")
  end
  return res, herr, code
end

function M.http(req)
  check.arg(1, "http", req, "table")
  local copy = {}
  for k, v in pairs(req) do copy[k] = v end
  return own_http(copy)
end

-- api.query{ page = 2, q = "a b" } -> "page=2&q=a%20b" (nt3.api.common)
M.query = common.query
local with_query = common.with_query

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

-- api.decode(response) -> value, is_json (nt3.api.common)
M.decode = common.decode
local check_path = common.check_path

-- api.url(path) -> the full URL of path under the active API URL | nil, message, kind
function M.url(path)
  check_path(1, "url", path)
  local cred, err, kind = credential()
  if not cred then return nil, err, kind end
  return auth.root(cred) .. path
end

-- A setting of `nt3 config` for a request with cred's token: the caller's
-- value (a flag) first, then the environment, the profile's, the global one
-- (docs/architecture.md, "Settings and aliases").
local function setting(key, given, cred)
  return require("nt3.config.settings").get(key, { flag = given, profile = cred.profile or false })
end

-- One request to a URL already known to be under the API URL: nt3.http's
-- answer, or nil, message, kind.
local SETTINGS = { retries = "http.retries", timeout = "http.timeout" }
local function transfer(req, method, url, headers, body, cred)
  local http_req = { method = method, url = url, headers = headers, body = body }
  for _, k in ipairs(HTTP_OPTIONS) do http_req[k] = req[k] end
  for option, key in pairs(SETTINGS) do
    local value, err = setting(key, http_req[option], cred)
    if value == nil then return nil, err, "invalid" end
    http_req[option] = value
  end
  if http_req.max_retry_wait == nil then http_req.max_retry_wait = M.MAX_RETRY_WAIT end
  -- http_req is this request's own: api.http's copy of it is not needed
  local res, herr, code = own_http(http_req)
  if not res then return nil, herr, LOCAL_KINDS[code] and code or "network" end
  return res
end

-- req.cache (seconds): through the cache when the request may be cached at
-- all (nt3.api.cache.lookup.applies; docs/architecture.md,
-- "The HTTP cache"). A fresh entry answers with nt3.api.cache.lookup
-- alone; nt3.api.cache sends the rest.
local function lookup_module() return require "nt3.api.cache.lookup" end

local function fetch(req, method, url, headers, body, cred, looked_up)
  local lookup = req.cache ~= nil and lookup_module()
  if lookup and lookup.applies(req, method, body) then
    local found = looked_up or req.looked_up
    if found and found.hit then
      lookup.debug("cache hit", url)
      return found.hit
    end
    if not found then
      local hit
      hit, found = lookup.find(req.cache, cred, method, url, headers)
      if hit then
        lookup.debug("cache hit", url)
        return hit
      end
    end
    return require("nt3.api.cache").request(req, method, url, headers, function(extra)
      local with = headers
      if next(extra) ~= nil then
        with = {}
        for k, v in pairs(headers) do with[k] = v end
        for k, v in pairs(extra) do with[k] = v end
      end
      return transfer(req, method, url, with, body, cred)
    end, found)
  end
  return transfer(req, method, url, headers, body, cred)
end

-- looked_up: what the lookup found for this request (api.pages' peek),
-- in place of req.looked_up
local function send(req, method, url, headers, body, cred, looked_up)
  local res, herr, code = fetch(req, method, url, headers, body, cred, looked_up)
  if not res then return nil, herr, code end
  if res.status >= 400 then
    return nil, error_message(res, (M.decode(res))), res.status, res
  end
  local value = res.body
  if not req.raw then value = M.decode(res) end
  return value, res
end

-- The headers of every API request: nt3.api.auth's.
local headers_for = auth.headers

-- api.request{ method=, path=, body=, query=, headers=, raw=, timeout=, ... }
--   -> value, response | nil, message, status_or_kind, response
-- body: a table is sent as JSON; a string as it is (Content-Type
-- application/json unless headers say otherwise). query: a table of
-- parameters. raw = true: value is the body as received, never decoded.
-- credential: a credential from config.active() to use instead of resolving
-- one (`nt3 status --check` checks the very one it shows). looked_up: what
-- nt3.api.cache.lookup.answer found for this very request (nt3 api --cache),
-- so that the entry is not read twice.
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

  local cred, err, kind = credential(req.credential)
  if not cred then return nil, err, kind end

  -- User-Agent is nt3.http's: one place says who we are
  local headers = headers_for(cred, req.headers, body ~= nil)
  return send(req, method, auth.root(cred) .. with_query(req.path, req.query), headers, body, cred)
end

-- api.pages stops before fetching a page past this many (opts.max_pages
-- says otherwise): a server whose next links never end would otherwise
-- fill memory.
M.MAX_PAGES = 1000

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
-- The loop is nt3.api.common's, which the sandbox's nt3.api shares; here
-- each page is fetched with the credential's token.
function M.pages(path, opts)
  return common.pages(path, opts, { max_pages = M.MAX_PAGES, connect = function(o)
    local cred, err, kind = credential(o.credential)
    if not cred then return nil, err, kind end
    local headers = headers_for(cred, o.headers, false)
    local req = { raw = true }
    for _, k in ipairs(HTTP_OPTIONS) do req[k] = o[k] end
    req.cache, req.cache_404, req.headers = o.cache, o.cache_404, o.headers
    local lookup = req.cache ~= nil and lookup_module().applies(req, "GET", nil) and lookup_module()
    -- what the cache holds for a page, read once for the look-ahead and its
    -- request: a fresh entry ({ hit = the answer }) or one to revalidate
    local peek = lookup and function(url)
      local hit, found = lookup.find(req.cache, cred, "GET", url, headers)
      if hit then return hit, { hit = hit } end
      -- the 304 that confirms the entry answers with this very response
      -- (nt3.api.cache.request): it is made once a page, not twice
      if found.entry then
        found.response = lookup.response_of(found.entry)
        return found.response, found
      end
    end
    return cred.api_url, function(url, found)
      return send(req, "GET", url, headers, nil, cred, found)
    end, peek
  end })
end

-- api.get(path [, params [, opts]]), api.post(path [, body [, opts]]), and
-- put, patch, delete alike: api.request with that method.
local verbs = common.verbs(function(req) return M.request(req) end)
M.get, M.post, M.put, M.patch, M.delete = verbs.get, verbs.post, verbs.put, verbs.patch, verbs.delete

return M
