---@meta
-- `require "nt3.prompt"` for lua-language-server; the API is described in ../nt3.lua.
---@type nt3.prompt
local prompt
return prompt
