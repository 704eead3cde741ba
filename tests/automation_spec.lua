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

    it("takes no transport from a script: a third argument is ignored, the fetching is nt3.api's own", function()
      -- the sandbox's nt3.api shares the page loop through nt3.api.common;
      -- nothing of that reaches api.pages's own arguments
      local out = at.script(srv, [[
        local api = require "nt3.api"
        local function used() error("the script's transport was used") end
        local fake = { base = "http://127.0.0.1:1", max_pages = 1, connect = used, get = used }
        local seen = {}
        for item in api.pages("/list", { query = { total = 5, per = 2 } }, fake) do seen[#seen + 1] = item.n end
        print(table.concat(seen, ","), debug.getinfo(api.pages, "u").nparams)]])
      assert.are.equal(0, out.code, out.stderr)
      assert.are.equal("1,2,3,4,5\t2\n", out.stdout)
    end)

    it("raises an HTTP error with the page it happened on", function()
      local out = at.script(srv, [[
        print(pcall(function() for _ in require("nt3.api").pages("/status/404") do end end))]])
      assert.matches("^false\tstatus 404 %(HTTP 404, page 1 of http://127%.0%.0%.1:%d+/status/404%)", out.stdout)
    end)
  end)

  describe("api.pages, at the edges", function()
    local function collect(path, opts)
      return at.script(srv, ([[
        local ok, err = pcall(function()
          local seen = {}
          for item in require("nt3.api").pages(%q, %s) do
            seen[#seen + 1] = type(item) == "string" and item or item.n
          end
          print(table.concat(seen, ","))
        end)
        if not ok then print(type(err), tostring(err), type(err) == "table" and tostring(err.kind) or "") end]])
        :format(path, opts or "nil"))
    end

    it("reads links with nt3.http: http.link (RFC 8288) and http.parse_url (RFC 3986), as redirects parse URLs", function()
      local out = at.script(srv, [=[
        local http = require "nt3.http"
        for _, v in ipairs {
          '<a>; rel="first", <b>;rel="prev NEXT"',       -- a list of relations, any case
          '<a>; rel="first"; rel="next"',                 -- a second rel is ignored
          'junk; rel=next, <c>; rel=next',                -- a malformed link is skipped
          '<a>; title="x, <b>; rel=next", <d>; rel=next', -- a quoted , and < belong to the value
          '<a>; rel="next',                               -- an unclosed quote: no link
        } do print(http.link(v, "next")) end
        local base = "http://127.0.0.1:8/api/v1/list?page=1#top"
        for _, r in ipairs { "?page=2", "items?page=2", "../x", "", "#f", "//example.com/y" } do
          local u = assert(http.parse_url(r, base))
          print(u.url, u.origin)
        end
        print(http.parse_url("http://u:pw@127.0.0.1:8/a?token=1").shown)
        print(http.parse_url("no scheme", nil))]=])
      assert.are.equal(table.concat({
        "b", "nil", "c", "d", "nil",
        "http://127.0.0.1:8/api/v1/list?page=2\thttp://127.0.0.1:8",
        "http://127.0.0.1:8/api/v1/items?page=2\thttp://127.0.0.1:8",
        "http://127.0.0.1:8/api/x\thttp://127.0.0.1:8",
        "http://127.0.0.1:8/api/v1/list?page=1\thttp://127.0.0.1:8",
        "http://127.0.0.1:8/api/v1/list?page=1\thttp://127.0.0.1:8",
        "http://example.com/y\thttp://example.com:80",
        "http://127.0.0.1:8/a",
        "",
      }, "\n"), out.stdout:gsub("\nnil\tinvalid URL[^\n]*invalid_url\n$", "\n"), out.stderr)
      assert.matches('\nnil\tinvalid URL "no scheme": [^\n]+\tinvalid_url\n$', out.stdout)
    end)

    it("resolves a relative next link against the page's URL (RFC 3986): <?page=2>, <list?page=2>", function()
      for _, mode in ipairs { "relquery", "relpath" } do
        local out = collect("/list?total=5&per=2&next=" .. mode)
        assert.are.equal("1,2,3,4,5\n", out.stdout, out.stderr)
      end
    end)

    it("reads a Link header as RFC 8288 does: title=\"rel=next\" and prel=next are no next link", function()
      for _, mode in ipairs { "title", "prel" } do
        local before = count(srv, "/list")
        local out = collect("/list?total=5&per=2&next=" .. mode)
        assert.are.equal("1,2\n", out.stdout, out.stderr)
        assert.are.equal(before + 1, count(srv, "/list"), mode)
      end
    end)

    it("does not split a link at a < inside a quoted parameter", function()
      local out = collect("/list?total=5&per=2&next=quoted")
      assert.are.equal("1,2,3,4,5\n", out.stdout, out.stderr)
    end)

    it("calls a page that is not JSON (a text/html error page) an error, not a list", function()
      local out = collect("/list?total=5&per=2&html=2", "{ raw = true }")
      assert.matches("^table\tpage 2 of http://127%.0%.0%.1:%d+/list is not JSON %(Content%-Type text/html%)\tnot_a_list\n$",
        out.stdout)
    end)

    it("stops at max_pages (1000 by default) when the next links never end", function()
      local tag = key()
      local before = count(srv, "/list")
      local out = collect("/list?total=12&per=1&tag=" .. tag, "{ max_pages = 3 }")
      assert.matches("^table\tpage 3 has a next link %(http://127%.0%.0%.1:%d+/list%): the list is longer than 3 pages"
        .. " %(max_pages%)\ttoo_many_pages\n$", out.stdout)
      assert.are.equal(before + 3, count(srv, "/list"))
      out = at.script(srv, [[print(require("nt3.api").MAX_PAGES)]])
      assert.are.equal("1000\n", out.stdout, out.stderr)
    end)

    it("pages a list whose items sit under another key (key = \"items\")", function()
      local out = collect("/list?total=5&per=2&wrap=items", '{ key = "items" }')
      assert.are.equal("1,2,3,4,5\n", out.stdout, out.stderr)
      out = collect("/list?total=5&per=2&wrap=items", '{ key = "items", raw = true }')
      assert.are.equal('{"n": 1},{"n": 2},{"n": 3},{"n": 4},{"n": 5}\n', out.stdout, out.stderr)
      out = collect("/list?total=5&per=2&wrap=items")
      assert.matches('is not a list %(a JSON array, or an object with a "data" array%)\tnot_a_list\n$', out.stdout)
    end)

    it("never quotes the user:password of a next link in its error", function()
      local out = collect("/list?total=5&per=2&next=userinfo")
      assert.matches("^table\ta URL with a user name or password %(user:password@%) is not accepted %(page 2 of"
        .. " http://127%.0%.0%.1:%d+/list%)\t%a+\n$", out.stdout)
      assert.is_nil(out.stdout:find("s3cret", 1, true))
    end)

    it("raises an error carrying a kind: the HTTP status, not_logged_in, cross_origin", function()
      local out = collect("/status/404")
      assert.matches("^table\tstatus 404 %(HTTP 404, page 1 of [^\t]*%)\t404\n$", out.stdout)
      out = collect("/list?total=5&next=cross")
      assert.matches("\tcross_origin\n$", out.stdout)
      out = sh.run({ "run", sh.script([[
        local ok, err = pcall(function() for _ in require("nt3.api").pages("/list") do end end)
        print(type(err), err.kind)]]) }, { env = { NT3_API_TOKEN = false } })
      assert.are.equal("table\tnot_logged_in\n", out.stdout, out.stderr)
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

    it("--paginate and --filter without a token exit 4 with one line, no file:line", function()
      for _, args in ipairs {
        { "api", "/list", "--paginate" },
        { "api", "/list", "--paginate", "--filter", "#data" },
        { "api", "/api/v1/me", "--filter", "data.email" },
      } do
        local out = sh.run(args, { env = { NT3_API_TOKEN = false } })
        assert.are.equal(4, out.code, table.concat(args, " ") .. ": " .. out.stderr)
        assert.matches("^nt3: not logged in[^\n]*\n", out.stderr)
        assert.is_nil(out.stderr:find("%.lua:%d+"), out.stderr)
      end
    end)

    it("--paginate-key pages items under another key; --max-pages bounds the pages", function()
      local out = at.nt3(srv, { "api", "/list?total=5&per=2&wrap=items", "--paginate", "--paginate-key", "items" })
      assert.are.equal(0, out.code, out.stderr)
      assert.are.equal('[{"n": 1},{"n": 2},{"n": 3},{"n": 4},{"n": 5}]\n', out.stdout)
      local before = count(srv, "/list")
      out = at.nt3(srv, { "api", "/list?total=12&per=1", "--paginate", "--max-pages", "2" })
      assert.are.equal(1, out.code)
      assert.are.equal("", out.stdout)
      assert.matches("^nt3: page 2 has a next link [^\n]*longer than 2 pages %(max_pages%)\n$", out.stderr)
      assert.are.equal(before + 2, count(srv, "/list"))
      out = at.nt3(srv, { "api", "/list", "--max-pages", "2" })
      assert.are.equal(2, out.code)
    end)

    it("--paginate fails on a text/html page instead of printing it as an item", function()
      local out = at.nt3(srv, { "api", "/list?total=5&per=2&html=2", "--paginate" })
      assert.are.equal(1, out.code)
      assert.are.equal("", out.stdout)
      assert.matches("^nt3: page 2 of [^\n]* is not JSON %(Content%-Type text/html%)\n$", out.stderr)
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

    describe("-o and what is at its path", function()
      local fs = require "nt3.fs"
      local listing = require("helpers.auth_util").listing

      it("writes through a character device, which stays a device (-o /dev/null, as root too)", function()
        -- a device node of its own, the same as /dev/null (1, 3): a
        -- regression must not replace the machine's /dev/null
        local dir = sh.tmpdir()
        local null = dir .. "/null"
        assert(os.execute("mknod " .. sh.quote(null) .. " c 1 3"))
        local out = at.nt3(srv, { "api", "/big?bytes=300000", "-o", null })
        assert.are.equal(0, out.code, out.stderr)
        assert.are.equal("", out.stdout)
        assert.are.equal("char", assert(fs.lstat(null)).type)
        assert.are.same({ "null" }, listing(dir))
        -- the real one only once its copy has passed: a regression fails
        -- above and never gets to replace the machine's /dev/null
        out = at.nt3(srv, { "api", "/api/v1/me", "-o", "/dev/null" })
        assert.are.equal(0, out.code, out.stderr)
        assert.are.equal("char", assert(fs.lstat("/dev/null")).type)
      end)

      it("writes the body through a FIFO to its reader", function()
        local dir = sh.tmpdir()
        local fifo = dir .. "/pipe"
        assert(os.execute("mkfifo " .. sh.quote(fifo)))
        -- the exit code lands whole (written beside, then renamed)
        assert(os.execute(("(timeout 60 cat %s >%s/got; echo $? >%s/rc.tmp && mv %s/rc.tmp %s/rc) </dev/null >/dev/null 2>&1 &")
          :format(sh.quote(fifo), sh.quote(dir), sh.quote(dir), sh.quote(dir), sh.quote(dir))))
        local out = at.nt3(srv, { "api", "/api/v1/me", "-o", fifo })
        assert.are.equal(0, out.code, out.stderr)
        for _ = 1, 1200 do
          if sh.slurp(dir .. "/rc") then break end
          os.execute("sleep 0.05")
        end
        assert.are.equal("0\n", sh.slurp(dir .. "/rc"), "the reader did not finish")
        assert.are.equal('{"id": "u_1", "email": "dev@example.com", "name": "Dev"}', sh.slurp(dir .. "/got"))
        assert.are.equal("fifo", assert(fs.lstat(fifo)).type)
      end)

      it("refuses a symbolic link at the path with exit 1, and changes neither it nor its target", function()
        local dir = sh.tmpdir()
        sh.spit(dir .. "/target", "old")
        assert(fs.chmod(dir .. "/target", tonumber("644", 8)))
        assert(os.execute("ln -s target " .. sh.quote(dir .. "/me.json")))
        local out = at.nt3(srv, { "api", "/api/v1/me", "-o", dir .. "/me.json" })
        assert.are.equal(1, out.code)
        assert.are.equal("", out.stdout)
        assert.are.equal("nt3: cannot write " .. dir .. "/me.json: not a regular file, character device or FIFO; "
          .. "refusing to write through it\n", out.stderr)
        assert.are.equal("link", assert(fs.lstat(dir .. "/me.json")).type)
        assert.are.equal("old", sh.slurp(dir .. "/target"))
        assert.are.equal("644", sh.mode(dir .. "/target"))
        assert.are.same({ "me.json", "target" }, listing(dir))
      end)

      it("keeps the mode of a file it replaces, and gives a new one 0666 less the umask", function()
        local dir = sh.tmpdir()
        sh.spit(dir .. "/old.json", "old")
        assert(fs.chmod(dir .. "/old.json", tonumber("600", 8)))
        local out = at.nt3(srv, { "api", "/api/v1/me", "-o", dir .. "/old.json" }, { umask = "022" })
        assert.are.equal(0, out.code, out.stderr)
        assert.matches('^{"id": "u_1"', sh.slurp(dir .. "/old.json"))
        assert.are.equal("600", sh.mode(dir .. "/old.json"))
        out = at.nt3(srv, { "api", "/api/v1/me", "-o", dir .. "/new.json" }, { umask = "027" })
        assert.are.equal(0, out.code, out.stderr)
        assert.are.equal("640", sh.mode(dir .. "/new.json"))
      end)

      it("takes a file name of 250 characters", function()
        local dir = sh.tmpdir()
        local path = dir .. "/" .. string.rep("m", 245) .. ".json"
        local out = at.nt3(srv, { "api", "/api/v1/me", "-o", path })
        assert.are.equal(0, out.code, out.stderr)
        assert.are.equal('{"id": "u_1", "email": "dev@example.com", "name": "Dev"}', sh.slurp(path))
      end)
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
