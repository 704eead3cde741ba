-- nt3.cli.api: `nt3 api`, the part every run loads: the path and --cache
-- arguments, and the one run that needs nothing more, a plain GET or HEAD
-- with --cache whose answer goes to a pipe as stored (docs/architecture.md,
-- "The HTTP cache"). A hit is then answered with no request and none of the
-- request machinery loaded. Everything else -- fields, headers, --paginate,
-- --filter, -i, --format, a terminal, the pager -- is nt3.cli.api.request,
-- loaded only then. Private to commands/api.lua and nt3.cli.api.request.
local ipairs, pairs, require, tonumber = ipairs, pairs, require, tonumber
local cli = require "nt3.cli"

local M = {}

-- the methods nt3 api sends, the ones completion offers after -X
M.METHODS = { "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS" }
M.KNOWN_METHOD = {}
for _, m in ipairs(M.METHODS) do M.KNOWN_METHOD[m] = true end

-- Accepts "/api/v1/me", "api/v1/me", or a full URL under the API URL; a
-- URL anywhere else is refused so the token stays with its origin.
function M.api_path(arg)
  if arg:match("^%a[%w+.-]*://") then
    local root, err, kind = require("nt3.api").url("/")
    if not root then return nil, err, kind end
    if arg:sub(1, #root) == root then return arg:sub(#root) end
    cli.fail(("refusing to send the token to %s: it is not under the API URL %s"):format(arg, root:sub(1, -2)))
  end
  if arg:sub(1, 1) ~= "/" then arg = "/" .. arg end
  return arg
end

function M.is_tty() return require("nt3.prompt").isatty("stdout") end

-- --cache <duration>: 90 (seconds), 30s, 5m, 1h or 2d
local UNIT = { s = 1, m = 60, h = 3600, d = 86400 }
function M.duration(text, cmd)
  local n, unit = text:match("^(%d+%.?%d*)([smhd]?)$")
  local seconds = n and tonumber(n) * (UNIT[unit] or 1)
  if not seconds then
    cli.usage_error(("--cache expects a duration like 90, 30s, 5m, 1h or 2d, got %q"):format(text), cmd)
  end
  return seconds
end

-- The flags a plain cached request may have; any other flag is work for
-- nt3.cli.api.request. A list of what is allowed, so that a flag added
-- later is never ignored here.
local PLAIN = { cache = true, method = true, profile = true }

-- The method of a plain cached request (GET or HEAD, as api.request may
-- cache), or nil when the run is not one: --cache and no other flag, and
-- stdout not a terminal (a terminal's output is shaped, and may be paged).
local function plain_method(opts)
  if not opts.cache then return nil end
  for k in pairs(opts) do
    if not PLAIN[k] then return nil end
  end
  local method = opts.method and opts.method:upper() or "GET"
  if (method ~= "GET" and method ~= "HEAD") or M.is_tty() then return nil end
  return method
end

-- nt3 api, run. A plain cached request is what nt3.cli.api.request would
-- do for it, step for step: the api.format setting (a table or csv is
-- shaped there), the path, the duration, then the request with the body
-- kept raw, printed as stored. A fresh entry answers it with nt3.api not
-- loaded (nt3.api.cache.lookup.answer); anything else is api.request's,
-- with the credential already resolved (a credential command runs once)
-- and the entry already read.
function M.run(opts, ctx)
  local method = plain_method(opts)
  if method then
    if opts.profile then require("nt3.config").use_profile(opts.profile) end
    local kind, source = require("nt3.config.settings").get("api.format")
    if kind == nil then cli.fail(source) end
    if kind == "json" then
      local path, perr, pkind = M.api_path(ctx.args[1])
      if not path then cli.fail(perr, pkind) end
      local seconds = M.duration(opts.cache, ctx.command)
      local req = { method = method, path = path, headers = {}, cache = seconds, raw = true }
      local hit, cred, found, code = require("nt3.api.cache.lookup").answer(req)
      if hit then
        cli.out(hit.body or "")
        return 0
      end
      if not cred then require("nt3.cli.api.request").failed(opts, found, code) end
      req.credential, req.looked_up = cred, found
      local value, res, errres
      value, res, code, errres = require("nt3.api").request(req)
      if value == nil then require("nt3.cli.api.request").failed(opts, res, code, errres) end
      cli.out(res.body or "")
      return 0
    end
  end
  return require("nt3.cli.api.request").run(opts, ctx)
end

return M
