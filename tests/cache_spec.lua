-- The HTTP cache of nt3 api --cache and nt3.api's cache option: answered
-- without a request while fresh, revalidated after, RFC 9111's rules for
-- a private cache, one account's entries never seen by another.
local sh = require "helpers.sh"
local server = require "helpers.server"
local at = require "helpers.apitest"
local json = require "nt3.json"

local OTHER = "entri_valid_other_account_99"

describe("the HTTP cache", function()
  local srv
  setup(function() srv = server.start { tls = false } end)
  teardown(function()
    srv.stop()
    sh.cleanup()
  end)

  local n = 0
  local function key()
    n = n + 1
    return "c" .. n
  end

  -- how many requests for /cached?key=K reached the server
  local function served(k)
    local count = 0
    for _, r in ipairs(srv.requests()) do
      if r.path:find("key=" .. k .. "&", 1, true) or r.path:match("key=" .. k .. "$") then count = count + 1 end
    end
    return count
  end

  local function api(home, cache, path, env)
    local e = { XDG_CACHE_HOME = home .. "/cache", NT3_DEBUG = "1" }
    for k, v in pairs(env or {}) do e[k] = v end
    local r = at.nt3(srv, { "api", "--cache", cache, path }, { home = home, env = e })
    r.trace = r.stderr:match("\n%* (cache hit):") or r.stderr:match("\n%* (revalidated %(304%)):")
      or r.stderr:match("\n%* (miss):") or (r.stderr:match("^%* (%S+[^:]*):"))
    return r
  end

  it("answers within the duration from the cache, with no request reaching the server", function()
    local home, k = sh.tmpdir(), key()
    local first = api(home, "1h", "/cached?key=" .. k)
    assert.are.equal(0, first.code, first.stderr)
    local second = api(home, "1h", "/cached?key=" .. k)
    assert.are.equal(0, second.code, second.stderr)
    assert.are.equal(first.stdout, second.stdout)
    assert.are.equal(1, served(k))
    assert.matches("\n?%* cache hit: ", second.stderr)
  end)

  it("revalidates after the duration with If-None-Match and If-Modified-Since; a 304 refreshes the entry", function()
    local home, k = sh.tmpdir(), key()
    local lm = "Wed, 21 Oct 2026 07:28:00 GMT"
    local path = ("/cached?key=%s&etag=%%22v1%%22&lm=%s"):format(k, lm:gsub(" ", "%%20"):gsub(",", "%%2C"))
    local first = api(home, "0", path)
    assert.are.equal(json.encode({ key = k, n = 1 }), json.encode(json.decode(first.stdout)))
    local again = api(home, "0", path)
    assert.are.equal(0, again.code, again.stderr)
    assert.are.equal(first.stdout, again.stdout)
    assert.matches("%* revalidated %(304%): ", again.stderr)
    local reqs = at.requests_to(srv, "/cached?key=" .. k .. "&")
    assert.are.equal(2, #reqs)
    assert.are.equal('"v1"', at.header(reqs[2], "If-None-Match"))
    assert.are.equal(lm, at.header(reqs[2], "If-Modified-Since"))
    -- refreshed: within a duration now, no request at all
    local fresh = api(home, "1h", path)
    assert.matches("%* cache hit: ", fresh.stderr)
    assert.are.equal(2, served(k))
  end)

  -- the one entry file of a home's cache
  local function entry_file(home)
    local p = io.popen("ls " .. sh.quote(home) .. "/cache/nt3/*/*")
    local path = p:read("l")
    p:close()
    return path
  end

  it("refreshes an entry a 304 confirms in place: the same file, only its time new", function()
    local home, k = sh.tmpdir(), key()
    local path = "/cached?key=" .. k .. "&etag=%22v1%22"
    local first = api(home, "1h", path)
    assert.are.equal(0, first.code, first.stderr)
    local file = entry_file(home)
    local fs = require "nt3.fs"
    local before = fs.lstat(file)
    local text = sh.slurp(file)
    -- stored two hours ago: past the hour asked
    assert.is_true(os.execute("touch -h -d '2 hours ago' " .. sh.quote(file)))
    local again = api(home, "1h", path)
    assert.are.equal(first.stdout, again.stdout)
    assert.matches("%* revalidated %(304%): ", again.stderr)
    local after = fs.lstat(file)
    assert.are.equal(before.ino, after.ino)
    assert.are.equal(text, sh.slurp(file))
    assert.is_true(after.mtime >= os.time() - 60)
    assert.are.equal(384, after.mode)
    local fresh = api(home, "1h", path)
    assert.matches("%* cache hit: ", fresh.stderr)
    assert.are.equal(2, served(k))
  end)

  it("stores the header lines a 304 brings anew: a new Cache-Control counts from then on", function()
    local home, k = sh.tmpdir(), key()
    local path = "/cached?key=" .. k .. "&etag=e&cc304=max-age%3D0"
    api(home, "0", path)
    local ino = require("nt3.fs").lstat(entry_file(home)).ino
    local again = api(home, "0", path)
    assert.matches("%* revalidated %(304%): ", again.stderr)
    assert.are_not.equal(ino, require("nt3.fs").lstat(entry_file(home)).ino)
    -- max-age=0, from the 304: revalidated whatever the duration asked
    local r = api(home, "1h", path)
    assert.matches("%* revalidated %(304%): ", r.stderr)
    assert.are.equal(3, served(k))
  end)

  it("never stores a response with Cache-Control: no-store", function()
    local home, k = sh.tmpdir(), key()
    api(home, "1h", "/cached?key=" .. k .. "&cc=no-store")
    local r = api(home, "1h", "/cached?key=" .. k .. "&cc=no-store")
    assert.matches("%* miss: ", r.stderr)
    assert.are.equal(2, served(k))
  end)

  it("revalidates every time with max-age=0 or no-cache, whatever the duration asked", function()
    local home, k = sh.tmpdir(), key()
    api(home, "1h", "/cached?key=" .. k .. "&etag=e&cc=max-age%3D0")
    local r = api(home, "1h", "/cached?key=" .. k .. "&etag=e&cc=max-age%3D0")
    assert.matches("%* revalidated %(304%): ", r.stderr)
    assert.are.equal(2, served(k))
  end)

  it("never stores a 401, and never answers a later request with one", function()
    local home, k = sh.tmpdir(), key()
    local bad = api(home, "1h", "/cached?key=" .. k .. "&auth=1", { NT3_API_TOKEN = "entri_wrong_token_000000" })
    assert.are.equal(1, bad.code)
    local again = api(home, "1h", "/cached?key=" .. k .. "&auth=1", { NT3_API_TOKEN = "entri_wrong_token_000000" })
    assert.are.equal(1, again.code)
    assert.are.equal(2, served(k))
    local info = at.nt3(srv, { "cache", "info", "--json" }, { home = home, env = { XDG_CACHE_HOME = home .. "/cache" } })
    assert.are.equal(0, math.tointeger(json.decode(info.stdout).entries))
  end)

  it("never serves one account's entry to another token, and keeps no token in the files", function()
    local home, k = sh.tmpdir(), key()
    api(home, "1h", "/cached?key=" .. k)
    local other = api(home, "1h", "/cached?key=" .. k, { NT3_API_TOKEN = OTHER })
    assert.matches("%* miss: ", other.stderr)
    assert.are.equal(2, served(k))
    local listing = io.popen("cat " .. sh.quote(home) .. "/cache/nt3/*/*"):read("a")
    assert.is_nil(listing:find(at.TOKEN, 1, true))
    assert.is_nil(listing:find(OTHER, 1, true))
  end)

  it("keeps its files 0600 in 0700 directories, whatever the umask", function()
    local home, k = sh.tmpdir(), key()
    local r = at.nt3(srv, { "api", "--cache", "1h", "/cached?key=" .. k },
      { home = home, env = { XDG_CACHE_HOME = home .. "/cache" }, umask = "000" })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("700", sh.mode(home .. "/cache/nt3"))
    local files = io.popen("ls " .. sh.quote(home) .. "/cache/nt3/*/*"):read("a")
    for f in files:gmatch("[^\n]+") do assert.are.equal("600", sh.mode(f)) end
    assert.is_not_nil(files:find("/", 1, true))
  end)

  it("never stores an answer with Vary: *, nor one to a request with headers of the caller's", function()
    local home, k, h = sh.tmpdir(), key(), key()
    api(home, "1h", "/cached?key=" .. k .. "&vary=%2A")
    assert.matches("%* miss: ", api(home, "1h", "/cached?key=" .. k .. "&vary=%2A").stderr)
    assert.are.equal(2, served(k))
    local env = { XDG_CACHE_HOME = home .. "/cache" }
    for _ = 1, 2 do
      local r = at.nt3(srv, { "api", "--cache", "1h", "-H", "X-Trace: 1", "/cached?key=" .. h }, { home = home, env = env })
      assert.are.equal(0, r.code, r.stderr)
    end
    assert.are.equal(2, served(h))
  end)

  it("stores a 404 only when the caller allows it (cache_404)", function()
    local home, k, a = sh.tmpdir(), key(), key()
    local script = [[
      local api = require("nt3").api
      local _, _, status = api.get(arg[1], nil, { cache = 3600, cache_404 = arg[2] == "yes" })
      print(status)]]
    local env = { XDG_CACHE_HOME = home .. "/cache" }
    local function run(path, allow)
      return at.nt3(srv, { "run", sh.script(script), path, allow }, { home = home, env = env }).stdout
    end
    assert.are.equal("404\n", run("/cached?key=" .. k .. "&status=404", "no"))
    assert.are.equal("404\n", run("/cached?key=" .. k .. "&status=404", "no"))
    assert.are.equal(2, served(k))
    assert.are.equal("404\n", run("/cached?key=" .. a .. "&status=404", "yes"))
    assert.are.equal("404\n", run("/cached?key=" .. a .. "&status=404", "yes"))
    assert.are.equal(1, served(a))
  end)

  it("keeps under its size bound by removing the oldest entries first", function()
    local home = sh.tmpdir()
    local keys = { key(), key(), key(), key() }
    local script = ([[
      local cache = require "nt3.api.cache"
      cache.MAX_BYTES = 1500          -- about two entries of /cached
      local api = require("nt3").api
      for _, k in ipairs({ %q, %q, %q, %q }) do assert(api.get("/cached", { key = k }, { cache = 3600 })) end
      local info = cache.info()
      print(info.entries, info.bytes <= 1500)]]):format(table.unpack(keys))
    local out = at.script(srv, script, { home = home, env = { XDG_CACHE_HOME = home .. "/cache" } })
    assert.are.equal("", out.stderr)
    local entries, within = out.stdout:match("^(%d+)\t(%a+)\n$")
    assert.is_true(tonumber(entries) < 4, out.stdout)
    assert.are.equal("true", within)
    -- the newest is still there, the oldest is gone
    local again = [[
      local api = require("nt3").api
      assert(api.get("/cached", { key = arg[1] }, { cache = 3600 }))]]
    at.nt3(srv, { "run", sh.script(again), keys[4] }, { home = home, env = { XDG_CACHE_HOME = home .. "/cache" } })
    at.nt3(srv, { "run", sh.script(again), keys[1] }, { home = home, env = { XDG_CACHE_HOME = home .. "/cache" } })
    assert.are.equal(1, served(keys[4]))
    assert.are.equal(2, served(keys[1]))
  end)

  it("takes a corrupt entry as a miss, never as an error", function()
    local home, k = sh.tmpdir(), key()
    api(home, "1h", "/cached?key=" .. k)
    local files = io.popen("ls " .. sh.quote(home) .. "/cache/nt3/*/*"):read("a")
    for f in files:gmatch("[^\n]+") do
      local text = sh.slurp(f)
      sh.spit(f, text:sub(1, #text - 3) .. "xyz")
    end
    local r = api(home, "1h", "/cached?key=" .. k)
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("%* miss: ", r.stderr)
    assert.are.equal(2, served(k))
  end)

  it("takes an entry of an older format as a miss, and writes it again in the current one", function()
    local home, k = sh.tmpdir(), key()
    api(home, "1h", "/cached?key=" .. k)
    local files = io.popen("ls " .. sh.quote(home) .. "/cache/nt3/*/*"):read("a")
    local file = assert(files:match("[^\n]+"))
    local text = sh.slurp(file)
    local nl = text:find("\n", 1, true)
    local meta = json.decode(text:sub(1, nl - 1))
    local current = meta.format
    meta.format = current - 1
    sh.spit(file, json.encode(meta) .. text:sub(nl))
    local r = api(home, "1h", "/cached?key=" .. k)
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("%* miss: ", r.stderr)
    assert.are.equal(2, served(k))
    local again = sh.slurp(file)
    assert.are.equal(current, json.decode(again:sub(1, again:find("\n", 1, true) - 1)).format)
    assert.matches("%* cache hit: ", api(home, "1h", "/cached?key=" .. k).stderr)
    assert.are.equal(2, served(k))
  end)

  it("clears one profile's entries on logout, and all with nt3 cache clear", function()
    local home, k = sh.tmpdir(), key()
    local env = { XDG_CACHE_HOME = home .. "/cache", NT3_API_TOKEN = false }
    assert.are.equal(0, sh.run({ "login", "--no-verify", "-t", at.TOKEN, "--api-url", srv.url },
      { home = home, env = env }).code)
    local first = sh.run({ "api", "--cache", "1h", "/cached?key=" .. k }, { home = home, env = env })
    assert.are.equal(0, first.code, first.stderr)
    assert.are.equal(0, sh.run({ "logout" }, { home = home, env = env }).code)
    local info = sh.run({ "cache", "info", "--json" }, { home = home, env = env })
    assert.are.equal(0, math.tointeger(json.decode(info.stdout).entries))
    api(home, "1h", "/cached?key=" .. k)
    local cleared = sh.run({ "cache", "clear" }, { home = home, env = env })
    assert.are.equal("Removed 1 cached response\n", cleared.stdout)
  end)

  it("caches each page of api.pages", function()
    local home = sh.tmpdir()
    local script = [[
      local api = require("nt3").api
      local count = 0
      for _ in api.pages("/list?per=2&total=6", { cache = 3600 }) do count = count + 1 end
      print(count)]]
    local env = { XDG_CACHE_HOME = home .. "/cache" }
    local before = #at.requests_to(srv, "/list?")
    assert.are.equal("6\n", at.script(srv, script, { home = home, env = env }).stdout)
    assert.are.equal("6\n", at.script(srv, script, { home = home, env = env }).stdout)
    assert.are.equal(before + 3, #at.requests_to(srv, "/list?"))
  end)

  describe("api.pages revalidating cached pages (the look-ahead)", function()
    -- a walk of /list (etag=1: each page 304 once cached) -> its items' n
    -- joined, or the error's kind; cache = 0, so each page is revalidated
    local function walk(home, query, opts)
      local script = ([[
        local api = require("nt3").api
        local seen = {}
        local ok, err = pcall(function()
          for item in api.pages(%q, { cache = 0%s }) do seen[#seen + 1] = math.tointeger(item.n) end
        end)
        print(ok and table.concat(seen, ",") or err.kind)]]):format("/list?" .. query, opts or "")
      local r = at.script(srv, script, { home = home, env = { XDG_CACHE_HOME = home .. "/cache" } })
      assert.are.equal(0, r.code, r.stderr)
      return (r.stdout:gsub("\n$", ""))
    end
    -- the requests of page `page` of the list with key k (only the
    -- conditional ones when told)
    local function requests(k, page, conditional)
      local count = 0
      for _, r in ipairs(at.requests_to(srv, "/list?")) do
        if r.path:match("[?&]k=(%w+)") == k and tonumber(r.path:match("[?&]page=(%d+)") or 1) == page
          and (not conditional or at.header(r, "If-None-Match")) then
          count = count + 1
        end
      end
      return count
    end

    it("sends the next cached page's conditional GET before the current page's answer", function()
      -- page 1's 304 waits for page 2's conditional request; without it, it answers []
      local home, query = sh.tmpdir(), "per=2&total=6&etag=1&ahead=1&k=" .. key()
      assert.are.equal("1,2,3,4,5,6", walk(home, query))
      assert.are.equal("1,2,3,4,5,6", walk(home, query))
    end)

    it("discards what it sent past a page that changed, and follows the new next link", function()
      -- on revalidation page 2 leads to page 4: page 3, sent ahead, is not listed
      local home, query = sh.tmpdir(), "per=2&total=10&etag=1&change=2&k=" .. key()
      assert.are.equal("1,2,3,4,5,6,7,8,9,10", walk(home, query))
      assert.are.equal("1,2,3,4,7,8,9,10", walk(home, query))
    end)

    it("sends nothing ahead past max_pages", function()
      local home, k = sh.tmpdir(), key()
      local query = "per=2&total=10&etag=1&k=" .. k
      assert.are.equal("1,2,3,4,5,6,7,8,9,10", walk(home, query))
      assert.are.equal("too_many_pages", walk(home, query, ", max_pages = 2"))
      assert.are.equal(1, requests(k, 2, true))
      assert.are.equal(0, requests(k, 3, true))
    end)

    it("cancels what it sent ahead when the loop is left", function()
      -- page 2's conditional request is held by the server until the client drops it
      local home, k = sh.tmpdir(), key()
      local query = "per=2&total=6&etag=1&hold=" .. k .. "&k=" .. k
      assert.are.equal("1,2,3,4,5,6", walk(home, query))
      local script = ([[
        local api, task = require("nt3").api, require("nt3.task")
        local function state() return api.get("/_hold", { key = %q }).state end
        for _ in api.pages(%q, { cache = 0 }) do
          -- page 2's request, sent ahead, is held
          task.poll({ every = 0.02, timeout = 20 }, function() return state() == "open" end)
          break
        end
        print(task.poll({ every = 0.02, timeout = 20 }, function() return state() ~= "open" and state() end))]])
        :format(k, "/list?" .. query)
      local r = at.script(srv, script, { home = home, env = { XDG_CACHE_HOME = home .. "/cache" } })
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("dropped\n", r.stdout)
    end)

    it("cancels the page it waits for when the loop is left by an error", function()
      -- page 1's conditional request is held; task.timeout ends the loop while it waits
      local home, k = sh.tmpdir(), key()
      local query = "per=2&total=6&etag=1&held=1&hold=" .. k .. "&k=" .. k
      assert.are.equal("1,2,3,4,5,6", walk(home, query))
      local script = ([[
        local api, task = require("nt3").api, require("nt3.task")
        local function state() return api.get("/_hold", { key = %q }).state end
        print(task.timeout(0.5, function()
          for _ in api.pages(%q, { cache = 0 }) do end
        end))
        print(task.poll({ every = 0.02, timeout = 20 }, function() return state() ~= "open" and state() end))]])
        :format(k, "/list?" .. query)
      local r = at.script(srv, script, { home = home, env = { XDG_CACHE_HOME = home .. "/cache" } })
      assert.are.equal(0, r.code, r.stderr)
      assert.matches("\ndropped\n$", r.stdout)
    end)

    it("sends nothing ahead to another origin", function()
      local home, k = sh.tmpdir(), key()
      local query = "per=2&total=6&etag=1&next=cross&k=" .. k
      assert.are.equal("cross_origin", walk(home, query))
      assert.are.equal("cross_origin", walk(home, query))
      assert.are.equal(1, requests(k, 1, true))
      assert.are.equal(0, requests(k, 2))
    end)
  end)

  it("leaves no torn entry when processes write the same entry at once", function()
    local home, k = sh.tmpdir(), key()
    local cmd = ("%s api --cache 0 '/cached?key=%s' >/dev/null"):format(sh.quote(sh.bin), k)
    local env = at.env(srv, { XDG_CACHE_HOME = home .. "/cache" })
    local loop = "for i in 1 2 3 4 5 6 7 8; do " .. cmd .. " & done; wait"
    local r = sh.run({ "-c", loop }, { home = home, env = env, bin = "/bin/sh" })
    assert.are.equal(0, r.code, r.stderr)
    local hit = api(home, "1h", "/cached?key=" .. k)
    assert.matches("%* cache hit: ", hit.stderr)
    local entries = io.popen("ls -a " .. sh.quote(home) .. "/cache/nt3/*/"):read("a")
    assert.is_nil(entries:find(".tmp-", 1, true))
  end)

  it("answers all the same when the entry cannot be written (a file size limit, RLIMIT_FSIZE)", function()
    local home, k = sh.tmpdir(), key()
    -- ulimit -f 0: every write to a regular file fails (EFBIG, SIGXFSZ ignored)
    -- (output through a pipe, which the limit does not bound)
    local cmd = ("trap '' XFSZ; (ulimit -f 0; exec %s api --cache 1h '/cached?key=%s' 2>&1) | cat"):format(
      sh.quote(sh.bin), k)
    local r = sh.run({ "-c", cmd }, { home = home, bin = "/bin/sh",
      env = at.env(srv, { XDG_CACHE_HOME = home .. "/cache", NT3_DEBUG = "1" }) })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches('"key": "' .. k .. '"', r.stdout, 1, true)
    assert.matches("%* cache not written %(.*%): ", r.stdout)
    local entries = io.popen("ls -a " .. sh.quote(home) .. "/cache/nt3/*/"):read("a")
    assert.are.equal(".\n..\n", entries)
  end)
end)
