---@meta
-- `require "nt3.task"` for lua-language-server; the API is described in ../nt3.lua.
---@type nt3.task
local task
return task
