-- Profiles: named accounts in ~/.nt3/config.json, chosen per command by
-- NT3_API_TOKEN → --profile → NT3_PROFILE → ./.nt3.local.json → the global
-- default (docs/architecture.md, "Profiles and credential sources").
local sh = require "helpers.sh"
local auth = require "helpers.auth_util"
local server = require "helpers.server"
local json = require "nt3.json"

local DEFAULT = "entri_valid_default_0001"
local STAGING = "entri_valid_staging_0002"
local WORK = "entri_valid_work_00000003"
local LOCAL = "entri_valid_local_0000004"
local ENV = "entri_valid_environment_5"

local srv
setup(function() srv = server.start() end)
teardown(function()
  srv.stop()
  sh.cleanup()
end)

-- A user with a default token and the profiles staging and work, all
-- saved for the test server.
local function user_with_profiles()
  local u = auth.user()
  auth.mkdir(u.dir)
  auth.write(u.global, json.encode {
    token = DEFAULT, api_url = srv.url,
    profiles = {
      staging = { token = STAGING, api_url = srv.url },
      work = { token = WORK, api_url = srv.url },
    },
  }, "600")
  return u
end

-- The token the test server received last on /api/v1/me.
local function last_token()
  local seen
  for _, r in ipairs(srv.requests()) do
    if r.path == "/api/v1/me" then seen = (r.headers.authorization or ""):match("^Bearer (.*)$") end
  end
  return seen
end

local function token_of(u, args, opts)
  local out = u.run(args, opts)
  assert.are.equal(0, out.code, out.stderr)
  return out.stdout:match("^(.-)\n$")
end

describe("profile selection", function()
  it("follows NT3_API_TOKEN, --profile, NT3_PROFILE, ./.nt3.local.json, the global default, in that order", function()
    local u = user_with_profiles()
    -- the global default alone
    assert.are.equal(DEFAULT, token_of(u, { "token" }))
    -- a local file naming a profile beats the global default
    auth.write(u["local"], '{"profile": "staging"}', "600")
    assert.are.equal(STAGING, token_of(u, { "token" }))
    -- NT3_PROFILE beats the local file
    assert.are.equal(WORK, token_of(u, { "token" }, { env = { NT3_PROFILE = "work" } }))
    -- --profile beats NT3_PROFILE
    assert.are.equal(STAGING, token_of(u, { "token", "--profile", "staging" }, { env = { NT3_PROFILE = "work" } }))
    -- NT3_API_TOKEN beats everything
    assert.are.equal(ENV, token_of(u, { "token", "--profile", "staging" },
      { env = { NT3_PROFILE = "work", NT3_API_TOKEN = ENV } }))
    -- a local token beats the global default, and a profile named explicitly beats it
    auth.write(u["local"], json.encode { token = LOCAL }, "600")
    assert.are.equal(LOCAL, token_of(u, { "token" }))
    assert.are.equal(WORK, token_of(u, { "token", "--profile", "work" }))
  end)

  it("sends the chosen profile's token to the profile's URL with nt3 api --profile and NT3_PROFILE", function()
    local u = user_with_profiles()
    local out = u.run({ "api", "/api/v1/me", "--profile", "staging" })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal(STAGING, last_token())
    out = u.run({ "api", "/api/v1/me" }, { env = { NT3_PROFILE = "work" } })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal(WORK, last_token())
  end)

  it("reaches user scripts through nt3.api with NT3_PROFILE", function()
    local u = user_with_profiles()
    local out = u.lua([[print(require("nt3.api").get("/api/v1/me").email)]], { env = { NT3_PROFILE = "work" } })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal("dev@example.com\n", out.stdout)
    assert.are.equal(WORK, last_token())
  end)

  it("changes no file: two commands with different profiles do not interfere", function()
    local u = user_with_profiles()
    local before = sh.slurp(u.global)
    assert.are.equal(STAGING, token_of(u, { "token", "--profile", "staging" }))
    assert.are.equal(DEFAULT, token_of(u, { "token" }))
    assert.are.equal(before, sh.slurp(u.global))
  end)

  it("refuses an unknown profile in one line naming the known ones, exit 4, for every command", function()
    local u = user_with_profiles()
    for _, args in ipairs { { "token", "--profile", "nope" }, { "status", "--profile", "nope" },
      { "api", "/api/v1/me", "--profile", "nope" } } do
      local out = u.run(args)
      assert.are.equal(4, out.code, table.concat(args, " "))
      assert.are.equal('nt3: unknown profile "nope" (chosen by --profile nope); known profiles: staging, work\n',
        out.stderr)
      assert.are.equal("", out.stdout)
    end
    local out = u.run({ "token" }, { env = { NT3_PROFILE = "nope" } })
    assert.are.equal(4, out.code)
    assert.matches('^nt3: unknown profile "nope" %(chosen by NT3_PROFILE=nope%); known profiles: staging, work\n$',
      out.stderr)
    auth.write(u["local"], '{"profile": "gone"}', "600")
    out = u.run({ "token" })
    assert.are.equal(4, out.code)
    assert.matches('^nt3: unknown profile "gone" %(chosen by %./%.nt3%.local%.json%); known profiles: staging, work\n$',
      out.stderr)
  end)
end)

describe("nt3 login --profile", function()
  it("verifies and saves into the profile, leaving the default and other profiles as they were", function()
    local u = user_with_profiles()
    local out = u.run({ "login", "--profile", "new", "-t", "entri_valid_new_000006", "-u", srv.url })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal('Login successful! Token saved to ~/.nt3/config.json (profile "new")\n'
      .. "Logged in as dev@example.com\n", out.stdout)
    assert.are.equal("", out.stderr)
    local data = auth.read_json(u.global)
    assert.are.equal(DEFAULT, data.token)
    assert.are.same({ token = "entri_valid_new_000006", api_url = srv.url }, data.profiles.new)
    assert.are.same({ token = STAGING, api_url = srv.url }, data.profiles.staging)
    assert.are.equal("600", sh.mode(u.global))
  end)

  it("with --local writes only {\"profile\": NAME}: the folder names an account and holds no secret", function()
    local u = user_with_profiles()
    local out = u.run({ "login", "--local", "--profile", "staging" })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal('Login successful! This folder now uses profile "staging" (saved to ./.nt3.local.json)\n', out.stdout)
    assert.are.same({ profile = "staging" }, auth.read_json(u["local"]))
    assert.are.equal("600", sh.mode(u["local"]))
    assert.are.equal(STAGING, token_of(u, { "token" }))
  end)

  it("with --local refuses an unknown profile, naming the known ones, exit 4, writing nothing", function()
    local u = user_with_profiles()
    local out = u.run({ "login", "--local", "--profile", "nope" })
    assert.are.equal(4, out.code)
    assert.are.equal('nt3: unknown profile "nope"; known profiles: staging, work\n', out.stderr)
    assert.is_false(auth.exists(u["local"]))
  end)
end)

describe("nt3 logout --profile", function()
  it("removes that profile only", function()
    local u = user_with_profiles()
    local out = u.run({ "logout", "--profile", "staging" })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal('Logged out: profile "staging" removed from ~/.nt3/config.json\n', out.stdout)
    local data = auth.read_json(u.global)
    assert.are.equal(DEFAULT, data.token)
    assert.is_nil(data.profiles.staging)
    assert.are.same({ token = WORK, api_url = srv.url }, data.profiles.work)
  end)

  it("refuses an unknown profile with the known ones, exit 4, and changes nothing", function()
    local u = user_with_profiles()
    local before = sh.slurp(u.global)
    local out = u.run({ "logout", "--profile", "nope" })
    assert.are.equal(4, out.code)
    assert.are.equal('nt3: unknown profile "nope"; known profiles: staging, work\n', out.stderr)
    assert.are.equal(before, sh.slurp(u.global))
  end)
end)

describe("nt3 status with profiles", function()
  it("shows the active profile and why, and the other profiles with masked tokens", function()
    local u = user_with_profiles()
    local out = u.run({ "status" }, { env = { NT3_PROFILE = "staging" } })
    assert.are.equal(0, out.code, out.stderr)
    assert.matches('^Logged in with the token from the profile "staging" in ~/%.nt3/config%.json\n', out.stdout)
    assert.matches("  Profile:  staging %(chosen by NT3_PROFILE%)\n", out.stdout)
    assert.matches("  Token:    entri_%*%*%*%*0002\n", out.stdout)
    assert.matches('API URL:  ' .. srv.url:gsub("%p", "%%%0") .. ' %(saved with the token in profile "staging"', out.stdout)
    assert.matches("    work: entri_%*%*%*%*0003 at ", out.stdout)
    assert.is_nil(out.stdout:find("    staging:", 1, true))
    for _, t in ipairs { DEFAULT, STAGING, WORK } do assert.is_nil(out.stdout:find(t, 1, true)) end
    out = u.run({ "status", "--profile", "work" })
    assert.matches("  Profile:  work %(chosen by %-%-profile%)\n", out.stdout)
    auth.write(u["local"], '{"profile": "staging"}', "600")
    out = u.run({ "status" })
    assert.matches("  Profile:  staging %(chosen by %./%.nt3%.local%.json in this folder%)\n", out.stdout)
  end)

  it("carries the same facts in --json", function()
    local u = user_with_profiles()
    local out = u.run({ "status", "--json", "--profile", "work" })
    assert.are.equal(0, out.code, out.stderr)
    local f = json.decode(out.stdout)
    assert.are.equal("profile", f.source)
    assert.are.equal("work", f.profile)
    assert.are.equal("--profile", f.profile_chosen_by)
    assert.are.equal("entri_****0003", f.token)
    assert.are.equal(2, #f.profiles)
    assert.are.same({ name = "staging", token = "entri_****0002", api_url = srv.url, active = false }, f.profiles[1])
    assert.are.same({ name = "work", token = "entri_****0003", api_url = srv.url, active = true }, f.profiles[2])
    for _, t in ipairs { DEFAULT, STAGING, WORK } do assert.is_nil(out.stdout:find(t, 1, true)) end
  end)

  it("loads no HTTP code and no libcurl", function()
    local u = user_with_profiles()
    local dir = sh.tmpdir()
    os.execute("mkdir -p " .. sh.quote(dir .. "/nt3"))
    sh.spit(dir .. "/nt3/api.lua", 'error("nt3.api was loaded", 0)\n')
    local out = u.run({ "status" }, { env = { NT3_PROFILE = "staging", NT3_LUA_DIR = dir, LD_DEBUG = "libs" } })
    assert.are.equal(0, out.code, out.stderr)
    assert.matches("libc.so.6", out.stderr, 1, true) -- LD_DEBUG did report the libraries
    assert.is_nil(out.stderr:find("libcurl", 1, true))
  end)
end)

describe("the API URL, predictable", function()
  it("warns once, in status and on every request, when NT3_API_TOKEN goes to the default URL while the saved token has another", function()
    local u = auth.user()
    assert.are.equal(0, u.run({ "login", "--no-verify", "-t", DEFAULT, "-u", "https://staging.example.com" }).code)
    local warning = "nt3: warning: NT3_API_TOKEN is in effect, so requests go to https://app.nt3.io, not to "
      .. "https://staging.example.com saved with the token in ~/.nt3/config.json; "
      .. "set NT3_API_URL=https://staging.example.com to send it there\n"
    local out = u.run({ "status" }, { env = { NT3_API_TOKEN = ENV } })
    assert.are.equal(0, out.code, out.stderr)
    assert.matches("API URL:  https://app%.nt3%.io %(default%)", out.stdout)
    assert.are.equal(warning, out.stderr)
    -- a script of two requests: the warning comes once
    out = u.lua([[
      local api = require "nt3.api"
      api.get("/api/v1/me")
      api.get("/api/v1/me")
    ]], { env = { NT3_API_TOKEN = ENV } })
    local _, n = out.stderr:gsub("NT3_API_TOKEN is in effect", "")
    assert.are.equal(1, n, out.stderr)
    -- the fix it names silences it
    out = u.run({ "status" }, { env = { NT3_API_TOKEN = ENV, NT3_API_URL = "https://staging.example.com" } })
    assert.are.equal("", out.stderr)
  end)

  it("says where the URL comes from in every case", function()
    local u = user_with_profiles()
    assert.matches("%(saved with the token in ~/%.nt3/config%.json%)", u.run({ "status" }).stdout)
    assert.matches("%(from NT3_API_URL%)", u.run({ "status" }, { env = { NT3_API_URL = srv.url } }).stdout)
    assert.matches("%(default%)", u.run({ "status" }, { env = { NT3_API_TOKEN = ENV } }).stdout)
  end)

  it("names a non-default URL in network and 401 errors", function()
    local u = auth.user()
    u.run({ "login", "--no-verify", "-t", "entri_revoked_000000001", "-u", srv.url })
    local out = u.run({ "api", "/api/v1/me" })
    assert.are.equal(1, out.code)
    assert.are.equal(("nt3: invalid token (HTTP 401 from the API at %s)\n"):format(srv.url), out.stderr)
    u.run({ "login", "--no-verify", "-t", "entri_revoked_000000001", "-u", "http://127.0.0.1:9" })
    out = u.run({ "api", "/api/v1/me", "--retries", "0" })
    assert.are.equal(1, out.code)
    assert.matches("^nt3: could not reach the API at http://127%.0%.0%.1:9: [^\n]+\n$", out.stderr)
  end)

  it("warns, one folder down, once per command, that a .nt3.local.json applies only in its own folder", function()
    local u = user_with_profiles()
    auth.write(u["local"], json.encode { token = LOCAL }, "600")
    auth.mkdir(u.cwd .. "/sub/deeper")
    local deeper = u.cwd .. "/sub/deeper"
    local warning = ("nt3: warning: %s applies only in its own folder, not in this subfolder, so the token of"
      .. " ~/.nt3/config.json is used; run nt3 there, or 'nt3 login --local' here\n"):format(u["local"])
    -- the documented current-directory rule stays: the global token is used
    local out = u.run({ "status" }, { cwd = deeper })
    assert.are.equal(0, out.code, out.stderr)
    assert.matches("^Logged in with the token from the global file", out.stdout)
    assert.are.equal(warning, out.stderr)
    assert.are.equal(u["local"], json.decode(u.run({ "status", "--json" }, { cwd = u.cwd .. "/sub" }).stdout).local_file_above)
    -- every command that uses the token says it, once
    out = u.run({ "api", "/api/v1/me" }, { cwd = deeper })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal(warning, out.stderr)
    assert.are.equal(DEFAULT, last_token())
    out = u.run({ "token" }, { cwd = deeper })
    assert.are.equal(DEFAULT .. "\n", out.stdout)
    assert.are.equal(warning, out.stderr)
    -- with no token at all, "not logged in" says why
    os.remove(u.global)
    out = u.run({ "token" }, { cwd = deeper })
    assert.are.equal(4, out.code)
    assert.matches("^nt3: not logged in; run 'nt3 login' to authenticate %(" .. u["local"]:gsub("%p", "%%%0")
      .. " applies only in its own folder", out.stderr)
    -- in the folder itself: no warning
    assert.are.equal("", u.run({ "token" }).stderr)
  end)

  it("does not look for a folder's file above a repository's root, nor where another source wins", function()
    local u = user_with_profiles()
    auth.write(u["local"], json.encode { token = LOCAL }, "600")
    auth.mkdir(u.cwd .. "/repo")
    auth.mkdir(u.cwd .. "/repo/.git")
    auth.mkdir(u.cwd .. "/repo/src")
    auth.mkdir(u.cwd .. "/sub")
    for _, dir in ipairs { "/repo", "/repo/src" } do
      local out = u.run({ "token" }, { cwd = u.cwd .. dir })
      assert.are.equal(DEFAULT .. "\n", out.stdout)
      assert.are.equal("", out.stderr, dir)
    end
    local out = u.run({ "token", "--profile", "work" }, { cwd = u.cwd .. "/sub" })
    assert.are.equal("", out.stderr)
    out = u.run({ "token" }, { cwd = u.cwd .. "/sub", env = { NT3_API_TOKEN = ENV, NT3_API_URL = srv.url } })
    assert.are.equal("", out.stderr)
  end)
end)
