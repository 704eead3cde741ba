-- nt3.api.auth: what every request of nt3.api starts from -- the
-- credential, the headers that carry its token, the API URL it goes to --
-- in a module of its own, so that an answer from the HTTP cache
-- (nt3.api.cache.lookup.answer) is found by these very rules with the rest
-- of nt3.api not loaded (docs/architecture.md, "The HTTP cache"). Private
-- to nt3.api and nt3.api.cache.lookup.
local ipairs, pairs, require, type = ipairs, pairs, require, type
local policy = require "nt3.policy"

local M = {}

local warned = false

-- auth.credential(given[, on_warning]) -> cred | nil, message, kind
-- ("not_logged_in"|"invalid"|"credential"): the one given, else the active
-- one, whose warnings about the credential files (a token file readable by
-- others, ...) go to on_warning (default: as every nt3 warning is printed),
-- once per process.
function M.credential(given, on_warning)
  if given then return given end
  local cred, err, kind = require("nt3.config").active()
  if not cred then return nil, err, kind or "not_logged_in" end
  if not warned then
    warned = true
    for _, w in ipairs(cred.warnings or {}) do (on_warning or policy.warn)(w) end
  end
  return cred
end

-- auth.root(cred) -> the credential's API URL without a trailing /, which a
-- path (always from /) is appended to
function M.root(cred) return (cred.api_url:gsub("/+$", "")) end

-- auth.headers(cred, given, has_body) -> the headers of an API request: the
-- token, JSON, then the caller's, which win whatever their case and form.
function M.headers(cred, given, has_body)
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

return M
