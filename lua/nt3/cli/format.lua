-- nt3.cli.format: --format and --columns, for nt3 api and for a command
-- that declares format = true (docs/architecture.md, "Output formats").
-- It decides what the rows and the columns are; nt3.ui writes them (the one
-- writer of tables, CSV and ndjson). Loaded only when a format is asked
-- for, and nt3.ui only once something is written.
local getmetatable, io, ipairs, pairs, require = getmetatable, io, ipairs, pairs, require
local table, tostring, type = table, tostring, type
local json = require "nt3.json"

local M = {}

-- format.columns(text) -> list | nil, message: "a, b.c" as { "a", "b.c" }
function M.columns(text)
  local list = {}
  for name in (text .. ","):gmatch("([^,]*),") do
    name = name:match("^%s*(.-)%s*$")
    if name == "" then return nil, 'a comma-separated list of field names, like "id,owner.login"' end
    list[#list + 1] = name
  end
  return list
end

-- format.choose(kind, columns_text) -> kind, columns | nil, message:
-- --format's and --columns' values checked (columns nil when not given);
-- the message is a usage error's
function M.choose(kind, text)
  local known = false
  for _, k in ipairs(require("nt3.cli.registry").FORMATS) do known = known or k == kind end
  if not known then
    local shown = require("nt3.policy").sanitize(kind, 40)
    return nil, ('--format expects json, table, csv or ndjson, got "%s"'):format(shown)
  end
  if text == nil then return kind end
  if kind == "json" then return nil, "--columns goes with --format table, csv or ndjson" end
  local columns, why = M.columns(text)
  if not columns then return nil, "--columns expects " .. why end
  return kind, columns
end

-- Whether a value is a list: a JSON array, or a table whose keys are 1..n
-- (an empty table is an empty list).
local function is_list(v)
  if type(v) ~= "table" then return false end
  if getmetatable(v) == json.array_mt then return true end
  local n = 0
  for _ in pairs(v) do n = n + 1 end
  return n == #v
end

-- format.rows(value) -> the rows a result is: a list's items, else the
-- value itself as one row (an object; nil is no row at all)
function M.rows(value)
  if value == nil then return {} end
  if is_list(value) then return value end
  return { value }
end

-- A row as its cells are read: an object as it is; anything else (a
-- string, a number, a list) as { value = it }.
local function as_row(item)
  if type(item) == "table" and not is_list(item) then return item end
  return { value = item }
end

local function is_scalar(v)
  local t = type(v)
  return t == "string" or t == "number" or t == "boolean" or v == json.null
end

-- The columns when none are named: the first row's keys holding a scalar,
-- in the order given (the server's), else sorted; every key when none
-- holds a scalar.
local function default_columns(row, keys)
  if not keys then
    keys = {}
    for k in pairs(row) do
      if type(k) == "string" then keys[#keys + 1] = k end
    end
    table.sort(keys)
  end
  local list = {}
  for _, k in ipairs(keys) do
    if is_scalar(row[k]) then list[#list + 1] = k end
  end
  if #list == 0 then return keys end
  return list
end

local function fail(err)
  require("nt3.cli").fail("cannot write to standard output: " .. tostring(err))
end

-- Each row cut down to the columns, a missing field as null: one JSON
-- object per row, keyed by the column names as given.
local function project(rows, columns)
  local ui = require "nt3.ui"
  local out = {}
  for i, item in ipairs(rows) do
    local row, o = as_row(item), {}
    for _, c in ipairs(columns) do
      local v = ui.field(row, c)
      if v == nil then v = json.null end
      o[c] = v
    end
    out[i] = o
  end
  return out
end

-- format.writer(kind, columns) -> writer: writer.add(items[, keys]) takes
-- the next items of the result (keys: the first item's key order, when
-- the caller knows it), writer.finish() ends it. table and json keep every
-- item until finish (a table's widths need them all); csv and ndjson write
-- each batch as it comes.
function M.writer(kind, columns)
  local w, kept, header = {}, {}, true
  local stream = io.stdout
  local function csv(items, keys)
    local ui = require "nt3.ui"
    local rows = {}
    for i, item in ipairs(items) do rows[i] = as_row(item) end
    if not columns and rows[1] then columns = default_columns(rows[1], rows[1] == items[1] and keys or nil) end
    if not columns or #columns == 0 then return end
    local ok, err = ui.csv(rows, columns, { header = header })
    if not ok then fail(err) end
    header = false
  end
  local function ndjson(items)
    local ui = require "nt3.ui"
    local ok, err = ui.ndjson(columns and project(items, columns) or items)
    if not ok then fail(err) end
  end
  local first_keys
  function w.add(items, keys)
    if kind == "csv" then return csv(items, keys) end
    if kind == "ndjson" then return ndjson(items) end
    if #kept == 0 then first_keys = keys end
    for _, item in ipairs(items) do kept[#kept + 1] = item end
  end
  function w.finish()
    if kind == "csv" then
      -- an empty result still has its header, when the columns are known
      if header and columns then csv({}) end
      return
    end
    if kind == "ndjson" then return end
    if kind == "json" then
      local text, err
      local tty = require("nt3.prompt").isatty("stdout")
      if tty then text, err = json.pretty(json.array(kept)) else text, err = json.encode(json.array(kept)) end
      if not text then require("nt3.cli").fail("the result cannot be written as JSON: " .. tostring(err)) end
      if tty then text = require("nt3.policy").sanitize(text, 0, { lines = true }) end
      local ok, werr = stream:write(text, "\n")
      if not ok then fail(werr) end
      return
    end
    local rows = {}
    for i, item in ipairs(kept) do rows[i] = as_row(item) end
    local cols = columns or (rows[1] and default_columns(rows[1], rows[1] == kept[1] and first_keys or nil))
    if not cols or #cols == 0 then return end
    local ok, err = require("nt3.ui").table(rows, { columns = cols })
    if not ok then fail(err) end
  end
  return w
end

-- format.write(kind, value, columns[, keys]) -> writes a whole result at once
function M.write(kind, value, columns, keys)
  local w = M.writer(kind, columns)
  w.add(M.rows(value), keys)
  w.finish()
end

return M
