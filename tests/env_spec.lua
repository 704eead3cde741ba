-- nt3.env: the environment as the process sees it.
local env = require "nt3.env"
local sh = require "helpers.sh"

describe("nt3.env", function()
  it("gets a variable, and nil for one that is not set", function()
    local out = sh.run({ "run", sh.script([[print(require("nt3.env").get("NT3_X"), require("nt3.env").get("NT3_UNSET"))]]) },
      { env = { NT3_X = "hello" } })
    assert.are.equal(0, out.code)
    assert.are.equal("hello\tnil\n", out.stdout)
  end)

  it("takes the home directory from HOME", function()
    local out = sh.run({ "run", sh.script([[print(require("nt3.env").home())]]) }, { env = { HOME = "/some/where" } })
    assert.are.equal("/some/where\n", out.stdout)
  end)

  it("falls back to the password database when HOME is unset", function()
    local out = sh.run({ "run", sh.script([[print(require("nt3.env").home())]]) }, { env = { HOME = false } })
    assert.are.equal(0, out.code)
    assert.truthy(out.stdout:match("^/"), out.stdout)
  end)

  it("reports the current directory", function()
    local dir = sh.tmpdir()
    local out = sh.run({ "run", sh.script([[print(require("nt3.env").cwd())]]) }, { cwd = dir })
    assert.are.equal(dir .. "\n", out.stdout)
  end)

  it("reports the effective uid, as id -u does", function()
    local p = io.popen("id -u")
    local uid = tonumber(p:read("l"))
    p:close()
    assert.are.equal(uid, env.uid())
  end)

  it("raises on a non-string name, like the Lua library does", function()
    assert.has_error(function() env.get({}) end)
  end)
end)
