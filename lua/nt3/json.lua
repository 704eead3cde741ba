-- nt3.json: lua-cjson's safe variant (decode returns nil, message on bad
-- input instead of raising) plus a stable, indented encoder for people.
local cjson = require "cjson.safe"

local M = {}

M.null = cjson.null

-- cjson writes "/" as "\/": valid JSON, but not what anyone wrote (URLs in
-- config files and API output would read "https:\/\/..."). An odd run of
-- backslashes before "/" ends in that escape; drop it.
local function unescape_slashes(text)
  return (text:gsub("(\\+)/", function(bs)
    if #bs % 2 == 1 then return bs:sub(2) .. "/" end
  end))
end

local function encode(value)
  local text, err = cjson.encode(value)
  if not text then return nil, err end
  return unescape_slashes(text)
end

-- json.encode(value) -> string | nil, message
M.encode = encode

-- json.decode(text) -> value | nil, message
function M.decode(text)
  if type(text) ~= "string" then
    error("bad argument #1 to 'decode' (string expected, got " .. type(text) .. ")", 2)
  end
  return cjson.decode(text)
end

local function is_array(t)
  local n = #t
  if n == 0 then return false end -- as cjson: an empty table is {}
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local function pretty(value, indent, out)
  local kind = type(value)
  if kind ~= "table" then
    local s, err = encode(value)
    if not s then error(err, 0) end
    out[#out + 1] = s
    return
  end
  local inner = indent .. "  "
  if is_array(value) then
    if #value == 0 then out[#out + 1] = "[]" return end
    out[#out + 1] = "[\n"
    for i, v in ipairs(value) do
      out[#out + 1] = inner
      pretty(v, inner, out)
      out[#out + 1] = i < #value and ",\n" or "\n"
    end
    out[#out + 1] = indent .. "]"
    return
  end
  local keys = {}
  for k in pairs(value) do
    if type(k) ~= "string" and type(k) ~= "number" then
      error("cannot encode a key of type " .. type(k), 0)
    end
    keys[#keys + 1] = tostring(k)
  end
  if #keys == 0 then out[#out + 1] = "{}" return end
  table.sort(keys)
  out[#out + 1] = "{\n"
  for i, k in ipairs(keys) do
    local v = value[k]
    if v == nil then v = value[tonumber(k)] end
    out[#out + 1] = inner .. encode(k) .. ": "
    pretty(v, inner, out)
    out[#out + 1] = i < #keys and ",\n" or "\n"
  end
  out[#out + 1] = indent .. "}"
end

-- json.pretty(value) -> string (keys sorted, two-space indent) | nil, message
function M.pretty(value)
  local out = {}
  local ok, err = pcall(pretty, value, "", out)
  if not ok then return nil, err end
  return table.concat(out)
end

return M
