-- nt3: the whole API in one table. Each part is loaded the first time it is
-- used, so `require "nt3"` costs nothing a script does not touch.
local rawset, require = rawset, require
local embedded = require "nt3.embedded"

-- The parts: every C binding (the one list in src/runtime.h) and the Lua
-- library modules. nt3.parts is the sorted list of their names.
local LUA_PARTS = { "api", "cli", "config", "json", "task", "testing", "ui" }

local parts, names = {}, {}
for _, list in ipairs { embedded.bindings, LUA_PARTS } do
  for _, name in ipairs(list) do
    parts[name] = true
    names[#names + 1] = name
  end
end
table.sort(names)

return setmetatable({ version = embedded.version, parts = names }, {
  __index = function(self, key)
    if not parts[key] then return nil end
    local mod = require("nt3." .. key)
    rawset(self, key, mod)
    return mod
  end,
})
