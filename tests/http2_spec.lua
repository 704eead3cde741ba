-- HTTP/2 multiplexing (docs/architecture.md, "The request engine"; issue 13):
-- the transfers of tasks to one HTTP/2 origin share one connection, with no
-- stall, against Debian's nghttpd and nginx; with a libcurl whose HTTP/2
-- code is known to stall (before 8.1.0), each transfer has a connection of
-- its own and NT3_DEBUG says why. Connections are counted by the servers
-- themselves: nghttpd's log names the connection of every stream, nginx's
-- access log the connection of every request.
local http = require "nt3.http"
local task = require "nt3.task"
local sh = require "helpers.sh"
local nghttpd = require "helpers.nghttpd"
local nginx = require "helpers.nginx"

-- the loaded libcurl's version as a number (0x080e01 for 8.14.1), from
-- its -dev package's curl-config (the same Debian source as libcurl4)
local function libcurl_vernum()
  local p = io.popen("curl-config --vernum")
  local hex = p:read("l")
  p:close()
  return assert(tonumber(hex or "", 16), "curl-config --vernum gave nothing: install libcurl4-openssl-dev")
end
local MULTIPLEX = libcurl_vernum() >= 0x080100

local BIG = 200000

-- n tasks at once, each a GET of path (with ?i= to tell them apart);
-- asserts each got its whole body. Half of them stream theirs to a file,
-- so that a handle a finished stream left behind is used again for one.
local function round(base, cafile, n, path, tag, dir)
  local list = {}
  for i = 1, n do list[i] = i end
  local results, errors = task.map(list, function(i)
    local req = { url = ("%s%s?%s=%d"):format(base, path, tag, i), cafile = cafile, timeout = 20, stall_timeout = 5 }
    if dir and i % 2 == 0 then req.output = ("%s/%s-%d"):format(dir, tag, i) end
    local res = assert(http.request(req))
    local len = req.output and #assert(sh.slurp(req.output)) or #res.body
    return res.version .. " " .. len
  end, { concurrency = n })
  assert.is_nil(errors, errors and tostring(errors[next(errors)]))
  return results
end

-- the NT3_DEBUG lines of a child nt3 making one request to url
local function debug_lines(url, cafile)
  local r = sh.run({ "run", sh.script(([[
    local http = require "nt3.http"
    assert(http.request { url = %q, cafile = %q })
  ]]):format(url, cafile)) }, { env = { NT3_DEBUG = "1" } })
  assert.are.equal(0, r.code, r.stderr)
  return r.stderr
end

-- a server's log is written as each request ends: waits (bounded) until
-- server.requests() holds n of them, and returns it
local function logged(srv, n)
  for _ = 1, 100 do
    if #srv.requests() >= n then break end
    os.execute("sleep 0.05")
  end
  return srv.requests()
end

local FALLBACK = "* HTTP/2 multiplexing off: libcurl %S+ %(before 8.1.0%) stalls streams that share a connection; "
  .. "a connection per transfer instead\n"

describe("HTTP/2 multiplexing", function()
  describe("against nghttpd", function()
    local h2, dir
    lazy_setup(function()
      assert(nghttpd.available(), "nghttpd is missing: install the nghttp2-server package (./setup.sh does)")
      h2 = nghttpd.start { files = { ["hello.txt"] = "hello\n", ["big.txt"] = string.rep("y", BIG) } }
      dir = sh.tmpdir()
    end)
    lazy_teardown(function() if h2 then h2.stop() end end)


    it("says in NT3_DEBUG when, and why, it does not multiplex", function()
      local err = debug_lines(h2.url .. "/hello.txt", h2.cafile)
      if MULTIPLEX then
        assert.is_nil(err:find("multiplexing off", 1, true), err)
      else
        assert.matches(FALLBACK, err)
      end
    end)

    it("runs 10 tasks over one connection (a connection each where multiplexing is off)", function()
      local before, seen = h2.connections(), #h2.requests()
      local results = round(h2.url, h2.cafile, 10, "/hello.txt", "ten")
      for i = 1, 10 do assert.are.equal("2 6", results[i]) end
      assert.are.equal(seen + 10, #logged(h2, seen + 10))
      local opened = h2.connections() - before
      if MULTIPLEX then
        -- the connection the earlier tests left open, or one new one
        assert.is_true(opened <= 1, "connections opened: " .. opened)
      else
        assert.is_true(opened >= 2, "connections opened: " .. opened)
      end
    end)

    it("never stalls: 60 rounds of 6 streams of 200 kB each, each stream bounded to 5 s without a byte", function()
      -- multiplexed on libcurl 7.88.1 this stalled about one round in ten:
      -- a stream stopped at 196608 of 200000 bytes until its timeout
      local before = h2.connections()
      for r = 1, 60 do
        local results = round(h2.url, h2.cafile, 6, "/big.txt", "r" .. r)
        for i = 1, 6 do assert.are.equal("2 " .. BIG, results[i]) end
      end
      if MULTIPLEX then assert.is_true(h2.connections() - before <= 1, "connections: " .. (h2.connections() - before)) end
    end)

    it("streams bodies to files on the handles that streams sharing the connection left", function()
      -- libcurl before 8.7 refuses CURLOPT_BUFFERSIZE (set for a streamed
      -- body) on a handle whose transfer ended while its connection was
      -- still in use: the engine takes a fresh handle then
      for r = 1, 5 do
        local results = round(h2.url, h2.cafile, 6, "/big.txt", "s" .. r, dir)
        for i = 1, 6 do assert.are.equal("2 " .. BIG, results[i]) end
      end
    end)
  end)

  describe("against nginx with HTTP/2", function()
    local web
    lazy_setup(function()
      assert(nginx.available(), "nginx is missing: install the nginx package (./setup.sh does)")
      web = nginx.start { http2 = true, files = { ["hello.txt"] = "hello\n", ["big.txt"] = string.rep("z", BIG) } }
    end)
    lazy_teardown(function() if web then web.stop() end end)


    it("runs 10 tasks over one connection (a connection each where multiplexing is off)", function()
      local results = round(web.url, web.cafile, 10, "/hello.txt", "ten")
      for i = 1, 10 do assert.are.equal("2 6", results[i]) end
      local seen = {}
      local n = 0
      for _, r in ipairs(logged(web, 10)) do
        assert.are.equal("HTTP/2.0", r.protocol)
        if not seen[r.connection] then
          seen[r.connection] = true
          n = n + 1
        end
      end
      if MULTIPLEX then
        assert.are.equal(1, n)
      else
        assert.is_true(n >= 2, "connections: " .. n)
      end
    end)

    it("receives whole bodies of 6 streams at once, round after round", function()
      local dir = sh.tmpdir()
      local before = web.connections()
      for r = 1, 20 do
        local results = round(web.url, web.cafile, 6, "/big.txt", "r" .. r, dir)
        for i = 1, 6 do assert.are.equal("2 " .. BIG, results[i]) end
      end
      logged(web, 10 + 120)
      if MULTIPLEX then assert.are.equal(before, web.connections()) end
    end)
  end)
end)
