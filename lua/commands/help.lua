-- nt3 help [command]: the command list, or one command's options.
local cli = require "nt3.cli"

return {
  name = "help",
  summary = "Show the list of commands, or the options of one",
  args = { "command?" },
  run = function(_, ctx)
    local name = ctx.args[1]
    if not name then
      cli.out(cli.help_text())
      return 0
    end
    local cmd = cli.find(name) or cli.unknown_command(name)
    cli.out(cli.usage(cmd))
    return 0
  end,
}
