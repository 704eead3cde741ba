---@meta
-- `require "nt3.ui"` for lua-language-server; the API is described in ../nt3.lua.
---@type nt3.ui
local ui
return ui
