-- nt3 login / nt3 auth: the documented contract, run as a user runs it.
local sh = require "helpers.sh"
local auth = require "helpers.auth_util"

local INVALID = 'nt3: Invalid token format. Tokens should start with "entri_"\n'

describe("nt3 login -t", function()
  it("saves the token to ~/.nt3/config.json and says so in the documented words", function()
    local u = auth.user()
    local out = u.run({ "login", "-t", "entri_your_token_here" })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal("Login successful! Token saved to ~/.nt3/config.json\n", out.stdout)
    -- the check of the token cannot reach https://app.nt3.io from a test:
    -- one warning on stderr, and stdout is the documented line alone
    assert.matches("^" .. auth.UNVERIFIED .. "$", out.stderr)
    assert.matches("could not reach the API at https://app%.nt3%.io ", out.stderr)
    assert.are.same({ token = "entri_your_token_here" }, auth.read_json(u.global))
  end)

  it("creates the file with mode 0600 in a directory with mode 0700", function()
    local u = auth.user()
    assert.are.equal(0, u.run({ "login", "-t", "entri_your_token_here" }).code)
    assert.are.equal("600", sh.mode(u.global))
    assert.are.equal("700", sh.mode(u.dir))
  end)

  it("accepts --token and --token=, and works as nt3 auth", function()
    local u = auth.user()
    assert.are.equal(0, u.run({ "login", "--token", "entri_long_form_0001" }).code)
    assert.are.equal("entri_long_form_0001", auth.read_json(u.global).token)
    assert.are.equal(0, u.run({ "login", "--token=entri_equals_form_02" }).code)
    assert.are.equal("entri_equals_form_02", auth.read_json(u.global).token)
    local out = u.run({ "auth", "-t", "entri_alias_form_003" })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal("Login successful! Token saved to ~/.nt3/config.json\n", out.stdout)
    assert.are.equal("entri_alias_form_003", auth.read_json(u.global).token)
  end)

  it("replaces an earlier token", function()
    local u = auth.user()
    u.run({ "login", "-t", "entri_first_token_01" })
    u.run({ "login", "-t", "entri_second_token_2" })
    assert.are.same({ token = "entri_second_token_2" }, auth.read_json(u.global))
  end)

  it("shows the global path as ~/.nt3/config.json even when run from inside ~/.nt3", function()
    local u = auth.user()
    auth.mkdir(u.dir)
    local out = u.run({ "login", "-t", "entri_your_token_here" }, { cwd = u.dir })
    assert.are.equal("Login successful! Token saved to ~/.nt3/config.json\n", out.stdout)
  end)

  it("works when ~/.nt3 is a symlink to a private directory (a dotfiles setup)", function()
    local u = auth.user()
    assert(os.execute(("mkdir -m 700 %s/dotfiles && ln -s dotfiles %s"):format(sh.quote(u.home), sh.quote(u.dir))))
    local out = u.run({ "login", "-t", "entri_linked_dir_0001" })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.same({ token = "entri_linked_dir_0001" }, auth.read_json(u.home .. "/dotfiles/config.json"))
    assert.are.equal("600", sh.mode(u.home .. "/dotfiles/config.json"))
  end)

  it("writes to $NT3_CONFIG_DIR/config.json when NT3_CONFIG_DIR is set", function()
    local u = auth.user()
    local dir = sh.tmpdir() .. "/conf"
    local out = u.run({ "login", "-t", "entri_confdir_token_1" }, { env = { NT3_CONFIG_DIR = dir } })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal("Login successful! Token saved to " .. dir .. "/config.json\n", out.stdout)
    assert.are.equal("entri_confdir_token_1", auth.read_json(dir .. "/config.json").token)
    assert.is_false(auth.exists(u.global))
  end)
end)

describe("nt3 login token validation", function()
  it("fails with exactly the documented message and writes nothing", function()
    local u = auth.user()
    local out = u.run({ "login", "-t", "sk_not_an_entri_token" })
    assert.are.equal(1, out.code)
    assert.are.equal("", out.stdout)
    assert.are.equal(INVALID, out.stderr)
    assert.is_false(auth.exists(u.dir))
  end)

  it("gives the documented message for any token not starting with entri_, however long", function()
    local u = auth.user()
    local out = u.run({ "login", "-t", "sk_" .. ("x"):rep(5000) })
    assert.are.equal(1, out.code)
    assert.are.equal(INVALID, out.stderr)
    assert.is_false(auth.exists(u.dir))
  end)

  it("leaves the saved token as it was when the new one is invalid", function()
    local u = auth.user()
    u.run({ "login", "-t", "entri_good_token_0001" })
    local before = sh.slurp(u.global)
    assert.are.equal(1, u.run({ "login", "-t", "bad" }).code)
    assert.are.equal(before, sh.slurp(u.global))
  end)

  it("refuses a token over 4 KiB or with spaces, without echoing it", function()
    local u = auth.user()
    local long = auth.CANARY .. ("x"):rep(4096)
    local out = u.run({ "login", "-t", long })
    assert.are.equal(1, out.code)
    assert.matches("^nt3: the token is too long", out.stderr)
    auth.assert_no_canary(out)
    out = u.run({ "login", "-t", auth.CANARY .. " more" })
    assert.are.equal(1, out.code)
    assert.matches("^nt3: Invalid token format%. Tokens contain only printable ASCII", out.stderr)
    auth.assert_no_canary(out)
    assert.is_false(auth.exists(u.dir))
  end)

  it("refuses an empty -t value", function()
    local u = auth.user()
    local out = u.run({ "login", "-t", "" })
    assert.are.equal(1, out.code)
    assert.are.equal("nt3: the token is empty\n", out.stderr)
  end)

  it("rejects an unknown flag as a usage error", function()
    local u = auth.user()
    local out = u.run({ "login", "--bogus" })
    assert.are.equal(2, out.code)
    assert.matches("unknown flag: %-%-bogus", out.stderr)
  end)
end)

describe("nt3 login -u", function()
  it("saves the API URL alongside the token", function()
    local u = auth.user()
    local out = u.run({ "login", "-t", "entri_your_token_0001", "-u", "https://staging.yourcompany.com" })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.same({ token = "entri_your_token_0001", api_url = "https://staging.yourcompany.com" },
      auth.read_json(u.global))
    local st = u.run({ "status" })
    assert.matches("API URL:  https://staging%.yourcompany%.com %(saved with the token in ~/%.nt3/config%.json%)",
      st.stdout)
  end)

  it("validates the URL before anything is saved", function()
    local u = auth.user()
    for _, url in ipairs({ "http://staging.example.com", "https://user:pw@example.com", "https://x.com/#f", "ftp://x.com" }) do
      local out = u.run({ "login", "-t", "entri_your_token_0001", "--api-url", url })
      assert.are.equal(1, out.code, url)
      assert.matches("^nt3: invalid API URL: [^\n]+\n$", out.stderr)
    end
    assert.is_false(auth.exists(u.dir))
  end)

  it("accepts plain http to a loopback host", function()
    local u = auth.user()
    assert.are.equal(0, u.run({ "login", "-t", "entri_your_token_0001", "-u", "http://127.0.0.1:8080/" }).code)
    assert.are.equal("http://127.0.0.1:8080", auth.read_json(u.global).api_url)
  end)

  it("says so when a new token without -u leaves behind the URL saved with the old one", function()
    -- the URL belongs to the token it was saved with (docs/architecture.md, "The credential store"); a user of a
    -- staging instance who logs in again without -u must not be moved to the
    -- default API without a word
    local u = auth.user()
    assert.are.equal(0, u.run({ "login", "-t", "entri_your_token_0001", "-u", "https://staging.yourcompany.com" }).code)
    local out = u.run({ "login", "-t", "entri_your_token_0002" })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal("Login successful! Token saved to ~/.nt3/config.json\n", out.stdout)
    assert.are.equal("nt3: warning: the API URL https://staging.yourcompany.com saved with the previous token "
      .. "is not kept; this token uses https://app.nt3.io (log in with -u https://staging.yourcompany.com to keep it)\n",
      auth.strip_unverified(out.stderr))
    assert.are.same({ token = "entri_your_token_0002" }, auth.read_json(u.global))
    -- the same URL given again, or no URL before: nothing to say
    assert.are.equal("", auth.strip_unverified(u.run({ "login", "-t", "entri_your_token_0003" }).stderr))
    u.run({ "login", "-t", "entri_your_token_0004", "-u", "https://staging.yourcompany.com" })
    assert.are.equal("", auth.strip_unverified(
      u.run({ "login", "-t", "entri_your_token_0005", "-u", "https://staging.yourcompany.com/" }).stderr))
  end)
end)

describe("nt3 login --local", function()
  it("writes ./.nt3.local.json with mode 0600 and reminds about .gitignore", function()
    local u = auth.user()
    local out = u.run({ "login", "--local", "-t", "entri_your_token_here" }, { umask = "022" })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal("Login successful! Token saved to ./.nt3.local.json\n" ..
      "Reminder: add .nt3.local.json to your .gitignore to avoid accidentally committing credentials.\n", out.stdout)
    assert.are.same({ token = "entri_your_token_here" }, auth.read_json(u["local"]))
    assert.are.equal("600", sh.mode(u["local"]))
    assert.is_false(auth.exists(u.dir))
  end)

  it("accepts -l", function()
    local u = auth.user()
    assert.are.equal(0, u.run({ "login", "-l", "-t", "entri_your_token_here" }).code)
    assert.is_true(auth.exists(u["local"]))
  end)

  local function repo_with(ignore, where)
    local u = auth.user()
    auth.mkdir(u.cwd .. "/.git")
    if ignore then auth.write((where or u.cwd) .. "/.gitignore", ignore) end
    return u
  end

  it("skips the reminder when the repository's .gitignore covers the file", function()
    for _, rule in ipairs({ ".nt3.local.json\n", "/.nt3.local.json\n", "*.local.json\n", "# creds\n.nt3*\n" }) do
      local u = repo_with(rule)
      local out = u.run({ "login", "--local", "-t", "entri_your_token_here" })
      assert.are.equal("Login successful! Token saved to ./.nt3.local.json\n", out.stdout, rule)
    end
  end)

  it("skips the reminder when a .gitignore higher up in the repository covers it", function()
    local u = repo_with("node_modules/\n.nt3.local.json\n")
    local sub = u.cwd .. "/services/api"
    auth.mkdir(sub)
    local out = u.run({ "login", "--local", "-t", "entri_your_token_here" }, { cwd = sub })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal("Login successful! Token saved to ./.nt3.local.json\n", out.stdout)
    assert.is_true(auth.exists(sub .. "/.nt3.local.json"))
  end)

  it("skips the reminder when .git/info/exclude or the user's global ignore file covers it", function()
    local u = repo_with(nil)
    auth.mkdir(u.cwd .. "/.git/info")
    auth.write(u.cwd .. "/.git/info/exclude", ".nt3.local.json\n")
    assert.are.equal("Login successful! Token saved to ./.nt3.local.json\n",
      u.run({ "login", "--local", "-t", "entri_your_token_here" }).stdout)
    local v = repo_with(nil)
    auth.mkdir(v.home .. "/.config/git")
    auth.write(v.home .. "/.config/git/ignore", "*.local.json\n")
    assert.are.equal("Login successful! Token saved to ./.nt3.local.json\n",
      v.run({ "login", "--local", "-t", "entri_your_token_here" }).stdout)
  end)

  it("still reminds when the rule does not cover it, is negated, or there is no .gitignore", function()
    for _, rule in ipairs({ "*.log\n", ".nt3.local.json\n!.nt3.local.json\n", "other/.nt3.local.json\n", false }) do
      local u = repo_with(rule or nil)
      local out = u.run({ "login", "--local", "-t", "entri_your_token_here" })
      assert.matches("Reminder: add %.nt3%.local%.json to your %.gitignore", out.stdout, tostring(rule))
    end
  end)

  it("reminds, without hanging, when a .gitignore line has fifty stars", function()
    local u = repo_with(("*"):rep(50) .. "x\n")
    local long = u.cwd .. "/" .. ("d"):rep(200) .. "/" .. ("e"):rep(200)
    auth.mkdir(long)
    auth.write(u.cwd .. "/.gitignore", ("*"):rep(50) .. "x\n" .. ("*/"):rep(50) .. "x\n")
    -- backtracking would take longer than the age of the universe; 20 s is
    -- what a machine under the whole suite needs at worst
    local out = u.run({ "login", "--local", "-t", "entri_your_token_here" },
      { cwd = long, bin = auth.wrapped("timeout 20") })
    assert.are.equal(0, out.code, out.stderr)
    assert.matches("Reminder: add %.nt3%.local%.json", out.stdout)
  end)

  it("takes a malformed .gitignore pattern as git does, never failing after the token was saved", function()
    for _, rule in ipairs({ "[!]\n", "[]\n", "[.nt3.local.json\n", ".nt3.local.json\\\n", "[[:nope:]]\n" }) do
      local u = repo_with(rule)
      local out = u.run({ "login", "--local", "-t", "entri_your_token_here" })
      assert.are.equal(0, out.code, rule .. ": " .. out.stderr)
      assert.are.equal("", auth.strip_unverified(out.stderr), rule)
      assert.matches("Reminder: add %.nt3%.local%.json", out.stdout, 1, false, rule)
    end
    -- and a well-formed bracket still covers the file
    local u = repo_with("[.]nt3.local.json\n")
    assert.are.equal("Login successful! Token saved to ./.nt3.local.json\n",
      u.run({ "login", "--local", "-t", "entri_your_token_here" }).stdout)
  end)

  it("is not held up by another process holding a lock on the directory", function()
    local u = auth.user()
    local stop = auth.hold_flock(u.cwd)
    local out = u.run({ "login", "--local", "-t", "entri_your_token_here" }, { bin = auth.wrapped("timeout 8") })
    stop()
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal("entri_your_token_here", auth.read_json(u["local"]).token)
  end)

  it("locks a file of its own, created with mode 0600 and gone afterwards", function()
    local u = auth.user()
    local trace = sh.tmpdir() .. "/trace"
    local out = u.run({ "login", "--local", "-t", "entri_your_token_here" },
      { umask = "000", env = auth.traced(),
        bin = auth.wrapped("strace -f -qq -o " .. sh.quote(trace) .. " -e trace=openat,flock,unlink") })
    assert.are.equal(0, out.code, out.stderr)
    local text = assert(sh.slurp(trace))
    assert.matches('openat%(AT_FDCWD, "[^"]*/%.nt3%.local%.json%.lock", [^)]*O_CREAT[^)]*O_NOFOLLOW[^)]*, 0600%) = (%d+)',
      text)
    -- every exclusive flock, by the path its descriptor was opened on
    local opened, locked = {}, {}
    for line in text:gmatch("[^\n]+") do
      local path, fd = line:match('openat%(AT_FDCWD, "([^"]*)".-= (%d+)$')
      if path then opened[fd] = path end
      local lfd = line:match("flock%((%d+), LOCK_EX")
      if lfd then locked[#locked + 1] = opened[lfd] end
    end
    assert.are.same({ u.cwd .. "/.nt3.local.json.lock" }, locked)
    assert.are.same({ ".nt3.local.json" }, auth.listing(u.cwd))
  end)

  it("warns that a local token in this directory still wins over a new global one", function()
    local u = auth.user()
    u.run({ "login", "--local", "-t", "entri_local_token_001" })
    local out = u.run({ "login", "-t", "entri_global_token_01" })
    assert.are.equal(0, out.code)
    assert.are.equal("nt3: warning: ./.nt3.local.json in this directory still takes precedence here over the saved token\n",
      auth.strip_unverified(out.stderr))
  end)

  it("on a global login, saves the token but warns in one line that a corrupted ./.nt3.local.json here still takes priority", function()
    local u = auth.user()
    auth.write(u["local"], "{oops", "600")
    local out = u.run({ "login", "-t", "entri_global_token_01" })
    assert.are.equal(0, out.code)
    assert.are.equal("Login successful! Token saved to ~/.nt3/config.json\n", out.stdout)
    assert.are.equal("nt3: warning: ./.nt3.local.json in this directory is unusable and takes priority here: "
      .. "commands run here fail instead of using the saved token until you fix or remove it (see 'nt3 status')\n",
      auth.strip_unverified(out.stderr))
    assert.are.equal("entri_global_token_01", auth.read_json(u.global).token)
    assert.are.equal("{oops", sh.slurp(u["local"]))
  end)
end)

describe("nt3 login without -t and without a terminal", function()
  it("reads the token from piped stdin, trimmed", function()
    local u = auth.user()
    local out = u.run({ "login" }, { stdin = "  entri_piped_token_001 \n\n" })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal("Login successful! Token saved to ~/.nt3/config.json\n", out.stdout)
    assert.are.equal("entri_piped_token_001", auth.read_json(u.global).token)
  end)

  it("fails on empty input instead of saving an empty token", function()
    local u = auth.user()
    for _, input in ipairs({ "", "\n  \n" }) do
      local out = u.run({ "login" }, { stdin = input })
      assert.are.equal(1, out.code)
      assert.matches("^nt3: no token given: stdin is empty", out.stderr)
    end
    local out = u.run({ "login" }) -- stdin is /dev/null
    assert.are.equal(1, out.code)
    assert.is_false(auth.exists(u.dir))
  end)

  it("refuses an endless stream without reading it all", function()
    local u = auth.user()
    local out = u.run({ "login" }, { stdin = auth.CANARY .. ("a"):rep(100000) })
    assert.are.equal(1, out.code)
    assert.matches("too long", out.stderr)
    auth.assert_no_canary(out)
  end)

  it("refuses stdin holding more than one line, saying one token is expected, without echoing any of it", function()
    local u = auth.user()
    for _, input in ipairs({ "entri_a\nentri_b\n", auth.CANARY .. "\r\n" .. auth.CANARY .. "\n", "\n" .. auth.CANARY .. "\nx\n" }) do
      local out = u.run({ "login" }, { stdin = input })
      assert.are.equal(1, out.code)
      assert.are.equal("", out.stdout)
      assert.are.equal("nt3: stdin holds more than one line; nt3 login expects one token, on one line\n",
        out.stderr)
      auth.assert_no_canary(out)
    end
    assert.is_false(auth.exists(u.dir))
  end)

  it("applies the token format check to piped tokens", function()
    local u = auth.user()
    local out = u.run({ "login" }, { stdin = "ghp_abc\n" })
    assert.are.equal(INVALID, out.stderr)
  end)
end)

describe("nt3 login while NT3_API_TOKEN is set", function()
  it("saves as asked and says the environment variable still takes precedence", function()
    local u = auth.user()
    local out = u.run({ "login", "-t", "entri_saved_token_001" }, { env = { NT3_API_TOKEN = "entri_env_token_00001" } })
    assert.are.equal(0, out.code)
    assert.are.equal("entri_saved_token_001", auth.read_json(u.global).token)
    assert.are.equal("nt3: warning: NT3_API_TOKEN is set and still takes precedence over the saved token; " ..
      "unset it to use the saved one\n", auth.strip_unverified(out.stderr))
  end)
end)

describe("nt3 login while NT3_API_URL is set", function()
  it("saves as asked and says the environment variable still decides where the token goes", function()
    local u = auth.user()
    local out = u.run({ "login", "-t", "entri_saved_token_001", "-u", "https://staging.yourcompany.com" },
      { env = { NT3_API_URL = "https://other.example.com" } })
    assert.are.equal(0, out.code)
    assert.are.equal("https://staging.yourcompany.com", auth.read_json(u.global).api_url)
    assert.are.equal("nt3: warning: NT3_API_URL is set and takes precedence over the saved API URL; " ..
      "unset it to use the saved one\n", auth.strip_unverified(out.stderr))
    -- without -u there is no saved URL for it to take precedence over
    out = u.run({ "login", "-t", "entri_saved_token_002" }, { env = { NT3_API_URL = "https://other.example.com" } })
    assert.are.equal(0, out.code)
    assert.is_nil(out.stderr:find("NT3_API_URL", 1, true))
  end)
end)

describe("nt3 login with a corrupted or insecure config", function()
  local cases = {
    { "not JSON", "token: entri_abc", "is not a JSON object" },
    { "broken JSON", '{"token": "entri_abc"', "is not valid JSON" },
    { "a JSON array", '["entri_abc"]', "is not a JSON object" },
    { "only white space", " \n", "is empty" },
    { "binary", "\0\1\2\255\254garbage", "is not a JSON file (it looks binary)" },
    { "too big", '{"pad":"' .. ("x"):rep(70000) .. '"}', "is too large" },
    { "a token that is not a string", '{"token": 42}', 'has a "token" that is not a string' },
  }
  for _, case in ipairs(cases) do
    it("refuses to overwrite a file that is " .. case[1] .. " and says how to fix it", function()
      local u = auth.user()
      auth.mkdir(u.dir)
      auth.write(u.global, case[2], "600")
      local out = u.run({ "login", "-t", "entri_new_token_00001" })
      assert.are.equal(1, out.code)
      assert.are.equal("", out.stdout)
      assert.matches("^nt3: ~/%.nt3/config%.json " .. case[3]:gsub("%p", "%%%0"), out.stderr)
      assert.matches("rm ~/%.nt3/config%.json", out.stderr)
      assert.are.equal(1, select(2, out.stderr:gsub("\n", "")))
      assert.are.equal(case[2], sh.slurp(u.global))
    end)
  end

  it("takes a file of zero bytes for no file: login writes it, status and logout see no token", function()
    for _, scope in ipairs { "global", "local" } do
      local u = auth.user()
      auth.mkdir(u.dir)
      local path = scope == "global" and u.global or u["local"]
      auth.write(path, "", "600")
      local out = u.run({ "status" })
      assert.are.equal(4, out.code, out.stderr)
      assert.matches("^nt3: not logged in", out.stderr)
      out = u.run({ "logout", scope == "local" and "--local" or nil })
      assert.are.equal(0, out.code, out.stderr)
      assert.are.equal("", sh.slurp(path))
      out = u.run({ "login", "--no-verify", "-t", "entri_new_token_00001", scope == "local" and "--local" or nil })
      assert.are.equal(0, out.code, out.stderr)
      assert.are.same({ token = "entri_new_token_00001" }, auth.read_json(path))
      assert.are.equal("600", sh.mode(path))
    end
    -- the trust checks still apply to it
    local u = auth.user()
    auth.mkdir(u.dir)
    auth.write(u.global, "", "622")
    local out = u.run({ "login", "--no-verify", "-t", "entri_new_token_00001" })
    assert.are.equal(1, out.code)
    assert.matches("^nt3: refusing ~/%.nt3/config%.json: it is writable by group or others", out.stderr)
    assert.are.equal("", sh.slurp(u.global))
  end)

  it("works again once the broken file is removed", function()
    local u = auth.user()
    auth.mkdir(u.dir)
    auth.write(u.global, "garbage", "600")
    assert.are.equal(1, u.run({ "login", "-t", "entri_new_token_00001" }).code)
    os.remove(u.global)
    assert.are.equal(0, u.run({ "login", "-t", "entri_new_token_00001" }).code)
  end)

  it("refuses a file writable by group or others, naming the fix", function()
    local u = auth.user()
    auth.mkdir(u.dir)
    auth.write(u.global, '{"token":"entri_old_token_00001"}', "620")
    local out = u.run({ "login", "-t", "entri_new_token_00001" })
    assert.are.equal(1, out.code)
    assert.are.equal("nt3: refusing ~/.nt3/config.json: it is writable by group or others (mode 0620); " ..
      "fix: chmod 600 ~/.nt3/config.json\n", out.stderr)
    assert.are.equal("entri_old_token_00001", auth.read_json(u.global).token)
  end)

  it("refuses a directory writable by group or others, naming the fix", function()
    local u = auth.user()
    auth.mkdir(u.dir, "777")
    local out = u.run({ "login", "-t", "entri_new_token_00001" })
    assert.are.equal(1, out.code)
    assert.matches("^nt3: refusing ~/%.nt3/config%.json: its directory ~/%.nt3 is writable by group or others " ..
      "%(mode 0777%); fix: chmod go%-w ~/%.nt3\n$", out.stderr)
    assert.is_false(auth.exists(u.global))
  end)

  it("refuses a directory writable by its group only (0770), global and local", function()
    local u = auth.user()
    auth.mkdir(u.dir, "770")
    local out = u.run({ "login", "-t", "entri_new_token_00001" })
    assert.are.equal(1, out.code)
    assert.matches("^nt3: refusing ~/%.nt3/config%.json: its directory ~/%.nt3 is writable by group or others " ..
      "%(mode 0770%); fix: chmod go%-w ~/%.nt3\n$", out.stderr)
    assert.is_false(auth.exists(u.global))
    local v = auth.user()
    assert(os.execute("chmod 770 " .. sh.quote(v.cwd)))
    out = v.run({ "login", "--local", "-t", "entri_new_token_00001" })
    assert.are.equal(1, out.code)
    assert.matches("^nt3: refusing %./%.nt3%.local%.json: its directory .* is writable by group or others " ..
      "%(mode 0770%); fix: chmod go%-w ", out.stderr)
    assert.is_false(auth.exists(v["local"]))
  end)

  -- making a file of another user needs root (CAP_CHOWN); .ci/run runs as root
  it("refuses a file or a directory owned by another user, naming the fix", function()
    local u = auth.user()
    auth.mkdir(u.dir)
    auth.write(u.global, '{"token":"entri_old_token_00001"}', "600")
    assert(os.execute("chown 65534 " .. sh.quote(u.global)), "chown needs root")
    local out = u.run({ "login", "-t", "entri_new_token_00001" })
    assert.are.equal(1, out.code)
    assert.are.equal("nt3: refusing ~/.nt3/config.json: it is owned by another user (uid 65534); " ..
      "fix: remove it (rm ~/.nt3/config.json) and log in again\n", out.stderr)
    assert.are.equal("entri_old_token_00001", auth.read_json(u.global).token)
    assert.are.equal(1, u.run({ "status" }).code)

    local v = auth.user()
    auth.mkdir(v.dir)
    assert(os.execute("chown 65534 " .. sh.quote(v.dir)))
    out = v.run({ "login", "-t", "entri_new_token_00001" })
    assert.are.equal(1, out.code)
    assert.matches("^nt3: refusing ~/%.nt3/config%.json: its directory ~/%.nt3 is owned by another user %(uid 65534%)", out.stderr)
    assert.is_false(auth.exists(v.global))
  end)

  it("uses a file readable by others with a warning, and the write makes it 0600 again", function()
    local u = auth.user()
    auth.mkdir(u.dir)
    auth.write(u.global, '{"token":"entri_old_token_00001"}', "644")
    local out = u.run({ "login", "-t", "entri_new_token_00001" })
    assert.are.equal(0, out.code, out.stderr)
    assert.matches("nt3: warning: ~/%.nt3/config%.json is readable by group or others %(mode 0644%); fix: chmod 600", out.stderr)
    assert.are.equal("600", sh.mode(u.global))
    assert.are.equal("entri_new_token_00001", auth.read_json(u.global).token)
  end)
end)

describe("nt3 login --help", function()
  it("shows the options of the documentation", function()
    local out = auth.user().run({ "login", "--help" })
    assert.are.equal(0, out.code)
    assert.matches("Alias: nt3 auth", out.stdout)
    assert.matches("%-t, %-%-token <token>%s+API token %(skips the interactive prompt; visible to other local users",
      out.stdout)
    assert.matches("%-u, %-%-api%-url <url>%s+Custom API URL, the server's base without /api/v1 %(default: "
      .. "https://app%.nt3%.io%)", out.stdout)
    assert.matches("%-l, %-%-local%s+Save credentials to %.nt3%.local%.json instead of the global config", out.stdout)
  end)
end)

describe("nt3 login when the prompt fails", function()
  -- The prompt's stable codes decide, not its words: a stand-in prompt
  -- whose messages say something else entirely still gets each answer.
  local function login_with_prompt_failure(code)
    local u = auth.user()
    return u.lua(([[
      package.loaded["nt3.prompt"] = {
        isatty = function() return true end,
        secret = function() return nil, "reworded by a later version", %q end,
      }
      local cli = require "nt3.cli"
      os.exit(cli.run_command(cli.find("login"), {}))
    ]]):format(code)), u
  end

  it("exits 130 saying login cancelled when interrupted", function()
    local out, u = login_with_prompt_failure("interrupted")
    assert.are.equal(130, out.code, out.stderr)
    assert.matches("nt3: login cancelled\n$", out.stderr)
    assert.is_false(auth.exists(u.dir))
  end)

  it("says no token entered at the end of input, and no terminal without one", function()
    local out = login_with_prompt_failure("end_of_input")
    assert.are.equal(1, out.code)
    assert.matches("nt3: no token entered\n$", out.stderr)
    out = login_with_prompt_failure("no_terminal")
    assert.are.equal(1, out.code)
    assert.matches("nt3: no terminal to prompt on; pass the token with %-t <token> or pipe it on stdin\n$", out.stderr)
    out = login_with_prompt_failure("something_new")
    assert.are.equal(1, out.code)
    assert.matches("nt3: cannot read the token: reworded by a later version\n$", out.stderr)
  end)
end)

describe("nt3 login on a terminal", function()
  local pty = require "helpers.pty"

  local function on_pty(u, steps, env)
    local e = { NT3_API_TOKEN = false, NT3_API_URL = false, NT3_CONFIG_DIR = false }
    for k, v in pairs(auth.OFFLINE) do e[k] = v end
    for k, v in pairs(env or {}) do e[k] = v end
    return pty.run({ "login" }, { home = u.home, cwd = u.cwd, env = e, steps = steps })
  end

  it("prints the hint, masks each typed character with * and saves the token", function()
    local u = auth.user()
    local res = on_pty(u, {
      { expect = "Paste your API token: " },
      { send = auth.CANARY .. "\r" },
      { expect = "Login successful!" },
    })
    assert.are.equal(0, res.code, res.output)
    assert.matches("To create an API token, visit your nt3 dashboard > Settings > API Tokens\r?\n", res.output)
    assert.matches("Paste your API token: " .. ("%*"):rep(#auth.CANARY) .. "\r?\n", res.output)
    assert.matches("Login successful! Token saved to ~/%.nt3/config%.json", res.output)
    assert.is_nil(res.output:find(auth.CANARY, 1, true), "the token was echoed")
    assert.is_true(res.echo_on_after)
    assert.are.equal(auth.CANARY, auth.read_json(u.global).token)
  end)

  it("says ./.nt3.local.json with --local", function()
    local u = auth.user()
    local res = pty.run({ "login", "--local" }, { home = u.home, cwd = u.cwd, env = { NT3_API_TOKEN = false },
      steps = { { expect = "Paste your API token: " }, { send = "entri_typed_token_0001\r" }, { expect = "Reminder" } } })
    assert.are.equal(0, res.code, res.output)
    assert.matches("Login successful! Token saved to %./%.nt3%.local%.json", res.output)
    assert.are.equal("entri_typed_token_0001", auth.read_json(u["local"]).token)
  end)

  it("exits 130 on Ctrl-C with nothing written and the terminal restored", function()
    local u = auth.user()
    -- Ctrl-C only once every typed key has been read (its * is shown): a
    -- Ctrl-C racing unread input can hang nt3.prompt (reported to its owner)
    local res = on_pty(u, {
      { expect = "Paste your API token: " },
      { send = "entri_half" },
      { expect = ("*"):rep(#"entri_half") },
      { send = "\3" },
    })
    assert.are.equal(130, res.code, res.output)
    assert.is_true(res.echo_on_after)
    assert.is_false(auth.exists(u.dir))
  end)

  it("checks the typed token like any other", function()
    local u = auth.user()
    local res = on_pty(u, { { expect = "Paste your API token: " }, { send = "ghp_typed\r" } })
    assert.are.equal(1, res.code)
    assert.matches('Invalid token format%. Tokens should start with "entri_"', res.output)
    assert.is_false(auth.exists(u.dir))
  end)
end)

describe("nt3 login verifies the token with GET /api/v1/me before saving it", function()
  local server = require "helpers.server"
  local pty = require "helpers.pty"
  local srv
  setup(function() srv = server.start() end)
  teardown(function() srv.stop() end)

  local function me_requests()
    local list = {}
    for _, r in ipairs(srv.requests()) do
      if r.path == "/api/v1/me" then list[#list + 1] = r end
    end
    return list
  end

  it("on 200 saves it and names the account after the documented line", function()
    local u = auth.user()
    local out = u.run({ "login", "-t", "entri_valid_login_00001", "-u", srv.url })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal("Login successful! Token saved to ~/.nt3/config.json\nLogged in as dev@example.com\n", out.stdout)
    assert.are.equal("", out.stderr)
    assert.are.same({ token = "entri_valid_login_00001", api_url = srv.url }, auth.read_json(u.global))
    local last = me_requests()[#me_requests()]
    assert.are.equal("Bearer entri_valid_login_00001", last.headers.authorization)
    assert.matches("^nt3/", last.headers["user-agent"])
  end)

  it("checks at the URL the token will be used with: NT3_API_URL over -u", function()
    local u = auth.user()
    local out = u.run({ "login", "-t", "entri_valid_login_00002", "-u", "https://staging.example.com" },
      { env = { NT3_API_URL = srv.url } })
    assert.are.equal(0, out.code, out.stderr)
    assert.matches("Logged in as dev@example%.com\n$", out.stdout)
  end)

  it("on 401 saves nothing and exits 1 with one line naming the API URL", function()
    local u = auth.user()
    u.run({ "login", "--no-verify", "-t", "entri_old_saved_token_1" })
    local before = sh.slurp(u.global)
    local out = u.run({ "login", "-t", "entri_revoked_login_0001", "-u", srv.url })
    assert.are.equal(1, out.code)
    assert.are.equal("", out.stdout)
    assert.are.equal(("nt3: the API at %s rejected the token (HTTP 401); nothing was saved\n"):format(srv.url), out.stderr)
    assert.are.equal(before, sh.slurp(u.global))
    -- with --local too: no file is made
    out = u.run({ "login", "--local", "-t", "entri_revoked_login_0001", "-u", srv.url })
    assert.are.equal(1, out.code)
    assert.is_false(auth.exists(u["local"]))
  end)

  it("on 403 saves nothing either, as for 401", function()
    local forbidden = require("helpers.canned").start { status = 403, body = '{"message":"forbidden"}' }
    local u = auth.user()
    u.run({ "login", "--no-verify", "-t", "entri_old_saved_token_1" })
    local before = sh.slurp(u.global)
    local out = u.run({ "login", "-t", "entri_valid_forbidden_01", "-u", forbidden.url })
    local cmd_out = u.run({ "login", "--profile", "vault", "--credential-command", "/bin/echo entri_valid_forbidden_02",
      "-u", forbidden.url })
    forbidden.stop()
    assert.are.equal(1, out.code)
    assert.are.equal("", out.stdout)
    assert.are.equal(("nt3: the API at %s rejected the token (HTTP 403); nothing was saved\n"):format(forbidden.url),
      out.stderr)
    assert.are.equal(1, cmd_out.code)
    assert.are.equal(("nt3: the API at %s rejected the token the credential command printed (HTTP 403); nothing was"
      .. " saved\n"):format(forbidden.url), cmd_out.stderr)
    assert.are.equal(before, sh.slurp(u.global))
  end)

  it("when the API cannot be reached, saves it and warns that it is unverified, saying why", function()
    local gone = server.start()
    local url = gone.url
    gone.stop()
    local u = auth.user()
    local out = u.run({ "login", "-t", "entri_unverified_00001", "-u", url })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal("Login successful! Token saved to ~/.nt3/config.json\n", out.stdout)
    assert.are.equal(("nt3: warning: the token is saved, but unverified: could not reach the API at %s "
      .. "(could not connect to 127.0.0.1 port %d: Connection refused); check it later with 'nt3 status --check'\n")
      :format(url, gone.port), out.stderr)
    assert.are.equal("entri_unverified_00001", auth.read_json(u.global).token)
  end)

  it("warns that an API URL with a path should be the base URL, and names the URL it really asked", function()
    local u = auth.user()
    local out = u.run({ "login", "-t", "entri_valid_login_00003", "-u", srv.url .. "/api/v1" })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal(table.concat({
      ("nt3: warning: the API URL %s/api/v1 has a path (/api/v1): it should be the server's base URL, %s;"
        .. " requests go to %s/api/v1/api/v1/...\n"):format(srv.url, srv.url, srv.url),
      ("nt3: warning: the token is saved, but unverified: the API answered GET %s/api/v1/api/v1/me with HTTP 404;"
        .. " check it later with 'nt3 status --check'\n"):format(srv.url),
    }), out.stderr)
    -- the same from NT3_API_URL, which wins over -u
    out = u.run({ "login", "-t", "entri_valid_login_00004" }, { env = { NT3_API_URL = srv.url .. "/v2/" } })
    assert.matches("^nt3: warning: NT3_API_URL " .. srv.url:gsub("%p", "%%%0") .. "/v2 has a path %(/v2%)", out.stderr)
  end)

  it("skips the check with --no-verify: no request at all", function()
    local u = auth.user()
    local before = #me_requests()
    local out = u.run({ "login", "--no-verify", "-t", "entri_revoked_login_0002", "-u", srv.url })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal("Login successful! Token saved to ~/.nt3/config.json\n", out.stdout)
    assert.are.equal("", out.stderr)
    assert.are.equal(before, #me_requests())
  end)

  describe("on a terminal", function()
    local function typed(u, steps)
      local e = { NT3_API_TOKEN = false, NT3_API_URL = srv.url, NT3_CONFIG_DIR = false }
      return pty.run({ "login" }, { home = u.home, cwd = u.cwd, env = e, steps = steps })
    end

    it("asks again after a rejected token, and saves the one the API accepts", function()
      local u = auth.user()
      local res = typed(u, {
        { expect = "Paste your API token: " },
        { send = "entri_revoked_typed_01\r" },
        { expect = "try again (attempt 2 of 3)" },
        { expect = "Paste your API token: " },
        { send = "entri_valid_typed_0002\r" },
        { expect = "Logged in as dev@example.com" },
      })
      assert.are.equal(0, res.code, res.output)
      assert.matches("the API at " .. srv.url:gsub("%p", "%%%0") .. " rejected the token %(HTTP 401%)", res.output)
      assert.are.equal("entri_valid_typed_0002", auth.read_json(u.global).token)
      -- the hint comes once
      local _, hints = res.output:gsub("To create an API token", "")
      assert.are.equal(1, hints)
    end)

    it("gives up after 3 rejected tokens with exit 1 and nothing saved", function()
      local u = auth.user()
      local steps = {}
      for i = 1, 3 do
        steps[#steps + 1] = { expect = "Paste your API token: " }
        steps[#steps + 1] = { send = ("entri_revoked_typed_%02d\r"):format(i) }
      end
      steps[#steps + 1] = { expect = "nothing was saved" }
      local res = typed(u, steps)
      assert.are.equal(1, res.code, res.output)
      local _, prompts = res.output:gsub("Paste your API token: ", "")
      assert.are.equal(3, prompts)
      assert.is_false(auth.exists(u.global))
      assert.is_true(res.echo_on_after)
    end)
  end)
end)

teardown(sh.cleanup)

describe("nt3 login -t TOKEN", function()
  -- a server that accepts connections and never answers: login waits in
  -- its check, long after it parsed its arguments
  local SILENT = [[
import os, socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
s.settimeout(120)
n = 0
while True:
    c, _ = s.accept()
    n += 1
    with open(sys.argv[2] + ".%d" % n, "w") as f:
        pass
]]

  local function eventually(pred)
    for _ = 1, 400 do
      if pred() then return true end
      os.execute("sleep 0.05")
    end
    return false
  end

  it("overwrites the token in its own arguments once parsed: ps and /proc/<pid>/cmdline never show it", function()
    local d = sh.tmpdir()
    sh.spit(d .. "/silent.py", SILENT)
    assert(os.execute(("python3 %s %s %s </dev/null >/dev/null 2>&1 & echo $! >%s"):format(sh.quote(d .. "/silent.py"),
      sh.quote(d .. "/port"), sh.quote(d .. "/accepted"), sh.quote(d .. "/server.pid"))))
    local server_pid = assert(tonumber(sh.slurp(d .. "/server.pid")))
    assert.is_true(eventually(function() return sh.slurp(d .. "/port") ~= nil end), "the silent server did not start")
    local url = "http://127.0.0.1:" .. sh.slurp(d .. "/port")
    local token = "entri_secret_in_argv_0123456789"
    local u = auth.user()
    local vars = sh.environment { home = u.home, env = { NT3_API_TOKEN = false, NT3_API_URL = false } }
    local env_words = {}
    for k, v in pairs(vars) do env_words[#env_words + 1] = sh.quote(k .. "=" .. v) end
    for n, form in ipairs { { "-t", token }, { "--token=" .. token }, { "-t" .. token } } do
      local words = { sh.quote(sh.bin), "login" }
      for _, w in ipairs(form) do words[#words + 1] = sh.quote(w) end
      words[#words + 1] = "-u"
      words[#words + 1] = sh.quote(url)
      local pidfile = d .. "/nt3.pid." .. n
      assert(os.execute(("cd %s && (exec env -i %s %s </dev/null >/dev/null 2>&1) & echo $! >%s"):format(
        sh.quote(u.cwd), table.concat(env_words, " "), table.concat(words, " "), sh.quote(pidfile))))
      local pid = assert(tonumber(sh.slurp(pidfile)))
      -- connected: the arguments were parsed long ago, and login now waits
      local connected = eventually(function() return sh.slurp(d .. "/accepted." .. n) ~= nil end)
      local cmdline = sh.slurp("/proc/" .. pid .. "/cmdline") or ""
      os.execute("kill -KILL " .. pid .. " 2>/dev/null")
      assert.is_true(connected, "nt3 login never connected")
      assert.truthy(cmdline:find("\0login\0", 1, true), cmdline)
      assert.is_nil(cmdline:find("secret_in_argv", 1, true), cmdline)
      assert.truthy(cmdline:find(("x"):rep(#token), 1, true), cmdline)
    end
    os.execute("kill -KILL " .. server_pid .. " 2>/dev/null")
  end)
end)
