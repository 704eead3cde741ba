-- nt3.ext.skeleton: the files `nt3 ext create <name>` writes: a manifest,
-- one command and a spec that `nt3 test` runs in the extension's folder
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

-- The spec, run by `nt3 test` in the extension's folder: it installs the
-- extension into a throw-away home (nt3.testing) and runs its command there,
-- in the sandbox, as a user would. "@NAME@" is the extension's name.
local SPEC = [==[
-- The spec of @NAME@: run `nt3 test` in the extension's folder
-- (docs/testing-commands.md). It installs the extension into a throw-away
-- home and runs its command there, sandboxed as it will be for users.
local testing = require "nt3.testing"

-- the extension's folder: this file is <folder>/spec/@NAME@_spec.lua
local folder = debug.getinfo(1, "S").source:match("^@(.-)/?spec/[^/]*$") or ""
if folder:sub(1, 1) ~= "/" then
  folder = require("nt3.env").cwd() .. (folder == "" and "" or "/" .. folder)
end

describe("@NAME@", function()
  local home
  setup(function()
    home = assert(testing.home())
    local r = testing.run("ext", { "install", folder, "--yes" }, { home = home })
    assert.are.equal(0, r.code, r.stderr)
  end)
  teardown(function() home:remove() end)

  it("says hello to the world by default", function()
    local r = testing.run("@NAME@", {}, { home = home })
    assert.are.equal("", r.stderr)
    assert.are.equal(0, r.code)
    assert.are.equal("Hello, world!\n", r.stdout)
  end)

  it("says hello to whoever is named", function()
    assert.are.equal("Hello, team!\n", testing.run("@NAME@", { "team" }, { home = home }).stdout)
  end)

  it("--shout says it in capitals", function()
    assert.are.equal("HELLO, TEAM!\n", testing.run("@NAME@", { "--shout", "team" }, { home = home }).stdout)
  end)
end)
]==]

local README = [[
# %s

An nt3 extension. Install it with `nt3 ext install <this folder or its git URL>`,
then run `nt3 %s`. Test it with `nt3 test` in this folder.
]]

-- skeleton.files(name) -> { [rel] = text }
function M.files(name)
  return {
    ["nt3-extension.json"] = MANIFEST:format(name, name, name),
    ["commands/" .. name .. ".lua"] = COMMAND:format(name, name, name),
    ["spec/" .. name .. "_spec.lua"] = (SPEC:gsub("@NAME@", name)),
    ["README.md"] = README:format(name, name),
  }
end

return M
