-- nt3 status: which token is active, where it came from, which API URL goes
-- with it and why, what it shadows, and what is wrong with the files.
-- Exit 0 with an active token, 4 with none, 1 when a source is unusable
-- or (with --check) the API rejects the token or cannot be reached.
local ipairs, require, table, tostring, type = ipairs, require, table, tostring, type
local cli = require "nt3.cli"
-- Loaded when the command runs, not when `nt3 help` loads every command
-- for its summary.
local config, json

local SOURCE_TEXT = {
  environment = "the environment variable NT3_API_TOKEN",
  ["local"] = "the local file %s",
  global = "the global file %s",
}

local function describe(rec)
  if rec.source == "profile" then return "the " .. config.describe(rec) end
  return SOURCE_TEXT[rec.source]:format(rec.display)
end

-- Why a profile is in use, in words.
local function chosen_by(rec)
  if rec.via == "flag" then return "--profile" end
  if rec.via == "environment" then return "NT3_PROFILE" end
  return rec.via_display .. " in this folder"
end

local function url_origin_text(cred)
  if cred.api_url_source == "environment" then return "from NT3_API_URL" end
  if cred.api_url_source == "default" then return "default" end
  return "saved with the token in " .. config.describe(cred)
end

-- A credential command's argv for --json, any token in it masked.
local function command_json(argv)
  local policy = require "nt3.policy"
  local list = json.array()
  for i, a in ipairs(argv) do list[i] = policy.redact(a) end
  return list
end

-- A credential command as one printable line: its argv, space-separated.
local function command_text(argv)
  local policy = require "nt3.policy"
  local parts = {}
  for i, a in ipairs(argv) do parts[i] = policy.sanitize(a, 200) end
  return table.concat(parts, " ")
end

-- What a source holds, masked: "entri_****abcd", or where the token would
-- come from.
local function held(rec)
  if rec.token then return config.mask(rec.token) end
  if rec.command then return "credential command " .. command_text(rec.command) end
  return "no token"
end

-- GET /api/v1/me with the active token, through nt3.api like every other
-- authenticated request (one place writes Bearer, User-Agent, NT3_CA_FILE).
-- HTTP is loaded only here: a plain `nt3 status` must not pay for libcurl.
local function check(cred)
  local path = "/api/v1/me"
  local url = cred.api_url .. path
  -- a token is needed now: a credential command runs here, and only here
  local token, terr = config.token(cred)
  if not token then return { ok = false, reason = "credential", url = url, error = terr } end
  local account, err, code, res = require("nt3.api").request {
    path = path, credential = cred, connect_timeout = 10, timeout = 30,
  }
  if account ~= nil then res, err = err, nil end -- value, response
  if code == "network" or code == "invalid" then
    return { ok = false, reason = "unreachable", url = url,
      error = ("could not reach the API at %s: %s"):format(cred.api_url, tostring(err)) }
  end
  if code == 401 or code == 403 then
    return { ok = false, reason = "rejected", status = code, url = url,
      error = ("the API at %s rejected the token (HTTP %d); run 'nt3 login' with a valid token")
        :format(cred.api_url, code) }
  end
  local status = res and res.status or code
  if type(account) ~= "table" or status ~= 200 then
    return { ok = false, reason = "unexpected", status = status, url = url,
      error = ("unexpected answer from the API at %s (HTTP %d)"):format(cred.api_url, status) }
  end
  return { ok = true, status = status, url = url,
    account = { id = account.id, email = account.email, name = account.name } }
end

-- The account as the server describes it: its fields are shown as one
-- printable line each (a name must not carry escape sequences to the
-- terminal).
local function account_text(a)
  local function text(v) return v ~= nil and require("nt3.policy").sanitize(tostring(v), 200) or nil end
  a = { email = text(a.email), name = text(a.name), id = text(a.id) }
  local who = a.email or a.name or a.id or "unknown account"
  local extra = {}
  if a.name and a.name ~= who then extra[#extra + 1] = a.name end
  if a.id and a.id ~= who then extra[#extra + 1] = "id " .. tostring(a.id) end
  if #extra > 0 then who = who .. " (" .. table.concat(extra, ", ") .. ")" end
  return who
end

-- The facts as one table: the same for the text and the JSON output.
-- Tokens appear only masked.
local function profile_list(sources, cred)
  local list = json.array()
  local global = sources.global
  for _, name in ipairs(config.profiles(global)) do
    local p = global.profiles[name]
    list[#list + 1] = {
      name = name, token = p.token and config.mask(p.token), api_url = p.api_url,
      credential_command = p.credential_command and not p.token and command_json(p.credential_command) or nil,
      active = cred ~= nil and cred.source == "profile" and cred.profile == name,
    }
  end
  return list
end

local function facts(sources, cred)
  local out = { logged_in = cred ~= nil, sources = json.array(), shadowed = json.array(), warnings = json.array() }
  for _, rec in ipairs(sources) do
    out.sources[#out.sources + 1] = {
      source = rec.source, path = rec.path, display = rec.display, state = rec.state,
      token = rec.token and config.mask(rec.token), api_url = rec.api_url, error = rec.error,
      active = rec.active or false, profile = rec.profile, chosen_by = rec.via and chosen_by(rec),
      credential_command = rec.command and command_json(rec.command),
    }
    if rec.shadowed then
      out.shadowed[#out.shadowed + 1] = { source = rec.source, path = rec.path, display = rec.display,
        token = rec.token and config.mask(rec.token), profile = rec.profile,
        credential_command = rec.command and command_json(rec.command) }
    end
    for _, w in ipairs(rec.warnings) do out.warnings[#out.warnings + 1] = w end
    -- a broken file below the active source changes nothing now, but will
    -- as soon as the source above it goes away
    if rec.state == "invalid" and cred then out.warnings[#out.warnings + 1] = rec.error end
  end
  out.profiles = profile_list(sources, cred)
  -- resolution warns when it applies (cred.warnings, below)
  out.local_file_above = config.local_file_above()
  if cred then
    out.source, out.path, out.display = cred.source, cred.path, cred.display
    out.profile = cred.profile
    for _, rec in ipairs(sources) do
      if rec.active and rec.via then out.profile_chosen_by = chosen_by(rec) end
    end
    out.token = cred.token and config.mask(cred.token)
    out.credential_command = cred.credential_command and command_json(cred.credential_command)
    out.api_url, out.api_url_source = cred.api_url, cred.api_url_source
    -- resolution's own warnings (NT3_API_TOKEN sent to the default URL
    -- while a saved token has another) beside those of the files
    local seen = {}
    for _, w in ipairs(out.warnings) do seen[w] = true end
    for _, w in ipairs(cred.warnings) do
      if not seen[w] then out.warnings[#out.warnings + 1] = w end
    end
  end
  return out
end

local function print_text(f, sources, cred)
  local active
  for _, rec in ipairs(sources) do if rec.active then active = rec end end
  cli.print("Logged in with the token from " .. describe(active))
  if active.via then cli.print(("  Profile:  %s (chosen by %s)"):format(active.profile, chosen_by(active))) end
  if f.token then
    cli.print("  Token:    " .. f.token)
  else
    cli.print(("  Token:    from the credential command %s (run when a token is needed)")
      :format(command_text(cred.credential_command)))
  end
  cli.print(("  API URL:  %s (%s)"):format(f.api_url, url_origin_text(cred)))
  for _, rec in ipairs(sources) do
    if rec.shadowed then
      cli.print(("  Shadowed: %s holds a token (%s) that is not used"):format(describe(rec), held(rec)))
    elseif rec.source == "local" and not rec.active and rec.api_url and not rec.token then
      cli.print(("  Ignored:  the api_url in %s (it has no token of its own, so it applies to none)")
        :format(rec.display))
    end
  end
  local others = {}
  for _, p in ipairs(f.profiles) do
    if not p.active then
      others[#others + 1] = ("    %s: %s%s"):format(p.name, p.token or (p.credential_command
        and "credential command " .. command_text(p.credential_command) or "no token"),
        p.api_url and " at " .. p.api_url or "")
    end
  end
  if #others > 0 then
    cli.print("  Other profiles (use one with --profile NAME or NT3_PROFILE=NAME):")
    for _, line in ipairs(others) do cli.print(line) end
  end
  if #f.settings > 0 then
    cli.print("  Settings (not the default; see nt3 config list):")
    for _, c in ipairs(f.settings) do cli.print(("    %s = %s (%s)"):format(c.key, tostring(c.value), c.source)) end
  end
  if f.check then
    if f.check.ok then
      cli.print("  Account:  " .. account_text(f.check.account))
    end
  end
end

local function run(opts)
  config, json = require "nt3.config", require "nt3.json"
  if opts.profile then config.use_profile(opts.profile) end
  local sources = config.sources()
  local cred, err, kind = config.resolve(sources)
  local f = facts(sources, cred)
  if not cred then
    f.error, f.error_kind = err, kind
    if opts.json then cli.out(config.format(f)) end
    if kind == "not_logged_in" then cli.fail(err, cli.EXIT.not_logged_in) end
    cli.fail(err)
  end
  local changed, serr = require("nt3.config.settings").changed(sources.global, cred.profile)
  if not changed then cli.fail(serr) end
  f.settings = json.array(changed)
  if opts.check then f.check = check(cred) end
  if opts.json then
    cli.out(config.format(f))
  else
    print_text(f, sources, cred)
  end
  for _, w in ipairs(f.warnings) do cli.warn(w) end
  if f.check and not f.check.ok then cli.fail(f.check.error) end
  return cli.EXIT.ok
end

return {
  name = "status",
  summary = "Show which API token is active and where it comes from",
  description = [[
Shows the active token (masked: entri_ and at most its last 4 characters),
where it comes from (NT3_API_TOKEN, a profile, ./.nt3.local.json or
~/.nt3/config.json) and why, the API URL used with it and why, every
lower-priority token it shadows, the other profiles, and warnings about file
permissions. A profile's credential command is not run: status says where
the token would come from (--check runs it). Exit status: 0 logged in, 4 not
logged in (or an unknown profile), 1 when a credential file is unusable or
--check fails. --check verifies a server with a private CA against
NT3_CA_FILE (an absolute path to a PEM file).]],
  examples = {
    "nt3 status",
    "nt3 status --json",
    "nt3 status --check",
  },
  flags = {
    { long = "json", help = "Print the same facts as one JSON object" },
    { long = "check", help = "Verify the token with the API (GET /api/v1/me)" },
    { long = "profile", value = "name", help = "Show this profile of ~/.nt3/config.json" },
  },
  run = run,
}
