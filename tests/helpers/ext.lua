-- Test helpers for extensions: real git repositories made with the system
-- git, a manifest's text, and a loopback HTTPS git server (git
-- http-backend behind tests/helpers/git_https.py, with the throwaway
-- certificate of the TLS helpers).
local json = require "nt3.json"
local server = require "helpers.server"
local sh = require "helpers.sh"

local M = {}

local function run(cmd)
  local ok = os.execute(cmd)
  assert(ok, "command failed: " .. cmd)
end
M.sh = run

local function capture(cmd)
  local p = io.popen(cmd)
  local out = p:read("a")
  p:close()
  return out
end
M.capture = capture

-- git as the specs run it: no configuration of the machine or the user
local GIT = "env GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null git -c user.name=spec -c user.email=spec@test"
  .. " -c init.defaultBranch=main -c protocol.file.allow=always"
M.git = GIT

-- ext.manifest(t) -> the text of an nt3-extension.json: t's fields over a
-- working default (one command <name>, file commands/<name>.lua)
function M.manifest(t)
  t = t or {}
  local name = t.name or "hello"
  local m = {
    name = name,
    version = t.version or "1.0.0",
    description = "a spec's extension",
    commands = t.commands or json.array { { name = t.command or name, summary = "Say hello",
      file = "commands/" .. (t.command or name) .. ".lua" } },
    permissions = t.permissions or {},
  }
  if t.raw then for k, v in pairs(t.raw) do m[k] = v end end
  return assert(json.encode(m))
end

function M.command(name, body)
  return ([[
return {
  name = %q,
  summary = "Say hello",
  run = function(opts, ctx)
    %s
    return 0
  end,
}
]]):format(name, body or 'print("hello from ' .. name .. '")')
end

-- ext.tree(files[, dir]) -> dir holding files { [rel] = text }
function M.tree(files, dir)
  dir = dir or sh.tmpdir()
  for rel, text in pairs(files) do
    local path = dir .. "/" .. rel
    local parent = path:match("^(.*)/[^/]*$")
    run("mkdir -p " .. sh.quote(parent))
    sh.spit(path, text)
  end
  return dir
end

-- ext.files(name, t) -> the files of a working extension
function M.files(name, t)
  t = t or {}
  local command = t.command or name
  local files = { ["nt3-extension.json"] = M.manifest { name = name, command = command, version = t.version,
    permissions = t.permissions } }
  files["commands/" .. command .. ".lua"] = M.command(command, t.body)
  for k, v in pairs(t.extra or {}) do files[k] = v end
  return files
end

-- ext.repo(files) -> repo { dir, url (file://), commit(files, message, tag) -> sha, tag(name[, sha]) }
function M.repo(files)
  local dir = sh.tmpdir() .. "/repo"
  run("mkdir -p " .. sh.quote(dir) .. " && " .. GIT .. " -C " .. sh.quote(dir) .. " init -q")
  local repo = { dir = dir, url = "file://" .. dir }
  function repo.git(args) return capture(GIT .. " -C " .. sh.quote(dir) .. " " .. args .. " 2>&1") end
  function repo.commit(more, message)
    M.tree(more or {}, dir)
    run(GIT .. " -C " .. sh.quote(dir) .. " add -A && " .. GIT .. " -C " .. sh.quote(dir)
      .. " commit -q --allow-empty -m " .. sh.quote(message or "change"))
    return (repo.git("rev-parse HEAD"):match("%x+"))
  end
  function repo.tag(name, sha) run(GIT .. " -C " .. sh.quote(dir) .. " tag -f " .. name .. " " .. (sha or "HEAD") .. " >/dev/null") end
  repo.first = repo.commit(files, "first")
  return repo
end

-- ext.https(repos) -> srv { url(repo [, prefix]) -> https URL, cafile, stop() }:
-- the repositories (ext.repo results) served read-only over HTTPS on
-- 127.0.0.1; a URL under prefix "private" asks for a password (401), one
-- under "stall" is never answered
function M.https(repos)
  local root = sh.tmpdir()
  for name, repo in pairs(repos) do
    run(GIT .. " clone -q --bare " .. sh.quote(repo.dir) .. " " .. sh.quote(root .. "/" .. name .. ".git"))
  end
  local c = server.certificate()
  local dir = sh.tmpdir()
  local ready, log = dir .. "/ready.json", dir .. "/server.log"
  local python = io.open("/usr/bin/python3") and "/usr/bin/python3" or "python3"
  run((python .. " %s --root %s --cert %s --key %s --ready %s </dev/null >%s 2>&1 &"):format(
    sh.quote(sh.src .. "/tests/helpers/git_https.py"), sh.quote(root), sh.quote(c.cert), sh.quote(c.key),
    sh.quote(ready), sh.quote(log)))
  local port, pid
  for _ = 1, 400 do
    local text = sh.slurp(ready)
    if text then
      port, pid = text:match('"port":%s*(%d+)'), text:match('"pid":%s*(%d+)')
      if port then break end
    end
    sh.sleep(0.05)
  end
  assert(port, "the git HTTPS server did not start: " .. (sh.slurp(log) or ""))
  return {
    cafile = c.cert,
    url = function(name, prefix)
      return ("https://127.0.0.1:%s/%s%s.git"):format(port, prefix and prefix .. "/" or "", name)
    end,
    stop = function()
      os.execute("kill " .. pid .. " 2>/dev/null")
      -- bounded wait until it is gone (not a zombie holding the port)
      for _ = 1, 200 do
        local stat = sh.slurp("/proc/" .. pid .. "/stat")
        if not stat or stat:match("%) Z") then break end
        sh.sleep(0.05)
      end
    end,
  }
end

-- ext.home() -> a throw-away HOME with ~/.nt3 (0700)
function M.home()
  local home = sh.tmpdir()
  run("mkdir -p " .. sh.quote(home .. "/.nt3") .. " && chmod 700 " .. sh.quote(home .. "/.nt3"))
  return home
end

-- ext.lock(home) -> the decoded ~/.nt3/extensions.lock, or nil
function M.lock(home)
  local text = sh.slurp(home .. "/.nt3/extensions.lock")
  return text and assert(json.decode(text))
end

-- ext.tree_hash(dir) -> what docs/extensions.md says the tree hash is,
-- computed with coreutils
function M.tree_hash(dir)
  return capture("cd " .. sh.quote(dir) .. " && find . -type f -printf '%P\\n' | LC_ALL=C sort"
    .. " | xargs -d '\\n' sha256sum | sha256sum"):match("^(%x+)")
end

-- ext.listing(dir) -> "mode path" lines of everything under dir, sorted
function M.listing(dir)
  return capture("cd " .. sh.quote(dir) .. " 2>/dev/null && find . -printf '%m %y %P\\n' | LC_ALL=C sort -k3")
end

return M
