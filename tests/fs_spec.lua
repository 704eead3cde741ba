-- nt3.fs: secure file operations for the credential store
-- (docs/architecture.md, invariants 1, 2, 4). Every check runs against the real C binding, in this
-- process or in a child `nt3 run` started as a user would.
local fs = require "nt3.fs"
local sh = require "helpers.sh"
local child = require "helpers.fs_child"

-- Linux errno values the binding reports
local E = { NOENT = 2, EXIST = 17, NOTDIR = 20, ISDIR = 21, INVAL = 22, FBIG = 27, LOOP = 40, TIMEDOUT = 110 }

local function octal(s) return tonumber(s, 8) end

local function readlink(path)
  local p = io.popen("readlink " .. sh.quote(path))
  local s = p:read("l")
  p:close()
  return s
end

local function mkfifo(path)
  assert(os.execute("mkfifo " .. sh.quote(path)))
end

-- runs a Lua snippet in a child nt3; `...` inside it are the given args
local function run_lua(src, args, opts)
  local argv = { "run", sh.script(src) }
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  return sh.run(argv, opts)
end

local function listing(dir)
  return table.concat(assert(fs.dir(dir)), " ")
end

describe("nt3.fs", function()
  teardown(function() sh.cleanup() end)

  describe("write", function()
    it("creates the file with mode 0600 by default, and with exactly the mode asked, even under umask 000", function()
      local dir = sh.tmpdir()
      local out = run_lua([[
        local fs, dir = require "nt3.fs", ...
        assert(fs.write(dir .. "/default", "secret"))
        assert(fs.write(dir .. "/shared", "less secret", tonumber("640", 8)))
      ]], { dir }, { umask = "000" })
      assert.are.equal(0, out.code, out.stderr)
      assert.are.equal("600", sh.mode(dir .. "/default"))
      assert.are.equal("640", sh.mode(dir .. "/shared"))
      assert.are.equal("secret", sh.slurp(dir .. "/default"))
    end)

    it("gives the exact mode even when the umask would take bits away", function()
      local dir = sh.tmpdir()
      local out = run_lua([[
        local fs, dir = require "nt3.fs", ...
        assert(fs.write(dir .. "/f", "x", tonumber("644", 8)))
      ]], { dir }, { umask = "077" })
      assert.are.equal(0, out.code, out.stderr)
      assert.are.equal("644", sh.mode(dir .. "/f"))
    end)

    it("makes a rewritten file 0600 again, whatever mode the old one had", function()
      local dir = sh.tmpdir()
      local path = dir .. "/config.json"
      sh.spit(path, "{}")
      assert(fs.chmod(path, octal("666")))
      assert.is_true(fs.write(path, '{"token":"x"}'))
      assert.are.equal("600", sh.mode(path))
    end)

    it("replaces the file atomically: a new inode with the new content, no temp file left", function()
      local dir = sh.tmpdir()
      local path = dir .. "/config.json"
      assert(fs.write(path, "old content"))
      local before = fs.stat(path)
      local reader = assert(io.open(path, "rb"))

      assert.is_true(fs.write(path, "new content"))

      assert.are_not.equal(before.ino, fs.stat(path).ino)
      assert.are.equal("new content", sh.slurp(path))
      -- an open reader still sees the old file whole: it was replaced, not rewritten
      assert.are.equal("old content", reader:read("a"))
      reader:close()
      assert.are.equal("config.json", listing(dir))
    end)

    it("writes empty, binary and large data exactly", function()
      local dir = sh.tmpdir()
      local blob = {}
      for i = 0, 255 do blob[#blob + 1] = string.char(i) end
      local cases = { "", table.concat(blob), ("0123456789abcdef"):rep(300 * 1024 // 16) }
      for i, data in ipairs(cases) do
        local path = dir .. "/f" .. i
        assert.is_true(fs.write(path, data))
        assert.are.equal(data, sh.slurp(path))
      end
    end)

    it("writes relative to the current directory when the path has no slash", function()
      local dir = sh.tmpdir()
      local out = run_lua([[print(require("nt3.fs").write("plain.json", "x"))]], {}, { cwd = dir })
      assert.are.equal("true\n", out.stdout, out.stderr)
      assert.are.equal("x", sh.slurp(dir .. "/plain.json"))
      assert.are.equal("plain.json", listing(dir))
    end)

    it("writes a file whose name is as long as the system allows (its temp name is shortened)", function()
      local dir = sh.tmpdir()
      local name = ("n"):rep(255)
      assert.is_true(fs.write(dir .. "/" .. name, "x"))
      assert.are.equal("x", sh.slurp(dir .. "/" .. name))
      assert.are.equal(name, listing(dir))
    end)

    it("refuses a symlink at the path: neither the link nor the file it points to changes", function()
      local dir = sh.tmpdir()
      local victim = dir .. "/victim"
      sh.spit(victim, "precious")
      local link = dir .. "/config.json"
      assert(os.execute("ln -s " .. sh.quote(victim) .. " " .. sh.quote(link)))

      local ok, msg, code = fs.write(link, "attacker-chosen")

      assert.is_nil(ok)
      assert.are.equal(link .. ": not a regular file; refusing to write through it", msg)
      assert.are.equal(E.INVAL, code)
      assert.are.equal("link", fs.lstat(link).type)
      assert.are.equal(victim, readlink(link))
      assert.are.equal("precious", sh.slurp(victim))
      assert.are.equal("config.json victim", listing(dir))
    end)

    it("refuses a dangling symlink too, and creates nothing where it points", function()
      local dir = sh.tmpdir()
      local link = dir .. "/config.json"
      assert(os.execute("ln -s " .. sh.quote(dir .. "/elsewhere") .. " " .. sh.quote(link)))
      local ok, msg = fs.write(link, "x")
      assert.is_nil(ok)
      assert.matches("refusing to write through it", msg, 1, true)
      assert.are.equal("config.json", listing(dir))
    end)

    it("refuses a fifo (without blocking on it) and a character device, which output files write through", function()
      -- the device first: a write through the fifo would block, not fail
      local makers = {
        { "char", function(path) assert(os.execute("mknod " .. sh.quote(path) .. " c 1 3")) end }, -- as /dev/null
        { "fifo", mkfifo },
      }
      for _, m in ipairs(makers) do
        local kind, make = m[1], m[2]
        local dir = sh.tmpdir()
        local path = dir .. "/config.json"
        make(path)
        local ok, msg, code = fs.write(path, "x")
        assert.is_nil(ok)
        assert.are.equal(path .. ": not a regular file; refusing to write through it", msg)
        assert.are.equal(E.INVAL, code)
        assert.are.equal(kind, fs.lstat(path).type)
        assert.are.equal("config.json", listing(dir))
      end
    end)

    it("refuses a directory at the path and leaves it and its content alone", function()
      local dir = sh.tmpdir()
      local path = dir .. "/config.json"
      assert(fs.mkdir(path))
      sh.spit(path .. "/inside", "kept")
      local ok, msg = fs.write(path, "x")
      assert.is_nil(ok)
      assert.are.equal(path .. ": not a regular file; refusing to write through it", msg)
      assert.are.equal("directory", fs.lstat(path).type)
      assert.are.equal("kept", sh.slurp(path .. "/inside"))
      assert.are.equal("config.json", listing(dir))
    end)

    it("fails with nil, message, errno when the directory does not exist", function()
      local dir = sh.tmpdir()
      local ok, msg, code = fs.write(dir .. "/missing/config.json", "x")
      assert.is_nil(ok)
      assert.are.equal(dir .. "/missing/config.json: No such file or directory", msg)
      assert.are.equal(E.NOENT, code)
      assert.are.equal("", listing(dir))
    end)

    it("fails a path ending in a slash", function()
      local dir = sh.tmpdir()
      local ok, msg, code = fs.write(dir .. "/", "x")
      assert.is_nil(ok)
      assert.are.equal(dir .. "/: Is a directory", msg)
      assert.are.equal(E.ISDIR, code)
    end)

    it("leaves the target untouched and removes its temp file when writing fails midway", function()
      -- a file size limit makes write(2) stop short and then fail (EFBIG)
      -- after the temp file exists: the failure path under test. SIGXFSZ is
      -- ignored so the write returns an error instead of killing nt3.
      local dir = sh.tmpdir()
      local path = dir .. "/config.json"
      sh.spit(path, "old")
      local script = sh.script([[
        local fs, path = require "nt3.fs", ...
        print(fs.write(path, ("x"):rep(200 * 1024)))
      ]])
      local out = sh.run({ "-c", [[trap '' XFSZ; ulimit -f 1 && exec "$0" run "$1" "$2"]], sh.bin, script, path },
        { bin = "/bin/sh" })
      assert.are.equal(0, out.code, out.stderr)
      assert.are.equal(("nil\t%s: File too large\t%d\n"):format(path, E.FBIG), out.stdout)
      assert.are.equal("old", sh.slurp(path))
      assert.are.equal("config.json", listing(dir))
    end)

    it("survives kill -9 at any moment: the file is always the old or the new content, whole", function()
      local dir = sh.tmpdir()
      local path = dir .. "/config.json"
      local big = ("A"):rep(200 * 1024)
      local other = ("b"):rep(50 * 1024) .. "end"
      assert(fs.write(path, big))
      -- the writer flips the file between the two contents as fast as it
      -- can; it signals once its first write is done
      local writer = sh.script([[
        local fs, path, ready = require "nt3.fs", ...
        local big, other = ("A"):rep(200 * 1024), ("b"):rep(50 * 1024) .. "end"
        local nxt = fs.read(path) == big and other or big
        local signalled = false
        while true do
          assert(fs.write(path, nxt))
          if not signalled then
            io.open(ready, "w"):close()
            signalled = true
          end
          nxt = nxt == big and other or big
        end
      ]])
      local ready = dir .. "/ready"
      local seen = {}
      for i = 1, 40 do
        os.remove(ready)
        local delay = math.random() * 0.04
        assert.is_true(child.kill_at(writer, { path, ready }, ready, delay, { umask = "000" }),
          "writer never got going (iteration " .. i .. ")")
        local content = sh.slurp(path)
        assert.is_true(content == big or content == other,
          ("iteration %d: file is neither content (%d bytes)"):format(i, #content))
        seen[content] = true
        assert.are.equal("600", sh.mode(path))
      end
      -- the writer really was replacing the file when it was killed
      assert.is_true(seen[big] and seen[other], "the kills never landed between two different contents")
      -- a killed writer may leave its temp file; none was ever readable by
      -- others, though the child's umask was 000
      for _, name in ipairs(fs.dir(dir)) do
        if name ~= "config.json" and name ~= "ready" then
          assert.matches("^%.config%.json%.tmp%-%x+$", name)
          assert.are.equal("600", sh.mode(dir .. "/" .. name))
        end
      end
      assert.is_true(fs.write(path, "after the storm"))
      assert.are.equal("after the storm", sh.slurp(path))
    end)

    it("raises on wrong arguments", function()
      local dir = sh.tmpdir()
      local path = dir .. "/f"
      assert.has_error(function() fs.write(1) end)
      assert.has_error(function() fs.write(path) end)
      assert.has_error(function() fs.write(path, {}) end)
      assert.error_matches(function() fs.write(path, "x", "600") end, "integer mode expected, got string", 1, true)
      assert.has_error(function() fs.write(path, "x", -1) end)
      assert.has_error(function() fs.write(path, "x", octal("10000")) end)
      assert.has_error(function() fs.write(path, "x", 384.5) end)
      assert.error_matches(function() fs.write(path .. "\0.evil", "x") end, "path contains a zero byte", 1, true)
      assert.are.equal("", listing(dir))
    end)
  end)

  describe("remove", function()
    it("removes a file", function()
      local dir = sh.tmpdir()
      sh.spit(dir .. "/f", "x")
      assert.is_true(fs.remove(dir .. "/f"))
      assert.are.equal("", listing(dir))
    end)

    it("removes a symlink, not the file it points to", function()
      local dir = sh.tmpdir()
      sh.spit(dir .. "/target", "kept")
      assert(os.execute("ln -s target " .. sh.quote(dir .. "/link")))
      assert.is_true(fs.remove(dir .. "/link"))
      assert.are.equal("target", listing(dir))
      assert.are.equal("kept", sh.slurp(dir .. "/target"))
    end)

    it("fails on a missing file and on a directory, with nil, message, errno", function()
      local dir = sh.tmpdir()
      local ok, msg, code = fs.remove(dir .. "/missing")
      assert.is_nil(ok)
      assert.are.equal(dir .. "/missing: No such file or directory", msg)
      assert.are.equal(E.NOENT, code)

      assert(fs.mkdir(dir .. "/sub"))
      ok, msg, code = fs.remove(dir .. "/sub")
      assert.is_nil(ok)
      assert.are.equal(dir .. "/sub: Is a directory", msg)
      assert.are.equal(E.ISDIR, code)
      assert.are.equal("directory", fs.stat(dir .. "/sub").type)
    end)

    it("raises on a non-string path", function()
      assert.has_error(function() fs.remove() end)
      assert.has_error(function() fs.remove({}) end)
    end)
  end)

  describe("mkdir", function()
    it("creates a directory with mode 0700 by default, even under umask 000", function()
      local dir = sh.tmpdir()
      local out = run_lua([[assert(require("nt3.fs").mkdir((...) .. "/.nt3"))]], { dir }, { umask = "000" })
      assert.are.equal(0, out.code, out.stderr)
      assert.are.equal("700", sh.mode(dir .. "/.nt3"))
      assert.are.equal("directory", fs.lstat(dir .. "/.nt3").type)
    end)

    it("creates exactly the mode asked, even when the umask would narrow it", function()
      local dir = sh.tmpdir()
      local out = run_lua([[assert(require("nt3.fs").mkdir((...) .. "/d", tonumber("750", 8)))]], { dir }, { umask = "077" })
      assert.are.equal(0, out.code, out.stderr)
      assert.are.equal("750", sh.mode(dir .. "/d"))
    end)

    it("succeeds on an existing directory (or a link to one) without touching its mode", function()
      local dir = sh.tmpdir()
      local d = dir .. "/d"
      assert(os.execute("mkdir -m 755 " .. sh.quote(d)))
      assert(os.execute("ln -s d " .. sh.quote(dir .. "/link")))
      assert.is_true(fs.mkdir(d))
      assert.is_true(fs.mkdir(dir .. "/link"))
      assert.are.equal("755", sh.mode(d))
    end)

    it("fails when a file is in the way, and is not recursive", function()
      local dir = sh.tmpdir()
      sh.spit(dir .. "/file", "x")
      local ok, msg, code = fs.mkdir(dir .. "/file")
      assert.is_nil(ok)
      assert.are.equal(dir .. "/file: File exists", msg)
      assert.are.equal(E.EXIST, code)

      ok, msg, code = fs.mkdir(dir .. "/a/b")
      assert.is_nil(ok)
      assert.are.equal(dir .. "/a/b: No such file or directory", msg)
      assert.are.equal(E.NOENT, code)
      assert.are.equal("file", listing(dir))
    end)

    it("never changes the mode of what the new directory was swapped for meanwhile", function()
      -- A shim run in the child stands in for someone who can write to the
      -- parent: right after mkdir(2) it puts a symlink where the new
      -- directory was. Setting the mode asked for must not follow it.
      local dir = sh.tmpdir()
      sh.spit(dir .. "/swap.c", [[
        #define _GNU_SOURCE
        #include <dlfcn.h>
        #include <stdlib.h>
        #include <string.h>
        #include <sys/stat.h>
        #include <unistd.h>
        static int swap(int r, const char *path) {
          const char *at = getenv("SWAP_AT");
          if (r == 0 && at && strcmp(path, at) == 0) {
            rmdir(path);
            symlink(getenv("SWAP_TO"), path);
          }
          return r;
        }
        int mkdir(const char *path, mode_t mode) {
          int (*real)(const char *, mode_t);
          *(void **)&real = dlsym(RTLD_NEXT, "mkdir");
          return swap(real(path, mode), path);
        }
        /* whichever call makes the directory: mkdirat(AT_FDCWD, path) too */
        int mkdirat(int fd, const char *path, mode_t mode) {
          int (*real)(int, const char *, mode_t);
          *(void **)&real = dlsym(RTLD_NEXT, "mkdirat");
          return swap(real(fd, path, mode), path);
        }
      ]])
      local cmd = ("cc -shared -fPIC -o %s %s -ldl 2>&1")
        :format(sh.quote(dir .. "/swap.so"), sh.quote(dir .. "/swap.c"))
      assert.is_true(os.execute(cmd), "cc could not build the shim")
      local victim = dir .. "/victim"
      sh.spit(victim, "secret")
      assert(fs.chmod(victim, octal("600")))
      local asan = os.getenv("ASAN_OPTIONS")
      local out = run_lua([[print(require("nt3.fs").mkdir((...), tonumber("755", 8)))]], { dir .. "/d" }, {
        umask = "077",
        env = {
          LD_PRELOAD = dir .. "/swap.so", SWAP_AT = dir .. "/d", SWAP_TO = victim,
          ASAN_OPTIONS = (asan and asan .. ":" or "") .. "verify_asan_link_order=0",
        },
      })
      assert.are.equal(0, out.code, out.stderr)
      assert.are.equal("link", fs.lstat(dir .. "/d").type) -- the shim did swap it
      assert.are.equal("600", sh.mode(victim))
      assert.matches("^nil\t", out.stdout)
    end)

    it("raises on a bad mode", function()
      local dir = sh.tmpdir()
      assert.has_error(function() fs.mkdir(dir .. "/d", "700") end)
      assert.has_error(function() fs.mkdir(dir .. "/d", octal("17777")) end)
      assert.are.equal("", listing(dir))
    end)
  end)

  describe("chmod", function()
    it("sets the mode exactly", function()
      local dir = sh.tmpdir()
      sh.spit(dir .. "/f", "x")
      assert.is_true(fs.chmod(dir .. "/f", octal("604")))
      assert.are.equal("604", sh.mode(dir .. "/f"))
      assert.are.equal(octal("604"), fs.stat(dir .. "/f").mode)
    end)

    it("fails on a missing file with nil, message, errno, and raises without a mode", function()
      local dir = sh.tmpdir()
      local ok, msg, code = fs.chmod(dir .. "/missing", octal("600"))
      assert.is_nil(ok)
      assert.are.equal(dir .. "/missing: No such file or directory", msg)
      assert.are.equal(E.NOENT, code)
      assert.has_error(function() fs.chmod(dir) end)
    end)
  end)

  describe("stat's mtime_ns", function()
    it("is the nanoseconds of the modification time, as touch -d sets them, for stat and lstat", function()
      local dir = sh.tmpdir()
      local path = dir .. "/f"
      sh.spit(path, "x")
      assert.is_true(os.execute("touch -d '2001-01-01 00:00:00.123456789 UTC' " .. sh.quote(path)))
      assert.is_true(os.execute("ln -s f " .. sh.quote(dir .. "/link")))
      local st = fs.stat(dir .. "/link")
      assert.are.equal(978307200, st.mtime)
      assert.are.equal(123456789, st.mtime_ns)
      assert.are.equal(123456789, fs.lstat(path).mtime_ns)
      assert.is_true(math.type(fs.lstat(dir .. "/link").mtime_ns) == "integer")
    end)
  end)

  describe("touch", function()
    it("sets the times to now in place: the same file, bytes and mode", function()
      local dir = sh.tmpdir()
      local path = dir .. "/entry"
      assert(fs.write(path, "the body", octal("600")))
      assert.is_true(os.execute("touch -d '2001-01-01' " .. sh.quote(path)))
      local before = fs.lstat(path)
      assert.is_true(fs.touch(path))
      local after = fs.lstat(path)
      assert.are.equal(before.ino, after.ino)
      assert.are.equal(octal("600"), after.mode)
      assert.are.equal("the body", sh.slurp(path))
      assert.is_true(after.mtime >= os.time() - 60)
    end)

    it("touches a symbolic link itself, never the file it names", function()
      local dir = sh.tmpdir()
      sh.spit(dir .. "/target", "x")
      assert.is_true(os.execute("touch -d '2001-01-01' " .. sh.quote(dir .. "/target")))
      assert.is_true(os.execute("ln -s target " .. sh.quote(dir .. "/link")))
      local old = fs.stat(dir .. "/target").mtime
      assert.is_true(fs.touch(dir .. "/link"))
      assert.are.equal(old, fs.stat(dir .. "/target").mtime)
      assert.is_true(fs.lstat(dir .. "/link").mtime >= os.time() - 60)
    end)

    it("reports a missing file with errno and creates nothing", function()
      local dir = sh.tmpdir()
      local ok, msg, code = fs.touch(dir .. "/missing")
      assert.is_nil(ok)
      assert.are.equal(E.NOENT, code)
      assert.matches("missing", msg, 1, true)
      assert.is_nil(fs.lstat(dir .. "/missing"))
    end)
  end)

  describe("lock", function()
    local try_lock = [[
      local l, msg, code = require("nt3.fs").lock(..., 0.3)
      if l then print("locked") else print(msg, code) end
    ]]

    it("excludes another process until it is unlocked", function()
      local dir = sh.tmpdir()
      local l = assert(fs.lock(dir))
      local out = run_lua(try_lock, { dir })
      assert.are.equal(("%s: timed out waiting for a lock\t%d\n"):format(dir, E.TIMEDOUT), out.stdout, out.stderr)

      assert.is_true(l:unlock())
      out = run_lua(try_lock, { dir })
      assert.are.equal("locked\n", out.stdout, out.stderr)
    end)

    it("is released at the end of a <close> scope", function()
      local dir = sh.tmpdir()
      do
        local l <close> = assert(fs.lock(dir))
        assert.are.equal("nt3.fs.lock (held)", tostring(l))
        local out = run_lua(try_lock, { dir })
        assert.matches("timed out waiting for a lock", out.stdout, 1, true)
      end
      local out = run_lua(try_lock, { dir })
      assert.are.equal("locked\n", out.stdout, out.stderr)
    end)

    it("held by another process makes us time out, and is free once that process exits", function()
      local dir = sh.tmpdir()
      local target = dir .. "/config.json"
      sh.spit(target, "{}")
      -- the holder never unlocks: os.exit without closing the state, so only
      -- the process ending releases the lock
      local holder = sh.script([[
        local fs, target, held, release = require "nt3.fs", ...
        local system = require "system"
        local l = assert(fs.lock(target))
        io.open(held, "w"):close()
        local deadline = system.monotime() + 60
        while not io.open(release) and system.monotime() < deadline do system.sleep(0.005) end
        os.exit(0, false)
      ]])
      local held, release = dir .. "/held", dir .. "/release"
      child.start(holder, { target, held, release })
      assert.is_true(child.wait_for(held), "the holder never took the lock")

      local l, msg, code = fs.lock(target, 0.3)
      assert.is_nil(l)
      assert.are.equal(target .. ": timed out waiting for a lock", msg)
      assert.are.equal(E.TIMEDOUT, code)

      child.touch(release)
      l = assert(fs.lock(target, child.PATIENCE))
      l:unlock()
    end)

    it("serialises read-modify-write across processes: no update is lost", function()
      local dir = sh.tmpdir()
      local counter = dir .. "/counter"
      assert(fs.write(counter, "0"))
      local incrementer = sh.script([[
        local fs, dir, counter, n, done = require "nt3.fs", ...
        for _ = 1, tonumber(n) do
          local l <close> = assert(fs.lock(dir, 60))
          local v = assert(tonumber(assert(fs.read(counter))))
          assert(fs.write(counter, tostring(v + 1)))
        end
        io.open(done, "w"):close()
      ]])
      local workers, rounds = 4, 10
      for i = 1, workers do child.start(incrementer, { dir, counter, tostring(rounds), dir .. "/done" .. i }) end
      for i = 1, workers do
        assert.is_true(child.wait_for(dir .. "/done" .. i), "worker " .. i .. " did not finish")
      end
      assert.are.equal(tostring(workers * rounds), sh.slurp(counter))
    end)

    it("with timeout 0 tries exactly once", function()
      local dir = sh.tmpdir()
      local l = assert(fs.lock(dir, 0))
      local out = run_lua([[print(require("nt3.fs").lock(..., 0))]], { dir })
      assert.are.equal(("nil\t%s: timed out waiting for a lock\t%d\n"):format(dir, E.TIMEDOUT), out.stdout, out.stderr)
      l:unlock()
    end)

    it("unlocks idempotently", function()
      local dir = sh.tmpdir()
      local l = assert(fs.lock(dir))
      assert.is_true(l:unlock())
      assert.is_true(l:unlock())
      assert.are.equal("nt3.fs.lock (released)", tostring(l))
      local again = assert(fs.lock(dir, 0))
      again:unlock()
    end)

    it("creates nothing: a missing path is an error", function()
      local dir = sh.tmpdir()
      local l, msg, code = fs.lock(dir .. "/missing")
      assert.is_nil(l)
      assert.are.equal(dir .. "/missing: No such file or directory", msg)
      assert.are.equal(E.NOENT, code)
      assert.are.equal("", listing(dir))
    end)

    it("follows a symlink to a directory (a linked-in ~/.nt3) and locks the directory itself", function()
      local dir = sh.tmpdir()
      assert(os.execute("mkdir " .. sh.quote(dir .. "/real") .. " && ln -s real " .. sh.quote(dir .. "/link")))
      local l = assert(fs.lock(dir .. "/link"))
      -- another process locking the real directory must wait for us
      local r = sh.run({ "run", sh.script(("print(require('nt3.fs').lock(%q, 0.3))"):format(dir .. "/real")) })
      assert.matches("timed out", r.stdout)
      l:unlock()
      assert.are.equal("", (listing(dir .. "/real")))
    end)

    it("refuses a fifo", function()
      local dir = sh.tmpdir()
      mkfifo(dir .. "/fifo")
      local l, msg, code = fs.lock(dir .. "/fifo")
      assert.is_nil(l)
      assert.are.equal(dir .. "/fifo: not a file or directory; cannot lock it", msg)
      assert.are.equal(E.INVAL, code)
    end)

    it("raises on a bad timeout", function()
      local dir = sh.tmpdir()
      assert.has_error(function() fs.lock(dir, -1) end)
      assert.has_error(function() fs.lock(dir, 0 / 0) end)
      assert.has_error(function() fs.lock(dir, "soon") end)
      assert.has_error(function() fs.lock() end)
      -- and nothing was left locked by the failed calls
      local l = assert(fs.lock(dir, 0))
      l:unlock()
    end)
  end)

  describe("read", function()
    it("returns the whole content of a regular file", function()
      local dir = sh.tmpdir()
      local data = ("line\n"):rep(10000) .. "\0tail"
      sh.spit(dir .. "/f", data)
      assert.are.equal(data, fs.read(dir .. "/f"))
    end)

    it("refuses more than max_bytes with nil, message, EFBIG, and allows exactly max_bytes", function()
      local dir = sh.tmpdir()
      sh.spit(dir .. "/f", "0123456789")
      assert.are.equal("0123456789", fs.read(dir .. "/f", 10))
      local s, msg, code = fs.read(dir .. "/f", 9)
      assert.is_nil(s)
      assert.are.equal(dir .. "/f: file too large (more than 9 bytes)", msg)
      assert.are.equal(E.FBIG, code)
    end)

    it("caps at 1 MiB by default", function()
      local dir = sh.tmpdir()
      sh.spit(dir .. "/exact", ("x"):rep(1024 * 1024))
      sh.spit(dir .. "/over", ("x"):rep(1024 * 1024 + 1))
      assert.are.equal(1024 * 1024, #fs.read(dir .. "/exact"))
      local s, msg = fs.read(dir .. "/over")
      assert.is_nil(s)
      assert.are.equal(dir .. "/over: file too large (more than 1048576 bytes)", msg)
    end)

    it("enforces the cap on what it reads, not on the size the file claims", function()
      -- procfs files report size 0 whatever they hold
      assert.are.equal(0, fs.stat("/proc/self/maps").size)
      local s, msg, code = fs.read("/proc/self/maps", 16)
      assert.is_nil(s)
      assert.are.equal("/proc/self/maps: file too large (more than 16 bytes)", msg)
      assert.are.equal(E.FBIG, code)
    end)

    it("refuses a directory, a fifo (without blocking) and a device", function()
      local dir = sh.tmpdir()
      mkfifo(dir .. "/fifo")
      for _, path in ipairs({ dir, dir .. "/fifo", "/dev/zero" }) do
        local s, msg, code = fs.read(path)
        assert.is_nil(s)
        assert.are.equal(path .. ": not a regular file", msg)
        assert.are.equal(E.INVAL, code)
      end
    end)

    it("returns nil, message, errno (a number) for a missing file", function()
      local dir = sh.tmpdir()
      local s, msg, code = fs.read(dir .. "/missing")
      assert.is_nil(s)
      assert.are.equal(dir .. "/missing: No such file or directory", msg)
      assert.are.equal("integer", math.type(code))
      assert.are.equal(E.NOENT, code)
    end)

    it("raises on wrong arguments", function()
      assert.has_error(function() fs.read() end)
      assert.has_error(function() fs.read("/etc/hostname", -1) end)
      assert.has_error(function() fs.read("/etc/hostname", "lots") end)
    end)
  end)

  describe("stat and lstat", function()
    it("describe a file, and tell a link from what it points to", function()
      local dir = sh.tmpdir()
      sh.spit(dir .. "/f", "12345")
      assert(fs.chmod(dir .. "/f", octal("640")))
      assert(os.execute("ln -s f " .. sh.quote(dir .. "/link")))
      local st = fs.stat(dir .. "/link")
      assert.are.equal("file", st.type)
      assert.are.equal(5, st.size)
      assert.are.equal(octal("640"), st.mode)
      assert.are.equal(1, st.nlink)
      assert.are.equal(fs.stat(dir .. "/f").ino, st.ino)
      assert.are.equal("link", fs.lstat(dir .. "/link").type)
      assert.are.equal("directory", fs.stat(dir).type)
      assert.are.equal("char", fs.stat("/dev/null").type)
    end)

    it("return nil, message, errno for a missing path", function()
      local st, msg, code = fs.stat("/nonexistent/x")
      assert.is_nil(st)
      assert.are.equal("/nonexistent/x: No such file or directory", msg)
      assert.are.equal(E.NOENT, code)
    end)
  end)

  describe("dir", function()
    it("lists the names sorted, hidden ones included, without . and ..", function()
      local dir = sh.tmpdir()
      for _, n in ipairs({ "b", ".hidden", "a", "C", "sub" }) do sh.spit(dir .. "/" .. n, "") end
      assert.are.same({ ".hidden", "C", "a", "b", "sub" }, fs.dir(dir))
    end)

    it("lists a large directory whole", function()
      local dir = sh.tmpdir()
      assert(os.execute("cd " .. sh.quote(dir) .. " && touch $(seq -f 'n%04g' 1 300)"))
      local names = fs.dir(dir)
      assert.are.equal(300, #names)
      assert.are.equal("n0001", names[1])
      assert.are.equal("n0300", names[300])
    end)

    it("returns nil, message, errno for a missing path or a file", function()
      local dir = sh.tmpdir()
      local t, msg, code = fs.dir(dir .. "/missing")
      assert.is_nil(t)
      assert.are.equal(dir .. "/missing: No such file or directory", msg)
      assert.are.equal(E.NOENT, code)
      sh.spit(dir .. "/f", "")
      t, msg, code = fs.dir(dir .. "/f")
      assert.is_nil(t)
      assert.are.equal(dir .. "/f: Not a directory", msg)
      assert.are.equal(E.NOTDIR, code)
    end)
  end)

  describe("expand", function()
    local show = [[
      local fs = require "nt3.fs"
      for _, p in ipairs({ ... }) do print((fs.expand(p))) end
    ]]

    it("replaces ~ and ~/ with $HOME and leaves other paths alone", function()
      local out = run_lua(show, { "~", "~/.nt3/config.json", "/etc/x", "rel/~/x", "./~" }, { env = { HOME = "/home/tester" } })
      assert.are.equal(table.concat({ "/home/tester", "/home/tester/.nt3/config.json", "/etc/x", "rel/~/x", "./~", "" }, "\n"), out.stdout)
    end)

    it("does not double a slash when HOME ends in one", function()
      local out = run_lua(show, { "~/x", "~" }, { env = { HOME = "/" } })
      assert.are.equal("/x\n/\n", out.stdout)
      out = run_lua(show, { "~/x" }, { env = { HOME = "/home/tester/" } })
      assert.are.equal("/home/tester/x\n", out.stdout)
    end)

    it("falls back to the password database when HOME is unset", function()
      local out = run_lua(show, { "~/x" }, { env = { HOME = false } })
      assert.are.equal(0, out.code, out.stderr)
      assert.matches("^/.*/x\n$", out.stdout)
    end)

    it("refuses ~user with nil and a message", function()
      local p, msg = fs.expand("~root/x")
      assert.is_nil(p)
      assert.are.equal("~root/x: ~user paths are not supported; write the full path", msg)
    end)

    it("raises on a non-string", function()
      assert.has_error(function() fs.expand() end)
      assert.has_error(function() fs.expand({}) end)
    end)
  end)
end)
