---@meta
-- `require "nt3.http"` for lua-language-server; the API is described in ../nt3.lua.
---@type nt3.http
local http
return http
