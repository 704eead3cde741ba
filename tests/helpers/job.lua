-- nt3 in the background, to be sent signals: job.spawn(args, opts) and
-- job.eventually(pred, seconds), shared by the specs that interrupt nt3.
local sh = require "helpers.sh"

local M = {}

-- A shell starts a background job with SIGINT ignored, and nt3 leaves an
-- ignored SIGINT alone (as the shell means it to); this launcher puts the
-- default back, as a terminal's foreground job has it, writes its pid
-- (which exec keeps) and becomes the command.
local LAUNCHER = [[
import os, signal, sys
for s in (signal.SIGQUIT, signal.SIGPIPE, signal.SIGXFSZ):
    signal.signal(s, signal.SIG_DFL)
if sys.argv[1] == "default":
    signal.signal(signal.SIGINT, signal.SIG_DFL)
with open(sys.argv[2], "w") as f:
    f.write(str(os.getpid()))
os.execvp(sys.argv[3], sys.argv[3:])
]]

local launcher
local function launcher_path()
  if not launcher then
    launcher = sh.tmpdir() .. "/launch.py"
    sh.spit(launcher, LAUNCHER)
  end
  return launcher
end

-- job.eventually(pred, seconds) -> true once pred() is, polling for about
-- `seconds`
function M.eventually(pred, seconds)
  for _ = 1, seconds * 20 do
    if pred() then return true end
    sh.sleep(0.05)
  end
  return pred() and true or false
end
local eventually = M.eventually

-- job.spawn(args, opts) -> job: nt3 args in the background. opts as
-- sh.run's, plus sigint = "ignored" to start it the way a shell starts
-- `nt3 … &`. job.wait_for(text), job.interrupt(), job.finish(seconds) ->
-- { code, stdout, stderr, ended = whether it ended by itself in time }
function M.spawn(args, opts)
  opts = opts or {}
  local vars = sh.environment(opts)
  local d = sh.tmpdir()
  local parts = { "python3", sh.quote(launcher_path()), opts.sigint == "ignored" and "keep" or "default",
    sh.quote(d .. "/pid"), "env", "-i" }
  local keys = {}
  for k in pairs(vars) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do parts[#parts + 1] = sh.quote(k .. "=" .. vars[k]) end
  parts[#parts + 1] = sh.quote(sh.bin)
  for _, a in ipairs(args) do parts[#parts + 1] = sh.quote(a) end
  local out, err, rc = d .. "/stdout", d .. "/stderr", d .. "/rc"
  local cmd = ("cd %s && (%s </dev/null >%s 2>%s; echo $? >%s) &"):format(sh.quote(opts.cwd or d),
    table.concat(parts, " "), sh.quote(out), sh.quote(err), sh.quote(rc))
  assert(os.execute(cmd))
  local job = {}
  local pid
  assert(eventually(function()
    pid = tonumber(sh.slurp(d .. "/pid") or "")
    return pid ~= nil
  end, 20), "nt3 did not start")
  job.pid = pid
  local function stdout() return sh.slurp(out) or "" end
  function job.wait_for(text)
    local seen = eventually(function() return stdout():find(text, 1, true) ~= nil end, 30)
    assert(seen, ("nt3 never printed %q; stdout: %s; stderr: %s"):format(text, stdout(), sh.slurp(err) or ""))
  end
  function job.signal(name) os.execute("kill -" .. name .. " " .. pid .. " 2>/dev/null") end
  function job.interrupt() job.signal("INT") end
  function job.finish(seconds)
    local ended = eventually(function() return (sh.slurp(rc) or ""):match("%d") ~= nil end, seconds)
    if not ended then
      os.execute("kill -KILL " .. pid .. " 2>/dev/null")
      eventually(function() return (sh.slurp(rc) or ""):match("%d") ~= nil end, 10)
    end
    return { code = tonumber((sh.slurp(rc) or ""):match("%d+")), stdout = stdout(), stderr = sh.slurp(err) or "",
      ended = ended }
  end
  return job
end

return M
