-- The spec of commands/whoami.lua, run with `nt3 test` in docs/examples
-- (docs/testing-commands.md): nt3.testing's fake API answers GET
-- /api/v1/me, and the command runs in a child nt3 with a throw-away home.
local testing = require "nt3.testing"

-- docs/examples, wherever nt3 test is run from: this file is
-- <examples>/spec/whoami_spec.lua
local examples = debug.getinfo(1, "S").source:match("^@(.-)/?spec/[^/]*$") or ""
if examples:sub(1, 1) ~= "/" then
  examples = require("nt3.env").cwd() .. (examples == "" and "" or "/" .. examples)
end

describe("nt3 whoami", function()
  local api, home
  before_each(function()
    api = assert(testing.server())
    home = assert(testing.home { server = api, commands = examples .. "/commands/whoami.lua" })
  end)
  after_each(function()
    home:remove()
    api:close()
  end)

  it("shows the account of the active token", function()
    api:route("GET", "/api/v1/me", { json = { id = "u_1", email = "ada@example.com", name = "Ada" } })
    local r = testing.run("whoami", {}, { home = home })
    assert.are.equal("", r.stderr)
    assert.are.equal(0, r.code)
    assert.are.equal("Ada <ada@example.com>\nid: u_1\n", r.stdout)
    -- one request, with the home's token (masked: the spec never sees it whole)
    assert.are.equal(1, #api.requests)
    assert.are.equal("GET", api:last().method)
    assert.are.equal(home.token, api:last().token)
  end)

  it("prints the account as JSON with --json", function()
    api:route("GET", "/api/v1/me", { json = { id = "u_1", email = "ada@example.com" } })
    local r = testing.run("whoami", { "--json" }, { home = home })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal('{"email":"ada@example.com","id":"u_1"}\n', r.stdout)
  end)

  it("fails with the server's message and status when the token is refused", function()
    api:route("GET", "/api/v1/me", { status = 401, json = { error = "invalid token" } })
    local r = testing.run("whoami", {}, { home = home })
    assert.are.equal(1, r.code)
    assert.are.equal("nt3: invalid token (HTTP 401)\n", r.stderr)
  end)

  it("exits 4 when not logged in", function()
    local empty = assert(testing.home { commands = examples .. "/commands/whoami.lua" })
    assert(require("nt3.fs").remove(empty.config_dir .. "/config.json"))
    local r = testing.run("whoami", {}, { home = empty })
    empty:remove()
    assert.are.equal(4, r.code)
    assert.matches("not logged in", r.stderr, 1, true)
  end)
end)
