---@meta
-- `require "nt3.testing"` for lua-language-server; the API is described in ../nt3.lua.
---@type nt3.testing
local testing
return testing
