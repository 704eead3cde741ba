-- nt3 token: the active token and a newline on stdout, for other tools; the
-- only command that ever prints a token whole.
local sh = require "helpers.sh"
local auth = require "helpers.auth_util"
local server = require "helpers.server"
local json = require "nt3.json"

local srv
setup(function() srv = server.start { accept_tokens = { auth.CANARY } } end)
teardown(function()
  srv.stop()
  sh.cleanup()
end)

describe("nt3 token", function()
  it("prints the active token and a newline on stdout, and nothing else", function()
    local u = auth.user()
    assert.are.equal(0, u.run({ "login", "--no-verify", "-t", auth.CANARY }).code)
    local out = u.run({ "token" })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal(auth.CANARY .. "\n", out.stdout)
    assert.are.equal("", out.stderr)
  end)

  it("prints --profile's token, and the environment's above all", function()
    local u = auth.user()
    auth.mkdir(u.dir)
    auth.write(u.global, json.encode { token = "entri_default_0000001", profiles = { ci = { token = auth.CANARY } } }, "600")
    assert.are.equal(auth.CANARY .. "\n", u.run({ "token", "--profile", "ci" }).stdout)
    assert.are.equal("entri_env_0000000001\n",
      u.run({ "token", "--profile", "ci" }, { env = { NT3_API_TOKEN = "entri_env_0000000001" } }).stdout)
  end)

  it("exits 4 when there is no token", function()
    local u = auth.user()
    local out = u.run({ "token" })
    assert.are.equal(4, out.code)
    assert.are.equal("", out.stdout)
    assert.are.equal("nt3: not logged in; run 'nt3 login' to authenticate\n", out.stderr)
  end)

  it("is what curl needs: Authorization: Bearer $(nt3 token)", function()
    local u = auth.user()
    u.run({ "login", "--no-verify", "-t", auth.CANARY, "-u", srv.url })
    local out = u.run({ "-c", 'curl -s -H "Authorization: Bearer $("$NT3_BIN" token)" "$URL/api/v1/me"' },
      { bin = "/bin/sh", env = { URL = srv.url } }).stdout
    assert.are.equal("dev@example.com", json.decode(out).email)
  end)
end)

describe("no command but nt3 token prints a token whole", function()
  it("holds for login, status (text, json, check), logout, api and their failures", function()
    local u = auth.user()
    local runs = {
      { "login", "-t", auth.CANARY, "-u", srv.url },
      { "login", "--profile", "p", "-t", auth.CANARY, "-u", srv.url },
      { "login", "--local", "--profile", "p" },
      { "status" }, { "status", "--json" }, { "status", "--check" }, { "status", "--profile", "p", "--json" },
      { "api", "/api/v1/me" }, { "api", "-i", "/api/v1/me" }, { "api", "/status/401" },
      { "login", "-t", auth.CANARY .. "x", "-u", srv.url },
      { "logout", "--profile", "p" }, { "logout", "--local" }, { "logout" },
    }
    for _, args in ipairs(runs) do
      local out = u.run(args, { env = { NT3_DEBUG = "1" } })
      auth.assert_no_canary(out, table.concat(args, " "))
    end
    -- and with the token in the environment
    for _, args in ipairs { { "status" }, { "status", "--json" }, { "api", "/api/v1/me" } } do
      auth.assert_no_canary(u.run(args, { env = { NT3_API_TOKEN = auth.CANARY, NT3_API_URL = srv.url } }),
        table.concat(args, " "))
    end
  end)
end)
