-- Start-up: each run loads only what its command uses, and exiting early
-- (frees skipped, see src/main.c) still finalizes and flushes everything.
--
-- A module is proven not loaded by planting a copy of it that raises in
-- NT3_LUA_DIR (which the searcher prefers to the embedded one): the run
-- succeeds only if nothing required it.
local sh = require "helpers.sh"

-- A directory whose <name>.lua files each raise "<name> was loaded".
local function tripwires(names)
  local dir = sh.tmpdir()
  for _, name in ipairs(names) do
    local path = dir .. "/" .. name:gsub("%.", "/") .. ".lua"
    os.execute("mkdir -p " .. sh.quote(path:match("^(.*)/")))
    sh.spit(path, ("error(%q, 0)\n"):format(name .. " was loaded"))
  end
  return dir
end

local TOKEN = "entri_startup_spec_token_01"

describe("start-up loads only what the command uses", function()
  it("prints the version without the help text, user commands or the credential store", function()
    local dir = tripwires({ "nt3.cli.help", "nt3.cli.user", "nt3.config", "nt3.fs", "nt3.json", "nt3.ui" })
    local r = sh.run({ "--version" }, { env = { NT3_LUA_DIR = dir } })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("^nt3 version %d+%.%d+%.%d+\n$", r.stdout)
  end)

  it("runs status without the help text, user-command loading or the credential writer", function()
    local dir = tripwires({ "nt3.cli.help", "nt3.cli.user", "nt3.config.write", "nt3.ui", "nt3.testing",
      "nt3.cli.repl", "nt3.xdg" })
    local r = sh.run({ "status" }, { env = { NT3_LUA_DIR = dir, NT3_API_TOKEN = TOKEN } })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("^Logged in with the token from the environment variable NT3_API_TOKEN\n", r.stdout)
  end)

  it("loads no alias, cache or settings code for a command that does not use it", function()
    local dir = tripwires({ "nt3.cli.alias", "nt3.api.cache", "nt3.api.cache.lookup", "nt3.config.settings", "nt3.ui" })
    local r = sh.run({ "version" }, { env = { NT3_LUA_DIR = dir } })
    assert.are.equal(0, r.code, r.stderr)
    local status_dir = tripwires({ "nt3.cli.alias", "nt3.api.cache", "nt3.api.cache.lookup" })
    local s = sh.run({ "status" }, { env = { NT3_LUA_DIR = status_dir, NT3_API_TOKEN = TOKEN } })
    assert.are.equal(0, s.code, s.stderr)
    -- a name that is no command is the one that looks for an alias
    local unknown = sh.run({ "nosuchcommand" }, { env = { NT3_LUA_DIR = dir } })
    assert.matches("nt3.cli.alias was loaded", unknown.stderr, 1, true)
  end)

  it("makes a request with nt3 api without the output helpers", function()
    local srv = require("helpers.server").start { tls = false }
    local dir = tripwires({ "nt3.ui", "nt3.cli.format", "nt3.cli.help", "nt3.testing", "nt3.cli.repl",
      "commands.repl", "nt3.xdg" })
    local env = { NT3_LUA_DIR = dir, NT3_API_TOKEN = "entri_valid_startup_spec", NT3_API_URL = srv.url }
    local r = sh.run({ "api", "/api/v1/me" }, { env = env })
    srv.stop()
    assert.are.equal(0, r.code, r.stderr)
    assert.matches('"email"', r.stdout, 1, true)
  end)

  it("answers nt3 api --cache from a fresh entry with none of the request machinery", function()
    local srv = require("helpers.server").start { tls = false }
    local home = sh.tmpdir()
    local args = { "api", "--cache", "1h", "/cached?key=startup" }
    local env = { NT3_API_TOKEN = "entri_valid_startup_spec", NT3_API_URL = srv.url, XDG_CACHE_HOME = home .. "/cache" }
    local first = sh.run(args, { home = home, env = env })
    assert.are.equal(0, first.code, first.stderr)
    -- the hit: the command's table, nt3.cli.api and the cache's lookup;
    -- not nt3.api, its page loop, the cache's writer, nor the rest of nt3 api
    env.NT3_LUA_DIR = tripwires({ "nt3.api", "nt3.api.common", "nt3.api.cache", "nt3.cli.api.request",
      "nt3.cli.format", "nt3.cli.help", "nt3.cli.alias", "nt3.json.text", "nt3.ui", "nt3.task", "commands.status" })
    env.NT3_DEBUG = "1"
    local hit = sh.run(args, { home = home, env = env })
    local served = #srv.requests()
    srv.stop()
    assert.are.equal(0, hit.code, hit.stderr)
    assert.matches("* cache hit: ", hit.stderr, 1, true)
    assert.are.equal(first.stdout, hit.stdout)
    assert.are.equal(1, served)
  end)

  it("runs status, nt3 api and a quick --paginate at a terminal without the output helpers", function()
    local srv = require("helpers.server").start { tls = false }
    local pty = require "helpers.pty"
    local dir = tripwires({ "nt3.ui" })
    local env = { NT3_LUA_DIR = dir, NT3_API_TOKEN = "entri_valid_startup_spec", NT3_API_URL = srv.url }
    local status = pty.start({ "status" }, { env = env })
    local api = pty.start({ "api", "/api/v1/me" }, { env = env })
    local pages = pty.start({ "api", "/list?per=2&total=4", "--paginate" }, { env = env })
    for _, run in ipairs { status, api, pages } do
      local r = run.result()
      assert.are.equal(0, r.code, r.output)
      assert.is_nil(r.output:find("was loaded", 1, true), r.output)
    end
    srv.stop()
  end)

  it("loads the test kit for nt3 test and require \"nt3.testing\", and only then", function()
    local dir = tripwires({ "nt3.testing" })
    local spec = sh.tmpdir()
    sh.spit(spec .. "/a_spec.lua", 'it("runs", function() end)\n')
    local r = sh.run({ "test", spec .. "/a_spec.lua" }, { env = { NT3_LUA_DIR = dir } })
    assert.are.equal(1, r.code)
    assert.matches("nt3.testing was loaded", r.stderr, 1, true)
    local script = sh.run({ "run", sh.script('require "nt3.testing"') }, { env = { NT3_LUA_DIR = dir } })
    assert.matches("nt3.testing was loaded", script.stderr, 1, true)
    local plain = sh.run({ "run", sh.script('require "nt3"; require "nt3.api"; require "nt3.task"') },
      { env = { NT3_LUA_DIR = dir } })
    assert.are.equal(0, plain.code, plain.stderr)
  end)

  it("lists the commands without the credential store", function()
    local dir = tripwires({ "nt3.config", "nt3.config.write", "nt3.json" })
    local r = sh.run({ "help" }, { env = { NT3_LUA_DIR = dir } })
    assert.are.equal(0, r.code, r.stderr)
    for _, name in ipairs({ "login", "logout", "status", "api" }) do
      assert.matches("\n  " .. name .. " ", r.stdout)
    end
  end)

  -- every built-in command module but the ones named, as tripwires
  local function other_commands(...)
    local keep, names = {}, {}
    for _, name in ipairs({ ... }) do keep[name] = true end
    for _, mod in ipairs(require("nt3.embedded").list("commands.")) do
      if not keep[mod] then names[#names + 1] = mod end
    end
    return names
  end

  it("lists, suggests and resolves an alias with no command module loaded but the one it runs", function()
    local dir = tripwires(other_commands("commands.help"))
    local help = sh.run({ "help" }, { env = { NT3_LUA_DIR = dir } })
    assert.are.equal(0, help.code, help.stderr)
    assert.matches("\n  login +Authenticate the CLI with an API token %(alias: auth%)\n", help.stdout)
    assert.matches("\n  extension +Install, verify", help.stdout)
    local typo = sh.run({ "logn" }, { env = { NT3_LUA_DIR = dir } })
    assert.are.equal(2, typo.code)
    assert.matches('^nt3: unknown command "logn" %(did you mean "login"%?%)', typo.stderr)
    local alias = sh.run({ "auth", "--help" }, { env = { NT3_LUA_DIR = tripwires(other_commands("commands.login")) } })
    assert.are.equal(0, alias.code, alias.stderr)
    assert.matches("^Authenticate the CLI with an API token\n", alias.stdout)
  end)

  it("writes every completion script with no command module loaded but completion's", function()
    local home = sh.tmpdir()
    os.execute("mkdir -p -m 700 " .. sh.quote(home .. "/.nt3"))
    sh.spit(home .. "/.nt3/extensions.lock", require("nt3.json").encode({ version = 1, extensions = {
      acme = { source = "/src/acme", tree = ("0"):rep(64), files = {}, permissions = {},
        commands = { { name = "deploy", summary = "Deploy the thing", file = "commands/deploy.lua" } } },
    } }))
    local names = other_commands("commands.completion")
    names[#names + 1] = "nt3.ext.manifest"
    local dir = tripwires(names)
    for _, shell in ipairs { "bash", "zsh", "fish" } do
      local r = sh.run({ "completion", shell }, { home = home, env = { NT3_LUA_DIR = dir } })
      assert.are.equal(0, r.code, r.stderr)
      assert.truthy(r.stdout:find("deploy", 1, true), shell)
    end
    -- the flags come from the index: api's --format words are the
    -- registry's list, which api's table names by an expression
    local bash = sh.run({ "completion", "bash" }, { home = home, env = { NT3_LUA_DIR = dir } })
    assert.truthy(bash.stdout:find("\n    login|auth) flags='--token -t ", 1, true), bash.stdout)
    assert.truthy(bash.stdout:find("--format) COMPREPLY=($(compgen -W 'json table csv ndjson' -- \"$cur\")); return;;",
      1, true), bash.stdout)
  end)

  it("lists the commands of installed extensions from the lock alone", function()
    local home = sh.tmpdir()
    os.execute("mkdir -p -m 700 " .. sh.quote(home .. "/.nt3"))
    sh.spit(home .. "/.nt3/extensions.lock", require("nt3.json").encode({ version = 1, extensions = {
      acme = { source = "/src/acme", tree = ("0"):rep(64), files = {}, permissions = {},
        commands = { { name = "deploy", summary = "Deploy the thing", file = "commands/deploy.lua" } } },
    } }))
    local dir = tripwires({ "nt3.ext.store", "nt3.ext.manifest", "nt3.config.store", "nt3.config",
      "commands.extension" })
    local r = sh.run({ "help" }, { home = home, env = { NT3_LUA_DIR = dir } })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("\n  deploy +Deploy the thing %[extension acme%]\n", r.stdout)
  end)

  it("still loads the parts it skipped the moment they are needed", function()
    local dir = tripwires({ "nt3.cli.help", "nt3.config.write" })
    local help = sh.run({ "help" }, { env = { NT3_LUA_DIR = dir } })
    assert.are.equal(1, help.code)
    assert.matches("nt3.cli.help was loaded", help.stderr, 1, true)
    local logout = sh.run({ "logout" }, { env = { NT3_LUA_DIR = dir } })
    assert.are.equal(1, logout.code)
    assert.matches("nt3.config.write was loaded", logout.stderr, 1, true)
  end)
end)

describe("the garbage collector", function()
  it("has a pause of 150 once start-up is over: the larger start-up one is not left behind (docs/architecture.md, \"Performance budget\")", function()
    -- setpause answers the pause it replaces, as Lua keeps it: in steps of 4, so 150 is 148
    local r = sh.run({ "run", sh.script([[print(collectgarbage("setpause", 200), collectgarbage("isrunning"))]]) })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("148\ttrue\n", r.stdout)
  end)
end)

describe("exit", function()
  it("runs every pending __gc and flushes files a script left open", function()
    local dir = sh.tmpdir()
    local script = sh.script(([[
      setmetatable({}, { __gc = function() io.stdout:write("finalized\n") end })
      local f = assert(io.open(%q, "w"))
      f:write("written, never closed")
    ]]):format(dir .. "/left-open.txt"))
    local r = sh.run({ "run", script })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("finalized\n", r.stdout)
    assert.are.equal("written, never closed", sh.slurp(dir .. "/left-open.txt"))
  end)
end)
