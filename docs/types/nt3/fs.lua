---@meta
-- `require "nt3.fs"` for lua-language-server; the API is described in ../nt3.lua.
---@type nt3.fs
local fs
return fs
