-- nt3.config: the credential store. Finds the active token and where it
-- came from, saves and clears tokens, and refuses any file that someone
-- else could have tampered with. `login`, `logout`, `status` and `nt3.api`
-- all go through here, so every one of them resolves a token the same way.
--
-- Sources, highest priority first: the NT3_API_TOKEN environment variable,
-- a profile named by --profile (config.use_profile) or NT3_PROFILE,
-- ./.nt3.local.json (a token, or the name of a profile), ~/.nt3/config.json
-- (docs/architecture.md, "The credential store", "Profiles and credential sources").
local ipairs, pairs, require, setmetatable, table = ipairs, pairs, require, setmetatable, table
local type = type
local check = require "nt3.check"
local env = require "nt3.env"
local policy = require "nt3.policy"
local store = require "nt3.config.store"

local M = {}

M.DEFAULT_API_URL = store.DEFAULT_API_URL
M.TOKEN_PREFIX = store.TOKEN_PREFIX
M.TOKEN_MAX = store.TOKEN_MAX
M.LOCAL_NAME = store.LOCAL_NAME
M.GLOBAL_NAME = store.GLOBAL_NAME

-- The rules and the paths are nt3.config.store's, shared with the writer.

-- config.validate_token(t) -> trimmed token | nil, message
M.validate_token = store.validate_token

-- config.validate_url(u) -> normalised URL (no trailing slash) | nil, message
M.validate_url = store.validate_url

-- config.validate_profile_name(name) -> name | nil, message
M.validate_profile_name = store.validate_profile_name

-- config.validate_command(argv) -> argv | nil, message: a credential
-- command is a list of strings whose first is an absolute program path.
M.validate_command = store.validate_command

-- config.mask(token) -> "entri_****abcd": the prefix and at most the last
-- four characters, and only when at least eight others stay hidden. The
-- one masking rule, nt3.policy's, that every message and trace uses too.
M.mask = policy.mask

-- config.global_dir() -> $NT3_CONFIG_DIR, else ~/.nt3 | nil, message
M.global_dir = store.global_dir

-- config.path(scope) -> the credential file of "global" or "local"
M.path = store.path

-- config.display(path[, scope]) -> the path as the user would type it
M.display = store.display

-- config.format(value) -> text | nil, message: how credential files (and
-- `status --json`) are written.
M.format = store.format

---------------------------------------------------------------------------
-- resolution
---------------------------------------------------------------------------

local function env_source()
  local rec = { source = "environment", display = "NT3_API_TOKEN", warnings = {} }
  local t = env.get("NT3_API_TOKEN")
  if t == nil or t == "" then
    rec.state = "missing"
    return rec
  end
  local ok, why = M.validate_token(t)
  if not ok then
    rec.state, rec.error = "invalid", "NT3_API_TOKEN is not usable: " .. why
  else
    rec.state, rec.token = "ok", ok
  end
  return rec
end

-- The profile named by --profile (config.use_profile) for this process. A
-- choice of one command, in memory: nothing on disk "switches".
local chosen

-- config.use_profile(name): the commands of this process use profile name
-- (what `--profile NAME` does); nil goes back to the usual selection.
function M.use_profile(name)
  check.arg(1, "use_profile", name, "string", true)
  chosen = name
end

-- config.profiles([global_record]) -> sorted list of profile names in the
-- global file (none when it is missing or unusable)
function M.profiles(global)
  global = global or store.read("global")
  local names = {}
  for name in pairs(global.profiles or {}) do names[#names + 1] = name end
  table.sort(names)
  return names
end

local function known_profiles(global)
  local names = M.profiles(global)
  if #names == 0 then return ("there are no profiles in %s"):format(global.display) end
  return "known profiles: " .. table.concat(names, ", ")
end

local VIA_TEXT = {
  flag = "--profile %s",
  environment = "NT3_PROFILE=%s",
  ["local"] = "%s",
}

-- The record of profile name of the global file, chosen by via ("flag",
-- "environment" or "local", the file that names it).
local function profile_source(global, name, via, via_display)
  local rec = {
    source = "profile", profile = name, via = via, via_display = via_display,
    path = global.path, display = global.display, warnings = {},
  }
  local shown = policy.sanitize(name, 80)
  local by = VIA_TEXT[via]:format(via == "local" and via_display or shown)
  if global.state == "invalid" then
    rec.state, rec.error = "invalid", global.error
    return rec
  end
  local p = global.profiles and global.profiles[name]
  if type(p) ~= "table" then
    rec.state, rec.kind = "invalid", "not_logged_in"
    rec.error = ('unknown profile "%s" (chosen by %s); %s'):format(shown, by, known_profiles(global))
    return rec
  end
  rec.api_url, rec.command_timeout = p.api_url, p.credential_timeout
  if p.token then
    rec.state, rec.token = "ok", p.token
  elseif p.credential_command then
    rec.state, rec.command = "ok", p.credential_command
  else
    rec.state, rec.kind = "invalid", "not_logged_in"
    rec.error = ('profile "%s" (chosen by %s) holds no token; run \'nt3 login --profile %s\'')
      :format(shown, by, shown)
  end
  return rec
end

local function usable(rec) return rec.token ~= nil or rec.command ~= nil end

-- config.sources() -> list of every source, highest priority first:
--   { source = "environment"|"profile"|"local"|"global", path, display,
--     state = "missing"|"ok"|"invalid", token, command (a credential
--     command's argv, run only by config.token), api_url, profile (the
--     name, for "profile" and for a local file naming one), via ("flag",
--     "environment", "local": what chose a profile), profiles (global:
--     name -> its fields), error, kind, warnings,
--     active = true for the one in use, shadowed = true for a lower-priority
--     source that holds a token nobody uses }
-- A "profile" source comes after the environment when --profile or
-- NT3_PROFILE names one, and after the local file when that names one.
-- The list is also indexed by name (list.environment, list["local"],
-- list.global, list.profile) through its metatable, so a caller names the
-- source it wants instead of counting positions; ipairs, # and pairs see
-- the list.
function M.sources()
  local global = store.read("global")
  local here = store.read("local")
  local list = { env_source() }
  local wanted, via = chosen, "flag"
  if not wanted then
    local e = env.get("NT3_PROFILE")
    if e and e ~= "" then wanted, via = e, "environment" end
  end
  if wanted then list[#list + 1] = profile_source(global, wanted, via) end
  list[#list + 1] = here
  if here.state == "ok" and not here.token and here.profile and not wanted then
    list[#list + 1] = profile_source(global, here.profile, "local", here.display)
  end
  list[#list + 1] = global
  local by_name = {}
  local found = false
  for _, rec in ipairs(list) do
    by_name[rec.source] = by_name[rec.source] or rec
    if found then
      rec.shadowed = usable(rec) or nil
    elseif rec.state == "invalid" then
      found = true -- a broken source stops resolution: never fall through silently
    elseif usable(rec) then
      rec.active, found = true, true
    end
  end
  return setmetatable(list, { __index = by_name })
end

-- The API URL that goes with a token from rec: NT3_API_URL, else the URL
-- saved with the token (in the same file, or the same profile), else the
-- default. A URL in a file with no token (or another token) never applies.
local function api_url_for(rec)
  local override = env.get("NT3_API_URL")
  if override and override ~= "" then
    local u, why = M.validate_url(override)
    if not u then return nil, "NT3_API_URL is not usable: " .. why end
    return u, "environment"
  end
  if rec.source ~= "environment" and rec.api_url then
    return M.validate_url(rec.api_url), rec.source
  end
  return M.DEFAULT_API_URL, "default"
end

-- config.describe(rec) -> where a source's (or a cred's) token lives, in
-- words: 'profile "staging" in ~/.nt3/config.json', '~/.nt3/config.json'.
local function where(rec)
  if rec.source == "profile" then
    return ('profile "%s" in %s'):format(policy.sanitize(rec.profile, 80), rec.display)
  end
  return rec.display
end
M.describe = where

-- NT3_API_TOKEN with no NT3_API_URL goes to the default API, even where the
-- token it overrides was saved for another: say so, and name the fix.
local function url_surprise(list, active)
  if active.source ~= "environment" then return nil end
  local override = env.get("NT3_API_URL")
  if override and override ~= "" then return nil end
  for _, rec in ipairs(list) do
    if rec.shadowed and rec.api_url and rec.api_url ~= M.DEFAULT_API_URL then
      return ("NT3_API_TOKEN is in effect, so requests go to %s, not to %s saved with the token in %s;"
        .. " set NT3_API_URL=%s to send it there"):format(M.DEFAULT_API_URL, rec.api_url, where(rec), rec.api_url)
    end
  end
end

-- config.local_file_above() -> the path of a .nt3.local.json in a folder
-- above the current one | nil. It applies only in its own folder (the
-- current-directory rule: a folder's token never reaches further, so a
-- cloned repository's file cannot follow you into its parent or beyond it),
-- which surprises whoever runs nt3 one folder down. The search stops at a
-- repository's root (a folder holding .git) and at a file-system boundary;
-- a few lstat calls, no reads.
function M.local_file_above()
  local fs = require "nt3.fs"
  local cwd = env.cwd()
  local top = cwd and fs.lstat(cwd)
  if not top then return nil end
  local dir = cwd
  while dir ~= "" and not fs.lstat(dir .. "/.git") do
    dir = dir:match("^(.*)/[^/]*$")
    local st = fs.lstat(dir == "" and "/" or dir)
    if not st or st.dev ~= top.dev then return nil end
    local path = dir .. "/" .. M.LOCAL_NAME
    if fs.lstat(path) then return path end
  end
  return nil
end

-- The note about a folder's file above this one, when nothing here took
-- its place and the token (if any) comes from the global file.
local function above_note(list, active)
  if list["local"].state ~= "missing" or (active and active.source ~= "global") then return nil end
  local above = M.local_file_above()
  if not above then return nil end
  return ("%s applies only in its own folder, not in this subfolder%s; run nt3 there, or 'nt3 login --local' here")
    :format(store.display(above), active and (", so the token of %s is used"):format(active.display) or "")
end

-- config.resolve(list) -> cred | nil, message, kind  (from config.sources())
-- Runs no credential command: cred.token is nil until config.token(cred).
function M.resolve(list)
  local warnings = {}
  for _, rec in ipairs(list) do
    for _, w in ipairs(rec.warnings) do warnings[#warnings + 1] = w end
  end
  for _, rec in ipairs(list) do
    if rec.state == "invalid" then return nil, rec.error, rec.kind or "invalid" end
    if rec.active then
      local url, url_source = api_url_for(rec)
      if not url then return nil, url_source, "invalid" end
      warnings[#warnings + 1] = url_surprise(list, rec)
      warnings[#warnings + 1] = above_note(list, rec)
      return {
        token = rec.token,
        credential_command = rec.command,
        command_timeout = rec.command_timeout,
        api_url = url,
        api_url_source = url_source,
        source = rec.source,
        profile = rec.profile,
        via = rec.via,
        path = rec.path,
        display = rec.display,
        warnings = warnings,
      }
    end
  end
  local note = above_note(list, nil)
  return nil, "not logged in; run 'nt3 login' to authenticate" .. (note and " (" .. note .. ")" or ""), "not_logged_in"
end

-- The one line about a credential command that gave no token: what(program).
local function command_failure(cred, what)
  local program = policy.sanitize(cred.credential_command[1], 200)
  return nil, ("the credential command of %s %s; nothing was sent"):format(where(cred), what(program)), "credential"
end

-- The first line of what a failed command wrote on stderr, as one short,
-- printable line with any token in it masked.
local function stderr_line(text)
  local line = (text or ""):match("^%s*([^\r\n]*)") or ""
  line = policy.sanitize(policy.redact(line), 200)
  return line ~= "" and (": " .. line) or ""
end

-- Tokens that credential commands printed, by command: in this process's
-- memory only, so a script making a thousand requests runs the command once.
local ran = {}

-- config.token(cred) -> token | nil, message, "credential"
-- The token of cred: as saved, or printed by the profile's credential
-- command, run now (absolute path, no shell, stdin /dev/null, bounded time
-- and output) and only once per credential. Never written anywhere.
function M.token(cred)
  check.arg(1, "token", cred, "table")
  if cred.token then return cred.token end
  local argv = cred.credential_command
  if not argv then return nil, "no token: not logged in", "not_logged_in" end
  local key = table.concat(argv, "\0")
  if ran[key] then
    cred.token = ran[key]
    return cred.token
  end
  local limit = cred.command_timeout or store.COMMAND_TIMEOUT
  local proc = require "nt3.proc"
  local r, message, code = proc.run(argv, { timeout = limit, max_output = 65536 })
  if not r then
    if code == "exec" then
      return command_failure(cred, function(p) return ("could not be started (%s: %s)"):format(p, message) end)
    end
    return command_failure(cred, function(p) return ("failed: %s %s (no exit status)"):format(p, message) end)
  end
  if r.code == proc.TIMED_OUT and r.signal ~= 0 then
    return command_failure(cred, function(p)
      return ("was stopped: %s did not finish within %g seconds (no exit status: killed)"):format(p, limit)
    end)
  elseif r.signal ~= 0 then
    return command_failure(cred, function(p)
      return ("failed: %s was killed by signal %d (no exit status)"):format(p, r.signal)
    end)
  elseif r.code ~= 0 then
    return command_failure(cred, function(p)
      return ("failed: %s exited with status %d%s"):format(p, r.code, stderr_line(r.stderr))
    end)
  end
  local out = r.stdout
  local token, why = M.validate_token(out:match("^([^\n]*)"))
  if not token then
    return command_failure(cred, function(p)
      return ("printed no token: %s exited with status 0, but the first line it printed is not a token (%s)")
        :format(p, why)
    end)
  end
  cred.token, ran[key] = token, token
  return token
end

-- config.active() -> cred | nil, message, kind
-- cred = { token, api_url, api_url_source = "environment"|"profile"|"local"|
--   "global"|"default", source = "environment"|"profile"|"local"|"global",
--   profile (name), via, path (nil for the environment), display,
--   warnings = { ... } }
-- kind = "not_logged_in" (no token, or an unknown or empty profile) |
-- "invalid" (a corrupted or insecure file, a bad NT3_API_TOKEN or
-- NT3_API_URL) | "credential" (the credential command gave no token).
-- A token is needed now, so a credential command runs.
function M.active()
  local cred, err, kind = M.resolve(M.sources())
  if not cred then return nil, err, kind end
  local token, terr, tkind = M.token(cred)
  if not token then return nil, terr, tkind end
  return cred
end

---------------------------------------------------------------------------
-- writing
---------------------------------------------------------------------------

-- Writing (config.update, save, clear, check) lives in nt3.config.write,
-- loaded on first use: most runs (status, api, every script) only read.
-- Tail calls, so that a bad argument is still blamed on the caller.

-- config.update(scope, fn) -> result | nil, message (see nt3.config.write)
function M.update(scope, fn) return require("nt3.config.write").update(scope, fn) end

-- config.check(scope) -> true, warnings | nil, message
function M.check(scope) return require("nt3.config.write").check(scope) end

-- config.save{ token =, api_url = nil, scope = "global"|"local", profile = nil,
--   credential_command = nil } -> { path, display } | nil, message
function M.save(t) return require("nt3.config.write").save(t) end

-- config.clear([scope[, profile]]) -> result | nil, message
function M.clear(scope, profile) return require("nt3.config.write").clear(scope, profile) end

return M
