-- nt3 cache info|clear: the HTTP cache of nt3 api --cache and nt3.api's
-- cache option (docs/architecture.md, "The HTTP cache").
local require, tostring = require, tostring
local cli = require "nt3.cli"

return {
  name = "cache",
  summary = "Show or clear the HTTP cache (nt3 api --cache)",
  args = { "info|clear" },
  complete = { "info", "clear" },
  uses_token = false,
  flags = {
    { long = "json", help = "info: print the facts as JSON" },
    { long = "profile", value = "name", help = "clear: only the entries of this profile's token" },
  },
  description = [[
The cache is $XDG_CACHE_HOME/nt3 (default ~/.cache/nt3): a 0700 directory of
0600 files, one a response, at most 64 MiB in all (the oldest go first).
Only what `nt3 api --cache` and scripts' cache option asked for is in it. An
entry is found only with the very token that stored it; logging out (or in)
clears that account's entries. clear removes every entry, or with --profile
those of one profile (--profile default: the global file's token).]],
  examples = { "nt3 cache info", "nt3 cache clear --profile staging" },
  run = function(opts, ctx)
    local cache = require "nt3.api.cache"
    local action = ctx.args[1]
    if action == "info" then
      if opts.profile then cli.usage_error("--profile goes with cache clear", ctx.command) end
      local info, err = cache.info()
      if not info then cli.fail(err) end
      if opts.json then
        cli.out(require("nt3.json").encode(info), "\n")
      else
        cli.print("Cache:    " .. info.dir)
        cli.print(("Entries:  %d (%d bytes, at most %d)"):format(info.entries, info.bytes, info.max_bytes))
        cli.print(("Accounts: %d"):format(info.accounts))
      end
      return 0
    elseif action == "clear" then
      if opts.json then cli.usage_error("--json goes with cache info", ctx.command) end
      local cred
      if opts.profile == "default" then
        cred = { source = "global" }
      elseif opts.profile then
        local name, perr = require("nt3.config").validate_profile_name(opts.profile)
        if not name then cli.fail(perr) end
        cred = { source = "profile", profile = name }
      end
      local n, err = cache.clear(cred)
      if not n then cli.fail(err) end
      cli.print(("Removed %s cached response%s"):format(tostring(n), n == 1 and "" or "s"))
      return 0
    end
    cli.usage_error(('unknown action "%s" (one of: info, clear)'):format(require("nt3.policy").sanitize(action, 80)),
      ctx.command)
  end,
}
