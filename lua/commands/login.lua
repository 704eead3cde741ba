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

local function read_terminal()
  local prompt = require "nt3.prompt"
  io.stderr:write(HINT, "\n\n")
  local token, err = prompt.secret(PROMPT, { mask = "*" })
  if token then return token end
  if err == "interrupted" then cli.fail("login cancelled", cli.EXIT.interrupted) end
  if err == "end of input" then cli.fail("no token entered") end
  if err == "no terminal" then
    cli.fail("no terminal to prompt on; pass the token with -t <token> or pipe it on stdin")
  end
  cli.fail("cannot read the token: " .. tostring(err))
end

local function obtain_token(opts)
  if opts.token then return opts.token end
  if require("nt3.prompt").isatty("stdin") then return read_terminal() end
  return read_stdin()
end

---------------------------------------------------------------------------
-- is .nt3.local.json already ignored by git?
---------------------------------------------------------------------------

-- Translates one .gitignore glob into a Lua pattern for a single path
-- component or a slash-separated path (* and ? never cross a /).
local function glob_pattern(glob)
  local out, i = { "^" }, 1
  while i <= #glob do
    local c = glob:sub(i, i)
    if glob:sub(i, i + 2) == "**/" then
      out[#out + 1] = ".-"
      i = i + 3
    elseif glob:sub(i, i + 1) == "**" then
      out[#out + 1] = ".*"
      i = i + 2
    else
      if c == "*" then
        out[#out + 1] = "[^/]*"
      elseif c == "?" then
        out[#out + 1] = "[^/]"
      elseif c == "[" and glob:find("]", i + 2, true) then
        local close = glob:find("]", i + 2, true)
        local set = glob:sub(i + 1, close - 1):gsub("^!", "^"):gsub("%%", "%%%%")
        out[#out + 1] = "[" .. set .. "]"
        i = close
      elseif c == "\\" and i < #glob then
        i = i + 1
        out[#out + 1] = "%" .. glob:sub(i, i)
      elseif c:match("%p") then
        out[#out + 1] = "%" .. c
      else
        out[#out + 1] = c
      end
      i = i + 1
    end
  end
  out[#out + 1] = "$"
  return table.concat(out)
end

-- Applies one ignore file to `rel` (the local file's path relative to the
-- file's directory); returns true/false when a rule decides, else nil. The
-- last matching rule wins, as in git.
local function apply_ignore_file(path, rel, verdict)
  local fs = require "nt3.fs"
  local text = fs.read(path, 1024 * 1024)
  if not text then return verdict end
  local name = rel:match("([^/]*)$")
  for line in text:gmatch("[^\n]+") do
    line = line:gsub("\r$", ""):gsub("^%s+", ""):gsub("([^\\])%s+$", "%1")
    if line ~= "" and line:sub(1, 1) ~= "#" and line:sub(-1) ~= "/" then
      local negate = line:sub(1, 1) == "!"
      if negate then line = line:sub(2) end
      if line:sub(1, 1) == "\\" then line = line:sub(2) end
      local anchored = line:find("/", 1, true) ~= nil
      local target = name
      if anchored then
        line = line:gsub("^/", "")
        target = rel
      end
      if target:match(glob_pattern(line)) then verdict = not negate end
    end
  end
  return verdict
end

-- The user's global ignore file when core.excludesFile is not set.
local function global_ignore_file()
  local xdg = env.get("XDG_CONFIG_HOME")
  if xdg and xdg:sub(1, 1) == "/" then return xdg .. "/git/ignore" end
  local h = env.home()
  return h and (h .. "/.config/git/ignore")
end

-- Whether the repository holding the current directory ignores
-- .nt3.local.json: the user's global ignore file, .git/info/exclude, then
-- every .gitignore from the repository's top down to here, later ones
-- overriding earlier ones as in git. Not a repository -> false (remind).
local function git_ignores_local_file(cwd)
  local fs = require "nt3.fs"
  local dirs, dir = {}, cwd
  while true do
    table.insert(dirs, 1, dir)
    if fs.lstat(dir .. "/.git") then break end
    if dir == "" or dir == "/" then return false end
    dir = dir:match("^(.*)/[^/]*$")
  end
  local function relative_to(d)
    local rel = cwd:sub(#d + 2)
    return (rel == "" and "" or rel .. "/") .. config.LOCAL_NAME
  end
  local top = dirs[1]
  local verdict
  local global = global_ignore_file()
  if global then verdict = apply_ignore_file(global, relative_to(top), verdict) end
  verdict = apply_ignore_file(top .. "/.git/info/exclude", relative_to(top), verdict)
  for _, d in ipairs(dirs) do
    verdict = apply_ignore_file(d .. "/.gitignore", relative_to(d), verdict)
  end
  return verdict == true
end

---------------------------------------------------------------------------

local function run(opts)
  config, env = require "nt3.config", require "nt3.env"
  local scope = opts["local"] and "local" or "global"
  local url
  if opts.api_url then
    local why
    url, why = config.validate_url(opts.api_url)
    if not url then cli.fail(why) end
  end
  -- ask for nothing we could not save
  local ok, why = config.check(scope)
  if not ok then cli.fail(why) end
  local warned = {}
  for _, w in ipairs(why) do
    warned[w] = true
    cli.warn(w)
  end

  local token = obtain_token(opts)
  local valid, bad = config.validate_token(token)
  if not valid then cli.fail(bad) end

  -- the URL belongs to the token it was saved with, so a new token without
  -- -u goes to the default API: say so rather than move a user of a
  -- self-hosted instance without a word
  local before = config.sources()[scope == "local" and 2 or 3]
  local old_url = before.token and before.api_url

  local saved, err = config.save { token = valid, api_url = url, scope = scope }
  if not saved then cli.fail(err) end

  if old_url and not url and old_url ~= config.DEFAULT_API_URL then
    cli.warn(("the API URL %s saved with the previous token is not kept; this token uses %s (log in with -u %s to keep it)")
      :format(old_url, config.DEFAULT_API_URL, old_url))
  end

  local sources = config.sources()
  for _, rec in ipairs(sources) do
    for _, w in ipairs(rec.warnings) do
      if not warned[w] then cli.warn(w) end
    end
  end
  cli.print("Login successful! Token saved to " .. saved.display)
  if scope == "local" and not git_ignores_local_file(env.cwd() or ".") then
    cli.print("Reminder: add " .. config.LOCAL_NAME .. " to your .gitignore to avoid accidentally committing credentials.")
  end
  local t = env.get("NT3_API_TOKEN")
  if t and t ~= "" then
    cli.warn("NT3_API_TOKEN is set and still takes precedence over the saved token; unset it to use the saved one")
  elseif scope == "global" and sources[2].token then
    cli.warn(("%s in this directory still takes precedence here over the saved token"):format(sources[2].display))
  elseif scope == "global" and sources[2].state == "invalid" then
    -- a broken local file stops resolution here (never a silent fall
    -- through), so the token just saved is not what runs in this directory
    cli.warn(("%s in this directory is unusable and takes priority here: commands run here fail instead of"
      .. " using the saved token until you fix or remove it (see 'nt3 status')"):format(sources[2].display))
  end
  local override = env.get("NT3_API_URL")
  if url and override and override ~= "" then
    cli.warn("NT3_API_URL is set and takes precedence over the saved API URL; unset it to use the saved one")
  end
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
