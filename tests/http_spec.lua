-- nt3.http: one request through libcurl, with the network policy of
-- docs/architecture.md, invariant 8, against real servers on the loopback interface.
local http = require "nt3.http"
local json = require "nt3.json"
local sh = require "helpers.sh"
local server = require "helpers.server"

local version = require("nt3.embedded").version

local function echo_of(res)
  assert.are.equal(200, res.status)
  return assert(json.decode(res.body))
end

-- a port nothing listens on: one a server of ours just gave up
local function closed_port()
  local srv = server.start()
  local port = srv.port
  srv.stop()
  return port
end

local function has_ipv6_loopback()
  local f = io.open("/proc/net/if_inet6")
  if not f then return false end
  local text = f:read("a")
  f:close()
  return text:find("0+1 %x+ %x+ %x+ %x+%s+lo") ~= nil
end

describe("nt3.http.request", function()
  local srv
  lazy_setup(function() srv = server.start() end)
  lazy_teardown(function() srv.stop() end)

  describe("requests and responses", function()
    it("GETs a URL and returns status, lower-case headers, body and the final url", function()
      local res = assert(http.request { url = srv.url .. "/echo?a=1&b=two" })
      assert.are.equal(200, res.status)
      assert.are.equal("application/json", res.headers["content-type"])
      assert.are.equal(tostring(#res.body), res.headers["content-length"])
      assert.are.equal(srv.url .. "/echo?a=1&b=two", res.url)
      local echo = echo_of(res)
      assert.are.equal("GET", echo.method)
      assert.are.same({ a = "1", b = "two" }, echo.query)
    end)

    it("POSTs a body and the caller's headers arrive as given", function()
      local res = assert(http.request {
        method = "POST", url = srv.url .. "/echo", body = '{"x":1}',
        headers = { ["Content-Type"] = "application/json", ["X-Request-Id"] = "abc 123", ["X-Empty"] = "" },
      })
      local echo = echo_of(res)
      assert.are.equal("POST", echo.method)
      assert.are.equal('{"x":1}', echo.body)
      assert.are.equal("application/json", echo.headers["content-type"])
      assert.are.equal("abc 123", echo.headers["x-request-id"])
      assert.are.equal("", echo.headers["x-empty"])
    end)

    it("sends a body of any bytes, and no made-up Content-Type for it", function()
      local body = "a\0b\r\n" .. string.rep("z", 100000)
      local echo = echo_of(assert(http.request { method = "PUT", url = srv.url .. "/echo", body = body }))
      assert.are.equal("PUT", echo.method)
      assert.are.equal(tostring(#body), echo.headers["content-length"])
      assert.is_nil(echo.headers["content-type"])
      assert.is_nil(echo.headers["expect"])
    end)

    it("sends DELETE and HEAD as such; HEAD gets headers and no body", function()
      assert.are.equal("DELETE", echo_of(assert(http.request { method = "DELETE", url = srv.url .. "/echo" })).method)
      local res = assert(http.request { method = "HEAD", url = srv.url .. "/echo" })
      assert.are.equal(200, res.status)
      assert.are.equal("", res.body)
      assert.are.equal("HEAD", srv.requests()[#srv.requests()].method)
    end)

    it("sends User-Agent nt3/<version> unless the caller gives one", function()
      local echo = echo_of(assert(http.request { url = srv.url .. "/echo" }))
      assert.are.equal("nt3/" .. version, echo.headers["user-agent"])
      echo = echo_of(assert(http.request { url = srv.url .. "/echo", headers = { ["user-agent"] = "mine/1" } }))
      assert.are.equal("mine/1", echo.headers["user-agent"])
    end)

    it("returns non-2xx statuses as responses, not errors", function()
      for _, code in ipairs { 301, 400, 401, 404, 500, 503 } do
        local res, err = http.request { url = srv.url .. "/status/" .. code }
        assert.is_nil(err)
        assert.are.equal(code, res.status)
        assert.are.same({ message = "status " .. code }, json.decode(res.body))
      end
    end)

    it("joins repeated response headers with ', '", function()
      local res = assert(http.request { url = srv.url .. "/headers?X-Multi=a&X-Multi=b&X-Single=c" })
      assert.are.equal("a, b", res.headers["x-multi"])
      assert.are.equal("c", res.headers["x-single"])
    end)

    it("sends each {name, value} pair of the headers list as its own line, in order", function()
      local echo = echo_of(assert(http.request {
        url = srv.url .. "/echo",
        headers = { ["X-Map"] = "m", { "X-A", "1" }, { "X-B", 7 }, { "x-a", "2" }, { "X-Empty", "" } },
      }))
      local lines = {}
      for _, h in ipairs(echo.header_list) do
        if h[1]:lower():match("^x%-") then lines[#lines + 1] = h[1] .. ": " .. h[2] end
      end
      assert.are.same({ "X-Map: m", "X-A: 1", "X-B: 7", "x-a: 2", "X-Empty: " }, lines)
    end)

    it("sends each value of a Name = {values} entry as its own line, in order", function()
      local echo = echo_of(assert(http.request {
        url = srv.url .. "/echo", headers = { ["X-Tag"] = { "a", "b, c" } },
      }))
      local lines = {}
      for _, h in ipairs(echo.header_list) do
        if h[1] == "X-Tag" then lines[#lines + 1] = h[2] end
      end
      assert.are.same({ "a", "b, c" }, lines)
    end)

    it("returns the HTTP version and the reason phrase of the status line", function()
      local res = assert(http.request { url = srv.url .. "/status/404" })
      assert.are.equal("1.1", res.version)
      assert.are.equal("Not Found", res.reason)
      assert.are.equal("OK", assert(http.request { url = srv.url .. "/echo" }).reason)
    end)

    it("returns every response header line in order in header_list, repeats kept apart", function()
      local res = assert(http.request { url = srv.url .. "/headers?Set-Cookie=a%3D1%2C%20b&Set-Cookie=c%3D2&X-Single=d" })
      local mine = {}
      for _, h in ipairs(res.header_list) do
        if h.name == "set-cookie" or h.name == "x-single" then mine[#mine + 1] = h end
      end
      assert.are.same({
        { name = "set-cookie", value = "a=1, b" },
        { name = "set-cookie", value = "c=2" },
        { name = "x-single", value = "d" },
      }, mine)
      assert.are.equal("a=1, b, c=2", res.headers["set-cookie"])
      -- every header is in the list, and the list holds nothing else
      local n = 0
      for _ in pairs(res.headers) do n = n + 1 end
      assert.are.equal(n + 1, #res.header_list) -- Set-Cookie counted twice
    end)

    it("makes headers and header_list on first read, the same whichever is read first, and the same table every read", function()
      local url = srv.url .. "/headers?Set-Cookie=a%3D1%2C%20b&X-Single=d&Set-Cookie=c%3D2&X-Last=e"
      local function fold(list)
        local t = {}
        for _, h in ipairs(list) do t[h.name] = t[h.name] and t[h.name] .. ", " .. h.value or h.value end
        return t
      end
      local list_first = assert(http.request { url = url })
      assert.is_nil(rawget(list_first, "header_list"))
      local list = list_first.header_list
      assert.are.equal(list, rawget(list_first, "header_list"))
      assert.are.equal(list, list_first.header_list)
      local headers_first = assert(http.request { url = url })
      local headers = headers_first.headers
      assert.are.equal(headers, rawget(headers_first, "headers"))
      -- headers is header_list folded (repeats joined with ", " in order), whichever came first
      assert.are.same(fold(list), list_first.headers)
      assert.are.same(fold(headers_first.header_list), headers)
      assert.are.same(headers_first.header_list, list_first.header_list)
      -- every line, in the order sent, repeats apart
      local mine = {}
      for _, h in ipairs(list) do
        if h.name == "set-cookie" or h.name:match("^x%-") then mine[#mine + 1] = h.name .. "=" .. h.value end
      end
      assert.are.same({ "set-cookie=a=1, b", "x-single=d", "set-cookie=c=2", "x-last=e" }, mine)
      for _, h in ipairs(list) do assert.are.same({ "name", "value" }, (function()
        local keys = {}
        for k in pairs(h) do keys[#keys + 1] = k end
        table.sort(keys)
        return keys
      end)()) end
      -- once read, they are plain fields that pairs sees
      local seen = {}
      for k in pairs(list_first) do seen[k] = true end
      assert.is_true(seen.headers and seen.header_list and seen.status and seen.body and true)
      assert.is_nil(list_first.nothing)
      assert.is_nil(list_first[1])
    end)

    it("shows unread headers to pairs, and refuses a new metatable rather than lose them", function()
      local res = assert(http.request { url = srv.url .. "/headers?X-One=1" })
      local seen = {}
      for k, v in pairs(res) do seen[k] = v end
      assert.are.equal("1", seen.headers["x-one"])
      assert.are.equal(res.header_list, seen.header_list)
      assert.are.same({ "body", "header_list", "headers", "reason", "status", "url", "version" }, (function()
        local keys = {}
        for k in pairs(seen) do keys[#keys + 1] = k end
        table.sort(keys)
        return keys
      end)())
      local fresh = assert(http.request { url = srv.url .. "/headers?X-One=1" })
      assert.are.equal("nt3.http.response", getmetatable(fresh))
      local ok, err = pcall(setmetatable, fresh, {})
      assert.is_false(ok)
      assert.matches("cannot change a protected metatable", err, 1, true)
      assert.are.equal("1", fresh.headers["x-one"])
    end)

    it("gives a HEAD response its headers and header_list too", function()
      local res = assert(http.request { method = "HEAD", url = srv.url .. "/echo" })
      assert.are.equal("", res.body)
      assert.is_true(#res.header_list > 0)
      assert.are.equal(res.header_list[1].value, res.headers[res.header_list[1].name])
    end)

    it("lower-cases header names of any length, a long one too", function()
      local long = "X-" .. ("Ab"):rep(200)
      local res = assert(http.request { url = srv.url .. "/headers?" .. long .. "=v&X-Short=w" })
      assert.are.equal("v", res.headers[long:lower()])
      assert.are.equal("w", res.headers["x-short"])
      local names = {}
      for _, h in ipairs(res.header_list) do names[h.name] = h.value end
      assert.are.equal("v", names[long:lower()])
    end)

    it("returns as res.url the URL as libcurl normalized it: dot segments gone, scheme lower case, fragment kept", function()
      local port = srv.url:match(":(%d+)$")
      local res = assert(http.request { url = "HTTP://127.0.0.1:" .. port .. "/a/./b/../../echo?x=1#part" })
      assert.are.equal(200, res.status)
      assert.are.equal(srv.url .. "/echo?x=1#part", res.url)
      assert.are.equal(srv.url .. "/", assert(http.request { url = srv.url }).url)
    end)

    it("returns nil and a clear message when the connection is refused", function()
      local port = closed_port()
      local res, err, code = http.request { url = "http://127.0.0.1:" .. port .. "/" }
      assert.is_nil(res)
      assert.are.equal("could not connect to 127.0.0.1 port " .. port .. ": Connection refused", err)
      assert.are.equal("connect", code)
    end)

    it("returns nil and a message for a malformed URL", function()
      local res, err, code = http.request { url = "no scheme here" }
      assert.is_nil(res)
      assert.matches('^invalid URL "no scheme here": ', err)
      assert.are.equal("invalid_url", code)
    end)
  end)

  describe("caller mistakes raise", function()
    local cases = {
      { "no url", {} },
      { "a url that is not a string", { url = 42 } },
      { "a method with a space", { url = "http://127.0.0.1/", method = "GE T" } },
      { "a method with a newline", { url = "http://127.0.0.1/", method = "GET\n" } },
      { "a header name with a colon", { url = "http://127.0.0.1/", headers = { ["X-A: b"] = "c" } } },
      { "a header name with a space", { url = "http://127.0.0.1/", headers = { ["X A"] = "c" } } },
      { "a header value with CR LF", { url = "http://127.0.0.1/", headers = { ["X-A"] = "b\r\nX-Injected: 1" } } },
      { "a header value with LF", { url = "http://127.0.0.1/", headers = { ["X-A"] = "b\nc" } } },
      { "a header value that is a table", { url = "http://127.0.0.1/", headers = { ["X-A"] = {} } } },
      { "an empty list of values", { url = "http://127.0.0.1/", headers = { ["X-A"] = {} } } },
      { "a list value that is a table", { url = "http://127.0.0.1/", headers = { ["X-A"] = { "a", {} } } } },
      { "a list value with CR LF", { url = "http://127.0.0.1/", headers = { ["X-A"] = { "a", "b\r\nX-Injected: 1" } } } },
      { "a pair whose name has a colon", { url = "http://127.0.0.1/", headers = { { "X-A: b", "c" } } } },
      { "a pair whose value has LF", { url = "http://127.0.0.1/", headers = { { "X-A", "b\nX-Injected: 1" } } } },
      { "a pair whose value has NUL", { url = "http://127.0.0.1/", headers = { { "X-A", "b\0c" } } } },
      { "a pair with no value", { url = "http://127.0.0.1/", headers = { { "X-A" } } } },
      { "a list entry that is not a pair", { url = "http://127.0.0.1/", headers = { "X-A: b" } } },
      { "a list with a hole", { url = "http://127.0.0.1/", headers = { [1] = { "X-A", "b" }, [3] = { "X-B", "c" } } } },
      { "a list with a hole the length counts", { url = "http://127.0.0.1/", headers = (function()
        local h = { { "X-A", "b" }, { "X-B", "c" }, { "X-C", "d" } }
        h[2] = nil
        return h
      end)() } },
      { "a list whose pair is not a table", { url = "http://127.0.0.1/", headers = { { "X-A", "b" }, "X-B: c" } } },
      { "headers that are not a table", { url = "http://127.0.0.1/", headers = "X-A: b" } },
      { "a body that is not a string", { url = "http://127.0.0.1/", body = {} } },
      { "a negative timeout", { url = "http://127.0.0.1/", timeout = -1 } },
      { "a timeout that is not a number", { url = "http://127.0.0.1/", timeout = "10" } },
      { "a zero stall_timeout", { url = "http://127.0.0.1/", stall_timeout = 0 } },
      { "a fractional max_size", { url = "http://127.0.0.1/", max_size = 1.5 } },
      { "a negative max_redirects", { url = "http://127.0.0.1/", max_redirects = -1 } },
      { "a cafile that is not a string", { url = "http://127.0.0.1/", cafile = true } },
      { "a misspelt field", { url = "http://127.0.0.1/", header = {} } },
    }
    for _, case in ipairs(cases) do
      it("raises for " .. case[1], function()
        assert.has_error(function() http.request(case[2]) end)
      end)
    end

    it("raises when the request is not a table", function()
      assert.has_error(function() http.request("http://127.0.0.1/") end)
    end)

    it("refuses CR, LF and NUL in a header value in C, in every form of headers, sending nothing", function()
      -- nt3.http itself, not the CLI's -H check, stands between a value and the wire
      local before = #srv.requests()
      for _, bad in ipairs { "a\r\nX: y", "a\rX: y", "a\nX: y", "a\0X: y" } do
        for _, headers in ipairs { { ["X-A"] = bad }, { ["X-A"] = { "ok", bad } }, { { "X-A", bad } } } do
          local ok, err = pcall(http.request, { url = srv.url .. "/echo", headers = headers })
          assert.is_false(ok)
          assert.matches("header 'X%-A' has a CR, LF or NUL in its value", err)
        end
      end
      assert.are.equal(before, #srv.requests())
    end)

    it("sends the headers it checked, whatever a finalizer does to the table meanwhile", function()
      -- any allocation may run a __gc; one that changes a header already
      -- checked must change nothing that is sent (it was a NULL dereference)
      local out = sh.run({ "run", sh.script([[
        local http = require "nt3.http"
        local headers
        local function arm()
          setmetatable({}, { __gc = function()
            if headers then
              headers["X-A"] = {}
              headers["X-B"] = nil
              headers[1] = { "X-C" }
            end
            arm() -- and another one for the next cycle
          end })
        end
        for _ = 1, 8 do arm() end
        collectgarbage("incremental", 0, 1000, 0) -- no rest between cycles
        for _ = 1, 2000 do
          headers = { ["X-A"] = "1", ["X-B"] = { "2", "3" }, { "X-C", "4" } }
          local ok, res, err = pcall(http.request, { url = "http://example.com/", headers = headers })
          assert(not ok or (res == nil and err:match("^refusing plain http")), tostring(err))
        end
        headers = nil
        collectgarbage("generational")
        print("done")
      ]]) })
      assert.are.equal(0, out.code, out.stderr)
      assert.are.equal("done\n", out.stdout)
    end)
  end)

  describe("plain http:// is only for loopback hosts, judged on the parsed host", function()
    local refused = {
      { "http://example.com/", "example.com" },
      { "http://localhost.evil.com/", "localhost.evil.com" },
      { "http://127.0.0.1.evil.com/", "127.0.0.1.evil.com" },
      { "http://evil.com#@127.0.0.1/", "evil.com" },
      { "http://10.0.0.1:8080/", "10.0.0.1" },
      { "http://[::2]/", "[::2]" },
      { "http://[::ffff:127.0.0.1]/", "[::ffff:127.0.0.1]" },
    }
    for _, case in ipairs(refused) do
      it("refuses " .. case[1] .. " before any connection", function()
        -- no DNS is needed to get this answer: the check comes first
        local res, err, code = http.request { url = case[1], connect_timeout = 1, timeout = 2 }
        assert.is_nil(res)
        assert.are.equal('refusing plain http:// to non-loopback host "' .. case[2] .. '" (use https)', err)
        assert.are.equal("refused_url", code)
      end)
    end

    it("allows localhost, any 127.x.y.z and [::1] (they get as far as connecting)", function()
      local port = closed_port()
      for _, host in ipairs { "127.0.0.1", "127.1.2.3", "[::1]" } do
        local _, err = http.request { url = ("http://%s:%d/"):format(host, port) }
        assert.matches("^could not connect to " .. host:gsub("%p", "%%%0") .. " port " .. port .. ": ", err)
      end
      local res = assert(http.request { url = ("http://localhost:%d/echo"):format(srv.port) })
      assert.are.equal(200, res.status)
    end)

    it("talks to a server on [::1] when the machine has IPv6 loopback", function()
      if has_ipv6_loopback() then
        local v6 = server.start { host = "::1" }
        finally(function() v6.stop() end)
        local echo = echo_of(assert(http.request { url = v6.url .. "/echo" }))
        assert.are.equal("[::1]:" .. v6.port, echo.headers.host)
      else
        -- no ::1 here: the host is still judged loopback, so the request
        -- fails at connecting, not at the policy
        local _, err = http.request { url = "http://[::1]:" .. closed_port() .. "/" }
        assert.matches("^could not connect to %[::1%] port ", err)
      end
    end)

    it("never sends loopback traffic through a proxy from the environment", function()
      local dead = "http://127.0.0.1:" .. closed_port()
      local out = sh.run({ "run", sh.script([[
        local res, err = require("nt3.http").request { url = os.getenv("URL") }
        print(res and res.status, err)
      ]]) }, { env = { URL = srv.url .. "/echo", http_proxy = dead, HTTP_PROXY = dead, ALL_PROXY = dead } })
      assert.are.equal(0, out.code, out.stderr)
      assert.are.equal("200\tnil\n", out.stdout)
    end)

    describe("a proxy from the environment, for https to other hosts", function()
      -- 0.0.0.0 is this machine too, but not a loopback host to nt3: a
      -- proxy applies, and a direct connection stays here all the same.
      -- One closed port serves as both the proxy and the target.
      local port
      lazy_setup(function() port = closed_port() end)
      local function try(vars)
        vars.URL = ("https://0.0.0.0:%d/"):format(port)
        local out = sh.run({ "run", sh.script([[
          local res, err, code = require("nt3.http").request { url = os.getenv("URL") }
          print(res and res.status, err, code)
        ]]) }, { env = vars })
        assert.are.equal(0, out.code, out.stderr)
        return out.stdout
      end

      it("names the proxy, not the target, when the proxy is down", function()
        local via = ("nil\tcould not connect to proxy 127.0.0.1 port %d: Connection refused\tconnect\n"):format(port)
        -- user and password of the proxy are not shown
        assert.are.equal(via, try { HTTPS_PROXY = "http://user:pr0xy-pw@127.0.0.1:" .. port })
        assert.are.equal(via, try { all_proxy = "http://127.0.0.1:" .. port })
        -- without a scheme, as curl takes it too
        assert.are.equal(via, try { https_proxy = "127.0.0.1:" .. port })
      end)

      it("goes direct for a host no_proxy names, or when https_proxy is empty", function()
        local direct = ("nil\tcould not connect to 0.0.0.0 port %d: Connection refused\tconnect\n"):format(port)
        local proxy = "http://127.0.0.1:" .. port
        assert.are.equal(direct, try { https_proxy = proxy, no_proxy = "0.0.0.0" })
        assert.are.equal(direct, try { HTTPS_PROXY = proxy, NO_PROXY = "example.com, 0.0.0.0/8" })
        assert.are.equal(direct, try { https_proxy = proxy, no_proxy = "*" })
        assert.are.equal(direct, try { https_proxy = "", ALL_PROXY = proxy })
        -- entries that do not name it leave the proxy in place
        assert.matches("could not connect to proxy ", try { https_proxy = proxy, no_proxy = "1.0.0.0/8,0.0.0.00" })
      end)
    end)

    it("refuses schemes other than http and https", function()
      for _, url in ipairs { "ftp://127.0.0.1/", "file:///etc/passwd", "gopher://127.0.0.1/", "dict://127.0.0.1/" } do
        local res, err = http.request { url = url }
        assert.is_nil(res)
        assert.matches('^unsupported URL scheme "%a+"', err)
      end
    end)

    it("refuses a URL with user:password@, however it is disguised", function()
      local before = #srv.requests()
      for _, url in ipairs {
        "http://user:secret@127.0.0.1:" .. srv.port .. "/echo",
        "http://127.0.0.1:" .. srv.port .. "@evil.com/",
        "http://evil.com\\@127.0.0.1:" .. srv.port .. "/",
      } do
        local res, err = http.request { url = url }
        assert.is_nil(res)
        assert.are.equal("a URL with a user name or password (user:password@) is not accepted", err)
      end
      assert.are.equal(before, #srv.requests())
    end)
  end)

  describe("redirects", function()
    local other
    lazy_setup(function() other = server.start() end)
    lazy_teardown(function() other.stop() end)

    local credentials = {
      Authorization = "Bearer entri_valid_redirect_secret",
      Cookie = "session=s3cret",
      ["Proxy-Authorization"] = "Basic cHJveHk6cHc=",
      ["X-Plain"] = "kept",
    }

    local function redirect(to, code)
      return ("%s/redirect?to=%s&code=%d"):format(srv.url, to:gsub("[^%w]", function(c)
        return ("%%%02X"):format(c:byte())
      end), code or 302)
    end

    it("follows a same-origin redirect and keeps Authorization", function()
      local res = assert(http.request { url = redirect("/echo"), headers = credentials })
      assert.are.equal(srv.url .. "/echo", res.url)
      local echo = echo_of(res)
      assert.are.equal("Bearer entri_valid_redirect_secret", echo.headers.authorization)
      assert.are.equal("session=s3cret", echo.headers.cookie)
    end)

    it("sends no Authorization, Cookie or Proxy-Authorization to another port", function()
      local res = assert(http.request { url = redirect(other.url .. "/echo"), headers = credentials })
      assert.are.equal(other.url .. "/echo", res.url)
      local seen = other.requests()
      assert.are.equal(1, #seen)
      assert.are.equal("/echo", seen[1].path)
      assert.is_nil(seen[1].headers.authorization)
      assert.is_nil(seen[1].headers.cookie)
      assert.is_nil(seen[1].headers["proxy-authorization"])
      assert.are.equal("kept", seen[1].headers["x-plain"])
    end)

    it("drops credentials given as {name, value} pairs on a cross-origin redirect too", function()
      local res = assert(http.request {
        url = redirect(other.url .. "/echo"),
        headers = {
          { "authorization", "Bearer entri_valid_pair_secret" }, { "Cookie", "a=1" }, { "COOKIE", "b=2" },
          { "Proxy-Authorization", "Basic eDp5" }, { "X-Plain", "kept" }, { "X-Plain", "twice" },
        },
      })
      local echo = echo_of(res)
      local names = {}
      for _, h in ipairs(echo.header_list) do names[#names + 1] = h[1]:lower() .. "=" .. h[2] end
      table.sort(names)
      for _, line in ipairs(names) do
        assert.is_nil(line:match("^authorization") or line:match("^cookie") or line:match("^proxy%-authorization"))
      end
      assert.are.same({ "x-plain=kept", "x-plain=twice" }, (function()
        local out = {}
        for _, l in ipairs(names) do if l:match("^x%-plain") then out[#out + 1] = l end end
        return out
      end)())
      -- and the same pairs do reach the first origin
      local same = echo_of(assert(http.request {
        url = redirect("/echo"), headers = { { "Cookie", "a=1" }, { "Cookie", "b=2" } },
      }))
      local cookies = {}
      for _, h in ipairs(same.header_list) do if h[1] == "Cookie" then cookies[#cookies + 1] = h[2] end end
      assert.are.same({ "a=1", "b=2" }, cookies)
    end)

    it("keeps them dropped when a later hop comes back to the first origin", function()
      local back = other.url .. "/redirect?to=" .. (srv.url .. "/echo"):gsub(":", "%%3A"):gsub("/", "%%2F")
      local echo = echo_of(assert(http.request { url = redirect(back), headers = credentials }))
      assert.is_nil(echo.headers.authorization)
      assert.is_nil(echo.headers.cookie)
    end)

    it("counts localhost and 127.0.0.1 as different origins", function()
      local echo = echo_of(assert(http.request {
        url = redirect(("http://localhost:%d/echo"):format(srv.port)), headers = credentials,
      }))
      assert.is_nil(echo.headers.authorization)
    end)

    it("refuses a redirect to ftp://", function()
      local res, err = http.request { url = redirect("ftp://127.0.0.1/file") }
      assert.is_nil(res)
      assert.are.equal('redirect to ftp://127.0.0.1/file refused: unsupported URL scheme "ftp" (only http and https)', err)
    end)

    it("refuses a redirect to plain http:// on another host, without following it", function()
      local res, err = http.request { url = redirect("http://example.com/steal?token=x"), headers = credentials }
      assert.is_nil(res)
      assert.are.equal('redirect to http://example.com/steal refused: refusing plain http:// to non-loopback host "example.com" (use https)', err)
    end)

    -- nt3's own rule, the same on every libcurl: libcurl 7.88 refuses a
    -- relative Location with a control byte but percent-encodes a space in
    -- it; libcurl 8 percent-encodes both and follows a path on the same
    -- origin. nt3 refuses either before libcurl parses the Location.
    local UNFIT = " refused: invalid URL (it holds a control character or a space)"

    it("refuses a hostile Location and keeps it out of the message: one line, no escape bytes", function()
      local res, err, code = http.request { url = redirect("\27]0;owned\7http://x y/\1") }
      assert.is_nil(res)
      assert.are.equal('redirect to "?]0;owned?http://x y/?"' .. UNFIT, err)
      assert.are.equal("invalid_url", code)
    end)

    it("refuses a relative Location with a space, a tab or another control byte, on the same origin too", function()
      for _, location in ipairs { "/echo?a b", "/echo\tx", "/echo\1", "/echo\127" } do
        local res, err, code = http.request { url = redirect(location) }
        assert.is_nil(res, location)
        assert.are.equal("invalid_url", code)
        assert.is_nil(err:find("%c"), err)
        assert.are.equal(UNFIT, err:sub(-#UNFIT))
      end
      -- and what is spelt right is followed
      assert.are.equal(200, assert(http.request { url = redirect("/echo?a%20b") }).status)
    end)

    it("turns a POST into a GET without body after 303, and keeps both after 307 and 308", function()
      local echo = echo_of(assert(http.request { method = "POST", url = redirect("/echo", 303), body = "data" }))
      assert.are.equal("GET", echo.method)
      assert.are.equal("", echo.body)
      for _, code in ipairs { 307, 308 } do
        echo = echo_of(assert(http.request { method = "POST", url = redirect("/echo", code), body = "data" }))
        assert.are.equal("POST", echo.method)
        assert.are.equal("data", echo.body)
      end
      echo = echo_of(assert(http.request { method = "POST", url = redirect("/echo", 301), body = "data" }))
      assert.are.equal("GET", echo.method)
    end)

    it("keeps a PUT or DELETE as it is after 301 and 302: only a POST may become a GET", function()
      -- a DELETE quietly turned into a GET would come back 200, and look done
      for _, code in ipairs { 301, 302 } do
        local echo = echo_of(assert(http.request { method = "PUT", url = redirect("/echo", code), body = "data" }))
        assert.are.equal("PUT", echo.method)
        assert.are.equal("data", echo.body)
        echo = echo_of(assert(http.request { method = "DELETE", url = redirect("/echo", code) }))
        assert.are.equal("DELETE", echo.method)
      end
    end)

    it("follows at most max_redirects", function()
      local two = redirect(redirect("/echo"))
      local res, err = http.request { url = two, max_redirects = 1 }
      assert.is_nil(res)
      assert.are.equal("too many redirects (more than 1)", err)
      assert.are.equal(200, assert(http.request { url = two, max_redirects = 2 }).status)
    end)

    it("with max_redirects = 0 returns the redirect itself", function()
      local res = assert(http.request { url = redirect("/echo", 301), max_redirects = 0 })
      assert.are.equal(301, res.status)
      assert.are.equal("/echo", res.headers.location)
    end)
  end)

  describe("TLS", function()
    local tls
    lazy_setup(function() tls = server.start { tls = true } end)
    lazy_teardown(function() tls.stop() end)

    it("never sends https to a loopback host through a proxy from the environment either", function()
      -- through a proxy, "127.0.0.1" would be the proxy's machine, not this one
      local dead = "http://127.0.0.1:" .. closed_port()
      local out = sh.run({ "run", sh.script([[
        local res, err = require("nt3.http").request { url = os.getenv("URL"), cafile = os.getenv("CA") }
        print(res and res.status, err)
      ]]) }, { env = { URL = tls.url .. "/echo", CA = tls.cafile, https_proxy = dead, HTTPS_PROXY = dead, ALL_PROXY = dead, all_proxy = dead } })
      assert.are.equal(0, out.code, out.stderr)
      assert.are.equal("200\tnil\n", out.stdout)
    end)

    it("refuses a server whose certificate is not trusted", function()
      local before = #tls.requests()
      local res, err, code = http.request { url = tls.url .. "/echo", headers = { Authorization = "Bearer entri_tls_secret" } }
      assert.is_nil(res)
      assert.matches("^TLS certificate not trusted for 127%.0%.0%.1: ", err)
      assert.are.equal("untrusted_certificate", code)
      assert.are.equal(before, #tls.requests()) -- not a byte of the request got through
    end)

    it("accepts it when it is given as cafile", function()
      local res = assert(http.request { url = tls.url .. "/echo", cafile = tls.cafile })
      assert.are.equal(tls.url .. "/echo", res.url)
      assert.are.equal("GET", echo_of(res).method)
    end)

    it("checks the host name against the certificate, not only the chain", function()
      local elsewhere = server.start { tls = true, tls_names = "DNS:elsewhere.test" }
      finally(function() elsewhere.stop() end)
      local res, err = http.request { url = elsewhere.url .. "/echo", cafile = elsewhere.cafile }
      assert.is_nil(res)
      assert.matches("^TLS certificate not trusted for 127%.0%.0%.1: .*127%.0%.0%.1", err)
    end)

    it("says so when the cafile cannot be read", function()
      local res, err = http.request { url = tls.url .. "/echo", cafile = sh.tmpdir() .. "/missing.pem" }
      assert.is_nil(res)
      assert.matches('^could not use CA file ".*missing%.pem"', err)
    end)
  end)

  describe("limits", function()
    it("aborts a body over max_size whose length is announced", function()
      local res, err, code = http.request { url = srv.url .. "/big?bytes=5000", max_size = 1000 }
      assert.are.equal("too_large", code)
      assert.is_nil(res)
      assert.are.equal("response too large (more than 1000 bytes)", err)
    end)

    it("aborts a body over max_size whose length is not announced", function()
      local res, err = http.request { url = srv.url .. "/big?bytes=300000&chunked=1", max_size = 100000 }
      assert.is_nil(res)
      assert.are.equal("response too large (more than 100000 bytes)", err)
    end)

    it("accepts a body of exactly max_size", function()
      local res = assert(http.request { url = srv.url .. "/big?bytes=1000&chunked=1", max_size = 1000 })
      assert.are.equal(string.rep("x", 1000), res.body)
    end)

    -- what /big?cycle=1 sends: byte i is i % 251 (tests/helpers/server.py)
    local function pattern(n)
      local cycle = {}
      for i = 0, 250 do cycle[#cycle + 1] = string.char(i) end
      return table.concat(cycle):rep(n // 251 + 1):sub(1, n)
    end

    it("keeps a body of megabytes whole and in order, up to its bound", function()
      -- a buffer past 1 MB is a block in 2 MB pages reserved to its bound
      -- (docs/architecture.md, "Large blocks"): the default bound exactly,
      -- announced and chunked; a bound that is no multiple of a page; and a
      -- bound past 64 MB, where the buffer grows by moving its pages
      for _, case in ipairs {
        { bytes = 16777216 },
        { bytes = 16777216, chunked = true },
        { bytes = 3000001, max_size = 3000001, chunked = true },
        { bytes = 20000000, max_size = 80000000, chunked = true },
      } do
        local url = ("%s/big?cycle=1&bytes=%d%s"):format(srv.url, case.bytes, case.chunked and "&chunked=1" or "")
        local res = assert(http.request { url = url, max_size = case.max_size })
        assert.are.equal(case.bytes, #res.body)
        assert.is_true(res.body == pattern(case.bytes), url .. ": the body differs from what was sent")
      end
      local res, err, code = http.request { url = srv.url .. "/big?cycle=1&chunked=1&bytes=16777217" }
      assert.is_nil(res)
      assert.are.equal("too_large", code)
      assert.are.equal("response too large (more than 16777216 bytes)", err)
    end)

    it("fails with too_large for response headers over the bound, in all or in one line", function()
      local res, err, code = http.request { url = srv.url .. "/bighead?bytes=8000&lines=40" }
      assert.is_nil(res)
      assert.are.equal("too_large", code)
      assert.are.equal("response headers too large (more than 262144 bytes)", err)
      res, err, code = http.request { url = srv.url .. "/bighead?bytes=200000&lines=1" }
      assert.is_nil(res)
      assert.are.equal("too_large", code, err)
      assert.are.equal("response headers too large (a header line longer than libcurl accepts)", err)
      -- below both bounds it is a response like any other
      res = assert(http.request { url = srv.url .. "/bighead?bytes=50000&lines=4" })
      assert.are.equal(50000, #res.headers["x-big-4"])
    end)

    it("times out a server that stalls, after stall_timeout without a byte", function()
      local res, err, code = http.request { url = srv.url .. "/stall?seconds=20", stall_timeout = 1 }
      assert.is_nil(res)
      assert.are.equal(("timed out: no data from 127.0.0.1 port %d for 1.0 s (stall_timeout)"):format(srv.port), err)
      assert.are.equal("timeout", code)
    end)

    it("gives up after timeout seconds in all, even while data trickles", function()
      local res, err, code = http.request { url = srv.url .. "/stall?seconds=20", timeout = 0.5, stall_timeout = 10 }
      assert.is_nil(res)
      assert.are.equal(("timed out after 0.5 s waiting for 127.0.0.1 port %d (timeout)"):format(srv.port), err)
      assert.are.equal("timeout", code)
    end)
  end)

  describe("NT3_DEBUG", function()
    local canary = "entri_canary_0123456789abcdef"
    local script = [[
      local res = assert(require("nt3.http").request {
        url = os.getenv("URL"),
        headers = { Authorization = "Bearer ]] .. canary .. [[", Cookie = "sid=cookie-secret" },
      })
      print(res.status)
    ]]

    it("traces request and response headers on stderr, never the whole token", function()
      local out = sh.run({ "run", sh.script(script) }, { env = { NT3_DEBUG = "1", URL = srv.url .. "/echo" } })
      assert.are.equal(0, out.code, out.stderr)
      assert.are.equal("200\n", out.stdout)
      assert.matches("> GET /echo HTTP/1.1\n", out.stderr, 1, true)
      assert.matches("> User-Agent: nt3/" .. version .. "\n", out.stderr, 1, true)
      assert.matches("< HTTP/1.1 200 OK\n", out.stderr, 1, true)
      assert.matches("< Content-Type: application/json\n", out.stderr, 1, true)
      assert.matches("> Authorization: Bearer entri_****cdef\n", out.stderr, 1, true)
      assert.is_nil(out.stderr:find(canary, 1, true))
      assert.is_nil(out.stderr:find("0123456789", 1, true))
      assert.is_nil(out.stderr:find("cookie-secret", 1, true))
    end)

    it("masks the whole Authorization value when it does not start with a scheme it knows", function()
      local out = sh.run({ "run", sh.script([[
        local http = require "nt3.http"
        for _, v in ipairs { "s3cr3t-value x", "Bearer entri_scheme_known_0123456789", "tok3n-s3cr3t-abcdefgh more" } do
          assert(http.request { url = os.getenv("URL"), headers = { Authorization = v } })
        end
      ]]) }, { env = { NT3_DEBUG = "1", URL = srv.url .. "/echo" } })
      assert.are.equal(0, out.code, out.stderr)
      assert.matches("> Authorization: ****\n", out.stderr, 1, true)
      assert.matches("> Authorization: Bearer entri_****6789\n", out.stderr, 1, true)
      assert.matches("> Authorization: ****more\n", out.stderr, 1, true)
      assert.is_nil(out.stderr:find("s3cr3t", 1, true))
    end)

    it("keeps a hostile response header off the terminal: no escape bytes in the trace", function()
      local url = srv.url .. "/headers?X-Evil=%1b%5d0%3bowned%07%1b%5b2J"
      local out = sh.run({ "run", sh.script(script) }, { env = { NT3_DEBUG = "1", URL = url } })
      assert.are.equal(0, out.code, out.stderr)
      assert.matches("< X-Evil: ?]0;owned??[2J\n", out.stderr, 1, true)
      assert.is_nil(out.stderr:gsub("\n", ""):find("%c"))
    end)

    it("prints nothing without it", function()
      local out = sh.run({ "run", sh.script(script) }, { env = { URL = srv.url .. "/echo" } })
      assert.are.equal(0, out.code, out.stderr)
      assert.are.equal("", out.stderr)
    end)
  end)

  describe("libcurl is loaded lazily", function()
    it("is not mapped until the first request, and is after it", function()
      local out = sh.run({ "run", sh.script([[
        local function mapped()
          local f = assert(io.open("/proc/self/maps"))
          local maps = f:read("a")
          f:close()
          return maps:find("libcurl", 1, true) ~= nil
        end
        local before = mapped()
        local http = require "nt3.http"
        local after_require = mapped()
        assert(http.request { url = os.getenv("URL") })
        print(before, after_require, mapped())
      ]]) }, { env = { URL = srv.url .. "/echo" } })
      assert.are.equal(0, out.code, out.stderr)
      assert.are.equal("false\tfalse\ttrue\n", out.stdout)
    end)

    it("is not loaded by nt3 --version or nt3 help (LD_DEBUG=libs)", function()
      for _, args in ipairs { { "--version" }, { "help" } } do
        local out = sh.run(args, { env = { LD_DEBUG = "libs" } })
        assert.are.equal(0, out.code, out.stderr)
        assert.matches("libc.so.6", out.stderr, 1, true) -- LD_DEBUG did report the libraries
        assert.is_nil(out.stderr:find("libcurl", 1, true))
      end
    end)

    it("is reported, not crashed on, when it cannot be loaded", function()
      local dir = sh.tmpdir()
      sh.spit(dir .. "/libcurl.so.4", "not a shared object")
      local out = sh.run({ "run", sh.script([[
        print(require("nt3.http").request { url = "http://127.0.0.1:9/" })
        -- parse_url too, the plain case that needs no libcurl parse included
        print(require("nt3.http").parse_url("/b?page=2", "https://example.com/a"))
      ]]) }, { env = { LD_LIBRARY_PATH = dir } })
      assert.are.equal(0, out.code, out.stderr)
      assert.matches("^nil\tlibcurl is not available: .*libcurl%.so%.4.*\nnil\tlibcurl is not available: [^\n]*\tunsupported\n$",
        out.stdout)
    end)
  end)
end)

describe("nt3.http.parse_url", function()
  -- A plain reference ("/items?page=2" against an http(s) base) is
  -- resolved without libcurl's two parses (bindings/http/url.c,
  -- nt3_http_resolve_plain); NT3_TEST_NO_FAST_URL=1 leaves every one to
  -- libcurl. Over many generated pairs, both ways must give the same
  -- answer: url, origin and shown, or the same failure.
  local bases = {
    "http://127.0.0.1:8/api/v1/list?page=1#top", "https://example.com", "https://example.com/",
    "https://app.nt3.io/api/v1/items?page=1", "https://example.com:8443?q", "https://a-b.example/x/y",
    "https://EXAMPLE.com/x", "HTTPS://example.com/", "https://h:443/", "http://h:80/x", "https://h:080/",
    "https://h:0/", "https://h:65535/", "https://h:65536/", "https://h:99999/", "https://h:/", "https://h:8a/",
    "https://127.1/", "https://1.2.3.4/", "https://01.2.3.4/", "https://1.2.3.256/", "https://1.2.3/",
    "https://0x7f.0.0.1/", "https://2130706433/", "https://1a.example/", "https://1.2.3.4.5/", "https://a.1b/", "https://1.example.123/",
    "https://a..b/", "https://a.b./", "https://.a/", "https://-a.example/", "https://e_x.example/",
    "https://u:p@example.com/", "https://@example.com/", "https://[::1]:8/", "ftp://example.com/",
    "https://example.com/a b", "https://example.com/%zz", "https://example.com/p#f#g",
    "https://example.com/\xc3\xa9", "https://b\xc3\xbccher.example/", "https://example.com\\x",
    "https:/example.com/", "https://", "http://localhost:3000/a/b/c",
  }
  -- the first 28 pieces are characters libcurl keeps as they are
  local pieces = {
    "a", "Z", "09", "-", "_", "~", "!", "$", "&", "'", "(", ")", "*", "+", ",", ";", "=", ":", "@", "/",
    "?", "#", "%41", "%7e", "%20", "?=", "page=2", "items",
    ".", "..", "//", "%2e", "%2E", "%00", "%zz", "%", "%4", " ", "\t", "\r\n", "\xc3\xa9", "\xff", "\\",
    "[", "]", "{", "}", "|", "^", "`", '"', "<", ">", "/./", "/../", "/.", "/..", "\x7f",
  }
  local fixed = { "", "#", "#f", "?", "?q", "a/b", "//x/y", "//", "/", "/?", "/#", "/?#", "/.", "/..",
    "/a/./b", "/a/../b", "/.well-known", "/a?", "/a?#f", "/a#", "/items?page=2", "/x?b?c#d?e" }

  local function pairs_to_try()
    local seed = 12345
    local function rand(n)
      seed = (seed * 1103515245 + 12345) % 2147483648
      return seed % n + 1
    end
    local list = {}
    for _, base in ipairs(bases) do
      for _, ref in ipairs(fixed) do list[#list + 1] = { ref, base } end
    end
    for i = 1, 4000 do
      -- half of them of characters libcurl keeps as they are only, most
      -- of those against a plain base (the first six)
      local plain = i % 2 == 0
      local ref = { "/" }
      for _ = 1, rand(8) do ref[#ref + 1] = pieces[rand(plain and 28 or #pieces)] end
      list[#list + 1] = { table.concat(ref), bases[rand(plain and i % 8 ~= 0 and 6 or #bases)] }
    end
    return list
  end

  it("resolves a plain reference as libcurl does, over many generated pairs (NT3_TEST_NO_FAST_URL=1)", function()
    local lines = {}
    for _, p in ipairs(pairs_to_try()) do lines[#lines + 1] = ("{%q, %q},"):format(p[1], p[2]) end
    local script = sh.script("local http = require 'nt3.http'\nfor _, p in ipairs {\n" .. table.concat(lines, "\n")
      .. [[
} do
  local u, err, code = http.parse_url(p[1], p[2])
  if u then
    io.write(("%q %q -> %q %q %q\n"):format(p[1], p[2], u.url, u.origin, u.shown))
  else
    io.write(("%q %q -> nil %q %q\n"):format(p[1], p[2], err, code))
  end
end]])
    local fast = sh.run({ "run", script })
    local slow = sh.run({ "run", script }, { env = { NT3_TEST_NO_FAST_URL = "1" } })
    assert.are.equal(0, fast.code, fast.stderr)
    assert.are.equal(0, slow.code, slow.stderr)
    local a, b = {}, {}
    for l in fast.stdout:gmatch("[^\n]+") do a[#a + 1] = l end
    for l in slow.stdout:gmatch("[^\n]+") do b[#b + 1] = l end
    assert.is_true(#b > 4000)
    assert.are.equal(#b, #a)
    for i = 1, #b do
      if a[i] ~= b[i] then assert.are.equal(b[i], a[i]) end
    end
  end)
end)
