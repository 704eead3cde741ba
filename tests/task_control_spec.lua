-- nt3.task beyond spawn and wait (docs/lua-api.md, "nt3.task"): processes
-- that run while other tasks go on, cancelling, timeouts, the first to
-- finish, results as they come, limits across tasks, polling and scopes --
-- against the real binary, a real HTTP server and real child processes.
-- No assertion is on how long something took: only on what happened
-- before what.
local sh = require "helpers.sh"
local server = require "helpers.server"
local job_util = require "helpers.job"

local function run(source, ...)
  return sh.run({ "run", sh.script(source), ... })
end

-- a <close> value that prints `closed <what>` when it is closed
local CLOSER = [[
local task = require "nt3.task"
local function closer(what)
  return setmetatable({}, { __close = function() io.stdout:write("closed ", what, "\n") io.stdout:flush() end })
end
]]

local function alive(pid)
  local stat = sh.slurp("/proc/" .. pid .. "/stat")
  return stat ~= nil and not stat:match("%) [ZX] ")
end

describe("nt3.task", function()
  local srv
  setup(function() srv = server.start() end)
  teardown(function()
    srv.stop()
    sh.cleanup()
  end)

  describe("proc.run in a task", function()
    it("yields while the child runs: a 0.2 s sleeper in another task wakes before the child ends", function()
      local r = run([[
local task, proc = require "nt3.task", require "nt3.proc"
local order = {}
local child = task.spawn(function()
  local res = proc.run({ "/bin/sleep", "1.5" })
  order[#order + 1] = "child exited " .. res.code
end)
local sleeper = task.spawn(function()
  task.sleep(0.2)
  order[#order + 1] = "sleeper woke"
end)
task.wait_all { child, sleeper }
print(table.concat(order, ", "))
]])
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("sleeper woke, child exited 0\n", r.stdout)
    end)

    it("gives one record: code, signal, stdout and stderr, in a task as outside", function()
      local r = run([[
local task, proc = require "nt3.task", require "nt3.proc"
local function show(res) print(res.code, res.signal, res.stdout, res.stderr) end
local argv = { "/bin/sh", "-c", "echo out; echo err >&2; exit 7" }
show(proc.run(argv))
show(task.wait(task.spawn(proc.run, argv)))
local t = task.wait(task.spawn(proc.run, { "/bin/sleep", "5" }, { timeout = 0.2 }))
print(t.code == proc.TIMED_OUT, t.signal)
]])
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("7\t0\tout\n\terr\n\n7\t0\tout\n\terr\n\ntrue\t15\n", r.stdout)
    end)

    it("runs children side by side: three 1 s children in tasks overlap", function()
      local r = run([[
local task, proc = require "nt3.task", require "nt3.proc"
local results = task.map({ 1, 2, 3 }, function(i)
  return proc.run({ "/bin/sh", "-c", "date +%s.%N; sleep 1; date +%s.%N" }).stdout
end, { concurrency = 3 })
-- every child started before any ended
local last_start, first_end = 0, math.huge
for _, out in ipairs(results) do
  local s, e = out:match("^(%S+)\n(%S+)")
  last_start, first_end = math.max(last_start, tonumber(s)), math.min(first_end, tonumber(e))
end
print(last_start < first_end)
]])
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("true\n", r.stdout)
    end)
  end)

  describe("task.cancel", function()
    it("ends a task mid-transfer: the server sees the connection dropped, and its <close> ran", function()
      local r = run(CLOSER .. [[
local http = require "nt3.http"
local t = task.spawn(function()
  local c <close> = closer("transfer task")
  http.request { url = arg[1] .. "/hold?key=cancel-1&seconds=30" }
  print("never")
end)
-- until the server holds the request
task.poll({ every = 0.02, timeout = 20 }, function()
  return require("nt3.json").decode(http.request { url = arg[1] .. "/_hold?key=cancel-1" }.body).state == "open"
end)
print("cancelled", task.cancel(t))
print(pcall(task.wait, t))
print("server saw", task.poll({ every = 0.02, timeout = 20 }, function()
  local state = require("nt3.json").decode(http.request { url = arg[1] .. "/_hold?key=cancel-1" }.body).state
  return state ~= "open" and state
end))
]], srv.url)
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("cancelled\ttrue\nclosed transfer task\nfalse\tcancelled\nserver saw\tdropped\n", r.stdout)
    end)

    it("kills the child of a task cancelled in proc.run, and runs its <close>", function()
      local r = run(CLOSER .. [[
local proc = require "nt3.proc"
local pidfile = os.tmpname()
local t = task.spawn(function()
  local c <close> = closer("proc task")
  proc.run({ "/bin/sh", "-c", "echo $$ > " .. pidfile .. "; exec sleep 30" })
end)
task.poll({ every = 0.02, timeout = 20 }, function()
  local f = io.open(pidfile)
  local pid = f and f:read("n")
  if f then f:close() end
  return pid
end)
local f = io.open(pidfile)
local pid = f:read("n")
f:close()
os.remove(pidfile)
task.cancel(t)
print(pcall(task.wait, t))
print(pid)
]])
      assert.are.equal(0, r.code, r.stderr)
      local pid = r.stdout:match("\n(%d+)\n$")
      assert.are.equal("closed proc task\nfalse\tcancelled\n" .. pid .. "\n", r.stdout)
      assert.is_false(alive(pid), "the child " .. pid .. " still runs")
    end)

    it("cancels a task that has not started, and one in task.sleep; a done task is left alone", function()
      local r = run([[
local task = require "nt3.task"
local done = task.spawn(function() return "done" end)
task.sleep(0)
local sleeping = task.spawn(function() task.sleep(30) end)
local fresh = task.spawn(function() print("never") end)
print(task.cancel(fresh), task.cancel(done))
task.sleep(0)
print(task.cancel(sleeping))
print(pcall(task.wait, fresh))
print(pcall(task.wait, sleeping))
print(task.wait(done))
]])
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("true\tfalse\ntrue\nfalse\tcancelled\nfalse\tcancelled\ndone\n", r.stdout)
    end)
  end)

  describe("timeouts", function()
    it("task.timeout gives fn's results in time, else nil, message, \"timeout\" after cancelling it", function()
      local r = run(CLOSER .. [[
print(task.timeout(5, function(a) return a, "b" end, "a"))
print(task.timeout(0.1, function()
  local c <close> = closer("slow fn")
  task.sleep(30)
end))
]])
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("a\tb\nclosed slow fn\nnil\ttask.timeout: timed out after 0.1 s\ttimeout\n", r.stdout)
    end)

    it("task.wait's timeout leaves the task running; task.map's cancels what is unfinished", function()
      local r = run([[
local task = require "nt3.task"
local t = task.spawn(function() task.sleep(0.3) return "late" end)
print(task.wait(t, { timeout = 0.05 }))
print(task.wait(t))
local results, errors = task.map({ 0, 30, 0, 30 }, function(s) task.sleep(s) return s end,
  { concurrency = 4, timeout = 0.2 })
print(results[1], results[3], errors[2], errors[4], errors[1])
]])
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("nil\ttask.wait: timed out after 0.05 s\ttimeout\nlate\n"
        .. "0\t0\ttask.map: timed out after 0.2 s\ttask.map: timed out after 0.2 s\tnil\n", r.stdout)
    end)
  end)

  describe("the first to finish", function()
    it("task.any gives the first success and its index, and cancels the rest", function()
      local r = run(CLOSER .. [[
local slow = task.spawn(function() local c <close> = closer("slow") task.sleep(30) end)
local failing = task.spawn(function() error("broke", 0) end)
local quick = task.spawn(function() task.sleep(0.05) return "quick" end)
print(task.any { slow, failing, quick })
print(pcall(task.wait, slow))
print(pcall(task.any, { task.spawn(error, "e1", 0), task.spawn(error, "e2", 0) }))
]])
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("closed slow\nquick\t3\nfalse\tcancelled\n"
        .. "false\ttask.any: all 2 tasks failed; the first: e1\n", r.stdout)
    end)

    it("task.any leaves the rest running when asked", function()
      local r = run([[
local task = require "nt3.task"
local a = task.spawn(function() task.sleep(0.2) return "a" end)
local b = task.spawn(function() return "b" end)
print(task.any({ a, b }, { cancel = false }))
print(task.wait(a))
]])
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("b\t2\na\n", r.stdout)
    end)

    it("task.as_completed gives every result in the order the tasks finish", function()
      local r = run([[
local task = require "nt3.task"
local tasks = {}
for i, s in ipairs { 0.3, 0.1, 0.2 } do
  tasks[i] = task.spawn(function() task.sleep(s) if i == 3 then error("third", 0) end return s end)
end
for i, ok, value in task.as_completed(tasks) do print(i, ok, value) end
]])
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("2\ttrue\t0.1\n3\tfalse\tthird\n1\ttrue\t0.3\n", r.stdout)
    end)
  end)

  describe("limits across tasks", function()
    it("a semaphore bounds the requests in flight at the server", function()
      local r = run([[
local task, http = require "nt3.task", require "nt3.http"
http.request { url = arg[1] .. "/_stats?reset=1" }
local sem = task.semaphore(2)
local inside, most = 0, 0
local list = {}
for i = 1, 8 do list[i] = i end
task.map(list, function(i)
  return sem:with(function()
    inside = inside + 1
    most = math.max(most, inside)
    local res = http.request { url = arg[1] .. "/slow?seconds=0.1&i=" .. i }
    inside = inside - 1
    return res.status
  end)
end, { concurrency = 8 })
local stats = require("nt3.json").decode(http.request { url = arg[1] .. "/_stats" }.body)
print(most, stats.max_in_flight)
print(sem:acquire { timeout = 0 })
sem:release()
]], srv.url)
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("2\t2\ntrue\n", r.stdout)
    end)

    it("a semaphore's acquire times out, and a permit is never lost to a waiter that gave up", function()
      local r = run([[
local task = require "nt3.task"
local sem = task.semaphore(1)
sem:acquire()
print(task.wait(task.spawn(function() return sem:acquire { timeout = 0.05 } end)))
local waiter = task.spawn(function() sem:acquire() return "got it" end)
task.sleep(0)
sem:release()
print(task.wait(waiter))
]])
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("nil\tsemaphore:acquire: timed out after 0.05 s\ttimeout\ngot it\n", r.stdout)
    end)

    it("a rate limiter spaces starts: 5 per second per key, keys apart", function()
      local r = run([[
local task, policy = require "nt3.task", require "nt3.policy"
local limit = task.limiter(5)
local times = {}
task.map({ "a", "a", "a", "b" }, function(key, i)
  limit:wait(key)
  times[i] = policy.now()
end, { concurrency = 4 })
-- the three "a" starts are 0.2 s apart at the least; "b" did not wait for them
table.sort(times, function(x, y) return x < y end)
print(times[3] - times[1] >= 0.2, times[4] - times[1] >= 0.4 - 1e-3)
]])
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("true\ttrue\n", r.stdout)
    end)
  end)

  describe("task.poll", function()
    it("calls the predicate until it holds, each pause longer by backoff, up to max_every", function()
      local r = run([[
local task, policy = require "nt3.task", require "nt3.policy"
local calls = {}
print(task.poll({ every = 0.01, backoff = 2, max_every = 0.04 }, function(n)
  calls[#calls + 1] = policy.now()
  if #calls == 5 then return "ready", n end
end, 42))
local gaps = {}
for i = 2, #calls do gaps[#gaps + 1] = calls[i] - calls[i - 1] end
-- 0.01, 0.02, 0.04, 0.04 at the least: the third is at least the first doubled
print(#calls, gaps[2] >= 0.02, gaps[3] >= 0.04, gaps[4] >= 0.04)
print(task.poll({ every = 0.01, timeout = 0.05 }, function() return false end))
]])
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("ready\t42\n5\ttrue\ttrue\ttrue\nnil\ttask.poll: timed out after 0.05 s\ttimeout\n", r.stdout)
    end)
  end)

  describe("task.scope", function()
    it("with fail_fast, the first failure cancels the siblings (their <close> runs) and is raised", function()
      local r = run(CLOSER .. [[
print(pcall(task.scope, function(s)
  s:spawn(function() local c <close> = closer("sibling") task.sleep(30) end)
  s:spawn(function() task.sleep(0.05) error("first failure", 0) end)
end, { fail_fast = true }))
]])
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("closed sibling\nfalse\tfirst failure\n", r.stdout)
    end)

    it("waits for every task it spawned before it returns", function()
      local r = run([[
local task = require "nt3.task"
local log = {}
local out = task.scope(function(s)
  s:spawn(function() task.sleep(0.1) log[#log + 1] = "slow" end)
  s:spawn(function() log[#log + 1] = "quick" end)
  return "body"
end)
print(out, table.concat(log, " "))
]])
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("body\tquick slow\n", r.stdout)
    end)

    it("still reports a failure nothing waited for when not fail_fast", function()
      local r = run([[
local task = require "nt3.task"
task.scope(function(s) s:spawn(function() error("unseen", 0) end) end)
print("after the scope")
]])
      assert.are.equal(1, r.code)
      assert.are.equal("after the scope\n", r.stdout)
      assert.are.equal("nt3: a task failed and nothing waited for it: unseen\n", r.stderr)
    end)
  end)

  describe("Ctrl-C", function()
    it("during a task's proc.run and another's sleep ends nt3 with 130 and ends the child", function()
      local pidfile = sh.tmpdir() .. "/pid"
      local job = job_util.spawn({ "run", sh.script(CLOSER .. [[
local proc = require "nt3.proc"
local pidfile = arg[1]
task.spawn(function() task.sleep(30) end)
task.spawn(function()
  local c <close> = closer("child task")
  proc.run({ "/bin/sh", "-c", "echo $$ > " .. pidfile .. "; exec sleep 30" })
end)
task.sleep(30)
]]), pidfile })
      local function pid() return (sh.slurp(pidfile) or ""):match("%d+") end
      assert.is_true(job_util.eventually(pid, 20), "the child never started")
      local child = pid()
      job.interrupt()
      local r = job.finish(10)
      assert.is_true(r.ended, "nt3 was not interrupted")
      assert.are.equal(130, r.code)
      assert.are.equal("nt3: interrupted\n", r.stderr)
      assert.are.equal("closed child task\n", r.stdout)
      assert.is_false(alive(child), "the child " .. child .. " still runs")
    end)
  end)
end)

describe("Ctrl-C in a task nothing waits for", function()
  local pty = require "helpers.pty"
  it("ends the script at once: the main task is interrupted where it waits (exit 130)", function()
    -- the Ctrl-C lands in the spawned task, the one running Lua; the main
    -- task sleeps for a minute and must not sleep it out
    local script = sh.script([[
local task = require("nt3").task
task.spawn(function()
  io.stdout:write("BUSY\n") io.stdout:flush()
  local n = 0
  while true do n = n + 1 end
end)
task.sleep(60)
print("slept it out")
]])
    local r = pty.run({ "run", script }, {
      allow_error = true, timeout = 20, steps = { { expect = "BUSY" }, { send = "\3" } },
    })
    assert.is_nil(r.error, r.output)
    assert.are.equal(130, r.code, r.output)
    assert.truthy(r.output:find("nt3: interrupted", 1, true), r.output)
    assert.is_nil(r.output:find("slept it out", 1, true), r.output)
  end)
end)
