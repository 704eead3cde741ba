-- Compression (docs/architecture.md, "The request engine"; issue 13): every
-- request offers the encodings the loaded libcurl decodes, and a body
-- arrives decoded, a hand-set Accept-Encoding included; decompress = false
-- (nt3 api --no-decompress) keeps the server's bytes; the size bound counts
-- decoded bytes, so a small gzip that expands without end fails as
-- too_large in bounded memory. Against the Python test server (which
-- compresses whatever the request asked for) and nginx with gzip on.
local http = require "nt3.http"
local json = require "nt3.json"
local sh = require "helpers.sh"
local server = require "helpers.server"
local nginx = require "helpers.nginx"
local at = require "helpers.apitest"

-- what this libcurl was built to decode, from its -dev package's curl-config
local function features()
  local p = io.popen("curl-config --features")
  local set = {}
  for line in p:lines() do set[line] = true end
  p:close()
  return set
end

local function offered(value)
  local set = {}
  for e in (value or ""):gmatch("[^,%s]+") do set[e] = true end
  return set
end

local GZIP_MAGIC = "\31\139"

describe("compression", function()
  local srv
  lazy_setup(function() srv = server.start() end)
  lazy_teardown(function() if srv then srv.stop() end end)

  local function get(path, req)
    req = req or {}
    req.url = srv.url .. path
    return http.request(req)
  end

  it("offers every encoding libcurl decodes: gzip and deflate, br and zstd where built in", function()
    local res = assert(get("/echo"))
    local want = { gzip = true, deflate = true }
    local f = features()
    if f.brotli then want.br = true end
    if f.zstd then want.zstd = true end
    assert.are.same(want, offered(json.decode(res.body).headers["accept-encoding"]))
  end)

  it("hands over a gzip or deflate body decoded, and reports the encoding the server used", function()
    for _, enc in ipairs { "gzip", "deflate" } do
      local res = assert(get("/compressed?encoding=" .. enc .. "&bytes=300000"))
      assert.are.equal(200, res.status)
      assert.are.equal(enc, res.headers["content-encoding"])
      assert.are.equal(300000, #res.body)
      assert.are.equal(string.rep("x", 300000), res.body)
      -- what came over the wire was the compressed body
      assert.is_true(tonumber(res.headers["content-length"]) < 10000, res.headers["content-length"])
    end
  end)

  it("decodes for a caller who set Accept-Encoding by hand, and sends the caller's value", function()
    local res = assert(get("/compressed?encoding=gzip&bytes=5000&t=hand", { headers = { ["accept-encoding"] = "gzip" } }))
    assert.are.equal(string.rep("x", 5000), res.body)
    local echo = json.decode(assert(get("/echo?t=hand", { headers = { ["Accept-Encoding"] = "gzip" } })).body)
    assert.are.same({ "gzip" }, (function()
      local list = {}
      for _, h in ipairs(echo.header_list) do
        if h[1]:lower() == "accept-encoding" then list[#list + 1] = h[2] end
      end
      return list
    end)())
    -- an empty one asks for no encoding at all
    echo = json.decode(assert(get("/echo?t=empty", { headers = { ["Accept-Encoding"] = "" } })).body)
    assert.are.equal("identity", echo.headers["accept-encoding"])
  end)

  it("streams a decoded body to a file and to a sink", function()
    local path = sh.tmpdir() .. "/out.txt"
    assert(get("/compressed?encoding=gzip&bytes=400000", { output = path }))
    assert.are.equal(string.rep("x", 400000), sh.slurp(path))
    local got = {}
    assert(get("/compressed?encoding=deflate&bytes=400000", { sink = function(chunk) got[#got + 1] = chunk end }))
    assert.are.equal(string.rep("x", 400000), table.concat(got))
  end)

  it("keeps the server's bytes with decompress = false, in memory and in a file", function()
    local res = assert(get("/compressed?encoding=gzip&bytes=100000", { decompress = false }))
    assert.are.equal(GZIP_MAGIC, res.body:sub(1, 2))
    assert.are.equal(tonumber(res.headers["content-length"]), #res.body)
    local path = sh.tmpdir() .. "/out.gz"
    assert(get("/compressed?encoding=gzip&bytes=100000", { decompress = false, output = path }))
    local r = io.popen("gzip -dc " .. sh.quote(path) .. " | wc -c")
    assert.are.equal(100000, tonumber(r:read("l")))
    r:close()
    assert.has_error(function() get("/echo", { decompress = "no" }) end,
      "bad argument #1 to 'request' (field 'decompress' must be a boolean, not string)")
  end)

  it("bounds the decoded size: a small gzip that expands past the cap fails as too_large", function()
    -- 128 MiB of "x" in about 560 kB of gzip; the cap is 16 MiB
    local res, err, code = get("/compressed?encoding=gzip&bytes=134217728")
    assert.is_nil(res)
    assert.are.equal("too_large", code)
    assert.are.equal("response too large (more than 16777216 bytes)", err)
    -- max_size counts decoded bytes too, buffered or streamed
    res, err, code = get("/compressed?encoding=gzip&bytes=5000", { max_size = 4096 })
    assert.is_nil(res)
    assert.are.equal("too_large", code, err)
    local n = 0
    res, err, code = get("/compressed?encoding=deflate&bytes=5000000",
      { max_size = 100000, sink = function(chunk) n = n + #chunk end })
    assert.is_nil(res)
    assert.are.equal("too_large", code, err)
    assert.is_true(n <= 100000, "handed over " .. n)
  end)

  it("stays in bounded memory on a decompression bomb", function()
    -- the peak memory of an nt3 that fetched the bomb, against one that
    -- fetched a small body: holding 128 MiB would take more than 64 MiB more
    local function peak(bytes)
      local r = sh.run({ "run", sh.script(([[
        local http = require "nt3.http"
        local _, _, code = http.request { url = %q }
        local status = io.open("/proc/self/status"):read("a")
        io.write(tostring(code), " ", status:match("VmHWM:%%s*(%%d+)"))
      ]]):format(srv.url .. "/compressed?encoding=gzip&bytes=" .. bytes)) })
      assert.are.equal(0, r.code, r.stderr)
      local code, kb = r.stdout:match("^(%S+) (%d+)$")
      return code, tonumber(kb)
    end
    local small_code, small = peak(1000)
    local bomb_code, bomb = peak(134217728)
    assert.are.equal("nil", small_code)
    assert.are.equal("too_large", bomb_code)
    assert.is_true(bomb - small < 64 * 1024, ("peak %d kB against %d kB"):format(bomb, small))
  end)

  describe("nt3 api", function()
    it("--filter '#data' gives the decoded length of a gzip answer", function()
      local r = at.nt3(srv, { "api", "/compressed?encoding=gzip&bytes=70000", "--filter", "#data" })
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("70000\n", r.stdout)
      -- a hand-set header too
      r = at.nt3(srv, { "api", "/compressed?encoding=gzip&bytes=70000", "-H", "Accept-Encoding: gzip", "--filter", "#data" })
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("70000\n", r.stdout)
    end)

    it("writes the decoded body through a pipe, and the server's bytes with --no-decompress -o", function()
      local r = at.nt3(srv, { "api", "/compressed?encoding=gzip&bytes=70000" })
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal(string.rep("x", 70000), r.stdout)
      local path = sh.tmpdir() .. "/body.gz"
      r = at.nt3(srv, { "api", "/compressed?encoding=gzip&bytes=70000", "--no-decompress", "-o", path })
      assert.are.equal(0, r.code, r.stderr)
      local body = sh.slurp(path)
      assert.are.equal(GZIP_MAGIC, body:sub(1, 2))
      assert.is_true(#body < 70000)
    end)
  end)

  describe("against nginx with gzip on", function()
    local web
    local doc = {}
    for i = 1, 3000 do doc[i] = { id = i, name = "item " .. i, tags = { "a", "b" } } end
    local body = json.encode(doc)
    lazy_setup(function()
      assert(nginx.available(), "nginx is missing: install the nginx package (./setup.sh does)")
      web = nginx.start { http2 = true, gzip = true, files = { ["items.json"] = body } }
    end)
    lazy_teardown(function() if web then web.stop() end end)

    it("gets the decoded body while nginx sent gzip", function()
      local res = assert(http.request { url = web.url .. "/items.json", cafile = web.cafile })
      assert.are.equal(body, res.body)
      assert.are.equal("gzip", res.headers["content-encoding"])
      local logged
      for _ = 1, 100 do
        logged = web.requests()[1]
        if logged then break end
        os.execute("sleep 0.05")
      end
      assert.are.equal("gzip", logged.encoding)
      assert.matches("gzip", logged.accept_encoding)
      -- the bytes nginx sent for the body: a fraction of it
      assert.is_true(logged.body_bytes * 4 < #body, ("%d bytes sent for %d"):format(logged.body_bytes, #body))
    end)
  end)
end)
