-- An override of the built-in `nt3 status`: everything it prints, plus one
-- line naming the account the token belongs to (`--json` and `--check` are
-- left exactly as the built-in prints them).
--
-- Install:  mkdir -p ~/.nt3/commands && chmod 700 ~/.nt3 ~/.nt3/commands
--           install -m 644 status.lua ~/.nt3/commands/
-- `overrides = true` is what allows a user command to replace a built-in;
-- without it nt3 keeps its own status and warns. `nt3 help` marks the override.
local nt3 = require "nt3"
local builtin = require "commands.status" -- the built-in, compiled into nt3

return {
  name = "status",
  overrides = true,
  aliases = builtin.aliases,
  summary = builtin.summary .. " (and the account it belongs to)",
  description = builtin.description,
  flags = builtin.flags,
  args = builtin.args,
  run = function(opts, ctx)
    local code = builtin.run(opts, ctx)
    -- --json output must stay one JSON object, and --check already shows
    -- the account: leave both exactly as the built-in has them
    if opts.json or opts.check then return code end
    -- run returns an exit code; nil and true also mean success
    if code ~= nil and code ~= true and code ~= 0 then return code end
    local me, err = nt3.api.get("/api/v1/me")
    if me then
      print(("Account: %s <%s>"):format(me.name or "?", me.email or "?"))
    else
      print("Account: unknown (" .. err .. ")")
    end
    return 0
  end,
}
