-- Runs busted inside the nt3 binary, so specs call the real C bindings.
-- usage (ctest does this): nt3 run tests/runner.lua <spec> [busted options]
local src = os.getenv("NT3_SOURCE_DIR") or "."
package.path = src .. "/tests/?.lua;" .. package.path
-- The spec helpers are found here, ahead of nt3 run's search beside the
-- script: that search refuses a directory others may write to, and a tree
-- unpacked by root from `git archive` (tar keeps its 0775 directories) is
-- one. Naming the directory is this script's own choice, as loadfile is.
table.insert(package.searchers, 2, function(name)
  local path, err = package.searchpath(name, src .. "/tests/?.lua")
  if not path then return err end
  return assert(loadfile(path, "t")), path
end)
arg[#arg + 1] = "--output=plainTerminal"
arg[#arg + 1] = "--verbose"
require "busted.runner"({ standalone = false })
