---@meta
-- `require "nt3.proc"` for lua-language-server; the API is described in ../nt3.lua.
---@type nt3.proc
local proc
return proc
