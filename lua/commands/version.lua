-- nt3 version: what `nt3 --version` prints, as `gh version` does.
local cli = require "nt3.cli"

return {
  name = "version",
  summary = "Show the version of nt3 (the same as nt3 --version)",
  uses_token = false,
  run = function()
    cli.out(cli.version_text())
    return 0
  end,
}
