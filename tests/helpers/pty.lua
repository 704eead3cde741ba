-- Test helper: run the built nt3 on a real pseudo-terminal and type into it.
--
--   local pty = require "helpers.pty"
--   local r = pty.run({ "login" }, {
--     home = dir, cwd = dir, env = { NT3_API_URL = url },
--     steps = {
--       { expect = "Paste your API token: " },  -- wait for this output
--       { send = "entri_abc\r" },                -- type; "\r" is Enter
--     },
--   })
--   r.code             exit code (128+N when killed by signal N)
--   r.output           all the terminal showed ("\n" comes out as "\r\n")
--   r.echo_on_after    echo flag of the terminal after nt3 exited
--   r.icanon_on_after  canonical (line) mode flag, likewise
--   r.signal           signal that killed nt3, or nil
--   r.signal_name      its name, e.g. "SIGUSR1", or nil
--
-- Steps (see tests/helpers/pty_run.py for the full list):
--   { expect = "text" }         wait until text appears (after the last match)
--   { send = "text" }           type: "\3" Ctrl-C, "\26" Ctrl-Z, "\4" Ctrl-D,
--                               "\127" Backspace, "\21" Ctrl-U
--   { signal = "TERM" }         kill(2) nt3 with a signal (name without SIG)
--   { expect_echo = false }     wait until the terminal's echo is off / on
--   { expect_stopped = true }   wait until nt3 is stopped / running again
--   { expect_file = path }      wait until a file exists there
--   { sleep = 0.1 }             let a signal land (never a timing check)
-- Any step may carry timeout = seconds (default opts.timeout, else 5).
--
-- A step that times out raises an error carrying the output so far, so the
-- failing spec says what the terminal showed. opts.allow_error = true
-- returns the result instead, with r.error set.
--
-- nt3 runs as an interactive shell would run it: its own session with the
-- pty as controlling terminal, in a foreground process group under a small
-- waiting "shell", so /dev/tty opens and Ctrl-Z really stops it. The
-- environment is built as helpers.sh builds it: only the variables below
-- pass through, then HOME, LANG=C and opts.env (false unsets).
local json = require "nt3.json"
local sh = require "helpers.sh"

local M = {}

M.driver = sh.src .. "/tests/helpers/pty_run.py"

-- pty.start(args, opts) -> a run under way, in the background; its
-- result() waits for it and returns what pty.run returns. Runs that only
-- wait (for a prompt, a stop) overlap so: several started, then each
-- result taken, cost about one.
function M.start(args, opts)
  opts = opts or {}
  local argv = { opts.bin or sh.bin }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local timeout = opts.timeout or 5
  local spec = assert(json.encode({
    argv = argv,
    env = sh.environment(opts),
    cwd = opts.cwd or sh.tmpdir(),
    timeout = timeout,
    background = opts.background or false,
    columns = opts.columns,
    rows = opts.rows,
    steps = opts.steps or {},
  }))
  -- cjson writes an empty Lua table as {}; the driver wants a list
  if not opts.steps or #opts.steps == 0 then spec = spec:gsub('"steps":{}', '"steps":[]') end
  local dir = sh.tmpdir()
  local spec_file, out_file, done = dir .. "/pty-spec.json", dir .. "/pty-result.json", dir .. "/pty-done"
  sh.spit(spec_file, spec)
  assert(os.execute(("(python3 %s %s >%s 2>&1; : >%s) &"):format(sh.quote(M.driver), sh.quote(spec_file),
    sh.quote(out_file), sh.quote(done))))
  -- the driver bounds itself: every step, the start and the exit wait at
  -- most their timeouts; this bound only guards against a driver that died
  local bound = timeout * (#(opts.steps or {}) + 3) + 60
  local run = {}
  function run.result(level)
    level = level or 2
    local waited = 0
    while not sh.slurp(done) and waited < bound do
      sh.sleep(0.02)
      waited = waited + 0.02
    end
    local out = sh.slurp(out_file) or ""
    local r, err = json.decode(out)
    if type(r) ~= "table" then error("pty driver said: " .. tostring(out) .. " (" .. tostring(err) .. ")", level) end
    for k, v in pairs(r) do
      if v == json.null then r[k] = nil end
    end
    if r.error and not opts.allow_error then
      error(("pty: %s\n--- terminal output so far ---\n%s\n---"):format(r.error, r.output), level)
    end
    return r
  end
  return run
end

-- pty.run(args, opts) -> { code, output, echo_on_after, icanon_on_after, signal, signal_name, error }
-- args as for sh.run (without the binary); opts: home, cwd, env, steps,
-- timeout (per step, seconds), bin (another executable), allow_error,
-- background (true: run as `nt3 … &` would, not in the foreground),
-- columns and rows (the terminal's window size, set before nt3 starts).
function M.run(args, opts)
  return M.start(args, opts).result(3)
end

return M
