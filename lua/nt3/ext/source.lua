-- nt3.ext.source: the files of an extension from where it is published: a
-- git repository (https, ssh, file://), a local folder or a .tar.gz. Only
-- plain files come out, as { [rel] = bytes }; nothing from the source is
-- ever run, checked out or extracted by a program that could follow a
-- link (docs/architecture.md, "Extensions").
--
-- git runs through nt3.proc (no shell), found on PATH and held to the
-- trust rule of code nt3 runs (fs.trusted), with every configuration file
-- but the command line's ignored, hooks off, no prompt and a time limit.
-- The clone goes into a private staging folder with no checkout; files
-- are read from git's objects (ls-tree, cat-file), so a symlink, a
-- submodule or a hook in the repository never becomes a file or a process.
local ipairs, math, pairs, table, tonumber, tostring = ipairs, math, pairs, table, tonumber, tostring
local env = require "nt3.env"
local fs = require "nt3.fs"
local manifest = require "nt3.ext.manifest"
local proc = require "nt3.proc"
local store = require "nt3.ext.store"

local M = {}

M.GIT_TIMEOUT = 120 -- seconds, for one git command (a clone included)
M.TARBALL_MAX = 16 * 1024 * 1024 -- bytes: a tarball once uncompressed, git's objects read at once

---------------------------------------------------------------------------
-- what a source is
---------------------------------------------------------------------------

local function is_git_url(s)
  return s:match("^https://") or s:match("^ssh://") or s:match("^file://")
    or s:match("^[%w._-]+@[%w._-]+:[^/]") ~= nil
end

-- source.parse(text[, pin]) -> { kind, source, ref } | nil, message
-- "<source>[@<ref>]": the ref after the last @ when it holds no / or :
-- (an ssh user@host: is not a ref); --pin wins over it.
function M.parse(text, pin)
  local src, ref = text, nil
  local at = text:match("^.*()@")
  if at and at > 1 then
    local tail = text:sub(at + 1)
    if tail ~= "" and not tail:find("[/:]") then src, ref = text:sub(1, at - 1), tail end
  end
  if pin then ref = pin end
  if ref and (ref:sub(1, 1) == "-" or ref:find("[%z\1-\32\127~^:?*%[\\]") or ref:find("%.%.")) then
    return nil, ("the ref %q is not a branch, tag or commit name"):format(ref)
  end
  if src:find("[%z\1-\31\127]") then return nil, "the source holds a control character" end
  if is_git_url(src) then return { kind = "git", source = src, ref = ref } end
  if src:match("^http://") or src:match("^git://") then
    return nil, "refusing " .. src .. ": use https, ssh or file:// (plain http and git:// are not encrypted)"
  end
  local path = src
  if path:sub(1, 1) == "~" then path = fs.expand(path) or path end
  if path:sub(1, 1) ~= "/" then
    local cwd = env.cwd()
    if not cwd then return nil, "cannot find the current directory" end
    path = (cwd == "/" and "" or cwd) .. "/" .. path
  end
  path = path:gsub("/%./", "/"):gsub("/%.$", ""):gsub("(.)/+$", "%1")
  local st = fs.stat(path)
  if not st then return nil, ("%s: no such folder, tarball or git URL"):format(src) end
  if st.type == "directory" then
    if ref then return nil, "a folder has no refs; --pin and @ref are for git sources" end
    return { kind = "directory", source = path }
  end
  if path:match("%.tar%.gz$") or path:match("%.tgz$") then
    if ref then return nil, "a tarball has no refs; --pin and @ref are for git sources" end
    return { kind = "tarball", source = path }
  end
  return nil, ("%s: not a folder, a .tar.gz or a git URL (https, ssh, file://)"):format(src)
end

---------------------------------------------------------------------------
-- git
---------------------------------------------------------------------------

-- source.git() -> the absolute path of git | nil, message
-- The first git on PATH (absolute entries only) that fs.trusted accepts:
-- owned by the user or root, writable by nobody else, nor its folders.
function M.git()
  for dir in (env.get("PATH") or ""):gmatch("[^:]+") do
    if dir:sub(1, 1) == "/" then
      local path = dir .. "/git"
      local st = fs.stat(path)
      if st and st.type == "file" and st.mode & 73 ~= 0 then
        local ok, why = fs.trusted(path, "file")
        if not ok then return nil, "refusing to run " .. path .. ": " .. tostring(why) end
        return path
      end
    end
  end
  return nil, "git is not installed (no git on PATH); install it to install from a git repository"
end

-- Every variable by which git would read configuration, run a program or
-- look elsewhere for the repository, set or unset for each run.
local GIT_ENV = {
  GIT_CONFIG_NOSYSTEM = "1", GIT_CONFIG_GLOBAL = "/dev/null", GIT_CONFIG_SYSTEM = "/dev/null",
  GIT_TERMINAL_PROMPT = "0", GIT_ASKPASS = "/bin/false", SSH_ASKPASS = "/bin/false",
  GIT_SSH_COMMAND = "ssh -o BatchMode=yes", GIT_PROTOCOL_FROM_USER = "0",
  GIT_CONFIG = false, GIT_CONFIG_COUNT = false, GIT_CONFIG_PARAMETERS = false, GIT_DIR = false,
  GIT_WORK_TREE = false, GIT_INDEX_FILE = false, GIT_OBJECT_DIRECTORY = false,
  GIT_ALTERNATE_OBJECT_DIRECTORIES = false, GIT_EXEC_PATH = false, GIT_TEMPLATE_DIR = false,
  GIT_PROXY_COMMAND = false, GIT_SSH = false, GIT_EXTERNAL_DIFF = false, GIT_PAGER = false,
  GIT_EDITOR = false, GIT_NAMESPACE = false, GIT_CEILING_DIRECTORIES = false, GIT_TRACE = false,
}

local GIT_CONFIG = {
  "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "-c", "submodule.recurse=false",
  "-c", "protocol.file.allow=always", "-c", "protocol.ext.allow=never", "-c", "credential.helper=",
  "-c", "core.askPass=/bin/false", "-c", "transfer.fsckObjects=true", "-c", "core.symlinks=false",
  "-c", "core.sshCommand=ssh -o BatchMode=yes", "-c", "http.followRedirects=false",
}

-- The time one git command may take: NT3_GIT_TIMEOUT (whole seconds,
-- 1 to 3600) if set, else GIT_TIMEOUT.
local function git_timeout()
  local v = env.get("NT3_GIT_TIMEOUT")
  if v == nil or v == "" then return M.GIT_TIMEOUT end
  local n = v:match("^%d+$") and tonumber(v)
  if not n or n < 1 or n > 3600 then
    return nil, ('NT3_GIT_TIMEOUT must be whole seconds from 1 to 3600 (it is "%s")'):format(v)
  end
  return n
end

-- git(args, max_output) -> stdout | nil, message, code
local function git(args, max)
  local path, err = M.git()
  if not path then return nil, err, "git" end
  local timeout, terr = git_timeout()
  if not timeout then return nil, terr, "git" end
  local argv = { path }
  table.move(GIT_CONFIG, 1, #GIT_CONFIG, 2, argv)
  table.move(args, 1, #args, #argv + 1, argv)
  local r, message, code = proc.run(argv, { timeout = timeout, max_output = max or 65536, env = GIT_ENV })
  if not r then
    if code == "interrupted" then return nil, "interrupted", "interrupted" end
    return nil, "git " .. args[1] .. " " .. tostring(message), "git"
  end
  if r.code == proc.TIMED_OUT and r.signal ~= 0 then
    return nil, ("git %s did not finish within %d seconds"):format(args[1], timeout), "git"
  end
  if r.code ~= 0 then
    local line = r.stderr:match("fatal: ([^\n]+)") or r.stderr:match("([^\n]+)") or ("exit " .. r.code)
    return nil, "git " .. args[1] .. ": " .. line, "git"
  end
  return r.stdout
end

-- source.remote_commit(url, ref) -> the commit ref names at url now | nil, message
-- (ls-remote: nothing is cloned)
function M.remote_commit(url, ref)
  local out, err, code = git({ "ls-remote", "--", url, ref or "HEAD" }, 1024 * 1024)
  if not out then return nil, err, code end
  local found
  for oid, name in out:gmatch("(%x+)\t([^\n]+)") do
    if name:sub(-3) == "^{}" then return oid end -- an annotated tag, peeled
    if not ref or name == ref or name == "refs/tags/" .. ref or name == "refs/heads/" .. ref or name == "HEAD" then
      found = found or oid
    end
  end
  if not found and ref and ref:match("^%x+$") and #ref >= 7 then return ref end
  if not found then return nil, ("%s has no ref %s"):format(url, ref or "HEAD"), "ref" end
  return found
end

local function resolve(repo, ref)
  local tries = ref and { "refs/tags/" .. ref, "refs/remotes/origin/" .. ref, ref } or { "HEAD" }
  for _, r in ipairs(tries) do
    local out = git({ "-C", repo, "rev-parse", "--verify", "--quiet", "--end-of-options", r .. "^{commit}" })
    if out and out:match("^%x+") then return out:match("^(%x+)") end
  end
  return nil, ("no branch, tag or commit %s in the repository"):format(ref or "HEAD"), "ref"
end

-- Every object of a shallow clone (one commit's), read by one git:
-- { [oid] = bytes } | nil when git cannot
local function all_objects(repo)
  local out = git({ "-C", repo, "cat-file", "--batch-all-objects", "--batch" }, M.TARBALL_MAX)
  if not out then return nil end
  local objects, i = {}, 1
  while i <= #out do
    local oid, kind, size, body = out:match("^(%x+) (%a+) (%d+)\n()", i)
    if not oid then return nil end
    local n = math.tointeger(size)
    if kind == "blob" then objects[oid] = out:sub(body, body + n - 1) end
    i = body + n + 1
  end
  return objects
end

-- The files of commit: plain blobs only (100644, 100755). A symlink
-- (120000) or a submodule (160000) refuses the whole install.
local function git_files(repo, commit, batch)
  local list, err, code = git({ "-C", repo, "ls-tree", "-r", "-z", "--long", "--full-tree", commit }, 4 * 1024 * 1024)
  if not list then return nil, err, code end
  local files, count = {}, 0
  for entry in list:gmatch("([^%z]+)%z") do
    local mode, kind, oid, size, path = entry:match("^(%d+) (%a+) (%x+) +([%d-]+)\t(.*)$")
    if not mode then return nil, "git ls-tree: an entry nt3 cannot read", "git" end
    local ok, why = manifest.path_ok(path)
    if not ok then return nil, ("refusing %q: the path %s"):format(path, why), "unsafe" end
    if mode == "120000" then return nil, ("refusing %s: a symbolic link, not a plain file"):format(path), "unsafe" end
    if mode == "160000" then
      return nil, ("refusing %s: a submodule (nt3 installs plain files only)"):format(path), "unsafe"
    end
    if kind ~= "blob" or (mode ~= "100644" and mode ~= "100755") then
      return nil, ("refusing %s: not a plain file"):format(path), "unsafe"
    end
    local n = math.tointeger(size)
    if not n or n > store.FILE_MAX then
      return nil, ("refusing %s: larger than %d bytes"):format(path, store.FILE_MAX), "too_big"
    end
    count = count + 1
    if count > store.FILES_MAX then return nil, ("more than %d files"):format(store.FILES_MAX), "too_big" end
    files[path] = oid
  end
  local out = {}
  local objects = batch and all_objects(repo)
  for path, oid in pairs(files) do
    local data = objects and objects[oid]
    if not data then
      local rerr, rcode
      data, rerr, rcode = git({ "-C", repo, "cat-file", "blob", oid }, store.FILE_MAX)
      if not data then return nil, rerr, rcode end
    end
    out[path] = data
  end
  return out
end

-- A named ref (or none) is cloned shallow, one commit's objects read in
-- one go; a commit id needs the history that holds it.
local function from_git(src, work)
  local repo = work .. "/repo"
  local by_id = src.ref and src.ref:match("^%x+$") and #src.ref >= 7
  local args = { "clone", "--quiet", "--no-checkout", "--no-recurse-submodules", "--template=" }
  if not by_id then
    args[#args + 1] = "--depth=1"
    if src.ref then args[#args + 1] = "--branch=" .. src.ref end
  end
  table.move({ "--", src.source, repo }, 1, 3, #args + 1, args)
  local ok, err, code = git(args, 65536)
  if not ok then return nil, err, code end
  local commit, rerr, rcode = resolve(repo, by_id and src.ref or nil)
  if not commit then return nil, rerr, rcode end
  local files, ferr, fcode = git_files(repo, commit, not by_id)
  if not files then return nil, ferr, fcode end
  return { files = files, commit = commit }
end

---------------------------------------------------------------------------
-- a tarball: gzip -dc (through nt3.proc), then the tar read here
---------------------------------------------------------------------------

local function octal(s)
  s = s:match("^[ %z]*([0-7]*)")
  return s and s ~= "" and math.tointeger(tonumber(s, 8)) or 0
end

local function cstring(s) return (s:match("^([^%z]*)")) end

-- pax records "<len> key=value\n"
local function pax_path(data)
  for key, value in data:gmatch("%d+ ([^=]+)=([^\n]*)\n") do
    if key == "path" then return value end
  end
end

-- source.untar(bytes) -> { [rel] = bytes } | nil, message, code
-- Regular files and folders only: a link (hard or symbolic), device or
-- FIFO refuses the whole archive, as does a path that is absolute, climbs
-- out with .., or holds a control character, and a file named twice.
function M.untar(tar)
  local files, i, long_name, count = {}, 1, nil, 0
  while i + 511 <= #tar do
    local h = tar:sub(i, i + 511)
    if h == ("\0"):rep(512) then break end
    local name, size, flag = cstring(h:sub(1, 100)), octal(h:sub(125, 136)), h:sub(157, 157)
    local prefix = h:sub(258, 262) == "ustar" and cstring(h:sub(346, 500)) or ""
    if prefix ~= "" then name = prefix .. "/" .. name end
    local data = tar:sub(i + 512, i + 511 + size)
    if #data < size then return nil, "the tarball is cut short", "tarball" end
    i = i + 512 + ((size + 511) // 512) * 512
    if flag == "x" or flag == "L" then
      long_name = flag == "x" and pax_path(data) or cstring(data)
    elseif flag == "g" then -- a global pax header (git archive's commit id)
      long_name = nil
    else
      name = long_name or name
      long_name = nil
      local rel = name:gsub("^%./", ""):gsub("/$", "")
      if flag == "5" then
        if rel ~= "" and rel ~= "." then
          local ok, why = manifest.path_ok(rel)
          if not ok then return nil, ("refusing %q: the path %s"):format(rel, why), "unsafe" end
        end
      elseif flag == "0" or flag == "\0" or flag == "7" then
        local ok, why = manifest.path_ok(rel)
        if not ok then return nil, ("refusing %q: the path %s"):format(rel, why), "unsafe" end
        if size > store.FILE_MAX then
          return nil, ("refusing %s: larger than %d bytes"):format(rel, store.FILE_MAX), "too_big"
        end
        count = count + 1
        if count > store.FILES_MAX then return nil, ("more than %d files"):format(store.FILES_MAX), "too_big" end
        -- tar keeps the last of two entries of one name: a reader of the
        -- first would review code that is not what installs
        if files[rel] then return nil, ("refusing %s: it is in the tarball twice"):format(rel), "unsafe" end
        files[rel] = data
      else
        local what = ({ ["1"] = "a hard link", ["2"] = "a symbolic link", ["3"] = "a device", ["4"] = "a device",
          ["6"] = "a FIFO" })[flag] or "not a plain file"
        return nil, ("refusing %s: %s"):format(rel, what), "unsafe"
      end
    end
  end
  return files
end

-- A tarball of one top folder (tar czf x.tar.gz x/) is that folder's files.
local function strip_top(files)
  local top
  for rel in pairs(files) do
    local first = rel:match("^([^/]+)/.")
    if not first or (top and top ~= first) then return files end
    top = first
  end
  if not top or files[manifest.FILE] then return files end
  local out = {}
  for rel, data in pairs(files) do out[rel:sub(#top + 2)] = data end
  return out
end

local function from_tarball(src)
  local bytes, err = fs.read(src.source, M.TARBALL_MAX)
  if not bytes then return nil, err, "io" end
  local r = proc.run({ "/bin/gzip", "-dc", "--", src.source }, { timeout = 60, max_output = M.TARBALL_MAX })
  local tar = r and r.code == 0 and r.stdout
  if not tar then
    return nil, ("%s: not a gzip file, or larger than %d bytes uncompressed"):format(src.source, M.TARBALL_MAX),
      "tarball"
  end
  local files, uerr, code = M.untar(tar)
  if not files then return nil, uerr, code end
  return { files = strip_top(files), tarball_sha256 = store.sha256(bytes) }
end

---------------------------------------------------------------------------
-- fetch
---------------------------------------------------------------------------

-- source.fetch(src, work) -> { files, commit | tarball_sha256 } | nil, message, code
-- work: a private folder for git's clone (removed by the caller)
function M.fetch(src, work)
  local got, err, code
  if src.kind == "git" then
    got, err, code = from_git(src, work)
  elseif src.kind == "tarball" then
    got, err, code = from_tarball(src)
  else
    local files
    files, err, code = store.walk(src.source, { skip_git = true })
    got = files and { files = files }
  end
  if not got then return nil, err, code end
  local ok, cerr, ccode = store.check_files(got.files)
  if not ok then return nil, cerr, ccode end
  return got
end

return M
