-- nt3 logout: remove the saved token (and the API URL saved with it) from
-- ~/.nt3/config.json, or with --local from ./.nt3.local.json. Other keys in
-- the file stay; a file left empty is deleted.
local ipairs, require, table = ipairs, require, table
local cli = require "nt3.cli"
-- Loaded when the command runs, not when `nt3 help` loads every command
-- for its summary.
local config, env

-- nt3 logout --profile NAME: that profile only; the rest of the file and
-- every other profile stay.
local function logout_profile(name)
  local known = config.profiles()
  local found = false
  for _, n in ipairs(known) do found = found or n == name end
  if not found then
    local shown = require("nt3.policy").sanitize(name, 80)
    cli.fail(('unknown profile "%s"; %s'):format(shown, #known > 0 and "known profiles: " .. table.concat(known, ", ")
      or "there are no profiles"), cli.EXIT.not_logged_in)
  end
  local res, err = config.clear("global", name)
  if not res then cli.fail(err) end
  require("nt3.api.cache").forget("global", name)
  cli.print(('Logged out: profile "%s" removed from %s'):format(name, res.display))
  local t = env.get("NT3_API_TOKEN")
  if t and t ~= "" then
    cli.warn("NT3_API_TOKEN is set and remains in effect; unset it to stop using that token")
  end
  return cli.EXIT.ok
end

local function run(opts)
  config, env = require "nt3.config", require "nt3.env"
  local scope = opts["local"] and "local" or "global"
  if opts.profile and scope == "global" then return logout_profile(opts.profile) end
  local res, err = config.clear(scope)
  if not res then cli.fail(err) end
  require("nt3.api.cache").forget(scope, nil, res.path)
  if res.removed_token then
    if res.removed then
      cli.print(("Logged out: removed %s"):format(res.display))
    else
      cli.print(("Logged out: token removed from %s"):format(res.display))
    end
  else
    cli.print(("Not logged in: no token stored in %s"):format(res.display))
  end
  local t = env.get("NT3_API_TOKEN")
  if t and t ~= "" then
    cli.warn("NT3_API_TOKEN is set and remains in effect; unset it to stop using that token")
  elseif scope == "global" then
    -- logged out, but not here: the local token still wins in this directory
    local here = config.sources()["local"]
    if here.token then
      cli.warn(("%s in this directory still holds a token, which remains in effect here;"
        .. " run 'nt3 logout --local' to remove it"):format(here.display))
    end
  end
  return cli.EXIT.ok
end

return {
  name = "logout",
  summary = "Remove the saved API token",
  description = [[
Removes the token and the API URL saved with it from ~/.nt3/config.json, or
with --local from .nt3.local.json in the current directory. Other settings
in the file are kept; a file left empty is deleted. A token in the
NT3_API_TOKEN environment variable is not affected. --profile NAME removes
that profile of ~/.nt3/config.json (its token, URL or credential command)
and nothing else; with --local, the folder's .nt3.local.json forgets the
profile it names.]],
  examples = {
    "nt3 logout          # Remove token from ~/.nt3/config.json",
    "nt3 logout --local  # Remove token from .nt3.local.json",
    "nt3 logout --profile staging",
  },
  flags = {
    { short = "l", long = "local", help = "Remove the token from .nt3.local.json instead of the global config" },
    { long = "profile", value = "name", help = "Remove this profile of ~/.nt3/config.json, and only it" },
  },
  run = run,
}
