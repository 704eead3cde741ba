-- nt3.task's scheduler itself (the requests it runs are proved in
-- engine_spec): what a task may yield, and the errors it reports.
local sh = require "helpers.sh"

local function run(source)
  return sh.run({ "run", sh.script(source) })
end

describe("nt3.task", function()
  teardown(sh.cleanup)

  it("leaves a coroutine a task makes for itself alone: its yields are its own", function()
    local out = run([[
      local task = require "nt3.task"
      task.run(function()
        local gen = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end)
        local t = task.spawn(function() task.sleep(0.05) return "slept" end)
        print(gen(), gen(), gen(), task.wait(t))
        print(coroutine.wrap(function() task.sleep(0.01) return "inner" end)())
      end)]])
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal("1\t2\t3\tslept\ninner\n", out.stdout)
  end)

  it("takes a plain coroutine.yield() in a task as giving the others a turn", function()
    local out = run([[
      local task = require "nt3.task"
      local order = {}
      task.run(function()
        local a = task.spawn(function() order[#order + 1] = "a1"; coroutine.yield(); order[#order + 1] = "a2" end)
        local b = task.spawn(function() order[#order + 1] = "b1"; coroutine.yield(); order[#order + 1] = "b2" end)
        task.wait_all { a, b }
      end)
      print(table.concat(order, " "))]])
    assert.are.equal("a1 b1 a2 b2\n", out.stdout, out.stderr)
  end)

  it("returns the main function's results, and raises its error", function()
    local out = run([[
      local task = require "nt3.task"
      print(task.run(function(x, y) return x + y, "two" end, 1, 2))
      print(pcall(task.run, function() error("boom", 0) end))]])
    assert.are.equal("3\ttwo\nfalse\tboom\n", out.stdout, out.stderr)
  end)

  it("never loses the error of a task nothing waited for", function()
    local out = run([[
      local task = require "nt3.task"
      task.run(function() task.spawn(function() error("lost?", 0) end) end)]])
    assert.are.equal(1, out.code)
    assert.are.equal("nt3: a task failed and nothing waited for it: lost?\n", out.stderr)
  end)

  it("keeps no finished task nobody holds: a long loop of tasks stays bounded in memory", function()
    -- the scheduler once kept every task it had spawned until task.run
    -- returned; a failure spawned among them is still reported at the end
    local out = run([[
      local task = require "nt3.task"
      local function kib()
        collectgarbage("collect"); collectgarbage("collect")
        return collectgarbage("count")
      end
      task.run(function()
        task.spawn(function() error("lost among many", 0) end)
        local base, after
        for i = 1, 100000 do
          local t = task.spawn(function() return i end)
          assert(task.wait(t) == i)
          if i == 1000 then base = kib() end
        end
        after = kib()
        io.stderr:write(("%.0f KiB after 1,000 tasks, %.0f after 100,000\n"):format(base, after))
        print(after / base < 1.5)
      end)]])
    assert.are.equal("true\n", out.stdout, out.stderr)
    assert.are.equal(1, out.code)
    assert.matches("nt3: a task failed and nothing waited for it: lost among many\n$", out.stderr)
  end)

  it("gives back what a task returns and what it was spawned with, nils and counts kept", function()
    local out = run([[
      local task = require "nt3.task"
      local function count(...) return select("#", ...), ... end
      task.run(function()
        print(count(task.wait(task.spawn(function() end))))
        print(count(task.wait(task.spawn(function() return nil end))))
        print(count(task.wait(task.spawn(function(...) return ... end, 1, nil, 3, nil))))
        print(count(task.wait(task.spawn(function() task.sleep(0) return "a", nil end))))
      end)
      print(count(task.run(function() end)))
      print(count(task.run(function(...) return ... end, nil, 2)))]])
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal("0\n1\tnil\n4\t1\tnil\t3\tnil\n2\ta\tnil\n0\n2\tnil\t2\n", out.stdout)
  end)

  it("ends a wait on a task only when that task ends, whatever earlier waits on it left behind", function()
    local out = run([[
      local task = require "nt3.task"
      task.run(function()
        local a = task.spawn(function() task.sleep(0.05) return "a" end)
        local b = task.spawn(function() task.sleep(0.1) return "b" end)
        print(task.wait(a, { timeout = 0.01 }))
        print(task.wait(b)) -- a ends meanwhile
        print(task.wait(a))
        local c = task.spawn(function() task.sleep(0.05) return "c" end)
        print(task.wait(c, { timeout = 0.01 }))
        local other = task.spawn(function() return "other: " .. task.wait(c) end)
        print(task.wait(c), task.wait(other))
        -- a failure whose only waiter gave up on it is still nobody's to have seen
        local f = task.spawn(function() task.sleep(0.02) error("unseen", 0) end)
        print(task.wait(f, { timeout = 0.005 }))
        task.sleep(0.05)
      end)]])
    assert.are.equal(table.concat({
      "nil\ttask.wait: timed out after 0.01 s\ttimeout", "b", "a",
      "nil\ttask.wait: timed out after 0.01 s\ttimeout", "c\tother: c",
      "nil\ttask.wait: timed out after 0.005 s\ttimeout", "" }, "\n"), out.stdout, out.stderr)
    assert.are.equal(1, out.code)
    assert.are.equal("nt3: a task failed and nothing waited for it: unseen\n", out.stderr)
  end)

  it("says so when every task waits for another", function()
    local out = run([[
      local task = require "nt3.task"
      task.run(function()
        local me
        local other = task.spawn(function() task.wait(me) end)
        me = task.spawn(function() task.wait(other) end)
        task.wait(me)
      end)]])
    assert.are.equal(1, out.code)
    assert.are.equal("nt3: every task is waiting for another task: none can go on\n", out.stderr)
  end)

  it("raises at the end when every item of a task.map failed and nothing read its errors", function()
    local out = run([[
      local task = require "nt3.task"
      local results = task.map({ 1, 2 }, function(i) error("item " .. i .. " broke", 0) end)
      for _, r in ipairs(results) do print(r) end]])
    assert.are.equal(1, out.code)
    assert.are.equal("", out.stdout)
    assert.are.equal("nt3: task.map: all 2 items failed and nothing read the errors; the first: item 1 broke\n", out.stderr)
  end)

  it("leaves a task.map whose errors were read, or where some item worked, to the caller", function()
    local out = run([[
      local task = require "nt3.task"
      local _, errors = task.map({ 1, 2 }, function(i) error("e" .. i, 0) end)
      for i, err in pairs(errors) do print(i, err) end
      local _, again = task.map({ 1 }, function() error("x", 0) end)
      print(again[1])
      local _, counted = task.map({ 1 }, function() error("y", 0) end)
      print(#counted)
      local some, partial = task.map({ 1, 2 }, function(i) if i == 2 then error("two", 0) end return i end)
      print(some[1], partial[2])
      print(select(2, task.map({}, error)))]])
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal("1\te1\n2\te2\nx\n1\n1\ttwo\nnil\n", out.stdout)
  end)

  it("puts caller mistakes in Lua's own words", function()
    local out = run([[
      local task = require "nt3.task"
      print(pcall(task.map, {}, 42))
      print(pcall(task.map, {}, print, { concurrency = 0 }))
      print(pcall(task.sleep, -1))
      print(pcall(task.wait, {}))]])
    assert.are.equal(table.concat({
      "false\tbad argument #2 to 'map' (function expected, got number)",
      "false\tbad argument #3 to 'map' (concurrency must be a whole number of 1 or more)",
      "false\tbad argument #1 to 'sleep' (seconds must be 0 or more)",
      "false\tbad argument #1 to 'wait' (task expected, got table)", "" }, "\n"), out.stdout:gsub("[^\n\t]*: bad", "bad"))
  end)
end)
