-- nt3 whoami: the account the active token belongs to, from GET /api/v1/me.
--
-- Install:  mkdir -p ~/.nt3/commands && chmod 700 ~/.nt3 ~/.nt3/commands
--           install -m 644 whoami.lua ~/.nt3/commands/
-- Use:      nt3 whoami          nt3 whoami --json
local nt3 = require "nt3"

return {
  name = "whoami",
  summary = "Show the account the active token belongs to",
  flags = {
    { long = "json", help = "Print the account as JSON" },
  },
  run = function(opts)
    local me, err, status = nt3.api.get("/api/v1/me")
    if not me then
      if status == "not_logged_in" then
        nt3.cli.fail(err, nt3.cli.EXIT.not_logged_in)
      elseif math.type(status) == "integer" then
        nt3.cli.fail(("%s (HTTP %d)"):format(err, status))
      end
      nt3.cli.fail(err)
    end
    if opts.json then
      print(nt3.json.encode(me))
    else
      print(me.name and ("%s <%s>"):format(me.name, me.email) or me.email)
      print("id: " .. tostring(me.id))
    end
    return 0
  end,
}
