-- No module and no built-in command writes or reads a global by accident:
-- every one is loaded, and every command's happy path run, under a _G that
-- reports any global written or any undefined global read.
local sh = require "helpers.sh"
local server = require "helpers.server"

local STRICT = [==[
local found = {}
local function where()
  local info = debug.getinfo(3, "Sl")
  return info and (info.short_src .. ":" .. info.currentline) or "?"
end
setmetatable(_G, {
  __newindex = function(t, k, v)
    found[#found + 1] = "write " .. tostring(k) .. " at " .. where()
    rawset(t, k, v)
  end,
  __index = function(_, k)
    found[#found + 1] = "read " .. tostring(k) .. " at " .. where()
  end,
})
local embedded = require "nt3.embedded"
for _, m in ipairs(embedded.list("")) do require(m) end
local cli = require "nt3.cli"
local url = arg[1]
local runs = {
  {}, { "help" }, { "help", "login" }, { "--version" }, { "status", "--help" },
  { "login", "-t", "entri_valid_0123456789abcdef", "-u", url },
  { "status" }, { "status", "--json" }, { "status", "--check" },
  { "api", "/api/v1/me" }, { "api", "-i", "/echo", "-f", "a=b", "-F", "n=3", "-H", "X-A: 1" },
  { "api", "/status/404" }, { "api", "/echo", "--input", "-" },
  { "completion", "bash" }, { "completion", "zsh" }, { "completion", "fish" },
  { "login", "--local", "-t", "entri_valid_0123456789abcdeg" }, { "logout" }, { "logout", "--local" },
  { "logout" }, { "status" }, { "statsu" }, { "login", "-t", "bad" },
}
for _, argv in ipairs(runs) do cli.main(argv) end
io.stdout:write("\n==GLOBALS==\n", table.concat(found, "\n"))
]==]

describe("globals", function()
  it("are neither written nor read by accident by any module or built-in command", function()
    local srv = server.start { tls = false }
    local dir = sh.tmpdir()
    local out = sh.run({ "run", sh.script(STRICT), srv.url },
      { home = dir, cwd = dir, stdin = "{}", env = { NT3_API_TOKEN = false, NT3_API_URL = false, NT3_CONFIG_DIR = false } })
    srv.stop()
    assert.are.equal(0, out.code, out.stderr)
    local found = out.stdout:match("\n==GLOBALS==\n(.*)$")
    assert.is_string(found, out.stdout)
    assert.are.equal("", found)
  end)
end)

teardown(sh.cleanup)
