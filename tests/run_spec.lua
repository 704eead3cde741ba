-- nt3 run: a script (and a user command) runs as a task of nt3.task, may
-- come from stdin, finds the modules beside it, and turns Ctrl-C into the
-- error "interrupted" -- all against the real binary, signals included.
local sh = require "helpers.sh"
local server = require "helpers.server"
local usercmd = require "helpers.usercmd"

-- run(source, args, opts) -> result of sh.run for `nt3 run <script> args...`
local function run(source, args, opts)
  local argv = { "run", sh.script(source) }
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  return sh.run(argv, opts)
end

---------------------------------------------------------------------------
-- nt3 in the background, to be sent SIGINT
---------------------------------------------------------------------------

local job_util = require "helpers.job"
local spawn, eventually = job_util.spawn, job_util.eventually

-- whether srv has received the script's /slow request (waits up to 20 s):
-- only then does an interrupt land in the wait, not before it
local function slow_request_arrived(srv)
  return eventually(function()
    for _, req in ipairs(srv.requests()) do
      if req.path:match("^/slow") then return true end
    end
  end, 20)
end

-- a script that prints `ready` (flushed) where the test may interrupt it
local READY = 'io.stdout:write("ready\\n") io.stdout:flush()\n'

-- a <close> value that prints `closed <what>` when it is closed
local CLOSER = [[
local function closer(what)
  return setmetatable({}, { __close = function() io.stdout:write("closed ", what, "\n") io.stdout:flush() end })
end
]]

---------------------------------------------------------------------------

describe("nt3 run", function()
  describe("runs the script as a task", function()
    it("lets a plain script call task.map, task.spawn and task.sleep with no task.run", function()
      local r = run([[
local task = require "nt3.task"
local doubled = task.map({ 1, 2, 3 }, function(x) task.sleep(0.01) return x * 2 end, { concurrency = 3 })
local t = task.spawn(function(a, b) task.sleep(0.01) return a .. b end, "spa", "wned")
print(doubled[1], doubled[2], doubled[3], task.wait(t))
]])
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("2\t4\t6\tspawned\n", r.stdout)
      assert.are.equal("", r.stderr)
    end)

    it("gives the other tasks a turn at a plain coroutine.yield() of the script, which returns nothing", function()
      local r = run([[
local task = require "nt3.task"
local order = {}
local t = task.spawn(function() order[#order + 1] = "spawned" end)
order[#order + 1] = "before"
local back = table.pack(coroutine.yield("ignored", 1))
order[#order + 1] = "after"
print(table.concat(order, " "), back.n, coroutine.isyieldable(), t:done())
]])
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("before spawned after\t0\ttrue\ttrue\n", r.stdout)
    end)

    it("runs a task.map of requests side by side in a plain script", function()
      local srv = server.start()
      local r = run([[
local task, http = require "nt3.task", require "nt3.http"
local statuses = task.map({ 1, 2, 3, 4 }, function()
  return assert(http.request { url = arg[1] .. "/slow?seconds=1" }).status
end, { concurrency = 4 })
-- side by side: the server had all four in hand at once (no clock read)
local stats = require("nt3.json").decode(assert(http.request { url = arg[1] .. "/_stats" }).body)
print(table.concat(statuses, " "), stats.max_in_flight)
]], { srv.url })
      srv.stop()
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("200 200 200 200\t4\n", r.stdout)
    end)

    it("runs a user command's run as a task too", function()
      local home = usercmd.home({ ["spawner.lua"] = [[
local task = require "nt3.task"
return {
  name = "spawner", summary = "Spawns",
  run = function()
    local t = task.spawn(function() task.sleep(0.01) return "from a task" end)
    print(task.wait(t))
    return 3
  end,
}
]] })
      local r = sh.run({ "spawner" }, { home = home })
      assert.are.equal(3, r.code, r.stderr)
      assert.are.equal("from a task\n", r.stdout)
    end)

    it("does not load nt3.task or nt3.http for a built-in command", function()
      local dir = sh.tmpdir()
      os.execute("mkdir -p " .. sh.quote(dir .. "/nt3"))
      sh.spit(dir .. "/nt3/task.lua", 'error("nt3.task was loaded", 0)\n')
      sh.spit(dir .. "/nt3/http.lua", 'error("nt3.http was loaded", 0)\n')
      local r = sh.run({ "status" }, { env = { NT3_LUA_DIR = dir, NT3_API_TOKEN = "entri_run_spec_token_0001" } })
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("", r.stderr)
    end)
  end)

  describe("errors", function()
    it("still end as one line nt3: <message>, exit 1", function()
      local r = run('local x = 1\nerror("boom")\n')
      assert.are.equal(1, r.code)
      assert.matches("^nt3: [^\n]*script%.lua:2: boom\n$", r.stderr)
    end)

    it("from a coroutine.wrap function get its caller's position first, as in plain Lua", function()
      local r = run([[
local f = coroutine.wrap(function() error("boom") end)
print(select(2, pcall(function() return f() end)))
print(select(2, pcall(function() return f() end)))
local g = coroutine.wrap(function() error({ "a table" }) end)
print(type(select(2, pcall(function() return g() end))))
]])
      assert.are.equal(0, r.code, r.stderr)
      local name = r.stdout:match("^(.-):2: ")
      assert.is_string(name, r.stdout)
      assert.are.equal(("%s:2: %s:1: boom\n%s:3: cannot resume dead coroutine\ntable\n"):format(name, name, name),
        r.stdout)
    end)

    it("keep the exit code of cli.fail and of a returned number", function()
      local failed = run('require("nt3.cli").fail("not today", 5)\n')
      assert.are.equal(5, failed.code)
      assert.are.equal("nt3: not today\n", failed.stderr)
      local returned = run("return 7\n")
      assert.are.equal(7, returned.code, returned.stderr)
    end)

    it("keep the script's own lines in the NT3_DEBUG traceback", function()
      local r = run('local function inner()\n  error("deep")\nend\ninner()\n', {}, { env = { NT3_DEBUG = "1" } })
      assert.are.equal(1, r.code)
      assert.matches("script%.lua:2: deep", r.stderr)
      assert.matches("script%.lua:4: in ", r.stderr)
    end)

    it("close the script's <close> variables", function()
      local r = run(CLOSER .. 'local c <close> = closer("on error")\nerror("boom", 0)\n')
      assert.are.equal(1, r.code)
      assert.are.equal("closed on error\n", r.stdout)
      assert.are.equal("nt3: boom\n", r.stderr)
    end)
  end)

  describe("-", function()
    it("reads the script from stdin, arg[0] being -", function()
      local r = sh.run({ "run", "-", "a", "b c" }, { stdin = 'print(arg[0], ...)\nprint(require("nt3").version ~= nil)\n' })
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("-\ta\tb c\ntrue\n", r.stdout)
    end)

    it("names stdin and the line in an error, a first #! line skipped and counted", function()
      local r = sh.run({ "run", "-" }, { stdin = "#!/usr/bin/env -S nt3 run\nlocal x = 1\nerror('from stdin')\n" })
      assert.are.equal(1, r.code)
      assert.are.equal("nt3: stdin:3: from stdin\n", r.stderr)
    end)

    it("runs no precompiled chunk from stdin", function()
      local r = sh.run({ "run", "-" }, { stdin = string.dump(function() print("bytecode") end) })
      assert.are.equal(1, r.code)
      assert.are.equal("", r.stdout)
      assert.matches("^nt3: .*binary", r.stderr)
    end)

    it("searches no directory for require, the current one included", function()
      local cwd = sh.tmpdir()
      sh.spit(cwd .. "/helper.lua", 'return "from cwd"\n')
      local r = sh.run({ "run", "-" }, { cwd = cwd, stdin = 'print(pcall(require, "helper"))\n' })
      assert.are.equal(0, r.code, r.stderr)
      assert.matches("^false\tmodule 'helper' not found", r.stdout)
    end)
  end)

  describe("require", function()
    it("finds a module beside the script and never one in the current directory", function()
      local beside = sh.tmpdir()
      sh.spit(beside .. "/helper.lua", 'return "beside the script"\n')
      os.execute("mkdir -p " .. sh.quote(beside .. "/pkg"))
      sh.spit(beside .. "/pkg/init.lua", 'return "pkg/init.lua"\n')
      sh.spit(beside .. "/main.lua", [[
print((require "helper"))
print((require "pkg"))
print(pcall(require, "incwd"))
]])
      local cwd = sh.tmpdir()
      sh.spit(cwd .. "/incwd.lua", 'return "from the current directory"\n')
      local r = sh.run({ "run", beside .. "/main.lua" }, { cwd = cwd })
      assert.are.equal(0, r.code, r.stderr)
      local lines = {}
      for l in r.stdout:gmatch("[^\n]+") do lines[#lines + 1] = l end
      assert.are.equal("beside the script", lines[1])
      assert.are.equal("pkg/init.lua", lines[2])
      assert.matches("^false\tmodule 'incwd' not found", lines[3])
      assert.is_nil(r.stdout:find("from the current directory", 1, true))
    end)

    it("searches the script's real directory, absolute, for a relative path or a link to it", function()
      local real = sh.tmpdir()
      sh.spit(real .. "/helper.lua", 'return "real directory"\n')
      sh.spit(real .. "/main.lua", 'print((require "helper"))\nprint(select(2, pcall(require, "nope")):match("no file \'[^\']*\'"))\n')
      local elsewhere = sh.tmpdir()
      assert(os.execute("ln -s " .. sh.quote(real .. "/main.lua") .. " " .. sh.quote(elsewhere .. "/tool")))
      local linked = sh.run({ "run", "tool" }, { cwd = elsewhere })
      assert.are.equal(0, linked.code, linked.stderr)
      assert.are.equal("real directory\nno file '" .. real .. "/nope.lua'\n", linked.stdout)
      local relative = sh.run({ "run", "main.lua" }, { cwd = real })
      assert.are.equal(0, relative.code, relative.stderr)
      assert.are.equal("real directory\nno file '" .. real .. "/nope.lua'\n", relative.stdout)
    end)
  end)

  describe("Ctrl-C", function()
    it("raises interrupted at the next instruction, which pcall catches, <close> variables closed", function()
      local job = spawn({ "run", sh.script(CLOSER .. [[
local ok, err = pcall(function()
  local c <close> = closer("inside pcall")
  ]] .. READY .. [[
  while true do end
end)
print("caught", ok, err)
]]) })
      job.wait_for("ready")
      job.interrupt()
      local r = job.finish(20)
      assert.is_true(r.ended, "still running")
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("ready\nclosed inside pcall\ncaught\tfalse\tinterrupted\n", r.stdout)
      assert.are.equal("", r.stderr)
    end)

    it("uncaught, ends nt3 with nt3: interrupted and exit 130, after the <close> clean-ups", function()
      local job = spawn({ "run", sh.script(CLOSER .. 'local c <close> = closer("script")\n' .. READY ..
        "local n = 0\nwhile true do n = n + 1 end\n") })
      job.wait_for("ready")
      job.interrupt()
      local r = job.finish(20)
      assert.is_true(r.ended, "still running")
      assert.are.equal(130, r.code)
      assert.are.equal("ready\nclosed script\n", r.stdout)
      assert.are.equal("nt3: interrupted\n", r.stderr)
    end)

    it("inside a coroutine.wrap function, still ends nt3 with nt3: interrupted and exit 130", function()
      local job = spawn({ "run", sh.script("local g = coroutine.wrap(function()\n" .. READY ..
        "while true do end\nend)\ng()\n") })
      job.wait_for("ready")
      job.interrupt()
      local r = job.finish(20)
      assert.is_true(r.ended, "still running")
      assert.are.equal(130, r.code)
      assert.are.equal("nt3: interrupted\n", r.stderr)
    end)

    it("a second time, ends the process at once", function()
      local job = spawn({ "run", sh.script(CLOSER .. [[
local c <close> = closer("never")
print("caught", pcall(function() ]] .. READY .. [[ while true do end end))
io.stdout:flush()
while true do end
]]) })
      job.wait_for("ready")
      job.interrupt()
      job.wait_for("caught\tfalse\tinterrupted")
      job.interrupt()
      local r = job.finish(20)
      assert.is_true(r.ended, "still running")
      assert.are.equal(130, r.code) -- killed by SIGINT: the shell says 128 + 2
      assert.are.equal("ready\ncaught\tfalse\tinterrupted\n", r.stdout)
      assert.are.equal("", r.stderr) -- no message: it did not get to say anything
    end)

    it("interrupts task.sleep(30), exit 130, the script's <close> variables closed", function()
      local job = spawn({ "run", sh.script(CLOSER .. 'local c <close> = closer("sleeper")\n' .. READY ..
        'require("nt3.task").sleep(30)\nprint("slept")\n') })
      job.wait_for("ready")
      os.execute("sleep 0.2")
      job.interrupt()
      local r = job.finish(10)
      assert.is_true(r.ended, "task.sleep(30) was not interrupted")
      assert.are.equal(130, r.code)
      assert.are.equal("ready\nclosed sleeper\n", r.stdout)
      assert.are.equal("nt3: interrupted\n", r.stderr)
    end)

    it("interrupts a request to a server that answers after 30 s", function()
      local srv = server.start()
      local job = spawn({ "run", sh.script(CLOSER .. 'local c <close> = closer("request")\n' .. READY ..
        'print(require("nt3.http").request { url = arg[1] .. "/slow?seconds=30" })\n'), srv.url })
      job.wait_for("ready")
      local sent = slow_request_arrived(srv)
      job.interrupt()
      local r = job.finish(10)
      srv.stop()
      assert.is_true(sent, "the request never reached the server")
      assert.is_true(r.ended, "the request was not interrupted")
      assert.are.equal(130, r.code)
      assert.are.equal("ready\nclosed request\n", r.stdout)
      assert.are.equal("nt3: interrupted\n", r.stderr)
    end)

    it("interrupts a request that blocks outside a task, as an error pcall catches", function()
      local srv = server.start()
      local job = spawn({ "run", sh.script(READY .. [[
local http = require "nt3.http"
-- a plain coroutine is no task: the request blocks in C until done
local ok, err = coroutine.wrap(function()
  return pcall(http.request, { url = arg[1] .. "/slow?seconds=30" })
end)()
print("caught", ok, err)
]]), srv.url })
      job.wait_for("ready")
      slow_request_arrived(srv)
      job.interrupt()
      local r = job.finish(10)
      srv.stop()
      assert.is_true(r.ended, "the request was not interrupted")
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("ready\ncaught\tfalse\tinterrupted\n", r.stdout)
    end)

    it("raises it where a task waits for its request, so pcall there catches it", function()
      local srv = server.start()
      local job = spawn({ "run", sh.script(READY .. [[
local http = require "nt3.http"
local ok, err = pcall(http.request, { url = arg[1] .. "/slow?seconds=30" })
print("caught", ok, err)
require("nt3.task").sleep(0.01)
print("went on")
]]), srv.url })
      job.wait_for("ready")
      slow_request_arrived(srv)
      job.interrupt()
      local r = job.finish(10)
      srv.stop()
      assert.is_true(r.ended, "the request was not interrupted")
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("ready\ncaught\tfalse\tinterrupted\nwent on\n", r.stdout)
    end)

    it("ends a whole task.map: no item after it starts, exit 130", function()
      local srv = server.start()
      local job = spawn({ "run", sh.script(READY .. [[
local list = {}
for i = 1, 20 do list[i] = i end
require("nt3.task").map(list, function(i)
  return require("nt3.http").request { url = arg[1] .. "/slow?seconds=2&i=" .. i }
end, { concurrency = 2 })
print("mapped")
]]), srv.url })
      job.wait_for("ready")
      slow_request_arrived(srv)
      job.interrupt()
      local r = job.finish(10)
      local asked = 0
      for _, req in ipairs(srv.requests()) do
        if req.path:match("^/slow") then asked = asked + 1 end
      end
      srv.stop()
      assert.is_true(r.ended, "the map was not interrupted")
      assert.are.equal(130, r.code, r.stderr)
      assert.are.equal("ready\n", r.stdout)
      assert.are.equal("nt3: interrupted\n", r.stderr)
      assert.is_true(asked <= 4, asked .. " items were started")
    end)

    it("ends a user command with exit 130", function()
      local home = usercmd.home({ ["spin.lua"] = ([[
return {
  name = "spin", summary = "Spins",
  run = function() %s while true do end end,
}
]]):format(READY) })
      local job = spawn({ "spin" }, { home = home })
      job.wait_for("ready")
      job.interrupt()
      local r = job.finish(20)
      assert.is_true(r.ended, "still running")
      assert.are.equal(130, r.code)
      assert.are.equal("nt3: interrupted\n", r.stderr)
    end)

    it("is left to the shell when it started nt3 with SIGINT ignored (cmd &)", function()
      local job = spawn({ "run", sh.script(READY .. 'require("nt3.task").sleep(1)\nprint("done")\n') },
        { sigint = "ignored" })
      job.wait_for("ready")
      job.interrupt()
      local r = job.finish(20)
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("ready\ndone\n", r.stdout)
    end)
  end)
end)

teardown(sh.cleanup)
