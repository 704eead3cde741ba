-- Runs busted inside the nt3 binary, so specs call the real C bindings.
-- usage (ctest does this): nt3 run tests/runner.lua <spec> [busted options]
local src = os.getenv("NT3_SOURCE_DIR") or "."
package.path = src .. "/tests/?.lua;" .. package.path
arg[#arg + 1] = "--output=plainTerminal"
arg[#arg + 1] = "--verbose"
require "busted.runner"({ standalone = false })
