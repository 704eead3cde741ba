-- nt3.ext.lock: reading ~/.nt3/extensions.lock, the record of what the
-- installed extensions must be, as far as the lists need it: its shape,
-- and each command's name and summary. nt3.ext.store writes the lock and
-- checks the rest of it (the permissions, the files' hashes); the lists
-- (nt3.cli.ext: help, completion, the man page) read it through this
-- module alone, so listing 20 extensions loads neither the store, the
-- manifest's rules nor the credential store (docs/architecture.md,
-- "Extensions").
local pairs, require, tostring, type = pairs, require, tostring, type
local fs = require "nt3.fs"

local M = {}

M.NAME = "^[%a][%w_-]*$" -- an extension's name, and its commands'
M.FILE_NAME = "extensions.lock"
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

return M
