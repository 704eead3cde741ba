-- nt3 run <file.lua> [args...]: a user's automation script, with the nt3
-- API a `require "nt3"` away and `arg` set as the lua interpreter sets it.
local cli = require "nt3.cli"

return {
  name = "run",
  summary = "Run a Lua script with the nt3 API available",
  args = { "file", "args..." },
  -- completion offers Lua files (and directories) for the script
  complete = "*.lua",
  -- everything after the script's name belongs to the script
  stop_at_first_arg = true,
  description = [[
The script runs in nt3's Lua 5.4 with `require "nt3"` giving the whole API
(see lua-api.md in share/doc/nt3). `arg[0]` is the script's path and arg[1..n] its
arguments. A first line starting with '#' is skipped, so a script can start
with `#!/usr/bin/env -S nt3 run` and be made executable. Only Lua source is
run, never precompiled bytecode.]],
  examples = { "nt3 run report.lua --since 2026-01-01" },
  run = function(_, ctx)
    local file = ctx.args[1]
    -- "t": source text only; bytecode from disk is never loaded
    local chunk, err = loadfile(file, "t")
    if not chunk then cli.fail(err) end
    local script_arg = { [0] = file }
    for i = 2, #ctx.args do script_arg[i - 1] = ctx.args[i] end
    script_arg[-1] = "nt3 run"
    _G.arg = script_arg
    local result = chunk(table.unpack(script_arg, 1, #script_arg))
    if math.type(result) == "integer" then return result end
    return 0
  end,
}
