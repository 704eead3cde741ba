-- nt3 login (alias nt3 auth): save an API token, globally or for this
-- directory. The behaviour and the messages are the documented contract
-- (docs: "nt3 login"); the store itself is nt3.config.
local io, ipairs, require, table, tostring, type = io, ipairs, require, table, tostring, type
local cli = require "nt3.cli"
-- The store and the environment are loaded when the command runs, not when
-- `nt3 help` loads every command for its summary.
local config, env

local HINT = "To create an API token, visit your nt3 dashboard > Settings > API Tokens"
local PROMPT = "Paste your API token: "

local function read_stdin()
  -- piped input may carry a newline or two around the token; anything much
  -- longer than a token is refused without being read to the end
  local STDIN_MAX = config.TOKEN_MAX + 1024
  local data = io.stdin:read(STDIN_MAX + 1)
  if data == nil or data:find("^%s*$") then
    cli.fail("no token given: stdin is empty (pass -t <token>, pipe the token in, or run nt3 login in a terminal)")
  end
  if #data > STDIN_MAX then
    cli.fail(("the token is too long (more than %d bytes on stdin; at most %d)"):format(STDIN_MAX, config.TOKEN_MAX))
  end
  -- two tokens (or a token and a note) would otherwise be judged as one
  -- token with a line break in it; say what is wrong, never what was read
  if data:match("^%s*(.-)%s*$"):find("[\r\n]") then
    cli.fail("stdin holds more than one line; nt3 login expects one token, on one line")
  end
  return data
end

-- The prompt says why it failed with a stable code beside its message.
local PROMPT_FAILURES = {
  interrupted = function() cli.fail("login cancelled", cli.EXIT.interrupted) end,
  end_of_input = function() cli.fail("no token entered") end,
  no_terminal = function()
    cli.fail("no terminal to prompt on; pass the token with -t <token> or pipe it on stdin")
  end,
}

local function read_terminal(attempt)
  local prompt = require "nt3.prompt"
  if attempt == 1 then io.stderr:write(HINT, "\n\n") end
  local token, err, code = prompt.secret(PROMPT, { mask = "*" })
  if token then return token end
  local failure = PROMPT_FAILURES[code]
  if failure then failure() end
  cli.fail("cannot read the token: " .. tostring(err))
end

-- The token and whether it was typed on the terminal (so a rejected one
-- may be typed again).
local function obtain_token(opts, attempt)
  if opts.token then return opts.token end
  if require("nt3.prompt").isatty("stdin") then return read_terminal(attempt), true end
  return read_stdin()
end

---------------------------------------------------------------------------
-- the steps of a login
---------------------------------------------------------------------------

-- Requests go to <api_url>/api/v1/...: a URL that already ends in a path
-- (https://host/api/v1) doubles it. Said once, it is then plain to see.
local function warn_path(url, name)
  local origin, path = url:match("^(%a[%w+.-]*://[^/?#]*)(/[^?#]*)")
  if path and path ~= "/" then
    cli.warn(("%s %s has a path (%s): it should be the server's base URL, %s; requests go to %s/api/v1/..."):format(
      name, url, path, origin, url))
  end
end

local function checked_url(opts)
  if not opts.api_url then return nil end
  local url, why = config.validate_url(opts.api_url)
  if not url then cli.fail(why) end
  warn_path(url, "the API URL")
  return url
end

-- Asks for nothing that could not be saved: a corrupted or insecure file
-- fails now, before the prompt. Returns the warnings already printed.
local function check_store(scope)
  local ok, why = config.check(scope)
  if not ok then cli.fail(why) end
  local warned = {}
  for _, w in ipairs(why) do
    warned[w] = true
    cli.warn(w)
  end
  return warned
end

local function checked_token(opts, attempt)
  local given, typed = obtain_token(opts, attempt)
  local token, bad = config.validate_token(given)
  if not token then cli.fail(bad) end
  return token, typed
end

---------------------------------------------------------------------------
-- verifying a token (GET /api/v1/me) before it is saved
---------------------------------------------------------------------------

local ATTEMPTS = 3
local ME = "/api/v1/me"

-- Where the token will be sent from now on: NT3_API_URL, else -u, else the
-- default (the rule of nt3.config); it is checked there.
local function target_url(url)
  local override = env.get("NT3_API_URL")
  if override and override ~= "" then
    local u, why = config.validate_url(override)
    if not u then return nil, "NT3_API_URL is not usable: " .. why end
    warn_path(u, "NT3_API_URL")
    return u
  end
  return url or config.DEFAULT_API_URL
end

-- verify(token, url) -> { ok = true, account } | { rejected = status } |
-- { unverified = why }. Through nt3.api like every request (the pool, the
-- network policy, NT3_CA_FILE); HTTP is loaded only here, and only once
-- per attempt: a user is waiting, so no retries.
local function verify(token, url)
  local api_url, why = target_url(url)
  if not api_url then return { unverified = why } end
  local account, err, code = require("nt3.api").request {
    path = ME, credential = { token = token, api_url = api_url, warnings = {} },
    retries = 0, connect_timeout = 10, timeout = 30,
  }
  -- the URL really asked, so a doubled path shows
  local asked = api_url .. ME
  if account ~= nil then
    if type(account) ~= "table" then
      return { unverified = ("the API answered GET %s with something other than an account"):format(asked),
        url = api_url }
    end
    return { ok = true, account = account, url = api_url }
  end
  if code == 401 or code == 403 then return { rejected = code, url = api_url } end
  if type(code) == "number" then
    return { unverified = ("the API answered GET %s with HTTP %d"):format(asked, code), url = api_url }
  end
  return { unverified = ("could not reach the API at %s (%s)"):format(api_url, tostring(err)), url = api_url }
end

local function rejection(v, what)
  return ("the API at %s rejected %s (HTTP %d)"):format(v.url, what, v.rejected)
end

-- The token to save and what the API said of it. A token typed on the
-- terminal that the API rejects may be typed again, up to ATTEMPTS times.
local function verified_token(opts, url)
  for attempt = 1, ATTEMPTS do
    local token, typed = checked_token(opts, attempt)
    if opts.no_verify then return token end
    local v = verify(token, url)
    if not v.rejected then return token, v end
    if not typed or attempt == ATTEMPTS then cli.fail(rejection(v, "the token") .. "; nothing was saved") end
    cli.errorln(("nt3: %s; try again (attempt %d of %d)"):format(rejection(v, "the token"), attempt + 1, ATTEMPTS))
  end
end

-- "dev@example.com": the account as the server names it, one printable line.
local function account_name(a)
  local policy = require "nt3.policy"
  for _, k in ipairs { "email", "name", "id" } do
    local v = a[k]
    if (type(v) == "string" or type(v) == "number") and tostring(v) ~= "" then
      return policy.sanitize(tostring(v), 200)
    end
  end
  return "an account with no name"
end

local function report(v)
  if not v then return end
  if v.ok then cli.print("Logged in as " .. account_name(v.account)) end
  if v.unverified then
    cli.warn(("the token is saved, but unverified: %s; check it later with 'nt3 status --check'"):format(v.unverified))
  end
end

-- The URL belongs to the token it was saved with, so a new token without
-- -u goes to the default API: say so rather than move a user of a
-- self-hosted instance without a word.
local function warn_dropped_url(old_url, url)
  if old_url and not url and old_url ~= config.DEFAULT_API_URL then
    cli.warn(("the API URL %s saved with the previous token is not kept; this token uses %s"
      .. " (log in with -u %s to keep it)"):format(old_url, config.DEFAULT_API_URL, old_url))
  end
end

-- Warnings about the files as they are now (e.g. one readable by others)
-- not already given before the prompt.
local function warn_new_findings(sources, warned)
  for _, rec in ipairs(sources) do
    for _, w in ipairs(rec.warnings) do
      if not warned[w] then cli.warn(w) end
    end
  end
end

local function remind_gitignore(scope)
  if scope ~= "local" then return end
  if require("nt3.gitignore").ignores(env.cwd() or ".", config.LOCAL_NAME) then return end
  cli.print("Reminder: add " .. config.LOCAL_NAME
    .. " to your .gitignore to avoid accidentally committing credentials.")
end

-- What still wins over the token just saved, here and now.
local function warn_precedence(scope, url, sources)
  local here = sources["local"]
  local t = env.get("NT3_API_TOKEN")
  if t and t ~= "" then
    cli.warn("NT3_API_TOKEN is set and still takes precedence over the saved token; unset it to use the saved one")
  elseif scope == "global" and here.token then
    cli.warn(("%s in this directory still takes precedence here over the saved token"):format(here.display))
  elseif scope == "global" and (env.get("NT3_PROFILE") or "") ~= "" then
    cli.warn("NT3_PROFILE is set and takes precedence over the saved token; unset it to use the saved one")
  elseif scope == "global" and here.profile then
    cli.warn(('%s in this directory names profile "%s", which takes precedence here over the saved token')
      :format(here.display, here.profile))
  elseif scope == "global" and here.state == "invalid" then
    -- a broken local file stops resolution here (never a silent fall
    -- through), so the token just saved is not what runs in this directory
    cli.warn(("%s in this directory is unusable and takes priority here: commands run here fail instead of"
      .. " using the saved token until you fix or remove it (see 'nt3 status')"):format(here.display))
  end
  local override = env.get("NT3_API_URL")
  if url and override and override ~= "" then
    cli.warn("NT3_API_URL is set and takes precedence over the saved API URL; unset it to use the saved one")
  end
end

-- The account a login writes: the top level of the file, or a profile.
local function account_before(scope, profile)
  local rec = config.sources()[scope == "local" and "local" or "global"]
  if not profile then return rec end
  return rec.profiles and rec.profiles[profile] or {}
end

local function checked_profile(opts)
  if not opts.profile then return nil end
  local name, why = config.validate_profile_name(opts.profile)
  if not name then cli.fail(why) end
  return name
end

local function saved_to(saved, profile)
  if not profile then return saved.display end
  return ('%s (profile "%s")'):format(saved.display, profile)
end

-- nt3 login --local --profile NAME: the folder names an account of the
-- global file and holds no secret.
local function name_profile(opts, profile)
  if opts.token or opts.credential_command or opts.api_url then
    cli.fail("--local --profile makes this folder use a saved profile; it takes no token, URL or command"
      .. " (save those with 'nt3 login --profile " .. profile .. "')")
  end
  local known = config.profiles()
  local found = false
  for _, n in ipairs(known) do found = found or n == profile end
  if not found then
    cli.fail(('unknown profile "%s"; %s'):format(profile, #known > 0 and "known profiles: " .. table.concat(known, ", ")
      or "there are no profiles yet; create one with 'nt3 login --profile " .. profile .. "'"), cli.EXIT.not_logged_in)
  end
  check_store("local")
  local saved, err = config.save { scope = "local", profile = profile }
  if not saved then cli.fail(err) end
  cli.print(('Login successful! This folder now uses profile "%s" (saved to %s)'):format(profile, saved.display))
  return cli.EXIT.ok
end

-- nt3 login [--profile NAME] --credential-command '<program> <args...>'
local function save_command(opts, profile, url)
  if opts.token then cli.fail("give a token (-t) or a credential command, not both") end
  if opts["local"] then
    cli.fail("a credential command is saved only in the global file: a folder never makes nt3 run a program")
  end
  local argv = {}
  for word in opts.credential_command:gmatch("%S+") do argv[#argv + 1] = word end
  local ok, why = config.validate_command(argv)
  if not ok then cli.fail(why) end
  check_store("global")
  local v
  if not opts.no_verify then
    local global = config.path("global")
    local cred = { credential_command = argv, source = profile and "profile" or "global", profile = profile,
      display = global and config.display(global, "global") or "~/.nt3/config.json" }
    local token, err = config.token(cred)
    if not token then cli.fail(err) end
    v = verify(token, url)
    if v.rejected then
      cli.fail(rejection(v, "the token the credential command printed") .. "; nothing was saved")
    end
  end
  local saved, err = config.save { credential_command = argv, api_url = url, profile = profile }
  if not saved then cli.fail(err) end
  require("nt3.api.cache").forget("global", profile, saved.path)
  cli.print("Login successful! Credential command saved to " .. saved_to(saved, profile))
  report(v)
  return cli.EXIT.ok
end

local function run(opts)
  config, env = require "nt3.config", require "nt3.env"
  local scope = opts["local"] and "local" or "global"
  local profile = checked_profile(opts)
  if profile and scope == "local" then return name_profile(opts, profile) end
  local url = checked_url(opts)
  if opts.credential_command then return save_command(opts, profile, url) end
  local warned = check_store(scope)
  local token, verdict = verified_token(opts, url)
  local before = account_before(scope, profile)
  local saved, err = config.save { token = token, api_url = url, scope = scope, profile = profile }
  if not saved then cli.fail(err) end
  require("nt3.api.cache").forget(scope, profile, saved.path)
  warn_dropped_url(before.token and before.api_url, url)
  local sources = config.sources()
  warn_new_findings(sources, warned)
  cli.print("Login successful! Token saved to " .. saved_to(saved, profile))
  report(verdict)
  remind_gitignore(scope)
  warn_precedence(profile and "profile" or scope, url, sources)
  return cli.EXIT.ok
end

return {
  name = "login",
  aliases = { "auth" },
  summary = "Authenticate the CLI with an API token",
  description = [[
Saves an API token so every later command uses it. With no -t, asks for the
token on the terminal (typed characters show as *), or reads it from stdin
when stdin is not a terminal: echo "$TOKEN" | nt3 login (one token on one
line; white space around it is trimmed, more lines are refused). That is
the safe form for scripts: a -t token is visible to other local users (ps,
/proc/<pid>/cmdline) until nt3 has parsed it and overwritten it with x's.

Tokens start with "entri_". The token goes to ~/.nt3/config.json (mode 600,
directory 700), or with --local to .nt3.local.json in the current directory
(mode 600), which takes priority over the global config in that directory.
Token priority: NT3_API_TOKEN, --profile, NT3_PROFILE, ./.nt3.local.json,
~/.nt3/config.json.
Run 'nt3 status' to see which token is active.

Before saving, the token is checked with GET /api/v1/me at the API URL it
will be used with: a token the API rejects (401/403) is not saved (on the
terminal you may type it again, 3 tries in all); when the API cannot be
reached the token is saved with a warning that it is unverified.
--no-verify skips the check.

--profile NAME saves into the named profile of ~/.nt3/config.json instead
(use it with --profile NAME or NT3_PROFILE=NAME on any command); with
--local, the folder names that profile ({"profile": "NAME"} in
.nt3.local.json) and holds no secret. --credential-command saves a program
that prints the token (a keyring, a password manager) instead of a token:
its value is split on white space, no shell and no quoting, and the program
must be an absolute path, e.g.
  --credential-command '/usr/bin/secret-tool lookup service nt3'
The program runs only when a token is needed; its stdin is /dev/null, it
has 30 seconds, and the first line it prints is the token.]],
  examples = {
    "nt3 login",
    "nt3 login -t entri_your_token_here",
    "nt3 login --local -t entri_your_token_here",
    "nt3 login -t entri_your_token -u https://staging.yourcompany.com",
    "nt3 login --profile staging -u https://staging.yourcompany.com",
    "nt3 login --profile vault --credential-command '/usr/bin/secret-tool lookup service nt3'",
    "nt3 login --local --profile staging",
  },
  flags = {
    { short = "t", long = "token", value = "token", secret = true,
      help = "API token (skips the interactive prompt; visible to other local users until parsed: prefer stdin)" },
    { short = "u", long = "api-url", value = "url",
      help = "Custom API URL, the server's base without /api/v1 (default: https://app.nt3.io)" },
    { short = "l", long = "local", help = "Save credentials to .nt3.local.json instead of the global config" },
    { long = "profile", value = "name",
      help = "Save into this profile of ~/.nt3/config.json (with --local: use it here)" },
    { long = "credential-command", value = "command",
      help = "Save a program that prints the token instead of a token (split on white space; absolute path)" },
    { long = "no-verify", help = "Save the token without checking it with the API" },
  },
  run = run,
}
