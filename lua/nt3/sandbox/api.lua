-- nt3.api as a sandboxed command sees it (docs/sandbox.md): the same calls
-- (request, get, post, put, patch, delete, pages, query, decode), but every
-- request goes through nt3.sandbox.api_core.send, in C, which checks the
-- api grant (method and origin, every hop) and adds the token itself. The
-- token is never a Lua value here: this module runs inside the sandbox and
-- is as untrusted as the command.
local error, next, pairs, require, setmetatable, type = error, next, pairs, require, setmetatable, type

local M = {}

-- The modules below exist only inside a sandbox; loading this one in the
-- host (as the globals spec does) must not need them.
local function base() return require "nt3.sandbox.api_base" end

function M.query(params) return base().query(params) end

function M.decode(res) return base().decode(res) end

-- One request through C: send's fields, plus url (absolute: a next link)
-- or path. value (the body, decoded unless raw), response | nil, message,
-- status_or_kind, response.
local function send(fields, raw)
  local res, err, code = require("nt3.sandbox.api_core").send(fields)
  if not res then return nil, err, code end
  local value = res.body
  if not raw then value = M.decode(res) end
  if res.status >= 400 then
    local data = raw and M.decode(res) or value
    local msg = type(data) == "table" and type(data.message) == "string" and data.message
      or ("HTTP %d"):format(res.status)
    return nil, msg, res.status, res
  end
  return value, res
end

local function with_defaults(headers, opts)
  local all = { Accept = "application/json" }
  for k, v in pairs(headers or {}) do all[k] = v end
  return { method = "GET", headers = all, timeout = opts.timeout, max_size = opts.max_size,
    retries = opts.retries == nil and 3 or opts.retries }
end

-- api.request{ method=, path=, body=, query=, headers=, raw=, ... }
--   -> value, response | nil, message, status_or_kind, response
function M.request(req)
  local json = require "nt3.json"
  local method = type(req.method) == "string" and req.method:upper() or "GET"
  local path = req.path
  if type(path) ~= "string" then error("bad argument #1 to 'request' (field 'path' must be a string)", 2) end
  if req.query and next(req.query) ~= nil then
    path = path .. (path:find("?", 1, true) and "&" or "?") .. M.query(req.query)
  end
  local body = req.body
  if type(body) == "table" then body = json.encode(body) end
  local fields = with_defaults(nil, req)
  if body ~= nil then fields.headers["Content-Type"] = "application/json" end
  for k, v in pairs(req.headers or {}) do fields.headers[k] = v end
  fields.method, fields.path, fields.body = method, path, body
  return send(fields, req.raw)
end

-- api.pages(path[, opts]): the host's own page loop (nt3.api's pages, with
-- its rules: RFC 8288 next links, cross_origin, loop, max_pages), each page
-- fetched through C; C's gate refuses a hop off the API origin as well.
function M.pages(path, opts)
  local fields = with_defaults(type(opts) == "table" and opts.headers or nil, type(opts) == "table" and opts or {})
  local core = require "nt3.sandbox.api_core"
  local api_url, err, kind = core.url()
  if not api_url then
    error(setmetatable({ message = err, kind = kind }, { __tostring = function(e) return e.message end }), 0)
  end
  return base().pages(path, opts, {
    base = api_url,
    get = function(url)
      local f = {}
      for k, v in pairs(fields) do f[k] = v end
      f.url = url
      return send(f, true)
    end,
  })
end

local function verb(method)
  return function(path, body, opts)
    local req = {}
    for k, v in pairs(opts or {}) do req[k] = v end
    req.method, req.path = method, path
    if (method == "GET" or method == "HEAD") and type(body) == "table" then
      req.query = body
    else
      req.body = body
    end
    return M.request(req)
  end
end

M.get = verb("GET")
M.post = verb("POST")
M.put = verb("PUT")
M.patch = verb("PATCH")
M.delete = verb("DELETE")

return M
