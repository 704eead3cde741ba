---@meta
-- `require "nt3.config"` for lua-language-server; the API is described in ../nt3.lua.
---@type nt3.config
local config
return config
