-- nt3.json.text: JSON handled as text, never decoded, for output that must
-- keep what the server sent exactly: its key order, its numbers, its
-- escapes. `nt3 api` pretty-prints with it on a terminal and joins the
-- pages of a list with it.
local string, table, type = string, table, type
local json = require "nt3.json"
local core = require "nt3.json.core"

local M = {}

-- The index of the closing quote of the string that opens at i.
local function string_end(s, i)
  local j = i + 1
  while true do
    local k = s:find('["\\]', j)
    if not k then return nil end
    if s:byte(k) == 34 then return k end
    j = k + 2
  end
end

-- The first and last index of the value that starts at or after i, or nil.
local function value_span(s, i)
  i = s:find("[^ \t\r\n]", i)
  if not i then return nil end
  local c = s:byte(i)
  if c == 34 then -- "
    local j = string_end(s, i)
    return j and i, j
  end
  if c == 123 or c == 91 then -- { [
    local depth, j = 0, i
    while true do
      j = s:find('[%[%]{}"]', j)
      if not j then return nil end
      local d = s:byte(j)
      if d == 34 then
        j = string_end(s, j)
        if not j then return nil end
      elseif d == 123 or d == 91 then
        depth = depth + 1
      else
        depth = depth - 1
        if depth == 0 then return i, j end
      end
      j = j + 1
    end
  end
  local j = s:find("[,%]}%s]", i)
  if j == i then return nil end
  return i, (j or #s + 1) - 1
end

-- text.items(text[, key]) -> list of raw element texts | nil, is_json
-- The elements of a list as a server sends one: a JSON array, or an
-- object whose "data" member is the array; with key, only an object whose
-- first member of that name is the array. nil for anything else, and
-- is_json says whether text was JSON at all (checked as json.decode
-- checks it). In C (nt3.json.core): one pass, no value decoded.
M.items = core.items

-- text.keys(text) -> the member names of the JSON object text is, in the
-- order the server sent them (a name given twice once), | nil when text
-- is no object. What `--format` takes its columns from
-- (docs/architecture.md, "Output formats").
function M.keys(text)
  local i = text:find("[^ \t\r\n]")
  if not i or text:byte(i) ~= 123 then return nil end -- {
  local keys, seen = {}, {}
  i = i + 1
  while true do
    i = text:find("[^ \t\r\n]", i)
    if not i then return nil end
    local c = text:byte(i)
    if c == 125 then return keys end -- }
    if c == 44 then -- ,
      i = text:find("[^ \t\r\n]", i + 1)
      if not i then return nil end
    end
    local e = text:byte(i) == 34 and string_end(text, i)
    if not e then return nil end
    local name = json.decode(text:sub(i, e))
    if type(name) ~= "string" then return nil end
    if not seen[name] then
      seen[name] = true
      keys[#keys + 1] = name
    end
    local colon = text:find("[^ \t\r\n]", e + 1)
    if not colon or text:byte(colon) ~= 58 then return nil end -- :
    local _, b = value_span(text, colon + 1)
    if not b then return nil end
    i = b + 1
  end
end

-- text.pretty(text[, indent]) -> text indented, one member per line |
-- nil, message when text is not one JSON value (as json.decode says).
-- Strings, numbers and key order are kept byte for byte.
function M.pretty(text, indent)
  local valid, err = json.decode(text)
  if valid == nil then return nil, err end
  local a, b = value_span(text, 1)
  indent = indent or "  "
  local out, depth, i = {}, 0, a
  local function newline() out[#out + 1] = "\n" .. indent:rep(depth) end
  while i <= b do
    local j = text:find('[%[%]{},:"\t\r\n ]', i)
    if not j or j > b then
      out[#out + 1] = text:sub(i, b)
      break
    end
    if j > i then out[#out + 1] = text:sub(i, j - 1) end
    local c = text:byte(j)
    if c == 34 then
      local e = string_end(text, j)
      out[#out + 1] = text:sub(j, e)
      i = e + 1
    elseif c == 123 or c == 91 then
      local close = c == 123 and "}" or "]"
      local nxt = text:find("[^ \t\r\n]", j + 1)
      if text:sub(nxt, nxt) == close then
        out[#out + 1] = string.char(c) .. close
        i = nxt + 1
      else
        out[#out + 1] = string.char(c)
        depth = depth + 1
        newline()
        i = j + 1
      end
    elseif c == 125 or c == 93 then
      depth = depth - 1
      newline()
      out[#out + 1] = string.char(c)
      i = j + 1
    elseif c == 44 then
      out[#out + 1] = ","
      newline()
      i = j + 1
    elseif c == 58 then
      out[#out + 1] = ": "
      i = j + 1
    else
      i = j + 1 -- white space between tokens
    end
  end
  return table.concat(out)
end

return M
