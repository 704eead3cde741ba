-- nt3 test [paths...]: busted, run inside nt3 (docs/testing-commands.md),
-- so a spec's `require "nt3"` is the real API and nt3.testing's server
-- serves from the same scheduler the spec's requests and commands wait in.
local _G, error, ipairs, pcall, require, type = _G, error, ipairs, pcall, require, type
local cli = require "nt3.cli"

local NO_BUSTED = "nt3 test needs busted (Debian: apt install lua-busted;"
  .. " elsewhere: luarocks --lua-version 5.4 install busted)"

-- What busted's runner calls to end the process: here it unwinds to run,
-- which closes what nt3.testing opened and returns the code (0: every spec
-- passed, 1: one failed or could not be loaded).
local EXIT = {}

return {
  name = "test",
  summary = "Run busted specs inside nt3, with nt3.testing's fake API",
  args = { "paths..." },
  uses_token = false,
  as_task = true,
  description = [[
Runs the busted specs of the paths given (files, or folders searched for
*_spec.lua), ./spec when none is given, as busted does, inside nt3's own
Lua: `require "nt3"` is the real API, and `require "nt3.testing"` gives a
fake nt3 API server on 127.0.0.1, a throw-away HOME with a test token, and
a way to run a command and capture what it prints (docs/testing-commands.md).
Options after -- go to busted (nt3 test -- --filter=login spec/).
The exit code is 0 when every spec passed and 1 when one failed, could not
be loaded, or busted is not installed.]],
  examples = { "nt3 test", "nt3 test spec/whoami_spec.lua", "nt3 test -- --filter=paging" },
  run = function(_, ctx)
    local ok, compat = pcall(require, "busted.compatibility")
    if not ok or type(compat) ~= "table" then cli.fail(NO_BUSTED) end
    compat.exit = function(code)
      error({ [EXIT] = code == 0 and 0 or 1 }, 0)
    end
    local runner
    ok, runner = pcall(require, "busted.runner")
    if not ok then cli.fail(NO_BUSTED) end
    -- loaded before busted's insulation notes package.loaded, so every
    -- spec file shares it and what they left open is closed below
    local testing = require "nt3.testing"
    local argv = { [0] = "nt3 test" }
    for i, a in ipairs(ctx.args) do argv[i] = a end
    _G.arg = argv
    local done, err = pcall(runner, { standalone = false, output = nil })
    testing.close_all()
    if not done then
      if type(err) == "table" and err[EXIT] then return err[EXIT] end
      error(err, 0)
    end
    return 0
  end,
}
