-- The request engine (docs/architecture.md, "The request engine", "Talking to the API";
-- issue 7): one connection pool per process, requests side by side in
-- nt3.task, retries, streamed bodies. Against real HTTP and HTTPS servers on
-- loopback that count connections, requests in flight and when each request
-- arrived (tests/helpers/server.py), and Debian's nghttpd for HTTP/2.
local http = require "nt3.http"
local task = require "nt3.task"
local json = require "nt3.json"
local policy = require "nt3.policy"
local sh = require "helpers.sh"
local server = require "helpers.server"
local nghttpd = require "helpers.nghttpd"

local now = policy.now

local function get(srv, path, req)
  req = req or {}
  req.url = srv.url .. path
  req.cafile = req.cafile or srv.cafile
  return assert(http.request(req))
end

local function stats(srv, reset)
  return assert(json.decode(get(srv, reset and "/_stats?reset=1" or "/_stats").body))
end

local function decode(res)
  return assert(json.decode(res.body))
end

-- the requests the server received whose path starts with `prefix`
local function received(srv, prefix)
  local list = {}
  for _, r in ipairs(srv.requests()) do
    if r.path:sub(1, #prefix) == prefix then list[#list + 1] = r end
  end
  return list
end

-- the numbers of the TCP connections (see /_requests) that carried the
-- requests whose path starts with `prefix`, as a sorted list
local function connections(srv, prefix)
  local seen, list = {}, {}
  for _, r in ipairs(received(srv, prefix)) do
    if not seen[r.connection] then list[#list + 1] = r.connection end
    seen[r.connection] = true
  end
  table.sort(list)
  return list
end

local function urlencode(s)
  return (s:gsub("[^%w%-_%.~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

-- a port nothing listens on (the system's pick, let go at once)
local function closed_port()
  local p = io.popen([[python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])']])
  local port = tonumber(p:read("l"))
  p:close()
  return assert(port)
end

-- Starts tests/helpers/server.py on `port` after `delay` seconds, without
-- waiting for it; returns a function that stops it.
local function server_later(port, delay)
  local dir = sh.tmpdir()
  local ready = dir .. "/ready.json"
  assert(os.execute(("(sleep %s; exec python3 %s --ready %s --port %d --lifetime 60) </dev/null >%s 2>&1 &")
    :format(delay, sh.quote(sh.src .. "/tests/helpers/server.py"), sh.quote(ready), port, sh.quote(dir .. "/log"))))
  return function()
    for _ = 1, 100 do
      local text = sh.slurp(ready)
      local pid = text and text:match('"pid":%s*(%d+)')
      if pid then return os.execute("kill " .. pid .. " 2>/dev/null") end
      os.execute("sleep 0.05")
    end
  end
end

local function dir_list(dir)
  local p = io.popen("ls -A " .. sh.quote(dir))
  local names = {}
  for line in p:lines() do names[#names + 1] = line end
  p:close()
  return names
end

describe("the request engine", function()
  -- shared by every test: each test tells its own requests apart by a query
  -- parameter of its own (t=...), or resets the counters it reads
  local srv, tls, other
  lazy_setup(function()
    srv = server.start()
    tls = server.start { tls = true }
    other = server.start()
  end)
  lazy_teardown(function()
    for _, s in ipairs { srv, tls, other } do s.stop() end
    sh.cleanup()
  end)

  describe("the connection pool", function()
    it("makes 200 sequential requests to one origin over one connection (http)", function()
      for i = 1, 200 do assert.are.equal(200, get(srv, "/echo?t=seq&i=" .. i).status) end
      assert.are.equal(200, #received(srv, "/echo?t=seq&"))
      assert.are.equal(1, #connections(srv, "/echo?t=seq&"))
    end)

    it("makes 200 sequential requests to one origin over one connection (https)", function()
      for i = 1, 200 do
        local res = get(tls, "/echo?t=seq&i=" .. i)
        assert.are.equal(200, res.status)
        assert.are.equal("1.1", res.version)
      end
      assert.are.equal(200, #received(tls, "/echo?t=seq&"))
      assert.are.equal(1, #connections(tls, "/echo?t=seq&"))
    end)

    -- a finished GET's handle keeps its options for the next such GET
    -- (engine.c, plain_hop): what differs between the two must not stay
    it("gives a kept handle no CA file or size limit of the request before", function()
      for round = 1, 3 do
        local q = "/echo?t=keep-ca&r=" .. round
        assert.are.equal(tls.url .. q, get(tls, q).url)
        -- another CA file: the kept connection is not for it, and the
        -- server's certificate is not signed by it
        local res, _, code = http.request { url = tls.url .. q, cafile = "/etc/ssl/certs/ca-certificates.crt" }
        assert.is_nil(res)
        assert.are.equal("untrusted_certificate", code)
        res, _, code = http.request { url = tls.url .. q }
        assert.is_nil(res)
        assert.are.equal("untrusted_certificate", code)
        assert.are.equal(200, get(tls, q).status)
        -- a smaller limit after the default one, and the default one again
        assert.are.equal(5000, #get(srv, "/big?bytes=5000&r=" .. round).body)
        res, _, code = http.request { url = srv.url .. "/big?bytes=5000&r=" .. round, max_size = 1000 }
        assert.is_nil(res)
        assert.are.equal("too_large", code)
        assert.are.equal(5000, #get(srv, "/big?bytes=5000&r=" .. round).body)
      end
    end)

    it("gives a kept handle no method, body or decoding of the request before", function()
      for round = 1, 3 do
        local q = "/echo?t=keep-method&r=" .. round
        for i = 1, 3 do -- each its own URL, its handle kept from the one before
          local res = get(srv, q .. "&i=" .. i)
          assert.are.equal(srv.url .. q .. "&i=" .. i, res.url)
          assert.are.equal(tostring(i), decode(res).query.i)
        end
        assert.are.equal("POST", decode(get(srv, q, { method = "POST", body = "x" })).method)
        local echo = decode(get(srv, q))
        assert.are.equal("GET", echo.method)
        assert.are.equal("", echo.body or "")
        assert.are.equal("", get(srv, q, { method = "HEAD" }).body)
        assert.are.equal("GET", decode(get(srv, q)).method)
        assert.are.equal("identity", decode(get(srv, q, { headers = { ["Accept-Encoding"] = "identity" } })).headers["accept-encoding"])
        assert.are_not.equal("identity", decode(get(srv, q)).headers["accept-encoding"])
      end
    end)

    it("keeps one connection per origin while going back and forth between origins", function()
      for _ = 1, 20 do
        get(srv, "/echo?t=both")
        get(tls, "/echo?t=both")
        get(other, "/echo?t=both")
      end
      for _, s in ipairs { srv, tls, other } do
        assert.are.equal(20, #received(s, "/echo?t=both"))
        assert.are.equal(1, #connections(s, "/echo?t=both"))
      end
    end)

    it("resumes the TLS session on a new connection when the server closed the old one", function()
      get(tls, "/echo?t=resume")
      stats(tls, "reset")
      assert.are.same({ closed = true }, decode(get(tls, "/close?t=resume")))
      get(tls, "/echo?t=resume")
      local s = stats(tls)
      assert.are.equal(1, s.connections)
      assert.are.equal(1, s.tls_resumed)
      assert.are.equal(2, #connections(tls, "/echo?t=resume"))
    end)

    describe("HTTP/2 (nghttpd)", function()
      local h2
      lazy_setup(function()
        assert(nghttpd.available(), "nghttpd is missing: install the nghttp2-server package (./setup.sh does)")
        h2 = nghttpd.start { files = { ["hello.txt"] = "hello\n" } }
      end)
      lazy_teardown(function() if h2 then h2.stop() end end)

      -- nghttpd's log is written as it goes: wait (bounded) until it shows
      -- `n` requests
      local function logged(n)
        for _ = 1, 100 do
          if #h2.requests() >= n then break end
          os.execute("sleep 0.05")
        end
        return h2.requests()
      end

      it("speaks HTTP/2 where the server offers it, and reuses the connection", function()
        local before, seen = h2.connections(), #h2.requests()
        for _ = 1, 3 do
          local res = assert(http.request { url = h2.url .. "/hello.txt", cafile = h2.cafile })
          assert.are.equal(200, res.status)
          assert.are.equal("2", res.version)
          assert.are.equal("", res.reason)
          assert.are.equal("hello\n", res.body)
        end
        assert.are.equal(seen + 3, #logged(seen + 3))
        assert.are.equal(before + 1, h2.connections())
      end)

      it("runs the requests of several tasks side by side, and the pool keeps their connections", function()
        -- one connection where streams are multiplexed, one per task where
        -- they are not (tests/http2_spec.lua tells which)
        local before, seen = h2.connections(), #h2.requests()
        local results, errors = task.map({ 1, 2, 3, 4, 5, 6 }, function(i)
          local res = assert(http.request { url = h2.url .. "/hello.txt?i=" .. i, cafile = h2.cafile })
          return res.version .. " " .. res.body
        end, { concurrency = 6 })
        assert.is_nil(errors, errors and tostring(select(2, next(errors))))
        for i = 1, 6 do assert.are.equal("2 hello\n", results[i]) end
        assert.are.equal(seen + 6, #logged(seen + 6))
        -- at most one new connection per task beyond the one already open
        assert.is_true(h2.connections() - before <= 6, "connections: " .. (h2.connections() - before))
        -- and the pool keeps them: a second round, no wider than the
        -- connections the first one opened, opens none
        local opened = h2.connections() - before
        local again = h2.connections()
        task.map({ 1, 2, 3 }, function(i)
          return assert(http.request { url = h2.url .. "/hello.txt?again=" .. i, cafile = h2.cafile }).status
        end, { concurrency = math.max(1, math.min(3, opened)) })
        assert.are.equal(again, h2.connections())
      end)
    end)

    describe("the network policy on every redirect, on a reused connection too", function()
      local TOKEN = "entri_abcdefghijklmnopqrstuv"

      it("drops Authorization and Cookie on a redirect to another origin it has a kept-alive connection to", function()
        get(other, "/echo?t=warm-1") -- the pool now holds a connection to other
        local res = get(srv, "/redirect?to=" .. urlencode(other.url .. "/echo?t=hop-1"), {
          headers = { Authorization = "Bearer " .. TOKEN, Cookie = "s=1", ["X-Kept"] = "yes" },
        })
        local echo = decode(res)
        assert.are.equal(other.url .. "/echo?t=hop-1", res.url)
        assert.is_nil(echo.headers.authorization)
        assert.is_nil(echo.headers.cookie)
        assert.are.equal("yes", echo.headers["x-kept"])
        -- credentials belong to the request, not to the connection: a
        -- request to other itself still carries its own
        echo = decode(get(other, "/echo?t=direct-1", { headers = { Authorization = "Bearer " .. TOKEN } }))
        assert.are.equal("Bearer " .. TOKEN, echo.headers.authorization)
        -- all three on the one kept-alive connection
        local warm, hop, direct = connections(other, "/echo?t=warm-1"), connections(other, "/echo?t=hop-1"),
          connections(other, "/echo?t=direct-1")
        assert.are.same(warm, hop)
        assert.are.same(warm, direct)
      end)

      it("does not send Authorization back to the first origin after a hop elsewhere, its connection reused", function()
        get(srv, "/echo?t=warm-2")
        local back = other.url .. "/redirect?to=" .. urlencode(srv.url .. "/echo?t=back-2")
        local res = get(srv, "/redirect?to=" .. urlencode(back), { headers = { Authorization = "Bearer " .. TOKEN } })
        assert.are.equal(srv.url .. "/echo?t=back-2", res.url)
        assert.is_nil(decode(res).headers.authorization)
        assert.are.same(connections(srv, "/echo?t=warm-2"), connections(srv, "/echo?t=back-2"))
      end)

      it("takes the same server under another host name for another origin", function()
        local elsewhere = ("http://localhost:%d/echo?t=name-3"):format(srv.port)
        local res = get(srv, "/redirect?to=" .. urlencode(elsewhere), { headers = { Authorization = "Bearer " .. TOKEN } })
        assert.are.equal(elsewhere, res.url)
        assert.is_nil(decode(res).headers.authorization)
      end)

      it("refuses a redirect to plain http on a host that is not loopback, from a reused connection", function()
        get(tls, "/echo?t=warm-4")
        local res, err, code = http.request {
          url = tls.url .. "/redirect?t=hop-4&to=" .. urlencode("http://example.com/x"), cafile = tls.cafile,
        }
        assert.is_nil(res)
        assert.are.equal("refused_url", code)
        assert.matches("^redirect to http://example.com/x refused: refusing plain http://", err)
        assert.are.same(connections(tls, "/echo?t=warm-4"), connections(tls, "/redirect?t=hop-4"))
        -- and from loopback http to a name that only starts like loopback
        get(srv, "/echo?t=warm-4")
        res, err, code = http.request { url = srv.url .. "/redirect?t=hop-4&to=" .. urlencode("http://localhost.evil.com/x") }
        assert.is_nil(res)
        assert.are.equal("refused_url", code, err)
        assert.are.same(connections(srv, "/echo?t=warm-4"), connections(srv, "/redirect?t=hop-4"))
      end)
    end)
  end)

  describe("nt3.task", function()
    it("runs the requests of task.map side by side, never more than `concurrency` at once", function()
      stats(srv, "reset")
      local results = task.map({ 1, 2, 3, 4, 5, 6, 7 }, function(i)
        return decode(get(srv, "/slow?seconds=0.3&t=map&i=" .. i)).slept
      end, { concurrency = 3 })
      assert.are.equal(7, results.n)
      assert.are.equal(3, stats(srv).max_in_flight)
      assert.are.equal(7, #received(srv, "/slow?seconds=0.3&t=map&"))
    end)

    for _, n in ipairs { 50, 100 } do
      it(("keeps a connection for each of %d requests in flight: rounds after the first reconnect none"):format(n),
        function()
        stats(srv, "reset")
        local t = "pool" .. n
        local items = {}
        for i = 1, n do items[i] = i end
        task.map(items, function(i)
          for round = 1, 3 do
            assert(get(srv, ("/slow?seconds=0.2&t=%s&i=%d&r=%d"):format(t, i, round)).status == 200)
          end
        end, { concurrency = n })
        assert.are.equal(3 * n, #received(srv, "/slow?seconds=0.2&t=" .. t .. "&"))
        -- side by side (on a loaded machine, under ASan, the last of the
        -- first round may arrive after the first has been answered: at
        -- least half at once, not all n, is what does not depend on time)
        local most = stats(srv).max_in_flight
        assert.is_true(most > n / 2 and most <= n, "at most " .. most .. " in flight")
        -- a pool smaller than the transfers in flight closes a finished
        -- transfer's connection, and the next request reconnects: more
        -- than n connections over the three rounds
        local used = #connections(srv, "/slow?seconds=0.2&t=" .. t .. "&")
        assert.is_true(used >= most and used <= n, used .. " connections for " .. most .. " in flight")
      end)
    end

    it("runs DEFAULT_CONCURRENCY (8) requests at once when not told", function()
      stats(srv, "reset")
      task.map({ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }, function(i) return get(srv, "/slow?seconds=0.3&i=" .. i).status end)
      assert.are.equal(8, task.DEFAULT_CONCURRENCY)
      assert.are.equal(8, stats(srv).max_in_flight)
    end)

    it("returns the results in input order, whatever order they finish in", function()
      local seconds = { 0.6, 0.05, 0.35, 0.15 }
      local finished = {}
      local results = task.map(seconds, function(s, i)
        local slept = decode(get(srv, "/slow?seconds=" .. s)).slept
        finished[#finished + 1] = i
        return slept
      end, { concurrency = 4 })
      assert.are.same({ 2, 4, 3, 1 }, finished) -- the test means something
      for i, s in ipairs(seconds) do assert.are.equal(s, results[i]) end
    end)

    it("does not cancel the other items when one fails", function()
      local results, errors = task.map({ 1, 2, 3, 4, 5, 6 }, function(i)
        local res = get(srv, "/slow?seconds=0.1&t=fail&i=" .. i)
        if i == 3 then error("item 3 failed", 0) end
        return res.status
      end, { concurrency = 3 })
      assert.are.same({ [3] = "item 3 failed" }, errors)
      for _, i in ipairs { 1, 2, 4, 5, 6 } do assert.are.equal(200, results[i]) end
      assert.is_nil(results[3])
      assert.are.equal(6, #received(srv, "/slow?seconds=0.1&t=fail&"))
    end)

    it("with fail_fast starts no new item after a failure and raises it once the running ones are done", function()
      local done = {}
      local ok, err = pcall(task.map, { 1, 2, 3, 4, 5, 6 }, function(i)
        if i == 2 then error("item 2 failed", 0) end
        get(srv, "/slow?seconds=0.3&t=fast&i=" .. i)
        done[#done + 1] = i
      end, { concurrency = 2, fail_fast = true })
      assert.is_false(ok)
      assert.are.equal("item 2 failed", err)
      assert.are.same({ 1 }, done) -- item 1 was running: it finished
      local paths = {}
      for _, r in ipairs(received(srv, "/slow?seconds=0.3&t=fast&")) do paths[#paths + 1] = r.path end
      assert.are.same({ "/slow?seconds=0.3&t=fast&i=1" }, paths)
    end)

    it("spawns tasks that run beside this one; wait returns a task's results", function()
      task.run(function()
        local t = task.spawn(function(a, b)
          return a + b, get(srv, "/slow?seconds=0.2").status
        end, 1, 2)
        assert.is_false(t:done())
        local sum, status = task.wait(t)
        assert.are.equal(3, sum)
        assert.are.equal(200, status)
        assert.is_true(t:done())
        assert.are.same({ 3, 200 }, { task.wait(t) }) -- again: the same results
      end)
    end)

    it("raises a task's error again in wait, and wait_all gives each result and each error in order", function()
      stats(srv, "reset")
      task.run(function()
        local tasks = {}
        for i = 1, 3 do
          tasks[i] = task.spawn(function()
            local res = get(srv, "/slow?seconds=0.3&i=" .. i)
            if i == 2 then error("task 2 failed", 0) end
            return res.status * 10 + i
          end)
        end
        local results, errors = task.wait_all(tasks)
        assert.are.equal(2001, results[1])
        assert.is_nil(results[2])
        assert.are.equal(2003, results[3])
        assert.are.same({ [2] = "task 2 failed" }, errors)
        assert.are.same({ false, "task 2 failed" }, { pcall(task.wait, tasks[2]) })
      end)
      assert.are.equal(3, stats(srv).max_in_flight) -- all three were in flight together
    end)

    it("sleeps without holding up the other tasks", function()
      local events = {}
      task.run(function()
        local sleeper = task.spawn(function()
          task.sleep(0.8)
          events[#events + 1] = "slept"
        end)
        local worker = task.spawn(function()
          get(srv, "/slow?seconds=0.1")
          events[#events + 1] = "request done"
          task.sleep(0.05)
          events[#events + 1] = "short sleep done"
        end)
        task.wait_all { sleeper, worker }
      end)
      assert.are.same({ "request done", "short sleep done", "slept" }, events)
    end)

    it("lets a request outside a task simply block: it returns the response, and no task runs meanwhile", function()
      task.run(function()
        local ran = false
        local t = task.spawn(function() ran = true end)
        -- a plain coroutine is not a task: a request in it does not yield
        local res = coroutine.wrap(function() return http.request { url = srv.url .. "/slow?seconds=0.3" } end)()
        assert.are.equal(200, res.status)
        assert.is_false(ran)
        task.wait(t)
        assert.is_true(ran)
      end)
    end)

    -- One task's request held open by an HTTP/1.1 server, the others to
    -- the same origin must not wait for it. libcurl 8.x holds a transfer
    -- with CURLOPT_PIPEWAIT back while a connection to its origin is
    -- being opened, and a busy HTTP/1.1 one never lets it go: those failed
    -- after connect_timeout. Both orders of starting, so that the held
    -- request is the one whose connection is opened first whichever order
    -- the engine starts transfers in; a server of its own for each, so
    -- that no kept-alive connection from an earlier test is there to take.
    for _, scheme in ipairs { "http", "https" } do
      for _, n in ipairs { 2, 5 } do
        for _, held_first in ipairs { true, false } do
          it(("lets %d tasks to one %s origin finish while another's request is held open (held request %s)")
            :format(n - 1, scheme, held_first and "started first" or "started last"), function()
            local s = server.start { tls = scheme == "https" }
            finally(s.stop)
            local key = "busy"
            local statuses = task.run(function()
              local function held()
                return http.request { url = s.url .. "/hold?seconds=60&key=" .. key, cafile = s.cafile }
              end
              local function quick(i)
                local res, msg = http.request { url = ("%s/_hold?key=%s&i=%d"):format(s.url, key, i), cafile = s.cafile }
                return res and res.status or msg
              end
              local holder = held_first and task.spawn(held)
              local others = {}
              for i = 1, n - 1 do others[i] = task.spawn(quick, i) end
              holder = holder or task.spawn(held)
              local got = {}
              for i = 1, n - 1 do got[i] = task.wait(others[i]) end
              assert.is_true(task.cancel(holder))
              assert.are.same({ false, task.CANCELLED }, { pcall(task.wait, holder) })
              return got
            end)
            local want = {}
            for i = 1, n - 1 do want[i] = 200 end
            assert.are.same(want, statuses)
          end)
        end
      end
    end
  end)

  describe("retries", function()
    it("pauses every task bound for an origin that answered 429 with Retry-After, and no other origin", function()
      local t0 = now()
      local statuses = {}
      task.run(function()
        local a = task.spawn(function()
          statuses.a = get(srv, "/flaky?key=pause&fail=1&status=429&retry_after=2", { retries = 1 }).status
        end)
        local b = task.spawn(function()
          task.sleep(0.3) -- after the 429 came back
          statuses.b = get(srv, "/echo?t=pause-b").status
        end)
        local c = task.spawn(function()
          task.sleep(0.3)
          statuses.c = get(other, "/echo?t=pause-c").status
        end)
        task.wait_all { a, b, c }
      end)
      assert.are.same({ a = 200, b = 200, c = 200 }, statuses)
      local flaky, b = received(srv, "/flaky?key=pause&"), received(srv, "/echo?t=pause-b")
      local c = received(other, "/echo?t=pause-c")
      assert.are.equal(2, #flaky)
      -- /_requests times are CLOCK_MONOTONIC, one clock for both servers
      local first = flaky[1].time
      assert.is_true(flaky[2].time - first >= 1.8, "the retry came after " .. (flaky[2].time - first))
      assert.is_true(b[1].time - first >= 1.8, "b's request came after " .. (b[1].time - first))
      assert.is_true(c[1].time - first < 1.5, "c's request came after " .. (c[1].time - first))
      assert.is_true(now() - t0 >= 1.8)
    end)

    it("retries a GET on 429, 502, 503 and 504, and not on 500", function()
      local codes = { 502, 503, 504, 500, 429 }
      local results = task.map(codes, function(status)
        local res = get(other, ("/flaky?key=s%d&fail=1&status=%d"):format(status, status), { retries = 2 })
        return res.status .. " " .. (decode(res).attempts or "-")
      end, { concurrency = 5 })
      assert.are.same({ "200 2", "200 2", "200 2", "500 -", "200 2" }, { table.unpack(results, 1, 5) })
      assert.are.equal(1, #received(other, "/flaky?key=s500&"))
    end)

    it("tries once unless asked: retries defaults to 0", function()
      assert.are.equal(503, get(other, "/flaky?key=once&fail=1").status)
      assert.are.equal(1, #received(other, "/flaky?key=once&"))
    end)

    it("does not retry a POST or PATCH without Idempotency-Key, and does with one; PUT and DELETE are retried", function()
      local cases = {
        { "POST", "post" }, { "PATCH", "patch" }, { "POST", "post-key", { ["Idempotency-Key"] = "k-1" } },
        { "PUT", "put" }, { "DELETE", "delete" },
      }
      local results = task.map(cases, function(c)
        return get(other, "/flaky?fail=1&key=" .. c[2] .. "&m=" .. c[1],
          { method = c[1], body = "{}", headers = c[3], retries = 2 }).status
      end, { concurrency = 5 })
      assert.are.same({ 503, 503, 200, 200, 200 }, { table.unpack(results, 1, 5) })
      assert.are.equal(1, #received(other, "/flaky?fail=1&key=post&"))
      assert.are.equal(1, #received(other, "/flaky?fail=1&key=patch&"))
      local keyed = received(other, "/flaky?fail=1&key=post-key&")
      assert.are.equal(2, #keyed)
      assert.are.equal("POST", keyed[2].method)
      assert.are.equal("k-1", keyed[2].headers["idempotency-key"])
      assert.are.equal("{}", keyed[2].body)
    end)

    it("retries a GET whose connection was refused until the server is there; never a POST without a key", function()
      local port = closed_port()
      finally(server_later(port, 0.6))
      local url = ("http://127.0.0.1:%d/echo"):format(port)
      local post, plain, keyed = {}, nil, nil
      task.run(function()
        local p = task.spawn(function()
          post = { http.request { method = "POST", url = url, body = "x", retries = 6 } }
        end)
        local g = task.spawn(function() plain = http.request { url = url, retries = 6 } end)
        local k = task.spawn(function()
          keyed = http.request { method = "POST", url = url, body = "x", retries = 6, headers = { ["Idempotency-Key"] = "k" } }
        end)
        task.wait_all { p, g, k }
      end)
      assert.is_nil(post[1])
      assert.are.equal("connect", post[3], post[2])
      assert.are.equal(200, plain and plain.status)
      assert.are.equal(200, keyed and keyed.status)
    end)

    it("sends a POST without Idempotency-Key once, on a connection of its own, when a reused one would die under it", function()
      -- libcurl itself sends a request again on a new connection when a
      -- reused one closes before answering; the server counts arrivals
      get(other, "/echo") -- a kept-alive connection to reuse
      local res = get(other, "/drop-reused?m=post", { method = "POST", body = "pay" })
      assert.are.equal(200, res.status)
      assert.are.equal(1, #received(other, "/drop-reused?m=post"))
    end)

    it("says how many attempts a failure took and how long they took in all", function()
      local res, err, code = http.request { url = other.url .. "/slow?seconds=30", timeout = 0.5, retries = 2 }
      assert.is_nil(res)
      assert.are.equal("timeout", code)
      local all = err:match(("^timed out after 0%%.5 s waiting for 127%%.0%%.0%%.1 port %d %%(timeout%%); 3 attempts, ([%%d.]+) s in all$")
        :format(other.port))
      assert(all, err)
      assert.is_true(tonumber(all) >= 1.5, err) -- three attempts of 0.5 s at the least
      -- one attempt: its own bound is the whole story
      res, err = http.request { url = other.url .. "/slow?seconds=30", timeout = 0.5 }
      assert.is_nil(res)
      assert.are.equal(("timed out after 0.5 s waiting for 127.0.0.1 port %d (timeout)"):format(other.port), err)
    end)

    it("honours Retry-After in seconds and as an HTTP date", function()
      -- two origins: a Retry-After pauses all of its origin's requests
      local date = os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() + 3)
      local cases = { { srv, "1" }, { other, urlencode(date) } }
      local results = task.map(cases, function(c)
        return get(c[1], "/flaky?key=after&fail=1&status=503&retry_after=" .. c[2], { retries = 1 }).status
      end, { concurrency = 2 })
      assert.are.same({ 200, 200 }, { results[1], results[2] })
      local function gap(s)
        local list = received(s, "/flaky?key=after&")
        assert.are.equal(2, #list)
        return list[2].time - list[1].time
      end
      -- the backoff alone would wait at most 0.5 s before a second attempt
      local seconds, date_gap = gap(srv), gap(other)
      assert.is_true(seconds >= 0.9 and seconds < 3, "Retry-After: 1 waited " .. seconds)
      assert.is_true(date_gap >= 1.5 and date_gap < 5, "Retry-After: <date in 3 s> waited " .. date_gap)
    end)

    it("fails at once with rate_limited when Retry-After asks for more than max_retry_wait", function()
      local t0 = now()
      local res, err, code = http.request {
        url = other.url .. "/flaky?key=long&fail=5&status=429&retry_after=120", retries = 3, max_retry_wait = 10,
      }
      local took = now() - t0
      assert.is_nil(res)
      assert.are.equal("rate_limited", code)
      assert.matches("asked to wait 120 s", err, 1, true)
      assert.is_true(took < 3, "took " .. took .. " s")
      assert.are.equal(1, #received(other, "/flaky?key=long&"))
      -- as an HTTP date too, against the default bound (60 s)
      local date = os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() + 3600)
      res, err, code = http.request {
        url = srv.url .. "/flaky?key=long-date&fail=5&status=503&retry_after=" .. urlencode(date), retries = 3,
      }
      assert.is_nil(res)
      assert.are.equal("rate_limited", code, err)
      assert.is_true(now() - t0 < 6, "took " .. (now() - t0) .. " s")
    end)

    it("shows each retry and its wait with NT3_DEBUG", function()
      local script = sh.script(([[
        local http = require "nt3.http"
        local res = assert(http.request { url = %q, retries = 3 })
        print(res.status)
      ]]):format(srv.url .. "/flaky?key=debug&fail=2&status=429&retry_after=1"))
      local out = sh.run({ "run", script }, { env = { NT3_DEBUG = "1" } })
      assert.are.equal(0, out.code, out.stderr)
      assert.are.equal("200\n", out.stdout)
      local shown = {}
      for line in out.stderr:gmatch("[^\n]+") do
        if line:find("retrying", 1, true) then shown[#shown + 1] = line end
      end
      assert.are.same({
        ("* retrying GET %s/flaky in 1.0 s (HTTP 429; attempt 2 of 4)"):format(srv.url),
        ("* retrying GET %s/flaky in 1.0 s (HTTP 429; attempt 3 of 4)"):format(srv.url),
      }, shown)
    end)
  end)

  describe("streamed bodies", function()
    it("writes the body to `output` and leaves no temp file", function()
      local dir = sh.tmpdir()
      local path = dir .. "/out.bin"
      local res = assert(http.request { url = srv.url .. "/big?bytes=3000000&chunked=1", output = path })
      assert.are.equal(200, res.status)
      assert.are.equal(path, res.output)
      assert.are.equal("", res.body)
      local data = sh.slurp(path)
      assert.are.equal(3000000, #data)
      assert.is_nil(data:find("[^x]"))
      assert.are.same({ "out.bin" }, dir_list(dir))
    end)

    it("writes `output` beyond max_size's default, as there is no cap unless asked", function()
      local dir = sh.tmpdir()
      local res = assert(http.request { url = srv.url .. "/big?bytes=20000000", output = dir .. "/o" })
      assert.are.equal(20000000, #sh.slurp(dir .. "/o"))
      assert.is_nil(res.body:find("x"))
    end)

    it("lets the file appear only complete: the old one stays until the new one is whole", function()
      local dir = sh.tmpdir()
      local path = dir .. "/out.bin"
      sh.spit(path, "old")
      local during, names_during, res
      task.run(function()
        local t = task.spawn(function() res = http.request { url = srv.url .. "/stall?seconds=1", output = path } end)
        task.sleep(0.5) -- the server has sent 5 of 1000 bytes, and waits
        during = sh.slurp(path)
        names_during = dir_list(dir)
        task.wait(t)
      end)
      assert.are.equal("old", during)
      assert.are.equal(2, #names_during)
      assert.are.equal(200, assert(res).status)
      assert.are.equal("12345" .. string.rep("x", 995), sh.slurp(path))
      assert.are.same({ "out.bin" }, dir_list(dir))
    end)

    it("keeps the old file, and leaves no temp file, when the request fails", function()
      local dir = sh.tmpdir()
      local path = dir .. "/out.bin"
      sh.spit(path, "old")
      local res, err, code = http.request { url = srv.url .. "/stall?seconds=5", output = path, stall_timeout = 0.5 }
      assert.is_nil(res)
      assert.are.equal("timeout", code, err)
      assert.are.equal("old", sh.slurp(path))
      assert.are.same({ "out.bin" }, dir_list(dir))
    end)

    it("fails with code output when the file cannot be written", function()
      local dir = sh.tmpdir()
      local res, err, code = http.request { url = srv.url .. "/big?bytes=10", output = dir .. "/missing/out.bin" }
      assert.is_nil(res)
      assert.are.equal("output", code)
      assert.matches("missing/out.bin", err, 1, true)
    end)

    describe("what is at the `output` path", function()
      local fs = require "nt3.fs"

      -- a reader of the FIFO at path in the background, until it has read
      -- everything; returns a function that waits for it (60 s at most) and
      -- gives what it read
      local function fifo_reader(path)
        local got = path .. ".got"
        -- the exit code lands whole (written beside, then renamed): a file
        -- the shell has created but not yet written would read as ""
        assert(os.execute(("(timeout 60 cat %s >%s; echo $? >%s.rc.tmp && mv %s.rc.tmp %s.rc) </dev/null >/dev/null 2>&1 &")
          :format(sh.quote(path), sh.quote(got), sh.quote(got), sh.quote(got), sh.quote(got))))
        return function()
          for _ = 1, 1200 do
            if sh.slurp(got .. ".rc") then break end
            os.execute("sleep 0.05")
          end
          assert.are.equal("0\n", sh.slurp(got .. ".rc"), "the reader did not finish")
          return sh.slurp(got)
        end
      end

      it("writes through a character device, which stays a device (curl -o /dev/null)", function()
        local dir = sh.tmpdir()
        local path = dir .. "/null"
        assert(os.execute("mknod " .. sh.quote(path) .. " c 1 3")) -- what /dev/null is
        local res = assert(http.request { url = srv.url .. "/big?bytes=300000", output = path })
        assert.are.equal(200, res.status)
        assert.are.equal(path, res.output)
        assert.are.equal("char", assert(fs.lstat(path)).type)
        assert.are.same({ "null" }, dir_list(dir))
      end)

      it("writes through a FIFO: its reader gets the body, and it stays a FIFO", function()
        local dir = sh.tmpdir()
        local path = dir .. "/pipe"
        assert(os.execute("mkfifo " .. sh.quote(path)))
        local read = fifo_reader(path)
        local res = assert(http.request { url = srv.url .. "/big?bytes=200000&chunked=1", output = path })
        assert.are.equal(200, res.status)
        assert.are.equal(string.rep("x", 200000), read())
        assert.are.equal("fifo", assert(fs.lstat(path)).type)
        assert.are.same({ "pipe", "pipe.got", "pipe.got.rc" }, dir_list(dir))
      end)

      it("refuses a symbolic link, even to a regular file, and leaves both untouched", function()
        local dir = sh.tmpdir()
        sh.spit(dir .. "/target", "old")
        assert(os.execute("ln -s target " .. sh.quote(dir .. "/link")))
        local res, err, code = http.request { url = srv.url .. "/big?bytes=1000", output = dir .. "/link" }
        assert.is_nil(res)
        assert.are.equal("output", code)
        assert.are.equal("cannot write " .. dir .. "/link: not a regular file, character device or FIFO; "
          .. "refusing to write through it", err)
        assert.are.equal("link", assert(fs.lstat(dir .. "/link")).type)
        assert.are.equal("old", sh.slurp(dir .. "/target"))
        assert.are.same({ "link", "target" }, dir_list(dir))
      end)

      it("refuses a directory, and a link to a character device", function()
        local dir = sh.tmpdir()
        assert(fs.mkdir(dir .. "/sub"))
        assert(os.execute("ln -s /dev/null " .. sh.quote(dir .. "/null")))
        for _, name in ipairs { "sub", "null" } do
          local res, err, code = http.request { url = srv.url .. "/big?bytes=10", output = dir .. "/" .. name }
          assert.is_nil(res)
          assert.are.equal("output", code, err)
          assert.matches("refusing to write through it", err, 1, true)
        end
        assert.are.equal("directory", assert(fs.lstat(dir .. "/sub")).type)
        assert.are.equal("link", assert(fs.lstat(dir .. "/null")).type)
        assert.are.same({ "null", "sub" }, dir_list(dir))
        assert.are.same({}, dir_list(dir .. "/sub"))
      end)

      it("replaces an existing file but keeps its mode", function()
        local dir = sh.tmpdir()
        for _, mode in ipairs { "600", "640", "755" } do
          local path = dir .. "/out" .. mode
          sh.spit(path, "old")
          assert(fs.chmod(path, tonumber(mode, 8)))
          local before = assert(fs.stat(path))
          assert(http.request { url = srv.url .. "/big?bytes=100", output = path })
          assert.are.equal(string.rep("x", 100), sh.slurp(path))
          assert.are.equal(mode, sh.mode(path))
          assert.are_not.equal(before.ino, assert(fs.stat(path)).ino, "not replaced")
        end
      end)

      it("takes a file name of 250 characters, as fs.write does", function()
        local dir = sh.tmpdir()
        local name = string.rep("n", 246) .. ".bin"
        local res = assert(http.request { url = srv.url .. "/big?bytes=1000", output = dir .. "/" .. name })
        assert.are.equal(200, res.status)
        assert.are.equal(string.rep("x", 1000), sh.slurp(dir .. "/" .. name))
        assert.are.same({ name }, dir_list(dir))
        assert(fs.write(dir .. "/" .. name, "again"))
        assert.are.equal("again", sh.slurp(dir .. "/" .. name))
      end)
    end)

    it("hands every chunk to `sink`, in order, and keeps none in body", function()
      local chunks, total = 0, {}
      local res = assert(http.request {
        url = srv.url .. "/bytes?n=2000000",
        sink = function(chunk)
          chunks = chunks + 1
          total[#total + 1] = chunk
        end,
      })
      assert.are.equal(200, res.status)
      assert.are.equal("", res.body)
      assert.is_nil(res.output)
      assert.is_true(chunks > 1, "one chunk only")
      local list = assert(json.decode(table.concat(total)))
      assert.is_true(#list * 1024 >= 2000000)
    end)

    it("hands `sink` what has come while the transfer still waits for more (pieces are gathered, never held)", function()
      -- /hold sends 5 of its 1000 bytes, then holds the connection open
      local got = task.run(function()
        local seen = ""
        local t = task.spawn(function()
          http.request { url = srv.url .. "/hold?seconds=60&key=sink-gathered", sink = function(c) seen = seen .. c end }
        end)
        local ok = task.poll({ every = 0.02, timeout = 20 }, function() return seen == "xxxxx" end)
        assert.is_true(task.cancel(t))
        pcall(task.wait, t)
        return ok and seen
      end)
      assert.are.equal("xxxxx", got)
    end)

    describe("a file handle as `sink`", function()
      it("gets the body byte for byte, after what was written to it before and ahead of what comes after", function()
        local dir = sh.tmpdir()
        local n = 3000000
        local f = assert(io.open(dir .. "/out", "wb"))
        f:write("before\n") -- still in the handle's buffer: it must go out first
        local res = assert(http.request { url = srv.url .. "/big?pattern=1&chunked=1&bytes=" .. n, sink = f })
        f:write("after\n")
        assert(f:close())
        assert.are.equal(200, res.status)
        assert.are.equal("", res.body)
        local data = sh.slurp(dir .. "/out")
        assert.are.equal("before\n", data:sub(1, 7))
        assert.are.equal("after\n", data:sub(-6))
        assert.is_true(data:sub(8, -7) == server.pattern(n), "the body differs")
      end)

      it("is standard output in `nt3 run`, in order with print and io.write, through a pipe", function()
        local n = 5000000
        local script = sh.script(([[
          local http = require "nt3.http"
          print("before")
          assert(http.request { url = %q, sink = io.stdout })
          io.write("after\n")
        ]]):format(srv.url .. "/big?pattern=1&bytes=" .. n))
        local dir = sh.tmpdir()
        local r = sh.run({ "-c", ('"$NT3_BIN" run %s | cat > %s'):format(sh.quote(script), sh.quote(dir .. "/out")) },
          { bin = "/bin/bash" })
        assert.are.equal(0, r.code, r.stderr)
        local data = sh.slurp(dir .. "/out")
        assert.are.equal("before\n", data:sub(1, 7))
        assert.are.equal("after\n", data:sub(-6))
        assert.is_true(data:sub(8, -7) == server.pattern(n), "the body differs")
      end)

      it("closed while the body streams: fails with code sink, and writes nothing to the file that took its descriptor", function()
        local dir = sh.tmpdir()
        local f = assert(io.open(dir .. "/out", "wb"))
        local reused
        local res, err, code = task.run(function()
          local t = task.spawn(function()
            return http.request { url = srv.url .. "/trickle?bytes=20&every=0.1", sink = f }
          end)
          assert(task.poll({ every = 0.02, timeout = 20 }, function() return #sh.slurp(dir .. "/out") > 0 end))
          f:close()
          reused = assert(io.open(dir .. "/reused", "wb")) -- most likely the descriptor f had
          return task.wait(t)
        end)
        reused:close()
        assert.is_nil(res)
        assert.are.equal("sink", code)
        assert.are.equal("cannot write to the sink's file: the file was closed", err)
        assert.are.equal("", sh.slurp(dir .. "/reused"))
      end)

      it("refuses a closed file, and a sink that is neither a function nor a file", function()
        local f = assert(io.open(sh.tmpdir() .. "/out", "wb"))
        f:close()
        local ok, err = pcall(http.request, { url = srv.url .. "/big?bytes=10", sink = f })
        assert.is_false(ok)
        assert.matches("field 'sink' is a closed file", err, 1, true)
        ok, err = pcall(http.request, { url = srv.url .. "/big?bytes=10", sink = {} })
        assert.is_false(ok)
        assert.matches("field 'sink' must be a function or a file, not table", err, 1, true)
      end)

      it("fails with code sink and the system's reason when the file cannot be written", function()
        local f = assert(io.open("/dev/full", "wb"))
        local res, err, code = http.request { url = srv.url .. "/big?bytes=300000", sink = f }
        f:close()
        assert.is_nil(res)
        assert.are.equal("sink", code)
        assert.are.equal("cannot write to the sink's file: No space left on device", err)
      end)
    end)

    it("stops the transfer with code sink when the sink raises", function()
      local calls = 0
      local t0 = now()
      local res, err, code = http.request {
        url = srv.url .. "/big?bytes=100000000",
        sink = function()
          calls = calls + 1
          error("disk full")
        end,
      }
      assert.is_nil(res)
      assert.are.equal("sink", code)
      assert.matches("disk full", err, 1, true)
      assert.are.equal(1, calls)
      assert.is_true(now() - t0 < 10)
    end)

    it("reads Ctrl-C in a sink as an interrupt (exit 130, nt3: interrupted), not as the sink's failure", function()
      -- the Ctrl-C lands while the sink runs Lua: its hook raises there,
      -- inside the request, and the script's own pcall sees what a wait
      -- would have raised
      local script = sh.script(([[
local http = require("nt3").http
local ok, res, err = pcall(http.request, { url = %q, sink = function()
  io.stdout:write("IN SINK\n") io.stdout:flush()
  while true do end
end })
io.stdout:write("pcall: ", tostring(ok), " ", tostring(res), " ", tostring(err), "\n")
error(err or res, 0)
]]):format(srv.url .. "/big?bytes=100000000"))
      local r = require("helpers.pty").run({ "run", script }, {
        timeout = 20, steps = { { expect = "IN SINK" }, { send = "\3" } } })
      assert.are.equal(130, r.code, r.output)
      assert.truthy(r.output:find("pcall: false interrupted nil\r\nnt3: interrupted\r\n", 1, true), r.output)
      assert.is_nil(r.output:find("sink failed", 1, true), r.output)
    end)

    it("does not stream a non-2xx answer: it comes back in body, and no file is written", function()
      local dir = sh.tmpdir()
      local called = false
      local res = assert(http.request { url = srv.url .. "/status/404", sink = function() called = true end })
      assert.is_false(called)
      assert.are.equal(404, res.status)
      assert.are.same({ message = "status 404" }, decode(res))
      res = assert(http.request { url = srv.url .. "/status/503", output = dir .. "/out" })
      assert.are.equal(503, res.status)
      assert.are.same({ message = "status 503" }, decode(res))
      assert.is_nil(res.output)
      assert.are.same({}, dir_list(dir))
    end)

    it("streams the final answer of a redirect, not the redirect's own body", function()
      local dir = sh.tmpdir()
      local res = assert(http.request {
        url = srv.url .. "/redirect?to=" .. urlencode("/big?bytes=1000"), output = dir .. "/out",
      })
      assert.are.equal(200, res.status)
      assert.are.equal(string.rep("x", 1000), sh.slurp(dir .. "/out"))
    end)

    it("lets a streamed body take longer than timeout while it keeps moving, to output and to sink", function()
      -- timeout bounds a stream only until its body starts; then stall_timeout does
      local dir = sh.tmpdir()
      local url = srv.url .. "/trickle?bytes=10&every=0.4" -- 4 s, a byte at a time
      local res = assert(http.request { url = url, output = dir .. "/out", timeout = 2 })
      assert.are.equal(200, res.status)
      assert.are.equal(string.rep("x", 10), sh.slurp(dir .. "/out"))
      local got = {}
      res = assert(http.request { url = url, sink = function(c) got[#got + 1] = c end, timeout = 2 })
      assert.are.equal(200, res.status)
      assert.are.equal(string.rep("x", 10), table.concat(got))
      -- a buffered body has no such grace
      local _, _, code = http.request { url = url, timeout = 2 }
      assert.are.equal("timeout", code)
    end)

    it("still gives up on a streamed request after timeout when its answer does not start", function()
      local dir = sh.tmpdir()
      local res, err, code = http.request { url = srv.url .. "/slow?seconds=30", output = dir .. "/out", timeout = 0.5 }
      assert.is_nil(res)
      assert.are.equal("timeout", code)
      assert.are.equal(("timed out after 0.5 s waiting for 127.0.0.1 port %d (timeout)"):format(srv.port), err)
      assert.are.same({}, dir_list(dir))
      res, err, code = http.request { url = srv.url .. "/slow?seconds=30", sink = function() end, timeout = 0.5 }
      assert.is_nil(res)
      assert.are.equal("timeout", code, err)
    end)

    it("honours max_size for a streamed body, to output and to sink, its length announced or not", function()
      for _, path in ipairs { "/big?bytes=300000", "/big?bytes=300000&chunked=1" } do
        local dir = sh.tmpdir()
        sh.spit(dir .. "/out", "old")
        local res, err, code = http.request { url = srv.url .. path, output = dir .. "/out", max_size = 100000 }
        assert.is_nil(res)
        assert.are.equal("too_large", code)
        assert.are.equal("response too large (more than 100000 bytes)", err)
        assert.are.equal("old", sh.slurp(dir .. "/out"))
        assert.are.same({ "out" }, dir_list(dir))
        local n = 0
        res, err, code = http.request { url = srv.url .. path, sink = function(c) n = n + #c end, max_size = 100000 }
        assert.is_nil(res)
        assert.are.equal("too_large", code, err)
        assert.is_true(n <= 100000, n .. " bytes reached the sink")
      end
      -- exactly max_size is not too large
      local n = 0
      assert(http.request { url = srv.url .. "/big?bytes=100000&chunked=1", sink = function(c) n = n + #c end, max_size = 100000 })
      assert.are.equal(100000, n)
    end)

    it("downloads 200 MB through output and through sink in constant memory", function()
      local dir = sh.tmpdir()
      local script = sh.script(([[
        local http = require "nt3.http"
        local n = 0
        assert(http.request { url = %q, sink = function(chunk) n = n + #chunk end, timeout = 120 })
        assert(http.request { url = %q, output = %q, timeout = 120 })
        local f = assert(io.open(%q, "rb"))
        local size = f:seek("end")
        f:close()
        os.remove(%q)
        for line in io.lines("/proc/self/status") do
          local kb = line:match("^VmHWM:%%s*(%%d+) kB")
          if kb then print(n, size, kb) end
        end
      ]]):format(srv.url .. "/big?bytes=200000000&chunked=1", srv.url .. "/big?bytes=200000000", dir .. "/out",
        dir .. "/out", dir .. "/out"))
      -- under AddressSanitizer freed memory is held in a quarantine (256 MB
      -- by default), which would measure the sanitizer, not nt3
      local asan = os.getenv("ASAN_OPTIONS")
      local out = sh.run({ "run", script }, { env = { ASAN_OPTIONS = (asan and asan .. ":" or "") .. "quarantine_size_mb=4" } })
      assert.are.equal(0, out.code, out.stderr)
      local n, size, kb = out.stdout:match("^(%d+)\t(%d+)\t(%d+)\n$")
      assert.are.equal("200000000", n)
      assert.are.equal("200000000", size)
      assert.is_true(tonumber(kb) < 64 * 1024, "peak RSS " .. kb .. " kB")
    end)
  end)
end)
