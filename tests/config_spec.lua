-- nt3.config: token and URL rules, masking, resolution, save/clear/update.
local config = require "nt3.config"
local json = require "nt3.json"
local sh = require "helpers.sh"
local auth = require "helpers.auth_util"

-- Runs `body` inside nt3 as user u; body returns a value printed as JSON.
local function eval(u, body, opts)
  local out = u.lua("local config = require 'nt3.config'\n" ..
    "local r = table.pack((function() " .. body .. " end)())\n" ..
    "for i = 1, r.n do if r[i] == nil then r[i] = false end end\n" ..
    "io.write(require('nt3.json').encode({ n = r.n, v = { table.unpack(r, 1, r.n) } }))", opts)
  assert.are.equal(0, out.code, out.stderr)
  local r = json.decode(out.stdout)
  return table.unpack(r.v, 1, r.n)
end

describe("config.validate_token", function()
  it("accepts an entri_ token and trims white space around it", function()
    assert.are.equal("entri_abc123", config.validate_token("  entri_abc123\n"))
  end)

  it("refuses a token without the entri_ prefix with the documented message", function()
    local ok, msg = config.validate_token("sk_live_123")
    assert.is_nil(ok)
    assert.are.equal('Invalid token format. Tokens should start with "entri_"', msg)
  end)

  it("refuses an empty token", function()
    local ok, msg = config.validate_token("   \n")
    assert.is_nil(ok)
    assert.are.equal("the token is empty", msg)
  end)

  it("accepts 4 KiB and refuses one byte more, without repeating the token", function()
    local max = "entri_" .. ("a"):rep(4096 - 6)
    assert.are.equal(max, config.validate_token(max))
    local ok, msg = config.validate_token(max .. "b")
    assert.is_nil(ok)
    assert.matches("too long", msg)
    assert.is_nil(msg:find("aaaa", 1, true))
  end)

  it("refuses spaces, control characters and non-ASCII inside the token", function()
    for _, t in ipairs({ "entri_ab cd", "entri_ab\tcd", "entri_ab\1cd", "entri_abçd", "entri_a\nb" }) do
      local ok, msg = config.validate_token(t)
      assert.is_nil(ok, t)
      assert.matches("printable ASCII", msg)
      assert.is_nil(msg:find("entri_a", 1, true))
    end
  end)

  it("refuses the bare prefix", function()
    assert.is_nil((config.validate_token("entri_")))
  end)

  it("raises on a non-string, a caller's mistake", function()
    assert.has_error(function() config.validate_token(42) end)
  end)
end)

describe("config.validate_url", function()
  it("accepts https and drops a trailing slash", function()
    assert.are.equal("https://staging.example.com", config.validate_url("https://staging.example.com/"))
    assert.are.equal("https://example.com:8443/nt3", config.validate_url("HTTPS://Example.com:8443/nt3"))
  end)

  it("accepts plain http only for a loopback host", function()
    assert.are.equal("http://localhost:8080", config.validate_url("http://localhost:8080"))
    assert.are.equal("http://127.0.0.1", config.validate_url("http://127.0.0.1"))
    assert.are.equal("http://127.3.2.1:9", config.validate_url("http://127.3.2.1:9"))
    assert.are.equal("http://[::1]:3000", config.validate_url("http://[::1]:3000"))
    for _, u in ipairs({ "http://example.com", "http://localhost.evil.com", "http://127.0.0.1.evil.com",
      "http://128.0.0.1", "http://127.0.0.256" }) do
      local ok, msg = config.validate_url(u)
      assert.is_nil(ok, u)
      assert.matches("invalid API URL", msg)
    end
  end)

  it("refuses credentials in the URL without repeating them", function()
    local ok, msg = config.validate_url("https://user:s3cret@example.com")
    assert.is_nil(ok)
    assert.matches("user name or password", msg)
    assert.is_nil(msg:find("s3cret", 1, true))
  end)

  it("refuses a fragment, a query, other schemes, bad ports and junk", function()
    for _, u in ipairs({ "https://example.com/#x", "https://example.com/?a=1", "ftp://example.com",
      "example.com", "", "https://", "https://exa mple.com", "https://example.com:0",
      "https://example.com:99999", "https://example.com:80:80", "file:///etc/passwd", "https://.example.com" }) do
      assert.is_nil((config.validate_url(u)), u)
    end
  end)
end)

describe("config.validate_url and the HTTP binding", function()
  it("judge loopback by the one rule, nt3.policy's: 127.0.0.08 and 127.1 are names, not loopback", function()
    local policy = require "nt3.policy"
    for _, host in ipairs({ "127.0.0.08", "127.1", "0177.0.0.1", "127.0.0.1.", "localhost.evil.com", "[::2]" }) do
      assert.is_false(policy.is_loopback(host), host)
      local ok, msg = config.validate_url("http://" .. host .. ":8080")
      assert.is_nil(ok, host)
      assert.matches("plain http:// is allowed only for", msg, 1, true)
    end
    for _, host in ipairs({ "127.0.0.1", "127.255.0.9", "localhost", "LOCALHOST", "[::1]" }) do
      assert.is_true(policy.is_loopback(host:lower()), host)
      assert.truthy(config.validate_url("http://" .. host .. ":8080"), host)
    end
  end)
end)

describe("config.mask", function()
  it("is nt3.policy's mask, the one every message uses", function()
    assert.are.equal(require("nt3.policy").mask, config.mask)
  end)

  it("shows entri_ and the last four characters only", function()
    assert.are.equal("entri_****wxyz", config.mask("entri_abcdefghijklmnopqrstuvwxyz"))
  end)

  it("hides a short token completely", function()
    assert.are.equal("entri_****", config.mask("entri_abcdefgh"))
  end)

  it("never shows more than four characters of the secret part", function()
    local t = auth.CANARY
    local m = config.mask(t)
    local shown = m:gsub("^entri_", ""):gsub("%*", "")
    assert.is_true(#shown <= 4)
    assert.is_nil(m:find(t:sub(7, 11), 1, true))
  end)
end)

describe("config.active", function()
  it("resolves NT3_API_TOKEN before ./.nt3.local.json before ~/.nt3/config.json", function()
    local u = auth.user()
    auth.mkdir(u.dir)
    auth.write(u.global, '{"token":"entri_global_000000001"}', "600")
    auth.write(u["local"], '{"token":"entri_local_0000000002"}', "600")
    local body = "local c = config.active() return c.source, c.token"
    assert.are.same({ "environment", "entri_env_0000000003" },
      { eval(u, body, { env = { NT3_API_TOKEN = "entri_env_0000000003" } }) })
    assert.are.same({ "local", "entri_local_0000000002" }, { eval(u, body) })
    os.remove(u["local"])
    assert.are.same({ "global", "entri_global_000000001" }, { eval(u, body) })
  end)

  it("uses the API URL saved with the token, and the default otherwise", function()
    local u = auth.user()
    auth.mkdir(u.dir)
    auth.write(u.global, '{"token":"entri_global_000000001","api_url":"https://staging.example.com"}', "600")
    assert.are.same({ "https://staging.example.com", "global" },
      { eval(u, "local c = config.active() return c.api_url, c.api_url_source") })
    assert.are.same({ "https://app.nt3.io", "default" },
      { eval(u, "local c = config.active() return c.api_url, c.api_url_source",
        { env = { NT3_API_TOKEN = "entri_env_0000000003" } }) })
  end)

  it("lets NT3_API_URL override the saved URL", function()
    local u = auth.user()
    auth.mkdir(u.dir)
    auth.write(u.global, '{"token":"entri_global_000000001","api_url":"https://staging.example.com"}', "600")
    assert.are.same({ "https://other.example.com", "environment" },
      { eval(u, "local c = config.active() return c.api_url, c.api_url_source",
        { env = { NT3_API_URL = "https://other.example.com/" } }) })
  end)

  it("never applies the api_url of a .nt3.local.json without a token to another token", function()
    local u = auth.user()
    auth.mkdir(u.dir)
    auth.write(u.global, '{"token":"entri_global_000000001"}', "600")
    auth.write(u["local"], '{"api_url":"https://evil.example.com"}', "600")
    assert.are.same({ "global", "https://app.nt3.io" },
      { eval(u, "local c = config.active() return c.source, c.api_url") })
    assert.are.same({ "environment", "https://app.nt3.io" },
      { eval(u, "local c = config.active() return c.source, c.api_url",
        { env = { NT3_API_TOKEN = "entri_env_0000000003" } }) })
  end)

  it("reports not_logged_in when no source holds a token", function()
    local u = auth.user()
    local _, msg, kind = eval(u, "return config.active()")
    assert.are.equal("not_logged_in", kind)
    assert.matches("nt3 login", msg)
  end)

  it("does not fall through to the global token when the local file is corrupted", function()
    local u = auth.user()
    auth.mkdir(u.dir)
    auth.write(u.global, '{"token":"entri_global_000000001"}', "600")
    auth.write(u["local"], "{not json", "600")
    local c, msg, kind = eval(u, "return config.active()")
    assert.is_false(c)
    assert.are.equal("invalid", kind)
    assert.matches("%./%.nt3%.local%.json is not valid JSON", msg)
  end)

  it("reports an unusable NT3_API_TOKEN as invalid without printing it", function()
    local u = auth.user()
    local _, msg, kind = eval(u, "return config.active()", { env = { NT3_API_TOKEN = "not_a_token_CANARY" } })
    assert.are.equal("invalid", kind)
    assert.matches("NT3_API_TOKEN", msg)
    assert.is_nil(msg:find("CANARY", 1, true))
  end)

  it("refuses an NT3_API_URL that breaks the URL rules rather than send the token there", function()
    local u = auth.user()
    local c, msg, kind = eval(u, "return config.active()",
      { env = { NT3_API_TOKEN = "entri_env_0000000003", NT3_API_URL = "http://example.com" } })
    assert.is_false(c)
    assert.are.equal("invalid", kind)
    assert.matches("^NT3_API_URL is not usable: invalid API URL", msg)
  end)

  it("finds the global file in NT3_CONFIG_DIR when it is set", function()
    local u = auth.user()
    local dir = sh.tmpdir() .. "/conf"
    auth.mkdir(dir)
    auth.write(dir .. "/config.json", '{"token":"entri_confdir_00000001"}', "600")
    assert.are.same({ "entri_confdir_00000001", dir .. "/config.json" },
      { eval(u, "local c = config.active() return c.token, c.path", { env = { NT3_CONFIG_DIR = dir } }) })
  end)
end)

describe("the directory of the global file", function()
  -- only the directory holding the file is checked: anyone who can write
  -- there can replace the file; a sticky /tmp above it is fine
  it("is refused when it is world-writable, sticky or not (a 1777 directory such as /tmp)", function()
    local u = auth.user()
    local parent = sh.tmpdir()
    assert(os.execute("chmod 1777 " .. sh.quote(parent)))
    local dir = parent .. "/conf"
    auth.mkdir(dir)
    auth.write(dir .. "/config.json", '{"token":"entri_confdir_00000001"}', "600")
    assert.are.same({ "entri_confdir_00000001" },
      { eval(u, "return config.active().token", { env = { NT3_CONFIG_DIR = dir } }) })
    for _, mode in ipairs { "1777", "0777" } do
      assert(os.execute(("chmod %s %s"):format(mode, sh.quote(dir))))
      local c, msg, kind = eval(u, "return config.active()", { env = { NT3_CONFIG_DIR = dir } })
      assert.is_false(c)
      assert.are.equal("invalid", kind)
      assert.are.equal(("refusing %s/config.json: its directory %s is writable by group or others (mode %s);"
        .. " fix: chmod go-w %s"):format(dir, dir, mode, dir), msg)
      local out = u.run({ "login", "-t", "entri_mine_000000001" }, { env = { NT3_CONFIG_DIR = dir } })
      assert.are.equal(1, out.code)
      assert.are.equal('{"token":"entri_confdir_00000001"}', sh.slurp(dir .. "/config.json"))
    end
  end)

  it("~/.nt3, made 0755 by someone, is tightened back to 0700 on the next write", function()
    local u = auth.user()
    auth.mkdir(u.dir, "755")
    local out = u.run({ "login", "-t", "entri_mine_000000001" })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal("700", sh.mode(u.dir))
    assert.are.equal("600", sh.mode(u.global))
    assert(os.execute("chmod 755 " .. sh.quote(u.dir)))
    out = u.run({ "logout" })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal("700", sh.mode(u.dir))
  end)
end)

describe("a relative NT3_CONFIG_DIR or HOME", function()
  it("is refused in one line rather than read from or written to the current directory", function()
    -- a cloned repository's .nt3/config.json must not become the global config
    local u = auth.user()
    auth.mkdir(u.cwd .. "/.nt3")
    auth.write(u.cwd .. "/.nt3/config.json", '{"token":"entri_fromrepo_00000001","api_url":"https://evil.example.com"}', "600")
    for _, args in ipairs({ { "status" }, { "login", "-t", "entri_mine_000000001" }, { "logout" } }) do
      local out = u.run(args, { env = { NT3_CONFIG_DIR = ".nt3" } })
      assert.are.equal(1, out.code, args[1])
      assert.are.equal('nt3: NT3_CONFIG_DIR must be an absolute path (it is ".nt3")\n', out.stderr)
    end
    assert.are.equal("entri_fromrepo_00000001", auth.read_json(u.cwd .. "/.nt3/config.json").token)
    -- nor does a relative HOME make ./.nt3 the global directory
    local out = u.run({ "status" }, { home = "." })
    assert.are.equal(1, out.code)
    assert.are.equal("nt3: cannot find the home directory (set HOME)\n", out.stderr)
  end)
end)

describe("config.save, config.clear and config.update", function()
  it("keeps the other keys of the file when saving and clearing", function()
    local u = auth.user()
    auth.mkdir(u.dir)
    auth.write(u.global, '{"editor":"vim","nested":{"a":1}}', "600")
    eval(u, "return config.save{ token = 'entri_saved_000000001', api_url = 'https://s.example.com/' }")
    assert.are.same({ editor = "vim", nested = { a = 1 }, token = "entri_saved_000000001",
      api_url = "https://s.example.com" }, auth.read_json(u.global))
    eval(u, "return config.clear('global')")
    assert.are.same({ editor = "vim", nested = { a = 1 } }, auth.read_json(u.global))
  end)

  it("keeps an empty list under another key a list, not an empty object", function()
    local u = auth.user()
    auth.mkdir(u.dir)
    auth.write(u.global, '{"hosts":[],"opts":{}}', "600")
    eval(u, "return config.save{ token = 'entri_saved_000000001' }")
    local text = sh.slurp(u.global)
    assert.matches('"hosts": []', text, 1, true)
    assert.matches('"opts": {}', text, 1, true)
    eval(u, "return config.clear('global')")
    assert.are.equal('{\n  "hosts": [],\n  "opts": {}\n}\n', sh.slurp(u.global))
  end)

  it("drops the URL saved with the previous token when a token is saved without one", function()
    local u = auth.user()
    eval(u, "return config.save{ token = 'entri_first_000000001', api_url = 'https://s.example.com' }")
    eval(u, "return config.save{ token = 'entri_second_00000001' }")
    assert.are.same({ token = "entri_second_00000001" }, auth.read_json(u.global))
  end)

  it("deletes a file that clearing leaves empty", function()
    local u = auth.user()
    eval(u, "return config.save{ token = 'entri_first_000000001', scope = 'local' }")
    assert.is_true(auth.exists(u["local"]))
    local removed = eval(u, "return config.clear('local').removed")
    assert.is_true(removed)
    assert.is_false(auth.exists(u["local"]))
  end)

  it("writes keys of its own with update, validating what it writes", function()
    local u = auth.user()
    eval(u, "return config.update('global', function(d) d.editor = 'vim' end)")
    assert.are.same({ editor = "vim" }, auth.read_json(u.global))
    local ok, msg = eval(u, "return config.update('global', function(d) d.token = 'nope' end)")
    assert.is_false(ok)
    assert.matches("Invalid token format", msg)
    assert.are.same({ editor = "vim" }, auth.read_json(u.global))
  end)

  it("returns the failure of a bad token or URL and writes nothing", function()
    local u = auth.user()
    assert.are.same({ false, 'Invalid token format. Tokens should start with "entri_"' },
      { eval(u, "return config.save{ token = 'abc' }") })
    local ok = eval(u, "return config.save{ token = 'entri_ok_000000000001', api_url = 'http://example.com' }")
    assert.is_false(ok)
    assert.is_false(auth.exists(u.dir))
  end)

  it("raises on a bad scope, a caller's mistake", function()
    assert.has_error(function() config.save { token = "entri_x", scope = "elsewhere" } end)
    assert.has_error(function() config.clear("elsewhere") end)
  end)

  it("reports a caller's mistake in Lua's own words, blamed on the caller", function()
    local function raised(f)
      local ok, err = pcall(f)
      assert.is_false(ok)
      return err
    end
    local here = "config_spec%.lua:%d+: "
    assert.matches(here .. "bad argument #1 to 'save' %(table expected, got nil%)$", raised(function() config.save() end))
    assert.matches(here .. "bad argument #1 to 'save' %(field 'scope' must be \"global\" or \"local\", got x%)$",
      raised(function() config.save { token = "entri_x", scope = "x" } end))
    assert.matches(here .. "bad argument #1 to 'clear' %(scope must be ", raised(function() config.clear("x") end))
    assert.matches(here .. "bad argument #2 to 'update' %(function expected, got nil%)$",
      raised(function() config.update("global") end))
    assert.matches(here .. "bad argument #1 to 'validate_url' %(string expected, got number%)$",
      raised(function() config.validate_url(1) end))
    assert.matches(here .. "bad argument #1 to 'decode' %(string expected, got nil%)$",
      raised(function() json.decode() end))
  end)
end)

describe("a rewrite of a credential file", function()
  local ORIGINAL = '{"big":12345678901234567890,"beyond_double":9007199254740993,"float":1.0,'
    .. '"small":0.1,"exp":1E2,"text":"\\u00e9\\ud83d\\ude00 \\/","nested":{"n":[1.50,-0.0,[]]},'
    .. '"token":"entri_old_token_00001"}'

  it("keeps every value of a key nt3 does not own exactly as written", function()
    local u = auth.user()
    auth.mkdir(u.dir)
    auth.write(u.global, ORIGINAL, "600")
    assert.are.equal(0, u.run({ "login", "-t", "entri_new_token_00001", "-u", "https://s.example.com" }).code)
    local text = sh.slurp(u.global)
    for _, kept in ipairs({ '"big": 12345678901234567890', '"beyond_double": 9007199254740993', '"float": 1.0',
      '"small": 0.1', '"exp": 1E2', '"text": "\\u00e9\\ud83d\\ude00 \\/"', '"nested": {"n":[1.50,-0.0,[]]}' }) do
      assert.truthy(text:find(kept, 1, true), kept .. " not kept in:\n" .. text)
    end
    assert.are.equal(0, u.run({ "logout" }).code)
    assert.are.equal('{\n  "beyond_double": 9007199254740993,\n  "big": 12345678901234567890,\n  "exp": 1E2,\n'
      .. '  "float": 1.0,\n  "nested": {"n":[1.50,-0.0,[]]},\n  "small": 0.1,\n'
      .. '  "text": "\\u00e9\\ud83d\\ude00 \\/"\n}\n', sh.slurp(u.global))
  end)

  it("writes a value that update changed, and keeps the others as they were", function()
    local u = auth.user()
    auth.mkdir(u.dir)
    auth.write(u.global, '{"big":12345678901234567890,"mine":{"a":1}}', "600")
    eval(u, "return config.update('global', function(d) d.mine.a = 2 end)")
    assert.are.equal('{\n  "big": 12345678901234567890,\n  "mine": {\n    "a": 2\n  }\n}\n', sh.slurp(u.global))
  end)

  it("is refused, writing nothing, when nt3 could not read the result back", function()
    local u = auth.user()
    auth.mkdir(u.dir)
    auth.write(u.global, '{"token":"entri_old_token_00001"}', "600")
    local ok, msg = eval(u, "return config.update('global', function(d) d.blob = ('x'):rep(65536) end)")
    assert.is_false(ok)
    assert.are.equal("refusing to write ~/.nt3/config.json: it would be larger than 65536 bytes, "
      .. "more than nt3 reads back", msg)
    ok = eval(u, "local t = {} local c = t for _ = 1, 1100 do c.x = {} c = c.x end "
      .. "return config.update('global', function(d) d.deep = t end)")
    assert.is_false(ok)
    assert.are.equal('{"token":"entri_old_token_00001"}', sh.slurp(u.global))
    -- and login itself, beside a big key of the user's that leaves no room
    auth.write(u.global, '{"notes":"' .. ("n"):rep(65536 - 40) .. '"}', "600")
    local before = sh.slurp(u.global)
    local out = u.run({ "login", "-t", "entri_new_token_00001" })
    assert.are.equal(1, out.code)
    assert.matches("^nt3: refusing to write ~/%.nt3/config%.json: it would be larger than 65536 bytes", out.stderr)
    assert.are.equal(before, sh.slurp(u.global))
  end)
end)

describe("stale temp files", function()
  it("are removed only when nt3 made the name, never a user's file that looks alike", function()
    local u = auth.user()
    auth.mkdir(u.dir)
    local mine = { "config.json.tmpl", ".config.json.tmp-notes", ".config.json.tmpl", ".config.json.tmp-0123456789abc",
      ".config.json.tmp-0123456789AB" }
    for _, name in ipairs(mine) do auth.write(u.dir .. "/" .. name, "keep me", "600") end
    auth.write(u.dir .. "/.config.json.tmp-0123456789ab", "left by a killed nt3", "600")
    auth.write(u.cwd .. "/.nt3.local.json.tmp-notes", "keep me", "600")
    auth.write(u.cwd .. "/..nt3.local.json.tmp-00000000abcd", "left by a killed nt3", "600")
    assert.are.equal(0, u.run({ "login", "-t", "entri_new_token_00001" }).code)
    assert.are.equal(0, u.run({ "login", "--local", "-t", "entri_new_token_00001" }).code)
    for _, name in ipairs(mine) do assert.are.equal("keep me", sh.slurp(u.dir .. "/" .. name), name) end
    assert.is_false(auth.exists(u.dir .. "/.config.json.tmp-0123456789ab"))
    assert.are.equal("keep me", sh.slurp(u.cwd .. "/.nt3.local.json.tmp-notes"))
    assert.is_false(auth.exists(u.cwd .. "/..nt3.local.json.tmp-00000000abcd"))
  end)
end)

describe("config.sources", function()
  it("names each source: list.environment, list.local and list.global, keeping the list shape", function()
    local u = auth.user()
    auth.write(u["local"], '{"token":"entri_local_0000000002"}', "600")
    local r = eval(u, [[
      local list = config.sources()
      local n = 0
      for _ in pairs(list) do n = n + 1 end
      return { #list, n, list.environment == list[1], list["local"] == list[2], list.global == list[3],
        list["local"].token, require("nt3.json").encode(list) ~= nil and require("nt3.json").encode(list):sub(1, 1) }]])
    assert.are.same({ 3, 3, true, true, true, "entri_local_0000000002", "[" }, r)
  end)

  it("no module reaches into nt3.config's internals", function()
    assert.is_nil(config._internal)
    for _, f in ipairs({ "lua/nt3/config.lua", "lua/nt3/config/write.lua", "lua/nt3/config/store.lua" }) do
      assert.is_nil(assert(sh.slurp(sh.src .. "/" .. f)):find("_internal", 1, true), f)
    end
    assert.is_nil(assert(sh.slurp(sh.src .. "/lua/nt3/config/store.lua")):find('require "nt3.config"', 1, true))
    assert.is_nil(assert(sh.slurp(sh.src .. "/lua/nt3/config/write.lua")):find('require "nt3.config"', 1, true))
  end)

  it("lists every source with its state, marking the active one and what it shadows", function()
    local u = auth.user()
    auth.mkdir(u.dir)
    auth.write(u.global, '{"token":"entri_global_000000001"}', "600")
    auth.write(u["local"], '{"token":"entri_local_0000000002"}', "600")
    local list = eval(u, [[
      local out = {}
      for _, s in ipairs(config.sources()) do
        out[#out + 1] = { s.source, s.state, s.active or false, s.shadowed or false, s.display }
      end
      return out]])
    assert.are.same({
      { "environment", "missing", false, false, "NT3_API_TOKEN" },
      { "local", "ok", true, false, "./.nt3.local.json" },
      { "global", "ok", false, true, "~/.nt3/config.json" },
    }, list)
  end)
end)

teardown(sh.cleanup)
