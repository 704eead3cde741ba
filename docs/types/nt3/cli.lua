---@meta
-- `require "nt3.cli"` for lua-language-server; the API is described in ../nt3.lua.
---@type nt3.cli
local cli
return cli
