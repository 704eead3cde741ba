-- Credential commands: a profile of the global file may name a program
-- (absolute path, no shell) whose first line of output is the token; it
-- runs only when a token is needed, bounded in time, never from a local
-- file, and what it prints is never written to disk.
local sh = require "helpers.sh"
local auth = require "helpers.auth_util"
local server = require "helpers.server"
local json = require "nt3.json"
local job = require "helpers.job"

local TOKEN = "entri_valid_from_command_01"

local srv
setup(function() srv = server.start() end)
teardown(function()
  srv.stop()
  sh.cleanup()
end)

-- An executable script that records each run in <dir>/ran, then runs body.
local function program(body)
  local dir = sh.tmpdir()
  local path = dir .. "/credential"
  sh.spit(path, ("#!/bin/sh\necho run >>%s\n%s\n"):format(sh.quote(dir .. "/ran"), body))
  assert(os.execute("chmod 700 " .. sh.quote(path)))
  return path, function()
    local text = sh.slurp(dir .. "/ran") or ""
    local _, n = text:gsub("run\n", "")
    return n
  end
end

local function user_with_command(argv, extra)
  local u = auth.user()
  auth.mkdir(u.dir)
  local profile = { credential_command = argv, api_url = srv.url }
  for k, v in pairs(extra or {}) do profile[k] = v end
  auth.write(u.global, json.encode { profiles = { vault = profile } }, "600")
  return u
end

-- Whether process pid is still running (a zombie is not).
local function alive(pid)
  local stat = sh.slurp("/proc/" .. pid .. "/stat")
  return stat ~= nil and stat:match("^%d+ %b() (%a)") ~= "Z"
end

-- A program that ignores the signals named (e.g. "INT TERM"), records its
-- pid and that of a grandchild it starts, and then sleeps: pids() -> the
-- two, once both are written.
local function stubborn(ignored)
  local dir = sh.tmpdir()
  local path = dir .. "/credential"
  sh.spit(path, ("#!/bin/sh\ntrap '' %s\n/bin/sleep 60 &\necho $! >%s/grandchild\necho $$ >%s/pid\nwait\n")
    :format(ignored, dir, dir))
  assert(os.execute("chmod 700 " .. sh.quote(path)))
  return path, function()
    local child, grandchild
    job.eventually(function()
      child = tonumber(sh.slurp(dir .. "/pid") or "")
      grandchild = tonumber(sh.slurp(dir .. "/grandchild") or "")
      return child and grandchild
    end, 30)
    assert(child and grandchild, "the credential command never started")
    return child, grandchild
  end
end

local function bearer_seen()
  local list = {}
  for _, r in ipairs(srv.requests()) do
    if r.path == "/api/v1/me" then list[#list + 1] = r.headers.authorization end
  end
  return list
end

describe("a credential command", function()
  it("that prints a token is used for requests, run once per process, and its token never written to disk", function()
    local path, runs = program("printf '%s\\nsecond line\\n' " .. TOKEN)
    local u = user_with_command({ path })
    local before = #bearer_seen()
    local out = u.lua([[
      local api = require "nt3.api"
      for _ = 1, 3 do assert(api.get("/api/v1/me")) end
      print("ok")
    ]], { env = { NT3_PROFILE = "vault" } })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal(1, runs())
    local seen = bearer_seen()
    assert.are.equal(before + 3, #seen)
    assert.are.equal("Bearer " .. TOKEN, seen[#seen])
    assert.is_nil(sh.slurp(u.global):find(TOKEN, 1, true))
    assert.are.same({ ".nt3" }, auth.listing(u.home))
    assert.are.same({ "config.json" }, auth.listing(u.dir))
    auth.assert_no_canary(out)
  end)

  it("gets its arguments as given, no shell, and stdin from /dev/null", function()
    local path = program('[ "$1" = "a b" ] && [ "$2" = \'$HOME;x\' ] || exit 7\n'
      .. 'if read line; then exit 8; fi\necho ' .. TOKEN)
    local u = user_with_command({ path, "a b", "$HOME;x" })
    local out = u.run({ "token", "--profile", "vault" }, { stdin = "entri_not_from_stdin_01\n" })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal(TOKEN .. "\n", out.stdout)
  end)

  it("that fails is one line with its exit status, and nothing is sent", function()
    local path = program("echo 'keyring is locked' >&2; exit 3")
    local u = user_with_command({ path })
    local before = #bearer_seen()
    local out = u.run({ "api", "/api/v1/me", "--profile", "vault" })
    assert.are.equal(1, out.code)
    assert.are.equal('nt3: the credential command of profile "vault" in ~/.nt3/config.json failed: '
      .. path .. " exited with status 3: keyring is locked; nothing was sent\n", out.stderr)
    assert.are.equal(before, #bearer_seen())
  end)

  it("that hangs is stopped after its time, one line, and nothing is sent", function()
    local path = program("exec sleep 30")
    local u = user_with_command({ path }, { credential_timeout = 1 })
    local before = #bearer_seen()
    local started = os.time()
    local out = u.run({ "api", "/api/v1/me", "--profile", "vault" })
    assert.is_true(os.time() - started < 10)
    assert.are.equal(1, out.code)
    assert.are.equal('nt3: the credential command of profile "vault" in ~/.nt3/config.json was stopped: '
      .. path .. " did not finish within 1 seconds (no exit status: killed); nothing was sent\n", out.stderr)
    assert.are.equal(before, #bearer_seen())
  end)

  it("that hangs ignoring SIGTERM is still ended after its time (SIGKILL), with what it started", function()
    local path, pids = stubborn("TERM")
    local u = user_with_command({ path }, { credential_timeout = 1 })
    local j = u.spawn({ "api", "/api/v1/me", "--profile", "vault" })
    local child, grandchild = pids()
    local r = j.finish(30)
    assert.is_true(r.ended, "nt3 waited for a child that ignores SIGTERM")
    assert.are.equal(1, r.code)
    assert.matches("did not finish within 1 seconds %(no exit status: killed%); nothing was sent\n$", r.stderr)
    assert.is_false(alive(child))
    assert.is_true(job.eventually(function() return not alive(grandchild) end, 10), "the grandchild outlived nt3")
  end)

  it("that exits non-zero has its stdout ignored, even a token", function()
    local path = program("echo " .. TOKEN .. "; exit 3")
    local u = user_with_command({ path })
    local before = #bearer_seen()
    local out = u.run({ "token", "--profile", "vault" })
    assert.are.equal(1, out.code)
    assert.are.equal("", out.stdout)
    assert.matches("exited with status 3; nothing was sent\n$", out.stderr)
    assert.is_nil(out.stderr:find(TOKEN, 1, true))
    out = u.run({ "api", "/api/v1/me", "--profile", "vault" })
    assert.are.equal(1, out.code)
    assert.are.equal(before, #bearer_seen())
  end)

  it("gives each profile its own token: what one command printed is never another profile's", function()
    local first, first_runs = program("echo entri_valid_from_first_01")
    local second, second_runs = program("echo entri_valid_from_second_1")
    local u = auth.user()
    auth.mkdir(u.dir)
    auth.write(u.global, json.encode { profiles = {
      one = { credential_command = { first }, api_url = srv.url },
      two = { credential_command = { second }, api_url = srv.url },
    } }, "600")
    local out = u.lua([[
      local config = require "nt3.config"
      for _, name in ipairs { "one", "two", "one", "two" } do
        config.use_profile(name)
        print(name, assert(config.active()).token)
      end
    ]])
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal("one\tentri_valid_from_first_01\ntwo\tentri_valid_from_second_1\n"
      .. "one\tentri_valid_from_first_01\ntwo\tentri_valid_from_second_1\n", out.stdout)
    assert.are.equal(1, first_runs())
    assert.are.equal(1, second_runs())
  end)

  it("does not get NT3_API_TOKEN in its environment", function()
    local dir = sh.tmpdir()
    local path = program("/usr/bin/env >" .. sh.quote(dir .. "/env") .. "\necho " .. TOKEN)
    local u = auth.user()
    local out = u.run({ "login", "--profile", "vault", "--credential-command", path, "-u", srv.url },
      { env = { NT3_API_TOKEN = auth.CANARY, NT3_SPEC_MARK = "seen" } })
    assert.are.equal(0, out.code, out.stderr)
    local seen = assert(sh.slurp(dir .. "/env"))
    assert.matches("\nNT3_SPEC_MARK=seen\n", "\n" .. seen)
    assert.is_nil(seen:find("NT3_API_TOKEN", 1, true))
    assert.is_nil(seen:find(auth.CANARY, 1, true))
  end)

  describe("when nt3 is interrupted while it runs", function()
    it("under nt3 run: the child's whole group is ended at once and the script gets \"interrupted\"", function()
      local path, pids = stubborn("INT")
      local u = user_with_command({ path })
      local j = u.spawn({ "run", sh.script([[
        local api = require "nt3.api"
        print(pcall(api.get, "/api/v1/me"))
      ]]) }, { env = { NT3_PROFILE = "vault" } })
      local child, grandchild = pids()
      j.interrupt()
      local r = j.finish(15)
      assert.is_true(r.ended, "the interrupt waited for the credential command")
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("false\tinterrupted\n", r.stdout)
      assert.is_false(alive(child))
      assert.is_true(job.eventually(function() return not alive(grandchild) end, 10), "the grandchild outlived nt3")
    end)

    it("in a built-in command: the child's group is ended, and then nt3 by the signal", function()
      for _, sig in ipairs { "INT", "TERM" } do
        local path, pids = stubborn("INT")
        local u = user_with_command({ path })
        local j = u.spawn({ "api", "/api/v1/me", "--profile", "vault" })
        local child, grandchild = pids()
        j.signal(sig)
        local r = j.finish(15)
        assert.is_true(r.ended, sig)
        assert.are.equal(128 + (sig == "INT" and 2 or 15), r.code, sig)
        assert.is_true(job.eventually(function() return not alive(child) and not alive(grandchild) end, 10),
          sig .. ": the credential command outlived nt3")
      end
    end)
  end)

  it("that prints junk is one line that never repeats the junk, and nothing is sent", function()
    local path = program("echo 'not a token " .. auth.CANARY .. "'")
    local u = user_with_command({ path })
    local before = #bearer_seen()
    local out = u.run({ "api", "/api/v1/me", "--profile", "vault" })
    assert.are.equal(1, out.code)
    assert.are.equal('nt3: the credential command of profile "vault" in ~/.nt3/config.json printed no token: '
      .. path .. ' exited with status 0, but the first line it printed is not a token (Invalid token format. Tokens'
      .. ' should start with "entri_"); nothing was sent\n', out.stderr)
    auth.assert_no_canary(out)
    assert.are.equal(before, #bearer_seen())
  end)

  it("that does not exist is one line", function()
    local u = user_with_command({ "/nonexistent/credential" })
    local out = u.run({ "token", "--profile", "vault" })
    assert.are.equal(1, out.code)
    assert.are.equal('nt3: the credential command of profile "vault" in ~/.nt3/config.json could not be started '
      .. "(/nonexistent/credential: No such file or directory); nothing was sent\n", out.stderr)
  end)

  it("is refused when its program is not an absolute path (no PATH search)", function()
    local u = auth.user()
    auth.mkdir(u.dir)
    auth.write(u.global, json.encode { profiles = { vault = { credential_command = { "sh", "-c", "echo x" } } } }, "600")
    local out = u.run({ "token", "--profile", "vault" })
    assert.are.equal(1, out.code)
    assert.matches('credential_command" that is not valid %(the credential command\'s program must be an absolute path',
      out.stderr)
  end)

  it("is not run by a plain nt3 status, which says where the token would come from", function()
    local path, runs = program("echo " .. TOKEN)
    local u = user_with_command({ path })
    local out = u.run({ "status", "--profile", "vault" })
    assert.are.equal(0, out.code, out.stderr)
    assert.matches("Token:    from the credential command " .. path:gsub("%p", "%%%0") .. " %(run when a token is needed%)",
      out.stdout)
    assert.are.equal(0, runs())
    -- --check needs the token: then it runs
    out = u.run({ "status", "--profile", "vault", "--check" })
    assert.are.equal(0, out.code, out.stderr)
    assert.matches("Account:  dev@example%.com", out.stdout)
    assert.are.equal(1, runs())
  end)

  it("in ./.nt3.local.json is refused with a warning and never run", function()
    local dir = sh.tmpdir()
    local marker = dir .. "/ran"
    local u = auth.user()
    auth.write(u["local"], json.encode {
      credential_command = { "/bin/sh", "-c", "touch " .. marker .. "; echo " .. TOKEN },
      profiles = { evil = { credential_command = { "/bin/sh", "-c", "touch " .. marker } } },
    }, "600")
    for _, args in ipairs { { "status" }, { "token" }, { "api", "/api/v1/me" }, { "token", "--profile", "evil" } } do
      local out = u.run(args, { env = { NT3_API_URL = srv.url } })
      assert.are_not.equal(0, out.code)
      assert.is_false(auth.exists(marker), table.concat(args, " "))
    end
    local out = u.run({ "status" }, { env = { NT3_API_TOKEN = TOKEN } })
    assert.are.equal(0, out.code, out.stderr)
    assert.matches('nt3: warning: ignoring "credential_command" in %./%.nt3%.local%.json: a credential command is read only'
      .. " from the global file %(~/%.nt3/config%.json%): a folder never makes nt3 run a program\n", out.stderr)
    assert.matches('nt3: warning: ignoring "profiles" in %./%.nt3%.local%.json', out.stderr)
    assert.is_false(auth.exists(marker))
  end)
end)

describe("nt3 login --credential-command", function()
  it("runs the command, verifies its token, and saves the command split on white space, never the token", function()
    local path, runs = program('[ "$1" = lookup ] && [ "$2" = nt3 ] && echo ' .. TOKEN)
    local u = auth.user()
    local out = u.run({ "login", "--profile", "vault", "--credential-command", path .. "  lookup\tnt3", "-u", srv.url })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal('Login successful! Credential command saved to ~/.nt3/config.json (profile "vault")\n'
      .. "Logged in as dev@example.com\n", out.stdout)
    assert.are.equal(1, runs())
    assert.are.same({ profiles = { vault = { credential_command = { path, "lookup", "nt3" }, api_url = srv.url } } },
      auth.read_json(u.global))
    assert.is_nil(sh.slurp(u.global):find(TOKEN, 1, true))
  end)

  it("saves nothing when the command fails or the API rejects its token", function()
    local failing = program("exit 5")
    local u = auth.user()
    local out = u.run({ "login", "--profile", "vault", "--credential-command", failing, "-u", srv.url })
    assert.are.equal(1, out.code)
    assert.matches("exited with status 5; nothing was sent\n$", out.stderr)
    local revoked = program("echo entri_revoked_00000001")
    out = u.run({ "login", "--profile", "vault", "--credential-command", revoked, "-u", srv.url })
    assert.are.equal(1, out.code)
    assert.are.equal(("nt3: the API at %s rejected the token the credential command printed (HTTP 401); nothing was saved\n")
      :format(srv.url), out.stderr)
    assert.is_false(auth.exists(u.global))
  end)

  it("is refused with --local and with a relative program", function()
    local u = auth.user()
    local out = u.run({ "login", "--local", "--credential-command", "/usr/bin/pass show nt3" })
    assert.are.equal(1, out.code)
    assert.matches("a credential command is saved only in the global file", out.stderr)
    out = u.run({ "login", "--profile", "vault", "--credential-command", "pass show nt3" })
    assert.are.equal(1, out.code)
    assert.matches("must be an absolute path", out.stderr)
    assert.is_false(auth.exists(u.global))
    assert.is_false(auth.exists(u["local"]))
  end)
end)

describe("nt3.proc", function()
  it("closes every descriptor above stderr in the child", function()
    local out = sh.run({ "run", sh.script([[
      local f = assert(io.open("/dev/null"))  -- a descriptor of nt3's own
      local r = require("nt3.proc").run({ "/bin/ls", "/proc/self/fd" })
      f:close()
      io.write(r.stdout, r.code, "\n")
    ]]) })
    assert.are.equal(0, out.code, out.stderr)
    -- 0, 1, 2 and the one ls opened to list the directory
    assert.are.equal("0\n1\n2\n3\n0\n", out.stdout)
  end)

  it("closes them also where close_range fails (ENOSYS: an old kernel, a seccomp filter)", function()
    -- a launcher that makes close_range fail with ENOSYS for nt3 and all it
    -- starts (a seccomp filter: nr 436 on x86_64 and aarch64), then runs nt3
    local launcher = sh.tmpdir() .. "/no-close-range.py"
    sh.spit(launcher, [[
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
code = b"".join(struct.pack("HBBI", *ins) for ins in [
    (0x20, 0, 0, 0),                 # load the system call number
    (0x15, 0, 1, 436),               # close_range?
    (0x06, 0, 0, 0x00050000 | 38),   # then fail with ENOSYS
    (0x06, 0, 0, 0x7fff0000),        # else allow
])
buf = ctypes.create_string_buffer(code)
class Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
prog = Prog(len(code) // 8, ctypes.cast(buf, ctypes.c_void_p))
assert libc.prctl(38, 1, 0, 0, 0) == 0          # PR_SET_NO_NEW_PRIVS
assert libc.prctl(22, 2, ctypes.byref(prog), 0, 0) == 0, ctypes.get_errno()  # SECCOMP_MODE_FILTER
os.execv(sys.argv[1], sys.argv[1:])
]])
    local out = sh.run({ launcher, sh.bin, "run", sh.script([[
      local f = assert(io.open("/dev/null"))  -- a descriptor of nt3's own
      local probe = assert(require("nt3.proc").run({ "/usr/bin/python3", "-c",
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
          .. "print(ctypes.get_errno() if libc.syscall(436, 3, 3, 0) else 0)" }))
      local r = require("nt3.proc").run({ "/bin/ls", "/proc/self/fd" })
      f:close()
      io.write(probe.stdout, r.stdout, r.code, "\n")
    ]]) }, { bin = "/usr/bin/python3" })
    assert.are.equal(0, out.code, out.stderr)
    -- close_range did fail (errno 38), and still only 0, 1, 2 and ls's own
    assert.are.equal("38\n0\n1\n2\n3\n0\n", out.stdout)
  end)

  it("bounds the output and the time, and reports a signal", function()
    local out = sh.run({ "run", sh.script([[
      local proc = require "nt3.proc"
      local function show(r) print(r.code, r.signal, #r.stdout, r.code == proc.TIMED_OUT) end
      print(proc.run({ "/usr/bin/yes" }, { max_output = 100 }))
      show(proc.run({ "/bin/sleep", "20" }, { timeout = 0.2 }))
      show(proc.run({ "/bin/sh", "-c", "kill -9 $$" }))
      show(proc.run({ "/bin/sh", "-c", "echo hi; exit 3" }))
      print(pcall(proc.run, { "sh" }))
    ]]) })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal("nil\tprinted more than 100 bytes\toutput\n"
      .. "124\t15\t0\ttrue\n"
      .. "137\t9\t0\tfalse\n"
      .. "3\t0\t3\tfalse\n"
      .. "false\tbad argument #1 to 'nt3.proc.run' (the program must be an absolute path)\n", out.stdout)
  end)
end)
