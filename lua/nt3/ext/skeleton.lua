-- nt3.ext.skeleton: the files `nt3 ext create <name>` writes: a manifest,
-- one command and a spec that runs with `nt3 run <name>/spec/run.lua`
-- (docs/extensions.md, "Writing one").
local M = {}

local MANIFEST = [[
{
  "name": "%s",
  "version": "0.1.0",
  "description": "Says hello (a skeleton made by nt3 ext create)",
  "commands": [
    { "name": "%s", "summary": "Say hello to someone", "file": "commands/%s.lua" }
  ],
  "permissions": {}
}
]]

local COMMAND = [[
-- The command %s of the extension %s. It runs in nt3's sandbox with the
-- permissions of nt3-extension.json (none here: it may print, and read
-- its own arguments).
return {
  name = %q,
  summary = "Say hello to someone",
  args = { "who?" },
  flags = {
    { long = "shout", help = "Say it in capitals" },
  },
  run = function(opts, ctx)
    local line = "Hello, " .. (ctx.args[1] or "world") .. "!"
    if opts.shout then line = line:upper() end
    print(line)
    return 0
  end,
}
]]

local SPEC = [[
-- The spec of %s: nt3 run spec/run.lua (from the extension's folder, or
-- with its path). It loads the command as the sandbox would (text only,
-- its own environment) and checks what it prints.
local here = (arg and arg[0] or "spec/run.lua"):match("^(.*)/spec/[^/]*$") or "."
local printed = {}
local env = setmetatable({ print = function(...) printed[#printed + 1] = table.concat({ ... }, " ") end },
  { __index = _G })
local chunk = assert(loadfile(here .. "/commands/%s.lua", "t", env))
local cmd = chunk()
local failures = 0
local function check(what, ok)
  print((ok and "ok   " or "FAIL ") .. what)
  if not ok then failures = failures + 1 end
end
check("the command is named %s", cmd.name == %q)
check("it says hello to the world by default", cmd.run({}, { args = {} }) == 0 and printed[1] == "Hello, world!")
check("it says hello to whoever is named", cmd.run({}, { args = { "team" } }) == 0 and printed[2] == "Hello, team!")
check("--shout says it in capitals", cmd.run({ shout = true }, { args = { "team" } }) == 0
  and printed[3] == "HELLO, TEAM!")
return failures == 0 and 0 or 1
]]

local README = [[
# %s

An nt3 extension. Install it with `nt3 ext install <this folder or its git URL>`,
then run `nt3 %s`. Test it with `nt3 run spec/run.lua`.
]]

-- skeleton.files(name) -> { [rel] = text }
function M.files(name)
  return {
    ["nt3-extension.json"] = MANIFEST:format(name, name, name),
    ["commands/" .. name .. ".lua"] = COMMAND:format(name, name, name),
    ["spec/run.lua"] = SPEC:format(name, name, name, name),
    ["README.md"] = README:format(name, name),
  }
end

return M
