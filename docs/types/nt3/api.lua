---@meta
-- `require "nt3.api"` for lua-language-server; the API is described in ../nt3.lua.
---@type nt3.api
local api
return api
