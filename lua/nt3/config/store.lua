-- nt3.config.store: what reading and writing a credential file share —
-- the rules for the token and the URL a file may hold, where the files
-- are, and the one reading of a file and the one check of its directory.
-- nt3.config (resolution) and nt3.config.write (saving) both build on it;
-- it requires neither, so the modules depend downward only. Use it through
-- nt3.config: this module is not part of the documented API.
local ipairs, math, next, pairs, tonumber, tostring = ipairs, math, next, pairs, tonumber, tostring
local type = type
local check = require "nt3.check"
local env = require "nt3.env"
local fs = require "nt3.fs"
local json = require "nt3.json"
local policy = require "nt3.policy"

local M = {}

M.DEFAULT_API_URL = "https://app.nt3.io"
M.TOKEN_PREFIX = policy.TOKEN_PREFIX
M.TOKEN_MAX = 4096
M.LOCAL_NAME = policy.LOCAL_FILE
M.GLOBAL_NAME = "config.json"

-- A credential file is a few hundred bytes; anything far bigger is not ours
-- and is refused rather than parsed. A write never produces a file over it.
M.FILE_MAX = 64 * 1024
local URL_MAX = 2048

M.GROUP_OTHER_WRITE = 18 -- 0022
M.GROUP_OTHER_ANY = 63   -- 0077

local INVALID_PREFIX = 'Invalid token format. Tokens should start with "entri_"'

---------------------------------------------------------------------------
-- tokens and URLs
---------------------------------------------------------------------------

local function trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

-- store.validate_token(t) -> trimmed token | nil, message (config.validate_token)
-- The message never contains the token: it ends up on a terminal or in a
-- CI log.
function M.validate_token(t)
  check.arg(1, "validate_token", t, "string")
  t = trim(t)
  if t == "" then return nil, "the token is empty" end
  -- the documented message first: a token that is not ours at all gets it,
  -- whatever else is wrong with it
  if t:sub(1, #M.TOKEN_PREFIX) ~= M.TOKEN_PREFIX then return nil, INVALID_PREFIX end
  if #t > M.TOKEN_MAX then
    return nil, ("the token is too long (%d bytes; at most %d)"):format(#t, M.TOKEN_MAX)
  end
  if #t == #M.TOKEN_PREFIX then
    return nil, 'Invalid token format. There is nothing after "entri_"'
  end
  -- printable ASCII except space
  if t:find("[^\33-\126]") then
    return nil, "Invalid token format. Tokens contain only printable ASCII characters, without spaces"
  end
  return t
end

-- store.validate_url(u) -> normalised URL (no trailing slash) | nil, message
-- https anywhere; plain http only to a loopback host, judged on the parsed
-- host by the same rule (nt3.policy) the HTTP binding applies to every
-- request. No user:password@ (it would leak with every log line) and no
-- fragment or query (the URL is a base that paths are appended to). The
-- message never repeats the URL, which may hold a password.
function M.validate_url(u)
  check.arg(1, "validate_url", u, "string")
  local bad = function(why) return nil, "invalid API URL: " .. why end
  if u == "" then return bad("it is empty") end
  if #u > URL_MAX then return bad(("it is longer than %d characters"):format(URL_MAX)) end
  if u:find("[^\33-\126]") then return bad("it contains spaces or control characters") end
  local scheme, authority, rest = u:match("^(%a[%w+.-]*)://([^/?#]*)(.*)$")
  if not scheme then return bad("expected https://host[:port][/path]") end
  scheme = scheme:lower()
  if scheme ~= "https" and scheme ~= "http" then
    return bad(('unsupported scheme "%s" (use https)'):format(scheme))
  end
  if authority:find("@", 1, true) then
    return bad("it must not contain a user name or password")
  end
  if rest:find("#", 1, true) then return bad("it must not contain a fragment (#...)") end
  if rest:find("?", 1, true) then return bad("it must not contain a query (?...)") end
  local host, port = authority:match("^(%[[%x:.]+%])(.*)$")
  if not host then host, port = authority:match("^([%w.-]*)(.*)$") end
  if not host or host == "" or host:find("^[.-]") or host:find("%.%.") then
    return bad("it has no valid host name")
  end
  if port ~= "" then
    local digits = port:match("^:(%d+)$")
    if not digits or #digits > 5 or tonumber(digits) < 1 or tonumber(digits) > 65535 then
      return bad("the port is not a number from 1 to 65535")
    end
  end
  if scheme == "http" and not policy.is_loopback(host:lower()) then
    return bad("plain http:// is allowed only for localhost, 127.0.0.1 and [::1]; use https://")
  end
  return scheme .. "://" .. authority:lower() .. rest:gsub("/+$", "")
end

---------------------------------------------------------------------------
-- paths
---------------------------------------------------------------------------

local function home()
  local h = env.home()
  if h then h = h:gsub("/+$", "") end
  -- a relative HOME would put ~/.nt3 in the current directory
  if h == "" or (h and h:sub(1, 1) ~= "/") then h = nil end
  return h
end

-- store.global_dir() -> $NT3_CONFIG_DIR, else ~/.nt3 | nil, message
function M.global_dir()
  local d = env.get("NT3_CONFIG_DIR")
  if d and d ~= "" then
    -- relative, it would name a directory in whatever repository one is in
    if d:sub(1, 1) ~= "/" then return nil, ('NT3_CONFIG_DIR must be an absolute path (it is "%s")'):format(d) end
    return (d:gsub("(.)/+$", "%1"))
  end
  local h = home()
  if not h then return nil, "cannot find the home directory (set HOME)" end
  return h .. "/.nt3"
end

-- store.path(scope) -> the credential file of "global" or "local"
function M.path(scope)
  if scope == "local" then
    local cwd, err, code = env.cwd()
    if not cwd then return nil, "cannot find the current directory: " .. (err:match(": (.*)$") or err), code end
    return (cwd == "/" and "" or cwd) .. "/" .. M.LOCAL_NAME
  elseif scope == "global" then
    local dir, err = M.global_dir()
    if not dir then return nil, err end
    return dir .. "/" .. M.GLOBAL_NAME
  end
  check.fail(1, "path", ('scope must be "global" or "local", got %s'):format(tostring(scope)))
end

function M.dir_of(path)
  return path:match("^(.*)/[^/]*$") or "."
end

function M.base_of(path)
  return path:match("([^/]*)$")
end

-- store.display(path[, scope]) -> the path as the user would type it:
-- ~/.nt3/config.json, ./.nt3.local.json. A local file is always shown
-- relative to the current directory, anything else under ~ if it can be.
function M.display(path, scope)
  local cwd = env.cwd()
  local here = cwd and M.dir_of(path) == cwd
  if scope == "local" and here then return "./" .. M.base_of(path) end
  local h = home()
  if h and path:sub(1, #h + 1) == h .. "/" then return "~" .. path:sub(#h + 1) end
  if here then return "./" .. M.base_of(path) end
  return path
end

---------------------------------------------------------------------------
-- reading a credential file
---------------------------------------------------------------------------

local function octal(mode) return ("%04o"):format(mode) end

-- store.check_dir(dir, shown_file, scope) -> true | nil, message
-- Checks the directory holding a credential file: anyone else who can write
-- there can replace the file, and with it the API URL the token goes to.
function M.check_dir(dir, shown_file, scope)
  local st, err = fs.stat(dir)
  if not st then return nil, err end
  local shown = M.display(dir .. "/x", scope):sub(1, -3)
  if st.type ~= "directory" then
    return nil, ("refusing %s: %s is not a directory"):format(shown_file, shown)
  end
  if st.uid ~= env.uid() and st.uid ~= 0 then
    return nil, ("refusing %s: its directory %s is owned by another user (uid %d);"
      .. " fix: chown it to yourself or remove it"):format(shown_file, shown, st.uid)
  end
  if st.mode & M.GROUP_OTHER_WRITE ~= 0 then
    return nil, ("refusing %s: its directory %s is writable by group or others (mode %s); fix: chmod go-w %s")
      :format(shown_file, shown, octal(st.mode), shown)
  end
  return true
end

-- Checks the file itself (lstat: a symbolic link is never followed).
-- Returns st | false when missing | nil, message when refused.
local function check_file(path, shown)
  local st, err, code = fs.lstat(path)
  if not st then
    if code == 2 then return false end -- ENOENT
    return nil, ("cannot read %s: %s"):format(shown, err)
  end
  if st.type == "link" then
    return nil, ("refusing %s: it is a symbolic link; fix: remove it (rm %s) and log in again"):format(shown, shown)
  end
  if st.type ~= "file" then
    return nil, ("refusing %s: it is not a regular file; fix: remove it and log in again"):format(shown)
  end
  if st.uid ~= env.uid() then
    return nil, ("refusing %s: it is owned by another user (uid %d); fix: remove it (rm %s) and log in again")
      :format(shown, st.uid, shown)
  end
  if st.mode & M.GROUP_OTHER_WRITE ~= 0 then
    return nil, ("refusing %s: it is writable by group or others (mode %s); fix: chmod 600 %s")
      :format(shown, octal(st.mode), shown)
  end
  return st
end

local function corrupt(shown, why)
  return ("%s %s; fix it or remove it (rm %s), then run 'nt3 login' again"):format(shown, why, shown)
end

---------------------------------------------------------------------------
-- profiles and credential commands
---------------------------------------------------------------------------

M.PROFILE_NAME_MAX = 64
M.COMMAND_ARGS_MAX = 64
M.COMMAND_TIMEOUT = 30
M.COMMAND_TIMEOUT_MAX = 600

-- store.validate_profile_name(name) -> name | nil, message
-- Letters, digits, ".", "_" and "-", starting with a letter or digit: a
-- name is shown in messages and typed on command lines.
function M.validate_profile_name(name)
  if type(name) ~= "string" or name == "" then return nil, "a profile name must not be empty" end
  if #name > M.PROFILE_NAME_MAX or not name:find("^[%w][%w._-]*$") then
    return nil, ("invalid profile name %q: use letters, digits, '.', '_' and '-' (at most %d)")
      :format(policy.sanitize(name, 80), M.PROFILE_NAME_MAX)
  end
  return name
end

-- store.validate_command(argv) -> argv | nil, message
-- A credential command is an argv list: the program as an absolute path
-- (no PATH search, no shell), then its arguments.
function M.validate_command(argv)
  if type(argv) ~= "table" or argv[1] == nil then
    return nil, "a credential command is a list of strings: the program's absolute path, then its arguments"
  end
  local n = 0
  for _ in pairs(argv) do n = n + 1 end
  if n ~= #argv then return nil, "a credential command is a list of strings, not an object" end
  if n > M.COMMAND_ARGS_MAX then
    return nil, ("a credential command has at most %d arguments"):format(M.COMMAND_ARGS_MAX)
  end
  for _, a in ipairs(argv) do
    if type(a) ~= "string" then return nil, "every part of a credential command must be a string" end
    if a:find("%z") then return nil, "a credential command must not contain a zero byte" end
  end
  if argv[1]:sub(1, 1) ~= "/" then
    return nil, ("the credential command's program must be an absolute path (it is %q): nt3 searches no PATH")
      :format(policy.sanitize(argv[1], 200))
  end
  return argv
end

local function is_object(v)
  return type(v) == "table" and (next(v) == nil or v[1] == nil)
end

-- The fields of one account (the top level of a file, or one profile):
-- token, api_url, credential_command, credential_timeout. prefix names the
-- profile in a message ("" at the top level).
local FIELD_NAMES = {
  token = 'a "token"', api_url = 'an "api_url"', credential_command = 'a "credential_command"',
  credential_timeout = 'a "credential_timeout"',
}

local function parse_account(t, shown, prefix)
  local function bad(field, why) return nil, corrupt(shown, ("has %s%s %s"):format(prefix, FIELD_NAMES[field], why)) end
  if t.token ~= nil then
    if type(t.token) ~= "string" then return bad("token", "that is not a string") end
    local ok, why = M.validate_token(t.token)
    if not ok then return bad("token", "that is not valid (" .. why .. ")") end
    t.token = ok
  end
  if t.api_url ~= nil then
    if type(t.api_url) ~= "string" then return bad("api_url", "that is not a string") end
    local ok, why = M.validate_url(t.api_url)
    if not ok then return bad("api_url", "that is not valid (" .. why .. ")") end
  end
  if t.credential_command ~= nil then
    local ok, why = M.validate_command(t.credential_command)
    if not ok then return bad("credential_command", "that is not valid (" .. why .. ")") end
  end
  local limit = t.credential_timeout
  if limit ~= nil and (math.type(limit) == nil or limit <= 0 or limit > M.COMMAND_TIMEOUT_MAX) then
    return bad("credential_timeout", ("that is not a number of seconds from 1 to %d"):format(M.COMMAND_TIMEOUT_MAX))
  end
  return t
end

local function parse_profiles(data, shown)
  if data.profile ~= nil then
    local ok, why = M.validate_profile_name(data.profile)
    if not ok then return nil, corrupt(shown, ('has a "profile" that is not valid (%s)'):format(why)) end
  end
  local profiles = data.profiles
  if profiles == nil then return data end
  if not is_object(profiles) then return nil, corrupt(shown, 'has "profiles" that is not a JSON object') end
  for name, p in pairs(profiles) do
    local ok, why = M.validate_profile_name(name)
    if not ok then return nil, corrupt(shown, ('has a profile that is not valid (%s)'):format(why)) end
    if not is_object(p) then
      return nil, corrupt(shown, ('has a profile "%s" that is not a JSON object'):format(name))
    end
    local good, err = parse_account(p, shown, ('a profile "%s" with '):format(name))
    if not good then return nil, err end
  end
  return data
end

-- store.parse(text, shown) -> table | nil, message
-- Parses the text of a credential file into a table, refusing anything that
-- is not one JSON object with the fields we know in the types we expect.
-- A write checks its result with the same function: nothing is written
-- that the next read would refuse.
function M.parse(text, shown)
  if #text > M.FILE_MAX then
    return nil, corrupt(shown, ("is too large (more than %d bytes)"):format(M.FILE_MAX))
  end
  if text:find("^%s*$") then return nil, corrupt(shown, "is empty") end
  if not text:find("^%s*{") then
    if text:find("[\0-\8\14-\31\127-\255]") then
      return nil, corrupt(shown, "is not a JSON file (it looks binary)")
    end
    return nil, corrupt(shown, "is not a JSON object")
  end
  local data = json.decode(text)
  if type(data) ~= "table" then return nil, corrupt(shown, "is not valid JSON") end
  local ok, why = parse_account(data, shown, "")
  if not ok then return nil, why end
  return parse_profiles(data, shown)
end

-- What a local file may not do: run a program, or define accounts. Both are
-- ignored with a warning (a cloned folder must never make nt3 run a
-- program or send a token somewhere new).
local LOCAL_IGNORED = {
  { key = "credential_command", why = "a credential command is read only from the global file (%s):"
    .. " a folder never makes nt3 run a program" },
  { key = "profiles", why = "profiles are read only from the global file (%s)" },
  { key = "settings", why = "settings are read only from the global file (%s): a folder never changes how nt3 runs" },
  { key = "aliases", why = "aliases are read only from the global file (%s): a folder never changes what a"
    .. " command does" },
}

local function local_refusals(rec)
  local global = M.path("global")
  local where = global and M.display(global, "global") or "~/.nt3/config.json"
  for _, r in ipairs(LOCAL_IGNORED) do
    if rec.data[r.key] ~= nil then
      rec.data[r.key] = nil
      rec.warnings[#rec.warnings + 1] = ('ignoring "%s" in %s: %s'):format(r.key, rec.display, r.why:format(where))
    end
  end
end

-- store.read(scope) -> record: the one reading of a credential file.
--   { source = scope, path, display, state, data, text, token, api_url, warnings, error }
-- state: "missing" | "ok" (parsed; token may be nil) | "invalid" (error set);
-- text is the file as read, for a rewrite that keeps what it does not own.
function M.read(scope)
  local rec = { source = scope, warnings = {} }
  local path, perr, code = M.path(scope)
  if not path then
    -- a directory that was deleted under us holds no .nt3.local.json
    rec.state, rec.error = code == 2 and "missing" or "invalid", code ~= 2 and perr or nil
    rec.display = "./" .. M.LOCAL_NAME
    return rec
  end
  rec.path, rec.display = path, M.display(path, scope)
  local st, err = check_file(path, rec.display)
  if st == false then
    rec.state = "missing"
    return rec
  end
  if st then
    local ok, derr = M.check_dir(M.dir_of(path), rec.display, scope)
    if not ok then st, err = nil, derr end
  end
  if not st then
    rec.state, rec.error = "invalid", err
    return rec
  end
  local text, rerr, rcode = fs.read(path, M.FILE_MAX)
  if not text then
    rec.state = "invalid"
    if rcode == 27 then -- EFBIG
      rec.error = corrupt(rec.display, ("is too large (more than %d bytes)"):format(M.FILE_MAX))
    else
      rec.error = ("cannot read %s: %s"):format(rec.display, rerr)
    end
    return rec
  end
  -- zero bytes are nobody's data (a `touch`, an editor's new file): an
  -- empty account, which the next write fills; any other text that is not
  -- a valid file is refused and kept as it is
  local data, why
  if text == "" then
    data, text = {}, nil
  else
    data, why = M.parse(text, rec.display)
  end
  if not data then
    rec.state, rec.error = "invalid", why
    return rec
  end
  if st.mode & M.GROUP_OTHER_ANY ~= 0 then
    rec.warnings[#rec.warnings + 1] = ("%s is readable by group or others (mode %s); fix: chmod 600 %s")
      :format(rec.display, octal(st.mode), rec.display)
  end
  rec.state, rec.data, rec.text, rec.token, rec.api_url = "ok", data, text, data.token, data.api_url
  if scope == "local" then
    local_refusals(rec)
    rec.profile = data.profile
  else
    rec.profiles = data.profiles
    if not data.token then rec.command = data.credential_command end
    rec.command_timeout = data.credential_timeout
  end
  return rec
end

-- store.format(value) -> text | nil, message: a stable, readable file, keys
-- sorted, two-space indent (config.format).
function M.format(value)
  local text, err = json.pretty(value)
  if not text then return nil, err end
  return text .. "\n"
end

return M
