-- Test helpers for nt3.api / nt3 api: run nt3 logged in (through the
-- environment, the highest-priority source) against a test server.
local sh = require "helpers.sh"
local json = require "nt3.json"

local M = {}

M.TOKEN = "entri_valid_0123456789abcdef"

-- apitest.env(srv [, extra]) -> environment logged in to srv
function M.env(srv, extra)
  local env = { NT3_API_TOKEN = M.TOKEN, NT3_API_URL = srv.url }
  for k, v in pairs(extra or {}) do env[k] = v end
  return env
end

-- apitest.nt3(srv, args [, opts]) -> sh.run result, logged in to srv
function M.nt3(srv, args, opts)
  opts = opts or {}
  local run = {}
  for k, v in pairs(opts) do run[k] = v end
  run.env = M.env(srv, opts.env)
  return sh.run(args, run)
end

-- apitest.script(srv, source [, opts]) -> `nt3 run` of source, logged in to srv
function M.script(srv, source, opts)
  return M.nt3(srv, { "run", sh.script(source) }, opts)
end

-- the requests srv received to paths starting with prefix
function M.requests_to(srv, prefix)
  local list = {}
  for _, r in ipairs(srv.requests()) do
    if r.path:sub(1, #prefix) == prefix then list[#list + 1] = r end
  end
  return list
end

-- a header of a recorded request, whatever the case of its name
function M.header(r, name)
  for k, v in pairs(r.headers or {}) do
    if k:lower() == name:lower() then return v end
  end
end

function M.decode(text)
  local v, err = json.decode(text)
  assert(v ~= nil, ("not JSON (%s): %s"):format(tostring(err), text))
  return v
end

return M
