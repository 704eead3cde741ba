-- Helpers for fs_spec: nt3 processes that run beside the spec (holding a
-- lock, rewriting a file until killed) and waits that are bounded but never
-- asserted on.
local sh = require "helpers.sh"
local system = require "system"

local M = {}

-- A bound on waiting for a child to reach a point; generous because the
-- machine is noisy and the sanitizer build starts slowly. Only a broken
-- child ever waits this long.
M.PATIENCE = 30

-- child.start(script, args, opts) -> pid
-- Starts `nt3 run script args...` in the background with the spec's own
-- environment; opts.umask sets its umask. Its output goes to files in a
-- fresh directory (returned second) so no pipe of ours is held open.
function M.start(script, args, opts)
  opts = opts or {}
  local d = sh.tmpdir()
  local parts = {}
  if opts.umask then parts[#parts + 1] = "umask " .. opts.umask .. ";" end
  parts[#parts + 1] = sh.quote(sh.bin)
  parts[#parts + 1] = "run"
  parts[#parts + 1] = sh.quote(script)
  for _, a in ipairs(args or {}) do parts[#parts + 1] = sh.quote(a) end
  parts[#parts + 1] = ("<%s >%s 2>%s & echo $!"):format("/dev/null", sh.quote(d .. "/stdout"), sh.quote(d .. "/stderr"))
  local p = assert(io.popen(table.concat(parts, " ")))
  local pid = tonumber(p:read("l"))
  p:close()
  return assert(pid, "could not start a child"), d
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end
M.exists = exists

-- child.wait_for(path) -> true once path exists, false after PATIENCE seconds
function M.wait_for(path)
  local deadline = system.monotime() + M.PATIENCE
  while not exists(path) do
    if system.monotime() > deadline then return false end
    system.sleep(0.005)
  end
  return true
end

-- child.touch(path): creates an empty file (a signal to a child)
function M.touch(path)
  sh.spit(path, "")
end

-- child.kill_at(script, args, ready, delay, opts): runs `nt3 run script
-- args...` in the background, waits until it creates the file ready, lets
-- it run `delay` more seconds, then kills it with SIGKILL and reaps it.
-- Returns true if the child got ready before PATIENCE ran out.
function M.kill_at(script, args, ready, delay, opts)
  opts = opts or {}
  local quoted = {}
  for i, a in ipairs(args or {}) do quoted[i] = sh.quote(a) end
  local tries = math.floor(M.PATIENCE / 0.01)
  local cmd = table.concat({
    -- the shell would report the killed job on stderr
    "exec 2>/dev/null",
    opts.umask and ("umask " .. opts.umask) or ":",
    ("%s run %s %s </dev/null >/dev/null 2>&1 & p=$!"):format(sh.quote(sh.bin), sh.quote(script), table.concat(quoted, " ")),
    ("i=0; while [ ! -e %s ] && kill -0 $p 2>/dev/null && [ $i -lt %d ]; do sleep 0.01; i=$((i+1)); done"):format(sh.quote(ready), tries),
    ("sleep %.4f"):format(delay),
    "kill -9 $p; wait $p",
    ("[ -e %s ]"):format(sh.quote(ready)),
  }, "\n")
  return os.execute(cmd) == true
end

return M
