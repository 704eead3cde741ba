---@meta
-- `require "nt3.json"` for lua-language-server; the API is described in ../nt3.lua.
---@type nt3.json
local json
return json
