-- nt3.xdg: where nt3 keeps what is neither configuration nor credentials,
-- as the XDG base directory specification says: the HTTP cache
-- ($XDG_CACHE_HOME, default ~/.cache) and the REPL's history
-- ($XDG_STATE_HOME, default ~/.local/state). Private to nt3.api.cache and
-- nt3.cli.repl.
local ipairs, table = ipairs, table
local env = require "nt3.env"
local fs = require "nt3.fs"

local M = {}

M.DIR_MODE = 448 -- 0700

-- kind -> the variable, and the default under the home directory
local BASES = { cache = { "XDG_CACHE_HOME", ".cache" }, state = { "XDG_STATE_HOME", ".local/state" } }

-- xdg.dir(kind) -> <base>/nt3 | nil, message; kind "cache" or "state". A
-- relative base in the variable is ignored, as the specification says.
function M.dir(kind)
  local var, default = BASES[kind][1], BASES[kind][2]
  local base = env.get(var)
  if not base or base:sub(1, 1) ~= "/" then
    local home = env.home()
    if not home or home:sub(1, 1) ~= "/" then return nil, "cannot find the home directory (set HOME)" end
    base = home:gsub("/+$", "") .. "/" .. default
  end
  return (base:gsub("/+$", "")) .. "/nt3"
end

-- xdg.own_dir(path [, parents]) -> true | nil, message: path is a directory
-- of this user's alone, created 0700 or tightened to it; never a link.
-- With parents, missing directories above it are made first (0700, as the
-- specification asks; existing ones are left as they are).
function M.own_dir(path, parents)
  local st = fs.lstat(path)
  if not st then
    if parents then
      local above, at = {}, path:match("^(.*)/[^/]*$")
      while at and at ~= "" and not fs.lstat(at) do
        table.insert(above, 1, at)
        at = at:match("^(.*)/[^/]*$")
      end
      for _, d in ipairs(above) do fs.mkdir(d, M.DIR_MODE) end
    end
    local ok, err = fs.mkdir(path, M.DIR_MODE)
    st = fs.lstat(path)
    if not ok and not st then return nil, err end
  end
  if not st or st.type ~= "directory" or st.uid ~= env.uid() then
    return nil, path .. " is not a directory of this user"
  end
  if st.mode & 63 ~= 0 then fs.chmod(path, M.DIR_MODE) end
  return true
end

return M
