-- nt3.cli.sandboxed: how nt3.cli runs a command in a sandbox
-- (docs/sandbox.md; docs/architecture.md, "Sandboxed commands"), for a
-- user's file (nt3.cli.user) and an extension's (nt3.cli.ext) alike: the
-- flag every sandboxed command takes, what the sandbox gets of the active
-- credential (C strings in the sandbox, never a Lua value there), and how
-- its failure ends the run.
local ipairs, require, type = ipairs, require, type

local M = {}

local TRACE_FLAG = { long = "trace-permissions", help = "print each use of a permission and each refusal" }

-- sandboxed.flags(flags) -> a copy of a command's flags with --trace-permissions
function M.flags(flags)
  local list, has = {}, false
  for i, f in ipairs(flags or {}) do
    list[i] = f
    if f.long == TRACE_FLAG.long then has = true end
  end
  if not has then list[#list + 1] = TRACE_FLAG end
  return list
end

-- sandboxed.run(args, cmd) -> exit code: nt3.sandbox.run(args) (dir, file,
-- files, permissions, name, opts, args) with the active credential when
-- the api permission is declared (none when there is no usable one: the
-- command's requests then answer "not_logged_in") and the trace when
-- --trace-permissions is given; a failure ends the run as cli.fail, or
-- cli.usage_error with cmd's usage.
function M.run(args, cmd)
  if args.permissions.api ~= nil then
    local cred = require("nt3.config").active()
    if cred then
      local ca = require("nt3.env").get("NT3_CA_FILE")
      args.api = { url = cred.api_url, token = cred.token, cafile = ca ~= "" and ca or nil }
    end
  end
  args.trace = args.opts.trace_permissions == true
  -- nt3.ui in the sandbox asks for the progress setting, which is the
  -- host's (its files, NT3_NO_PROGRESS): read here, at a terminal only
  if require("nt3.prompt").isatty("stderr") then
    args.progress = require("nt3.config.settings").get("progress") == true
  end
  local code, message, kind, exit = require("nt3.sandbox").run(args)
  local cli = require "nt3.cli"
  -- the rows of a command with format = true, as JSON text made in the sandbox
  if type(code) == "table" then
    local rows, jerr = require("nt3.json").decode(code.json)
    if rows == nil then cli.fail(("command '%s' returned rows that are not JSON: %s"):format(args.name, jerr)) end
    return rows
  end
  if code then return code end
  if kind == "usage" then cli.usage_error(message, cmd) end
  cli.fail(message, exit or cli.exit_code(kind))
end

return M
