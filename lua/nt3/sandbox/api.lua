-- nt3.api as a sandboxed command sees it (docs/sandbox.md): the same calls
-- (request, get, post, put, patch, delete, pages, query, decode), but every
-- request goes through nt3.sandbox.api_core.send, in C, which checks the
-- api grant (method and origin, every hop) and adds the token itself. The
-- token is never a Lua value here: this module runs inside the sandbox and
-- is as untrusted as the command. The rules that do not touch the token
-- (query strings, decoding, the page loop, the verbs) are nt3.api.common's,
-- the host's own.
local error, ipairs, pairs, require, type = error, ipairs, pairs, require, type
local common = require "nt3.api.common"

local M = {}

M.MAX_PAGES = 1000
M.query = common.query
M.decode = common.decode

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

-- The options of a request that C takes (nt3.http's): output is a file
-- beneath an fs.write root, judged in C.
local PASSED = { "timeout", "connect_timeout", "stall_timeout", "max_size", "max_redirects", "retries",
  "max_retry_wait", "output", "sink", "decompress" }

local function fields_of(headers, opts)
  local all = { Accept = "application/json" }
  for k, v in pairs(headers or {}) do all[k] = v end
  local fields = { method = "GET", headers = all }
  for _, k in ipairs(PASSED) do fields[k] = opts[k] end
  if fields.retries == nil then fields.retries = 3 end
  return fields
end

-- api.request{ method=, path=, body=, query=, headers=, raw=, ... }
--   -> value, response | nil, message, status_or_kind, response
function M.request(req)
  local json = require "nt3.json"
  local method = type(req.method) == "string" and req.method:upper() or "GET"
  local path = req.path
  if type(path) ~= "string" then error("bad argument #1 to 'request' (field 'path' must be a string)", 2) end
  path = common.with_query(path, req.query)
  local body = req.body
  if type(body) == "table" then body = json.encode(body) end
  local fields = fields_of(nil, req)
  if body ~= nil then fields.headers["Content-Type"] = "application/json" end
  for k, v in pairs(req.headers or {}) do fields.headers[k] = v end
  fields.method, fields.path, fields.body = method, path, body
  return send(fields, req.raw)
end

-- api.pages(path[, opts]): the host's own page loop (nt3.api.common, with
-- its rules: RFC 8288 next links, cross_origin, loop, max_pages), each page
-- fetched through C; C's gate refuses a hop off the API origin as well.
function M.pages(path, opts)
  return common.pages(path, opts, { max_pages = M.MAX_PAGES, connect = function(o)
    local api_url, err, kind = require("nt3.sandbox.api_core").url()
    if not api_url then return nil, err, kind end
    local fields = fields_of(o.headers, o)
    fields.output, fields.sink = nil, nil
    return api_url, function(url)
      local f = {}
      for k, v in pairs(fields) do f[k] = v end
      f.url = url
      return send(f, true)
    end
  end })
end

local verbs = common.verbs(function(req) return M.request(req) end)
M.get, M.post, M.put, M.patch, M.delete = verbs.get, verbs.post, verbs.put, verbs.patch, verbs.delete

return M
