-- Helpers shared by the login/logout/status/config/store specs: a throwaway
-- user (HOME and a working directory), and reading back what nt3 wrote.
local sh = require "helpers.sh"
local json = require "nt3.json"

local M = {}

-- A token no test ever prints on purpose: if it shows up whole in any
-- output, a message leaked it.
M.CANARY = "entri_CANARY_7f3a9c1e5b2d4f60a8e1"

-- No test reaches the internet: the check login makes (GET /api/v1/me) of a
-- token for https://app.nt3.io, or any other host that is not loopback,
-- goes to a proxy on a closed loopback port and fails at once, as it would
-- on a machine with no network. Loopback servers are reached directly.
M.OFFLINE = { https_proxy = "http://127.0.0.1:9", HTTPS_PROXY = "http://127.0.0.1:9", no_proxy = false,
  NO_PROXY = false }

-- The warning of a login whose check could not reach the API (every login
-- to a URL that is not a test server's), as a pattern for one line.
M.UNVERIFIED = "nt3: warning: the token is saved, but unverified: could not reach the API at [^\n]-;"
  .. " check it later with 'nt3 status %-%-check'\n"

-- auth.strip_unverified(stderr) -> stderr without the unverified warnings
function M.strip_unverified(text)
  return (text:gsub(M.UNVERIFIED, ""))
end

-- auth.user() -> { home, cwd, global, dir, ["local"], run = function(args, opts), spawn, lua }
-- run() runs nt3 with that HOME and working directory (opts as sh.run).
function M.user()
  local u = { home = sh.tmpdir(), cwd = sh.tmpdir() }
  u.dir = u.home .. "/.nt3"
  u.global = u.dir .. "/config.json"
  u["local"] = u.cwd .. "/.nt3.local.json"
  local function as_user(opts)
    opts = opts or {}
    opts.home = opts.home or u.home
    opts.cwd = opts.cwd or u.cwd
    local env = { NT3_API_TOKEN = false, NT3_API_URL = false, NT3_CONFIG_DIR = false, NT3_DEBUG = false,
      NT3_PROFILE = false }
    for k, v in pairs(M.OFFLINE) do env[k] = v end
    for k, v in pairs(opts.env or {}) do env[k] = v end
    opts.env = env
    return opts
  end
  function u.run(args, opts)
    return sh.run(args, as_user(opts))
  end
  -- u.spawn(args, opts) -> a job of helpers.job, nt3 in the background
  function u.spawn(args, opts)
    return require("helpers.job").spawn(args, as_user(opts))
  end
  -- u.lua(source) runs a Lua script inside nt3 as this user
  function u.lua(source, opts)
    return u.run({ "run", sh.script(source) }, opts)
  end
  return u
end

-- auth.read_json(path) -> decoded table | nil (missing or invalid)
function M.read_json(path)
  local text = sh.slurp(path)
  if not text then return nil end
  return json.decode(text)
end

function M.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

-- auth.write(path, text, mode) writes a file as a user (or an attacker) would
function M.write(path, text, mode)
  sh.spit(path, text)
  if mode then assert(os.execute("chmod " .. mode .. " " .. sh.quote(path))) end
end

function M.mkdir(path, mode)
  assert(os.execute("mkdir -p " .. sh.quote(path) .. " && chmod " .. (mode or "700") .. " " .. sh.quote(path)))
end

-- auth.listing(dir) -> sorted names in dir (hidden ones too)
function M.listing(dir)
  local p = io.popen("ls -A " .. sh.quote(dir) .. " 2>/dev/null")
  local names = {}
  for line in p:lines() do names[#names + 1] = line end
  p:close()
  table.sort(names)
  return names
end

-- auth.wrapped(command) -> an executable that runs `command <nt3> args...`,
-- for u.run's opts.bin: e.g. auth.wrapped("timeout 20") or a strace line.
function M.wrapped(command)
  local path = sh.tmpdir() .. "/nt3-wrapped"
  sh.spit(path, "#!/bin/sh\nexec " .. command .. " " .. sh.quote(sh.bin) .. ' "$@"\n')
  assert(os.execute("chmod +x " .. sh.quote(path)))
  return path
end

-- auth.traced() -> the environment for a run under strace: LeakSanitizer
-- cannot work under ptrace, so the ASan build is told not to try.
function M.traced()
  local asan = os.getenv("ASAN_OPTIONS")
  return { ASAN_OPTIONS = (asan and asan ~= "" and asan .. ":" or "") .. "detect_leaks=0" }
end

-- auth.hold_flock(path) -> stop(): another process holds an exclusive
-- flock on path (a file or a directory, as any user who can read it could)
-- until stop() is called.
function M.hold_flock(path)
  local ready = sh.tmpdir() .. "/held"
  local pidfile = sh.tmpdir() .. "/pid"
  assert(os.execute(("(flock -x %s sh -c 'touch %s; exec sleep 60' >/dev/null 2>&1 & echo $! >%s)")
    :format(sh.quote(path), sh.quote(ready), sh.quote(pidfile))))
  for _ = 1, 500 do
    if M.exists(ready) then break end
    sh.sleep(0.01)
  end
  assert(M.exists(ready), "the other process never got the lock")
  local pid = assert(sh.slurp(pidfile)):match("%d+")
  -- the sleep holds the lock: end it (flock's child), then flock
  return function() os.execute("pkill -P " .. pid .. " 2>/dev/null; kill " .. pid .. " 2>/dev/null") end
end

-- auth.no_canary(out) asserts that neither stream holds the canary whole
function M.assert_no_canary(out, what)
  assert(not out.stdout:find(M.CANARY, 1, true), (what or "") .. ": canary token in stdout:\n" .. out.stdout)
  assert(not out.stderr:find(M.CANARY, 1, true), (what or "") .. ": canary token in stderr:\n" .. out.stderr)
end

return M
