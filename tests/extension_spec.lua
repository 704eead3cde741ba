-- nt3 extension (alias ext): installing from real git repositories
-- (file:// and a loopback HTTPS server), folders and tarballs; the lock
-- and what it verifies; upgrade, remove, create, the team lock; hostile
-- sources; kill -9 at each stage of a change; two installs at once.
local ext = require "helpers.ext"
local job = require "helpers.job"
local json = require "nt3.json"
local pty = require "helpers.pty"
local sh = require "helpers.sh"

-- python3 itself, not a version manager's shim (seconds on a loaded machine)
local PYTHON = io.open("/usr/bin/python3") and "/usr/bin/python3" or "python3"

local function nt3(home, args, opts)
  opts = opts or {}
  return sh.run(args, { home = home, cwd = opts.cwd, env = opts.env })
end

local function lines(s)
  local out = {}
  for l in s:gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end

local function ext_dir(home, name) return home .. "/.nt3/extensions/" .. (name or "") end

-- nothing of the extension in home: no folder, no lock entry
local function nothing_installed(home, name)
  local lock = ext.lock(home)
  assert.is_nil(lock and lock.extensions[name])
  assert.is_nil(sh.slurp(ext_dir(home, name) .. "/nt3-extension.json"))
  assert.are.equal("", ext.capture("ls -A " .. sh.quote(ext_dir(home)) .. " 2>/dev/null | grep staging"))
end

teardown(sh.cleanup)

describe("nt3 ext install", function()
  it("copies a folder's plain files into ~/.nt3/extensions/<name>/ (0700, 0600) and locks each file's sha256 and the tree's", function()
    local src = ext.tree(ext.files("hello", { extra = { ["lib/util.lua"] = "return 1\n" } }))
    local home = ext.home()
    local r = nt3(home, { "ext", "install", src, "--yes" })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("installed hello 1.0.0 (1 command: hello)\n", r.stdout)
    assert.are.equal(table.concat({
      "700 d ",
      "700 d commands",
      "600 f commands/hello.lua",
      "700 d lib",
      "600 f lib/util.lua",
      "600 f nt3-extension.json",
    }, "\n") .. "\n", ext.listing(ext_dir(home, "hello")))
    local e = ext.lock(home).extensions.hello
    assert.are.equal(src, e.source)
    assert.are.equal("directory", e.kind)
    assert.are.equal(ext.capture("sha256sum " .. sh.quote(src .. "/lib/util.lua")):match("^%x+"), e.files["lib/util.lua"])
    assert.are.equal(ext.tree_hash(ext_dir(home, "hello")), e.tree)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", e.installed)
    assert.are.equal("600", sh.mode(home .. "/.nt3/extensions.lock"))
  end)

  it("installs a git repository at a tag over file://, locking the commit the tag names", function()
    local repo = ext.repo(ext.files("hello"))
    repo.tag("v1")
    repo.commit({ ["README.md"] = "later\n" })
    local home = ext.home()
    local r = nt3(home, { "ext", "install", repo.url .. "@v1", "--yes" })
    assert.are.equal(0, r.code, r.stderr)
    local e = ext.lock(home).extensions.hello
    assert.are.equal(repo.url, e.source)
    assert.are.equal("v1", e.ref)
    assert.are.equal(repo.first, e.commit)
    assert.is_nil(e.files["README.md"])
  end)

  it("installs over HTTPS from a loopback git server (git http-backend), the CA given by GIT_SSL_CAINFO", function()
    local repo = ext.repo(ext.files("hello"))
    local srv = ext.https({ hello = repo })
    local home = ext.home()
    local r = nt3(home, { "ext", "install", srv.url("hello"), "--yes" }, { env = { GIT_SSL_CAINFO = srv.cafile } })
    local untrusted = nt3(ext.home(), { "ext", "install", srv.url("hello"), "--yes" }, { env = { GIT_SSL_CAINFO = false } })
    srv.stop()
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal(repo.first, ext.lock(home).extensions.hello.commit)
    -- the server gone: an upgrade fails in one line and changes nothing
    local lock_before = sh.slurp(home .. "/.nt3/extensions.lock")
    local files_before = ext.listing(ext_dir(home, "hello")) .. ext.tree_hash(ext_dir(home, "hello"))
    local down = nt3(home, { "ext", "upgrade", "hello" }, { env = { GIT_SSL_CAINFO = srv.cafile } })
    assert.are.equal(1, down.code)
    assert.matches("^nt3: git clone: [^\n]*\n$", down.stderr)
    assert.are.equal(lock_before, sh.slurp(home .. "/.nt3/extensions.lock"))
    assert.are.equal(files_before, ext.listing(ext_dir(home, "hello")) .. ext.tree_hash(ext_dir(home, "hello")))
    assert.are.equal("", ext.capture("ls -A " .. sh.quote(ext_dir(home)) .. " | grep staging"))
    -- a certificate nobody trusts is a failure, one line, nothing installed
    assert.are.equal(1, untrusted.code)
    assert.matches("^[^\n]*nt3: git clone: [^\n]*\n$", untrusted.stderr:gsub("^.-\n(nt3:)", "%1"))
  end)

  it("installs a .tar.gz, locking the tarball's sha256", function()
    local src = ext.tree(ext.files("hello"), sh.tmpdir() .. "/hello")
    local tgz = sh.tmpdir() .. "/hello.tar.gz"
    ext.sh(("tar -C %s -czf %s hello"):format(sh.quote(src:match("^(.*)/hello$")), sh.quote(tgz)))
    local home = ext.home()
    local r = nt3(home, { "ext", "install", tgz, "--yes" })
    assert.are.equal(0, r.code, r.stderr)
    local e = ext.lock(home).extensions.hello
    assert.are.equal(ext.capture("sha256sum " .. sh.quote(tgz)):match("^%x+"), e.tarball_sha256)
    assert.truthy(e.files["commands/hello.lua"])
  end)

  it("shows the permissions in words and, with no terminal and no --yes, refuses in one line", function()
    local src = ext.tree(ext.files("report", { permissions = { api = "read", fs = { write = json.array { "./out" } } } }))
    local home = ext.home()
    local r = nt3(home, { "ext", "install", src })
    assert.are.equal(1, r.code)
    assert.are.equal(("Extension report 1.0.0 from %s asks to:\n"
      .. "  - read your nt3 API data (GET, HEAD, OPTIONS)\n"
      .. "  - write files under ./out\n"
      .. "nt3: no terminal to ask on: run it again with --yes to agree\n"):format(src), r.stderr)
    nothing_installed(home, "report")
  end)

  it("asks on the terminal, and installs only on yes (no and Ctrl-C leave nothing)", function()
    local src = ext.tree(ext.files("hello", { permissions = { env = json.array { "LANG" } } }))
    local home = ext.home()
    local no = pty.run({ "ext", "install", src }, { home = home, steps = {
      { expect = "read the environment variable LANG" }, { expect = "Install it? [y/N] " }, { send = "n\r" } } })
    assert.are.equal(1, no.code, no.output)
    nothing_installed(home, "hello")
    local cut = pty.run({ "ext", "install", src }, { home = home, steps = {
      { expect = "Install it? [y/N] " }, { send = "\3" } } })
    assert.are.equal(130, cut.code, cut.output)
    nothing_installed(home, "hello")
    local yes = pty.run({ "ext", "install", src }, { home = home, steps = {
      { expect = "Install it? [y/N] " }, { send = "y\r" } } })
    assert.are.equal(0, yes.code, yes.output)
    assert.truthy(ext.lock(home).extensions.hello)
  end)

  it("refuses a command name that would shadow a built-in, a user command or another extension's, naming both", function()
    local home = ext.home()
    local status = nt3(home, { "ext", "install", ext.tree(ext.files("tools", { command = "status" })), "--yes" })
    assert.are.equal(1, status.code)
    assert.are.equal("nt3: extension tools: its command status would shadow the built-in command status\n", status.stderr)
    local alias = nt3(home, { "ext", "install", ext.tree(ext.files("tools", { command = "auth" })), "--yes" })
    assert.matches("its command auth would shadow the built%-in command login\n$", alias.stderr)
    ext.tree({ ["mine.lua"] = ext.command("mine") }, home .. "/.nt3/commands")
    local user = nt3(home, { "ext", "install", ext.tree(ext.files("tools", { command = "mine" })), "--yes" })
    assert.are.equal("nt3: extension tools: its command mine would shadow the user command ~/.nt3/commands/mine.lua\n",
      user.stderr)
    assert.are.equal(0, nt3(home, { "ext", "install", ext.tree(ext.files("first", { command = "deploy" })), "--yes" }).code)
    local other = nt3(home, { "ext", "install", ext.tree(ext.files("second", { command = "deploy" })), "--yes" })
    assert.are.equal(1, other.code)
    assert.are.equal("nt3: extension second: its command deploy clashes with the command deploy of extension first\n",
      other.stderr)
    nothing_installed(home, "tools")
    nothing_installed(home, "second")
  end)
end)

describe("a manifest", function()
  local function refused(manifest_text, extra)
    local files = ext.files("bad")
    files["nt3-extension.json"] = manifest_text
    for k, v in pairs(extra or {}) do files[k] = v end
    local home = ext.home()
    local r = nt3(home, { "ext", "install", ext.tree(files), "--yes" })
    assert.are.equal(1, r.code)
    assert.are.equal(1, #lines(r.stderr), r.stderr)
    nothing_installed(home, "bad")
    return r.stderr
  end

  it("that is not JSON is refused in one line naming the file", function()
    assert.matches("^nt3: nt3%-extension%.json: is not valid JSON", refused("{ name: "))
  end)

  it("naming a file outside the tree (../../.nt3/config.json) is refused, naming the field", function()
    local m = ext.manifest { name = "bad", commands = json.array { { name = "bad", summary = "x",
      file = "../../.nt3/config.json" } } }
    assert.are.equal("nt3: nt3-extension.json: field 'commands[1].file' names a path outside the extension's files"
      .. " (it leaves the extension's folder or is not plain)\n", refused(m))
  end)

  it("asking for an unknown permission is refused, naming the field", function()
    assert.are.equal("nt3: nt3-extension.json: field 'permissions.network' is not a permission nt3 knows"
      .. " (api, http, fs, env, proc, prompt, memory)\n", refused(ext.manifest { name = "bad", permissions = { network = true } }))
  end)

  it("with a wrongly shaped permission or a missing field is refused, naming the field", function()
    assert.matches("field 'permissions': permission 'http': \"ftp://x\" is not an origin",
      refused(ext.manifest { name = "bad", permissions = { http = json.array { "ftp://x" } } }))
    assert.matches("field 'permissions': permission 'api' must be",
      refused(ext.manifest { name = "bad", permissions = { api = "all" } }))
    assert.matches("field 'permissions.env' must be a list",
      refused(ext.manifest { name = "bad", permissions = { env = "HOME" } }))
    assert.matches("field 'version' is missing", refused(ext.manifest { name = "bad", raw = { version = 3 } }))
    -- a C1 control (CSI, U+009B) as well as a C0 one: the version is printed as it is
    for _, v in ipairs { "1.0\194\155", "1.0\27[2J", "1 0", "", ("1"):rep(65) } do
      assert.matches("field 'version' is missing or not a version", refused(ext.manifest { name = "bad", raw = { version = v } }))
    end
    assert.matches("field 'commands%[1%]%.file' names commands/gone%.lua, which is not a file of the extension",
      refused(ext.manifest { name = "bad", commands = json.array { { name = "bad", summary = "x", file = "commands/gone.lua" } } }))
  end)
end)

describe("a hostile source", function()
  local function hostile_repo(setup)
    local repo = ext.repo(ext.files("evil"))
    setup(repo)
    return repo
  end

  local function install_refused(home, url, pattern)
    local r = nt3(home, { "ext", "install", url, "--yes" })
    assert.are.equal(1, r.code, r.stdout)
    assert.matches(pattern, r.stderr)
    nothing_installed(home, "evil")
  end

  it("with a symlink out of the tree is refused, nothing written", function()
    local repo = hostile_repo(function(repo)
      ext.sh("ln -s ../../.nt3/config.json " .. sh.quote(repo.dir .. "/commands/link.lua"))
      repo.commit()
    end)
    install_refused(ext.home(), repo.url, "refusing commands/link%.lua: a symbolic link")
  end)

  it("with a submodule is refused", function()
    local sub = ext.repo({ ["x.lua"] = "return 1\n" })
    local repo = hostile_repo(function(repo)
      ext.sh(ext.git .. " -C " .. sh.quote(repo.dir) .. " submodule add -q " .. sh.quote(sub.url) .. " vendor >/dev/null 2>&1")
      repo.commit()
    end)
    install_refused(ext.home(), repo.url, "refusing vendor: a submodule")
  end)

  it("with a huge file or a path holding a control character is refused", function()
    local repo = hostile_repo(function(repo)
      ext.sh("head -c 1100000 /dev/zero > " .. sh.quote(repo.dir .. "/big.bin"))
      repo.commit()
    end)
    install_refused(ext.home(), repo.url, "refusing big%.bin: larger than 1048576 bytes")
    local repo2 = hostile_repo(function(r2)
      sh.spit(r2.dir .. "/a\027]0;x\007.lua", "return 1\n")
      r2.commit()
    end)
    install_refused(ext.home(), repo2.url, "the path holds a control character")
  end)

  it("never runs a hook or a configured program: not its .git/hooks, not the user's hooksPath or fsmonitor", function()
    local repo = ext.repo(ext.files("evil"))
    local marks = sh.tmpdir()
    local hook = ("#!/bin/sh\ntouch %s/$(basename $0)\n"):format(marks)
    local hooks = sh.tmpdir()
    for _, name in ipairs({ "post-checkout", "post-merge", "reference-transaction", "fsmonitor" }) do
      sh.spit(repo.dir .. "/.git/hooks/" .. name, hook)
      sh.spit(hooks .. "/" .. name, hook)
    end
    ext.sh("chmod +x " .. sh.quote(repo.dir) .. "/.git/hooks/* " .. sh.quote(hooks) .. "/*")
    local home = ext.home()
    sh.spit(home .. "/.gitconfig", ("[core]\n\thooksPath = %s\n\tfsmonitor = %s/fsmonitor\n"):format(hooks, hooks))
    local r = nt3(home, { "ext", "install", repo.url, "--yes" }, { env = { XDG_CONFIG_HOME = false } })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("", ext.capture("ls -A " .. sh.quote(marks)))
  end)

  it("as a tarball with a link, an absolute path or a .. path is refused, nothing written", function()
    local dir = sh.tmpdir()
    local py = [[
import io, sys, tarfile
kind, out = sys.argv[1], sys.argv[2]
with tarfile.open(out, "w:gz") as t:
    def add(name, data=b"x", type=tarfile.REGTYPE, link=""):
        i = tarfile.TarInfo(name); i.type = type; i.linkname = link; i.size = len(data) if type == tarfile.REGTYPE else 0
        t.addfile(i, io.BytesIO(data) if type == tarfile.REGTYPE else None)
    add("nt3-extension.json", sys.argv[3].encode())
    add("commands/evil.lua", b"return {}")
    if kind == "symlink": add("commands/l.lua", type=tarfile.SYMTYPE, link="/etc/passwd")
    if kind == "hardlink": add("commands/h.lua", type=tarfile.LNKTYPE, link="/etc/passwd")
    if kind == "absolute": add("/tmp/evil-absolute.lua")
    if kind == "dotdot": add("../../evil-dotdot.lua")
    if kind == "twice": add("commands/evil.lua", b"return { second = true }")
]]
    sh.spit(dir .. "/mk.py", py)
    for kind, pattern in pairs({ symlink = "a symbolic link", hardlink = "a hard link", absolute = "is absolute",
        dotdot = "leaves the extension's folder", twice = "refusing commands/evil%.lua: it is in the tarball twice" }) do
      local tgz = dir .. "/" .. kind .. ".tar.gz"
      ext.sh(("%s %s %s %s %s"):format(PYTHON, sh.quote(dir .. "/mk.py"), kind, sh.quote(tgz), sh.quote(ext.manifest { name = "evil" })))
      local home = ext.home()
      install_refused(home, tgz, pattern)
    end
    assert.is_nil(sh.slurp("/tmp/evil-absolute.lua"))
  end)
end)

describe("the lock", function()
  it("refuses to run a tampered, added or missing file, and nt3 ext verify says which", function()
    local home = ext.home()
    assert.are.equal(0, nt3(home, { "ext", "install", ext.tree(ext.files("hello")), "--yes" }).code)
    assert.are.equal("hello: ok\n", nt3(home, { "ext", "verify" }).stdout)
    local file = ext_dir(home, "hello") .. "/commands/hello.lua"
    sh.spit(file, ext.command("hello", 'print("changed")'))
    local run = nt3(home, { "hello" })
    assert.are.equal(1, run.code)
    assert.are.equal("nt3: extension hello: commands/hello.lua was changed (refusing to run it; see nt3 ext verify)\n",
      run.stderr)
    sh.spit(ext_dir(home, "hello") .. "/extra.lua", "return 1\n")
    os.remove(ext_dir(home, "hello") .. "/nt3-extension.json")
    local v = nt3(home, { "ext", "verify", "hello" })
    assert.are.equal(1, v.code)
    assert.are.equal("nt3: hello: commands/hello.lua was changed\nnt3: hello: extra.lua was added\n"
      .. "nt3: hello: nt3-extension.json is missing\n", v.stderr)
    assert.matches("hello 1%.0%.0 .* MODIFIED\n", nt3(home, { "ext", "list" }).stdout)
  end)

  it("keeps the old commit when a tag moves upstream, and outdated notices without changing anything", function()
    local repo = ext.repo(ext.files("hello"))
    repo.tag("v1")
    local home = ext.home()
    assert.are.equal(0, nt3(home, { "ext", "install", repo.url .. "@v1", "--yes" }).code)
    local before = sh.slurp(home .. "/.nt3/extensions.lock")
    local moved = repo.commit(ext.files("hello", { body = 'print("moved")' }))
    repo.tag("v1")
    assert.are.equal("hello: ok\n", nt3(home, { "ext", "verify" }).stdout)
    local o = nt3(home, { "ext", "outdated" })
    assert.are.equal(0, o.code, o.stderr)
    assert.are.equal(("hello  1.0.0  installed %s, v1 now %s\n"):format(repo.first:sub(1, 12), moved:sub(1, 12)), o.stdout)
    assert.are.equal(before, sh.slurp(home .. "/.nt3/extensions.lock"))
  end)
end)

describe("nt3 ext upgrade", function()
  it("installs what the ref names now, and --pin goes back to an older tag", function()
    local repo = ext.repo(ext.files("hello"))
    repo.tag("v1")
    local home = ext.home()
    assert.are.equal(0, nt3(home, { "ext", "install", repo.url, "--yes" }).code)
    local second = repo.commit(ext.files("hello", { version = "2.0.0", body = 'print("two")' }))
    local up = nt3(home, { "ext", "upgrade", "hello" })
    assert.are.equal(0, up.code, up.stderr)
    assert.are.equal(("upgraded hello 1.0.0 -> 2.0.0 (%s)\n"):format(second:sub(1, 12)), up.stdout)
    assert.matches('"two"', sh.slurp(ext_dir(home, "hello") .. "/commands/hello.lua"))
    local down = nt3(home, { "ext", "upgrade", "hello", "--pin", "v1" })
    assert.are.equal(0, down.code, down.stderr)
    local e = ext.lock(home).extensions.hello
    assert.are.equal(repo.first, e.commit)
    assert.are.equal("v1", e.ref)
    assert.are.equal(ext.tree_hash(ext_dir(home, "hello")), e.tree)
    assert.matches("up to date", nt3(home, { "ext", "upgrade", "--all" }).stdout)
  end)

  it("asks again when the new version asks for more permissions, and leaves everything as it was on no", function()
    local repo = ext.repo(ext.files("hello", { permissions = { api = "read" } }))
    local home = ext.home()
    assert.are.equal(0, nt3(home, { "ext", "install", repo.url, "--yes" }).code)
    local lock_before = sh.slurp(home .. "/.nt3/extensions.lock")
    local files_before = ext.listing(ext_dir(home, "hello")) .. ext.tree_hash(ext_dir(home, "hello"))
    repo.commit(ext.files("hello", { version = "2.0.0", permissions = { api = "write", env = json.array { "HOME" } } }))
    local r = nt3(home, { "ext", "upgrade", "hello" })
    assert.are.equal(1, r.code)
    assert.are.equal("Extension hello 2.0.0 now also asks to:\n"
      .. "  - read and change your nt3 API data (GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE)\n"
      .. "  - read the environment variable HOME\n"
      .. "nt3: no terminal to ask on: run it again with --yes to agree\n", r.stderr)
    assert.are.equal(lock_before, sh.slurp(home .. "/.nt3/extensions.lock"))
    assert.are.equal(files_before, ext.listing(ext_dir(home, "hello")) .. ext.tree_hash(ext_dir(home, "hello")))
    local asked = pty.run({ "ext", "upgrade", "hello" }, { home = home, steps = {
      { expect = "now also asks to:" }, { expect = "Upgrade it? [y/N] " }, { send = "y\r" } } })
    assert.are.equal(0, asked.code, asked.output)
    assert.are.equal("write", ext.lock(home).extensions.hello.permissions.api)
  end)

  it("does not ask when the new version asks for the same or fewer permissions", function()
    local repo = ext.repo(ext.files("hello", { permissions = { api = "write", env = json.array { "HOME" } } }))
    local home = ext.home()
    assert.are.equal(0, nt3(home, { "ext", "install", repo.url, "--yes" }).code)
    repo.commit(ext.files("hello", { version = "2.0.0", permissions = { api = "read" } }))
    local r = nt3(home, { "ext", "upgrade", "hello" })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("", r.stderr)
    assert.are.equal("read", ext.lock(home).extensions.hello.permissions.api)
  end)
end)

describe("nt3 ext remove, list and create", function()
  it("removes the folder and the lock entry, and only those", function()
    local home = ext.home()
    assert.are.equal(0, nt3(home, { "ext", "install", ext.tree(ext.files("one")), "--yes" }).code)
    assert.are.equal(0, nt3(home, { "ext", "install", ext.tree(ext.files("two")), "--yes" }).code)
    local r = nt3(home, { "ext", "remove", "one" })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("removed one\n", r.stdout)
    nothing_installed(home, "one")
    assert.truthy(ext.lock(home).extensions.two)
    assert.are.equal("nt3: extension one is not installed\n", nt3(home, { "ext", "remove", "one" }).stderr)
  end)

  it("lists name, version, commit, source, permissions and whether the files verify, also as JSON", function()
    local repo = ext.repo(ext.files("hello", { permissions = { api = "read" } }))
    local home = ext.home()
    assert.are.equal(0, nt3(home, { "ext", "install", repo.url, "--yes" }).code)
    local text = nt3(home, { "ext", "list" }).stdout
    assert.are.equal(("hello 1.0.0  %s  %s  verified\n  commands: hello\n  may read your nt3 API data (GET, HEAD, OPTIONS)\n")
      :format(repo.first:sub(1, 12), repo.url), text)
    local list = json.decode(nt3(home, { "ext", "list", "--json" }).stdout)
    assert.are.equal("hello", list[1].name)
    assert.are.equal(repo.first, list[1].commit)
    assert.are.equal("read", list[1].permissions.api)
    assert.is_true(list[1].verified)
  end)

  it("creates a skeleton that installs as generated and whose spec passes", function()
    local cwd, home = sh.tmpdir(), ext.home()
    local c = nt3(home, { "ext", "create", "greet" }, { cwd = cwd })
    assert.are.equal(0, c.code, c.stderr)
    -- its spec uses nt3.testing and passes as generated, from its folder
    -- and from above it
    local spec = nt3(home, { "test" }, { cwd = cwd .. "/greet" })
    assert.are.equal(0, spec.code, spec.stdout .. spec.stderr)
    assert.matches("3 successes / 0 failures / 0 errors", spec.stdout)
    local above = nt3(home, { "test", "greet/spec" }, { cwd = cwd })
    assert.are.equal(0, above.code, above.stdout .. above.stderr)
    local i = nt3(home, { "ext", "install", "./greet", "--yes" }, { cwd = cwd })
    assert.are.equal(0, i.code, i.stderr)
    assert.matches("greet +Say hello to someone %[extension greet%]", nt3(home, { "help" }).stdout)
  end)
end)

describe("the team lock", function()
  local function team()
    local repo = ext.repo(ext.files("hello", { permissions = { api = "read" } }))
    local home = ext.home()
    assert.are.equal(0, nt3(home, { "ext", "install", repo.url, "--yes" }).code)
    local project = sh.tmpdir()
    local r = nt3(home, { "ext", "lock", "--file", project .. "/nt3-extensions.lock" })
    assert.are.equal(0, r.code, r.stderr)
    return repo, home, project
  end

  it("sync installs exactly the commits and hashes of the project's lock, asks once, and never rewrites it", function()
    local repo, _, project = team()
    repo.commit({ ["README.md"] = "newer\n" })
    local before = sh.slurp(project .. "/nt3-extensions.lock")
    local fresh = ext.home()
    local refused = nt3(fresh, { "ext", "sync" }, { cwd = project })
    assert.are.equal(1, refused.code)
    assert.matches("nt3%-extensions%.lock asks to install:\n  %- hello 1%.0%.0 from file://[^ ]+ %(%x+%): read your nt3 API data",
      refused.stderr)
    nothing_installed(fresh, "hello")
    local r = nt3(fresh, { "ext", "sync", "--yes" }, { cwd = project })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal(repo.first, ext.lock(fresh).extensions.hello.commit)
    assert.is_nil(ext.lock(fresh).extensions.hello.files["README.md"])
    assert.are.equal(before, sh.slurp(project .. "/nt3-extensions.lock"))
    assert.matches("everything in .* is installed", nt3(fresh, { "ext", "sync", "--file", project .. "/nt3-extensions.lock" }).stdout)
  end)

  it("sync holds a shared lock's source to the install's rules: no plain http, git:// or transport helper", function()
    local _, _, project = team()
    local path = project .. "/nt3-extensions.lock"
    local text = sh.slurp(path)
    local url = text:match('"source": "([^"]+)"')
    for _, bad in ipairs { "http://git.example.com/hello.git", "git://git.example.com/hello.git",
        "ext::sh -c touch /tmp/nt3-sync-ext-ran", "--upload-pack=touch /tmp/x" } do
      sh.spit(path, (text:gsub(url:gsub("%p", "%%%0"), (bad:gsub("%%", "%%%%")))))
      local fresh = ext.home()
      local r = nt3(fresh, { "ext", "sync", "--yes" }, { cwd = project })
      assert.are.equal(1, r.code, bad)
      assert.truthy(r.stderr:find("nt3-extensions.lock: hello: ", 1, true), r.stderr)
      nothing_installed(fresh, "hello")
    end
    assert.is_nil(sh.slurp("/tmp/nt3-sync-ext-ran"))
  end)

  it("sync refuses a lock with one hash changed, installing nothing", function()
    local _, _, project = team()
    local path = project .. "/nt3-extensions.lock"
    local text = sh.slurp(path)
    local h = text:match('"commands/hello.lua": "(%x+)"')
    local bad = text:gsub(h, ("0"):rep(64))
    sh.spit(path, bad)
    local fresh = ext.home()
    local r = nt3(fresh, { "ext", "sync", "--yes" }, { cwd = project })
    assert.are.equal(1, r.code)
    assert.are.equal("nt3: nt3-extensions.lock: hello: commands/hello.lua differs from the lock (refusing: nothing was"
      .. " installed)\n", r.stderr)
    nothing_installed(fresh, "hello")
    assert.are.equal(bad, sh.slurp(path))
  end)
end)

describe("a change cut short by kill -9", function()
  -- NT3_EXT_TEST_PAUSE=<stage> makes nt3 stop there (docs/extensions.md)
  local function killed_at(stage, home, args)
    local j = job.spawn(args, { home = home, env = { NT3_EXT_TEST_PAUSE = stage } })
    j.wait_for("paused at " .. stage)
    j.signal("KILL")
    j.finish(10)
  end

  -- the files are exactly the tree the lock names (so never a mix: the lock
  -- only ever named the old tree or the new), they verify, and no staging
  -- folder is left once the next run has looked
  local function consistent(home)
    local v = nt3(home, { "ext", "verify" })
    local lock = ext.lock(home)
    local e = lock and lock.extensions.hello
    if e then
      assert.are.equal("hello: ok\n", v.stdout, v.stderr)
      assert.are.equal(e.tree, ext.tree_hash(ext_dir(home, "hello")))
    else
      assert.is_nil(sh.slurp(ext_dir(home, "hello") .. "/nt3-extension.json"))
    end
    assert.are.equal("", ext.capture("ls -A " .. sh.quote(ext_dir(home)) .. " | grep staging"))
    return e
  end

  it("during an install leaves nothing or the whole extension, never a part", function()
    local src = ext.tree(ext.files("hello"))
    for _, stage in ipairs({ "staged", "intent", "locked", "moved" }) do
      local home = ext.home()
      killed_at(stage, home, { "ext", "install", src, "--yes" })
      local e = consistent(home)
      if stage == "staged" or stage == "intent" then
        assert.is_nil(e, stage)
      else
        assert.truthy(e, stage)
      end
    end
  end)

  it("during an upgrade leaves the old version or the new, never a mix", function()
    local repo = ext.repo(ext.files("hello"))
    repo.tag("start")
    local home = ext.home()
    assert.are.equal(0, nt3(home, { "ext", "install", repo.url .. "@start", "--yes" }).code)
    local old = ext.lock(home).extensions.hello.tree
    local new = repo.commit(ext.files("hello", { body = 'print("new")', extra = { ["new.lua"] = "return 2\n" } }))
    repo.tag("next")
    for _, stage in ipairs({ "staged", "intent", "locked", "moved" }) do
      killed_at(stage, home, { "ext", "upgrade", "hello", "--pin", "next" })
      local e = consistent(home)
      if stage == "staged" or stage == "intent" then
        assert.are.equal(old, e.tree, stage)
        assert.is_nil(sh.slurp(ext_dir(home, "hello") .. "/new.lua"), stage)
      else
        assert.are.equal(new, e.commit, stage)
        assert.truthy(sh.slurp(ext_dir(home, "hello") .. "/new.lua"), stage)
        -- back to the old one for the next stage
        assert.are.equal(0, nt3(home, { "ext", "upgrade", "hello", "--pin", "start" }).code)
      end
    end
  end)
end)

describe("two installs at once", function()
  it("are serialised: both end up in the lock", function()
    local home = ext.home()
    local a = job.spawn({ "ext", "install", ext.tree(ext.files("alpha")), "--yes" }, { home = home })
    local b = job.spawn({ "ext", "install", ext.tree(ext.files("beta")), "--yes" }, { home = home })
    local ra, rb = a.finish(30), b.finish(30)
    assert.are.equal(0, ra.code, ra.stderr)
    assert.are.equal(0, rb.code, rb.stderr)
    local lock = ext.lock(home)
    assert.truthy(lock.extensions.alpha)
    assert.truthy(lock.extensions.beta)
    assert.are.equal("alpha: ok\nbeta: ok\n", nt3(home, { "ext", "verify" }).stdout)
  end)
end)

describe("help, completion and status", function()
  local home
  setup(function()
    home = ext.home()
    assert.are.equal(0, nt3(home, { "ext", "install", ext.tree(ext.files("hello", { command = "greet" })), "--yes" }).code)
  end)

  local TRACE_ENV = require("helpers.auth_util").traced

  local function traced(args, in_home)
    local log = sh.tmpdir() .. "/trace"
    local wrapper = sh.tmpdir() .. "/nt3-traced"
    sh.spit(wrapper, "#!/bin/sh\nexec strace -f -qq -o " .. sh.quote(log) .. " -e trace=%file " .. sh.quote(sh.bin) .. ' "$@"\n')
    ext.sh("chmod +x " .. sh.quote(wrapper))
    local r = sh.run(args, { home = in_home or home, env = TRACE_ENV(), bin = wrapper })
    return r, sh.slurp(log) or ""
  end

  it("nt3 help lists extension commands marked [extension <name>], reading the lock and no extension file", function()
    local r, trace = traced({ "help" })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("\n  greet +Say hello %[extension hello%]\n", r.stdout)
    assert.matches("extensions%.lock", trace)
    assert.is_nil(trace:find(".nt3/extensions/", 1, true), "help opened an extension file")
  end)

  it("nt3 help reads the lock's index, not the lock, and each install and remove keeps the index the lock's", function()
    local h = ext.home()
    assert.are.equal(0, nt3(h, { "ext", "install", ext.tree(ext.files("hello", { command = "greet" })), "--yes" }).code)
    assert.are.equal(0, nt3(h, { "ext", "install", ext.tree(ext.files("bye", { command = "wave" })), "--yes" }).code)
    assert.are.equal(0, nt3(h, { "ext", "remove", "hello", "--yes" }).code)
    local st = assert(require("nt3.fs").stat(h .. "/.nt3/extensions.index"))
    assert.are.equal(384, st.mode)
    local r, trace = traced({ "help" }, h)
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("\n  wave +Say hello %[extension bye%]\n", r.stdout)
    assert.is_nil(r.stdout:find("greet", 1, true), "a removed extension is still listed")
    assert.matches('open[^\n]*extensions%.index"', trace)
    assert.is_nil(trace:find('open[^\n]*extensions%.lock"'), "help opened the lock though its index is the lock's")
  end)

  it("never uses an index that is not the lock's: a lock edited by hand, a stale or torn index", function()
    local h = ext.home()
    assert.are.equal(0, nt3(h, { "ext", "install", ext.tree(ext.files("hello", { command = "greet" })), "--yes" }).code)
    local index_path, lock_path = h .. "/.nt3/extensions.index", h .. "/.nt3/extensions.lock"
    local index = assert(sh.slurp(index_path))
    -- a command added to the lock by hand (rewritten in place: the same inode)
    local lock = ext.lock(h)
    lock.extensions.hello.commands[2] = { name = "hi", summary = "Say hi", file = "commands/greet.lua" }
    local f = assert(io.open(lock_path, "w"))
    f:write(json.encode(lock))
    f:close()
    local r = nt3(h, { "help" })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("\n  hi +Say hi %[extension hello%]\n", r.stdout)
    -- an index naming another lock (a change cut short): its command is not shown
    sh.spit(index_path, index:gsub("\ngreet\t", "\nghost\t"))
    r = nt3(h, { "help" })
    assert.is_nil(r.stdout:find("ghost", 1, true), "a stale index was used")
    assert.matches("\n  greet +Say hello", r.stdout)
    -- the lock's stamp but cut short, or garbage: the lock is read instead, with no warning
    local fs = require "nt3.fs"
    local head = ("nt3 extensions index 1\t%s\n"):format(require("nt3.ext.lock").stamp(fs.stat(lock_path)))
    for _, body in ipairs { head .. "ghost\tBoo\thello", head .. "ghost\tBoo\n", head .. "../x\tBoo\thello\t/src\n" } do
      sh.spit(index_path, body)
      r = nt3(h, { "help" })
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("", r.stderr)
      assert.is_nil(r.stdout:find("ghost", 1, true), body)
      assert.is_nil(r.stdout:find("../x", 1, true), body)
      assert.matches("\n  greet +Say hello", r.stdout)
    end
    -- and the lock's stamp with a row of its own is what help shows: the
    -- stamp, not the rows, is what ties the index to the lock
    sh.spit(index_path, head .. "greet\tSay hello\thello\t/src\nhi\tFrom the index\thello\t/src\n")
    assert.matches("\n  hi +From the index %[extension hello%]\n", nt3(h, { "help" }).stdout)
  end)

  it("never puts a control byte of a summary on the terminal, from the index or a lock edited by hand", function()
    local h = ext.home()
    assert.are.equal(0, nt3(h, { "ext", "install", ext.tree(ext.files("hello", { command = "greet" })), "--yes" }).code)
    local index_path = h .. "/.nt3/extensions.index"
    sh.spit(index_path, (assert(sh.slurp(index_path)):gsub("\tSay hello\t", "\tSay %%1B]0;pwned%%07hello\t")))
    local r = nt3(h, { "help" })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("\n  greet +Say .*hello %[extension hello%]\n", r.stdout)
    assert.is_nil(r.stdout:find("[\27\7]"), "a control byte reached the terminal")
    local lock = ext.lock(h)
    lock.extensions.hello.commands[1].summary = "Say \27[2Jhello"
    sh.spit(h .. "/.nt3/extensions.lock", json.encode(lock))
    for _, args in ipairs { { "help" }, { "help", "greet" }, { "help", "--man" } } do
      r = nt3(h, args)
      assert.are.equal(0, r.code, r.stderr)
      assert.matches("Say .*hello", r.stdout)
      assert.is_nil(r.stdout:find("\27[2J", 1, true), table.concat(args, " ") .. ": a control byte reached the terminal")
    end
  end)

  it("installs though the index cannot be written, and help then reads the lock", function()
    local h = ext.home()
    os.execute("mkdir -p -m 700 " .. sh.quote(h .. "/.nt3/extensions.index"))
    local r = nt3(h, { "ext", "install", ext.tree(ext.files("hello", { command = "greet" })), "--yes" })
    assert.are.equal(0, r.code, r.stderr)
    assert.truthy(ext.lock(h).extensions.hello)
    r = nt3(h, { "help" })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("\n  greet +Say hello %[extension hello%]\n", r.stdout)
  end)

  it("keeps any summary and source through the index: %, tabs and new lines are escaped", function()
    local lock_file = require "nt3.ext.lock"
    local dir = sh.tmpdir()
    sh.spit(dir .. "/extensions.lock", "{}")
    local st = require("nt3.fs").stat(dir .. "/extensions.lock")
    local lock = { version = 1, extensions = {
      b = { source = "/src/a\tb\nc%41", commands = { { name = "two", summary = "100% sure %41" } } },
      a = { source = "https://example.com/x.git", commands = { { name = "one", summary = "One" },
        { name = "zero", summary = "\27[31mred" } } },
    } }
    sh.spit(dir .. "/extensions.index", lock_file.index_text(lock, st))
    assert.are.same({
      { "one", "One", "a", "https://example.com/x.git" },
      { "two", "100% sure %41", "b", "/src/a\tb\nc%41" },
      { "zero", "\27[31mred", "a", "https://example.com/x.git" },
    }, lock_file.indexed(dir, st))
  end)

  it("nt3 status reads no extension file, not even the lock", function()
    local r, trace = traced({ "status" })
    assert.are.equal(4, r.code, r.stderr)
    assert.is_nil(trace:find("extensions", 1, true), "status touched an extension file")
  end)

  it("completion offers the extension's command, and the man page lists it", function()
    local r = nt3(home, { "completion", "bash" })
    assert.are.equal(0, r.code)
    assert.truthy(r.stdout:find("greet", 1, true))
    local man = nt3(home, { "help", "--man" }).stdout
    assert.matches("%.SH EXTENSIONS\n.-%.B nt3 greet\nSay hello %[extension hello%]", man)
  end)
end)

describe("an extension's command", function()
  local body = [[
    local env = require "nt3.env"
    local function try(name)
      local ok, v = pcall(env.get, name)
      if ok then return "value " .. tostring(v) end
      return "denied " .. tostring(type(v) == "table" and v.message or v)
    end
    print("granted: " .. try("NT3_SPEC_GRANTED"))
    print("secret: " .. try("NT3_SPEC_SECRET"))]]
  local vars = { NT3_SPEC_GRANTED = "yes", NT3_SPEC_SECRET = "no" }

  it("runs in the sandbox with the lock's permissions: allowed what was granted, denied what was not", function()
    local home = ext.home()
    local src = ext.tree(ext.files("hello", { permissions = { env = json.array { "NT3_SPEC_GRANTED" } }, body = body }))
    assert.are.equal(0, nt3(home, { "ext", "install", src, "--yes" }).code)
    local r = nt3(home, { "hello" }, { env = vars })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("^granted: value yes\nsecret: denied permission denied: [^\n]*NT3_SPEC_SECRET[^\n]*%(not granted: env%)\n$",
      r.stdout)
  end)

  it("gets only what the lock granted, not what its command file declares", function()
    local home = ext.home()
    local files = ext.files("hello")
    files["commands/hello.lua"] = ext.command("hello", body):gsub("run = function",
      'permissions = { env = { "NT3_SPEC_GRANTED", "NT3_SPEC_SECRET" } },\n  run = function', 1)
    assert.are.equal(0, nt3(home, { "ext", "install", ext.tree(files), "--yes" }).code)
    local r = nt3(home, { "hello" }, { env = vars })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("^granted: denied permission denied: [^\n]*\nsecret: denied permission denied: ", r.stdout)
  end)
end)

describe("git, run for an install", function()
  it("never waits at a password prompt: a repository behind a password fails in one line, even at a terminal", function()
    local srv = ext.https({ hello = ext.repo(ext.files("hello")) })
    local home = ext.home()
    -- on a terminal (the controlling one git would prompt on), with --yes
    local r = pty.run({ "ext", "install", srv.url("hello", "private"), "--yes" },
      { home = home, env = { GIT_SSL_CAINFO = srv.cafile }, timeout = 30, allow_error = true })
    srv.stop()
    assert.is_nil(r.error, r.output)
    assert.are.equal(1, r.code, r.output)
    -- one line of error, and no prompt was ever shown on the terminal
    assert.matches("^nt3: git clone: [^\r\n]+\r\n$", r.output)
    nothing_installed(home, "hello")
  end)

  it("is stopped after NT3_GIT_TIMEOUT seconds when the server never answers, and a bad value is refused", function()
    local srv = ext.https({ hello = ext.repo(ext.files("hello")) })
    local home = ext.home()
    local r = nt3(home, { "ext", "install", srv.url("hello", "stall"), "--yes" },
      { env = { GIT_SSL_CAINFO = srv.cafile, NT3_GIT_TIMEOUT = "1" } })
    local bad = nt3(home, { "ext", "install", srv.url("hello"), "--yes" },
      { env = { GIT_SSL_CAINFO = srv.cafile, NT3_GIT_TIMEOUT = "soon" } })
    srv.stop()
    assert.are.equal(1, r.code, r.stderr)
    assert.are.equal("nt3: git clone did not finish within 1 seconds\n", r.stderr)
    nothing_installed(home, "hello")
    assert.are.equal(1, bad.code, bad.stderr)
    assert.are.equal('nt3: NT3_GIT_TIMEOUT must be whole seconds from 1 to 3600 (it is "soon")\n', bad.stderr)
    nothing_installed(home, "hello")
  end)
end)
