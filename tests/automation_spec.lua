-- nt3.api and `nt3 api` for automation: retries, pagination, --filter,
-- streaming output, and the errors of each -- against the loopback server.
local sh = require "helpers.sh"
local server = require "helpers.server"
local canned = require "helpers.canned"
local at = require "helpers.apitest"

local function lines_of(text)
  local list = {}
  for l in text:gmatch("[^\n]+") do list[#list + 1] = l end
  return list
end

local function count(srv, prefix) return #at.requests_to(srv, prefix) end

local key_n = 0
local function key()
  key_n = key_n + 1
  return ("k%d_%d"):format(os.time(), key_n)
end

describe("automation", function()
  local srv
  setup(function() srv = server.start { tls = false } end)
  teardown(function()
    srv.stop()
    sh.cleanup()
  end)

  describe("api.pages", function()
    it("follows Link: rel=\"next\" one page at a time, items in order", function()
      local out = at.script(srv, [[
        local api = require "nt3.api"
        local seen = {}
        for item, i in api.pages("/list", { query = { total = 5, per = 2 } }) do seen[#seen + 1] = item.n end
        print(table.concat(seen, ","))]])
      assert.are.equal(0, out.code, out.stderr)
      assert.are.equal("1,2,3,4,5\n", out.stdout)
    end)

    it("reads lists wrapped as {\"data\": [...]} too", function()
      local out = at.script(srv, [[
        local n = 0
        for item in require("nt3.api").pages("/list?total=3&wrap=data") do n = n + item.n end
        print(n)]])
      assert.are.equal("6\n", out.stdout, out.stderr)
    end)

    it("stops fetching when the loop breaks", function()
      local tag = key()
      local before = count(srv, "/list")
      local out = at.script(srv, ([[
        for item in require("nt3.api").pages("/list?total=100&per=2&tag=%s") do
          if item.n == 3 then break end
        end]]):format(tag))
      assert.are.equal(0, out.code, out.stderr)
      assert.are.equal(before + 2, count(srv, "/list"))
    end)

    it("never follows a next link to another origin with the token", function()
      local before = count(srv, "/list")
      local out = at.script(srv, [[
        local ok, err = pcall(function()
          for _ in require("nt3.api").pages("/list?total=5&next=cross") do end
        end)
        print(ok, err)]])
      assert.are.equal(0, out.code, out.stderr)
      assert.matches("^false\trefusing to follow page 1's next link to http://localhost:%d+/list: it is not on the"
        .. " API URL's origin http://127%.0%.0%.1:%d+, and the token goes nowhere else\n$", out.stdout)
      assert.are.equal(before + 1, count(srv, "/list")) -- page 2 was never asked for
    end)

    it("calls a next link it already fetched an error naming the page, not a loop", function()
      local out = at.script(srv, [[
        local ok, err = pcall(function()
          for _ in require("nt3.api").pages("/list?total=5&next=repeat") do end
        end)
        print(ok, err)]])
      assert.matches("^false\tpage 2's next link points at page 2 again %(http://127%.0%.0%.1:%d+/list%)", out.stdout)
    end)

    it("raises an HTTP error with the page it happened on", function()
      local out = at.script(srv, [[
        print(pcall(function() for _ in require("nt3.api").pages("/status/404") do end end))]])
      assert.matches("^false\tstatus 404 %(HTTP 404, page 1 of http://127%.0%.0%.1:%d+/status/404%)", out.stdout)
    end)
  end)

  describe("retries in nt3.api", function()
    it("retries an idempotent request on 503 by default, and not with retries = 0", function()
      local k1, k2 = key(), key()
      local out = at.script(srv, ([[
        local api = require "nt3.api"
        local v = assert(api.get("/flaky?key=%s&fail=2"))
        print(v.attempts)
        local v2, err, status = api.get("/flaky?key=%s&fail=1", nil, { retries = 0 })
        print(v2, err, status)]]):format(k1, k2))
      assert.are.equal(0, out.code, out.stderr)
      assert.are.same({ "3", "nil\ttry again\t503" }, lines_of(out.stdout))
    end)

    it("says how long the server asked to wait when that is more than it may wait, at once", function()
      local out = at.script(srv, ([[
        local policy = require "nt3.policy"
        local t0 = policy.now()
        local v, err, kind = require("nt3.api").get("/flaky?key=%s&fail=1&status=429&retry_after=120")
        print(v, err, kind, policy.now() - t0 < 5)]]):format(key()))
      assert.are.equal("nil\tthe server asked to wait 120 s before trying again (HTTP 429), longer than the 60 s"
        .. " nt3 may still wait (max_retry_wait)\trate_limited\ttrue\n", out.stdout, out.stderr)
    end)
  end)

  describe("nt3 api", function()
    it("--paginate prints every page's items as ONE JSON array, as the server wrote them", function()
      local out = at.nt3(srv, { "api", "/list?total=5&per=2", "--paginate" })
      assert.are.equal(0, out.code, out.stderr)
      assert.are.equal('[{"n": 1},{"n": 2},{"n": 3},{"n": 4},{"n": 5}]\n', out.stdout)
    end)

    it("--paginate prints nothing on stdout when a page fails", function()
      local out = at.nt3(srv, { "api", "/list?total=5&next=repeat", "--paginate" })
      assert.are.equal(1, out.code)
      assert.are.equal("", out.stdout)
      assert.matches("^nt3: page 2's next link points at page 2 again", out.stderr)
    end)

    it("--filter evaluates Lua over the whole result (all pages with --paginate), bound to data", function()
      local out = at.nt3(srv, { "api", "/list?total=7&per=3", "--paginate", "--filter", "#data" })
      assert.are.equal("7\n", out.stdout, out.stderr)
      out = at.nt3(srv, { "api", "/api/v1/me", "--filter", "data.email" })
      assert.are.equal("dev@example.com\n", out.stdout, out.stderr) -- a string prints raw
      out = at.nt3(srv, { "api", "/list?total=3", "--paginate", "--filter", [[
        local ns = {}
        for _, item in ipairs(data) do ns[#ns + 1] = item.n * 10 end
        return ns]] })
      assert.are.equal("[10,20,30]\n", out.stdout, out.stderr) -- a table prints as JSON
    end)

    it("--filter with a syntax error is a usage error; one that raises is a failure", function()
      local out = at.nt3(srv, { "api", "/api/v1/me", "--filter", "data.(" })
      assert.are.equal(2, out.code)
      assert.matches("^nt3: %-%-filter:1: ", out.stderr)
      out = at.nt3(srv, { "api", "/api/v1/me", "--filter", "data.nope.deeper" })
      assert.are.equal(1, out.code)
      -- named once: Lua's own message already says --filter:1:
      assert.matches("^nt3: %-%-filter:1: attempt to index a nil value %(field 'nope'%)\n$", out.stderr)
    end)

    it("--filter takes a nil result for the typo it is", function()
      local out = at.nt3(srv, { "api", "/api/v1/me", "--filter", "error({ 'x' })" })
      assert.matches("^nt3: %-%-filter: table: ", out.stderr)
      out = at.nt3(srv, { "api", "/list?total=2", "--paginate", "--filter", "data[1].nme" })
      assert.are.equal(1, out.code)
      assert.are.equal("", out.stdout)
      assert.are.equal("nt3: --filter: the result is nil, nothing to print (a misspelt key? json.null prints null)\n",
        out.stderr)
      out = at.nt3(srv, { "api", "/api/v1/me", "--filter", "json.null" })
      assert.are.equal("null\n", out.stdout, out.stderr)
    end)

    it("--filter has print, writing to stdout, and then a nil result is no mistake", function()
      local out = at.nt3(srv, { "api", "/list?total=3", "--paginate", "--filter",
        "for i, item in ipairs(data) do print(i, item.n * 10) end" })
      assert.are.equal(0, out.code, out.stderr)
      assert.are.equal("1\t10\n2\t20\n3\t30\n", out.stdout)
    end)

    it("--jq points to --filter", function()
      local out = at.nt3(srv, { "api", "/api/v1/me", "--jq", ".email" })
      assert.are.equal(2, out.code)
      assert.matches("^nt3: unknown flag: %-%-jq %(nt3 api filters with Lua instead: %-%-filter ", out.stderr)
    end)

    it("streams a body through a pipe with no size cap (beyond the 16 MB a decoded body may have)", function()
      local dir = sh.tmpdir()
      local out = sh.run({ "api", "/big?bytes=20000000&chunked=1" },
        { env = at.env(srv), stdout_file = dir .. "/body" })
      assert.are.equal(0, out.code, out.stderr)
      local f = assert(io.open(dir .. "/body", "rb"))
      local size = f:seek("end")
      f:close()
      assert.are.equal(20000000, size)
    end)

    it("-o writes the body to a file, and an error answer is not written", function()
      local dir = sh.tmpdir()
      local out = at.nt3(srv, { "api", "/api/v1/me", "-o", dir .. "/me.json" })
      assert.are.equal(0, out.code, out.stderr)
      assert.are.equal("", out.stdout)
      assert.are.equal('{"id": "u_1", "email": "dev@example.com", "name": "Dev"}', sh.slurp(dir .. "/me.json"))
      out = at.nt3(srv, { "api", "/status/404", "-o", dir .. "/missing.json", "--silent" })
      assert.are.equal(1, out.code)
      assert.is_nil(sh.slurp(dir .. "/missing.json"))
    end)

    it("fails with exit 1 when stdout cannot be written (a full disk), small body or large", function()
      for _, path in ipairs { "/api/v1/me", "/big?bytes=3000000" } do
        local out = sh.run({ "api", path }, { env = at.env(srv), stdout_file = "/dev/full" })
        assert.are.equal(1, out.code, path)
        assert.are.equal("nt3: cannot write to standard output: No space left on device\n", out.stderr)
      end
    end)

    it("retries a POST only with --idempotency-key, which auto makes random", function()
      local k1, k2 = key(), key()
      local out = at.nt3(srv, { "api", "-X", "POST", "/flaky?key=" .. k1 .. "&fail=1" })
      assert.are.equal(1, out.code)
      assert.are.equal("nt3: try again (HTTP 503)\n", out.stderr)
      out = at.nt3(srv, { "api", "-X", "POST", "/flaky?key=" .. k2 .. "&fail=1", "--idempotency-key", "auto" })
      assert.are.equal(0, out.code, out.stderr)
      local sent = at.requests_to(srv, "/flaky?key=" .. k2)
      assert.are.equal(2, #sent)
      local k = at.header(sent[1], "idempotency-key")
      assert.matches("^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$", k)
      assert.are.equal(k, at.header(sent[2], "idempotency-key")) -- the same key on the retry
    end)

    it("--retries 0 fails at once; NT3_DEBUG shows each retry and its wait", function()
      local out = at.nt3(srv, { "api", "/flaky?key=" .. key() .. "&fail=1", "--retries", "0" })
      assert.are.equal(1, out.code)
      out = at.nt3(srv, { "api", "/flaky?key=" .. key() .. "&fail=1&retry_after=0" }, { env = { NT3_DEBUG = "1" } })
      assert.are.equal(0, out.code, out.stderr)
      assert.matches("\n%* retrying GET http://127%.0%.0%.1:%d+/flaky in 0%.0 s %(HTTP 503; attempt 2 of 4%)\n", out.stderr)
    end)

    it("fails at once, saying so, when Retry-After is longer than --max-retry-wait", function()
      local out = at.nt3(srv, { "api", "/flaky?key=" .. key() .. "&fail=1&status=429&retry_after=30",
        "--max-retry-wait", "5" })
      assert.are.equal(1, out.code)
      assert.are.equal("nt3: the server asked to wait 30 s before trying again (HTTP 429), longer than the 5 s nt3"
        .. " may still wait (max_retry_wait)\n", out.stderr)
    end)

    it("sends no Content-Type with a POST that has no body", function()
      local out = at.nt3(srv, { "api", "-X", "POST", "/api/v1/echo" })
      assert.are.equal(0, out.code, out.stderr)
      local echo = at.decode(out.stdout)
      assert.are.equal("POST", echo.method)
      assert.is_nil(echo.headers["content-type"])
    end)

    it("says HTTP 418 once when the server gives no message", function()
      local teapot = canned.start { status = 418, body = "" }
      local out = at.nt3(teapot, { "api", "/x" })
      teapot.stop()
      assert.are.equal(1, out.code)
      assert.are.equal("nt3: HTTP 418\n", out.stderr)
    end)

    it("calls -F n=1E400 a usage error, not an internal one", function()
      local out = at.nt3(srv, { "api", "/api/v1/echo", "-F", "n=1E400" })
      assert.are.equal(2, out.code)
      assert.matches("^nt3: %-F n=1E400: the number is too large for JSON\n", out.stderr)
    end)

    it("refuses --paginate with another method, and -o with --filter, as usage errors", function()
      assert.are.equal(2, at.nt3(srv, { "api", "-X", "POST", "/list", "--paginate" }).code)
      assert.are.equal(2, at.nt3(srv, { "api", "/list", "-o", "/tmp/x", "--filter", "data" }).code)
      assert.are.equal(2, at.nt3(srv, { "api", "/list", "--retries", "many" }).code)
    end)
  end)
end)
