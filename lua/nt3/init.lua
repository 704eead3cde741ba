-- nt3: the whole API in one table. Each part is loaded the first time it is
-- used, so `require "nt3"` costs nothing a script does not touch.
local parts = {
  fs = true, prompt = true, env = true, http = true, json = true,
  config = true, api = true, cli = true,
}

local embedded = require "nt3.embedded"

return setmetatable({ version = embedded.version }, {
  __index = function(self, key)
    if not parts[key] then return nil end
    local mod = require("nt3." .. key)
    rawset(self, key, mod)
    return mod
  end,
})
