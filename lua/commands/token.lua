-- nt3 token: print the active token (or --profile's) and a newline, for
-- another tool: curl -H "Authorization: Bearer $(nt3 token)". The one
-- command that ever prints a token whole (docs/architecture.md, invariant 5, is about
-- every other output); exit 4 when there is none.
local ipairs, require = ipairs, require
local cli = require "nt3.cli"

local function run(opts)
  local config = require "nt3.config"
  if opts.profile then config.use_profile(opts.profile) end
  local cred, err, kind = config.active()
  if not cred then
    cli.fail(err, (kind == "not_logged_in") and cli.EXIT.not_logged_in or cli.EXIT.failure)
  end
  for _, w in ipairs(cred.warnings) do cli.warn(w) end
  cli.out(cred.token, "\n")
  return cli.EXIT.ok
end

return {
  name = "token",
  summary = "Print the active API token, for other tools",
  description = [[
Prints the token nt3 would use, resolved as every command resolves it
(NT3_API_TOKEN, --profile, NT3_PROFILE, ./.nt3.local.json, ~/.nt3/config.json),
followed by a newline, on stdout. A profile's credential command runs to
get it. This is the only command that prints a token whole: mind where its
output goes. Exit status: 0 printed, 4 no token (or an unknown profile),
1 when a credential file or the credential command fails.]],
  examples = {
    'curl -H "Authorization: Bearer $(nt3 token)" https://app.nt3.io/api/v1/me',
    "nt3 token --profile staging",
  },
  flags = {
    { long = "profile", value = "name", help = "Print the token of this profile of ~/.nt3/config.json" },
  },
  run = run,
}
