-- luacheck: the Lua of nt3 is Lua 5.4, run inside the nt3 binary.
std = "lua54"
max_line_length = 120
-- the command and module tables nt3 loads are returned, never global
allow_defined_top = false

files["tests/"] = {
  std = "+busted",
  -- a test reads like the sentence of the spec it proves, however long
  max_line_length = false,
}
-- the runner hands busted its arguments through `arg`
files["tests/runner.lua"] = { globals = { "arg" } }
-- `nt3 run` scripts get `arg` as the lua interpreter sets it
files["docs/examples/"] = { read_globals = { "arg" } }
exclude_files = { "build*/**", "docs/types/**" }
-- nt3.ui wraps io.write and the files' write while a progress bar is shown,
-- and in a sandbox its private io has progress_line (docs/architecture.md,
-- "Output for people and for pipes")
files["lua/nt3/ui.lua"] = {
  globals = { io = { fields = { write = { read_only = false }, progress_line = {} } } },
}
