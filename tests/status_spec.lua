-- nt3 status: which token is active, from where, with which URL.
local sh = require "helpers.sh"
local json = require "nt3.json"
local auth = require "helpers.auth_util"

local ENV_TOKEN = "entri_env_token_abcd1111"
local LOCAL_TOKEN = "entri_local_token_abcd2222"
local GLOBAL_TOKEN = "entri_global_token_abcd3333"

local function with_all_three()
  local u = auth.user()
  auth.mkdir(u.dir)
  auth.write(u.global, json.encode({ token = GLOBAL_TOKEN }), "600")
  auth.write(u["local"], json.encode({ token = LOCAL_TOKEN }), "600")
  return u
end

describe("nt3 status", function()
  it("names the environment variable as the source and lists what it shadows", function()
    local u = with_all_three()
    local out = u.run({ "status" }, { env = { NT3_API_TOKEN = ENV_TOKEN } })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal(table.concat({
      "Logged in with the token from the environment variable NT3_API_TOKEN",
      "  Token:    entri_****1111",
      "  API URL:  https://app.nt3.io (default)",
      "  Shadowed: the local file ./.nt3.local.json holds a token (entri_****2222) that is not used",
      "  Shadowed: the global file ~/.nt3/config.json holds a token (entri_****3333) that is not used",
      "" }, "\n"), out.stdout)
    assert.are.equal("", out.stderr)
  end)

  it("names the local file with its path when it is the source", function()
    local u = with_all_three()
    local out = u.run({ "status" })
    assert.are.equal(0, out.code)
    assert.matches("^Logged in with the token from the local file %./%.nt3%.local%.json\n", out.stdout)
    assert.matches("Token:    entri_%*%*%*%*2222\n", out.stdout)
    assert.matches("Shadowed: the global file ~/%.nt3/config%.json", out.stdout)
  end)

  it("names the global file with its path when it is the source", function()
    local u = with_all_three()
    os.remove(u["local"])
    local out = u.run({ "status" })
    assert.are.equal(0, out.code)
    assert.are.equal(table.concat({
      "Logged in with the token from the global file ~/.nt3/config.json",
      "  Token:    entri_****3333",
      "  API URL:  https://app.nt3.io (default)",
      "" }, "\n"), out.stdout)
  end)

  it("uses the global token in a directory that has been deleted, where no local file can be", function()
    local u = with_all_three()
    -- a wrapper that runs nt3 from inside a directory it has just removed
    local bin = sh.tmpdir() .. "/in-deleted-dir"
    sh.spit(bin, '#!/bin/sh\nmkdir gone && cd gone && rmdir ../gone && exec "$NT3_BIN" "$@"\n')
    assert(os.execute("chmod 700 " .. sh.quote(bin)))
    local out = u.run({ "status" }, { bin = bin, cwd = sh.tmpdir() })
    assert.are.equal(0, out.code, out.stderr)
    assert.matches("^Logged in with the token from the global file ~/%.nt3/config%.json\n", out.stdout)
    out = u.run({ "login", "--local", "-t", LOCAL_TOKEN }, { bin = bin, cwd = sh.tmpdir() })
    assert.are.equal(1, out.code)
    assert.are.equal("nt3: cannot find the current directory: No such file or directory\n", out.stderr)
    out = u.run({ "logout", "--local" }, { bin = bin, cwd = sh.tmpdir() })
    assert.are.equal(0, out.code)
    assert.are.equal("Not logged in: no token stored in ./.nt3.local.json\n", out.stdout)
  end)

  it("says where the API URL comes from", function()
    local u = auth.user()
    u.run({ "login", "-t", GLOBAL_TOKEN, "-u", "https://staging.example.com" })
    assert.matches("API URL:  https://staging%.example%.com %(saved with the token in ~/%.nt3/config%.json%)",
      u.run({ "status" }).stdout)
    assert.matches("API URL:  https://other%.example%.com %(from NT3_API_URL%)",
      u.run({ "status" }, { env = { NT3_API_URL = "https://other.example.com" } }).stdout)
  end)

  it("shows a local api_url without a token as ignored, not as the URL in use", function()
    local u = auth.user()
    u.run({ "login", "-t", GLOBAL_TOKEN })
    auth.write(u["local"], '{"api_url":"https://evil.example.com"}', "600")
    local out = u.run({ "status" })
    assert.matches("API URL:  https://app%.nt3%.io %(default%)", out.stdout)
    assert.matches("Ignored:  the api_url in %./%.nt3%.local%.json", out.stdout)
  end)

  it("exits 4 with a hint to run nt3 login when no token is found", function()
    local u = auth.user()
    local out = u.run({ "status" })
    assert.are.equal(4, out.code)
    assert.are.equal("", out.stdout)
    assert.are.equal("nt3: not logged in; run 'nt3 login' to authenticate\n", out.stderr)
  end)

  it("warns about a credential file readable by others", function()
    local u = auth.user()
    u.run({ "login", "-t", GLOBAL_TOKEN })
    assert(os.execute("chmod 644 " .. sh.quote(u.global)))
    local out = u.run({ "status" })
    assert.are.equal(0, out.code)
    assert.are.equal("nt3: warning: ~/.nt3/config.json is readable by group or others (mode 0644); fix: chmod 600 ~/.nt3/config.json\n",
      out.stderr)
  end)

  it("refuses a file writable by others in one line, exit 1", function()
    local u = auth.user()
    u.run({ "login", "-t", GLOBAL_TOKEN })
    assert(os.execute("chmod 666 " .. sh.quote(u.global)))
    local out = u.run({ "status" })
    assert.are.equal(1, out.code)
    assert.are.equal("nt3: refusing ~/.nt3/config.json: it is writable by group or others (mode 0666); " ..
      "fix: chmod 600 ~/.nt3/config.json\n", out.stderr)
  end)

  it("reports a corrupted file in one line naming it, exit 1", function()
    local u = auth.user()
    auth.write(u["local"], "\0\0\0", "600")
    local out = u.run({ "status" })
    assert.are.equal(1, out.code)
    assert.matches("^nt3: %./%.nt3%.local%.json is not a JSON file %(it looks binary%)[^\n]*\n$", out.stderr)
  end)

  it("warns about a broken file below the active source", function()
    local u = auth.user()
    auth.mkdir(u.dir)
    auth.write(u.global, "{", "600")
    local out = u.run({ "status" }, { env = { NT3_API_TOKEN = ENV_TOKEN } })
    assert.are.equal(0, out.code)
    assert.matches("^nt3: warning: ~/%.nt3/config%.json is not valid JSON", out.stderr)
  end)

  it("does not load libcurl", function()
    local u = auth.user()
    local out = u.run({ "status" }, { env = { NT3_API_TOKEN = ENV_TOKEN, LD_DEBUG = "libs" } })
    assert.are.equal(0, out.code)
    assert.matches("calling init", out.stderr) -- the loader really reported
    assert.is_nil(out.stderr:find("libcurl", 1, true))
  end)
end)

describe("nt3 status --json", function()
  it("gives the same facts as one JSON object, with the token masked", function()
    local u = with_all_three()
    local out = u.run({ "status", "--json" })
    assert.are.equal(0, out.code, out.stderr)
    local f = json.decode(out.stdout)
    assert.is_true(f.logged_in)
    assert.are.equal("local", f.source)
    assert.are.equal(u["local"], f.path)
    assert.are.equal("./.nt3.local.json", f.display)
    assert.are.equal("entri_****2222", f.token)
    assert.are.equal("https://app.nt3.io", f.api_url)
    assert.are.equal("default", f.api_url_source)
    assert.are.same({ { source = "global", path = u.global, display = "~/.nt3/config.json", token = "entri_****3333" } },
      f.shadowed)
    assert.are.equal(3, #f.sources)
    -- lists stay lists when empty, so a script can iterate them
    assert.matches('"warnings": []', out.stdout, 1, true)
    for _, t in ipairs({ LOCAL_TOKEN, GLOBAL_TOKEN }) do assert.is_nil(out.stdout:find(t, 1, true)) end
  end)

  it("exits 4 and says logged_in false when no token is found", function()
    local out = auth.user().run({ "status", "--json" })
    assert.are.equal(4, out.code)
    local f = json.decode(out.stdout)
    assert.is_false(f.logged_in)
    assert.are.equal("not_logged_in", f.error_kind)
  end)

  it("includes permission warnings", function()
    local u = auth.user()
    u.run({ "login", "-t", GLOBAL_TOKEN })
    assert(os.execute("chmod 640 " .. sh.quote(u.global)))
    local f = json.decode(u.run({ "status", "--json" }).stdout)
    assert.matches("readable by group or others %(mode 0640%)", f.warnings[1])
  end)
end)

describe("nt3 status --check", function()
  local server = require "helpers.server"
  local srv

  setup(function() srv = server.start { tls = false } end)
  teardown(function() if srv then srv.stop() end end)

  it("reports the account when the API accepts the token", function()
    local u = auth.user()
    u.run({ "login", "-t", "entri_valid_check_token_1", "-u", srv.url })
    local out = u.run({ "status", "--check" })
    assert.are.equal(0, out.code, out.stderr)
    assert.matches("Account:  dev@example%.com %(Dev, id u_1%)\n", out.stdout)
    local seen
    for _, r in ipairs(srv.requests()) do
      if r.path == "/api/v1/me" then seen = r end
    end
    assert.truthy(seen, "the server saw no request")
  end)

  it("puts the check into the JSON object", function()
    local u = auth.user()
    u.run({ "login", "-t", "entri_valid_check_token_1", "-u", srv.url })
    local f = json.decode(u.run({ "status", "--check", "--json" }).stdout)
    assert.is_true(f.check.ok)
    assert.are.equal("dev@example.com", f.check.account.email)
  end)

  it("exits 1 saying the token was rejected", function()
    local u = auth.user()
    u.run({ "login", "--no-verify", "-t", "entri_revoked_token_0001", "-u", srv.url })
    local out = u.run({ "status", "--check" })
    assert.are.equal(1, out.code)
    assert.matches("^Logged in with the token from the global file", out.stdout)
    assert.are.equal(("nt3: the API at %s rejected the token (HTTP 401); run 'nt3 login' with a valid token\n"):format(srv.url),
      out.stderr)
  end)

  it("exits 1 with a distinct message when the API cannot be reached", function()
    local gone = server.start { tls = false }
    local url = gone.url
    gone.stop()
    local u = auth.user()
    u.run({ "login", "-t", "entri_valid_check_token_1", "-u", url })
    local out = u.run({ "status", "--check" })
    assert.are.equal(1, out.code)
    assert.matches("^nt3: could not reach the API at " .. url:gsub("%p", "%%%0") .. ": [^\n]+\n$", out.stderr)
  end)

  it("never sends the environment token to the URL saved with the global token", function()
    -- the global file's URL belongs to the global token; NT3_API_URL routes the environment token here
    local u = auth.user()
    local other = server.start { tls = false }
    u.run({ "login", "--no-verify", "-t", "entri_valid_global_00001", "-u", other.url })
    local out = u.run({ "status", "--check" }, { env = { NT3_API_TOKEN = "entri_valid_env_0000001", NT3_API_URL = srv.url } })
    assert.are.equal(0, out.code, out.stderr)
    local hits = 0
    for _, r in ipairs(other.requests()) do if r.path == "/api/v1/me" then hits = hits + 1 end end
    other.stop()
    assert.are.equal(0, hits)
  end)
end)

teardown(sh.cleanup)

describe("nt3 status --check against a server with a private CA", function()
  local server = require "helpers.server"
  local srv

  setup(function() srv = server.start { tls = true } end)
  teardown(function() if srv then srv.stop() end end)

  it("fails with a certificate error naming NT3_CA_FILE when no CA file is given", function()
    local u = auth.user()
    u.run({ "login", "-t", "entri_valid_check_token_1", "-u", srv.url })
    local out = u.run({ "status", "--check" })
    assert.are.equal(1, out.code)
    assert.matches("^nt3: could not reach the API at [^\n]*TLS certificate not trusted[^\n]*NT3_CA_FILE[^\n]*\n$", out.stderr)
  end)

  it("verifies the server with the CA file NT3_CA_FILE names", function()
    local u = auth.user()
    u.run({ "login", "-t", "entri_valid_check_token_1", "-u", srv.url })
    local out = u.run({ "status", "--check" }, { env = { NT3_CA_FILE = srv.cafile } })
    assert.are.equal(0, out.code, out.stderr)
    assert.matches("Account:  dev@example%.com %(Dev, id u_1%)\n", out.stdout)
  end)
end)

describe("nt3 status, one folder below a .nt3.local.json", function()
  it("names that file as printable text: a folder's name cannot put escape sequences on the terminal", function()
    local u = auth.user()
    auth.mkdir(u.dir)
    auth.write(u.global, json.encode({ token = GLOBAL_TOKEN }), "600")
    local parent = u.cwd .. "/repo\27]0;owned\7\226\128\174x"
    auth.mkdir(parent .. "/sub")
    auth.write(parent .. "/.nt3.local.json", json.encode({ token = LOCAL_TOKEN }), "600")
    local out = u.run({ "status" }, { cwd = parent .. "/sub" })
    assert.are.equal(0, out.code, out.stderr)
    -- the warning every token-using command gives (nt3.config), on stderr
    assert.matches("nt3: warning: [^\n]*/repo%?%]0;owned%?%?x/%.nt3%.local%.json applies only in its own folder",
      out.stderr)
    for _, text in ipairs({ out.stdout, out.stderr }) do
      assert.is_nil(text:find("[\27\7]"))
      assert.is_nil(text:find("\226\128\174", 1, true))
    end
    -- the JSON keeps the path itself
    local facts = json.decode(u.run({ "status", "--json" }, { cwd = parent .. "/sub" }).stdout)
    assert.are.equal(parent .. "/.nt3.local.json", facts.local_file_above)
  end)
end)
