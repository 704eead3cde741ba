-- nt3 config: the documented settings, kept in the global file beside the
-- profiles, flag > environment > profile setting > global setting > default.
local sh = require "helpers.sh"
local server = require "helpers.server"
local json = require "nt3.json"

local TOKEN = "entri_valid_settings_spec_01"
local STAGING = "entri_valid_settings_spec_02"

local function write_config(home, data)
  os.execute("mkdir -p -m 700 " .. sh.quote(home .. "/.nt3"))
  sh.spit(home .. "/.nt3/config.json", json.encode(data))
  os.execute("chmod 600 " .. sh.quote(home .. "/.nt3/config.json"))
end

local function nt3(home, args, env)
  return sh.run(args, { home = home, env = env })
end

describe("nt3 config", function()
  local srv
  setup(function() srv = server.start { tls = false } end)
  teardown(function()
    srv.stop()
    sh.cleanup()
  end)

  -- how many requests one `nt3 api` to an always-503 route made
  local n = 0
  local function attempts(home, args, env)
    n = n + 1
    local key = "k" .. n
    local argv = { "api", ("/flaky?key=%s&fail=100&retry_after=0"):format(key) }
    for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
    local r = nt3(home, argv, env)
    assert.are.equal(1, r.code, r.stderr)
    local count = 0
    for _, req in ipairs(srv.requests()) do
      if req.path:find("key=" .. key .. "&", 1, true) then count = count + 1 end
    end
    return count
  end

  it("takes a setting from the flag, the environment, the profile, the global file, else the default", function()
    local home = sh.tmpdir()
    write_config(home, {
      token = TOKEN, api_url = srv.url, settings = { ["http.retries"] = 1 },
      profiles = { staging = { token = STAGING, api_url = srv.url, settings = { ["http.retries"] = 2 } } },
    })
    local plain = sh.tmpdir()
    write_config(plain, { token = TOKEN, api_url = srv.url })
    -- the value in effect, counted at the server: 1 request + the retries
    assert.are.equal(4, attempts(plain))                                          -- default 3
    assert.are.equal(2, attempts(home))                                           -- global 1
    assert.are.equal(3, attempts(home, { "--profile", "staging" }))               -- profile 2
    assert.are.equal(5, attempts(home, { "--profile", "staging" }, { NT3_HTTP_RETRIES = "4" })) -- environment
    assert.are.equal(1, attempts(home, { "--profile", "staging", "--retries", "0" }, { NT3_HTTP_RETRIES = "4" }))
    -- and where each comes from, as config get says
    local function source(h, args, env)
      local argv = { "config", "get", "http.retries", "--json" }
      for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
      local r = nt3(h, argv, env)
      assert.are.equal(0, r.code, r.stderr)
      local v = json.decode(r.stdout)
      return math.tointeger(v.value) .. " " .. v.source
    end
    assert.are.equal("3 default", source(plain))
    assert.are.equal("1 global", source(home))
    assert.are.equal("2 profile staging", source(home, nil, { NT3_PROFILE = "staging" }))
    assert.are.equal("4 NT3_HTTP_RETRIES", source(home, nil, { NT3_PROFILE = "staging", NT3_HTTP_RETRIES = "4" }))
  end)

  it("refuses an unknown key with the nearest one, and a bad value, writing nothing", function()
    local home = sh.tmpdir()
    local r = nt3(home, { "config", "set", "http.retrys", "2" })
    assert.are.equal(2, r.code)
    assert.are.equal('nt3: unknown setting "http.retrys" (did you mean "http.retries"?); run \'nt3 config list\''
      .. " for the settings\n", r.stderr:match("^[^\n]*\n"))
    local bad = nt3(home, { "config", "set", "http.timeout", "soon" })
    assert.are.equal(2, bad.code)
    assert.matches('^nt3: http.timeout must be a number of seconds above 0, at most 86400, not "soon"\n', bad.stderr)
    assert.is_nil(io.open(home .. "/.nt3/config.json"))
  end)

  it("sets, gets, lists and unsets, beside the profiles, keeping them through login and logout", function()
    local home = sh.tmpdir()
    assert.are.equal(0, nt3(home, { "login", "--no-verify", "-t", TOKEN, "--profile", "work" }).code)
    local set = nt3(home, { "config", "set", "http.timeout", "12", "--profile", "work" })
    assert.are.equal(0, set.code, set.stderr)
    assert.are.equal('Set http.timeout to 12 for profile "work" in ~/.nt3/config.json\n', set.stdout)
    assert.are.equal(0, nt3(home, { "config", "set", "http.concurrency", "3" }).code)
    assert.are.equal(0, nt3(home, { "logout", "--profile", "work" }).code)
    assert.are.equal(0, nt3(home, { "login", "--no-verify", "-t", TOKEN }).code)
    assert.are.equal(0, nt3(home, { "logout" }).code)
    local data = json.decode(sh.slurp(home .. "/.nt3/config.json"))
    assert.are.same({ ["http.concurrency"] = 3 }, data.settings)
    assert.are.same({ settings = { ["http.timeout"] = 12 } }, data.profiles.work)
    assert.are.equal(0, nt3(home, { "login", "--no-verify", "-t", TOKEN, "--profile", "work" }).code)
    assert.are.equal("12\n", nt3(home, { "config", "get", "http.timeout" }, { NT3_PROFILE = "work" }).stdout)
    local list = nt3(home, { "config", "list" })
    assert.matches("\nhttp.concurrency  +3  +global ", "\n" .. list.stdout)
    assert.are.equal(0, nt3(home, { "config", "unset", "http.concurrency" }).code)
    assert.is_nil(json.decode(sh.slurp(home .. "/.nt3/config.json")).settings)
  end)

  it("says Unset when it removes the last setting (and with it a file that held nothing else), Not set when there was none", function()
    local home = sh.tmpdir()
    assert.are.equal(0, nt3(home, { "config", "set", "http.retries", "5" }).code)
    local r = nt3(home, { "config", "unset", "http.retries" })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("Unset http.retries (default: 3)\n", r.stdout)
    assert.is_nil(io.open(home .. "/.nt3/config.json"))
    local again = nt3(home, { "config", "unset", "http.retries" })
    assert.are.equal(0, again.code, again.stderr)
    assert.are.equal("Not set: http.retries (default: 3)\n", again.stdout)
  end)

  it("applies http.concurrency to task.map", function()
    local home = sh.tmpdir()
    write_config(home, { settings = { ["http.concurrency"] = 2 } })
    local script = sh.script([[
      local task = require "nt3.task"
      local running, most = 0, 0
      task.map({ 1, 2, 3, 4, 5, 6 }, function()
        running = running + 1
        if running > most then most = running end
        task.sleep(0.01)
        running = running - 1
      end)
      print(most)]])
    assert.are.equal("2\n", nt3(home, { "run", script }).stdout)
  end)

  it("shows in nt3 status the settings that differ from the defaults", function()
    local home = sh.tmpdir()
    write_config(home, { token = TOKEN, settings = { ["http.retries"] = 5, ["http.timeout"] = 30 } })
    local r = nt3(home, { "status" })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("\n  Settings %(not the default; see nt3 config list%):\n    http.retries = 5 %(global%)\n$", r.stdout)
  end)

  describe("pager", function()
    local pty = require "helpers.pty"
    -- a pager that notes what it was given and whether its stdout is the
    -- terminal, then shows the text between markers
    local function fake_pager(dir)
      local path = dir .. "/fake-pager"
      sh.spit(path, table.concat({
        "#!/bin/sh",
        "if [ -t 1 ]; then echo tty > " .. sh.quote(dir .. "/seen") .. "; else echo pipe > "
          .. sh.quote(dir .. "/seen") .. "; fi",
        "echo \"LESS=$LESS $*\" >> " .. sh.quote(dir .. "/seen"),
        "echo '<<paged'; /bin/cat; echo 'paged>>'",
      }, "\n") .. "\n")
      os.execute("chmod 755 " .. sh.quote(path))
      return path
    end

    it("sends nt3 api's terminal output through the pager, with LESS=FRX and its arguments", function()
      local home = sh.tmpdir()
      write_config(home, { token = TOKEN, api_url = srv.url })
      local pager = fake_pager(home)
      assert.are.equal(0, nt3(home, { "config", "set", "pager", pager .. " -x 'a b'" }).code)
      local r = pty.run({ "api", "/api/v1/me" }, { home = home })
      assert.are.equal(0, r.code, r.output)
      assert.matches('<<paged\r\n{\r\n  "id": "u_1",.*}\r\npaged>>', r.output)
      assert.are.equal("tty\nLESS=FRX -x a b\n", sh.slurp(home .. "/seen"))
    end)

    it("finds a bare name in PATH's absolute directories only, and says so when it finds none", function()
      local home = sh.tmpdir()
      write_config(home, { token = TOKEN, api_url = srv.url })
      local bin = home .. "/bin"
      os.execute("mkdir " .. sh.quote(bin))
      local pager = fake_pager(home)
      os.execute("cp " .. sh.quote(pager) .. " " .. sh.quote(bin .. "/mypager"))
      local found = pty.run({ "api", "/api/v1/me" }, { home = home, env = { NT3_PAGER = "mypager", PATH = bin } })
      assert.are.equal(0, found.code, found.output)
      assert.matches("<<paged", found.output, 1, true)
      local missing = pty.run({ "api", "/api/v1/me" }, { home = home, env = { NT3_PAGER = "mypager", PATH = "bin" },
        cwd = home })
      assert.are.equal(1, missing.code)
      assert.matches('nt3: pager "mypager" not found', missing.output, 1, true)
    end)

    it("is never used when the output is not a terminal, and NT3_PAGER=cat turns it off", function()
      local home = sh.tmpdir()
      local pager = fake_pager(home)
      write_config(home, { token = TOKEN, api_url = srv.url, settings = { pager = pager } })
      local piped = nt3(home, { "api", "/api/v1/me" })
      assert.are.equal(0, piped.code, piped.stderr)
      assert.matches('^{"id": "u_1"', piped.stdout)
      local off = pty.run({ "api", "/api/v1/me" }, { home = home, env = { NT3_PAGER = "cat" } })
      assert.are.equal(0, off.code, off.output)
      assert.is_nil(off.output:find("<<paged", 1, true))
      assert.is_nil(io.open(home .. "/seen"))
    end)
  end)

  it("never reads settings from ./.nt3.local.json, and says the precedence in nt3 help environment", function()
    local home, cwd = sh.tmpdir(), sh.tmpdir()
    sh.spit(cwd .. "/.nt3.local.json", json.encode({ token = TOKEN, settings = { ["http.retries"] = 9 } }))
    os.execute("chmod 600 " .. sh.quote(cwd .. "/.nt3.local.json"))
    local r = sh.run({ "config", "get", "http.retries" }, { home = home, cwd = cwd })
    assert.are.equal("3\n", r.stdout)
    assert.matches("flag > environment > profile setting > global setting > default",
      nt3(home, { "help", "environment" }).stdout, 1, true)
  end)
end)
