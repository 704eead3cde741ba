-- nt3.task: concurrency without threads (docs/architecture.md, "Waiting").
-- Tasks are coroutines; an nt3.http or nt3.api request, an nt3.proc run or
-- a task.sleep made inside one yields while it waits, and the one wait
-- (nt3.sched, in C) watches every transfer, process and timer at once.
-- Outside a task they simply block. `nt3 run` scripts and user commands
-- already run inside the scheduler.
--
-- This module owns the tasks: the ready queue, who waits for whom, what a
-- failure or a cancel does. What a task waits on outside Lua keeps the
-- task to wake itself and hands it back through sched.wait, with the token
-- the task yielded on: a task is resumed only by the wait it is in.
local coroutine, error, getmetatable, ipairs, math = coroutine, error, getmetatable, ipairs, math
local next, pairs, pcall, select, setmetatable, table = next, pairs, pcall, select, setmetatable, table
local require, tostring, type = require, tostring, type
local check = require "nt3.check"
local policy = require "nt3.policy"
local sched = require "nt3.sched"

local M = {}

M.DEFAULT_CONCURRENCY = 8

-- What a waiting task yields (then its token), and what it is resumed with
-- to be cancelled (then the error to raise).
local MARK, CANCEL = sched.MARK, sched.CANCEL

-- What Ctrl-C raises in a script (nt3 run): a stable code, not a message.
M.INTERRUPTED = "interrupted"
-- What task.cancel raises in the task at its next wait.
M.CANCELLED = "cancelled"

local Task = {}
Task.__index = Task
Task.__name = "nt3.task"

local current -- the scheduler running now, if any
-- the coroutines that are tasks, and their tasks (C reads it too): a
-- coroutine a task makes for itself (a generator) is not one, and what it
-- yields is its own business
local task_of = sched.tasks()

local function new_scheduler()
  return {
    -- the tasks to resume, in order, each with how (PLAIN, or the error a
    -- cancel raises): ready[2k - 1], ready[2k], nready pairs; the batch
    -- being stepped is spare's meanwhile, and both are kept for reuse
    ready = {},
    nready = 0,
    spare = {},
    alive = 0,
    unwaited = {}, -- failed tasks nobody waited for
    unread = {},   -- task.map calls where every item failed and nobody read the errors
    live = {},     -- the tasks not yet done, by spawn number, to close what
                   -- is left if the loop fails (a done task leaves it: only
                   -- who holds it, or s.unwaited, keeps it)
    spawned = 0,   -- how many tasks have been spawned
    finished = 0,  -- how many tasks have finished: their order, for task.as_completed
  }
end

-- How a task in the ready queue is resumed when not to be cancelled: with
-- nothing (its first resume: with its spawn arguments).
local PLAIN = {}

local function push_ready(s, task, how)
  local n = s.nready + 1
  s.nready = n
  local ready = s.ready
  ready[2 * n - 1] = task
  ready[2 * n] = how
end

-- Resumes task if it still waits on token; whether it did.
local function wake(s, task, token)
  if task.status ~= "waiting" or task.waiting_on ~= token then return false end
  task.waiting_on = nil
  push_ready(s, task, PLAIN)
  return true
end

-- Ends task's wait with err raised where it waits: a C wait (a request, a
-- process, a sleep) lets go of what it waited on first.
local function interrupt(s, task, err)
  task.waiting_on = nil
  task.cancel_sent = true
  push_ready(s, task, err)
end

local function settle(s, task, ok, ...)
  task.status = "done"
  task.ok = ok
  s.live[task] = nil
  s.finished = s.finished + 1
  task.order = s.finished
  local waiters = task.waiters -- task, token, task, token ...
  if ok then
    -- one result (the most common) is kept as it is, several packed
    local n = select("#", ...)
    task.nres = n
    if n == 1 then
      task.results = ...
    elseif n > 1 then
      task.results = table.pack(...)
    end
  else
    task.error = ...
    -- a cancelled task's end was asked for: it is nobody's failure
    local cancelled = task.cancel_err ~= nil and task.error == task.cancel_err
    local watched = false
    if waiters then
      for i = 1, #waiters, 2 do watched = watched or waiters[i].waiting_on == waiters[i + 1] end
    end
    if not cancelled and not watched and not task.awaited then s.unwaited[task] = true end
    -- Ctrl-C lands in whichever task runs Lua then; one nothing waits for
    -- (a timer, a task spawned and left) hands it on to the main task, so
    -- the script ends as it would had the main task been running
    -- (not one cancelled with it: its end was asked for, as nt3 repl does)
    if task.error == M.INTERRUPTED and not cancelled and s.main and task ~= s.main and s.main.status == "waiting" then
      interrupt(s, s.main, M.INTERRUPTED)
    end
    -- what an error left open: its <close> variables
    pcall(coroutine.close, task.co)
  end
  s.alive = s.alive - 1
  if waiters then
    task.waiters = false
    for i = 1, #waiters, 2 do wake(s, waiters[i], waiters[i + 1]) end
  end
  if task.on_done then task.on_done(task) end
end

-- What a resume of task gave: its end, or the wait it yielded on.
local function resumed(s, task, ok, ...)
  if not ok then return settle(s, task, false, (...)) end
  if coroutine.status(task.co) == "dead" then return settle(s, task, true, ...) end
  task.status = "waiting"
  local what, token = ...
  if what == MARK then
    task.waiting_on = token
    -- a cancel asked for while it ran ends it at this wait
    if task.cancel_err and not task.cancel_sent then interrupt(s, task, task.cancel_err) end
  else
    -- a plain coroutine.yield() in a task gives the others a turn
    push_ready(s, task, PLAIN)
  end
end

local function step(s, task, how)
  local status = task.status
  if status == "done" then return end
  task.status = "running"
  if status == "ready" then
    local args = task.args
    if not args then return resumed(s, task, coroutine.resume(task.co)) end
    task.args = nil
    return resumed(s, task, coroutine.resume(task.co, table.unpack(args, 1, args.n)))
  end
  if how == PLAIN then return resumed(s, task, coroutine.resume(task.co)) end
  return resumed(s, task, coroutine.resume(task.co, CANCEL, how))
end

-- The one wait. Ctrl-C arrives here when every task waits: it is raised in
-- the main task, where it waits, so the script's pcall and <close> see it
-- as they would in plain Lua.
local function wait(s)
  local ok, woken, pending = pcall(sched.wait, -1)
  if ok then return woken, pending end
  if s.main and s.main.status == "waiting" then
    interrupt(s, s.main, woken)
    return {}, true
  end
  error(woken, 0)
end

local function loop(s)
  while true do
    while s.nready > 0 do
      local batch, n = s.ready, s.nready
      s.ready, s.nready = s.spare, 0
      for i = 1, 2 * n, 2 do
        local task, how = batch[i], batch[i + 1]
        batch[i], batch[i + 1] = nil, nil
        step(s, task, how)
      end
      s.spare = batch
    end
    if s.alive == 0 then return end
    -- the main task failed (Ctrl-C, an error): the others end with it
    if s.main.status == "done" and not s.main.ok then
      s.main.awaited = true
      error(s.main.error, 0)
    end
    local woken, pending = wait(s)
    for i = 1, #woken, 2 do wake(s, woken[i], woken[i + 1]) end
    if s.nready == 0 and not pending then error("every task is waiting for another task: none can go on", 0) end
  end
end

local function spawn_in(s, fn, ...)
  local co = coroutine.create(fn)
  -- five fields make room for eight, so that results, awaited, waiters
  -- (task, token, ...: made when one waits for it) and waiting_on fit
  -- without growing the table
  local task = setmetatable({ co = co, status = "ready", ok = false, order = false, nres = 0 }, Task)
  if select("#", ...) > 0 then task.args = table.pack(...) end
  task_of[co] = task
  s.spawned = s.spawned + 1
  s.live[task] = s.spawned
  s.alive = s.alive + 1
  push_ready(s, task, PLAIN)
  return task
end

-- The tasks of s not yet done, in the order they were spawned.
local function live_tasks(s)
  local list, live = {}, s.live
  for t in pairs(live) do list[#list + 1] = t end
  table.sort(list, function(a, b) return live[a] < live[b] end)
  return list
end

local function self_task()
  local task = current and task_of[coroutine.running()]
  if not task then error("not inside a task (use task.run, or run the script with 'nt3 run')", 3) end
  return task
end

-- Waits, in a task, until something wakes it with token.
local function park(token)
  local r, err = coroutine.yield(MARK, token)
  if r == CANCEL then error(err, 0) end
end

-- Cancels task (see M.cancel); s is the scheduler it belongs to.
local function cancel(s, task, err)
  if task.status == "done" then return false end
  task.cancel_err = task.cancel_err or err or M.CANCELLED
  if task.status == "ready" then
    task.args = nil
    settle(s, task, false, task.cancel_err)
  elseif task.status == "waiting" and task.waiting_on ~= nil and not task.cancel_sent then
    interrupt(s, task, task.cancel_err)
  end
  return true
end

-- Calls fn once seconds have passed, from a task of its own; cancelling
-- that task takes the alarm back.
local function alarm(s, seconds, fn)
  return spawn_in(s, function()
    sched.sleep(seconds)
    fn()
  end)
end

-- Has task me woken with token once task t is done.
local function add_waiter(t, me, token)
  local waiters = t.waiters
  if not waiters then
    t.waiters = { me, token }
  else
    waiters[#waiters + 1] = me
    waiters[#waiters + 1] = token
  end
end

-- Parks the running task me on token until a wake with it, or seconds
-- pass (nil: no limit).
local function park_for(me, token, seconds)
  if not seconds then return park(token) end
  local timer = alarm(current, seconds, function() wake(current, me, token) end)
  local ok, err = pcall(park, token)
  cancel(current, timer)
  if not ok then error(err, 0) end
end

-- Waits in the running task until one of tasks is done, or seconds pass
-- (nil: no limit). Returns whether one is done.
local function await_any(tasks, seconds)
  for _, t in pairs(tasks) do
    if t.status == "done" then return true end
  end
  local me, token = self_task(), {}
  for _, t in pairs(tasks) do add_waiter(t, me, token) end
  park_for(me, token, seconds)
  for _, t in pairs(tasks) do
    if t.status == "done" then return true end
  end
  return false
end

-- await_any of the one task t, with no list: its token is t itself, as
-- nothing else wakes a task with a task (a stale wake of an earlier wait
-- for t says what this one waits to hear).
local function await_one(t, seconds)
  if t.status == "done" then return true end
  local me = self_task()
  add_waiter(t, me, t)
  park_for(me, t, seconds)
  return t.status == "done"
end

-- Waits until every task of list has ended (cancelled ones included), come
-- what may meanwhile: nothing they opened outlives the caller's wait.
local function until_ended(list)
  for _, t in ipairs(list) do
    while t.status ~= "done" do pcall(await_one, t) end
  end
end

-- The results of a finished task.
local function results_of(task)
  local n = task.nres
  if n == 1 then return task.results end
  if n == 0 then return end
  return table.unpack(task.results, 1, n)
end

-- The results of a finished task, or its error raised again.
local function outcome(task)
  if current then current.unwaited[task] = nil end
  task.awaited = true
  if not task.ok then error(task.error, 0) end
  return results_of(task)
end

local function check_seconds(i, name, seconds, optional)
  if seconds == nil and optional then return end
  if type(seconds) ~= "number" or seconds ~= seconds or seconds < 0 then
    check.fail(i, name, "seconds must be a number of 0 or more")
  end
end

local function check_task(i, name, task)
  if getmetatable(task) ~= Task then check.fail(i, name, "task expected, got " .. type(task)) end
end

local function check_tasks(name, tasks)
  check.arg(1, name, tasks, "table")
  for i, t in ipairs(tasks) do
    if getmetatable(t) ~= Task then check.fail(1, name, ("tasks[%d] is not a task"):format(i)) end
  end
end

local function timed_out(what, seconds)
  return nil, ("%s: timed out after %g s"):format(what, seconds), "timeout"
end

-- task.run(fn, ...) -> fn's results
-- Runs fn as a task and every task it spawns, until all are done. Inside a
-- task already, it simply calls fn.
function M.run(fn, ...)
  check.arg(1, "run", fn, "function")
  if current then return fn(...) end
  local s = new_scheduler()
  current = s
  local main = spawn_in(s, fn, ...)
  s.main = main
  local ok, err = pcall(loop, s)
  if not ok then
    -- what is left ends here: requests and processes cancelled, <close>
    -- variables closed
    for _, task in ipairs(live_tasks(s)) do
      if task.status ~= "done" and coroutine.status(task.co) == "suspended" then
        if task.status ~= "ready" and task.waiting_on ~= nil then coroutine.resume(task.co, CANCEL, err) end
        coroutine.close(task.co)
      end
    end
    current = nil
    error(err, 0)
  end
  current = nil
  main.awaited = true
  s.unwaited[main] = nil
  local failed = next(s.unwaited)
  if not main.ok then error(main.error, 0) end
  if failed then error("a task failed and nothing waited for it: " .. tostring(failed.error), 0) end
  local unread = next(s.unread)
  if unread then error(s.unread[unread], 0) end
  return results_of(main)
end

local function in_task()
  return current ~= nil and task_of[coroutine.running()] ~= nil
end
-- task._in_task() -> whether the caller runs as a task (may spawn and
-- wait). Private to nt3.api.common, whose api.pages looks ahead only then.
M._in_task = in_task

-- task.spawn(fn, ...) -> task: starts fn(...) as a task of its own
function M.spawn(fn, ...)
  if type(fn) ~= "function" then check.arg(1, "spawn", fn, "function") end
  if not current then error("task.spawn outside a task (use task.run, or run the script with 'nt3 run')", 2) end
  return spawn_in(current, fn, ...)
end

-- task.wait(task [, opts]) -> the task's results (its error is raised
-- again) | nil, message, "timeout" once opts.timeout seconds pass (the
-- task goes on).
function M.wait(task, opts)
  check_task(1, "wait", task)
  local seconds
  if opts ~= nil then
    check.arg(2, "wait", opts, "table")
    seconds = opts.timeout
    check_seconds(2, "wait", seconds, true)
  end
  if task.status ~= "done" then
    if not in_task() then error("task.wait outside a task", 2) end
    if not await_one(task, seconds) then return timed_out("task.wait", seconds) end
  end
  return outcome(task)
end
Task.wait = M.wait

-- task._cancel_others(err): cancels every task of the running scheduler
-- but the caller's own, err (default "cancelled") raised where each waits
-- so that its <close> clean-ups run, and waits until all have ended.
-- Private to nt3 repl, whose Ctrl-C ends what the evaluations spawned.
function M._cancel_others(err)
  local me = self_task()
  local list = {}
  for _, t in ipairs(live_tasks(current)) do
    if t ~= me and t.status ~= "done" and cancel(current, t, err) then list[#list + 1] = t end
  end
  until_ended(list)
  return #list
end

-- task:done() -> whether the task has finished
function Task:done() return self.status == "done" end

-- task.cancel(task) -> whether it was still running. The task ends at its
-- next wait: the error "cancelled" is raised there (its <close> variables
-- close), and the request or process it waits for is aborted.
function M.cancel(task)
  check_task(1, "cancel", task)
  if not current then return false end
  return cancel(current, task)
end
Task.cancel = M.cancel

-- task.wait_all(tasks) -> results, errors: results[i] is the first value
-- task i returned, errors[i] its error (errors is nil when none failed).
function M.wait_all(tasks)
  check_tasks("wait_all", tasks)
  local results, errors = { n = #tasks }, nil
  for i, task in ipairs(tasks) do
    local ok, value = pcall(M.wait, task)
    if ok then
      results[i] = value
    else
      errors = errors or {}
      errors[i] = value
    end
  end
  return results, errors
end

-- task.as_completed(tasks) -> iterator of i, ok, value: each task once, in
-- the order they finish; value is its first result, or its error.
function M.as_completed(tasks)
  check_tasks("as_completed", tasks)
  local left = {}
  for i, t in ipairs(tasks) do left[i] = t end
  return function()
    while next(left) do
      local best
      for i, t in pairs(left) do
        if t.status == "done" and (not best or t.order < left[best].order) then best = i end
      end
      if best then
        local t = left[best]
        left[best] = nil
        local ok, value = pcall(outcome, t)
        return best, ok, value
      end
      if not in_task() then error("task.as_completed outside a task", 2) end
      await_any(left)
    end
    return nil
  end
end

-- task.any(tasks [, opts]) -> value, i: the first result of the first task
-- to succeed, and its index. The others are cancelled unless opts.cancel
-- is false. When every task fails, the first error is raised.
function M.any(tasks, opts)
  check_tasks("any", tasks)
  check.arg(2, "any", opts, "table", true)
  if #tasks == 0 then check.fail(1, "any", "no tasks") end
  local first_error
  for i, ok, value in M.as_completed(tasks) do
    if ok then
      if opts and opts.cancel == false then return value, i end
      -- the others end before this returns: nothing they opened outlives it
      local cancelled = {}
      for _, t in ipairs(tasks) do
        if t.status ~= "done" and cancel(current, t) then cancelled[#cancelled + 1] = t end
      end
      until_ended(cancelled)
      return value, i
    end
    first_error = first_error or value
  end
  error(("task.any: all %d tasks failed; the first: %s"):format(#tasks, tostring(first_error)), 0)
end

-- task.timeout(seconds, fn, ...) -> fn's results | nil, message, "timeout"
-- Runs fn(...) in a task of its own, cancelled if it has not finished
-- within seconds (its <close> variables close before this returns).
function M.timeout(seconds, fn, ...)
  check_seconds(1, "timeout", seconds)
  check.arg(2, "timeout", fn, "function")
  if not current then return M.run(M.timeout, seconds, fn, ...) end
  local t = M.spawn(fn, ...)
  t.awaited = true
  local ok, done = pcall(await_one, t, seconds)
  if not ok or not done then
    cancel(current, t)
    until_ended { t }
    if not ok then error(done, 0) end
    return timed_out("task.timeout", seconds)
  end
  return outcome(t)
end

-- task.sleep(seconds): lets the other tasks run meanwhile; outside a task
-- it simply sleeps.
function M.sleep(seconds)
  check.arg(1, "sleep", seconds, "number")
  if seconds ~= seconds or seconds < 0 then check.fail(1, "sleep", "seconds must be 0 or more") end
  if in_task() or seconds > 0 then sched.sleep(seconds) end
end

-- task.poll(opts, fn, ...) -> fn's results, once its first is truthy |
-- nil, message, "timeout". Calls fn(...) now and then every opts.every
-- seconds (default 1), each pause opts.backoff times the last (default 1,
-- at most opts.max_every), until opts.timeout seconds have passed.
function M.poll(opts, fn, ...)
  check.arg(1, "poll", opts, "table")
  check.arg(2, "poll", fn, "function")
  local every, factor = opts.every or 1, opts.backoff or 1
  check_seconds(1, "poll", every)
  check_seconds(1, "poll", opts.timeout, true)
  check_seconds(1, "poll", opts.max_every, true)
  if type(factor) ~= "number" or factor < 1 then check.fail(1, "poll", "backoff must be a number of 1 or more") end
  local deadline = opts.timeout and policy.now() + opts.timeout
  local pause = every
  while true do
    local r = table.pack(fn(...))
    if r[1] then return table.unpack(r, 1, r.n) end
    local now = policy.now()
    if deadline and now >= deadline then return timed_out("task.poll", opts.timeout) end
    local nap = pause
    if deadline and now + nap > deadline then nap = deadline - now end
    M.sleep(nap)
    pause = pause * factor
    if opts.max_every and pause > opts.max_every then pause = opts.max_every end
  end
end

-- task.semaphore(n) -> semaphore: at most n holders at once, for any
-- code in tasks (not only task.map).
local Semaphore = {}
Semaphore.__index = Semaphore
Semaphore.__name = "nt3.task.semaphore"

function M.semaphore(n)
  if math.type(n) ~= "integer" or n < 1 then check.fail(1, "semaphore", "n must be a whole number of 1 or more") end
  return setmetatable({ count = n, queue = {} }, Semaphore)
end

-- semaphore:acquire([opts]) -> true | nil, message, "timeout"
function Semaphore:acquire(opts)
  check.arg(1, "acquire", opts, "table", true)
  local seconds = opts and opts.timeout
  check_seconds(1, "acquire", seconds, true)
  if self.count > 0 and #self.queue == 0 then
    self.count = self.count - 1
    return true
  end
  if not in_task() then error("semaphore:acquire would wait forever outside a task", 2) end
  local me = self_task()
  local w = { task = me, token = {} }
  self.queue[#self.queue + 1] = w
  local timer
  if seconds then timer = alarm(current, seconds, function() wake(current, me, w.token) end) end
  local ok, err = pcall(park, w.token)
  if timer then cancel(current, timer) end
  if not ok then
    if w.granted then self:release() end
    error(err, 0)
  end
  if not w.granted then return timed_out("semaphore:acquire", seconds) end
  return true
end

-- semaphore:release(): gives a permit back (to the first task waiting)
function Semaphore:release()
  while #self.queue > 0 do
    local w = table.remove(self.queue, 1)
    if current and wake(current, w.task, w.token) then
      w.granted = true
      return
    end
  end
  self.count = self.count + 1
end

-- semaphore:with(fn, ...) -> fn's results: holds a permit while fn runs
function Semaphore:with(fn, ...)
  check.arg(1, "with", fn, "function")
  self:acquire()
  local r = table.pack(pcall(fn, ...))
  self:release()
  if not r[1] then error(r[2], 0) end
  return table.unpack(r, 2, r.n)
end

-- task.limiter(rate [, opts]) -> limiter: at most `rate` starts per
-- opts.per seconds (default 1), shared, or per key (an origin).
local Limiter = {}
Limiter.__index = Limiter
Limiter.__name = "nt3.task.limiter"

function M.limiter(rate, opts)
  if type(rate) ~= "number" or rate ~= rate or rate <= 0 then
    check.fail(1, "limiter", "rate must be a number above 0")
  end
  check.arg(2, "limiter", opts, "table", true)
  local per = opts and opts.per or 1
  check_seconds(2, "limiter", per)
  return setmetatable({ interval = per / rate, next_at = {} }, Limiter)
end

-- limiter:wait([key]): returns when the next start is allowed (for key, a
-- string such as an origin; none: the limiter's one shared budget)
function Limiter:wait(key)
  check.arg(1, "wait", key, "string", true)
  key = key or ""
  local now = policy.now()
  local at = math.max(now, self.next_at[key] or now)
  self.next_at[key] = at + self.interval
  if at > now then M.sleep(at - now) end
end

-- task.scope(fn [, opts]) -> fn's results. fn(scope) spawns tasks with
-- scope:spawn(fn, ...); none outlives the scope, which waits for them all
-- before it returns. With opts.fail_fast, the first failure cancels the
-- others and is raised.
local Scope = {}
Scope.__index = Scope
Scope.__name = "nt3.task.scope"

function Scope:spawn(fn, ...)
  check.arg(1, "spawn", fn, "function")
  local t = M.spawn(fn, ...)
  self.tasks[#self.tasks + 1] = t
  t.on_done = function(done)
    if done.ok or self.failed then return end
    if done.cancel_err and done.error == done.cancel_err then return end
    if self.fail_fast then
      self.failed = done
      done.awaited = true
      current.unwaited[done] = nil
      self:cancel()
    end
  end
  return t
end

-- scope:cancel(): cancels every task of the scope
function Scope:cancel()
  for _, t in ipairs(self.tasks) do
    if t.status ~= "done" then cancel(current, t) end
  end
end

local function scope_open(sc)
  for _, t in ipairs(sc.tasks) do
    if t.status ~= "done" then return true end
  end
  return false
end

function M.scope(fn, opts)
  check.arg(1, "scope", fn, "function")
  check.arg(2, "scope", opts, "table", true)
  if not current then return M.run(M.scope, fn, opts) end
  local sc = setmetatable({ tasks = {}, fail_fast = opts and opts.fail_fast }, Scope)
  local r = table.pack(pcall(fn, sc))
  local err = not r[1] and r[2] or nil
  if err then sc:cancel() end
  while scope_open(sc) do
    local open = {}
    for _, t in ipairs(sc.tasks) do
      if t.status ~= "done" then open[#open + 1] = t end
    end
    local ok, why = pcall(await_any, open)
    if not ok then
      -- the scope's own task is cancelled (or Ctrl-C): its tasks end too
      err = err or why
      sc:cancel()
    end
  end
  if err then error(err, 0) end
  if sc.failed then error(sc.failed.error, 0) end
  -- the scope waited for its tasks, but their failures are still nobody's
  -- to have seen: reported at the end of the run, as for any task
  for _, t in ipairs(sc.tasks) do
    local cancelled = t.cancel_err ~= nil and t.error == t.cancel_err
    if not t.ok and not t.awaited and not cancelled then current.unwaited[t] = true end
  end
  return table.unpack(r, 2, r.n)
end

-- task.map's concurrency when the caller gives none: 8, unless the host's
-- nt3.cli supplies the `http.concurrency` setting through
-- M._set_default_concurrency (docs/architecture.md, "Settings and aliases").
-- nt3.task depends on no module above it, and a sandbox, which has no
-- settings, keeps 8.
local function default_concurrency() return 8 end

function M._set_default_concurrency(fn)
  default_concurrency = fn
end

-- How long a task.map runs before it shows its progress: quick work never
-- flickers a bar.
M.PROGRESS_DELAY = 1

-- task.map's progress
-- (docs/architecture.md, "Output for people and for pipes"): none, unless the host's nt3.cli supplies a function(total,
-- label, done so far) -> a bar (nt3.ui.progress) or nil through
-- M._set_progress. It is
-- asked once a map has run PROGRESS_DELAY seconds, and decides (the flag,
-- NT3_NO_PROGRESS, the setting, whether stderr is a terminal): nt3.task
-- loads no UI, and a sandbox, which has no host's settings, shows none.
local progress_of = nil
local showing = false -- one bar at a time: a map inside a map shows none

function M._set_progress(fn)
  progress_of = fn
end

-- The progress of one map of n items: a timer that asks for a bar once
-- the delay has passed; closed (timer cancelled, bar erased) however the
-- map ends.
local Watch = {}
Watch.__index = Watch
Watch.__close = function(w)
  if w.timer then cancel(current, w.timer) end
  w.timer = nil
  if w.bar then
    pcall(w.bar.done, w.bar)
    w.bar = nil
  end
  if w.owner then showing = false end
  w.owner = false
end

-- A bar that fails is dropped, but Ctrl-C or a cancel that lands while it
-- draws is no failure of the bar's: it goes on up.
local function drawn(ok, err)
  if not ok and (err == M.INTERRUPTED or err == M.CANCELLED) then error(err, 0) end
  return ok, err
end

function Watch:step()
  self.count = self.count + 1
  if self.bar then drawn(pcall(self.bar.set, self.bar, self.count)) end
end

local function watch(n, label)
  local w = setmetatable({ count = 0 }, Watch)
  if not progress_of or showing or label == false or n == 0 then return w end
  showing, w.owner = true, true
  w.timer = alarm(current, M.PROGRESS_DELAY, function()
    w.timer = nil
    local ok, bar = drawn(pcall(progress_of, n, type(label) == "string" and label or nil, w.count))
    if ok and bar then w.bar = bar end
  end)
  return w
end

-- task.map(list, fn[, opts]) -> results, errors
-- Calls fn(item, i) for every item, at most opts.concurrency (default 8) at
-- a time, each in a task of its own. results[i] is fn's first value for
-- list[i], in input order; errors[i] the error of an item that failed
-- (errors is nil when none did). A failing item does not stop the others,
-- unless opts.fail_fast: then no new item starts and the first error is
-- raised once those running are done. opts.timeout bounds the whole map:
-- items unfinished then are cancelled, with a "timed out" error each.
function M.map(list, fn, opts)
  check.arg(1, "map", list, "table")
  check.arg(2, "map", fn, "function")
  check.arg(3, "map", opts, "table", true)
  opts = opts or {}
  local limit = opts.concurrency
  if limit == nil then
    local err
    limit, err = default_concurrency()
    if limit == nil then error(err, 2) end
  end
  if math.type(limit) ~= "integer" or limit < 1 then
    check.fail(3, "map", "concurrency must be a whole number of 1 or more")
  end
  check_seconds(3, "map", opts.timeout, true)
  if opts.progress ~= nil and opts.progress ~= false and type(opts.progress) ~= "string" then
    check.fail(3, "map", "progress must be false or a label (a string)")
  end
  if not current then
    -- outside a task the caller gets the errors only once the run is over
    return M.run(function()
      local results, errors = M.map(list, fn, opts)
      if errors then local _ = #errors end
      return results, errors
    end)
  end
  local n = #list
  local results, errors = { n = n }, nil
  local nexti, first_error, expired = 0, nil, false
  local function fail(i, value)
    errors = errors or {}
    errors[i] = value
    first_error = first_error or value
  end
  local progress <close> = watch(n, opts.progress)
  local function worker()
    while true do
      if (first_error and opts.fail_fast) or expired then return end
      nexti = nexti + 1
      local i = nexti
      if i > n then return end
      local ok, value = pcall(fn, list[i], i)
      if expired then
        fail(i, select(2, timed_out("task.map", opts.timeout)))
        return
      end
      -- Ctrl-C or a cancel is no item's failure: it ends the whole map
      if not ok and (value == M.INTERRUPTED or value == M.CANCELLED) then error(value, 0) end
      if ok then results[i] = value else fail(i, value) end
      progress:step()
    end
  end
  local workers = {}
  for w = 1, math.min(limit, n) do workers[w] = M.spawn(worker) end
  local timer
  if opts.timeout then
    timer = alarm(current, opts.timeout, function()
      expired = true
      for _, w in ipairs(workers) do cancel(current, w) end
    end)
  end
  for _, w in ipairs(workers) do
    local ok, err = pcall(M.wait, w)
    -- a worker the timeout cancelled before it began ended "cancelled"
    if not ok and not (expired and err == M.CANCELLED) then
      if timer then cancel(current, timer) end
      for _, other in ipairs(workers) do cancel(current, other) end
      error(err, 0)
    end
  end
  if timer then cancel(current, timer) end
  if expired then
    local message = select(2, timed_out("task.map", opts.timeout))
    for i = 1, n do
      if results[i] == nil and not (errors and errors[i]) then fail(i, message) end
    end
  end
  if first_error and opts.fail_fast then error(first_error, 0) end
  if n > 0 and errors and #errors == n then
    -- Every item failed: task.run raises that at the end unless the errors
    -- were read (indexed, pairs, ipairs, #), so a script that ignores them
    -- cannot end with exit 0 and no output.
    local s, store, mark = current, errors, {}
    s.unread[mark] = ("task.map: all %d items failed and nothing read the errors; the first: %s")
      :format(n, tostring(first_error))
    local function read() s.unread[mark] = nil end
    errors = setmetatable({}, {
      __index = function(_, k) read() return store[k] end,
      __pairs = function() read() return next, store, nil end,
      __len = function() read() return n end,
    })
  end
  return results, errors
end

return M
