-- nt3.policy: each security rule lives once (src/policy.c), and every entry
-- point that needs it goes through it. The module itself first, then the
-- entry points: the HTTP trace, `nt3 api`, `nt3 status --check`, nt3.api.
local sh = require "helpers.sh"
local server = require "helpers.server"
local canned = require "helpers.canned"
local at = require "helpers.apitest"
local policy = require "nt3.policy"

local TOKEN = "entri_abc'def\"ghi`jklmnop" -- quotes are valid token characters

describe("nt3.policy", function()
  describe("mask", function()
    it("shows the prefix and at most the last four characters, those only with eight more hidden", function()
      assert.are.equal("entri_****mnop", policy.mask("entri_abcdefghijklmnop"))
      assert.are.equal("entri_****", policy.mask("entri_abcdefghijk"))
      assert.are.equal("****mnop", policy.mask("abcdefghijklmnop"))
      assert.are.equal("****", policy.mask(nil))
    end)

    it("never shows a tail that would cut a UTF-8 character or carry a control byte", function()
      assert.are.equal("entri_****", policy.mask("entri_abcdefghijkl\27[2J"))
      assert.are.equal("entri_****", policy.mask("entri_abcdefghijklm\u{e9}"))
    end)
  end)

  describe("redact", function()
    it("masks a token whatever its characters up to white space, quotes included", function()
      assert.are.equal("x entri_****mnop y", policy.redact("x " .. TOKEN .. " y"))
      assert.are.equal("a=entri_**** b", policy.redact("a=entri_short b"))
      assert.are.equal("no token here", policy.redact("no token here"))
      -- the documented message names the prefix, not a token
      local doc = 'Invalid token format. Tokens should start with "entri_"'
      assert.are.equal(doc, policy.redact(doc))
      assert.are.equal(doc, policy.sanitize(doc))
    end)
  end)

  describe("sanitize", function()
    it("keeps valid UTF-8 text as it is", function()
      assert.are.equal("caf\u{e9} \u{65e5}\u{672c} ok", policy.sanitize("caf\u{e9} \u{65e5}\u{672c} ok"))
    end)

    it("turns line breaks and tabs into spaces: one line, whatever the input", function()
      assert.are.equal("a b c d e", policy.sanitize("a\nb\rc\td\ve"))
    end)

    it("replaces C0 controls, DEL, C1 controls and bidi/format characters with '?'", function()
      assert.are.equal("?[2J?]0;t??x", policy.sanitize("\27[2J\27]0;t\7\127x"))
      assert.are.equal("a?b?c", policy.sanitize("a\u{85}b\u{9b}c"))
      assert.are.equal("?evil?txt", policy.sanitize("\u{202e}evil\u{2066}txt"))
      assert.are.equal("a?b?c?d", policy.sanitize("a\u{200b}b\u{feff}c\u{2028}d"))
    end)

    it("replaces bytes that are not UTF-8 (stray, overlong, surrogate) with '?'", function()
      assert.are.equal("a?b", policy.sanitize("a\255b"))
      assert.are.equal("??/", policy.sanitize("\192\175/"))
      assert.are.equal("???", policy.sanitize("\237\160\128"))
    end)

    it("masks tokens too, and cuts at a character boundary with ...", function()
      assert.are.equal("t=entri_****mnop", policy.sanitize("t=" .. TOKEN))
      assert.are.equal("abc...", policy.sanitize("abcdef", 3))
      assert.are.equal("\u{e9}...", policy.sanitize("\u{e9}\u{e9}", 2))
    end)

    it("keeps lines and tabs with lines = true, tokens with mask = false, and nothing else changes", function()
      local text = "a\n\tb\r\27[2J\u{9b}c\u{202e}d " .. TOKEN
      assert.are.equal("a\n\tb ?[2J?c?d entri_****mnop", policy.sanitize(text, 0, { lines = true }))
      assert.are.equal("a  b ?[2J?c?d " .. TOKEN, policy.sanitize(text, 0, { mask = false }))
      assert.are.equal("a\n\tb ?[2J?c?d " .. TOKEN, policy.sanitize(text, 0, { lines = true, mask = false }))
      assert.are.equal(policy.sanitize(text), policy.sanitize(text, 0, {}))
      assert.has_error(function() policy.sanitize(text, 0, "lines") end)
    end)
  end)

  describe("is_loopback", function()
    it("judges the host as the C library reads an address", function()
      for _, host in ipairs { "localhost", "LOCALHOST", "127.0.0.1", "127.255.0.9", "[::1]" } do
        assert.is_true(policy.is_loopback(host), host)
      end
      for _, host in ipairs { "127.0.0.08", "127.1", "localhost.evil.com", "127.0.0.1.evil.com", "[::2]", "10.0.0.1", "" } do
        assert.is_false(policy.is_loopback(host), host)
      end
    end)
  end)

  it("says which headers hold credentials, in any case", function()
    for _, h in ipairs { "Authorization", "proxy-authorization", "COOKIE", "Set-Cookie" } do
      assert.is_true(policy.is_credential_header(h), h)
    end
    assert.is_false(policy.is_credential_header("X-Authorization-Hint"))
  end)

  it("reads a clock that only moves forward", function()
    local a = policy.now()
    local b = policy.now()
    assert.is_true(b >= a and a > 0)
  end)

  it("is the one implementation: no Lua module keeps its own copy of a rule", function()
    local lua_files = io.popen("cd " .. sh.quote(sh.src) .. " && ls lua/nt3/*.lua lua/nt3/*/*.lua lua/nt3/*/*/*.lua lua/commands/*.lua")
    for path in lua_files:lines() do
      local text = assert(sh.slurp(sh.src .. "/" .. path))
      assert.is_nil(text:find('getenv%("NT3_DEBUG"%)'), path .. " reads NT3_DEBUG itself")
      assert.is_nil(text:find("%[%^%%s\"'`%]"), path .. " masks tokens itself")
      assert.is_nil(text:find("function is_loopback"), path .. " has its own loopback test")
      assert.is_nil(text:find("[\"']Bearer [\"']") and path ~= "lua/nt3/api/auth.lua" and true or nil,
        path .. " writes the Authorization header itself")
    end
    lua_files:close()
    local c_files = io.popen("cd " .. sh.quote(sh.src) .. " && ls src/*.c bindings/*.c bindings/*/*.c")
    for path in c_files:lines() do
      if path ~= "src/policy.c" then
        local text = assert(sh.slurp(sh.src .. "/" .. path))
        assert.is_nil(text:find('getenv%("NT3_DEBUG"%)'), path .. " reads NT3_DEBUG itself")
        assert.is_nil(text:find("inet_pton"), path .. " has its own loopback test")
        assert.is_nil(text:find("now_seconds"), path .. " has its own clock")
        assert.is_nil(text:find('"Proxy%-Authorization"'), path .. " lists credential headers itself")
      end
    end
    c_files:close()
  end)
end)

describe("every entry point uses the policy", function()
  local srv
  setup(function() srv = server.start { tls = false } end)
  teardown(function()
    srv.stop()
    sh.cleanup()
  end)

  describe("the NT3_DEBUG trace", function()
    it("masks a token on the request line and in any header, not only in Authorization", function()
      local out = sh.run({ "run", sh.script([[
        local http = require "nt3.http"
        assert(http.request { url = os.getenv("URL") .. "/echo?t=" .. os.getenv("TOK"),
          headers = { ["X-Token"] = os.getenv("TOK"), Authorization = "Bearer " .. os.getenv("TOK") } })
      ]]) }, { env = { NT3_DEBUG = "1", URL = srv.url, TOK = TOKEN } })
      assert.are.equal(0, out.code, out.stderr)
      assert.matches("> GET /echo?t=entri_****mnop HTTP/1.1\n", out.stderr, 1, true)
      assert.matches("> X-Token: entri_****mnop\n", out.stderr, 1, true)
      assert.matches("> Authorization: Bearer entri_****mnop\n", out.stderr, 1, true)
      assert.is_nil(out.stderr:find("abc'def", 1, true))
    end)
  end)

  describe("nt3 api", function()
    it("shows a server's message with its escape sequences as '?', on one line", function()
      local hostile = canned.start { status = 400,
        body = '{"message":"bad\\u001b]0;owned\\u0007 \\u202eevil \\u0085x"}' }
      local out = at.nt3(hostile, { "api", "/x", "--silent" })
      hostile.stop()
      assert.are.equal(1, out.code)
      assert.are.equal("nt3: bad?]0;owned? ?evil ?x (HTTP 400)\n", out.stderr)
    end)

    it("refuses a CR or LF in -H as a usage error (exit 2), sending nothing", function()
      local before = #srv.requests()
      local out = at.nt3(srv, { "api", "/api/v1/me", "-H", "X-A: 1\r\nX-Injected: 2" })
      assert.are.equal(2, out.code)
      assert.matches('^nt3: %-H takes one line, "Name: value"; this one has a line break or a NUL byte in it\n',
        out.stderr)
      assert.are.equal(before, #srv.requests())
    end)
  end)

  describe("nt3 status --check", function()
    it("shows the account's fields as printable text", function()
      local hostile = canned.start { status = 200,
        body = '{"id":"u_1","email":"a@b.c\\u001b[2J","name":"Eve\\u202e\\nRoot"}' }
      local out = sh.run({ "status", "--check" }, { env = { NT3_API_TOKEN = at.TOKEN, NT3_API_URL = hostile.url } })
      hostile.stop()
      assert.are.equal(0, out.code, out.stderr)
      assert.matches("\n  Account:  a@b.c?[2J (Eve? Root, id u_1)\n", out.stdout, 1, true)
    end)

    it("sends its request through nt3.api: Bearer, Accept and nt3's User-Agent", function()
      local out = sh.run({ "status", "--check" }, { env = { NT3_API_TOKEN = at.TOKEN, NT3_API_URL = srv.url } })
      assert.are.equal(0, out.code, out.stderr)
      local r = at.requests_to(srv, "/api/v1/me")
      local last = r[#r]
      assert.are.equal("Bearer " .. at.TOKEN, at.header(last, "authorization"))
      assert.are.equal("application/json", at.header(last, "accept"))
      assert.are.equal("nt3/" .. require("nt3").version, at.header(last, "user-agent"))
    end)
  end)

  describe("nt3.api", function()
    it("url(path) checks the path as request does", function()
      local out = at.script(srv, [[
        local api = require "nt3.api"
        print(pcall(api.url, "https://evil.example/x"))
        print(pcall(api.url, "relative"))
        print(pcall(api.url, 42))
        print(api.url("/api/v1/me"))]])
      assert.are.equal(0, out.code, out.stderr)
      local lines = {}
      for l in out.stdout:gmatch("[^\n]+") do lines[#lines + 1] = l end
      assert.matches("^false\t.*refusing https://evil.example/x: nt3.api sends the token only to the API URL", lines[1])
      assert.matches("^false\t.*bad path \"relative\": it must start with /", lines[2])
      assert.matches("^false\t.*bad argument #1 to 'url' %(string expected, got number%)", lines[3])
      assert.are.equal(srv.url .. "/api/v1/me", lines[4])
    end)

    it("does not load the CLI: a library module depends downward only", function()
      local out = at.script(srv, [[
        local api = require "nt3.api"
        assert(api.get("/api/v1/me"))
        print(package.loaded["nt3.cli"] ~= nil)]], { env = {} })
      assert.are.equal(0, out.code, out.stderr)
      -- `nt3 run` itself is a command of the CLI; what matters is that the
      -- module does not require it (checked in its source)
      local text = assert(sh.slurp(sh.src .. "/lua/nt3/api.lua"))
      assert.is_nil(text:find('require%(?%s*"nt3%.cli"'))
    end)

    it("hands credential file warnings to api.on_warning, which a script may replace", function()
      local home = sh.tmpdir()
      os.execute("mkdir -p " .. sh.quote(home .. "/.nt3") .. " && chmod 700 " .. sh.quote(home .. "/.nt3"))
      sh.spit(home .. "/.nt3/config.json", ('{"token":"%s","api_url":"%s"}'):format(at.TOKEN, srv.url))
      os.execute("chmod 644 " .. sh.quote(home .. "/.nt3/config.json"))
      local out = sh.run({ "run", sh.script([[
        local api = require "nt3.api"
        local got = {}
        api.on_warning = function(w) got[#got + 1] = w end
        assert(api.get("/api/v1/me"))
        assert(api.get("/api/v1/me"))
        print(#got, got[1])]]) }, { home = home, env = { NT3_API_TOKEN = false } })
      assert.are.equal(0, out.code, out.stderr)
      assert.are.equal("", out.stderr)
      assert.matches("^1\t~/.nt3/config.json is readable by group or others", out.stdout)
    end)
  end)

  describe("NT3_LUA_DIR", function()
    it("is refused when relative, like the other path variables", function()
      local out = sh.run({ "status" }, { env = { NT3_LUA_DIR = "lua" } })
      assert.are.equal(1, out.code)
      assert.are.equal('nt3: NT3_LUA_DIR must be an absolute path (it is "lua")\n', out.stderr)
    end)
  end)
end)
