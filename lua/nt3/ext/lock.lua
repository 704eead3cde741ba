-- nt3.ext.lock: reading ~/.nt3/extensions.lock, the record of what the
-- installed extensions must be, as far as the lists need it: its shape,
-- and each command's name and summary. nt3.ext.store writes the lock and
-- checks the rest of it (the permissions, the files' hashes); the lists
-- (nt3.cli.ext: help, completion, the man page) read it through this
-- module alone, so listing 20 extensions loads neither the store, the
-- manifest's rules nor the credential store (docs/architecture.md,
-- "Extensions"). Beside the lock, ~/.nt3/extensions.index holds only
-- what the lists show, and the stamp of the lock it was made from: help
-- reads that small file while it is the lock's, and the lock otherwise.
local ipairs, pairs, require, string, table, tonumber, tostring, type =
  ipairs, pairs, require, string, table, tonumber, tostring, type
local fs = require "nt3.fs"

local M = {}

M.NAME = "^[%a][%w_-]*$" -- an extension's name, and its commands'
M.FILE_NAME = "extensions.lock"
M.INDEX_NAME = "extensions.index"
M.MAX = 4 * 1024 * 1024

-- lock.empty() -> the lock of no extension
function M.empty() return { version = 1, extensions = {} } end

local function named(shown) return type(shown) == "function" and shown() or shown end

-- lock.parse(text, shown) -> lock | nil, message: the JSON and the shape of
-- every entry checked (what help and completion show); shown names the
-- file in a message (or is a function that gives it, asked only then)
function M.parse(text, shown)
  -- nt3.json only here: no lock, nothing more is loaded (nt3 help stays as fast)
  local data, err = require("nt3.json").decode(text)
  if type(data) ~= "table" or type(data.extensions) ~= "table" or data.version ~= 1 then
    return nil, ("%s: not an nt3 extensions lock (%s)"):format(named(shown), err or "no version 1 and extensions")
  end
  for name, e in pairs(data.extensions) do
    if type(name) ~= "string" or not name:match(M.NAME) or type(e) ~= "table" or type(e.files) ~= "table"
        or type(e.tree) ~= "string" or type(e.source) ~= "string" or type(e.commands) ~= "table" then
      return nil, ("%s: the entry %s is not complete"):format(named(shown), tostring(name))
    end
  end
  return data
end

-- lock.read(path) -> lock (empty when there is none) | nil, message
-- naming the file as the user types it (~/.nt3/extensions.lock)
function M.read(path)
  local text, err, errno = fs.read(path, M.MAX)
  if not text then
    if errno == 2 then return M.empty() end
    return nil, err
  end
  return M.parse(text, function() return require("nt3.config.store").display(path, "global") end)
end

-- lock.stamp(st) -> what tells one lock file from any other (st is its
-- fs.stat): the device, inode, size and modification time to the
-- nanosecond. fs.write replaces a file (a new inode), and so does an
-- editor that saves by rename; one rewritten in place gets a new mtime.
function M.stamp(st)
  return ("%d:%d:%d:%d.%09d"):format(st.dev, st.ino, st.size, st.mtime, st.mtime_ns)
end

-- lock.rows(extensions) -> each command as the lists show it, { name,
-- summary, extension, source }, sorted by name (then extension)
local function rows_of(extensions)
  local rows = {}
  for ename, e in pairs(extensions) do
    for _, c in ipairs(e.commands) do
      if type(c) == "table" and type(c.name) == "string" and type(c.summary) == "string" then
        rows[#rows + 1] = { c.name, c.summary, ename, e.source }
      end
    end
  end
  table.sort(rows, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    return a[3] < b[3]
  end)
  return rows
end
M.rows = rows_of

-- The index is lines of text, so that reading it loads no JSON decoder:
-- a first line naming the format and the lock's stamp, then one line a
-- command, its name, summary, extension and source joined by tabs. A
-- control character or % in a field is written %XX.
local INDEX_HEAD = "nt3 extensions index 1\t"

local function hex(c) return ("%%%02X"):format(c:byte()) end
local function escape(v) return (v:gsub("[%%%c]", hex)) end
local function unhex(h) return string.char(tonumber(h, 16)) end
local function unescape(v)
  if not v:find("%", 1, true) then return v end
  return (v:gsub("%%(%x%x)", unhex))
end

-- lock.index_text(lock, st) -> the text of the index of that lock, whose
-- file's fs.stat is st (taken after writing it)
function M.index_text(lock, st)
  local out = { INDEX_HEAD .. M.stamp(st) .. "\n" }
  for _, row in ipairs(rows_of(lock.extensions)) do
    out[#out + 1] = escape(row[1]) .. "\t" .. escape(row[2]) .. "\t" .. escape(row[3]) .. "\t" .. escape(row[4]) .. "\n"
  end
  return table.concat(out)
end

-- lock.indexed(dir, st) -> the rows of dir's index, when it was made from
-- the lock whose fs.stat is st | nil: there is none, it is another lock's
-- (a change cut short, an edit by hand, an older nt3), or it is not whole.
-- A derived file: nil is never an error, the caller reads the lock.
function M.indexed(dir, st)
  local text = fs.read(dir .. "/" .. M.INDEX_NAME, M.MAX)
  local head = INDEX_HEAD .. M.stamp(st) .. "\n"
  if not text or text:sub(1, #head) ~= head then return nil end
  -- plain finds (memchr) rather than a pattern: a line is split in a few
  -- hundred instructions
  local find, sub = string.find, string.sub
  local rows, at = {}, #head + 1
  while at <= #text do
    local stop = find(text, "\n", at, true)
    if not stop then return nil end
    local row, from = {}, at
    for i = 1, 3 do
      local tab = find(text, "\t", from, true)
      if not tab or tab > stop then return nil end
      row[i], from = sub(text, from, tab - 1), tab + 1
    end
    row[4] = sub(text, from, stop - 1)
    if row[4]:find("\t", 1, true) or not row[1]:match(M.NAME) or not row[3]:match(M.NAME) then return nil end
    row[2], row[4] = unescape(row[2]), unescape(row[4])
    rows[#rows + 1] = row
    at = stop + 1
  end
  return rows
end

return M
