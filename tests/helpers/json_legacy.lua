-- nt3.json as it was written in Lua before the C core (src/json.c), kept
-- unchanged but for sharing json.array_mt: the measure the conformance
-- spec holds the C encoder and decoder to on generated documents.
--
-- nt3.json: JSON for commands and scripts. Decoding is lua-cjson's safe
-- variant (bad input returns nil, message instead of raising); encoding
-- walks tables here so that output is stable (keys sorted), an empty list
-- can be told from an empty object (json.array), and "/" is left alone.
local error, getmetatable, ipairs, math, pairs = error, getmetatable, ipairs, math, pairs
local pcall, select, setmetatable, table, tonumber = pcall, select, setmetatable, table, tonumber
local tostring, type = tostring, type
-- A private instance: what a script sets on require "cjson" or "cjson.safe"
-- (decode_max_depth, decode_invalid_numbers...) never changes what nt3
-- accepts. No hexadecimal numbers, Infinity or NaN: JSON has none, and
-- Python's json and jq refuse them too.
local cjson = require("cjson.safe").new()
cjson.decode_invalid_numbers(false)
local check = require "nt3.check"

local M = {}

M.null = cjson.null

-- Marks a table as a JSON array, so that an empty one encodes as [] (a
-- plain empty table is {} as in cjson).
M.array_mt = require("nt3.json").array_mt

-- json.array([t]) -> t marked as an array
function M.array(t)
  return setmetatable(t or {}, M.array_mt)
end

-- cjson writes "/" as "\/": valid JSON, but not what anyone wrote (URLs in
-- config files and API output would read "https:\/\/..."). An odd run of
-- backslashes before "/" ends in that escape; drop it.
local function unescape_slashes(text)
  return (text:gsub("(\\+)/", function(bs)
    if #bs % 2 == 1 then return bs:sub(2) .. "/" end
  end))
end

-- cjson writes numbers with 14 significant digits: an id of
-- 1234567890123456 would go out as 1.2345678901235e+15. Integers are
-- written whole; a float with the fewest digits that read back exactly.
local function number(v)
  if math.type(v) == "integer" then return ("%d"):format(v) end
  if v ~= v or v == math.huge or v == -math.huge then
    error("cannot encode " .. tostring(v) .. ": JSON has no such number", 0)
  end
  for digits = 15, 17 do
    local text = ("%." .. digits .. "g"):format(v)
    if tonumber(text) == v then return text end
  end
end

local function scalar(value)
  if type(value) == "number" then return number(value) end
  local text, err = cjson.encode(value)
  if not text then error(err, 0) end
  return unescape_slashes(text)
end

local function is_array(t)
  if getmetatable(t) == M.array_mt then return true end
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local MAX_DEPTH = 1000 -- as cjson: also what stops a table that contains itself

-- Appends the JSON of value to out; indent nil means compact.
local function write(value, indent, depth, out)
  if type(value) ~= "table" then
    out[#out + 1] = scalar(value)
    return
  end
  if depth > MAX_DEPTH then error("cannot encode: nested more than " .. MAX_DEPTH .. " levels deep", 0) end
  local inner = indent and indent .. "  "
  local open_sep = indent and "\n" or ""
  local item_sep = indent and ",\n" or ","
  local colon = indent and ": " or ":"
  if is_array(value) then
    if #value == 0 then out[#out + 1] = "[]" return end
    out[#out + 1] = "[" .. open_sep
    for i = 1, #value do
      if inner then out[#out + 1] = inner end
      write(value[i], inner, depth + 1, out)
      if i < #value then out[#out + 1] = item_sep end
    end
    out[#out + 1] = open_sep .. (indent or "") .. "]"
    return
  end
  local keys, by_text = {}, {}
  for k in pairs(value) do
    local kind = type(k)
    if kind ~= "string" and kind ~= "number" then
      error("cannot encode a key of type " .. kind, 0)
    end
    local text = tostring(k)
    if by_text[text] ~= nil then error("cannot encode: key " .. text .. " appears as a string and as a number", 0) end
    by_text[text] = k
    keys[#keys + 1] = text
  end
  if #keys == 0 then out[#out + 1] = "{}" return end
  table.sort(keys)
  out[#out + 1] = "{" .. open_sep
  for i, text in ipairs(keys) do
    out[#out + 1] = (inner or "") .. scalar(text) .. colon
    write(value[by_text[text]], inner, depth + 1, out)
    if i < #keys then out[#out + 1] = item_sep end
  end
  out[#out + 1] = open_sep .. (indent or "") .. "}"
end

local function serialise(value, indent)
  local out = {}
  local ok, err = pcall(write, value, indent, 1, out)
  if not ok then return nil, err end
  return table.concat(out)
end

-- json.encode(value) -> string | nil, message (compact, keys sorted)
function M.encode(value)
  return serialise(value, nil)
end

-- json.pretty(value) -> string | nil, message (two-space indent, keys sorted)
function M.pretty(value)
  return serialise(value, "")
end

-- cjson 2.1.0 (Debian's) decodes [] and {} to the same empty table, so a
-- rewritten config file or a pretty-printed API answer would turn a list
-- into an object. Before decoding, every [] outside a string becomes a
-- string no JSON text holds unless it spells \u0000 (then nothing is
-- marked), and fix() turns that string back into a json.array.
local EMPTY_ARRAY = "\0nt3.json.array"
local EMPTY_ARRAY_JSON = '"\\u0000nt3.json.array"'

local function mark_empty_arrays(text)
  if not text:find("%[[ \t\r\n]*%]") or text:find("\\u0000", 1, true) then return text end
  local out, i = {}, 1
  while true do
    local s = text:find('[%["]', i)
    if not s then break end
    if text:byte(s) == 34 then -- '"': copy the string, escapes and all
      local j = s + 1
      while true do
        local q = text:find('["\\]', j)
        if not q then return text end -- unterminated: let cjson say so
        if text:byte(q) == 92 then j = q + 2 else j = q break end
      end
      out[#out + 1] = text:sub(i, j)
      i = j + 1
    else
      local e = select(2, text:find("^%[[ \t\r\n]*%]", s))
      out[#out + 1] = text:sub(i, s - 1)
      out[#out + 1] = e and EMPTY_ARRAY_JSON or "["
      i = (e or s) + 1
    end
  end
  out[#out + 1] = text:sub(i)
  return table.concat(out)
end

-- cjson gives every number as a float; a page number of 3 would print as
-- "3.0" and fail math.type(n) == "integer". Whole numbers within the range
-- a double holds exactly become integers.
local EXACT = 2 ^ 53
local function fix(v)
  if type(v) == "number" then
    if v == math.floor(v) and v >= -EXACT and v <= EXACT then return math.tointeger(v) end
    return v
  end
  if v == EMPTY_ARRAY then return M.array() end
  if type(v) == "table" then
    for k, x in pairs(v) do
      if type(x) == "number" or type(x) == "table" or x == EMPTY_ARRAY then v[k] = fix(x) end
    end
  end
  return v
end

-- RFC 8259 allows no raw control character (U+0000..U+001F) inside a
-- string; cjson takes them. Where text has any, the first one inside a
-- string, as "U+001B at byte 9", else nil (outside strings cjson refuses
-- them itself).
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
function M.decode(text)
  check.arg(1, "decode", text, "string")
  local bad = raw_control(text)
  if bad then return nil, "a raw control character in a string (" .. bad .. "): JSON has it written as an escape" end
  local marked = mark_empty_arrays(text)
  local value, err = cjson.decode(marked)
  if err then
    -- the position must be the one in the text as given: the marks are longer than []
    if marked ~= text then err = select(2, cjson.decode(text)) or err end
    return nil, err
  end
  return fix(value)
end

return M
