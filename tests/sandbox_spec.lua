-- Sandboxed commands (docs/sandbox.md): each attack runs inside a real
-- user command file, in a throw-away HOME, through the real binary, and
-- reaches for something it was not granted.
local sh = require "helpers.sh"
local usercmd = require "helpers.usercmd"
local server = require "helpers.server"
local apitest = require "helpers.apitest"
local pty = require "helpers.pty"

local TOKEN = apitest.TOKEN

-- A home whose commands dir holds <name>.lua = a command with these
-- permissions (Lua source) and this run body; more files beside it.
local function home_with(name, permissions, body, files)
  local all = {}
  for k, v in pairs(files or {}) do all[k] = v end
  all[name .. ".lua"] = ([[
return {
  name = %q,
  summary = "a sandboxed command",
  args = { "word..." },
  permissions = %s,
  run = function(opts, ctx)
%s
  end,
}
]]):format(name, permissions, body)
  return usercmd.home(all)
end

local function run(name, permissions, body, opts)
  opts = opts or {}
  local home = home_with(name, permissions, body, opts.files)
  local args = { name }
  for _, a in ipairs(opts.args or {}) do args[#args + 1] = a end
  return sh.run(args, { home = home, env = opts.env, cwd = opts.cwd })
end

describe("sandboxed commands", function()
  local srv
  setup(function() srv = server.start() end)
  teardown(function() srv.stop() end)

  describe("the token", function()
    -- Every value the command can reach: globals, every module it may
    -- require, metatables, error messages, a response that echoes the
    -- request headers back. All written out; the token must be in none.
    local REACH = [[
    local seen, out = {}, {}
    local function walk(v, depth)
      if depth > 6 or seen[v] then return end
      local t = type(v)
      if t == "string" then out[#out + 1] = v return end
      if t ~= "table" and t ~= "function" and t ~= "userdata" then out[#out + 1] = tostring(v) return end
      seen[v] = true
      local mt = getmetatable(v)
      if mt ~= nil then walk(mt, depth + 1) end
      if t == "table" then
        for k, x in pairs(v) do walk(k, depth + 1) walk(x, depth + 1) end
      end
      local ok, s = pcall(tostring, v)
      if ok then out[#out + 1] = s end
    end
    walk(_G, 0)
    walk(getmetatable(""), 0)
    walk(ctx, 0)
    walk(opts, 0)
    for _, m in ipairs { "nt3.api", "nt3.http", "nt3.task", "nt3.json", "nt3.policy", "nt3.cli", "nt3.env",
      "nt3.proc", "nt3.prompt", "nt3.fs", "nt3.config", "nt3", "nt3.embedded", "nt3.cli.script",
      "nt3.sandbox", "nt3.sandbox.api_base", "nt3.sandbox.api_core", "cjson", "nt3.config.store", "nt3.ui",
      "nt3.api.common" } do
      local ok, mod = pcall(require, m)
      walk(mod, 0)
    end
    local api = require "nt3.api"
    for _, path in ipairs { "/api/v1/echo", "/api/v1/me", "/status/500", "/nope" } do
      local a, b, c, d = api.get(path, nil, { raw = true })
      walk({ a, b, c, d }, 0)
    end
    local res = require("nt3.sandbox.api_core").send { path = "/echo" }
    walk(res, 0)
    local ok, e = pcall(api.get, "https://elsewhere.test/x")
    walk({ ok, e }, 0)
    local ok2, e2 = pcall(require("nt3.env").get, "NT3_API_TOKEN")
    walk({ ok2, e2 }, 0)
    cli_out = require("nt3.cli").out
    cli_out(table.concat(out, "\n"), "\n")
    cli_out("ECHO ", res.body, "\n")
    cli_out("DONE\n")
]]

    it("is in no value a command with api = \"read\" can reach, an echo of the request included", function()
      local r = run("reach", [[{ api = "read" }]], REACH, { env = apitest.env(srv) })
      assert.are.equal(0, r.code, r.stderr)
      assert.truthy(r.stdout:find("DONE", 1, true))
      -- the echo really carried an Authorization header, masked
      assert.truthy(r.stdout:find('"Bearer ' .. ("*"):rep(#TOKEN), 1, true), r.stdout:sub(-2000))
      assert.is_nil(r.stdout:find(TOKEN, 1, true))
      assert.is_nil(r.stderr:find(TOKEN, 1, true))
    end)

    it("is not in the trace either (NT3_DEBUG)", function()
      local r = run("reach", [[{ api = "read" }]], REACH, { env = apitest.env(srv, { NT3_DEBUG = "1" }) })
      assert.are.equal(0, r.code, r.stderr)
      assert.truthy(r.stderr:find("nt3: sandbox reach: allowed nt3.api GET", 1, true))
      assert.is_nil(r.stdout:find(TOKEN, 1, true))
      assert.is_nil(r.stderr:find(TOKEN, 1, true))
    end)

    it("NT3_API_TOKEN is never grantable: the command is refused at declaration", function()
      local r = run("tok", [[{ env = { "NT3_API_TOKEN" } }]], [[print("ran")]], { env = apitest.env(srv) })
      assert.are_not.equal(0, r.code)
      assert.is_nil(r.stdout:find("ran", 1, true))
      assert.truthy(r.stderr:find("NT3_API_TOKEN", 1, true), r.stderr)
      assert.truthy(r.stderr:find("never granted", 1, true), r.stderr)
    end)

    it("nt3.config and the other host modules cannot be required", function()
      local r = run("cfg", "{}", [[
        for _, m in ipairs { "nt3.config", "nt3.embedded", "nt3.cli.script", "nt3.sandbox", "nt3" } do
          local ok, e = pcall(require, m)
          print(m, ok, tostring(e))
        end]], { env = apitest.env(srv) })
      assert.are.equal(0, r.code, r.stderr)
      for _, m in ipairs { "nt3.config", "nt3.embedded", "nt3.cli.script", "nt3.sandbox", "nt3" } do
        assert.truthy(r.stdout:find(m .. "\tfalse\tpermission denied: require \"" .. m .. "\"", 1, true), r.stdout)
      end
    end)
  end)

  describe("the base library", function()
    it("has no debug, io, string.dump, dofile, loadfile, package, and os only time/clock/date/difftime", function()
      local r = run("base", "{}", [[
        local os_names = {}
        for k in pairs(os) do os_names[#os_names + 1] = k end
        table.sort(os_names)
        print(type(debug), type(io), type(string.dump), type(("").dump), type(dofile), type(loadfile), type(package))
        print(table.concat(os_names, ","))]])
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("nil\tnil\tnil\tnil\tnil\tnil\tnil\nclock,date,difftime,time\n", r.stdout)
    end)

    it("load takes text only, whatever mode it is given", function()
      -- a binary chunk's signature, the way a bytecode attack starts
      local r = run("bin", "{}", [[
        local f, e = load("\27Lua\84\0\25\147\r\n\26\n\4\8\8xV\0\0\0\0\0\0\0\0\0\0\0(w@", "x", "b")
        print(f, e)
        print(load("return 1 + 1", "x", "b")())]])
      assert.are.equal(0, r.code, r.stderr)
      assert.truthy(r.stdout:find("nil\tattempt to load a binary chunk (mode is 't')", 1, true), r.stdout)
      assert.truthy(r.stdout:find("\n2\n", 1, true))
    end)

    it("require loads no bytecode file either", function()
      local home = home_with("binreq", "{}", [[print(pcall(require, "evil"))]],
        { ["evil.lua"] = "\27Lua\84\0\25\147\r\n\26\n" })
      local r = sh.run({ "binreq" }, { home = home })
      assert.are.equal(0, r.code, r.stderr)
      assert.truthy(r.stdout:find("false\t.*binary chunk"), r.stdout)
    end)

    it("collectgarbage answers \"count\" only", function()
      local r = run("gc", "{}", [[
        print(type(collectgarbage("count")))
        for _, o in ipairs { "collect", "stop", "step", "incremental", "generational", "restart" } do
          local ok, e = pcall(collectgarbage, o)
          print(o, ok, tostring(e))
        end]])
      assert.are.equal(0, r.code, r.stderr)
      assert.truthy(r.stdout:find("^number\n"), r.stdout)
      for _, o in ipairs { "collect", "stop", "step", "incremental", "generational", "restart" } do
        assert.truthy(r.stdout:find(o .. "\tfalse\tpermission denied", 1, true), r.stdout)
      end
    end)

    it("changing the string metatable changes nothing in the host's output", function()
      local r = run("strmt", "{}", [[
        local mt = getmetatable("")
        mt.__index = function() return function() return "PWNED" end end
        mt.__concat = function() return "PWNED" end
        string.format = function() return "PWNED" end
        string.gsub = function() return "PWNED" end
        require("nt3.cli").fail("it failed: %d")]])
      assert.are.equal(1, r.code)
      assert.are.equal("nt3: it failed: %d\n", r.stderr)
      local help = sh.run({ "help", "strmt" }, { home = r.home })
      assert.truthy(help.stdout:find("Usage: nt3 strmt", 1, true), help.stdout)
    end)
  end)

  describe("the memory cap", function()
    it("ends the command cleanly even when every allocation is under pcall, in coroutines too", function()
      local r = run("mem", [[{ memory = "32M" }]], [[
        local keep = {}
        local function grow(i) keep[#keep + 1] = ("x"):rep(1024 * 1024) .. i end
        for i = 1, 200 do
          pcall(grow, i)
          coroutine.wrap(function() pcall(grow, -i) end)()
          local co = coroutine.create(function() grow(i) end)
          coroutine.resume(co)
        end
        print("SURVIVED", #keep)]])
      assert.are.equal(1, r.code, r.stdout)
      assert.is_nil(r.stdout:find("SURVIVED", 1, true))
      assert.truthy(r.stderr:find("^nt3: out of memory: the sandbox's limit is 32 MiB"), r.stderr)
    end)

    it("counts what is kept, not garbage: 6 MB kept and 200 MB of garbage fit a cap of 16M", function()
      -- (string.rep builds in a buffer, then copies: 12 MB at its peak)
      local r = run("churn", [[{ memory = "16M" }]], [[
        local kept = { ("k"):rep(6 * 1024 * 1024) }
        for i = 1, 200 do local _ = ("g"):rep(1024 * 1024) .. i end
        print("done", #kept[1])]])
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("done\t6291456\n", r.stdout)
    end)

    it("is not what bounds the heap between collections: 1.5 times what the last kept, as in nt3's own state", function()
      -- 100,000 kept tables, then garbage: the heap swings between what is
      -- kept and the pause times that (Lua's default pause of 200: 2.00)
      local r = run("gcpause", "{}", [[
        local kept = {}
        for i = 1, 100000 do kept[i] = { i } end
        local lo, hi = math.huge, 0
        for i = 1, 800000 do
          local _ = { i, i }
          if i > 400000 then
            local c = collectgarbage("count")
            if c < lo then lo = c end
            if c > hi then hi = c end
          end
        end
        print(("%.2f %d"):format(hi / lo, #kept))]])
      assert.are.equal(0, r.code, r.stderr)
      local swing = assert(tonumber(r.stdout:match("^(%d%.%d%d) 100000\n$")), r.stdout)
      assert.is_true(swing > 1.3 and swing < 1.7, r.stdout)
    end)

    it("is refused when asked beyond what is allowed", function()
      local r = run("mem2", [[{ memory = "64G" }]], [[print("ran")]])
      assert.are_not.equal(0, r.code)
      assert.truthy(r.stderr:find("permission 'memory'", 1, true), r.stderr)
    end)
  end)

  describe("Ctrl-C", function()
    local LOOPS = {
      plain = [[print("READY") while true do pcall(function() while true do end end) end]],
      coroutine = [[print("READY")
        coroutine.wrap(function()
          while true do
            local co = coroutine.create(function() while true do pcall(error, "x") end end)
            pcall(coroutine.resume, co)
          end
        end)()]],
      xpcall = [[print("READY") while true do xpcall(function() while true do end end, function(e) return e end) end]],
    }
    for what, body in pairs(LOOPS) do
      it("ends a tight loop with pcall inside (" .. what .. "): exit 130", function()
        local home = home_with("spin", "{}", body)
        local r = pty.run({ "spin" }, {
          home = home, allow_error = true, timeout = 10,
          steps = { { expect = "READY" }, { send = "\3" } },
        })
        assert.is_nil(r.error, r.output)
        assert.are.equal(130, r.code, r.output)
        assert.truthy(r.output:find("nt3: interrupted", 1, true), r.output)
      end)
    end

    it("ends nt3 when it lands while the file's top level runs (its declaration is being read): exit 130, read once", function()
      local home = usercmd.home({ ["spintop.lua"] = [[
print("READY")
while true do pcall(function() while true do end end) end
return { name = "spintop", summary = "never declared", permissions = {}, run = function() end }
]] })
      local r = pty.run({ "spintop" }, {
        home = home, allow_error = true, timeout = 10,
        steps = { { expect = "READY" }, { send = "\3" } },
      })
      assert.is_nil(r.error, r.output)
      assert.are.equal(130, r.code, r.output)
      assert.truthy(r.output:find("nt3: interrupted", 1, true), r.output)
      local _, ready = r.output:gsub("READY", "")
      assert.are.equal(1, ready, r.output)
    end)
  end)

  describe("Ctrl-C during a capability", function()
    it("ends a request in flight: exit 130, and the server sees the connection dropped", function()
      local home = home_with("hold", [[{ api = "read" }]], [[
        local api, task = require "nt3.api", require "nt3.task"
        local t = task.spawn(api.get, "/hold", { key = "sbx-int", seconds = 30 }, { raw = true })
        -- until the server holds the request
        task.poll({ every = 0.02, timeout = 20 }, function()
          local v = api.get("/_hold", { key = "sbx-int" })
          return type(v) == "table" and v.state == "open"
        end)
        print("READY")
        print(task.wait(t))]])
      local r = pty.run({ "hold" }, {
        home = home, env = apitest.env(srv), allow_error = true, timeout = 20,
        steps = { { expect = "READY" }, { send = "\3" } },
      })
      assert.is_nil(r.error, r.output)
      assert.are.equal(130, r.code, r.output)
      assert.truthy(r.output:find("nt3: interrupted", 1, true), r.output)
      local state = require("nt3.task").poll({ every = 0.02, timeout = 20 }, function()
        local v = require("nt3.json").decode(require("nt3.http").request { url = srv.url .. "/_hold?key=sbx-int" }.body)
        return v.state ~= "open" and v.state
      end)
      assert.are.equal("dropped", state)
    end)

    it("ends proc.run: exit 130, and the child is gone", function()
      local home = home_with("sleepy", [[{ proc = { "/bin/sleep" } }]], [[
        print("READY")
        require("nt3.proc").run { "/bin/sleep", "47.25" }]])
      local r = pty.run({ "sleepy" }, {
        home = home, allow_error = true, timeout = 20,
        steps = { { expect = "READY" }, { send = "\3" } },
      })
      assert.is_nil(r.error, r.output)
      assert.are.equal(130, r.code, r.output)
      local left = {}
      local ls = assert(io.popen("ls /proc"))
      local pids = ls:read("a")
      ls:close()
      for pid in pids:gmatch("%d+") do
        local f = io.open("/proc/" .. pid .. "/cmdline", "rb")
        local cmd = f and f:read("a") or ""
        if f then f:close() end
        if cmd:find("47.25", 1, true) then left[#left + 1] = pid end
      end
      assert.are.same({}, left)
    end)
  end)

  describe("finalizers", function()
    -- Lua runs a finalizer with hooks off: one that never ends could be
    -- cut short by nothing, so a sandbox may set none
    it("cannot be set: a __gc metamethod is refused", function()
      local r = run("gcloop", "{}", [[
        print(pcall(setmetatable, {}, { __gc = function() while true do end end }))
        print(getmetatable(setmetatable({}, { __index = {} })) ~= nil)]])
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("false\tpermission denied: a __gc metamethod (not granted: any: finalizers are not available in a sandbox)\ntrue\n", r.stdout)
    end)
  end)

  describe("require", function()
    it("finds the command's own files, never one outside its folder or a C module", function()
      local home, dir = home_with("req", "{}", [[
        print(require("lib.mine").x)
        for _, m in ipairs { "lib.link", "..evil", "lfs", "socket.core", "cjson.safe" } do
          local ok, e = pcall(require, m)
          print(m, ok, type(e) == "string" and e or type(e))
        end]])
      usercmd.dir({ ["mine.lua"] = "return { x = 'MINE' }" }, dir .. "/lib")
      -- a file the trust check accepts, beside the commands directory
      local outside = usercmd.dir({ ["evil.lua"] = 'return "OUTSIDE"' }, home .. "/.nt3/outside")
      assert(os.execute("ln -s " .. sh.quote(outside .. "/evil.lua") .. " " .. sh.quote(dir .. "/lib/link.lua")))
      local r = sh.run({ "req" }, { home = home })
      assert.are.equal(0, r.code, r.stderr)
      assert.truthy(r.stdout:find("^MINE\n"), r.stdout)
      assert.truthy(r.stdout:find("lib.link\tfalse\t[^\n]*/lib/link.lua is not a regular file"), r.stdout)
      assert.truthy(r.stdout:find("..evil\tfalse", 1, true), r.stdout)
      assert.truthy(r.stdout:find("lfs\tfalse", 1, true), r.stdout)
      assert.truthy(r.stdout:find("socket.core\tfalse", 1, true), r.stdout)
      assert.truthy(r.stdout:find("cjson.safe\ttrue", 1, true), r.stdout)
      assert.is_nil(r.stdout:find("OUTSIDE", 1, true))
    end)

    it("never loads through a folder that links out of the command's folder, nor a file with another hard link", function()
      local home, dir = home_with("req2", "{}", [[
        for _, m in ipairs { "out.evil", "hard" } do
          local ok, e = pcall(require, m)
          print(m, ok, type(e) == "string" and e or type(e))
        end]])
      -- files the trust check accepts, beside the commands directory
      local outside = usercmd.dir({ ["evil.lua"] = 'return "OUTSIDE"', ["hard.lua"] = 'return "HARD"' },
        home .. "/.nt3/outside")
      assert(os.execute("ln -s " .. sh.quote(outside) .. " " .. sh.quote(dir .. "/out") .. " && ln "
        .. sh.quote(outside .. "/hard.lua") .. " " .. sh.quote(dir .. "/hard.lua")))
      local r = sh.run({ "req2" }, { home = home })
      assert.are.equal(0, r.code, r.stderr)
      for _, m in ipairs { "out.evil", "hard" } do
        assert.truthy(r.stdout:find(m .. "\tfalse\t[^\n]*not a file of the command's directory"), r.stdout)
      end
      assert.is_nil(r.stdout:find("OUTSIDE", 1, true))
      assert.is_nil(r.stdout:find("HARD", 1, true))
    end)
  end)

  describe("nt3.task", function()
    it("maps with its default concurrency, and tasks of the sandbox's own state run side by side", function()
      local r = run("mapper", "{}", [[
        local task = require "nt3.task"
        local order = {}
        local r = task.map({ 0.2, 0.1, 0 }, function(s) task.sleep(s); order[#order + 1] = s; return s * 10 end)
        print(r[1], r[2], r[3], table.concat(order, " "))]])
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("2.0\t1.0\t0\t0 0.1 0.2\n", r.stdout)
    end)
  end)

  describe("http", function()
    local function port() return srv.url:match(":(%d+)$") end

    it("reaches a granted origin however its numeric host is spelt, and nothing else", function()
      local p = port()
      local r = run("web", ([[{ http = { "http://127.0.0.1:%s" } }]]):format(p), ([[
        local http = require "nt3.http"
        for _, u in ipairs {
          "http://127.0.0.1:%s/echo", "http://127.1:%s/echo", "http://2130706433:%s/echo",
          "http://0x7f.1:%s/echo",
          "http://localhost:%s/echo", "http://127.0.0.2:%s/echo", "https://127.0.0.1.nip.io:%s/echo",
          "http://127.0.0.1:1/echo", "https://127.0.0.1:%s/echo",
        } do
          local ok, res, err = pcall(http.request, { url = u })
          if ok and res then print(u, "allowed", res.status)
          else print(u, "refused", type(res) == "table" and res.message or tostring(res or err)) end
        end]]):gsub("%%s", p), nil)
      assert.are.equal(0, r.code, r.stderr)
      for _, host in ipairs { "127.0.0.1", "127.1", "2130706433", "0x7f.1" } do
        assert.truthy(r.stdout:find(("http://%s:%s/echo\tallowed\t200"):format(host, p), 1, true), r.stdout)
      end
      for _, u in ipairs { "http://localhost:" .. p, "http://127.0.0.2:" .. p, "https://127.0.0.1.nip.io:" .. p,
        "http://127.0.0.1:1", "https://127.0.0.1:" .. p } do
        assert.truthy(r.stdout:find(u .. "/echo\trefused\tpermission denied: http GET ", 1, true), r.stdout)
      end
    end)

    it("judges user info and look-alikes by the host they really name", function()
      local r = run("web2", [[{ http = { "https://granted.test" } }]], [[
        local http = require "nt3.http"
        for _, u in ipairs { "https://granted.test.evil.test/", "https://granted.test:444/",
          "https://2130706433/", "https://[::ffff:127.0.0.1]/", "https://0x7f.1/",
          "https://granted.test@127.0.0.1/" } do
          local ok, res, err, code = pcall(http.request, { url = u, connect_timeout = 1 })
          print(u, ok, type(res) == "table" and res.kind or code)
        end]])
      assert.are.equal(0, r.code, r.stderr)
      for _, u in ipairs { "https://granted.test.evil.test/", "https://granted.test:444/", "https://2130706433/",
        "https://[::ffff:127.0.0.1]/", "https://0x7f.1/" } do
        assert.truthy(r.stdout:find(u .. "\tfalse\tpermission\n", 1, true), r.stdout)
      end
      -- user info is refused before the grant is even looked at
      assert.truthy(r.stdout:find("https://granted.test@127.0.0.1/\ttrue\trefused_url\n", 1, true), r.stdout)
    end)

    it("judges an IPv4-mapped IPv6 host as the IPv4 address it maps", function()
      local r = run("mapped", [[{ http = { "https://127.0.0.1:9" } }]], [[
        local http = require "nt3.http"
        for _, u in ipairs { "https://[::ffff:127.0.0.1]:9/", "https://[::ffff:7f00:1]:9/", "https://[::1]:9/" } do
          local ok, res, err, code = pcall(http.request, { url = u, connect_timeout = 1 })
          print(u, ok, type(res) == "table" and res.kind or code)
        end]])
      assert.are.equal(0, r.code, r.stderr)
      -- allowed: the connection itself fails (nothing listens on port 9)
      assert.truthy(r.stdout:find("https://[::ffff:127.0.0.1]:9/\ttrue\tconnect\n", 1, true), r.stdout)
      assert.truthy(r.stdout:find("https://[::ffff:7f00:1]:9/\ttrue\tconnect\n", 1, true), r.stdout)
      assert.truthy(r.stdout:find("https://[::1]:9/\tfalse\tpermission\n", 1, true), r.stdout)
    end)

    it("refuses a redirect off the granted origin, hop by hop", function()
      local p = port()
      local other = server.start()
      local r = run("hop", ([[{ http = { "http://127.0.0.1:%s" } }]]):format(p), ([[
        local http = require "nt3.http"
        local res, err, code = http.request { url = "http://127.0.0.1:%s/redirect?to=%s/echo" }
        print(res and res.status, err, code)]]):format(p, other.url))
      local seen = other.requests()
      other.stop()
      assert.are.equal(0, r.code, r.stderr)
      assert.truthy(r.stdout:find("\tpermission\n", 1, true), r.stdout)
      assert.truthy(r.stdout:find("redirect to " .. other.url .. "/echo refused: permission denied", 1, true), r.stdout)
      assert.are.equal(0, #seen)
    end)

    it("takes no output file outside an fs.write root, and no cafile (files are the fs grant's)", function()
      local p = port()
      local r = run("out", ([[{ http = { "http://127.0.0.1:%s" } }]]):format(p), ([[
        local http = require "nt3.http"
        print(pcall(http.request, { url = "http://127.0.0.1:%s/echo", output = "/tmp/x" }))
        print(pcall(http.request, { url = "http://127.0.0.1:%s/echo", cafile = "/etc/passwd" }))]]):format(p, p))
      assert.are.equal(0, r.code, r.stderr)
      assert.truthy(r.stdout:find("false\tpermission denied: output /tmp/x (not granted: fs.write)\n", 1, true), r.stdout)
      assert.truthy(r.stdout:find("false\tpermission denied: http.request with 'cafile'", 1, true), r.stdout)
    end)

    it("without an http grant, plain requests are refused", function()
      local r = run("nohttp", [[{ api = "read" }]], ([[
        print(pcall(require("nt3.http").request, { url = "%s/echo" }))]]):format(srv.url), { env = apitest.env(srv) })
      assert.are.equal(0, r.code, r.stderr)
      assert.truthy(r.stdout:find("false\tpermission denied: http GET", 1, true), r.stdout)
    end)
  end)

  describe("api", function()
    it("never hands back a body the token mask cannot see: no raw compressed bytes, no Range", function()
      local r = run("apiraw", [[{ api = "read" }]], [[
        local api = require "nt3.api"
        local tries = {
          { "decompress", { decompress = false, headers = { ["Accept-Encoding"] = "gzip" } } },
          { "Range", { headers = { Range = "bytes=0-4" } } },
          { "range", { headers = { range = "bytes=5-9" } } },
          { "If-Range", { headers = { ["if-range"] = "x" } } },
        }
        for _, t in ipairs(tries) do
          local req = t[2]
          req.path = "/api/v1/echo?whole=" .. t[1]
          local ok, e = pcall(api.request, req)
          print(t[1], ok, tostring(type(e) == "table" and e.message or e))
        end
        -- a table that would show the check no Range and the request a
        -- Range: its headers are read once, and what is judged is sent
        local asked = 0
        local shifty = setmetatable({ path = "/api/v1/echo?shifty=1" }, { __index = function(_, k)
          if k ~= "headers" then return nil end
          asked = asked + 1
          return asked == 1 and {} or { Range = "bytes=0-4" }
        end })
        local res = assert(require("nt3.sandbox.api_core").send(shifty))
        print("shifty", asked, res.status, res.body:lower():find('"range"', 1, true))
        -- a hand-set Accept-Encoding still gets the body decoded
        local body = assert(api.request { path = "/compressed?encoding=gzip&bytes=1000", raw = true,
          headers = { ["Accept-Encoding"] = "gzip" } })
        print("decoded", #body, body == ("x"):rep(1000))]], { env = apitest.env(srv) })
      assert.are.equal(0, r.code, r.stderr)
      assert.truthy(r.stdout:find("decompress\tfalse\t[^\n]*field 'decompress': a sandboxed command's API bodies are always decoded"), r.stdout)
      assert.truthy(r.stdout:find("\nshifty\t1\t200\tnil\n", 1, true), r.stdout)
      for _, h in ipairs { "Range", "range", "If-Range" } do
        assert.truthy(r.stdout:find(h:gsub("%-", "%%-") .. "\tfalse\t[^\n]*no Range for a sandboxed command's API requests"), r.stdout)
      end
      assert.truthy(r.stdout:find("decoded\t1000\ttrue\n", 1, true), r.stdout)
      assert.are.same({}, apitest.requests_to(srv, "/api/v1/echo?whole="))
    end)

    it("\"read\" allows GET and refuses a method not granted", function()
      local r = run("apir", [[{ api = "read" }]], [[
        local api = require "nt3.api"
        local me = api.get("/api/v1/me")
        print("me", me.id)
        for _, m in ipairs { "post", "put", "patch", "delete" } do
          local ok, e = pcall(api[m], "/api/v1/echo", { a = 1 })
          print(m, ok, type(e) == "table" and e.message or tostring(e))
        end]], { env = apitest.env(srv) })
      assert.are.equal(0, r.code, r.stderr)
      assert.truthy(r.stdout:find("me\tu_1\n", 1, true), r.stdout)
      for _, m in ipairs { "POST", "PUT", "PATCH", "DELETE" } do
        assert.truthy(r.stdout:find(("%s\tfalse\tpermission denied: nt3.api %s "):format(m:lower(), m), 1, true), r.stdout)
      end
    end)

    it("sends the API's own Host and the one Authorization nt3 adds, whatever headers the command gives", function()
      local r = run("apih", [[{ api = "read" }]], [[
        local v = require("nt3.api").get("/api/v1/echo", nil,
          { headers = { Host = "elsewhere.test", Authorization = "Bearer mine" } })
        print(v.headers.host, v.headers.authorization)]], { env = apitest.env(srv) })
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal(srv.url:gsub("^http://", "") .. "\tBearer " .. ("*"):rep(#TOKEN) .. "\n", r.stdout)
    end)

    it("a list of methods allows those", function()
      local r = run("apil", [[{ api = { "GET", "POST" } }]], [[
        local api = require "nt3.api"
        local v = api.post("/api/v1/echo", { a = 1 })
        print("post", v.method, v.body)
        print(pcall(api.delete, "/api/v1/echo"))]], { env = apitest.env(srv) })
      assert.are.equal(0, r.code, r.stderr)
      assert.truthy(r.stdout:find('post\tPOST\t{"a":1}', 1, true), r.stdout)
      assert.truthy(r.stdout:find("false\tpermission denied: nt3.api DELETE", 1, true), r.stdout)
    end)

    it("a redirect off the API's origin fails", function()
      local other = server.start()
      local r = run("apihop", [[{ api = "read" }]], ([[
        local api = require "nt3.api"
        print(api.get("/redirect", { to = "%s/echo" }))]]):format(other.url), { env = apitest.env(srv) })
      local seen = other.requests()
      other.stop()
      assert.are.equal(0, r.code, r.stderr)
      assert.truthy(r.stdout:find("permission denied: nt3.api GET " .. other.url:gsub("^http://", "http://"), 1, true)
        or r.stdout:find("\tpermission\n", 1, true), r.stdout)
      assert.are.equal(0, #seen)
    end)

    it("pages gathers every page by the host's loop, following RFC 8288 next links, the token in no value", function()
      local r = run("apipg", [[{ api = "read" }]], [[
        local api = require "nt3.api"
        local got = {}
        for item in api.pages("/list", { query = { per = 2, total = 5 } }) do got[#got + 1] = item.n end
        print(table.concat(got, ","))
        local rel = {}
        for item in api.pages("/list", { query = { per = 2, total = 3, next = "relquery", wrap = "data" } }) do
          rel[#rel + 1] = item.n
        end
        print(table.concat(rel, ","))
        -- a server that echoes the Authorization it got into every item
        local echoed = {}
        for item, i in api.pages("/list", { query = { per = 2, total = 3, echo = 1 },
          headers = { Authorization = "Bearer mine" } }) do
          echoed[#echoed + 1] = i .. "=" .. tostring(item.authorization)
        end
        print(table.concat(echoed, ","))]], { env = apitest.env(srv) })
      assert.are.equal(0, r.code, r.stderr)
      local lines = {}
      for l in r.stdout:gmatch("[^\n]+") do lines[#lines + 1] = l end
      assert.are.equal("1,2,3,4,5", lines[1], r.stdout)
      assert.are.equal("1,2,3", lines[2], r.stdout)
      local masked = "Bearer " .. ("*"):rep(#TOKEN)
      assert.are.equal(("1=%s,2=%s,1=%s"):format(masked, masked, masked), lines[3], r.stdout)
      assert.is_nil((r.stdout .. r.stderr):find(TOKEN, 1, true))
    end)

    it("pages refuses a next link off the API's origin as the host does (cross_origin); C refuses the URL too", function()
      local other = server.start()
      local r = run("apipx", [[{ api = "read" }]], ([[
        local api = require "nt3.api"
        local got = {}
        local ok, e = pcall(function()
          for item in api.pages("/list", { query = { per = 2, total = 5, next = "cross" } }) do got[#got + 1] = item.n end
        end)
        print(ok, #got, e.kind, tostring(e))
        print(pcall(require("nt3.sandbox.api_core").send, { url = "%s/echo" }))]]):format(other.url),
        { env = apitest.env(srv) })
      local seen = other.requests()
      other.stop()
      assert.are.equal(0, r.code, r.stderr)
      assert.truthy(r.stdout:find("false\t0\tcross_origin\trefusing to follow page 1's next link to http://localhost:", 1, true),
        r.stdout)
      assert.truthy(r.stdout:find("false\tpermission denied: nt3.api GET " .. other.url, 1, true), r.stdout)
      assert.are.equal(0, #seen)
      assert.is_nil((r.stdout .. r.stderr):find(TOKEN, 1, true))
    end)

    it("without an api grant, nt3.api is refused", function()
      local r = run("noapi", "{}", [[print(pcall(require("nt3.api").get, "/api/v1/me"))]], { env = apitest.env(srv) })
      assert.are.equal(0, r.code, r.stderr)
      assert.truthy(r.stdout:find("false\tpermission denied: nt3.api GET /api/v1/me (not granted: api)", 1, true), r.stdout)
    end)
  end)

  describe("env and proc", function()
    it("env gives the granted variables only", function()
      local r = run("envs", [[{ env = { "GRANTED" } }]], [[
        local env = require "nt3.env"
        print(env.get("GRANTED"))
        print(pcall(env.get, "SECRET"))]], { env = { GRANTED = "yes", SECRET = "no" } })
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("yes\nfalse\tpermission denied: env SECRET (not granted: env)\n", r.stdout)
    end)

    it("proc runs the granted programs only, with only the granted variables", function()
      local r = run("procs", [[{ proc = { "/usr/bin/env" }, env = { "GRANTED" } }]], [[
        local proc = require "nt3.proc"
        local r = proc.run { "/usr/bin/env" }
        print("env:", r.stdout, r.code)
        print(pcall(proc.run, { "/bin/sh", "-c", "echo ESCAPED" }))
        print(pcall(proc.run, { "/usr/bin/../bin/env" }))]],
        { env = { GRANTED = "yes", SECRET = "no", NT3_API_TOKEN = TOKEN } })
      assert.are.equal(0, r.code, r.stderr)
      assert.truthy(r.stdout:find("env:\tGRANTED=yes\n\t0\n", 1, true), r.stdout)
      assert.is_nil(r.stdout:find("SECRET", 1, true))
      assert.is_nil(r.stdout:find("ESCAPED", 1, true))
      assert.truthy(r.stdout:find("false\tpermission denied: proc /bin/sh (not granted: proc)", 1, true), r.stdout)
      assert.truthy(r.stdout:find("false\tpermission denied: proc /usr/bin/../bin/env (not granted: proc)", 1, true), r.stdout)
    end)

    it("proc takes no cwd: a granted program is not run elsewhere, and no directory is probed", function()
      -- the attack: a granted /bin/ls run in a directory no fs root covers
      -- lists it, and the failure's words for a missing one would tell
      -- which paths exist
      local secret = sh.tmpdir()
      sh.spit(secret .. "/secret.txt", "SECRET")
      local r = run("cwds", [[{ proc = { "/bin/ls" } }]], ([[
        local proc = require "nt3.proc"
        print(pcall(proc.run, { "/bin/ls" }, { cwd = %q }))
        print(pcall(proc.run, { "/bin/ls" }, { cwd = %q }))]]):format(secret, secret .. "/missing"))
      assert.are.equal(0, r.code, r.stderr)
      assert.is_nil(r.stdout:find("secret.txt", 1, true), r.stdout)
      local _, refusals = r.stdout:gsub("false\tproc.run: opts.cwd is not available in the sandbox\n", "")
      assert.are.equal(2, refusals, r.stdout)
    end)

    it("proc's cwd refusal is one line, the same whatever the directory, as docs/lua-api.md gives it", function()
      local r = run("cwd1", [[{ proc = { "/bin/ls" } }]], [[
        local proc = require "nt3.proc"
        for _, dir in ipairs { ".", "/", "/nonexistent/x" } do
          local ok, err = pcall(proc.run, { "/bin/ls" }, { cwd = dir })
          print(ok, err)
        end]])
      assert.are.equal(0, r.code, r.stderr)
      local line = "false\tproc.run: opts.cwd is not available in the sandbox\n"
      assert.are.equal(line:rep(3), r.stdout)
      local doc = sh.slurp(sh.src .. "/docs/lua-api.md"):gsub("%s+", " ")
      assert.truthy(doc:find("`proc.run: opts.cwd is not available in the sandbox`", 1, true))
    end)

    it("prompt is refused unless granted", function()
      local r = run("ask", "{}", [[print(pcall(require, "nt3.prompt"))]])
      assert.are.equal(0, r.code, r.stderr)
      assert.truthy(r.stdout:find("false\tpermission denied: nt3.prompt (not granted: prompt)", 1, true), r.stdout)
    end)
  end)

  describe("fs", function()
    -- a working directory with a file, a subdirectory, and every way out
    local function work()
      local cwd, outside = sh.tmpdir(), sh.tmpdir()
      sh.spit(cwd .. "/data.txt", "DATA")
      assert(os.execute("mkdir " .. sh.quote(cwd .. "/sub") .. " " .. sh.quote(cwd .. "/out")))
      sh.spit(cwd .. "/sub/x.txt", "SUB")
      sh.spit(outside .. "/secret.txt", "SECRET")
      local q = sh.quote
      assert(os.execute(table.concat({
        "ln -s " .. q(outside .. "/secret.txt") .. " " .. q(cwd .. "/link-out"),
        "ln -s ../" .. q(outside:match("[^/]+$")) .. "/secret.txt " .. q(cwd .. "/link-up"),
        "ln -s /proc/self/root " .. q(cwd .. "/proc-root"),
        "ln -s /proc/self/fd " .. q(cwd .. "/proc-fd"),
        "ln " .. q(outside .. "/secret.txt") .. " " .. q(cwd .. "/hard"),
      }, " && ")))
      return cwd, outside
    end

    it("reads beneath a granted root only: no .., symlink, /proc/self or hard-link way out", function()
      local cwd, outside = work()
      local name = outside:match("[^/]+$")
      local r = run("reader", [[{ fs = { read = { "." } } }]], ([[
        local fs = require "nt3.fs"
        local CWD, OUT, NAME = %q, %q, %q
        print(fs.read("data.txt"), fs.read("./sub/x.txt"), fs.read(CWD .. "/data.txt"))
        for _, p in ipairs { "../" .. NAME .. "/secret.txt", "link-out", "link-up", "proc-root" .. OUT .. "/secret.txt",
          "proc-fd/0", "hard", "sub/../../" .. NAME .. "/secret.txt" } do
          local ok, v, err = pcall(fs.read, p)
          print(p, ok and v or "raised", ok and err or (type(v) == "table" and v.message or v))
        end
        for _, p in ipairs { "/proc/self/root" .. OUT .. "/secret.txt", OUT .. "/secret.txt", "/etc/passwd" } do
          print(p, pcall(fs.read, p))
        end
        print(pcall(fs.write, "new.txt", "x"))]]):format(cwd, outside, name), { cwd = cwd })
      assert.are.equal(0, r.code, r.stderr)
      assert.truthy(r.stdout:find("^DATA\tSUB\tDATA\n"), r.stdout)
      assert.is_nil(r.stdout:find("SECRET", 1, true), r.stdout)
      assert.truthy(r.stdout:find("\nhard\traised\thard: has more than one hard link", 1, true), r.stdout)
      for _, p in ipairs { "../" .. name .. "/secret.txt", "link-out", "link-up", "proc-root" .. outside .. "/secret.txt",
        "proc-fd/0", "sub/../../" .. name .. "/secret.txt" } do
        assert.truthy(r.stdout:find("\n" .. p .. "\traised\t" .. p .. ": outside the root\n", 1, true), r.stdout)
      end
      assert.truthy(r.stdout:find("/etc/passwd\tfalse\tpermission denied: fs read /etc/passwd (not granted: fs.read)", 1, true), r.stdout)
      assert.truthy(r.stdout:find("false\tpermission denied: fs write new.txt (not granted: fs.write)", 1, true), r.stdout)
      assert.is_nil(sh.slurp(cwd .. "/new.txt"))
    end)

    it("writes atomically beneath a granted write root only", function()
      local cwd = work()
      local r = run("writer", [[{ fs = { write = { "./out" } } }]], [[
        local fs = require "nt3.fs"
        print(fs.write("out/a.txt", "A"))
        print(pcall(fs.write, "out/../data.txt", "CLOBBERED"))
        print(pcall(fs.write, "data.txt", "CLOBBERED"))
        print(pcall(fs.read, "out/a.txt"))]], { cwd = cwd })
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("A", sh.slurp(cwd .. "/out/a.txt"))
      assert.are.equal("DATA", sh.slurp(cwd .. "/data.txt"))
      assert.truthy(r.stdout:find("^true\ntrue\tnil\t../data.txt: outside the root\t18\n"), r.stdout)
      assert.truthy(r.stdout:find("false\tpermission denied: fs write data.txt (not granted: fs.write)", 1, true), r.stdout)
      assert.truthy(r.stdout:find("false\tpermission denied: fs read out/a.txt (not granted: fs.read)", 1, true), r.stdout)
    end)

    describe("output files", function()
      -- the body an API request streams to a file or a sink: beneath an
      -- fs.write root only (checked in C when the request is made), and
      -- with the token masked, across the chunks it comes in too
      it("streams an API body beneath a write root, the token masked in the file and in a sink", function()
        local cwd = work()
        local r = run("apiout", [[{ api = "read", fs = { write = { "./out" } } }]], [[
          local api = require "nt3.api"
          local chunks = {}
          for _, q in ipairs { "", "?chunk=5" } do
            local v, res = api.get("/api/v1/echo" .. q, nil, { output = "out/echo" .. (q ~= "" and "5" or "") .. ".json" })
            print("file", v, res.status, res.output)
            assert(api.get("/api/v1/echo" .. q, nil, { sink = function(c) chunks[#chunks + 1] = c end }))
          end
          print("sink", #chunks, table.concat(chunks):find("Bearer %*+") ~= nil)
          print("sinktoken", (table.concat(chunks):find("entri_valid", 1, true)))]],
          { cwd = cwd, env = apitest.env(srv) })
        assert.are.equal(0, r.code, r.stderr)
        assert.truthy(r.stdout:find("file\t\t200\tout/echo.json\n", 1, true), r.stdout)
        assert.truthy(r.stdout:find("file\t\t200\tout/echo5.json\n", 1, true), r.stdout)
        assert.truthy(r.stdout:find("\nsink\t%d+\ttrue\nsinktoken\tnil\n"), r.stdout)
        for _, f in ipairs { "echo.json", "echo5.json" } do
          local text = assert(sh.slurp(cwd .. "/out/" .. f))
          assert.truthy(text:find('"authorization": "Bearer ' .. ("*"):rep(#TOKEN) .. '"', 1, true), text)
          assert.is_nil(text:find(TOKEN, 1, true), text)
        end
      end)

      it("refuses an output under no write root before anything is sent", function()
        local cwd = work()
        local r = run("apiout2", [[{ api = "read", fs = { read = { "." }, write = { "./out" } } }]], [[
          local api = require "nt3.api"
          for _, p in ipairs { "data.txt", "/tmp/nt3-sandbox-out" } do
            print(pcall(api.get, "/api/v1/echo?never=1", nil, { output = p }))
          end]], { cwd = cwd, env = apitest.env(srv) })
        assert.are.equal(0, r.code, r.stderr)
        assert.truthy(r.stdout:find("false\tpermission denied: output data.txt (not granted: fs.write)\n", 1, true),
          r.stdout)
        assert.truthy(r.stdout:find("false\tpermission denied: output /tmp/nt3-sandbox-out (not granted: fs.write)", 1,
          true), r.stdout)
        assert.are.equal("DATA", sh.slurp(cwd .. "/data.txt"))
        assert.are.same({}, apitest.requests_to(srv, "/api/v1/echo?never"))
      end)

      it("has no .., symlink or hard-link way out of the root", function()
        local cwd, outside = work()
        local q = sh.quote
        assert(os.execute(table.concat({
          "ln -s " .. q(outside) .. " " .. q(cwd .. "/out/abs"),
          "ln -s ../.. " .. q(cwd .. "/out/up"),
          "ln " .. q(outside .. "/secret.txt") .. " " .. q(cwd .. "/out/hard"),
        }, " && ")))
        -- the outside directory held open as a read root: its descriptor
        -- is one of /proc/self/fd's links (a root in /proc is never granted:
        -- "never grants a root in /proc")
        local r = run("apiesc", ([[{ api = "read", fs = { read = { %q }, write = { "./out" } } }]])
          :format(outside), [[
          local api = require "nt3.api"
          for _, p in ipairs { "out/../data.txt", "out/abs/stolen", "out/up/stolen", "out/hard" } do
            print(p, api.get("/api/v1/echo?esc=1", nil, { output = p }))
          end]], { cwd = cwd, env = apitest.env(srv) })
        assert.are.equal(0, r.code, r.stderr)
        assert.truthy(r.stdout:find("out/../data.txt\tnil\tcannot write out/../data.txt: outside the root\toutput\n", 1,
          true), r.stdout)
        assert.truthy(r.stdout:find("out/abs/stolen\tnil\tcannot write out/abs/stolen: outside the root\toutput\n", 1,
          true), r.stdout)
        assert.truthy(r.stdout:find("out/up/stolen\tnil\tcannot write out/up/stolen: outside the root\toutput\n", 1,
          true), r.stdout)
        -- a hard link is replaced, never written through
        assert.truthy(r.stdout:find("out/hard\t\t", 1, true), r.stdout)
        assert.are.equal("DATA", sh.slurp(cwd .. "/data.txt"))
        assert.are.equal("SECRET", sh.slurp(outside .. "/secret.txt"))
        assert.is_nil(sh.slurp(outside .. "/stolen"))
        assert.is_nil(sh.slurp(cwd .. "/stolen"))
      end)

      it("never opens the folder's credential file beneath a root, by its name or through a link, to read or write", function()
        local cwd = work()
        local q = sh.quote
        sh.spit(cwd .. "/.nt3.local.json", '{"token": "' .. TOKEN .. '"}')
        sh.spit(cwd .. "/.nt3.local.json.lock", "")
        sh.spit(cwd .. "/..nt3.local.json.tmp-0123456789ab", '{"token": "' .. TOKEN .. '"}')
        assert(os.execute("ln -s .nt3.local.json " .. q(cwd .. "/innocent") .. " && ln -s ../.nt3.local.json " .. q(cwd .. "/sub/up")))
        local r = run("localfile", [[{ fs = { read = { "." }, write = { "." } } }]], [[
          local fs = require "nt3.fs"
          for _, p in ipairs { ".nt3.local.json", "./.nt3.local.json", "innocent", "sub/up", ".nt3.local.json.lock",
              "..nt3.local.json.tmp-0123456789ab" } do
            print(p, fs.read(p))
            print(p, fs.stat(p))
            print(p, fs.sha256(p))
          end
          print("write", fs.write(".nt3.local.json", "{}"))
          print("write", fs.write("sub/.nt3.local.json", "{}"))
          print("dir", #assert(fs.dir(".")))]], { cwd = cwd })
        assert.are.equal(0, r.code, r.stderr)
        assert.is_nil(r.stdout:find(TOKEN, 1, true), r.stdout)
        local refused = select(2, r.stdout:gsub("never opened beneath a root", ""))
        assert.are.equal(6 * 3 + 2, refused, r.stdout)
        assert.truthy(r.stdout:find("\ndir\t%d+\n"), r.stdout)
        assert.are.equal('{"token": "' .. TOKEN .. '"}', sh.slurp(cwd .. "/.nt3.local.json"))
        assert.is_nil(sh.slurp(cwd .. "/sub/.nt3.local.json"))
      end)

      it("never grants a root in /proc, or one holding it: every process's environment is there", function()
        for _, root in ipairs { "/proc", "/proc/self", "/proc/self/fd", "/proc/sys", "/" } do
          for _, kind in ipairs { "read", "write" } do
            local r = run("procroot", ("{ fs = { %s = { %q } } }"):format(kind, root), [[print("ran")]])
            assert.are_not.equal(0, r.code, root)
            assert.are.equal("", r.stdout)
            assert.truthy(r.stderr:find("never granted", 1, true), root .. ": " .. r.stderr)
          end
        end
      end)

      it("works for nt3.http too, beneath a write root", function()
        local cwd = work()
        local p = srv.url:match(":(%d+)$")
        local r = run("httpout", ([[{ http = { "http://127.0.0.1:%s" }, fs = { write = { "./out" } } }]]):format(p), ([[
          local res = require("nt3.http").request { url = "http://127.0.0.1:%s/big?bytes=300000", output = "out/big" }
          print(res.status, res.output, #res.body)]]):format(p), { cwd = cwd })
        assert.are.equal(0, r.code, r.stderr)
        assert.are.equal("200\tout/big\t0\n", r.stdout)
        assert.are.equal(("x"):rep(300000), sh.slurp(cwd .. "/out/big"))
      end)
    end)

    it("never grants nt3's own directory, one inside it, or one that holds it", function()
      for _, root in ipairs { "~", "~/.nt3", "~/.nt3/commands", "/" } do
        local r = run("cfgdir", ("{ fs = { read = { %q } } }"):format(root), [[print("ran")]])
        assert.are.equal(1, r.code, root)
        assert.is_nil(r.stdout:find("ran", 1, true))
        assert.truthy(r.stderr:find("nt3's own directory", 1, true), r.stderr)
      end
    end)
  end)

  describe("terminal output", function()
    it("goes through the sanitiser on a terminal: colour kept, OSC and cursor movement replaced", function()
      local home = home_with("esc", "{}", [[
        print("A\27[31mRED\27[0mB\27]52;c;ZXZpbA==\7C\27[2J\27[HD")
        require("nt3.cli").out("E\27[1;32mG\27[0m\n")]])
      local r = pty.run({ "esc" }, { home = home })
      assert.are.equal(0, r.code, r.output)
      assert.truthy(r.output:find("A\27[31mRED\27[0mB", 1, true), r.output)
      assert.truthy(r.output:find("E\27[1;32mG\27[0m", 1, true), r.output)
      assert.is_nil(r.output:find("\27]", 1, true))
      assert.is_nil(r.output:find("\27[2J", 1, true))
      assert.is_nil(r.output:find("\27[H", 1, true))
      assert.is_nil(r.output:find("\7", 1, true))
    end)

    it("keeps no SGR parameter that can hide text: conceal, backgrounds, black and white dropped", function()
      local home = home_with("hide", "{}", [[
        print("A\27[8mHIDDEN\27[0mB")
        print("C\27[30;40mSAME\27[0mD")
        print("E\27[1;8;31;47mF\27[38;5;16;48;2;0;0;0mG\27[7;97mH\27[mI")]])
      local r = pty.run({ "hide" }, { home = home })
      assert.are.equal(0, r.code, r.output)
      assert.truthy(r.output:find("AHIDDEN\27[0mB", 1, true), r.output)
      assert.truthy(r.output:find("CSAME\27[0mD", 1, true), r.output)
      assert.truthy(r.output:find("E\27[1;31mFGH\27[mI", 1, true), r.output)
      for _, sgr in ipairs { "\27[8m", "\27[30", "40m", "47m", "\27[38", "\27[7", "97m" } do
        assert.is_nil(r.output:find(sgr, 1, true), sgr)
      end
    end)

    it("never puts an escape sequence of its description, examples or flags in its help", function()
      local E = [[\27]52;c;UFdORUQ=\7\27]0;TITLE\7\27[2J\194\155]]
      local home = usercmd.home { ["hostile.lua"] = ([[
return {
  name = "hostile", summary = "s", permissions = {},
  description = "about%s\nsecond line",
  flags = { { long = "level", value = "n%s", help = "how far%s" } },
  examples = { "nt3 hostile%s" },
  run = function() end,
}
]]):format(E, E, E, E) }
      for _, args in ipairs { { "help", "hostile" }, { "hostile", "--help" } } do
        local r = sh.run(args, { home = home })
        assert.are.equal(0, r.code, r.stderr)
        assert.is_nil(r.stdout:find("[\27\7]"), r.stdout)
        assert.is_nil(r.stdout:find("\194\155", 1, true), r.stdout)
        for _, part in ipairs { "about?]52;c;UFdORUQ=??]0;TITLE??[2J?\nsecond line", "<n?]52;c;", "how far?]52;c;",
            "  nt3 hostile?]52;c;" } do
          assert.truthy(r.stdout:find(part, 1, true), part .. " in " .. r.stdout)
        end
      end
    end)

    it("is passed as it is when it is not a terminal", function()
      local r = run("esc2", "{}", [[print("A\27]52;c;x\7B")]])
      assert.are.equal("A\27]52;c;x\7B\n", r.stdout)
    end)
  end)

  describe("nt3.ui", function()
    -- nt3.ui as it is, its output through the sandbox's print: the
    -- sanitiser at a terminal, the data as it is on a pipe
    local BODY = [[
      local ui = require "nt3.ui"
      local rows = { { id = 1, name = "evil\27]52;c;ZXZpbA==\7name", owner = { login = "ann" } },
        { id = 2, name = "\27[2Jwide 日本語の名前", owner = { login = "bob" } } }
      assert(ui.table(rows, { columns = { "id", "name", "owner.login" } }))
      assert(ui.csv(rows, { "id", "name" }, { stream = ui.stderr }))
      print(ui.color("green", "ok"), ui.colors(ui.stderr), ui.width("日本"))
      print(pcall(ui.table, rows, { columns = { "id" }, stream = {} }))
      print(pcall(require, "nt3.prompt"))
      print(pcall(require("nt3.env").get, "TERM"))
      -- ui runs in the sandbox, as untrusted as the command: what it
      -- writes is sanitised again by C, whatever the command made of it
      string.rep = function() return "\27]0;pwned\7" end
      assert(ui.table(rows, { columns = { "id", "name" } }))]]

    it("at a terminal: aligned and cut to its width, every control but colour replaced", function()
      local home = home_with("uitty", "{ env = {} }", BODY)
      local r = pty.run({ "uitty" }, { home = home, columns = 40, env = { NO_COLOR = false, TERM = "xterm" } })
      assert.are.equal(0, r.code, r.output)
      local out = r.output:gsub("\r\n", "\n")
      assert.truthy(out:find("ID  NAME", 1, true), out)
      assert.truthy(out:find("\n1   evil?]52;c;ZXZpbA==?na\u{2026}  ann\n", 1, true), out)
      assert.truthy(out:find("\n1,evil?]52;c;ZXZpbA==?name", 1, true), out)
      assert.truthy(out:find("\27[32mok\27[0m\ttrue\t4\n", 1, true), out)
      assert.is_nil(out:find("\27]", 1, true), out)
      assert.is_nil(out:find("\27[2J", 1, true), out)
      assert.is_nil(out:find("\7", 1, true), out)
      for line in out:gmatch("[^\n]+") do
        if line:find("^%d ") then assert.is_true(require("nt3.ui").width(line) <= 40, line) end
      end
      assert.truthy(out:find("false\tbad argument #2 to 'table' (stream must be an open file)", 1, true), out)
      assert.truthy(out:find("false\tpermission denied: nt3.prompt (not granted: prompt)", 1, true), out)
      assert.truthy(out:find("false\tpermission denied: env TERM (not granted: env)", 1, true), out)
    end)

    -- ui.progress in the sandbox: the bar is the one thing that reaches the
    -- terminal with controls of its own, and only as a line of printable text
    local PROGRESS = [[
      local ui = require "nt3.ui"
      local p = ui.progress { total = 3, label = "lab\27]0;owned\7\27[2Jel\nnext" }
      p:add()
      print("between")
      -- the command makes what it can of nt3.ui's code and streams
      string.rep = function() return "\27]0;pwned\7\r\27[2J" end
      ui.stderr:write("\r\27[Kraw\n")
      p:set(2)
      -- left shown: the end of the run erases it]]

    it("ui.progress: drawn on a terminal's stderr, sanitised, around the output, erased at the end", function()
      local home = home_with("uibar", "{}", PROGRESS)
      local r = pty.run({ "uibar" }, { home = home, columns = 60 })
      assert.are.equal(0, r.code, r.output)
      assert.truthy(r.output:find("\rlab?]0;owned??[2Jel next [", 1, true), r.output)
      -- the only controls on the terminal are the bar's own (\r, erase to
      -- the end of the line) and the ends of lines
      assert.is_nil((r.output:gsub("\27%[K", ""):gsub("[\r\n]", "")):find("%c"), r.output)
      assert.is_nil(r.output:find("\27[2J", 1, true), r.output)
      assert.is_nil(r.output:find("\7", 1, true), r.output)
      -- the output never shares the bar's line, and the terminal ends blank
      local out = r.output:gsub("\r\n", "\n")
      assert.truthy(out:find("\27[K\r\27[Kbetween\n", 1, true), r.output)
      assert.truthy(out:find("\r\27[K ?[Kraw\n", 1, true), r.output)
      assert.are.equal("\r\27[K", r.output:sub(-4), r.output)
      -- off when nt3's progress setting is
      local off = pty.run({ "uibar" }, { home = home, env = { NT3_NO_PROGRESS = "1" } })
      assert.are.equal(0, off.code, off.output)
      assert.are.equal("between\r\n ?[Kraw\r\n", off.output)
    end)

    -- a terminal's echo (Ctrl-C's "^C") can land between two writes: each
    -- draw and each erase of the bar is one write(2) of a whole line
    it("ui.progress: each line of the bar is one write", function()
      local home = home_with("uibar", "{}", PROGRESS)
      local auth = require "helpers.auth_util"
      local log = sh.tmpdir() .. "/trace"
      local wrapper = auth.wrapped("strace -qq -s 4096 -xx -e trace=write -o " .. sh.quote(log))
      local r = pty.run({ "uibar" }, { home = home, columns = 60, bin = wrapper, env = auth.traced() })
      assert.are.equal(0, r.code, r.output)
      local trace = sh.slurp(log) or ""
      local lines = 0
      for data in trace:gmatch('write%(2, "([^"]*)"') do
        local bytes = data:gsub("\\x(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
        if bytes:find("\r", 1, true) and not bytes:find("\n", 1, true) then
          lines = lines + 1
          assert.matches("^\r[^\r]*\27%[K$", bytes, 1)
        end
      end
      assert.is_true(lines >= 3, trace)
    end)

    it("on a pipe: tab-separated, RFC 4180 CSV on stderr, the caller's data as it is", function()
      local r = run("uipipe", "{}", BODY, { env = { NO_COLOR = "1" } })
      assert.are.equal(0, r.code, r.stderr)
      assert.truthy(r.stdout:find("^1\tevil\27]52;c;ZXZpbA==\7name\tann\n2\t\27%[2Jwide 日本語の名前\tbob\n"), r.stdout)
      assert.truthy(r.stdout:find("\nok\tfalse\t4\n", 1, true), r.stdout)
      assert.are.equal('id,name\r\n1,evil\27]52;c;ZXZpbA==\7name\r\n2,\27[2Jwide 日本語の名前\r\n', r.stderr)
    end)
  end)

  describe("visibility", function()
    it("nt3 help <command> shows what it may do", function()
      local home = home_with("shown", [[{ api = "read", http = { "https://example.com" }, env = { "A" },
        proc = { "/bin/true" }, prompt = true, memory = "256M" }]], "return 0")
      local r = sh.run({ "help", "shown" }, { home = home })
      assert.are.equal(0, r.code, r.stderr)
      for _, line in ipairs {
        "Permissions (it runs in a sandbox and may do only this):",
        "  api: read the API (GET, HEAD, OPTIONS) with your token, which it never sees",
        "  http: unauthenticated requests to https://example.com", "  env: the variables A",
        "  proc: run /bin/true", "  prompt: ask questions on the terminal", "  memory: 256M",
      } do
        assert.truthy(r.stdout:find(line, 1, true), r.stdout)
      end
    end)

    it("--trace-permissions prints one line per use and per refusal", function()
      local r = run("traced", [[{ env = { "A" } }]], [[
        local env = require "nt3.env"
        env.get("A")
        pcall(env.get, "B")]], { args = { "--trace-permissions" } })
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("nt3: sandbox traced: allowed env A\nnt3: sandbox traced: refused env B (not granted: env)\n", r.stderr)
    end)

    it("--trace-permissions prints a refused request and a refused output file once each", function()
      local cwd = sh.tmpdir()
      local r = run("traced2", ([[{ http = { "%s" } }]]):format(srv.url), ([[
        local http = require "nt3.http"
        pcall(http.request, { url = "http://127.0.0.1:1/x" })
        pcall(http.request, { url = "%s/echo", output = "/tmp/nt3-nope" })]]):format(srv.url),
        { args = { "--trace-permissions" }, cwd = cwd })
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("nt3: sandbox traced2: refused http GET http://127.0.0.1:1\n"
        .. "nt3: sandbox traced2: refused output /tmp/nt3-nope (not granted: fs.write)\n", r.stderr)
    end)

    it("a refusal that escapes is one line with exit 1", function()
      local r = run("refused", "{}", [[require("nt3.env").get("HOME")]])
      assert.are.equal(1, r.code)
      assert.are.equal("nt3: permission denied: env HOME (not granted: env)\n", r.stderr)
    end)

    it("an unknown permission is refused at declaration", function()
      local r = run("unknown", "{ network = true }", "return 0")
      assert.are.equal(2, r.code)
      assert.truthy(r.stderr:find("unknown permission 'network'", 1, true), r.stderr)
    end)
  end)

  describe("declaring permissions", function()
    -- run(): marks the host's own authority (io exists only there)
    local RUN = [[run = function() print("ran", io ~= nil) end]]

    it("sandboxes a command however its permissions key is spelt", function()
      local home = usercmd.home { ["quoted.lua"] = ([[
return { name = "quoted", summary = "s", ["permissions"] = { api = "read" }, %s }
]]):format(RUN) }
      local r = sh.run({ "quoted" }, { home = home })
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("ran\tfalse\n", r.stdout)
      local help = sh.run({ "help", "quoted" }, { home = home })
      assert.truthy(help.stdout:find("runs in a sandbox", 1, true), help.stdout)
    end)

    it("reads a command's table raw: a metamethod that raises or never ends cannot stop help or nt3", function()
      -- run and permissions are asked of __index: never called
      local home = usercmd.home {
        ["boom.lua"] = [[
return setmetatable({ name = "boom", summary = "raises", permissions = {} }, { __index = function() error("boom") end })
]],
        ["spin.lua"] = [[
return setmetatable({ name = "spin", summary = "loops", permissions = {} }, { __index = function() while true do end end })
]],
      }
      local help = sh.run({ "help" }, { home = home })
      assert.are.equal(0, help.code, help.stderr)
      assert.truthy(help.stderr:find("boom.lua: field 'run' is missing or not a function", 1, true), help.stderr)
      for _, name in ipairs { "boom", "spin" } do
        local r = sh.run({ name }, { home = home })
        assert.are.equal(2, r.code, name .. ": " .. r.stderr)
        assert.truthy(r.stderr:find("unknown command", 1, true), r.stderr)
      end
    end)

    it("never runs or lists a command whose permissions appear only outside a sandbox", function()
      local home = usercmd.home {
        -- nil in a sandbox (no debug there), a table in the host
        ["where.lua"] = ([[
return { name = "where", summary = "s", permissions = debug and { api = "read" } or nil, %s }
]]):format(RUN),
        -- a key the text never spells
        ["spelt.lua"] = ([[
local t = { name = "spelt", summary = "s", %s }
t["perm" .. "issions"] = { api = "read" }
return t
]]):format(RUN),
        -- given by a metatable
        ["meta.lua"] = ([[
return setmetatable({ name = "meta", summary = "s", %s }, { __index = { ["perm" .. "issions"] = {} } })
]]):format(RUN),
      }
      for _, name in ipairs { "where", "spelt", "meta" } do
        local r = sh.run({ name }, { home = home })
        assert.are.equal(2, r.code, name .. ": " .. r.stdout)
        assert.are.equal("", r.stdout)
        assert.truthy(r.stderr:find(("commands/%s.lua: it declares permissions only when loaded outside a sandbox, so it is not run"):format(name), 1, true), r.stderr)
      end
      local help = sh.run({ "help" }, { home = home })
      assert.are.equal(0, help.code, help.stderr)
      for _, name in ipairs { "where", "spelt", "meta" } do
        assert.is_nil(help.stdout:find("\n  " .. name .. " ", 1, true), help.stdout)
      end
    end)
  end)

  describe("a command without permissions", function()
    it("keeps full authority, as before", function()
      local home = usercmd.home { ["full.lua"] = usercmd.command {
        name = "full",
        body = [[print(io ~= nil, debug ~= nil, require("nt3.env").get("SECRET"), require("nt3.config") ~= nil)]],
      } }
      local r = sh.run({ "full" }, { home = home, env = { SECRET = "s3" } })
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("true\ttrue\ts3\ttrue\n", r.stdout)
    end)
  end)

  describe("flags, arguments and exit codes", function()
    it("reach the command as plain data, and its result is the exit code", function()
      local home = usercmd.home { ["flagged.lua"] = [[
return {
  name = "flagged", summary = "x", args = { "word..." },
  flags = { { long = "name", value = "NAME" }, { long = "many", value = "V", multiple = true } },
  permissions = {},
  run = function(opts, ctx)
    print(opts.name, table.concat(opts.many, ","), table.concat(ctx.args, ","), ctx.name)
    return 7
  end,
}
]] }
      local r = sh.run({ "flagged", "--name", "n", "--many", "a", "--many", "b", "x", "y" }, { home = home })
      assert.are.equal(7, r.code, r.stderr)
      assert.are.equal("n\ta,b\tx,y\tflagged\n", r.stdout)
    end)

    it("cli.fail and cli.usage_error end it as in a built-in", function()
      local r = run("failing", "{}", [[require("nt3.cli").fail("broken", 3)]])
      assert.are.equal(3, r.code)
      assert.are.equal("nt3: broken\n", r.stderr)
      local u = run("usage", "{}", [[ctx.cli.usage_error("wrong")]])
      assert.are.equal(2, u.code)
      assert.truthy(u.stderr:find("^nt3: wrong\nUsage: nt3 usage"), u.stderr)
    end)
  end)
end)

-- The host-side interface the extensions call (docs/architecture.md,
-- "Sandboxed commands"), from this very process.
describe("nt3.sandbox", function()
  local sandbox = require "nt3.sandbox"
  local fs = require "nt3.fs"

  local function ext_dir()
    return usercmd.dir {
      ["cmd.lua"] = [[
local lib = require "lib"
return { name = "cmd", summary = "s", flags = { { long = "x" } }, permissions = { env = { "A" } },
  run = function(opts, ctx) return lib.code + #ctx.args end }
]],
      ["lib.lua"] = "return { code = 40 }",
    }
  end

  local function hashes(dir)
    return { ["cmd.lua"] = fs.sha256(dir .. "/cmd.lua"), ["lib.lua"] = fs.sha256(dir .. "/lib.lua") }
  end

  it("describe gives the command table as plain data, run its exit code", function()
    local dir = ext_dir()
    local desc = assert(sandbox.describe { dir = dir, file = "cmd.lua", files = hashes(dir) })
    assert.are.same({ name = "cmd", summary = "s", flags = { { long = "x" } }, permissions = { env = { "A" } },
      has_run = true }, desc)
    assert.are.equal(42, sandbox.run { dir = dir, file = "cmd.lua", files = hashes(dir), permissions = desc.permissions,
      name = "cmd", opts = {}, args = { "a", "b" } })
  end)

  it("refuses a file whose sha256 is not the lock's, and one the lock does not list, naming it", function()
    local dir = ext_dir()
    local files = hashes(dir)
    sh.spit(dir .. "/lib.lua", "return { code = 0 }")
    local ok, msg, code = sandbox.run { dir = dir, file = "cmd.lua", files = files, permissions = {}, opts = {}, args = {} }
    assert.is_nil(ok)
    assert.are.equal("modified", code)
    assert.truthy(msg:find(dir .. "/lib.lua: modified since it was installed", 1, true), msg)
    local d2 = ext_dir()
    local only = { ["cmd.lua"] = fs.sha256(d2 .. "/cmd.lua") }
    local desc, msg2, code2 = sandbox.describe { dir = d2, file = "cmd.lua", files = only }
    assert.is_nil(desc)
    assert.are.equal("modified", code2)
    assert.truthy(msg2:find("lib.lua: not among the files the lock lists", 1, true), msg2)
  end)

  it("says why a permissions table is wrong", function()
    assert.is_true(sandbox.check_permissions { api = "read", http = { "https://a.example" }, memory = "64M" })
    for perms, why in pairs {
      [{ api = "delete" }] = "permission 'api'",
      [{ http = { "ftp://x" } }] = "is not an origin",
      [{ http = { "https://u@x" } }] = "is not an origin",
      [{ env = { "NT3_API_TOKEN" } }] = "never granted",
      [{ proc = { "sh" } }] = "absolute path",
      [{ fs = { read = { "../x" } } }] = "is not a root",
      [{ memory = "1K" }] = "permission 'memory'",
      [{ other = 1 }] = "unknown permission 'other'",
    } do
      local ok, msg, code = sandbox.check_permissions(perms)
      assert.is_nil(ok)
      assert.are.equal("invalid", code)
      assert.truthy(msg:find(why, 1, true), msg)
    end
  end)
end)

-- Attacks that tests/mutation/run.py showed no spec above would notice:
-- each fails when the check it names is taken out of the C.
describe("sandboxed commands, checks each held by one spec", function()
  local srv
  setup(function() srv = server.start() end)
  teardown(function() srv.stop() end)

  -- bindings/http/response.c, nt3_http_push_result: every copy masked
  it("masks the token a server reflects in a header, a redirect's URL or a refusal's message", function()
    local other = server.start()
    local r = run("reflect", [[{ api = "read" }]], ([[
      local core = require "nt3.sandbox.api_core"
      local res = assert(core.send { path = "/reflect" })
      print("HEADER", res.headers["x-reflect"])
      local hop = assert(core.send { path = "/reflect?to=/echo%%3Fx%%3D" })
      print("URL", hop.url)
      print("MESSAGE", core.send { path = "/reflect?to=%s/" })]]):format(other.url), { env = apitest.env(srv) })
    local seen = other.requests()
    other.stop()
    assert.are.equal(0, r.code, r.stderr)
    local stars = ("*"):rep(#TOKEN)
    assert.truthy(r.stdout:find("HEADER\tBearer " .. stars .. "\n", 1, true), r.stdout)
    assert.truthy(r.stdout:find("URL\t" .. srv.url .. "/echo?x=Bearer%20" .. stars .. "\n", 1, true), r.stdout)
    -- (a URL shown in a message has token-shaped text masked anyway)
    assert.truthy(r.stdout:find("MESSAGE\tnil\tredirect to " .. other.url .. "/Bearer%20", 1, true), r.stdout)
    assert.is_nil((r.stdout .. r.stderr):find(TOKEN, 1, true))
    assert.are.equal(0, #seen)
  end)

  -- src/sandbox.c, emit: stderr is a terminal of its own
  it("sanitises what it writes to stderr on a terminal (cli.errorln, cli.warn)", function()
    local home = home_with("escerr", "{}", [[
      local cli = require "nt3.cli"
      cli.errorln("E\27]52;c;ZXZpbA==\7F")
      cli.warn("W\27[2JX\27[31mR\27[0m")
      print("DONE")]])
    local r = pty.run({ "escerr" }, { home = home })
    assert.are.equal(0, r.code, r.output)
    assert.truthy(r.output:find("DONE", 1, true), r.output)
    assert.truthy(r.output:find("nt3: warning: W", 1, true), r.output)
    assert.truthy(r.output:find("\27[31mR\27[0m", 1, true), r.output)
    assert.is_nil(r.output:find("\27]", 1, true), r.output)
    assert.is_nil(r.output:find("\27[2J", 1, true), r.output)
    assert.is_nil(r.output:find("\7", 1, true), r.output)
  end)

  -- src/sandbox.c: the count hook of every thread (sb_create) and the
  -- catchers' raise after the fact (finish_pcall, sb_catcher)
  local AFTER = {
    ["a plain loop, no pcall"] = [[print("READY") while true do end]],
    ["a loop in a coroutine.wrap, no pcall"] = [[print("READY") coroutine.wrap(function() while true do end end)()]],
    ["a loop in a coroutine.create, no pcall"] = [[print("READY")
      coroutine.resume(coroutine.create(function() while true do end end))]],
    ["pcall, then more code"] = [[print("READY") pcall(function() while true do end end) print("AFTER")]],
    ["xpcall, then more code"] = [[print("READY")
      xpcall(function() while true do end end, function(e) return e end) print("AFTER")]],
    ["coroutine.resume, then more code"] = [[print("READY")
      print(coroutine.resume(coroutine.create(function() while true do end end))) print("AFTER")]],
  }
  for what, body in pairs(AFTER) do
    it("Ctrl-C ends " .. what .. ": exit 130, nothing run after it", function()
      local home = home_with("spin2", "{}", body)
      local r = pty.run({ "spin2" }, {
        home = home, allow_error = true, timeout = 10,
        steps = { { expect = "READY" }, { send = "\3" } },
      })
      assert.is_nil(r.error, r.output)
      assert.are.equal(130, r.code, r.output)
      assert.truthy(r.output:find("nt3: interrupted", 1, true), r.output)
      assert.is_nil(r.output:find("AFTER", 1, true), r.output)
    end)
  end

  -- src/grants.c, canonical_host: the grant's text is judged as a
  -- request's is (libcurl already gives a request's host in one form)
  it("reaches an origin whose grant spells the host numerically or in capitals", function()
    local p = srv.url:match(":(%d+)$")
    local r = run("spelt", ('{ http = { "http://2130706433:%s", "http://0x7f.1:%s", "http://LocalHost.:%s" } }'):format(p, p, p),
      ([[
      local http = require "nt3.http"
      print(http.request({ url = "http://127.0.0.1:%s/echo" }).status, http.request({ url = "http://localhost:%s/echo" }).status)]])
      :format(p, p))
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("200\t200\n", r.stdout)
  end)

  -- bindings/proc.c, child_environ: a sandbox sets no variable of its own
  it("proc.run refuses an env of the command's own (LD_PRELOAD would run a library)", function()
    local r = run("procenv", [[{ proc = { "/usr/bin/env" } }]], [[
      print(pcall(require("nt3.proc").run, { "/usr/bin/env" }, { env = { LD_PRELOAD = "/nonexistent.so", MINE = "x" } }))]])
    assert.are.equal(0, r.code, r.stderr)
    assert.truthy(r.stdout:find("^false\tproc.run: opts.env is not available in the sandbox\n"), r.stdout)
  end)

  -- src/sandbox.c, ok_root: a root that says it is under "." is
  it("refuses an fs root that climbs with '..' however it starts", function()
    local sandbox = require "nt3.sandbox"
    for _, root in ipairs { "./../x", "~/../x", "/tmp/../etc" } do
      local ok, msg, code = sandbox.check_permissions { fs = { read = { root } } }
      assert.is_nil(ok, root)
      assert.are.equal("invalid", code)
      assert.truthy(msg:find("is not a root", 1, true), msg)
    end
  end)

  -- src/sandbox.c, ending: a file that is not the lock's dooms the run
  it("a modified file ends the run even when the command catches its refusal", function()
    local sandbox, fs = require "nt3.sandbox", require "nt3.fs"
    local dir = usercmd.dir {
      ["cmd.lua"] = [[return { name = "cmd", summary = "s", permissions = {},
        run = function() local ok = pcall(require, "lib") return ok and 3 or 0 end }]],
      ["lib.lua"] = "return { code = 40 }",
    }
    local files = { ["cmd.lua"] = fs.sha256(dir .. "/cmd.lua"), ["lib.lua"] = fs.sha256(dir .. "/lib.lua") }
    sh.spit(dir .. "/lib.lua", "return { code = 0 }")
    local ok, msg, code = sandbox.run { dir = dir, file = "cmd.lua", files = files, permissions = {}, opts = {}, args = {} }
    assert.is_nil(ok)
    assert.are.equal("modified", code)
    assert.truthy(msg:find(dir .. "/lib.lua: modified since it was installed", 1, true), msg)
  end)
end)
