#!/usr/bin/env -S nt3 run
-- Pages through GET /api/v1/items and writes every item as a CSV row.
--
--   nt3 run items-to-csv.lua items.csv --per-page 50
--   ./items-to-csv.lua --columns id,name > items.csv     (when executable)
--
-- A script gets the same flag parsing and --help as a command: it declares
-- itself as one and hands its arguments to nt3.cli.run_command.
local nt3 = require "nt3"

-- RFC 4180: quote a field holding a comma, a quote or a line break
local function csv_field(value)
  if value == nil or value == nt3.json.null then return "" end
  if math.type(value) == "float" and math.tointeger(value) then value = math.tointeger(value) end
  local s = tostring(value)
  if s:find('[,"\r\n]') then s = '"' .. s:gsub('"', '""') .. '"' end
  return s
end

local function csv_row(values)
  local fields = {}
  for i, v in ipairs(values) do fields[i] = csv_field(v) end
  return table.concat(fields, ",") .. "\r\n"
end

local command = {
  name = "items-to-csv",
  summary = "Write every item of /api/v1/items as CSV",
  args = { "file?" },
  flags = {
    { long = "per-page", value = "n", help = "Items per request (default 100)" },
    { long = "columns", value = "list", help = "Comma-separated fields to write (default id,name)" },
  },
  run = function(opts, ctx)
    local per_page = tonumber(opts.per_page or "100")
    if not per_page or per_page < 1 then nt3.cli.usage_error("--per-page must be a positive number") end
    local columns = {}
    for c in (opts.columns or "id,name"):gmatch("[^,]+") do columns[#columns + 1] = c end

    local out = io.stdout
    if ctx.args[1] and ctx.args[1] ~= "-" then
      local f, err = io.open(ctx.args[1], "wb")
      if not f then nt3.cli.fail(err) end
      out = f
    end

    out:write(csv_row(columns))
    local page, count = 1, 0
    while page do
      local body, err, status = nt3.api.get("/api/v1/items", { page = page, per_page = per_page })
      if not body then
        nt3.cli.fail(math.type(status) == "integer" and ("%s (HTTP %d)"):format(err, status) or err)
      end
      for _, item in ipairs(body.items) do
        local row = {}
        for i, c in ipairs(columns) do row[i] = item[c] end
        out:write(csv_row(row))
        count = count + 1
      end
      -- next_page is null on the last page
      page = body.next_page ~= nt3.json.null and body.next_page or nil
    end
    if out ~= io.stdout then
      assert(out:close())
      io.stderr:write(("wrote %d items to %s\n"):format(count, ctx.args[1]))
    end
    return 0
  end,
}

return nt3.cli.run_command(command, arg)
