-- nt3 test and nt3.testing (docs/testing-commands.md): the fake API is a
-- real HTTP server on 127.0.0.1 served by tasks of this very process (the
-- runner is `nt3 run`, a task), so what the specs here make of it is what a
-- user's spec gets under `nt3 test`.
local sh = require "helpers.sh"
local uc = require "helpers.usercmd"
local http = require "nt3.http"
local json = require "nt3.json"
local testing = require "nt3.testing"

local TOKEN = "entri_testing_spec_secret_0123456789"

-- A user command file in a fresh folder; returns the folder.
local function commands(files)
  local dir = sh.tmpdir()
  for name, source in pairs(files) do
    sh.spit(dir .. "/" .. name .. ".lua", source)
    uc.chmod("644", dir .. "/" .. name .. ".lua")
  end
  return dir
end

local ECHO = [[
local nt3 = require "nt3"
return {
  name = "echo",
  summary = "send what it is told",
  flags = { { long = "method", value = "m" }, { long = "body", value = "json" } },
  args = { "path" },
  run = function(opts, ctx)
    local value, err, status = nt3.api.request {
      method = opts.method or "GET", path = ctx.args[1],
      body = opts.body and nt3.json.decode(opts.body) or nil,
      headers = { ["X-Spec"] = "yes" },
    }
    if not value then nt3.cli.fail(("%s (%s)"):format(err, tostring(status))) end
    print(nt3.json.encode(value))
    return 0
  end,
}
]]

describe("nt3.testing's server", function()
  local srv
  before_each(function() srv = assert(testing.server()) end)
  after_each(function() srv:close() end)

  it("listens on 127.0.0.1 only, over plain HTTP/1.1", function()
    assert.matches("^http://127%.0%.0%.1:%d+$", srv.url)
    -- the kernel's own list: bound to 127.0.0.1 (0100007F), not 0.0.0.0
    local port = ("%04X"):format(tonumber(srv.url:match("(%d+)$")))
    local tcp = assert(sh.slurp("/proc/net/tcp"))
    assert.matches("\n%s*%d+: 0100007F:" .. port .. " 00000000:0000 0A ", tcp)
    srv:route("GET", "/ping", { body = "pong", headers = { ["X-Test"] = "1" } })
    local r = assert(http.request { url = srv.url .. "/ping" })
    assert.are.equal(200, r.status)
    assert.are.equal("pong", r.body)
    assert.are.equal("1", r.headers["x-test"])
  end)

  it("serves a command run by name and records its request; the token only masked", function()
    srv:route("POST", "/api/v1/items", { status = 201, json = { id = "i_1" } })
    local home = assert(testing.home { server = srv, token = TOKEN, commands = commands { echo = ECHO } })
    local r = assert(testing.run("echo", { "/api/v1/items?tag=a%20b", "--method", "POST", "--body", '{"n":1}' },
      { home = home }))
    assert.are.equal("", r.stderr)
    assert.are.equal(0, r.code)
    assert.are.equal('{"id":"i_1"}\n', r.stdout)
    local req = srv:last()
    assert.are.equal("POST", req.method)
    assert.are.equal("/api/v1/items", req.path)
    assert.are.same({ tag = "a b" }, req.query)
    assert.are.same({ n = 1 }, req.json)
    assert.are.equal("yes", req.headers["x-spec"])
    assert.matches("^nt3/", req.headers["user-agent"])
    assert.are.equal("entri_****6789", req.token)
    assert.are.equal(home.token, req.token)
    assert.are.equal("Bearer entri_****6789", req.headers.authorization)
    -- nowhere in what the spec is handed is the token in clear
    assert.is_nil(assert(json.encode(srv.requests)):find(TOKEN, 1, true))
    home:remove()
  end)

  it("answers a status code and the server's error reaches the command", function()
    srv:route("GET", "/api/v1/me", { status = 403, json = { error = "forbidden here" } })
    local r = assert(testing.run("api", { "/api/v1/me" }, { server = srv }))
    assert.are.equal(1, r.code)
    assert.matches("403", r.stderr)
    assert.are.equal(1, #srv.requests)
  end)

  it("serves a route's responses in turn, so Retry-After is honoured by nt3's retries", function()
    srv:route("GET", "/api/v1/me", { status = 429, headers = { ["Retry-After"] = "1" }, json = { error = "slow down" } },
      { json = { email = "dev@example.com" } })
    local r = assert(testing.run("api", { "/api/v1/me" }, { server = srv }))
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal('{"email":"dev@example.com"}', r.stdout)
    assert.are.equal(2, #srv.requests)
  end)

  it("pages a list with Link headers, which --paginate follows to the end", function()
    srv:pages("/api/v1/items", { { id = 1 }, { id = 2 }, { id = 3 }, { id = 4 }, { id = 5 } }, { per_page = 2 })
    local r = assert(testing.run("api", { "--paginate", "/api/v1/items" }, { server = srv }))
    assert.are.equal(0, r.code, r.stderr)
    assert.are.same({ { id = 1 }, { id = 2 }, { id = 3 }, { id = 4 }, { id = 5 } }, json.decode(r.stdout))
    assert.are.equal(3, #srv.requests)
    assert.is_nil(srv.requests[1].query.page)
    assert.are.equal("3", srv.requests[3].query.page)
  end)

  it("answers 404 for a request no route matches, and says so in the record", function()
    local r = assert(http.request { url = srv.url .. "/nothing" })
    assert.are.equal(404, r.status)
    assert.is_false(srv:last().matched)
  end)

  it("calls a route's function with the request and serves what it returns", function()
    srv:route("PUT", "/api/v1/items/7", function(req) return { status = 200, json = { got = req.json } } end)
    local r = assert(http.request { method = "PUT", url = srv.url .. "/api/v1/items/7", body = '{"a":[1]}' })
    assert.are.same({ got = { a = { 1 } } }, json.decode(r.body))
  end)

  it("answers 500, saying why, when a route's function fails or what it returns is no response", function()
    srv:route("GET", "/raises", function() error("boom") end)
    srv:route("GET", "/status", function() return { status = "fine" } end)
    srv:route("GET", "/split", { headers = { ["X-A"] = "1\r\nX-Injected: 2" } })
    for path, why in pairs { ["/raises"] = "boom", ["/status"] = "not an integer", ["/split"] = "line break" } do
      local r = assert(http.request { url = srv.url .. path })
      assert.are.equal(500, r.status, path)
      assert.matches(why, json.decode(r.body).error, 1, true)
      assert.is_nil(r.headers["x-injected"])
    end
  end)

  it("keeps requests bounded: a head over 64 KiB gets 431, a body over 8 MiB 413", function()
    local big = assert(http.request { url = srv.url .. "/x", headers = { ["X-Big"] = ("a"):rep(70 * 1024) } })
    assert.are.equal(431, big.status)
    local huge = assert(http.request { method = "POST", url = srv.url .. "/x", body = ("b"):rep(testing.MAX_BODY + 1) })
    assert.are.equal(413, huge.status)
    assert.are.equal(0, #srv.requests)
  end)

  it("serves a body larger than the socket's buffers to an in-process request", function()
    local body = ("0123456789abcdef"):rep(256 * 1024) -- 4 MiB
    srv:route("GET", "/big", { body = body })
    local r = assert(http.request { url = srv.url .. "/big" })
    assert.are.equal(#body, #r.body)
    assert.are.equal(body, r.body)
  end)

  -- raw bytes from a client that is not nt3 (Debian's python3, as the
  -- project's own test servers are), its answer read to the end
  local RAW = [[
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(sys.argv[2].encode("latin-1"))
if sys.argv[3] == "half": s.shutdown(socket.SHUT_WR)
out = b""
while True:
    b = s.recv(65536)
    if not b: break
    out += b
sys.stdout.write(out.decode("latin-1"))
]]
  local function raw(bytes, how)
    local port = srv.url:match("(%d+)$")
    local r = assert(require("nt3.proc").run({ "/usr/bin/python3", "-c", RAW, port, bytes, how or "half" }, { timeout = 20 }))
    assert.are.equal(0, r.code, r.stderr)
    return r.stdout
  end

  it("answers a malformed request with 400 and hangs up, and serves the next client", function()
    srv:route("GET", "/ok", { body = "fine" })
    for _, bad in ipairs { "GARBAGE\r\n\r\n", "GET /ok HTTP/1.1\r\nno colon here\r\n\r\n",
      "GET /ok HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "GET /ok HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n",
      "GET /ok HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" } do
      assert.matches("^HTTP/1%.1 [45]%d%d ", raw(bad))
    end
    assert.are.equal(0, #srv.requests)
    assert.matches("\r\n\r\nfine$", raw("GET /ok HTTP/1.1\r\nConnection: close\r\n\r\n"))
  end)

  it("answers pipelined requests on one connection in order, and a client gone mid-body is no request", function()
    srv:route("GET", "/a", { body = "A" })
    srv:route("GET", "/b", { body = "B" })
    local out = raw("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert.matches("\r\n\r\nA.*\r\n\r\nB$", out)
    assert.are.equal(2, #srv.requests)
    assert.are.equal("", raw("POST /a HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"))
    assert.are.equal(2, #srv.requests)
  end)

  it("stops listening once closed", function()
    local url = srv.url
    srv:close()
    local r, _, code = http.request { url = url .. "/x", connect_timeout = 5 }
    assert.is_nil(r)
    assert.are.equal("connect", code)
  end)
end)

describe("nt3.testing's home and run", function()
  it("makes a private HOME whose config holds the test token for the server's URL, and removes it", function()
    local srv = assert(testing.server())
    local home = assert(testing.home { server = srv })
    assert.are.equal("700", sh.mode(home.dir))
    assert.are.equal("600", sh.mode(home.config_dir .. "/config.json"))
    local r = assert(testing.run("status", {}, { home = home }))
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("Logged in", r.stdout)
    assert.matches(home.token, r.stdout, 1, true)
    assert.matches(srv.url, r.stdout, 1, true)
    home:remove()
    assert.is_nil(require("nt3.fs").lstat(home.dir))
    srv:close()
  end)
end)

describe("testing.run", function()
  it("hands nt3 the arguments as words, whatever they hold, in the working directory asked for", function()
    local script = sh.script('print(table.concat(arg, "|")); print(require("nt3.env").cwd())')
    local cwd = sh.tmpdir()
    local r = assert(testing.run("run", { script, "a b", "$(id)", "'q'", "-x", "" }, { cwd = cwd }))
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("a b|$(id)|'q'|-x|\n" .. cwd .. "\n", r.stdout)
  end)

  it("fails with the code cwd for a working directory that is not there, running nothing", function()
    local missing = sh.tmpdir() .. "/missing"
    local r, message, code = testing.run("run", { sh.script('error("ran")') }, { cwd = missing })
    assert.is_nil(r)
    assert.are.equal("cwd", code)
    assert.are.equal(missing .. ": No such file or directory", message)
  end)
end)

describe("nt3 test", function()
  local PASSING = [[
local testing = require "nt3.testing"
describe("a user's spec", function()
  it("reaches the fake API through nt3 itself", function()
    local srv = testing.server()
    srv:route("GET", "/api/v1/me", { json = { email = "u@example.com" } })
    local r = testing.run("api", { "/api/v1/me" }, { server = srv })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal('{"email":"u@example.com"}', r.stdout)
  end)
end)
]]
  local FAILING = [[
describe("a user's spec", function()
  it("fails", function() assert.are.equal(1, 2) end)
end)
]]

  local function project(files)
    local dir = sh.tmpdir()
    for rel, text in pairs(files) do
      os.execute("mkdir -p " .. sh.quote((dir .. "/" .. rel):match("^(.*)/")))
      sh.spit(dir .. "/" .. rel, text)
    end
    return dir
  end

  it("runs ./spec when given no path, exit 0 when every spec passes", function()
    local dir = project { ["spec/me_spec.lua"] = PASSING }
    local r = sh.run({ "test" }, { cwd = dir })
    assert.are.equal(0, r.code, r.stdout .. r.stderr)
    assert.matches("1 success / 0 failures / 0 errors", r.stdout)
  end)

  it("runs the files and folders given, exit 1 when a spec fails, and leaves no server behind", function()
    local dir = project { ["checks/ok_spec.lua"] = PASSING, ["checks/bad_spec.lua"] = FAILING }
    local r = sh.run({ "test", "checks" }, { cwd = dir })
    assert.are.equal(1, r.code, r.stdout .. r.stderr)
    assert.matches("1 success / 1 failure / 0 errors", r.stdout)
    local one = sh.run({ "test", "checks/ok_spec.lua" }, { cwd = dir })
    assert.are.equal(0, one.code, one.stdout .. one.stderr)
  end)

  it("keeps the caller's token, API URL and profile away from the command it runs", function()
    local dir = project { ["spec/iso_spec.lua"] = [[
local testing = require "nt3.testing"
it("uses the home's token", function()
  local srv = testing.server()
  srv:route("GET", "/api/v1/me", { json = { email = "u@example.com" } })
  local home = testing.home { server = srv }
  local r = testing.run("api", { "/api/v1/me" }, { home = home })
  assert.are.equal(0, r.code, r.stderr)
  assert.are.equal(home.token, srv:last().token)
  local s = testing.run("status", {}, { home = home })
  assert.matches("config.json", s.stdout, 1, true)
end)
]] }
    local r = sh.run({ "test" }, { cwd = dir, env = { NT3_API_TOKEN = TOKEN, NT3_API_URL = "http://127.0.0.1:9",
      NT3_PROFILE = "work" } })
    assert.are.equal(0, r.code, r.stdout .. r.stderr)
  end)

  it("passes options after -- to busted", function()
    local dir = project { ["spec/ok_spec.lua"] = PASSING, ["spec/bad_spec.lua"] = FAILING }
    local r = sh.run({ "test", "--", "--filter=reaches" }, { cwd = dir })
    assert.are.equal(0, r.code, r.stdout .. r.stderr)
    assert.matches("1 success / 0 failures", r.stdout)
  end)

  it("says in one line how to get busted when it is not installed", function()
    local dir = project { ["spec/ok_spec.lua"] = PASSING }
    local r = sh.run({ "test" }, { cwd = dir, env = { LUA_PATH_5_4 = "/nonexistent/?.lua", LUA_CPATH_5_4 = "/nonexistent/?.so" } })
    assert.are.equal(1, r.code)
    assert.are.equal("nt3: nt3 test needs busted (Debian: apt install lua-busted;"
      .. " elsewhere: luarocks --lua-version 5.4 install busted)\n", r.stderr)
  end)
end)

describe("the shipped examples' specs", function()
  it("pass under nt3 test against nt3.testing's server (docs/examples/spec)", function()
    local r = sh.run({ "test" }, { cwd = sh.src .. "/docs/examples" })
    assert.are.equal(0, r.code, r.stdout .. r.stderr)
    assert.matches("5 successes / 0 failures / 0 errors", r.stdout)
  end)
end)

describe("docs/testing-commands.md", function()
  local doc = assert(sh.slurp(sh.src .. "/docs/testing-commands.md"))

  it("has a first spec that passes as written, beside the whoami example, from the folder above", function()
    local first = assert(doc:match("## A first spec.-```lua\n(.-)```"))
    local dir = sh.tmpdir()
    os.execute(("mkdir -p %s/commands %s/spec"):format(sh.quote(dir), sh.quote(dir)))
    sh.spit(dir .. "/commands/whoami.lua", assert(sh.slurp(sh.src .. "/docs/examples/commands/whoami.lua")))
    sh.spit(dir .. "/spec/whoami_spec.lua", first)
    local r = sh.run({ "test" }, { cwd = dir })
    assert.are.equal(0, r.code, r.stdout .. r.stderr)
    assert.matches("1 success / 0 failures / 0 errors", r.stdout)
  end)

  it("has examples that all compile as Lua", function()
    local n = 0
    for code in doc:gmatch("```lua\n(.-)```") do
      assert(load(code, "=testing-commands.md", "t"))
      n = n + 1
    end
    assert.is_true(n >= 3)
  end)
end)
