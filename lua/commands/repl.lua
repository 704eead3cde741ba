-- nt3 repl: an interactive Lua prompt with the nt3 API loaded
-- (docs/architecture.md, "The REPL"); the loop is nt3.cli.repl.
local require = require

return {
  name = "repl",
  summary = "An interactive Lua prompt with the nt3 API loaded",
  as_task = true,
  description = [[
A Lua 5.4 prompt, as `lua -i` gives, with `nt3` loaded: type
`nt3.api.get("/api/v1/me")` and see the answer. An expression prints its
value (a table as indented JSON-ish text, keys sorted; what came from a
server is shown through the terminal sanitiser); `=expr` works too. A
statement that is not finished yet (`for i = 1, 3 do`) reads more lines,
with the prompt `>>`.

The token is looked up only when a request needs it, as for any script,
and --profile chooses it. Each line runs as a task of nt3.task: task.map
and task.spawn work as they are, and a task you spawn runs while a line
is being evaluated. Ctrl-C ends the line you are typing, or stops what
runs (a request is cancelled, its connection closed), and ends the tasks
you spawned ("interrupted" is raised where each waits, so their <close>
clean-ups run); a second Ctrl-C while it stops ends nt3. Ctrl-D (or the end of standard input) leaves,
exit 0.

Line editing and history come from libedit (Debian's libedit2), loaded
when the REPL starts; without it lines are read as the terminal gives
them, and the REPL says so once. The history is kept in
$XDG_STATE_HOME/nt3/history (default ~/.local/state/nt3/history), mode
0600, in a 0700 directory, written atomically; the newest 1000 lines. A
line holding a token (entri_...) is never written there, and a history
file that is a symbolic link or not yours is neither read nor written.
`nt3 run` with no script, at a terminal, starts the REPL too. With
standard input not a terminal, lines are read from it with no prompt.]],
  examples = { "nt3 repl", "nt3 repl --profile staging", "echo 'nt3.api.get(\"/api/v1/me\")' | nt3 repl" },
  run = function() return require("nt3.cli.repl").run() end,
}
