#!/usr/bin/env -S nt3 run
-- Exports every project to CSV: the list is paged through with api.pages
-- (it follows the server's Link: rel="next"), and each project's details
-- are fetched 8 at a time with task.map. `nt3 run` runs a script as a task
-- already, so none of this needs any set-up.
--
--   nt3 run export-projects.lua projects.csv
--   nt3 run export-projects.lua --concurrency 16 > projects.csv
local nt3 = require "nt3"

local function csv_field(value)
  if value == nil or value == nt3.json.null then return "" end
  if math.type(value) == "float" and math.tointeger(value) then value = math.tointeger(value) end
  local s = tostring(value)
  if s:find('[,"\r\n]') then s = '"' .. s:gsub('"', '""') .. '"' end
  return s
end

local COLUMNS = { "id", "name", "owner", "tasks" }

local command = {
  name = "export-projects",
  summary = "Write every project, with its details, as CSV",
  args = { "file?" },
  flags = {
    { long = "concurrency", value = "n", help = "Detail requests in flight at once (default 8)" },
  },
  run = function(opts, ctx)
    local concurrency = math.tointeger(tonumber(opts.concurrency or "8"))
    if not concurrency or concurrency < 1 then nt3.cli.usage_error("--concurrency must be a whole number >= 1") end

    -- the list, page by page
    local projects = {}
    for project in nt3.api.pages("/api/v1/projects") do projects[#projects + 1] = project end

    -- the details, side by side; results come back in the list's order
    local details, errors = nt3.task.map(projects, function(project)
      local detail, err, status = nt3.api.get("/api/v1/projects/" .. project.id)
      if not detail then
        error(("%s: %s%s"):format(project.id, err, status and (" (HTTP %s)"):format(status) or ""), 0)
      end
      return detail
    end, { concurrency = concurrency })
    if errors then
      for i in pairs(errors) do nt3.cli.warn(errors[i]) end
      nt3.cli.fail("some projects could not be read")
    end

    local out = io.stdout
    if ctx.args[1] and ctx.args[1] ~= "-" then
      local f, err = io.open(ctx.args[1], "wb")
      if not f then nt3.cli.fail(err) end
      out = f
    end
    local lines = { table.concat(COLUMNS, ",") }
    for _, d in ipairs(details) do
      local row = {}
      for i, c in ipairs(COLUMNS) do row[i] = csv_field(d[c]) end
      lines[#lines + 1] = table.concat(row, ",")
    end
    out:write(table.concat(lines, "\r\n"), "\r\n")
    if out ~= io.stdout then assert(out:close()) end
    return 0
  end,
}

return nt3.cli.run_command(command, arg)
