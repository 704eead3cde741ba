---@meta
-- `require "nt3.policy"` for lua-language-server; the API is described in ../nt3.lua.
---@type nt3.policy
local policy
return policy
