-- nt3.cli.help: the text of help and usage for nt3.cli, and the nearest
-- name to a misspelt command. nt3.cli loads this only when help is shown
-- or a name is not found; a run of a command with its flags right does not
-- undump it. Use it through nt3.cli (cli.usage, cli.help_text, cli.suggest).
local registry = require "nt3.cli.registry"

local PROGRAM = registry.PROGRAM

local M = {}

local function flag_label(f)
  local s = f.short and ("-" .. f.short .. ", ") or "    "
  s = s .. "--" .. f.long
  if f.value then s = s .. " <" .. f.value .. ">" end
  return s
end

local function args_usage(cmd)
  local parts = {}
  for _, a in ipairs(cmd.args or {}) do
    if a:sub(-3) == "..." then
      parts[#parts + 1] = "[" .. a .. "]"
    elseif a:sub(-1) == "?" then
      parts[#parts + 1] = "[<" .. a:sub(1, -2) .. ">]"
    else
      parts[#parts + 1] = "<" .. a .. ">"
    end
  end
  return table.concat(parts, " ")
end

-- cli.usage(command) -> the command's help text
function M.usage(cmd)
  local lines = {}
  local function add(s) lines[#lines + 1] = s end
  add(cmd.summary)
  add("")
  -- a script's command (cli.run_command with `arg`) runs as `nt3 run <path>`
  local invocation = cmd.script and ("run " .. cmd.script) or cmd.name
  local usage = ("Usage: %s %s [options]"):format(PROGRAM, invocation)
  local a = args_usage(cmd)
  if a ~= "" then usage = usage .. " " .. a end
  add(usage)
  if cmd.aliases and #cmd.aliases > 0 and not cmd.script then
    local names = {}
    for i, al in ipairs(cmd.aliases) do names[i] = PROGRAM .. " " .. al end
    add("Alias: " .. table.concat(names, ", "))
  end
  if cmd.description then
    add("")
    add((cmd.description:gsub("%s+$", "")))
  end
  add("")
  add("Options:")
  local rows = {}
  for _, f in ipairs(cmd.flags or {}) do rows[#rows + 1] = { flag_label(f), f.help or "" } end
  rows[#rows + 1] = { "-h, --help", "Show help for " .. cmd.name }
  local width = 0
  for _, r in ipairs(rows) do width = math.max(width, #r[1]) end
  for _, r in ipairs(rows) do
    add(("  %-" .. width .. "s   %s"):format(r[1], r[2]))
  end
  if cmd.examples then
    add("")
    add("Examples:")
    for _, e in ipairs(cmd.examples) do add("  " .. e) end
  end
  if cmd.source then
    add("")
    add("Defined in " .. cmd.source)
  end
  return table.concat(lines, "\n") .. "\n"
end

local function distance(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

-- cli.suggest(name) -> the nearest command name, if any is near enough
function M.suggest(name)
  local best, best_d
  for _, cmd in ipairs(require("nt3.cli.user").commands()) do
    for _, candidate in ipairs({ cmd.name, table.unpack(cmd.aliases or {}) }) do
      local d = distance(name, candidate)
      if candidate:sub(1, #name) == name then d = math.min(d, 1) end
      if not best_d or d < best_d then best, best_d = candidate, d end
    end
  end
  if best and best_d <= math.max(2, #name // 3) then return best end
end


-- cli.help_text() -> the command list shown by `nt3` and `nt3 help`
function M.help_text()
  local lines = {
    "nt3 — command-line client for the nt3 API",
    "",
    "Usage: nt3 <command> [options]",
    "",
    "Commands:",
  }
  local cmds = require("nt3.cli.user").commands()
  local width = 0
  for _, c in ipairs(cmds) do if not c.hidden then width = math.max(width, #c.name) end end
  for _, c in ipairs(cmds) do
    if not c.hidden then
      local line = ("  %-" .. width .. "s   %s"):format(c.name, c.summary)
      if c.aliases and #c.aliases > 0 then line = line .. " (alias: " .. table.concat(c.aliases, ", ") .. ")" end
      if c.overrides_builtin then
        line = line .. " [user command, overrides built-in]"
      elseif c.user then
        line = line .. " [user command]"
      end
      lines[#lines + 1] = line
    end
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "Run 'nt3 help <command>' or 'nt3 <command> --help' for a command's options."
  lines[#lines + 1] = "Run 'nt3 --version' for the version."
  return table.concat(lines, "\n") .. "\n"
end

return M
