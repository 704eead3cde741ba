-- nt3.api and `nt3 api`: authenticated requests to the active API URL,
-- proved against the loopback test server.
local sh = require "helpers.sh"
local server = require "helpers.server"
local at = require "helpers.apitest"
local pty = require "helpers.pty"

local VERSION = require("nt3").version

local function enc(bytes)
  return (bytes:gsub("[^%w]", function(c) return ("%%%02X"):format(c:byte()) end))
end

-- A path of the test server's /raw, which answers exactly these bytes
local function raw(o)
  local q = {}
  for _, k in ipairs { "status", "reason", "ctype", "body" } do
    if o[k] then q[#q + 1] = k .. "=" .. enc(o[k]) end
  end
  for _, h in ipairs(o.h or {}) do q[#q + 1] = "h=" .. enc(h) end
  return "/raw?" .. table.concat(q, "&")
end

describe("nt3.api", function()
  local srv, other
  setup(function()
    srv = server.start { tls = false }
    other = server.start { tls = false }
  end)
  teardown(function()
    srv.stop()
    other.stop()
    sh.cleanup()
  end)

  it("sends the bearer token and User-Agent nt3/<version> to <api_url><path> and decodes the JSON answer", function()
    local out = at.script(srv, [[
      local api = require("nt3").api
      local me, res = api.get("/api/v1/me")
      print(me.email, me.name, res.status)]])
    assert.are.equal("", out.stderr)
    assert.are.equal("dev@example.com\tDev\t200\n", out.stdout)
    local r = at.requests_to(srv, "/api/v1/me")
    local last = r[#r]
    assert.are.equal("GET", last.method)
    assert.are.equal("Bearer " .. at.TOKEN, at.header(last, "authorization"))
    assert.are.equal("nt3/" .. VERSION, at.header(last, "user-agent"))
  end)

  it("takes headers as {name, value} pairs too, each sent in order and replacing nt3's own", function()
    local out = at.script(srv, [[
      local api = require "nt3.api"
      local echo, err = api.get("/api/v1/echo", nil, { headers = {
        { "X-Pair", "1" }, { "X-Pair", "2" }, { "user-agent", "my-script/1" } } })
      print(echo and echo.method or err)]])
    assert.are.equal("", out.stderr)
    assert.are.equal("GET\n", out.stdout)
    local r = at.requests_to(srv, "/api/v1/echo")
    local pairs_sent, agents = {}, {}
    for _, h in ipairs(r[#r].header_list) do
      if h[1]:lower() == "x-pair" then pairs_sent[#pairs_sent + 1] = h[2] end
      if h[1]:lower() == "user-agent" then agents[#agents + 1] = h[2] end
    end
    assert.are.same({ "1", "2" }, pairs_sent)
    assert.are.same({ "my-script/1" }, agents)
  end)

  it("encodes a table body as JSON, with Content-Type application/json", function()
    local out = at.script(srv, [[
      local api = require "nt3.api"
      local echo = api.post("/api/v1/echo", { name = "x", count = 3, tags = { "a", "b" } })
      local json = require "nt3.json"
      print(echo.method, echo.headers["content-type"])
      print(json.encode(json.decode(echo.body)))]])
    assert.are.equal("", out.stderr)
    local method_line, body_line = out.stdout:match("^([^\n]*)\n([^\n]*)\n$")
    assert.are.equal("POST\tapplication/json", method_line)
    local body = at.decode(body_line)
    assert.are.same({ name = "x", count = 3, tags = { "a", "b" } }, body)
  end)

  it("offers put, patch and delete, and request{} for any method", function()
    local out = at.script(srv, [[
      local api = require "nt3.api"
      print(api.put("/api/v1/echo", "raw text").method)
      print(api.patch("/api/v1/echo", { a = 1 }).method)
      print(api.delete("/api/v1/echo").method)
      print(api.request { method = "options", path = "/api/v1/echo" }.method)]])
    assert.are.equal("", out.stderr)
    assert.are.equal("PUT\nPATCH\nDELETE\nOPTIONS\n", out.stdout)
  end)

  it("sends a string body as it is", function()
    local out = at.script(srv, [[print(require("nt3.api").put("/api/v1/echo", "a=b&c").body)]])
    assert.are.equal("a=b&c\n", out.stdout)
  end)

  it("turns a table given to get into the query string", function()
    local out = at.script(srv, [[
      local page = require("nt3.api").get("/api/v1/items", { page = 2, per_page = 2 })
      print(#page.items, page.items[1].id)
      -- a number decoded from JSON goes back into a query as it came
      local next_page = require("nt3.api").get("/api/v1/items", { page = page.next_page, per_page = 2 })
      print(next_page.items[1].id)]])
    assert.are.equal("", out.stderr)
    assert.are.equal("2\titem_3\nitem_5\n", out.stdout)
  end)

  it("returns nil, the server's message and the status for HTTP >= 400", function()
    local out = at.script(srv, [[
      local api = require "nt3.api"
      local v, msg, status, res = api.get("/status/404")
      print(v, msg, status, res.status)
      print(api.get("/status/500"))]])
    assert.are.equal("", out.stderr)
    assert.are.equal("nil\tstatus 404\t404\t404\n", out.stdout:match("^[^\n]*\n"))
    assert.truthy(out.stdout:find("\nnil\tstatus 500\t500\t", 1, true), out.stdout)
  end)

  it("reports a rejected token with the server's message and 401", function()
    local out = at.script(srv, [[print(require("nt3.api").get("/api/v1/me"))]],
      { env = { NT3_API_TOKEN = "entri_revoked" } })
    assert.truthy(out.stdout:match("^nil\tinvalid token\t401\t"), out.stdout)
  end)

  it("says 'not logged in' when there is no token", function()
    local home = sh.tmpdir()
    local out = sh.run({ "run", sh.script([[print(require("nt3.api").get("/api/v1/me"))]]) },
      { home = home, env = { NT3_API_URL = srv.url } })
    assert.are.equal(0, out.code)
    assert.truthy(out.stdout:match("^nil\t[^\n]*not logged in[^\n]*\tnot_logged_in\n$"), out.stdout)
  end)

  it("resolves the token and API URL as status does: a local file's URL never carries the global token", function()
    local home, cwd = sh.tmpdir(), sh.tmpdir()
    os.execute(("mkdir -m 700 %s/.nt3"):format(sh.quote(home)))
    sh.spit(home .. "/.nt3/config.json", ('{"token":"%s","api_url":"%s"}'):format(at.TOKEN, srv.url))
    os.execute(("chmod 600 %s/.nt3/config.json"):format(sh.quote(home)))
    -- a cloned repository's .nt3.local.json without a token must not redirect the global one
    sh.spit(cwd .. "/.nt3.local.json", ('{"api_url":"%s"}'):format(other.url))
    os.execute(("chmod 600 %s/.nt3.local.json"):format(sh.quote(cwd)))
    local before = #other.requests()
    local out = sh.run({ "run", sh.script([[print(require("nt3.api").get("/api/v1/me").email)]]) },
      { home = home, cwd = cwd })
    assert.are.equal("", out.stderr)
    assert.are.equal("dev@example.com\n", out.stdout)
    assert.are.equal(before, #other.requests())
  end)

  it("refuses a full URL or a path without a leading /, so the token stays with its origin", function()
    local out = at.script(srv, [[
      local api = require "nt3.api"
      print(pcall(api.get, "http://127.0.0.1:]] .. other.port .. [[/api/v1/echo"))
      print(pcall(api.get, "@evil.example/x"))]])
    assert.truthy(out.stdout:match("^false\t[^\n]*sends the token only to the API URL"), out.stdout)
    assert.truthy(out.stdout:find("\nfalse\t[^\n]*must start with /"), out.stdout)
    assert.are.equal(0, #other.requests())
  end)

  it("keeps the token on a same-origin redirect and drops it on a redirect to another origin", function()
    local out = at.script(srv, [[
      local api = require "nt3.api"
      local same = api.get("/redirect", { to = "/api/v1/echo?hop=same" })
      print(same.headers.authorization ~= nil)
      local cross = api.get("/redirect", { to = "]] .. other.url .. [[/api/v1/echo?hop=cross" })
      print(cross.headers.authorization == nil, cross.query.hop)]])
    assert.are.equal("", out.stderr)
    assert.are.equal("true\ntrue\tcross\n", out.stdout)
    local got = at.requests_to(other, "/api/v1/echo")
    assert.are.equal(1, #got)
    assert.is_nil(at.header(got[1], "authorization"))
  end)

  it("gives up on a stalled server after stall_timeout, with a message", function()
    -- retries = 0: each retry would only stall once more (retries have specs of their own)
    local out = at.script(srv, [[print(require("nt3.api").get("/stall", { seconds = 10 }, { stall_timeout = 1, retries = 0 }))]])
    assert.truthy(out.stdout:match("^nil\t[^\n]+\tnetwork\n$"), out.stdout)
  end)

  it("refuses a response larger than max_size", function()
    local out = at.script(srv, [[print(require("nt3.api").get("/big", { bytes = 5000 }, { max_size = 1000 }))]])
    assert.truthy(out.stdout:match("^nil\t[^\n]*too large[^\n]*\tnetwork\n$"), out.stdout)
  end)

  it("returns the body undecoded with raw = true, and text bodies as text", function()
    local out = at.script(srv, [[
      local api = require "nt3.api"
      print(type(api.get("/api/v1/me", nil, { raw = true })))
      print(api.get("/big", { bytes = 3 }))]])
    assert.truthy(out.stdout:match("^string\nxxx\ttable: "), out.stdout)
  end)
end)

describe("nt3 api", function()
  local srv, other
  setup(function()
    srv = server.start { tls = false }
    other = server.start { tls = false }
  end)
  teardown(function()
    srv.stop()
    other.stop()
    sh.cleanup()
  end)

  local function last_echo()
    local r = at.requests_to(srv, "/api/v1/echo")
    return r[#r]
  end

  it("writes the body through a pipe exactly as received: no decoding, nothing added", function()
    local out = at.nt3(srv, { "api", "/api/v1/me" })
    assert.are.equal("", out.stderr)
    assert.are.equal(0, out.code)
    assert.are.equal('{"id": "u_1", "email": "dev@example.com", "name": "Dev"}', out.stdout)
  end)

  -- `nt3 api ARGS | READER > out` in bash: nt3's exit status and stderr
  local function piped(args, reader, out, shell_prefix)
    local words = {}
    for _, a in ipairs(args) do words[#words + 1] = sh.quote(a) end
    local cmd = ('%s"$NT3_BIN" %s 2>%s | %s > %s; echo "${PIPESTATUS[0]}"'):format(shell_prefix or "",
      table.concat(words, " "), sh.quote(out .. ".err"), reader, sh.quote(out))
    local r = sh.run({ "-c", cmd }, { bin = "/bin/bash", env = at.env(srv) })
    assert.are.equal(0, r.code, r.stderr)
    local f = assert(io.open(out .. ".err", "rb"))
    local err = f:read("a")
    f:close()
    return tonumber(r.stdout), err
  end

  it("streams a 100 MB body byte for byte into a pipe, to a reader that lets it fill, and to -o", function()
    local n = 100 * 1000 * 1000
    local path = "/big?pattern=1&bytes=" .. n
    local dir = sh.tmpdir()
    for i, reader in ipairs { "cat", "{ sleep 1; dd bs=1000 status=none; }" } do
      local code, err = piped({ "api", path }, reader, dir .. "/out" .. i)
      assert.are.equal("", err)
      assert.are.equal(0, code)
      assert(server.same_pattern(dir .. "/out" .. i, n))
      os.remove(dir .. "/out" .. i)
    end
    local out = at.nt3(srv, { "api", path, "-o", dir .. "/file" })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal("", out.stdout)
    assert(server.same_pattern(dir .. "/file", n))
  end)

  it("ends at a closed pipe as cat does (SIGPIPE, nothing said); with SIGPIPE ignored, exit 1 and one line", function()
    local dir = sh.tmpdir()
    local args = { "api", "/big?bytes=50000000" }
    local code, err = piped(args, "head -c 10", dir .. "/out")
    assert.are.equal(128 + 13, code) -- killed by SIGPIPE, as the shell reports it
    assert.are.equal("", err)
    assert.are.equal("xxxxxxxxxx", sh.slurp(dir .. "/out"))
    code, err = piped(args, "head -c 10", dir .. "/out", "trap '' PIPE; ")
    assert.are.equal(1, code)
    assert.are.equal("nt3: cannot write to standard output: Broken pipe\n", err)
  end)

  it("shows in its help a page of items fetched as a GET with the fields as the query string", function()
    local help = sh.run({ "api", "--help" }).stdout
    local example = assert(help:match("\n  nt3 (api /api/v1/items [^\n]*page=2[^\n]*)\n"), help)
    local args = {}
    for w in example:gmatch("%S+") do args[#args + 1] = w end
    local out = at.nt3(srv, args)
    assert.are.equal(0, out.code, out.stderr)
    local r = at.requests_to(srv, "/api/v1/items")
    r = r[#r]
    assert.are.equal("GET", r.method)
    assert.are.equal("/api/v1/items?page=2&per_page=50", r.path)
    assert.are.equal("table", type(at.decode(out.stdout).items))
  end)

  it("pretty-prints JSON when stdout is a terminal", function()
    local r = pty.run({ "api", "/api/v1/me" }, { env = at.env(srv) })
    assert.are.equal(0, r.code)
    local text = r.output:gsub("\r\n", "\n")
    -- in the server's key order (id, email, name), not sorted
    assert.are.equal('{\n  "id": "u_1",\n  "email": "dev@example.com",\n  "name": "Dev"\n}\n', text)
  end)

  it("accepts the path without its leading /, or as a full URL under the API URL", function()
    assert.truthy(at.nt3(srv, { "api", "api/v1/me" }).stdout:find("dev@example.com", 1, true))
    assert.truthy(at.nt3(srv, { "api", srv.url .. "/api/v1/me" }).stdout:find("dev@example.com", 1, true))
  end)

  it("refuses a full URL to another origin without sending anything there", function()
    local out = at.nt3(srv, { "api", other.url .. "/api/v1/echo" })
    assert.are.equal(1, out.code)
    assert.truthy(out.stderr:match("^nt3: refusing to send the token to "), out.stderr)
    assert.are.equal(0, #other.requests())
  end)

  it("refuses a full URL that merely starts with the API URL's text: another port, a longer host", function()
    local cases = {
      { url = srv.url .. "0/api/v1/me", api = srv.url },                       -- :<port>0
      { url = "https://app.nt3.io.evil.com/api/v1/me", api = "https://app.nt3.io" },
      { url = "https://app.nt3.io@evil.com/api/v1/me", api = "https://app.nt3.io" },
    }
    for _, case in ipairs(cases) do
      local out = sh.run({ "api", case.url }, { env = { NT3_API_TOKEN = at.TOKEN, NT3_API_URL = case.api } })
      assert.are.equal(1, out.code, case.url)
      assert.are.equal(("nt3: refusing to send the token to %s: it is not under the API URL %s\n")
        :format(case.url, case.api), out.stderr)
    end
  end)

  it("uses the method given with -X/--method", function()
    for _, argv in ipairs({ { "-X", "DELETE" }, { "--method", "delete" }, { "--method=DELETE" } }) do
      local args = { "api", "/api/v1/echo" }
      for _, a in ipairs(argv) do args[#args + 1] = a end
      local out = at.nt3(srv, args)
      assert.are.equal(0, out.code, out.stderr)
      assert.are.equal("DELETE", at.decode(out.stdout).method)
    end
  end)

  it("refuses an unknown method with a usage error", function()
    local out = at.nt3(srv, { "api", "-X", "FETCH", "/api/v1/echo" })
    assert.are.equal(2, out.code)
    assert.truthy(out.stderr:match('^nt3: unsupported method "FETCH"'), out.stderr)
  end)

  it("adds headers given with -H/--header", function()
    local out = at.nt3(srv, { "api", "/api/v1/echo", "-H", "X-One: 1", "--header", "x-two:two words" })
    assert.are.equal(0, out.code, out.stderr)
    local echo = at.decode(out.stdout)
    assert.are.equal("1", echo.headers["x-one"])
    assert.are.equal("two words", echo.headers["x-two"])
  end)

  it("sends a header given more than once with -H as separate lines, in the order given", function()
    local out = at.nt3(srv, { "api", "/api/v1/echo", "-H", "X-Tag: a", "-H", "X-Other: o", "-H", "X-Tag: b",
      "-H", "x-tag: c, d" })
    assert.are.equal(0, out.code, out.stderr)
    local lines = {}
    for _, h in ipairs(last_echo().header_list) do
      if h[1]:lower() == "x-tag" then lines[#lines + 1] = h[1] .. ": " .. h[2] end
    end
    assert.are.same({ "X-Tag: a", "X-Tag: b", "X-Tag: c, d" }, lines)
  end)

  it("replaces nt3's own header with every -H line of that name", function()
    local out = at.nt3(srv, { "api", "/api/v1/echo", "-H", "accept: text/plain", "-H", "Accept: text/csv" })
    assert.are.equal(0, out.code, out.stderr)
    local lines = {}
    for _, h in ipairs(last_echo().header_list) do
      if h[1]:lower() == "accept" then lines[#lines + 1] = h[2] end
    end
    assert.are.same({ "text/plain", "text/csv" }, lines)
  end)

  it("sends -f fields as JSON strings and -F fields typed, in a POST by default", function()
    local dir = sh.tmpdir()
    sh.spit(dir .. "/note.txt", "from a file")
    local out = at.nt3(srv, { "api", "/api/v1/echo", "-f", "n=5", "-f", "t=true",
      "-F", "count=5", "-F", "ratio=0.5", "-F", "on=true", "-F", "off=false", "-F", "none=null",
      "-F", "word=hello", "-F", "note=@" .. dir .. "/note.txt" })
    assert.are.equal(0, out.code, out.stderr)
    local echo = at.decode(out.stdout)
    assert.are.equal("POST", echo.method)
    assert.are.equal("application/json", echo.headers["content-type"])
    local body = at.decode(echo.body)
    assert.are.equal("5", body.n)
    assert.are.equal("true", body.t)
    assert.are.equal(5, body.count)
    assert.are.equal(0.5, body.ratio)
    assert.are.equal(true, body.on)
    assert.are.equal(false, body.off)
    assert.are.equal(require("nt3.json").null, body.none)
    assert.are.equal("hello", body.word)
    assert.are.equal("from a file", body.note)
    -- the numbers really are JSON numbers, not strings
    assert.truthy(echo.body:find('"count":5', 1, true), echo.body)
  end)

  it("reads -F key=@- from standard input", function()
    local out = at.nt3(srv, { "api", "/api/v1/echo", "-F", "text=@-" }, { stdin = "piped" })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal("piped", at.decode(at.decode(out.stdout).body).text)
  end)

  it("puts fields in the query string of a GET", function()
    local out = at.nt3(srv, { "api", "-X", "GET", "/api/v1/items", "-F", "page=3", "-f", "per_page=2" })
    assert.are.equal(0, out.code, out.stderr)
    local page = at.decode(out.stdout)
    assert.are.equal("item_5", page.items[1].id)
    assert.are.equal(require("nt3.json").null, page.next_page)
  end)

  it("builds lists and nested objects from key[]=v, a[b]=v and a[b][]=v, as gh api does", function()
    local out = at.nt3(srv, { "api", "/api/v1/echo", "-F", "tags[]=x", "-f", "tags[]=y", "-F", "meta[size]=3",
      "-F", "meta[owner][name]=dev", "-F", "meta[labels][]=a", "-F", "meta[labels][]=true", "-F", "none[]",
      "-F", "plain=1" })
    assert.are.equal(0, out.code, out.stderr)
    local body = at.decode(at.decode(out.stdout).body)
    assert.are.same({ tags = { "y", "x" }, meta = { size = 3, owner = { name = "dev" }, labels = { "a", true } },
      none = {}, plain = 1 }, body)
    -- none[] alone is an empty JSON list, not an object
    assert.truthy(at.decode(out.stdout).body:find('"none":[]', 1, true), out.stdout)
  end)

  it("sends a key given more than once in a GET's query string once per value", function()
    local out = at.nt3(srv, { "api", "-X", "GET", "/api/v1/echo", "-F", "tags=x", "-F", "tags=y",
      "-F", "ids[]=1", "-F", "ids[]=2", "-F", "a[b]=c" })
    assert.are.equal(0, out.code, out.stderr)
    local list = {}
    for _, pair in ipairs(at.decode(out.stdout).query_list) do list[#list + 1] = pair[1] .. "=" .. pair[2] end
    table.sort(list)
    assert.are.same({ "a[b]=c", "ids[]=1", "ids[]=2", "tags=x", "tags=y" }, list)
  end)

  it("refuses a body field given twice, or as a value and an object, and a key it cannot read", function()
    for _, case in ipairs {
      { { "-F", "tags=x", "-F", "tags=y" }, "^nt3: %-F tags: that field is already given" },
      { { "-F", "a=1", "-F", "a[b]=2" }, "^nt3: %-F a%[b%]: that field is already given" },
      { { "-F", "a[]=1", "-F", "a[b]=2" }, "^nt3: %-F a%[b%]: that field is already given" },
      { { "-f", "a[]x=1" }, "^nt3: %-f a%[%]x: a field key is name" },
      { { "-f", "a[][b]=1" }, "^nt3: %-f a%[%]%[b%]: a field key is name" },
    } do
      local args = { "api", "/api/v1/echo" }
      table.move(case[1], 1, #case[1], 3, args)
      local out = at.nt3(srv, args)
      assert.are.equal(2, out.code, out.stderr)
      assert.truthy(out.stderr:match(case[2]), out.stderr)
    end
  end)

  it("rejects a field that is not key=value", function()
    local out = at.nt3(srv, { "api", "/api/v1/echo", "-f", "novalue" })
    assert.are.equal(2, out.code)
    assert.truthy(out.stderr:match('^nt3: %-f expects key=value, got "novalue"'), out.stderr)
  end)

  it("sends a raw body from a file with --input", function()
    local dir = sh.tmpdir()
    sh.spit(dir .. "/body.json", '{"raw": [1, 2]}\n')
    local out = at.nt3(srv, { "api", "-X", "PUT", "/api/v1/echo", "--input", dir .. "/body.json" })
    assert.are.equal(0, out.code, out.stderr)
    local echo = at.decode(out.stdout)
    assert.are.equal("PUT", echo.method)
    assert.are.equal('{"raw": [1, 2]}\n', echo.body)
  end)

  it("sends a raw body from standard input with --input -, as a POST by default", function()
    local out = at.nt3(srv, { "api", "/api/v1/echo", "--input", "-", "-f", "dry_run=1" }, { stdin = "line one\nline two\n" })
    assert.are.equal(0, out.code, out.stderr)
    local echo = at.decode(out.stdout)
    assert.are.equal("POST", echo.method)
    assert.are.equal("line one\nline two\n", echo.body)
    assert.are.equal("1", echo.query.dry_run) -- with --input, fields go to the query
  end)

  it("fails with one clear line when the --input file cannot be read", function()
    local out = at.nt3(srv, { "api", "/api/v1/echo", "--input", "/nonexistent/body.json" })
    assert.are.equal(1, out.code)
    assert.truthy(out.stderr:match("^nt3: /nonexistent/body.json: No such file or directory\n$"), out.stderr)
  end)

  it("prints the status line and headers before the body with -i/--include", function()
    for _, flag in ipairs({ "-i", "--include" }) do
      local out = at.nt3(srv, { "api", flag, "/headers", "-X", "GET", "-f", "X-Trace=abc" })
      assert.are.equal(0, out.code, out.stderr)
      local head, body = out.stdout:match("^(.-)\n\n(.*)$")
      assert.truthy(head, out.stdout)
      assert.are.equal("HTTP/1.1 200 OK", head:match("^[^\n]*"))
      assert.truthy(head:find("\nx-trace: abc", 1, true), head)
      assert.truthy(head:find("\ncontent-type: application/json", 1, true), head)
      assert.are.same({ ok = true }, at.decode(body))
    end
  end)

  it("prints with -i every header line as received, a repeated one on lines of its own", function()
    local out = at.nt3(srv, { "api", "-i", "/headers?Set-Cookie=a%3D1%2C%20x&X-Mid=m&Set-Cookie=b%3D2", "-X", "GET" })
    assert.are.equal(0, out.code, out.stderr)
    local head = out.stdout:match("^(.-)\n\n")
    local lines = {}
    for line in head:gmatch("[^\n]+") do
      if line:match("^set%-cookie") or line:match("^x%-mid") then lines[#lines + 1] = line end
    end
    assert.are.same({ "set-cookie: a=1, x", "x-mid: m", "set-cookie: b=2" }, lines)
  end)

  it("prints the status line and headers with -i for an HTTP error too", function()
    local out = at.nt3(srv, { "api", "-i", "/status/404" })
    assert.are.equal(1, out.code)
    assert.are.equal("HTTP/1.1 404 Not Found", out.stdout:match("^[^\n]*"))
    assert.truthy(out.stdout:find("\ncontent-type: application/json\n", 1, true), out.stdout)
  end)

  it("prints nothing with --silent, and still exits 0", function()
    local out = at.nt3(srv, { "api", "--silent", "/api/v1/me" })
    assert.are.equal(0, out.code)
    assert.are.equal("", out.stdout)
    assert.are.equal("", out.stderr)
  end)

  it("exits 1 on HTTP >= 400 with 'nt3: <message> (HTTP <code>)' on stderr", function()
    for _, code in ipairs({ 400, 404, 422, 500 }) do
      local out = at.nt3(srv, { "api", "/status/" .. code })
      assert.are.equal(1, out.code)
      assert.are.equal(("nt3: status %d (HTTP %d)\n"):format(code, code), out.stderr)
      assert.are.same({ message = "status " .. code }, at.decode(out.stdout))
    end
  end)

  it("shows a server's message as one line, without its control characters, and not endlessly long", function()
    local canned = require "helpers.canned"
    local hostile = canned.start { status = 400,
      body = '{"message":"bad\\n\\u001b[31mred\\u001b[0m\\r\\nsecond line\\u0007"}' }
    local out = at.nt3(hostile, { "api", "/x", "--silent" })
    hostile.stop()
    assert.are.equal(1, out.code)
    assert.are.equal("nt3: bad ?[31mred?[0m second line? (HTTP 400)\n", out.stderr)

    local huge = canned.start { status = 500, body = '{"message":"' .. ("x"):rep(100000) .. '"}' }
    out = at.nt3(huge, { "api", "/x", "--silent" })
    huge.stop()
    assert.are.equal(1, out.code)
    assert.matches("^nt3: x+%.%.%. %(HTTP 500%)\n$", out.stderr)
    assert.is_true(#out.stderr < 400, "a message of " .. #out.stderr .. " bytes")
  end)

  it("reports a rejected token with the server's message", function()
    local out = at.nt3(srv, { "api", "/api/v1/me" }, { env = { NT3_API_TOKEN = "entri_revoked" } })
    assert.are.equal(1, out.code)
    -- the test server is not the default API: the message names it
    assert.are.equal(("nt3: invalid token (HTTP 401 from the API at %s)\n"):format(srv.url), out.stderr)
  end)

  it("exits 4 with 'not logged in' when there is no token", function()
    local out = sh.run({ "api", "/api/v1/me" }, { env = { NT3_API_URL = srv.url } })
    assert.are.equal(4, out.code)
    assert.are.equal("", out.stdout)
    assert.truthy(out.stderr:match("^nt3: [^\n]*not logged in"), out.stderr)
  end)

  it("fails with one line when the server cannot be reached", function()
    -- no retries: the backoff between them is all they would add here
    local out = sh.run({ "api", "/api/v1/me" }, { env = { NT3_API_TOKEN = at.TOKEN, NT3_API_URL = "http://127.0.0.1:9",
      NT3_HTTP_RETRIES = "0" } })
    assert.are.equal(1, out.code)
    assert.truthy(out.stderr:match("^nt3: [^\n]+\n$"), out.stderr)
  end)

  it("never prints the token, not even with NT3_DEBUG=1", function()
    local out = at.nt3(srv, { "api", "/api/v1/me" }, { env = { NT3_DEBUG = "1" } })
    assert.are.equal(0, out.code)
    assert.falsy(out.stderr:find(at.TOKEN, 1, true), out.stderr)
    assert.falsy(out.stdout:find(at.TOKEN, 1, true))
  end)
end)

-- What a server sends, hostile bytes and all: a terminal gets it as
-- printable text (policy.sanitize's rule), a pipe byte for byte.
describe("nt3 api against a server's escape sequences", function()
  local srv
  setup(function() srv = server.start { tls = false } end)
  teardown(function()
    srv.stop()
    sh.cleanup()
  end)

  local ESC, BEL, CSI, RLO = "\27", "\7", "\194\155", "\226\128\174"

  local function on_terminal(args)
    local r = pty.run(args, { env = at.env(srv) })
    local text = r.output:gsub("\r\n", "\n")
    return r, text
  end

  local function assert_safe(text)
    assert.is_nil(text:find(ESC, 1, true), text)
    assert.is_nil(text:find(BEL, 1, true), text)
    assert.is_nil(text:find(CSI, 1, true), text)
    assert.is_nil(text:find(RLO, 1, true), text)
  end

  it("-i: the reason phrase and the headers are printable text on a terminal, byte for byte through a pipe", function()
    local path = raw { reason = "OK" .. ESC .. "[31mRED", h = { "X-Evil:a" .. ESC .. "]0;owned" .. BEL .. "b" .. RLO .. "c" },
      body = '{"ok":true}' }
    local r, text = on_terminal { "api", "-i", path }
    assert.are.equal(0, r.code, text)
    assert.matches("^HTTP/1%.1 200 OK%?%[31mRED\n", text)
    assert.truthy(text:find("\nx-evil: a?]0;owned?b?c\n", 1, true), text)
    assert_safe(text)
    local out = at.nt3(srv, { "api", "-i", path })
    assert.are.equal(0, out.code, out.stderr)
    assert.matches("^HTTP/1%.1 200 OK\27%[31mRED\n", out.stdout)
    assert.truthy(out.stdout:find("\nx-evil: a" .. ESC .. "]0;owned" .. BEL .. "b" .. RLO .. "c\n", 1, true), out.stdout)
  end)

  it("JSON strings holding C1 and bidi characters: printable when pretty-printed, as sent through a pipe", function()
    local body = '{"name":"a' .. CSI .. '[2Jb' .. RLO .. 'c"}'
    local r, text = on_terminal { "api", raw { body = body } }
    assert.are.equal(0, r.code, text)
    assert.are.equal('{\n  "name": "a?[2Jb?c"\n}\n', text)
    local out = at.nt3(srv, { "api", raw { body = body } })
    assert.are.equal(body, out.stdout)
  end)

  it("a raw ESC inside a JSON string is not JSON: refused by json.decode, printable on a terminal", function()
    local body = '{"a":"x' .. ESC .. '[2Jy"}'
    local out = at.script(srv, ([[print(require("nt3.json").decode(%q))]]):format(body))
    assert.are.equal("nil\ta raw control character in a string (U+001B at byte 8): JSON has it written as an"
      .. " escape\n", out.stdout, out.stderr)
    out = at.script(srv, [[print(require("nt3.json").decode('{"a":"x\\u001by"}').a == "x\27y")]])
    assert.are.equal("true\n", out.stdout, out.stderr) -- written as an escape, it is JSON
    local r, text = on_terminal { "api", raw { body = body } }
    assert.are.equal(0, r.code, text)
    assert.are.equal('{"a":"x?[2Jy"}', text)
    out = at.nt3(srv, { "api", raw { body = body } })
    assert.are.equal(body, out.stdout)
  end)

  it("an error body and its status line are printable text on a terminal", function()
    local path = raw { status = "400", reason = "Bad" .. ESC .. "[5m", ctype = "text/plain",
      body = "oops" .. ESC .. "[31m" .. RLO .. "\nsecond line" }
    local r, text = on_terminal { "api", "-i", path }
    assert.are.equal(1, r.code, text)
    assert.matches("^HTTP/1%.1 400 Bad%?%[5m\n", text)
    assert.truthy(text:find("\n\noops?[31m?\nsecond line", 1, true), text)
    assert_safe(text)
  end)

  it("--paginate on a terminal prints the items as printable text, through a pipe as sent", function()
    local body = '["a' .. CSI .. 'b","' .. RLO .. '"]'
    local r, text = on_terminal { "api", raw { body = body }, "--paginate" }
    assert.are.equal(0, r.code, text)
    assert.are.equal('[\n  "a?b",\n  "?"\n]\n', text)
    local out = at.nt3(srv, { "api", raw { body = body }, "--paginate" })
    assert.are.equal(body .. "\n", out.stdout, out.stderr)
  end)

  it("--filter on a terminal prints a string or a table as printable text, through a pipe as sent", function()
    local body = '{"name":"a' .. CSI .. '[2Jb' .. RLO .. 'c"}'
    for _, filter in ipairs { "data.name", "data" } do
      local r, text = on_terminal { "api", raw { body = body }, "--filter", filter }
      assert.are.equal(0, r.code, text)
      assert_safe(text)
      assert.truthy(text:find("a?[2Jb?c", 1, true), text)
    end
    local out = at.nt3(srv, { "api", raw { body = body }, "--filter", "data.name" })
    assert.are.equal("a" .. CSI .. "[2Jb" .. RLO .. "c\n", out.stdout, out.stderr)
  end)

  it("names the host of a refused redirect as printable text (nt3.http's message, printed by a script)", function()
    local path = raw { status = "302", h = { "Location:http://evil" .. RLO .. "x.example/p?secret=1" } }
    local out = at.script(srv, ([[
      local res, err, code = require("nt3.http").request { url = %q }
      print(res, err, code)]]):format(srv.url .. path))
    assert.matches('^nil\tredirect to http://evil%?x%.example/p refused: refusing plain http:// to non%-loopback host'
      .. ' "evil%?x%.example" %(use https%)\trefused_url\n$', out.stdout)
  end)
end)

-- --paginate passes each item's bytes through (docs/architecture.md,
-- "JSON"): what a server wrote is what is printed, numbers included.
describe("nt3 api --paginate", function()
  local srv
  setup(function() srv = server.start { tls = false } end)
  teardown(function()
    srv.stop()
    sh.cleanup()
  end)

  -- pages chained by Link: rel="next", each answering its body as written
  local function chain(bodies)
    local path
    for i = #bodies, 1, -1 do
      path = raw { body = bodies[i], h = path and { 'Link:<' .. path .. '>; rel="next"' } or nil }
    end
    return path
  end

  local PAGES = {
    '[{"z":1,"a":"\\u00e9\\ud83d\\ude00 \\/","n":1e400}, -0 ,\n  12345678901234567890, 1E2]',
    ' {"next": null, "data": [1.50, "a/b", {"b":[],"a":{}}, "\\u0000"]} ',
    "[]",
    "[\n  0.1e1,\n  true,false,null, \"\u{e9}\" ]",
  }
  local JOINED = '[{"z":1,"a":"\\u00e9\\ud83d\\ude00 \\/","n":1e400},-0,12345678901234567890,1E2,'
    .. '1.50,"a/b",{"b":[],"a":{}},"\\u0000",0.1e1,true,false,null,"\u{e9}"]\n'

  it("joins the items' own bytes: key order, escapes and every number's digits as the server wrote them", function()
    local out = at.nt3(srv, { "api", chain(PAGES), "--paginate" })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal(JOINED, out.stdout)
  end)

  it("prints what decoding every page and joining the items would hold", function()
    local json = require "nt3.json"
    local items = {}
    for _, page in ipairs(PAGES) do
      local v = assert(json.decode(page))
      for _, item in ipairs(v.data or v) do items[#items + 1] = item end
    end
    local out = at.nt3(srv, { "api", chain(PAGES), "--paginate" })
    assert.are.same(items, json.decode(out.stdout))
    -- re-encoding could not have: 1e400 is no number JSON can write back,
    -- and 12345678901234567890 would come back rounded
    assert.is_nil(json.encode(items))
    assert.are.equal("1.2345678901234567e+19", json.encode(items[3]))
  end)

  it("refuses a page that is not JSON at all, or whose list is not an array, as before", function()
    for _, case in ipairs {
      { '[1, 2', "is not JSON" }, { '[1] [2]', "is not JSON" }, { '{"data": {"a": 1}}', "is not a list" },
      { '{"data": [1], "x": tru}', "is not JSON" }, { '"a"', "is not a list" },
    } do
      local out = at.nt3(srv, { "api", chain { "[0]", case[1] }, "--paginate" })
      assert.are.equal(1, out.code, case[1])
      assert.are.equal("", out.stdout, case[1])
      assert.matches("^nt3: page 2 of .- " .. case[2], out.stderr, case[1])
    end
  end)
end)

describe("NT3_CA_FILE", function()
  local srv
  setup(function() srv = server.start { tls = true } end)
  teardown(function()
    srv.stop()
    sh.cleanup()
  end)

  it("without it, nt3 api refuses a server whose CA is not trusted, with exit 1 and a hint", function()
    local out = at.nt3(srv, { "api", "/api/v1/me" })
    assert.are.equal(1, out.code)
    assert.are.equal("", out.stdout)
    assert.matches("^nt3: could not reach the API at https://127%.0%.0%.1:%d+: TLS certificate not trusted for 127%.0%.0%.1: "
      .. "[^\n]*%(for a private CA set NT3_CA_FILE%)\n$", out.stderr)
  end)

  it("makes nt3 api trust the CA in that PEM file", function()
    local out = at.nt3(srv, { "api", "/api/v1/me" }, { env = { NT3_CA_FILE = srv.cafile } })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal("dev@example.com", at.decode(out.stdout).email)
  end)

  it("is honoured by nt3.api in a script for every request", function()
    local out = at.script(srv, [[
      local api = require "nt3.api"
      print(assert(api.get("/api/v1/me")).email)
      print(assert(api.request { method = "POST", path = "/echo", body = { a = 1 } }) ~= nil)
    ]], { env = { NT3_CA_FILE = srv.cafile } })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal("dev@example.com\ntrue\n", out.stdout)
  end)

  it("gives way to a cafile the caller passes", function()
    local out = at.script(srv, [[
      local api = require "nt3.api"
      print(api.get("/api/v1/me", nil, { cafile = "/nonexistent/ca.pem" }))
    ]], { env = { NT3_CA_FILE = srv.cafile } })
    assert.are.equal(0, out.code, out.stderr)
    assert.matches('^nil\tcould not use CA file "/nonexistent/ca.pem"', out.stdout)
  end)

  it("must be an absolute path: a relative one would trust a file of whatever directory one is in", function()
    local out = at.nt3(srv, { "api", "/api/v1/me" }, { env = { NT3_CA_FILE = "ca.pem" } })
    assert.are.equal(1, out.code)
    assert.are.equal('nt3: NT3_CA_FILE must be an absolute path (it is "ca.pem")\n', out.stderr)
  end)
end)
