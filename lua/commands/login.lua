-- nt3 login (alias nt3 auth): save an API token, globally or for this
-- directory. The behaviour and the messages are the documented contract
-- (docs: "nt3 login"); the store itself is nt3.config.
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

local function read_terminal()
  local prompt = require "nt3.prompt"
  io.stderr:write(HINT, "\n\n")
  local token, err, code = prompt.secret(PROMPT, { mask = "*" })
  if token then return token end
  local failure = PROMPT_FAILURES[code]
  if failure then failure() end
  cli.fail("cannot read the token: " .. tostring(err))
end

local function obtain_token(opts)
  if opts.token then return opts.token end
  if require("nt3.prompt").isatty("stdin") then return read_terminal() end
  return read_stdin()
end

---------------------------------------------------------------------------
-- the steps of a login
---------------------------------------------------------------------------

local function checked_url(opts)
  if not opts.api_url then return nil end
  local url, why = config.validate_url(opts.api_url)
  if not url then cli.fail(why) end
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

local function checked_token(opts)
  local token, bad = config.validate_token(obtain_token(opts))
  if not token then cli.fail(bad) end
  return token
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

local function run(opts)
  config, env = require "nt3.config", require "nt3.env"
  local scope = opts["local"] and "local" or "global"
  local url = checked_url(opts)
  local warned = check_store(scope)
  local token = checked_token(opts)
  local before = config.sources()[scope]
  local saved, err = config.save { token = token, api_url = url, scope = scope }
  if not saved then cli.fail(err) end
  warn_dropped_url(before.token and before.api_url, url)
  local sources = config.sources()
  warn_new_findings(sources, warned)
  cli.print("Login successful! Token saved to " .. saved.display)
  remind_gitignore(scope)
  warn_precedence(scope, url, sources)
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
line; white space around it is trimmed, more lines are refused)

Tokens start with "entri_". The token goes to ~/.nt3/config.json (mode 600,
directory 700), or with --local to .nt3.local.json in the current directory
(mode 600), which takes priority over the global config in that directory.
Token priority: NT3_API_TOKEN, then ./.nt3.local.json, then ~/.nt3/config.json.
Run 'nt3 status' to see which token is active.]],
  examples = {
    "nt3 login",
    "nt3 login -t entri_your_token_here",
    "nt3 login --local -t entri_your_token_here",
    "nt3 login -t entri_your_token -u https://staging.yourcompany.com",
  },
  flags = {
    { short = "t", long = "token", value = "token", help = "API token (skips the interactive prompt)" },
    { short = "u", long = "api-url", value = "url", help = "Custom API URL (default: https://app.nt3.io)" },
    { short = "l", long = "local", help = "Save credentials to .nt3.local.json instead of the global config" },
  },
  run = run,
}
