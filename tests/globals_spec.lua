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

-- Every standard global, replaced by a trap that raises when it is called
-- or indexed; nt3 (loaded only afterwards) and its exit path must not care.
local CLOBBER = [==[
local out, setmetatable, error, ipairs, pairs, require = io.stdout, setmetatable, error, ipairs, pairs, require
local url, fail = arg[1], arg[2]
local names = {}
for name in pairs(_G) do if name ~= "_G" and name ~= "arg" then names[#names + 1] = name end end
for _, name in ipairs(names) do
  local function trap() error("nt3 used the script's global " .. name, 2) end
  _G[name] = setmetatable({}, { __index = trap, __call = trap })
end
function next() error("nt3 called the script's next") end
local nt3 = require "nt3"
local json, task, http = nt3.json, nt3.task, nt3.http
local doubled = task.map({ 1, 2, 3 }, function(n) task.sleep(0) return n * 2 end)
local res = http.request { url = url .. "/echo", method = "POST", body = json.encode { a = { 1, 2 } } }
local t = task.spawn(function(x) return x + 1 end, 41)
out:write(json.encode { doubled[1], doubled[2], doubled[3] }, " ", res.status, " ", json.encode(json.decode(res.body).body ~= nil),
  " ", task.wait(t), " ", json.encode(nt3.api.url("/api/v1/me") ~= nil), "\n")
if fail then error("the script's own failure", 0) end
]==]

describe("a script that replaces every standard global", function()
  local srv
  setup(function() srv = server.start { tls = false } end)
  teardown(function() srv.stop() end)

  it("still has json, task, http and api working, and nt3 exits 0 after its last line", function()
    local dir = sh.tmpdir()
    local out = sh.run({ "run", sh.script(CLOBBER), srv.url }, { home = dir, cwd = dir,
      env = { NT3_API_TOKEN = "entri_valid_0123456789abcdef", NT3_API_URL = srv.url } })
    assert.are.equal("", out.stderr)
    assert.are.equal(0, out.code)
    assert.are.equal("[2,4,6] 200 true 42 true\n", out.stdout)
  end)

  it("still has its error reported on one line, exit code 1", function()
    local dir = sh.tmpdir()
    local out = sh.run({ "run", sh.script(CLOBBER), srv.url, "fail" }, { home = dir, cwd = dir,
      env = { NT3_API_TOKEN = "entri_valid_0123456789abcdef", NT3_API_URL = srv.url } })
    assert.are.equal(1, out.code)
    assert.are.equal("nt3: the script's own failure\n", out.stderr)
  end)
end)

-- The rule the two tests above rely on, checked on the source: no module
-- of nt3 writes a global, and none reads one inside a function (at call
-- time, when a script may have replaced it); the main chunk, run once at
-- load, takes what the functions use as locals.
describe("every module of nt3", function()
  it("reads globals only in its main chunk and never writes one (luac5.4 listing)", function()
    local found = {}
    local list = assert(io.popen("cd " .. sh.quote(sh.src) .. " && find lua -name '*.lua' | sort"))
    local files = {}
    for f in list:lines() do files[#files + 1] = f end
    list:close()
    assert.is_true(#files > 20)
    for _, f in ipairs(files) do
      local p = assert(io.popen("luac5.4 -p -l -l " .. sh.quote(sh.src .. "/" .. f) .. " 2>&1"))
      local in_main = false
      for line in p:lines() do
        if line:match("^main <") then in_main = true
        elseif line:match("^function <") then in_main = false end
        local op, name = line:match("([GS]ETTABUP).*_ENV \"([^\"]*)\"")
        if op then
          if op == "SETTABUP" then found[#found + 1] = f .. ": writes " .. name
          elseif not in_main then found[#found + 1] = f .. ": reads " .. name .. " at call time" end
        end
      end
      assert.is_true(p:close(), "luac5.4 failed on " .. f)
    end
    assert.are.equal("", table.concat(found, "\n"))
  end)
end)

teardown(sh.cleanup)
