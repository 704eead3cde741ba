-- Test helpers for user commands: a throw-away HOME whose ~/.nt3/commands
-- holds the given files, with modes set explicitly so the result does not
-- depend on the umask the suite happens to run under.
local sh = require "helpers.sh"

local M = {}

local function run(cmd)
  local ok = os.execute(cmd)
  assert(ok, "command failed: " .. cmd)
end

-- usercmd.dir(files [, dir]) -> dir, holding files { ["name.lua"] = source }
-- (dir mode 0755, files 0644: trusted)
function M.dir(files, dir)
  dir = dir or sh.tmpdir()
  run("mkdir -p " .. sh.quote(dir) .. " && chmod 755 " .. sh.quote(dir))
  for name, source in pairs(files or {}) do
    local path = dir .. "/" .. name
    sh.spit(path, source)
    run("chmod 644 " .. sh.quote(path))
  end
  return dir
end

-- usercmd.home(files) -> home, commands dir (~/.nt3/commands holding files)
function M.home(files)
  local home = sh.tmpdir()
  run("mkdir -p " .. sh.quote(home .. "/.nt3") .. " && chmod 700 " .. sh.quote(home .. "/.nt3"))
  local dir = M.dir(files, home .. "/.nt3/commands")
  return home, dir
end

function M.chmod(mode, path) run("chmod " .. mode .. " " .. sh.quote(path)) end
function M.chown(owner, path) run("chown " .. owner .. " " .. sh.quote(path)) end

-- usercmd.command{name=, summary=, body=, extra=} -> the source of a command file
function M.command(t)
  return ([[
return {
  name = %q,
  summary = %q,%s
  run = function(opts, ctx)
    %s
  end,
}
]]):format(t.name, t.summary or ("the " .. t.name .. " command"), t.extra and ("\n  " .. t.extra) or "",
    t.body or ("print(%q)"):format(t.name .. " ran"))
end

return M
