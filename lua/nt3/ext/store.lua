-- nt3.ext.store: where extensions live and what vouches for them.
-- ~/.nt3/extensions/<name>/ holds each one's files (0700 folders, 0600
-- files); ~/.nt3/extensions.lock says what they must be: per file a
-- sha256, one over the whole tree, the permissions granted. Every change
-- is staged beside the real tree (~/.nt3/extensions/.staging-<hex>) and
-- switched in by one rename, under the lock of the lock file, with a note
-- that lets the next run finish or undo a switch cut short by kill -9
-- (docs/architecture.md, "Extensions").
local error, io, ipairs, math, pairs, pcall = error, io, ipairs, math, pairs, pcall
local require, table, type = require, table, type
local env = require "nt3.env"
local fs = require "nt3.fs"
local json = require "nt3.json"
local lock_file = require "nt3.ext.lock"
local manifest = require "nt3.ext.manifest"
local store = require "nt3.config.store"

local M = {}

M.LOCK_NAME = lock_file.FILE_NAME
M.DIR_NAME = "extensions"
M.LOCK_MAX = lock_file.MAX
local FILE_MODE = 384 -- 0600
local DIR_MODE = 448  -- 0700
local STAGING = ".staging-"

-- The bounds of one extension (docs/extensions.md, "Limits"): a command
-- file is read whole into memory, as a user command is.
M.FILE_MAX = 1024 * 1024
M.FILES_MAX = 256
M.TOTAL_MAX = 8 * 1024 * 1024

-- store.sha256(bytes) -> hex digest (the one implementation, in C)
function M.sha256(data) return fs.sha256_text(data) end

---------------------------------------------------------------------------
-- paths
---------------------------------------------------------------------------

-- store.base() -> ~/.nt3 (or NT3_CONFIG_DIR) | nil, message
function M.base() return store.global_dir() end

function M.root()
  local base, err = M.base()
  if not base then return nil, err end
  return base .. "/" .. M.DIR_NAME
end

function M.lock_path()
  local base, err = M.base()
  if not base then return nil, err end
  return base .. "/" .. M.LOCK_NAME
end

-- store.display(path) -> the path as the user types it (~/.nt3/...)
function M.display(path) return store.display(path, "global") end

---------------------------------------------------------------------------
-- the tree hash
---------------------------------------------------------------------------

-- store.tree_hash(files) -> the sha256 of the lines "<sha256>  <path>\n" of
-- every file, sorted by path bytewise: the output of
--   find . -type f -printf '%P\n' | LC_ALL=C sort | xargs sha256sum
-- so anyone can recompute it (docs/extensions.md, "What is verified").
function M.tree_hash(hashes)
  local paths = {}
  for rel in pairs(hashes) do paths[#paths + 1] = rel end
  table.sort(paths)
  local lines = {}
  for i, rel in ipairs(paths) do lines[i] = hashes[rel] .. "  " .. rel .. "\n" end
  return M.sha256(table.concat(lines))
end

---------------------------------------------------------------------------
-- reading a tree (installed, or a local source)
---------------------------------------------------------------------------

-- store.walk(dir[, opts]) -> { [rel] = bytes } | nil, message, code
-- Plain files only: a link, device, socket or FIFO anywhere is refused
-- (code "unsafe"), as is a path manifest.path_ok refuses, a file over the
-- bounds ("too_big"). opts.skip_git: a top-level .git folder is not part
-- of a local source. opts.hashes_only: { [rel] = sha256 } instead.
function M.walk(dir, opts)
  opts = opts or {}
  local out, count, total = {}, 0, 0
  local function visit(path, rel)
    local names, err = fs.dir(path)
    if not names then return nil, err, "io" end
    for _, n in ipairs(names) do
      local r = rel == "" and n or (rel .. "/" .. n)
      if not (rel == "" and opts.skip_git and n == ".git") then
        local ok, why = manifest.path_ok(r)
        if not ok then return nil, ("refusing %q: the path %s"):format(r, why), "unsafe" end
        local st, serr = fs.lstat(path .. "/" .. n)
        if not st then return nil, serr, "io" end
        if st.type == "directory" then
          local okd, derr, code = visit(path .. "/" .. n, r)
          if not okd then return nil, derr, code end
        elseif st.type == "file" then
          if st.nlink > 1 and not opts.allow_links then
            return nil, ("refusing %s: a file with other hard links"):format(r), "unsafe"
          end
          count = count + 1
          if count > M.FILES_MAX then return nil, ("more than %d files"):format(M.FILES_MAX), "too_big" end
          if st.size > M.FILE_MAX then
            return nil, ("refusing %s: larger than %d bytes"):format(r, M.FILE_MAX), "too_big"
          end
          local data, rerr = fs.read(path .. "/" .. n, M.FILE_MAX)
          if not data then return nil, rerr, "io" end
          total = total + #data
          if total > M.TOTAL_MAX then return nil, ("more than %d bytes in all"):format(M.TOTAL_MAX), "too_big" end
          out[r] = opts.hashes_only and M.sha256(data) or data
        else
          local what = st.type == "link" and "symbolic link" or st.type
          return nil, ("refusing %s: a %s, not a plain file"):format(r, what), "unsafe"
        end
      end
    end
    return true
  end
  local ok, err, code = visit(dir, "")
  if not ok then return nil, err, code end
  return out
end

-- store.check_files(files) -> true | nil, message, code: the bounds walk
-- applies, for files that came from git or a tarball
function M.check_files(files)
  local count, total = 0, 0
  for rel, data in pairs(files) do
    local ok, why = manifest.path_ok(rel)
    if not ok then return nil, ("refusing %q: the path %s"):format(rel, why), "unsafe" end
    count, total = count + 1, total + #data
    if #data > M.FILE_MAX then return nil, ("refusing %s: larger than %d bytes"):format(rel, M.FILE_MAX), "too_big" end
  end
  if count > M.FILES_MAX then return nil, ("more than %d files"):format(M.FILES_MAX), "too_big" end
  if total > M.TOTAL_MAX then return nil, ("more than %d bytes in all"):format(M.TOTAL_MAX), "too_big" end
  return true
end

-- store.hashes(files) -> { [rel] = sha256 }
function M.hashes(files)
  local out = {}
  for rel, data in pairs(files) do out[rel] = M.sha256(data) end
  return out
end

-- store.compare(want, have) -> { changed = {...}, added = {...}, missing = {...} }
-- (sorted lists of paths), want and have both { [rel] = sha256 }
function M.compare(want, have)
  local d = { changed = {}, added = {}, missing = {} }
  for rel, h in pairs(want) do
    if have[rel] == nil then d.missing[#d.missing + 1] = rel
    elseif have[rel] ~= h then d.changed[#d.changed + 1] = rel end
  end
  for rel in pairs(have) do
    if want[rel] == nil then d.added[#d.added + 1] = rel end
  end
  for _, l in pairs(d) do table.sort(l) end
  return d
end

-- store.verify(entry, name) -> true | nil, message, code ("tampered")
-- The installed files of one extension against its lock entry, one line
-- naming the first difference.
function M.verify(name, entry)
  local root, rerr = M.root()
  if not root then return nil, rerr, "io" end
  local have, err, code = M.walk(root .. "/" .. name, { hashes_only = true })
  if not have then
    local st = fs.lstat(root .. "/" .. name)
    if not st then return nil, ("extension %s: its folder is missing"):format(name), "tampered" end
    return nil, ("extension %s: %s"):format(name, err), code == "io" and "io" or "tampered"
  end
  local d = M.compare(entry.files or {}, have)
  if d.changed[1] then return nil, ("extension %s: %s was changed"):format(name, d.changed[1]), "tampered", d end
  if d.added[1] then return nil, ("extension %s: %s was added"):format(name, d.added[1]), "tampered", d end
  if d.missing[1] then return nil, ("extension %s: %s is missing"):format(name, d.missing[1]), "tampered", d end
  return true, nil, nil, d
end

---------------------------------------------------------------------------
-- the lock file
---------------------------------------------------------------------------

-- What the lists do not check (nt3.ext.lock): the permissions granted and
-- every file's hash
local function check_entries(data, shown)
  for name, e in pairs(data.extensions) do
    local ok, perr = manifest.check_permissions(e.permissions, "extensions." .. name .. ".permissions")
    if not ok then return nil, shown .. ": " .. perr end
    for rel, h in pairs(e.files) do
      if not manifest.path_ok(rel) or type(h) ~= "string" or not h:match("^%x+$") or #h ~= 64 then
        return nil, ("%s: the entry %s names a bad file or hash"):format(shown, name)
      end
    end
    e.permissions = e.permissions or {}
  end
  return data
end

-- store.parse_lock(text, shown) -> lock | nil, message
function M.parse_lock(text, shown)
  local data, err = lock_file.parse(text, shown)
  if not data then return nil, err end
  return check_entries(data, shown)
end

-- store.read_lock([path]) -> lock (empty when there is none) | nil, message
function M.read_lock(path)
  local perr
  if not path then
    path, perr = M.lock_path()
    if not path then return nil, perr end
  end
  local data, err = lock_file.read(path)
  if not data then return nil, err end
  return check_entries(data, M.display(path))
end

-- store.format_lock(lock) -> the text written (sorted keys, 2 spaces)
function M.format_lock(lock)
  for _, e in pairs(lock.extensions) do
    e.commands = json.array(e.commands)
    local p = e.permissions or {}
    for _, k in ipairs({ "http", "env", "proc" }) do if p[k] then json.array(p[k]) end end
    if type(p.api) == "table" then json.array(p.api) end
    if p.fs then
      for _, k in ipairs({ "read", "write" }) do if p.fs[k] then json.array(p.fs[k]) end end
    end
  end
  return (json.pretty(lock)) .. "\n"
end

local function prepare_base()
  local base, err = M.base()
  if not base then return nil, err end
  local ok, merr = fs.mkdir(base, DIR_MODE)
  if not ok then return nil, merr end
  local dok, derr = store.check_dir(base, M.display(base .. "/" .. M.LOCK_NAME), "global")
  if not dok then return nil, derr end
  local root = base .. "/" .. M.DIR_NAME
  local rok, rerr2 = fs.mkdir(root, DIR_MODE)
  if not rok then return nil, rerr2 end
  return base, root
end

-- store.locked(fn) -> fn's results | nil, message
-- fn(lock, ctx) runs holding the lock of ~/.nt3/extensions.lock (taken as
-- nt3.config.write takes the config's), after any switch cut short before
-- was finished or undone; ctx.commit(lock) writes the lock atomically.
function M.locked(fn)
  local base, root = prepare_base()
  if not base then return nil, root end
  local write = require "nt3.config.write"
  local lk, lerr = write.lock_file(base, M.LOCK_NAME)
  if not lk then return nil, lerr end
  local lock, err = M.read_lock()
  if not lock then
    lk:unlock()
    return nil, err
  end
  write.remove_stale_temps(base, M.LOCK_NAME)
  write.remove_stale_temps(base, lock_file.INDEX_NAME)
  M.recover(root, lock)
  local ctx = { root = root, base = base }
  function ctx.commit(l)
    local path = base .. "/" .. M.LOCK_NAME
    local ok, werr = fs.write(path, M.format_lock(l), FILE_MODE)
    if not ok then return nil, werr end
    -- then the lists' index of the lock just written (nt3.ext.lock.indexed).
    -- One that cannot be written is left as it was: it names an older
    -- lock, so nothing reads it, and the commit stands.
    local st = fs.stat(path)
    if st then fs.write(base .. "/" .. lock_file.INDEX_NAME, lock_file.index_text(l, st), FILE_MODE) end
    return true
  end
  local results = table.pack(pcall(fn, lock, ctx))
  lk:unlock()
  if not results[1] then error(results[2], 0) end
  return table.unpack(results, 2, results.n)
end

---------------------------------------------------------------------------
-- staging and the switch
---------------------------------------------------------------------------

-- store.remove_tree(path): a folder and everything in it, never through a
-- link (a link is removed, not followed)
function M.remove_tree(path)
  local st = fs.lstat(path)
  if not st then return true end
  if st.type ~= "directory" then return fs.remove(path) end
  for _, n in ipairs(fs.dir(path) or {}) do M.remove_tree(path .. "/" .. n) end
  return fs.rmdir(path)
end

local function random_hex()
  return ("%06x%06x"):format(math.random(0, 0xffffff), math.random(0, 0xffffff))
end

-- store.stage(files) -> a new staging folder (holding tree/, and the
-- files given) | nil, message. Its name holds the pid, so a run that is
-- still staging is never taken for one that was killed.
function M.stage(files)
  local _, root = prepare_base()
  if not _ then return nil, root end
  local dir
  for _ = 1, 10 do
    local d = root .. "/" .. STAGING .. env.pid() .. "-" .. random_hex()
    if not fs.lstat(d) then
      dir = d
      break
    end
  end
  if not dir then return nil, "cannot pick a staging folder" end
  local ok, err = fs.mkdir(dir, DIR_MODE)
  if not ok then return nil, err end
  ok, err = fs.mkdir(dir .. "/tree", DIR_MODE)
  if not ok then return nil, err end
  ok, err = M.stage_files(dir, files)
  if not ok then return nil, err end
  return dir
end

-- store.stage_files(staging, files) -> true | nil, message: the files
-- written under staging/tree (0600, folders 0700)
function M.stage_files(dir, files)
  local paths = {}
  for rel in pairs(files) do paths[#paths + 1] = rel end
  table.sort(paths)
  for _, rel in ipairs(paths) do
    local at = dir .. "/tree"
    local parts = {}
    for part in rel:gmatch("[^/]+") do parts[#parts + 1] = part end
    for i = 1, #parts - 1 do
      at = at .. "/" .. parts[i]
      local ok, err = fs.mkdir(at, DIR_MODE)
      if not ok then return nil, err end
    end
    local ok, err = fs.write(dir .. "/tree/" .. rel, files[rel], FILE_MODE)
    if not ok then return nil, err end
  end
  return true
end

-- The test hook NT3_EXT_TEST_PAUSE=<stage>: at that stage of a change,
-- nt3 prints "paused at <stage>" on stdout and waits 60 s, so a spec can
-- kill -9 it there (docs/extensions.md, "The test hook"). Stages: staged
-- (files written beside the tree), intent (the note written), locked (the
-- lock written, the folder not yet switched), moved (switched, the
-- staging folder not yet removed). The wait is a second flock on a file
-- this process already holds locked: it sleeps, and starts nothing.
local function pause_at(stage)
  if env.get("NT3_EXT_TEST_PAUSE") ~= stage then return end
  io.stdout:write("paused at ", stage, "\n")
  io.stdout:flush()
  local root = M.root()
  local held = root and fs.lock(root .. "/.test-pause", 0, true)
  if held then fs.lock(root .. "/.test-pause", 60, true) end
end
M.pause_at = pause_at

-- store.switch(ctx, lock, name, staging | nil) -> true | nil, message
-- The commit of one change, under the lock: the note (intent.json, the
-- tree the lock will name) in the staging folder, then the lock, then the
-- rename of the folders; staging nil removes the extension. Killed before
-- the lock is written, nothing changed; after, the next start finishes it.
function M.switch(ctx, lock, name, staging)
  local entry = lock.extensions[name]
  if not staging then
    local d, err = M.stage({})
    if not d then return nil, err end
    staging = d
  end
  local intent = json.encode({ name = name, tree = entry and entry.tree or json.null })
  local ok, err = fs.write(staging .. "/intent.json", intent, FILE_MODE)
  if not ok then return nil, err end
  pause_at("intent")
  ok, err = ctx.commit(lock)
  if not ok then
    M.remove_tree(staging)
    return nil, err
  end
  pause_at("locked")
  M.finish(ctx.root, staging, lock)
  return true
end

-- Puts a committed staging folder's tree in place (or takes the old one
-- out, for a removal) and removes the staging folder.
function M.finish(root, staging, lock)
  local text = fs.read(staging .. "/intent.json", 4096)
  local intent = text and json.decode(text)
  if type(intent) ~= "table" or type(intent.name) ~= "string" or not intent.name:match(manifest.NAME) then
    return M.remove_tree(staging)
  end
  local name = intent.name
  local entry = lock.extensions[name]
  local want = intent.tree ~= json.null and intent.tree or nil
  local committed = (entry and entry.tree) == want
  local real = root .. "/" .. name
  if committed then
    if want then
      local have = M.walk(real, { hashes_only = true })
      if not (have and M.tree_hash(have) == want) and fs.lstat(staging .. "/tree") then
        if fs.lstat(real) then
          fs.rename(staging .. "/tree", real, "exchange")
        else
          fs.rename(staging .. "/tree", real, "noreplace")
        end
        pause_at("moved")
      end
    elseif fs.lstat(real) then
      fs.rename(real, staging .. "/old", "noreplace")
    end
  end
  return M.remove_tree(staging)
end

-- store.recover(root, lock): every staging folder left by a run that was
-- killed: finished when its lock was written, removed otherwise
function M.recover(root, lock)
  for _, n in ipairs(fs.dir(root) or {}) do
    if n:sub(1, #STAGING) == STAGING then
      -- one whose process still runs is being staged (outside the lock)
      local pid = n:match("^%.staging%-(%d+)%-")
      local st = fs.lstat(root .. "/" .. n)
      if st and st.type == "directory" and st.uid == env.uid() and not (pid and fs.stat("/proc/" .. pid)) then
        M.finish(root, root .. "/" .. n, lock)
      end
    end
  end
end

-- store.pending() -> whether a staging folder is there (a switch to finish)
function M.pending()
  local root = M.root()
  for _, n in ipairs(root and fs.dir(root) or {}) do
    if n:sub(1, #STAGING) == STAGING then return true end
  end
  return false
end

return M
