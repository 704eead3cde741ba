-- nt3.prompt: questions on the controlling terminal, proven on a real
-- pseudo-terminal (tests/helpers/pty_run.py). ctest itself has no terminal,
-- so every interactive case goes through the pty driver.
local json = require "nt3.json"
local prompt = require "nt3.prompt"
local pty = require "helpers.pty"
local sh = require "helpers.sh"

-- A script that makes prompt calls (a Lua expression, or a list of them,
-- made one after the other in one process: one start-up for many
-- questions) and writes what each returned to arg[1] as a JSON list of
-- {value=, err=, code=}, rewritten after each call; when the last call is
-- "interrupted" it exits 130 as commands do.
local function script_for(calls)
  if type(calls) == "string" then calls = { calls } end
  local body = {}
  for _, call in ipairs(calls) do
    body[#body + 1] = ("answer(%s)"):format(call)
  end
  return sh.script(([[
local prompt = require "nt3.prompt"
local json = require "nt3.json"
local answers, code = {}, nil
local function answer(value, err, c)
  code = c
  answers[#answers + 1] = { value = value, err = err, code = c }
  local f = assert(io.open(arg[1], "w"))
  f:write(json.encode(answers))
  f:close()
end
%s
if code == "interrupted" then os.exit(130) end
]]):format(table.concat(body, "\n")))
end

-- Runs the call (or calls, see script_for) on a pty, typing `steps`;
-- returns the pty result with .value, .err and .code (what the first call
-- returned) and .answers (what each returned, in order) added.
-- on_pty_start(calls, steps[, timeout]) starts it in the background and
-- returns a function that waits for that result.
local function on_pty_start(calls, steps, timeout)
  local dir = sh.tmpdir()
  local answer = dir .. "/answer.json"
  local run = pty.start({ "run", script_for(calls), answer }, { home = dir, cwd = dir, steps = steps,
    timeout = timeout })
  return function()
    local r = run.result(3)
    local text = sh.slurp(answer)
    r.answers = {}
    if text then
      r.answers = assert(json.decode(text))
      local a = r.answers[1] or {}
      r.value, r.err, r.err_code = a.value, a.err, a.code
    end
    return r
  end
end

local function on_pty(calls, steps)
  return on_pty_start(calls, steps)()
end

local SECRET = [[prompt.secret("Paste your API token: ", { mask = "*" })]]

local function count(s, pattern)
  return select(2, s:gsub(pattern, ""))
end

-- what the terminal showed after the message (the masks and erasures)
local function after_message(r)
  return r.output:match("Paste your API token: (.*)$")
end

describe("nt3.prompt.secret", function()
  teardown(sh.cleanup)

  it("returns the typed secret exactly, shows one mask per character and never the secret", function()
    local r = on_pty(SECRET, {
      { expect = "Paste your API token: " },
      { expect_echo = false },
      { send = "entri_S3cr3t-x!" },
      { expect = "***************" },
      { send = "\r" },
    })
    assert.are.equal(0, r.code)
    assert.are.equal("entri_S3cr3t-x!", r.value)
    assert.are.equal("***************\r\n", after_message(r))
    assert.is_nil(r.output:find("S3cr3t", 1, true))
    assert.is_true(r.echo_on_after)
    assert.is_true(r.icanon_on_after)
  end)

  it("ends the input with a newline as well as a carriage return", function()
    local r = on_pty(SECRET, { { expect = "token: " }, { expect_echo = false }, { send = "entri_nl\n" } })
    assert.are.equal("entri_nl", r.value)
  end)

  it("shows nothing at all while typing when no mask is given", function()
    local r = on_pty([[prompt.secret("Paste your API token: ")]], {
      { expect = "token: " }, { expect_echo = false }, { send = "entri_hidden\r" },
    })
    assert.are.equal("entri_hidden", r.value)
    assert.are.equal("\r\n", after_message(r))
  end)

  it("uses the terminal even when stdin and stdout are redirected, and prints nothing to stdout", function()
    local dir = sh.tmpdir()
    local answer, stdout = dir .. "/answer.json", dir .. "/stdout"
    local r = pty.run({ "-c", [[exec "$NT3_BIN" run "$0" "$1" <"$2" >"$3"]], script_for(SECRET), answer,
      sh.script("entri_from_stdin\n"), stdout }, {
      bin = "/bin/sh", home = dir, cwd = dir,
      steps = { { expect = "Paste your API token: " }, { expect_echo = false }, { send = "entri_typed\r" } },
    })
    assert.are.equal(0, r.code)
    assert.are.equal("entri_typed", json.decode(sh.slurp(answer))[1].value)
    assert.are.equal("", sh.slurp(stdout))
  end)

  it("deletes the last character and erases its mask on Backspace (DEL and ^H)", function()
    local r = on_pty(SECRET, {
      { expect = "token: " }, { expect_echo = false },
      { send = "abcd" }, { expect = "****" },
      { send = "\127" }, { expect = "\b \b" },
      { send = "\8" }, { expect = "\b \b" },
      { send = "e\r" },
    })
    assert.are.equal("abe", r.value)
    assert.are.equal("****\b \b\b \b*\r\n", after_message(r))
  end)

  it("counts a multi-byte UTF-8 character as one character for the mask and for Backspace", function()
    local r = on_pty(SECRET, {
      { expect = "token: " }, { expect_echo = false },
      { send = "pä€" }, { expect = "***" },
      { send = "\127" }, { expect = "\b \b" },
      { send = "\r" },
    })
    assert.are.equal("pä", r.value)
    assert.are.equal("***\b \b\r\n", after_message(r))
  end)

  it("ignores Backspace on empty input", function()
    local r = on_pty(SECRET, {
      { expect = "token: " }, { expect_echo = false }, { send = "\127" }, { send = "ok\r" },
    })
    assert.are.equal("ok", r.value)
    assert.are.equal("**\r\n", after_message(r))
  end)

  it("clears everything typed so far on Ctrl-U", function()
    local r = on_pty(SECRET, {
      { expect = "token: " }, { expect_echo = false },
      { send = "wrong" }, { expect = "*****" },
      { send = "\21" }, { send = "right\r" },
    })
    assert.are.equal("right", r.value)
    assert.are.equal(5, count(after_message(r), "\b \b"))
  end)

  it("returns nil, 'end of input', 'end_of_input' on Ctrl-D with nothing typed", function()
    local r = on_pty(SECRET, { { expect = "token: " }, { expect_echo = false }, { send = "\4" } })
    assert.are.equal(0, r.code)
    assert.is_nil(r.value)
    assert.are.equal("end of input", r.err)
    assert.are.equal("end_of_input", r.err_code)
    assert.is_true(r.echo_on_after)
  end)

  it("ignores Ctrl-D once something is typed, and other control bytes", function()
    local r = on_pty(SECRET, {
      { expect = "token: " }, { expect_echo = false }, { send = "a\4b\tc\27d\1\r" },
    })
    assert.are.equal("abcd", r.value)
  end)

  it("accepts 8 KiB and refuses one byte more with nil, 'input too long', 'input_too_long'", function()
    local r = on_pty({ SECRET, SECRET }, {
      { expect = "token: " }, { expect_echo = false }, { send = ("k"):rep(8192) .. "\r" },
      { expect = "token: " }, { expect_echo = false }, { send = ("k"):rep(8193) },
    })
    assert.are.equal(0, r.code, r.error)
    assert.are.equal(("k"):rep(8192), r.answers[1].value)
    local too_long = r.answers[2]
    assert.is_nil(too_long.value)
    assert.are.equal("input too long", too_long.err)
    assert.are.equal("input_too_long", too_long.code)
    assert.is_true(r.echo_on_after)
  end)

  describe("on a signal", function()
    it("returns nil, 'interrupted', 'interrupted' on Ctrl-C, exits 130 and leaves echo on", function()
      local r = on_pty(SECRET, {
        { expect = "token: " }, { expect_echo = false },
        { send = "entri_half" }, { expect = "**********" },
        { send = "\3" },
      })
      assert.are.equal(130, r.code)
      assert.is_nil(r.signal)
      assert.is_nil(r.value)
      assert.are.equal("interrupted", r.err)
      assert.are.equal("interrupted", r.err_code)
      assert.is_true(r.echo_on_after)
      assert.is_true(r.icanon_on_after)
    end)

    it("reads the terminal through a non-blocking descriptor, so a flushed key cannot hang it", function()
      -- A watcher started by the script looks at the prompt's descriptors
      -- while it waits: the one it opened on the terminal (fd 3 or above)
      -- must carry O_NONBLOCK (04000 in /proc/<pid>/fdinfo flags). It
      -- looks until it finds one, and the keys are typed once it has.
      -- nt3 is not dumpable: only root may look into its /proc/<pid>/fd.
      if io.popen("id -u"):read("l") ~= "0" then
        pending("needs root: nt3's /proc/<pid>/fd is closed to its own user")
        return
      end
      local dir = sh.tmpdir()
      local report = dir .. "/fdinfo"
      local script = sh.script(([[
local pid = require("nt3.env").pid()
os.execute(("(while [ -d /proc/%%d ]; do for f in /proc/%%d/fd/*; do n=${f##*/}; [ \"$n\" -ge 3 ] || continue; " ..
  "case $(readlink $f) in /dev/pts/*|/dev/tty) grep '^flags' /proc/%%d/fdinfo/$n;; esac; done > %s.part; " ..
  "[ -s %s.part ] && break; sleep 0.05; done; mv %s.part %s) &"):format(pid, pid, pid))
local v = require("nt3.prompt").secret("token: ", { mask = "*" })
print(v)
]]):format(report, report, report, report))
      local r = pty.run({ "run", script }, { home = dir, cwd = dir, steps = {
        { expect = "token: " }, { expect_file = report }, { send = "entri_x\r" },
      } })
      assert.are.equal(0, r.code, r.error)
      local flags = assert(sh.slurp(report)):match("flags:%s*(%d+)")
      assert.truthy(flags, "no terminal descriptor found")
      assert.are_not.equal(0, tonumber(flags, 8) & tonumber("4000", 8), "flags " .. flags)
    end)

    -- Ctrl-C flushes the keys still queued; if that happens between "input
    -- is ready" and the read, a blocking read would sleep forever with the
    -- terminal left silent. Keys and Ctrl-C in one write make that window as
    -- likely as it gets; every attempt must end "interrupted" with echo back
    -- on. The attempts are prompts one after the other in one process: each
    -- saves the mode the one before left, so echo on at the end is echo put
    -- back by every one.
    it("is never left waiting when Ctrl-C flushes keys it was about to read", function()
      local calls, steps = {}, {}
      for attempt = 1, 10 do
        calls[attempt] = SECRET
        for _, step in ipairs { { expect = "token: " }, { expect_echo = false }, { send = "entri_typed_and_gone\3" } } do
          steps[#steps + 1] = step
        end
      end
      local r = on_pty(calls, steps)
      assert.are.equal(130, r.code, tostring(r.error))
      assert.are.equal(10, #r.answers)
      for attempt, a in ipairs(r.answers) do
        assert.are.equal("interrupted", a.code, "attempt " .. attempt)
      end
      assert.is_true(r.echo_on_after)
      assert.is_true(r.icanon_on_after)
    end)

    it("returns nil, 'interrupted' on SIGTERM, SIGHUP and SIGQUIT and leaves echo on", function()
      local signals, steps = { "TERM", "HUP", "QUIT" }, {}
      for _, sig in ipairs(signals) do
        for _, step in ipairs { { expect = "token: " }, { expect_echo = false }, { send = "entri_" },
          { expect = "******" }, { signal = sig } } do
          steps[#steps + 1] = step
        end
      end
      local r = on_pty({ SECRET, SECRET, SECRET }, steps)
      assert.are.equal(130, r.code, tostring(r.error))
      assert.are.equal(#signals, #r.answers)
      for i, a in ipairs(r.answers) do
        assert.is_nil(a.value, signals[i])
        assert.are.equal("interrupted", a.err, signals[i])
        assert.are.equal("interrupted", a.code, signals[i])
      end
      assert.is_true(r.echo_on_after)
      assert.is_true(r.icanon_on_after)
    end)

    -- Signals whose default action ends the process: the prompt puts the
    -- terminal back and the signal still ends it, by that signal (same
    -- exit status, same core semantics), with no answer returned.
    -- one process per signal, all started at the first of these specs and
    -- running side by side (each waits on its own terminal), with steps
    -- given the time a machine busy with all of them may need
    local FATAL = { "USR1", "USR2", "ALRM", "PIPE", "VTALRM", "PROF", "XCPU", "IO", "PWR", "RTMIN", "ABRT", "TRAP" }
    local fatal_runs
    local function fatal_run(sig)
      if not fatal_runs then
        fatal_runs = {}
        for _, s in ipairs(FATAL) do
          fatal_runs[s] = on_pty_start(SECRET, {
            { expect = "token: " }, { expect_echo = false },
            { send = "entri_" }, { expect = "******" },
            { signal = s },
          }, 60)
        end
      end
      return fatal_runs[sig]()
    end
    for _, sig in ipairs(FATAL) do
      it("leaves echo on when SIG" .. sig .. " ends the process, which still ends by that signal", function()
        local r = fatal_run(sig)
        assert.are.equal("SIG" .. sig, r.signal_name)
        assert.is_nil(r.value)
        assert.is_true(r.echo_on_after)
        assert.is_true(r.icanon_on_after)
        assert.is_nil(r.output:find("entri", 1, true))
      end)
    end

    it("leaves echo on when a fault (SIGSEGV) ends the process", function()
      -- the sanitizer build catches SIGSEGV itself, and its report is the point there
      if sh.bin:find("asan", 1, true) then return end
      local r = on_pty(SECRET, { { expect = "token: " }, { expect_echo = false }, { signal = "SEGV" } })
      assert.are.equal("SIGSEGV", r.signal_name)
      assert.is_true(r.echo_on_after)
    end)

    for _, sig in ipairs({ "TTIN", "TTOU" }) do
      it("gives the terminal back while stopped by SIG" .. sig .. ", and reads on with echo off after SIGCONT", function()
        local r = on_pty(SECRET, {
          { expect = "Paste your API token: " }, { expect_echo = false },
          { send = "entri_ab" }, { expect = "********" },
          { signal = sig },
          { expect_stopped = true },
          { expect_echo = true },
          { signal = "CONT" },
          { expect_stopped = false },
          { expect = "Paste your API token: ********" },
          { expect_echo = false },
          { send = "cd\r" },
        })
        assert.are.equal(0, r.code)
        assert.are.equal("entri_abcd", r.value)
        assert.is_true(r.echo_on_after)
      end)
    end

    it("gives the terminal back while stopped by Ctrl-Z, and reads on with echo off after SIGCONT", function()
      local r = on_pty(SECRET, {
        { expect = "Paste your API token: " }, { expect_echo = false },
        { send = "entri_ab" }, { expect = "********" },
        { send = "\26" },
        { expect_stopped = true },
        { expect_echo = true },
        { signal = "CONT" },
        { expect_stopped = false },
        { expect = "Paste your API token: ********" }, -- redrawn after the stop
        { expect_echo = false },
        { send = "cd\r" },
      })
      assert.are.equal(0, r.code)
      assert.are.equal("entri_abcd", r.value)
      assert.is_nil(r.output:find("entri", 1, true))
      assert.is_true(r.echo_on_after)
      assert.is_true(r.icanon_on_after)
    end)

    -- Job control as for any program: started with `&`, the prompt stops at
    -- its first touch of the terminal and never changes the mode of a
    -- terminal that belongs to the foreground job.
    it("stops before turning echo off when started in the background", function()
      local dir = sh.tmpdir()
      local r = pty.run({ "run", script_for(SECRET), dir .. "/answer.json" }, {
        home = dir, cwd = dir, background = true,
        steps = { { expect_stopped = true }, { sleep = 0.2 }, { expect_echo = true }, { signal = "KILL" } },
      })
      assert.are.equal(9, r.signal)
      assert.is_true(r.echo_on_after)
      assert.is_true(r.icanon_on_after)
    end)

    it("stops when a line prompt in the background reads, instead of failing", function()
      local dir = sh.tmpdir()
      local r = pty.run({ "run", script_for([[prompt.line("Name: ")]]), dir .. "/answer.json" }, {
        home = dir, cwd = dir, background = true,
        steps = { { expect = "Name: " }, { send = "Ada\r" }, { expect_stopped = true }, { signal = "KILL" } },
      })
      assert.are.equal(9, r.signal)
      assert.is_nil(sh.slurp(dir .. "/answer.json"))
    end)

    it("puts the signal handlers and the signal mask back as they were", function()
      -- /proc/self/status lists the caught (SigCgt) and blocked (SigBlk) signals
      local call = [[(function()
        local function sig()
          local f = assert(io.open("/proc/self/status"))
          local s = f:read("a")
          f:close()
          return s:match("SigBlk:%s*(%x+)") .. " " .. s:match("SigCgt:%s*(%x+)")
        end
        local before = sig()
        local v = prompt.secret("Paste your API token: ")
        return v and before .. " | " .. sig()
      end)()]]
      local r = on_pty(call, { { expect = "token: " }, { expect_echo = false }, { send = "x\r" } })
      local before, after = r.value:match("^(.-) | (.*)$")
      assert.are.equal(before, after)
    end)
  end)
end)

describe("nt3.prompt.line", function()
  teardown(sh.cleanup)

  it("returns the echoed line without its newline", function()
    local r = on_pty([[prompt.line("Name: ", "anonymous")]], { { expect = "Name: " }, { send = "Ada Lovelace\r" } })
    assert.are.equal("Ada Lovelace", r.value)
    assert.truthy(r.output:find("Name: Ada Lovelace\r\n", 1, true))
  end)

  it("returns the default for empty input, and an empty string without one", function()
    local r = on_pty([[prompt.line("Name: ", "anonymous")]], { { expect = "Name: " }, { send = "\r" } })
    assert.are.equal("anonymous", r.value)
    r = on_pty([[prompt.line("Name: ")]], { { expect = "Name: " }, { send = "\r" } })
    assert.are.equal("", r.value)
  end)

  it("returns nil, 'interrupted', 'interrupted' on Ctrl-C and exits 130", function()
    local r = on_pty([[prompt.line("Name: ")]], { { expect = "Name: " }, { send = "Ad" }, { expect = "Ad" }, { send = "\3" } })
    assert.are.equal(130, r.code)
    assert.are.equal("interrupted", r.err)
    assert.are.equal("interrupted", r.err_code)
    assert.is_true(r.echo_on_after)
  end)

  it("returns nil, 'end of input', 'end_of_input' on Ctrl-D at the start of the line", function()
    local r = on_pty([[prompt.line("Name: ")]], { { expect = "Name: " }, { send = "\4" } })
    assert.are.equal("end of input", r.err)
    assert.are.equal("end_of_input", r.err_code)
  end)
end)

describe("nt3.prompt.confirm", function()
  teardown(sh.cleanup)

  -- calls[i] answered with typed[i] .. Enter, in one process
  local function answer(calls, typed)
    local steps = {}
    for _, t in ipairs(typed) do
      steps[#steps + 1] = { expect = "] " }
      steps[#steps + 1] = { send = t .. "\r" }
    end
    local r = on_pty(calls, steps)
    assert.are.equal(0, r.code, tostring(r.error))
    assert.are.equal(#typed, #r.answers)
    return r
  end

  it("takes y, yes, n and no in any case", function()
    local typed = { "y", "YES", "Yes", "n", "No", "  yes " }
    local want = { true, true, true, false, false, true }
    local calls = {}
    for i = 1, #typed do calls[i] = [[prompt.confirm("Delete it?")]] end
    local r = answer(calls, typed)
    for i, a in ipairs(r.answers) do assert.are.equal(want[i], a.value, "answer " .. typed[i]) end
  end)

  it("shows [y/N] and defaults to no, or [Y/n] and defaults to yes", function()
    local r = answer({ [[prompt.confirm("Delete it?")]], [[prompt.confirm("Delete it?", true)]] }, { "", "" })
    assert.are.equal(false, r.answers[1].value)
    assert.are.equal(true, r.answers[2].value)
    local no, yes = r.output:find("Delete it? [y/N] ", 1, true), r.output:find("Delete it? [Y/n] ", 1, true)
    assert.truthy(no)
    assert.truthy(yes)
    assert.is_true(no < yes)
  end)

  it("asks again after an answer it does not understand", function()
    local r = on_pty([[prompt.confirm("Delete it?")]], {
      { expect = "[y/N] " }, { send = "maybe\r" }, { expect = "[y/N] " }, { send = "y\r" },
    })
    assert.are.equal(true, r.value)
    assert.are.equal(2, count(r.output, "Delete it%? %[y/N%] "))
  end)

  it("gives up with nil, 'no valid answer', 'no_valid_answer' after three answers it does not understand", function()
    local r = on_pty([[prompt.confirm("Delete it?")]], {
      { expect = "[y/N] " }, { send = "maybe\r" },
      { expect = "[y/N] " }, { send = "perhaps\r" },
      { expect = "[y/N] " }, { send = "ja\r" },
    })
    assert.are.equal(0, r.code)
    assert.is_nil(r.value)
    assert.are.equal("no valid answer", r.err)
    assert.are.equal("no_valid_answer", r.err_code)
    assert.are.equal(3, count(r.output, "Delete it%? %[y/N%] "))
  end)

  it("returns nil, 'interrupted', 'interrupted' on Ctrl-C", function()
    local r = on_pty([[prompt.confirm("Delete it?")]], { { expect = "[y/N] " }, { send = "\3" } })
    assert.are.equal(130, r.code)
    assert.are.equal("interrupted", r.err)
    assert.are.equal("interrupted", r.err_code)
  end)
end)

describe("without a controlling terminal", function()
  teardown(sh.cleanup)

  for _, call in ipairs({ SECRET, [[prompt.line("Name: ")]], [[prompt.confirm("Sure?")]] }) do
    it("returns nil, 'no terminal', 'no_terminal' from " .. call:match("^prompt%.%a+") .. ", whatever stdin holds", function()
      local dir = sh.tmpdir()
      local out = sh.run({ "run", script_for(call), dir .. "/answer.json" },
        { cwd = dir, stdin = "entri_piped\ny\n" })
      assert.are.equal(0, out.code, out.stderr)
      assert.are.equal("", out.stdout)
      local a = json.decode(sh.slurp(dir .. "/answer.json"))[1]
      assert.is_nil(a.value)
      assert.are.equal("no terminal", a.err)
      assert.are.equal("no_terminal", a.code)
    end)
  end
end)

describe("nt3.prompt.isatty", function()
  teardown(sh.cleanup)

  local call = [[prompt.isatty("stdin") and "tty" or "not a tty"]]

  it("says stdin is not a terminal under a pipe or a file", function()
    local dir = sh.tmpdir()
    sh.run({ "run", script_for(call), dir .. "/answer.json" }, { cwd = dir, stdin = "x" })
    assert.are.equal("not a tty", json.decode(sh.slurp(dir .. "/answer.json"))[1].value)
  end)

  it("says stdin is a terminal on the pty", function()
    assert.are.equal("tty", on_pty(call, {}).value)
  end)

  it("takes a file descriptor number too", function()
    local r = on_pty([[(prompt.isatty(0) and prompt.isatty(2) and not prompt.isatty(99)) and "yes" or "no"]], {})
    assert.are.equal("yes", r.value)
    assert.is_false(prompt.isatty(-1))
  end)
end)

describe("argument errors raise before the terminal is touched", function()
  it("in secret", function()
    assert.has_error(function() prompt.secret() end)
    assert.has_error(function() prompt.secret("x", "*") end)
    assert.has_error(function() prompt.secret("x", { mask = 1 }) end)
    assert.has_error(function() prompt.secret("x", { mask = "**" }) end)
    assert.has_error(function() prompt.secret("x", { mask = "\n" }) end)
  end)

  it("in line, confirm and isatty", function()
    assert.has_error(function() prompt.line({}) end)
    assert.has_error(function() prompt.line("x", {}) end)
    assert.has_error(function() prompt.confirm("x", "yes") end)
    assert.has_error(function() prompt.isatty("stdfoo") end)
    assert.has_error(function() prompt.isatty({}) end)
    assert.has_error(function() prompt.isatty(1.5) end)
  end)
end)


describe("the pty driver (tests/helpers/pty.lua)", function()
  teardown(sh.cleanup)

  it("reports echo off after exit when a program leaves the terminal that way", function()
    -- without this, echo_on_after = true would prove nothing
    local r = pty.run({ "-c", "stty -echo -icanon" }, { bin = "/bin/sh" })
    assert.are.equal(0, r.code)
    assert.is_false(r.echo_on_after)
    assert.is_false(r.icanon_on_after)
  end)

  it("gives up on a step after its timeout, kills the command and says why", function()
    local r = pty.run({ "run", script_for(SECRET), sh.tmpdir() .. "/answer.json" }, {
      steps = { { expect = "a prompt that never comes", timeout = 0.5 } },
      allow_error = true,
    })
    assert.truthy(r.error:find("timed out waiting for", 1, true), r.error)
    assert.are.equal(9, r.signal)
    assert.truthy(r.output:find("Paste your API token: ", 1, true))
  end)

  it("raises with the terminal output when a step fails and errors are not allowed", function()
    assert.has_error(function()
      pty.run({ "-c", "echo hello" }, { bin = "/bin/sh", steps = { { expect = "bye", timeout = 0.5 } } })
    end)
  end)
end)
