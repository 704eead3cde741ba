-- nt3 help [command|topic]: the command list, one command's options, or a
-- topic (environment); --man prints the manual page, made from the same
-- tables (the build installs it as nt3(1)).
local pairs, require, table = pairs, require, table
local cli = require "nt3.cli"

return {
  name = "help",
  summary = "Show the list of commands, the options of one, or a topic",
  args = { "command?" },
  uses_token = false,
  flags = {
    { long = "man", help = "Print the manual page nt3(1), in roff (as in: nt3 help --man | man -l -)" },
  },
  examples = {
    "nt3 help login",
    "nt3 help environment",
  },
  run = function(opts, ctx)
    local name = ctx.args[1]
    if opts.man then
      if name then cli.usage_error("--man prints the whole manual; it takes no command", ctx.command) end
      cli.out(require("nt3.cli.man").page())
      return 0
    end
    if not name then
      cli.out(cli.help_text())
      return 0
    end
    local help = require "nt3.cli.help"
    local topic = help.TOPICS[name]
    if topic then
      cli.out(topic())
      return 0
    end
    local cmd = cli.find(name)
    if not cmd then
      -- a topic is as likely meant as a command: `nt3 help env`
      local topics = {}
      for t in pairs(help.TOPICS) do topics[#topics + 1] = t end
      table.sort(topics)
      local near = help.suggest(name, topics)
      cli.usage_error(('unknown command or topic "%s"%s'):format(name,
        near and (' (did you mean "%s"?)'):format(near) or "; run 'nt3 help' for the list"))
    end
    cli.out(cli.usage(cmd))
    return 0
  end,
}
