-- User commands are loaded only from what nobody else can change, and a
-- swap between the check and the load never runs another user's code: the
-- attack the red team reproduced, with a second process renaming
-- directories in a loop while nt3 runs the user command again and again.
local sh = require "helpers.sh"
local uc = require "helpers.usercmd"
local child = require "helpers.fs_child"

-- how long nt3 runs the command while the directories are swapped
local ATTACK_SECONDS = 2.5

local GOOD = uc.command { name = "hello", body = [[print("good ran")]] }
local EVIL = uc.command { name = "hello", body = [[print("EVIL RAN")]] }

-- The second process: swaps directories a and b (renameat2 with
-- RENAME_EXCHANGE, so the path always names one of them; three plain
-- renames where the file system cannot) until the file stop exists, or a
-- minute has passed should the spec have died. It creates ready once it
-- has started.
local SWAPPER = [[
import ctypes, os, sys, time
a, b, ready, stop = sys.argv[1:5]
aside = os.path.join(os.path.dirname(a), ".aside")
libc = ctypes.CDLL(None, use_errno=True)
def exchange():
    return libc.renameat2(-100, a.encode(), -100, b.encode(), 2) == 0
atomic = exchange() and exchange()
open(ready, "w").close()
deadline = time.monotonic() + 60
while not os.path.exists(stop) and time.monotonic() < deadline:
    for _ in range(256):
        if not atomic:
            os.rename(a, aside); os.rename(b, a); os.rename(aside, b)
        else:
            exchange()
]]

-- `nt3 run` this: runs `nt3 hello` in this process again and again for
-- the given seconds (a process each time would give the swap a hundred
-- chances, not tens of thousands), then prints how often.
local DRIVER = [[
local cli = require "nt3.cli"
local seconds, runs, t0 = tonumber(arg[1]), 0, os.clock()
repeat
  cli.main({ "hello" })
  runs = runs + 1
until os.clock() - t0 >= seconds
print("runs " .. runs)
]]

-- Runs `nt3 hello` with env for ATTACK_SECONDS while a second process
-- swaps the directories a and b. -> { runs, good, evil, stdout, stderr }
local function attack(a, b, env)
  local d = sh.tmpdir()
  local swapper, ready, stop = d .. "/swap.py", d .. "/ready", d .. "/stop"
  sh.spit(swapper, SWAPPER)
  local p = assert(io.popen(("python3 %s %s %s %s %s </dev/null >/dev/null 2>&1 & echo $!")
    :format(sh.quote(swapper), sh.quote(a), sh.quote(b), sh.quote(ready), sh.quote(stop))))
  local pid = assert(tonumber(p:read("l")))
  p:close()
  local started = child.wait_for(ready)
  local out = started and sh.run({ "run", sh.script(DRIVER), tostring(ATTACK_SECONDS) }, { env = env })
  child.touch(stop)
  os.execute("while kill -0 " .. pid .. " 2>/dev/null; do sleep 0.01; done")
  assert(started, "the swapper did not start")
  out.runs = tonumber(out.stdout:match("runs (%d+)\n$"))
  assert(out.runs, out.stderr)
  return out
end

local function count(text, plain)
  local n, at = 0, 1
  while true do
    local s, e = text:find(plain, at, true)
    if not s then return n end
    n, at = n + 1, e + 1
  end
end

-- parent/<name>: a directory holding hello.lua, owned by uid 65534 (the
-- suite runs as root, as CI does: chown makes them someone else's)
local function attackers(parent, name, file_dir)
  local dir = parent .. "/" .. name
  uc.dir({ ["hello.lua"] = EVIL }, dir .. (file_dir or ""))
  os.execute("chown -R 65534 " .. sh.quote(dir))
  return dir
end

describe("user command trust", function()
  teardown(sh.cleanup)

  it("never runs another user's code swapped in, by renames above the home directory, between check and load", function()
    -- parent is writable by everyone, as /home may be on a badly set-up
    -- machine: what is above HOME is not checked (as OpenSSH does), so
    -- the swap itself must not get anything past the check
    local parent = sh.tmpdir()
    uc.chmod("777", parent)
    local home = parent .. "/home"
    uc.dir({}, home)
    uc.chmod("700", home)
    uc.dir({}, home .. "/.nt3")
    uc.dir({ ["hello.lua"] = GOOD }, home .. "/.nt3/commands")
    attackers(parent, "theirs", "/.nt3/commands")
    local out = attack(home, parent .. "/theirs", { HOME = home })
    local summary = ("%d runs, %d good\n%s"):format(out.runs, count(out.stdout, "good ran"), out.stderr:sub(1, 2000))
    assert.are.equal(0, count(out.stdout, "EVIL RAN"), summary)
    -- the runs were real: with the swap going on, the user's own command
    -- still ran whenever the path was theirs throughout
    assert.truthy(count(out.stdout, "good ran") > 0, summary)
    -- and every other run said why it ran nothing
    for line in out.stderr:gmatch("[^\n]+") do
      assert.truthy(line:find(" is owned by another user (uid 65534)", 1, true)
        or line:find('nt3: unknown command "hello"', 1, true)
        or line:find("No such file or directory", 1, true)
        or line:find(" is writable by group or others (mode 777)", 1, true), line)
    end
  end)

  it("refuses a commands directory below one that others can rename entries in, and never runs their code", function()
    local parent = sh.tmpdir()
    uc.chmod("777", parent)
    uc.dir({ ["hello.lua"] = GOOD }, parent .. "/commands")
    attackers(parent, "theirs")
    local out = attack(parent .. "/commands", parent .. "/theirs", { NT3_COMMANDS_PATH = parent .. "/commands" })
    local summary = ("%d runs, %d good\n%s"):format(out.runs, count(out.stdout, "good ran"), out.stderr:sub(1, 2000))
    assert.are.equal(0, count(out.stdout, "EVIL RAN"), summary)
    assert.are.equal(0, count(out.stdout, "good ran"), summary)
    assert.truthy(out.stderr:find(("nt3: warning: skipping %s/commands/hello.lua: %s is writable by group or"
      .. " others (mode 777); fix: chmod go-w %s\n"):format(parent, parent, parent), 1, true), out.stderr)
  end)

  describe("checks, as the load does", function()
    it("every directory above the commands directory, up to and with the home directory itself", function()
      for _, above in ipairs { "/.nt3", "" } do
        local home, dir = uc.home({ ["hello.lua"] = GOOD })
        uc.chmod("770", home .. above)
        local out = sh.run({ "hello" }, { home = home })
        assert.are.equal(2, out.code)
        assert.are.equal("", out.stdout)
        assert.truthy(out.stderr:find(("nt3: warning: skipping %s/hello.lua: %s%s is writable by group or"
          .. " others (mode 770); fix: chmod go-w %s%s\n"):format(dir, home, above, home, above), 1, true), out.stderr)
      end
    end)

    it("and up to / outside it, where a sticky directory such as /tmp is fine above the commands directory", function()
      local parent = sh.tmpdir()
      uc.chmod("1777", parent)
      local dir = uc.dir({ ["hello.lua"] = GOOD }, parent .. "/commands")
      local out = sh.run({ "hello" }, { env = { NT3_COMMANDS_PATH = dir } })
      assert.are.equal("good ran\n", out.stdout)
      assert.are.equal("", out.stderr)
      -- but never as the commands directory itself
      uc.chmod("1777", dir)
      out = sh.run({ "hello" }, { env = { NT3_COMMANDS_PATH = dir } })
      assert.are.equal(2, out.code)
      assert.truthy(out.stderr:find(("%s is writable by group or others (mode 1777)"):format(dir), 1, true),
        out.stderr)
    end)

    it("refuses a command file that is a symbolic link, which it never follows", function()
      local home, dir = uc.home({ ["real.lua"] = GOOD })
      os.execute("ln -s real.lua " .. sh.quote(dir .. "/hello.lua"))
      local out = sh.run({ "hello" }, { home = home })
      assert.are.equal(2, out.code)
      assert.truthy(out.stderr:find(("nt3: warning: skipping %s/hello.lua: %s/hello.lua is not a regular file\n")
        :format(dir, dir), 1, true), out.stderr)
    end)

    it("through cli.trusted, with the same rule and words", function()
      local home, dir = uc.home({ ["hello.lua"] = GOOD })
      uc.chmod("775", home .. "/.nt3")
      local script = sh.script(([[
        local cli = require "nt3.cli"
        print(cli.trusted(%q, "file"))
        print(cli.trusted(%q, "directory"))
        print(pcall(function() local r = cli.trusted(%q, "dir"); return r end))
      ]]):format(dir .. "/hello.lua", dir, dir))
      local out = sh.run({ "run", script }, { home = home })
      local why = ("%s/.nt3 is writable by group or others (mode 775); fix: chmod go-w %s/.nt3"):format(home, home)
      -- a wrong kind is the caller's mistake, blamed on the caller's line
      assert.are.equal(("nil\t%s\t1\nnil\t%s\t1\nfalse\t%s:4: bad argument #2 to 'trusted' (invalid option 'dir')\n")
        :format(why, why, script), out.stdout)
    end)
  end)
end)

-- A module beside an `nt3 run` script is code too: found in the script's
-- directory, it runs only if it passes the same check as a command file.
describe("a module beside an nt3 run script", function()
  -- shared/ is a directory anyone may write to (mode 1777), as /tmp is;
  -- the test runs as root, and nobody (65534) is the other user
  local function shared_dir()
    local top = sh.tmpdir()
    uc.chmod("711", top)
    local shared = top .. "/shared"
    assert(os.execute("mkdir " .. sh.quote(shared)))
    uc.chmod("1777", shared)
    sh.spit(shared .. "/main.lua", 'print("script ran")\nlocal helper = require "helper"\nprint("after", helper)\n')
    return shared
  end

  local function as_nobody_write(path, text)
    local cmd = ("setpriv --reuid=65534 --regid=65534 --clear-groups sh -c 'printf %%s \"$1\" > \"$2\"' sh %s %s")
      :format(sh.quote(text), sh.quote(path))
    assert(os.execute(cmd), "setpriv failed")
    local p = io.popen("stat -c %u " .. sh.quote(path))
    assert.are.equal("65534", p:read("l"))
    p:close()
  end

  teardown(sh.cleanup)

  it("is refused with one line, its code never run, when another user wrote it in a 1777 directory", function()
    local shared = shared_dir()
    as_nobody_write(shared .. "/helper.lua", 'print("EVIL RAN") return "evil"\n')
    local out = sh.run({ "run", shared .. "/main.lua" }, { cwd = shared })
    assert.are.equal(1, out.code)
    assert.are.equal("script ran\n", out.stdout)
    assert.are.equal(("nt3: module 'helper' is not loaded: %s is writable by group or others (mode 1777); " ..
      "fix: chmod go-w %s\n"):format(shared, shared), out.stderr)
  end)

  it("is refused, naming its owner, in a directory only we may write to", function()
    local shared = shared_dir()
    as_nobody_write(shared .. "/helper.lua", 'print("EVIL RAN") return "evil"\n')
    uc.chmod("755", shared)
    local out = sh.run({ "run", shared .. "/main.lua" }, { cwd = shared })
    assert.are.equal(1, out.code)
    assert.are.equal("script ran\n", out.stdout)
    assert.are.equal(("nt3: module 'helper' is not loaded: %s/helper.lua is owned by another user (uid 65534)\n")
      :format(shared), out.stderr)
  end)

  it("is loaded when it and its directories pass the check", function()
    local shared = shared_dir()
    uc.chmod("755", shared)
    sh.spit(shared .. "/helper.lua", 'return "mine"\n')
    local out = sh.run({ "run", shared .. "/main.lua" }, { cwd = shared })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal("script ran\nafter\tmine\n", out.stdout)
  end)
end)
