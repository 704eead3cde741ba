-- nt3.check: the one way nt3's Lua modules report a caller's mistake, in
-- Lua's own words: "bad argument #1 to 'save' (table expected, got nil)".
-- Failures of the world are not mistakes: they are returned as
-- nil, message[, code], never raised.
local error, type = error, type
local M = {}

-- check.fail(n, fname, message[, level]): raises "bad argument #n to
-- 'fname' (message)", blamed on the caller of the function that checks
-- (level 1 = that function; add one per helper in between).
function M.fail(n, fname, message, level)
  error(("bad argument #%d to '%s' (%s)"):format(n, fname, message), (level or 1) + 2)
end

-- check.arg(n, fname, value, tname[, optional[, level]]) -> value
-- tname is a type() name, or several joined by "|": "table|string".
function M.arg(n, fname, value, tname, optional, level)
  local t = type(value)
  if t == tname or (value == nil and optional) then return value end -- the usual case, without a gmatch
  for want in tname:gmatch("[^|]+") do
    if t == want then return value end
  end
  M.fail(n, fname, ("%s expected, got %s"):format((tname:gsub("|", " or ")), t), (level or 1) + 1)
end

return M
