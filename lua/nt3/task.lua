-- nt3.task: concurrency without threads. Tasks are coroutines; an nt3.http
-- or nt3.api request made inside one yields while its transfer is in
-- flight, and the scheduler drives every transfer of the process at once
-- (nt3.http's engine, over libcurl's multi interface). Outside a task a
-- request simply blocks. `nt3 run` scripts and user commands already run
-- inside the scheduler.
local coroutine, error, getmetatable, ipairs, math = coroutine, error, getmetatable, ipairs, math
local next, pairs, pcall, setmetatable, table = next, pairs, pcall, setmetatable, table
local require, tostring, type = require, tostring, type
local check = require "nt3.check"
local http = require "nt3.http"
local policy = require "nt3.policy"

local M = {}

M.DEFAULT_CONCURRENCY = 8

-- What a task yields to the scheduler, besides nt3.http's own mark.
local SLEEP, JOIN = {}, {}
local TRANSFER, CANCEL = http._MARK, http._CANCEL

-- What Ctrl-C raises in a script (nt3 run): a stable code, not a message.
M.INTERRUPTED = "interrupted"

local Task = {}
Task.__index = Task
Task.__name = "nt3.task"

local current -- the scheduler running now, if any
-- the coroutines that are tasks: a coroutine a task makes for itself (a
-- generator) is not one, and what it yields is its own business
local is_task = setmetatable({}, { __mode = "k" })

local function new_scheduler()
  return {
    ready = {},     -- tasks to resume, in order, with what to resume them with
    sleeping = {},  -- { due, task }
    transfers = {}, -- transfer -> task waiting for it
    alive = 0,
    unwaited = {},  -- failed tasks nobody waited for
    unread = {},    -- task.map calls where every item failed and nobody read the errors
    all = {},       -- every task, to close what is left if the loop fails
  }
end

local function push_ready(s, task, ...)
  s.ready[#s.ready + 1] = { task = task, args = table.pack(...) }
end

local function settle(s, task, ok, ...)
  task.status = "done"
  task.ok = ok
  if ok then
    task.results = table.pack(...)
  else
    task.error = ...
    if #task.waiters == 0 and not task.awaited then s.unwaited[task] = true end
  end
  s.alive = s.alive - 1
  for _, w in ipairs(task.waiters) do push_ready(s, w) end
  task.waiters = {}
end

local function step(s, task, args)
  task.status = "running"
  local out = table.pack(coroutine.resume(task.co, table.unpack(args, 1, args.n)))
  if not out[1] then return settle(s, task, false, out[2]) end
  if coroutine.status(task.co) == "dead" then return settle(s, task, true, table.unpack(out, 2, out.n)) end
  task.status = "waiting"
  local kind, what = out[2], out[3]
  if kind == TRANSFER then
    s.transfers[what] = task
  elseif kind == SLEEP then
    s.sleeping[#s.sleeping + 1] = { due = what, task = task }
  elseif kind == JOIN then
    if what.status == "done" then push_ready(s, task) else what.waiters[#what.waiters + 1] = task end
  else
    -- a plain coroutine.yield() in a task gives the others a turn
    push_ready(s, task)
  end
end

local function wake_sleepers(s, now)
  local still = {}
  table.sort(s.sleeping, function(a, b) return a.due < b.due end)
  for _, entry in ipairs(s.sleeping) do
    if entry.due <= now then push_ready(s, entry.task) else still[#still + 1] = entry end
  end
  s.sleeping = still
end

-- Takes a waiting task out of whatever it waits for and resumes it with
-- an error to raise where it waits (a request is cancelled).
local function deliver(s, task, err)
  for t, w in pairs(s.transfers) do
    if w == task then s.transfers[t] = nil end
  end
  for i = #s.sleeping, 1, -1 do
    if s.sleeping[i].task == task then table.remove(s.sleeping, i) end
  end
  for _, other in ipairs(s.all) do
    for i = #other.waiters, 1, -1 do
      if other.waiters[i] == task then table.remove(other.waiters, i) end
    end
  end
  push_ready(s, task, CANCEL, err)
end

-- The wait for transfers and timers. Ctrl-C arrives here when every task
-- waits: it is raised in the main task, where it waits, so the script's
-- pcall and <close> see it as they would in plain Lua.
local function wait(s, timeout)
  local ok, finished = pcall(http._wait, timeout)
  if ok then return finished end
  if s.main and s.main.status == "waiting" then
    deliver(s, s.main, finished)
    return {}
  end
  error(finished, 0)
end

local function loop(s)
  while true do
    while #s.ready > 0 do
      local batch = s.ready
      s.ready = {}
      for _, r in ipairs(batch) do step(s, r.task, r.args) end
    end
    if s.alive == 0 then return end
    -- the main task failed (Ctrl-C, an error): the others end with it
    if s.main.status == "done" and not s.main.ok then
      s.main.awaited = true
      error(s.main.error, 0)
    end
    local waits_on_transfer = next(s.transfers) ~= nil
    local timeout = -1
    if #s.sleeping > 0 then
      local due = math.huge
      for _, entry in ipairs(s.sleeping) do due = math.min(due, entry.due) end
      timeout = math.max(0, due - policy.now())
    elseif not waits_on_transfer then
      error("every task is waiting for another task: none can go on", 0)
    end
    for _, t in ipairs(wait(s, timeout)) do
      local task = s.transfers[t]
      if task then
        s.transfers[t] = nil
        push_ready(s, task)
      end
    end
    wake_sleepers(s, policy.now())
  end
end

local function spawn_in(s, fn, ...)
  local co = coroutine.create(fn)
  http._task(co)
  is_task[co] = true
  local task = setmetatable({ co = co, status = "ready", waiters = {} }, Task)
  s.all[#s.all + 1] = task
  s.alive = s.alive + 1
  push_ready(s, task, ...)
  return task
end

-- The results of a finished task, or its error raised again.
local function outcome(task)
  if current then current.unwaited[task] = nil end
  task.awaited = true
  if not task.ok then error(task.error, 0) end
  return table.unpack(task.results, 1, task.results.n)
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
  current = nil
  if not ok then
    -- what is left ends here: requests cancelled, <close> variables closed
    for _, task in ipairs(s.all) do
      if task.status ~= "done" and coroutine.status(task.co) == "suspended" then
        if next(s.transfers) then
          for t, w in pairs(s.transfers) do
            if w == task then
              s.transfers[t] = nil
              coroutine.resume(task.co, CANCEL, err)
            end
          end
        end
        coroutine.close(task.co)
      end
    end
    error(err, 0)
  end
  main.awaited = true
  s.unwaited[main] = nil
  local failed = next(s.unwaited)
  if not main.ok then error(main.error, 0) end
  if failed then error("a task failed and nothing waited for it: " .. tostring(failed.error), 0) end
  local unread = next(s.unread)
  if unread then error(s.unread[unread], 0) end
  return table.unpack(main.results, 1, main.results.n)
end

local function in_task()
  local co = coroutine.running()
  return current ~= nil and is_task[co] == true
end

-- task.spawn(fn, ...) -> task: starts fn(...) as a task of its own
function M.spawn(fn, ...)
  check.arg(1, "spawn", fn, "function")
  if not current then error("task.spawn outside a task (use task.run, or run the script with 'nt3 run')", 2) end
  return spawn_in(current, fn, ...)
end

-- task.wait(task) -> the task's results (its error is raised again)
function M.wait(task)
  if getmetatable(task) ~= Task then check.fail(1, "wait", "task expected, got " .. type(task)) end
  if task.status ~= "done" then
    if not in_task() then error("task.wait outside a task", 2) end
    local r, err = coroutine.yield(JOIN, task)
    if r == CANCEL then error(err, 0) end
  end
  return outcome(task)
end
Task.wait = M.wait

-- task:done() -> whether the task has finished
function Task:done() return self.status == "done" end

-- task.wait_all(tasks) -> results, errors: results[i] is the first value
-- task i returned, errors[i] its error (errors is nil when none failed).
function M.wait_all(tasks)
  check.arg(1, "wait_all", tasks, "table")
  local results, errors = { n = #tasks }, nil
  for i, task in ipairs(tasks) do
    if getmetatable(task) ~= Task then check.fail(1, "wait_all", ("tasks[%d] is not a task"):format(i)) end
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

-- task.sleep(seconds): lets the other tasks run meanwhile; outside a task
-- it simply sleeps.
function M.sleep(seconds)
  check.arg(1, "sleep", seconds, "number")
  if seconds ~= seconds or seconds < 0 then check.fail(1, "sleep", "seconds must be 0 or more") end
  if in_task() then
    local r, err = coroutine.yield(SLEEP, policy.now() + seconds)
    if r == CANCEL then error(err, 0) end
  elseif seconds > 0 then
    http._wait(seconds)
  end
end

-- task.map(list, fn[, opts]) -> results, errors
-- Calls fn(item, i) for every item, at most opts.concurrency (default 8) at
-- a time, each in a task of its own. results[i] is fn's first value for
-- list[i], in input order; errors[i] the error of an item that failed
-- (errors is nil when none did). A failing item does not stop the others,
-- unless opts.fail_fast: then no new item starts and the first error is
-- raised once those running are done.
function M.map(list, fn, opts)
  check.arg(1, "map", list, "table")
  check.arg(2, "map", fn, "function")
  check.arg(3, "map", opts, "table", true)
  opts = opts or {}
  local limit = opts.concurrency
  if limit == nil then
    -- `nt3 config set http.concurrency` (docs/architecture.md, "Settings and aliases")
    local err
    limit, err = require("nt3.config.settings").get("http.concurrency")
    if limit == nil then error(err, 2) end
  end
  if math.type(limit) ~= "integer" or limit < 1 then
    check.fail(3, "map", "concurrency must be a whole number of 1 or more")
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
  local nexti, first_error = 0, nil
  local function worker()
    while true do
      if first_error and opts.fail_fast then return end
      nexti = nexti + 1
      local i = nexti
      if i > n then return end
      local ok, value = pcall(fn, list[i], i)
      -- Ctrl-C is no item's failure: it ends the whole map
      if not ok and value == M.INTERRUPTED then error(value, 0) end
      if ok then
        results[i] = value
      else
        errors = errors or {}
        errors[i] = value
        first_error = first_error or value
      end
    end
  end
  local workers = {}
  for w = 1, math.min(limit, n) do workers[w] = M.spawn(worker) end
  for _, w in ipairs(workers) do M.wait(w) end
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
