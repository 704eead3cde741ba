-- nt3.api as a sandboxed command sees it (docs/sandbox.md): the same calls
-- (request, get, post, put, patch, delete, query, decode), but every
-- request goes through nt3.sandbox.api_core.send, in C, which checks the
-- api grant (method and origin, every hop) and adds the token itself. The
-- token is never a Lua value here: this module runs inside the sandbox and
-- is as untrusted as the command.
local error, next, pairs, require, type = error, next, pairs, require, type

local M = {}

-- The modules below exist only inside a sandbox; loading this one in the
-- host (as the globals spec does) must not need them.
local function base() return require "nt3.sandbox.api_base" end

function M.query(params) return base().query(params) end

function M.decode(res) return base().decode(res) end

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
  local headers = { Accept = "application/json" }
  if body ~= nil then headers["Content-Type"] = "application/json" end
  for k, v in pairs(req.headers or {}) do headers[k] = v end
  local send = {
    method = method, path = path, headers = headers, body = body, timeout = req.timeout,
    retries = req.retries == nil and 3 or req.retries, max_size = req.max_size,
  }
  local res, err, code = require("nt3.sandbox.api_core").send(send)
  if not res then return nil, err, code end
  local value = res.body
  if not req.raw then value = M.decode(res) end
  if res.status >= 400 then
    local msg = type(value) == "table" and type(value.message) == "string" and value.message
      or ("HTTP %d"):format(res.status)
    return nil, msg, res.status, res
  end
  return value, res
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
