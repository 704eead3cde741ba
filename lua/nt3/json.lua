-- nt3.json: JSON for commands and scripts (docs/architecture.md, "JSON").
-- The work is done in C (src/json.c, nt3.json.core); this module is the
-- public face and holds the rules:
--   encode: keys sorted by their bytes; a table marked with json.array, or
--     whose keys are exactly 1..n, is an array (so an empty one can be
--     told from {}); integers written whole, a float in the fewest digits
--     that read back exactly; "/" left alone; NaN and infinities refused;
--     nesting bounded at 1000 levels (a table that contains itself); the
--     RAW table is judged: no metamethod (__pairs, __index, __len) is
--     called, so encoding never runs a caller's code.
--   decode: lua-cjson 2.1.0's grammar (no hexadecimal numbers, Infinity
--     or NaN) less raw control characters inside strings; [] decodes to a
--     json.array, a whole number within +-2^53 to an integer, null to
--     json.null; bad input returns nil, message with cjson's wording.
local pcall, setmetatable = pcall, setmetatable
local core = require "nt3.json.core"
-- A private instance of lua-cjson, used only to word a decoding error:
-- what a script sets on require "cjson" or "cjson.safe" never reaches it.
local cjson = require("cjson.safe").new()
cjson.decode_invalid_numbers(false)
local check = require "nt3.check"

local M = {}

M.null = cjson.null

-- Marks a table as a JSON array, so that an empty one encodes as [] (a
-- plain empty table is {}). What json.decode gives an empty array.
M.array_mt = core.array_mt

-- json.array([t]) -> t marked as an array
function M.array(t)
  return setmetatable(t or {}, M.array_mt)
end

local function serialise(value, pretty)
  local ok, text = pcall(core.encode, value, pretty)
  if not ok then return nil, text end
  return text
end

-- json.encode(value) -> string | nil, message (compact, keys sorted)
function M.encode(value)
  return serialise(value, false)
end

-- json.pretty(value) -> string | nil, message (two-space indent, keys sorted)
function M.pretty(value)
  return serialise(value, true)
end

-- RFC 8259 allows no raw control character (U+0000..U+001F) inside a
-- string; cjson takes them. The first one inside a string, as "U+001B at
-- byte 9", else nil. Asked only once the C decoder has refused the text.
local function raw_control(text)
  if not text:find("[\0-\31]") then return nil end
  local i = 1
  while true do
    local s = text:find('"', i, true)
    if not s then return nil end
    local j = s + 1
    while true do
      local q = text:find('["\\\0-\31]', j)
      if not q then return nil end -- unterminated: let cjson say so
      local b = text:byte(q)
      if b < 32 then return ("U+%04X at byte %d"):format(b, q) end
      if b == 92 then j = q + 2 else j = q break end
    end
    i = j + 1
  end
end

-- json.decode(text) -> value | nil, message
local core_decode = core.decode
function M.decode(text)
  local value, at = core_decode(text)
  if at == nil then return value end
  if at == false then check.arg(1, "decode", text, "string") end -- not a string
  local bad = raw_control(text)
  if bad then return nil, "a raw control character in a string (" .. bad .. "): JSON has it written as an escape" end
  local _, err = cjson.decode(text)
  return nil, err or ("invalid JSON at character " .. at)
end

return M
