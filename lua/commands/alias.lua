-- nt3 alias set|list|delete|import|export: one-line shortcuts, kept in the
-- global file beside the profiles (docs/architecture.md, "Settings and aliases").
local io, ipairs, next, pairs, require, table = io, ipairs, next, pairs, require, table
local tostring, type = tostring, type
local cli = require "nt3.cli"

local IMPORT_MAX = 256 * 1024

local function aliases()
  local part = require "nt3.cli.alias"
  local all, err = part.all()
  if not all then cli.fail(err) end
  return part, all
end

local function sorted(t)
  local names = {}
  for name in pairs(t) do names[#names + 1] = name end
  table.sort(names)
  return names
end

local function shown(text) return require("nt3.policy").sanitize(text, 300) end

local function export_text(all)
  local json = require "nt3.json"
  local out = {}
  for _, name in ipairs(sorted(all)) do out[#out + 1] = "  " .. json.encode(name) .. ": " .. json.encode(all[name]) end
  if #out == 0 then return "{}\n" end
  return "{\n" .. table.concat(out, ",\n") .. "\n}\n"
end

local actions = {}

function actions.set(args, _, cmd)
  if #args ~= 2 then
    cli.usage_error("alias set takes a name and an expansion: nt3 alias set <name> '<expansion>'", cmd)
  end
  local part = aliases()
  local ok, err = part.save({ [args[1]] = args[2] })
  if not ok then cli.fail(err) end
  cli.print(('Saved alias "%s": nt3 %s'):format(args[1], shown(args[2])))
end

function actions.delete(args, _, cmd)
  if #args ~= 1 then cli.usage_error("alias delete takes one name", cmd) end
  local part, all = aliases()
  if not all[args[1]] then cli.fail(('no alias "%s"'):format(shown(args[1]))) end
  local ok, err = part.save({ [args[1]] = false })
  if not ok then cli.fail(err) end
  cli.print(('Deleted alias "%s"'):format(args[1]))
end

function actions.list(args, opts, cmd)
  if #args ~= 0 then cli.usage_error("alias list takes no arguments", cmd) end
  local _, all = aliases()
  if opts.json then
    cli.out(export_text(all))
    return
  end
  local names = sorted(all)
  if #names == 0 then
    cli.print("No aliases; add one with: nt3 alias set <name> '<expansion>'")
    return
  end
  local width = 0
  for _, n in ipairs(names) do if #n > width then width = #n end end
  for _, n in ipairs(names) do cli.out(("%-" .. width .. "s   %s\n"):format(n, shown(all[n]))) end
end

function actions.export(args, _, cmd)
  if #args ~= 0 then cli.usage_error("alias export takes no arguments (redirect its output to a file)", cmd) end
  local _, all = aliases()
  cli.out(export_text(all))
end

-- import: the file is named, never looked for (a cloned repository's file
-- is read only when asked), every alias in it is shown, and nothing is
-- saved until the user says yes (or --yes): a shared file could map a
-- familiar name to a request nobody meant to send.
function actions.import(args, opts, cmd)
  if #args ~= 1 then cli.usage_error("alias import takes the file to read (- for standard input)", cmd) end
  local text, rerr
  if args[1] == "-" then
    text = io.stdin:read("a")
  else
    text, rerr = require("nt3.fs").read(args[1], IMPORT_MAX)
  end
  if not text then cli.fail(rerr or "cannot read standard input") end
  local data = require("nt3.json").decode(text)
  if type(data) ~= "table" or (next(data) ~= nil and data[1] ~= nil) then
    cli.fail(("%s is not an alias file: a JSON object of name: expansion, as 'nt3 alias export' writes"):format(
      shown(args[1])))
  end
  local part, all = aliases()
  local changes, lines = {}, {}
  for _, name in ipairs(sorted(data)) do
    local exp = data[name]
    if type(name) ~= "string" or type(exp) ~= "string" then
      cli.fail(("%s: every alias must be a name and an expansion (a string)"):format(shown(args[1])))
    end
    if all[name] ~= exp then
      changes[name] = exp
      local was = all[name] and ("   (replaces: nt3 %s)"):format(shown(all[name])) or ""
      lines[#lines + 1] = ("  %s = nt3 %s%s"):format(shown(name), shown(exp), was)
    end
  end
  if #lines == 0 then
    cli.print("Nothing to import: every alias in the file is already saved")
    return
  end
  io.stderr:write(("%s defines %d alias%s:\n%s\n"):format(shown(args[1]), #lines, #lines == 1 and "" or "es",
    table.concat(lines, "\n")))
  if not opts.yes then
    local yes, perr, code = require("nt3.prompt").confirm("Save these aliases?", false)
    if yes == nil then
      cli.fail(("not saved (%s): confirm on a terminal, or give --yes"):format(tostring(perr)), code)
    end
    if not yes then cli.fail("not saved") end
  end
  local ok, err = part.save(changes)
  if not ok then cli.fail(err) end
  cli.print(("Saved %d alias%s"):format(#lines, #lines == 1 and "" or "es"))
end

return {
  name = "alias",
  summary = "Define, list, delete, import and export aliases (shortcuts for nt3 commands)",
  args = { "set|list|delete|import|export", "words..." },
  complete = { "set", "list", "delete", "import", "export" },
  uses_token = false,
  flags = {
    { long = "json", help = "list: print the aliases as a JSON object (as export does)" },
    { long = "yes", help = "import: save without asking (for scripts; the aliases are still shown)" },
  },
  description = [[
An alias is a name for nt3 arguments: `nt3 alias set me 'api /api/v1/me'` makes
`nt3 me` run `nt3 api /api/v1/me`. The expansion is split into words as a
shell splits them, but no shell ever runs it: blanks separate words; 'single
quotes' keep everything as it is; in "double quotes" only \", \\ and \$ are
escapes; outside quotes a backslash keeps the next character. $1 ... $9 are
the alias's arguments, $@ all of them (a word each when it stands alone);
the arguments after the highest $n are appended, unless $@ is used. An alias
may start with another alias; a loop is refused. An alias never takes the
name of a command (built-in or user command, or one of their aliases), and
a command always wins over an alias: aliases are looked up only for a name
that is no command. Aliases live under "aliases" in ~/.nt3/config.json, and
are never read from ./.nt3.local.json. import reads only the file it is
given, shows every alias in it and saves them only when confirmed (--yes
for scripts); export prints them in the format import reads.]],
  examples = {
    "nt3 alias set me 'api /api/v1/me'",
    "nt3 alias set item 'api /api/v1/items/$1 --filter data.name'",
    "nt3 alias list --json",
    "nt3 alias export > aliases.json && nt3 alias import aliases.json",
  },
  run = function(opts, ctx)
    local action = ctx.args[1]
    local fn = actions[action]
    if not fn then
      cli.usage_error(('unknown action "%s" (one of: set, list, delete, import, export)'):format(shown(action)),
        ctx.command)
    end
    if opts.json and action ~= "list" then cli.usage_error("--json goes with alias list", ctx.command) end
    if opts.yes and action ~= "import" then cli.usage_error("--yes goes with alias import", ctx.command) end
    fn(table.move(ctx.args, 2, #ctx.args, 1, {}), opts, ctx.command)
    return 0
  end,
}
