---@meta
-- `require "nt3.env"` for lua-language-server; the API is described in ../nt3.lua.
---@type nt3.env
local env
return env
