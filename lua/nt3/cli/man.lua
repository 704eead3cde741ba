-- nt3.cli.man: the manual page nt3(1), in roff, made from the built-in
-- command tables and the help topics (nt3.cli.help), so the page says what
-- the binary does. `nt3 help --man` prints it; the build runs that with the
-- freshly built binary and installs the result (CMakeLists.txt). Only the
-- built-in commands: a user's own commands are theirs, not the manual's;
-- the commands of installed extensions get a section of their own.
local ipairs, require, table, tostring = ipairs, require, table, tostring
local embedded = require "nt3.embedded"
local help = require "nt3.cli.help"
local registry = require "nt3.cli.registry"

local M = {}

-- text for roff: a backslash is an escape, and a line starting with . or '
-- would be a request
local function text(s)
  s = tostring(s):gsub("\\", "\\e")
  return (s:gsub("^([.'])", "\\&%1"):gsub("\n([.'])", "\n\\&%1"))
end

-- a word typed as is (a flag, a command): its dashes are real minus signs,
-- so a copy from the rendered page runs
local function literal(s)
  return (text(s):gsub("%-", "\\-"))
end

local function flag_tag(f)
  local parts = {}
  if f.short then parts[#parts + 1] = "\\fB" .. literal("-" .. f.short) .. "\\fR, " end
  parts[#parts + 1] = "\\fB" .. literal("--" .. f.long) .. "\\fR"
  if f.value then parts[#parts + 1] = " \\fI" .. text(f.value) .. "\\fR" end
  return table.concat(parts)
end

local function builtins()
  local list = {}
  for _, name in ipairs(registry.builtin_names()) do
    local cmd = registry.load_builtin(name)
    if not cmd.hidden then list[#list + 1] = cmd end
  end
  table.sort(list, function(a, b) return a.name < b.name end)
  return list
end

local EXIT_STATUS = {
  { "0", "Success." },
  { "1", "Failure: the request or the command failed; the message says why." },
  { "2", "Usage error: an unknown flag or command, a missing value or argument." },
  { "4", "Not logged in: no token, or an unknown profile." },
  { "130", "Interrupted (Ctrl-C)." },
}

local function tagged(out, rows, bold)
  for _, r in ipairs(rows) do
    out[#out + 1] = ".TP"
    out[#out + 1] = bold and (".B " .. literal(r[1])) or text(r[1])
    out[#out + 1] = text(r[2])
  end
end

-- A command's description as help prints it: a blank line starts a
-- paragraph, and an indented line (an example) stays a line of its own.
local function description(out, s)
  for line in (s:gsub("%s+$", "") .. "\n"):gmatch("([^\n]*)\n") do
    if line:match("^%s*$") then
      out[#out + 1] = ".PP"
    elseif line:match("^%s") then
      out[#out + 1] = ".br"
      out[#out + 1] = "\\ \\ " .. literal((line:gsub("^%s+", "")))
      out[#out + 1] = ".br"
    else
      out[#out + 1] = text(line)
    end
  end
end

-- man.page() -> the roff source of nt3(1)
function M.page()
  local out = {
    ('.TH NT3 1 "" "nt3 %s" "User Commands"'):format(embedded.version),
    -- flags and paths are typed as printed: never broken by a hyphen
    ".nh",
    ".ad l",
    ".SH NAME",
    "nt3 \\- command-line client for the nt3 API",
    ".SH SYNOPSIS",
    ".B nt3",
    ".I command",
    ".RI [ options ]",
    ".RI [ arguments ]",
    ".br",
    ".B nt3 help",
    ".RI [ command | topic ]",
    ".br",
    ".B nt3 \\-\\-version",
    ".SH DESCRIPTION",
    text("nt3 authenticates with an API token, shows where the token in use comes from, makes requests to"
      .. " the nt3 API, and runs Lua scripts and user commands written against the same API the built-in"
      .. " commands use. Flags go after the command; every command takes -h/--help."),
    ".PP",
    text("A command that uses a token also takes --profile NAME, the profile of ~/.nt3/config.json whose"
      .. " token and API URL to use. The token is resolved in this order: NT3_API_TOKEN, --profile,"
      .. " NT3_PROFILE, ./.nt3.local.json, ~/.nt3/config.json."),
    ".SH COMMANDS",
  }
  for _, cmd in ipairs(builtins()) do
    out[#out + 1] = '.SS "' .. literal(help.synopsis(cmd)) .. '"'
    out[#out + 1] = text(cmd.summary) .. "."
    if cmd.aliases and #cmd.aliases > 0 then
      local names = {}
      for i, a in ipairs(cmd.aliases) do names[i] = "\\fB" .. literal("nt3 " .. a) .. "\\fR" end
      out[#out + 1] = "Alias: " .. table.concat(names, ", ") .. "."
    end
    if cmd.description then
      out[#out + 1] = ".PP"
      description(out, cmd.description)
    end
    for _, f in ipairs(help.flags(cmd)) do
      out[#out + 1] = ".TP"
      out[#out + 1] = flag_tag(f)
      out[#out + 1] = text(f.help or "")
    end
    if cmd.examples then
      out[#out + 1] = ".PP"
      out[#out + 1] = "Examples:"
      out[#out + 1] = ".PP"
      out[#out + 1] = ".RS"
      out[#out + 1] = ".nf"
      for _, e in ipairs(cmd.examples) do out[#out + 1] = literal(e) end
      out[#out + 1] = ".fi"
      out[#out + 1] = ".RE"
    end
  end
  -- the installed extensions' commands (from the lock: no extension file
  -- is read); the build makes the page with a HOME of its own, so none
  local exts = require("nt3.cli.ext").commands()
  if #exts > 0 then
    out[#out + 1] = ".SH EXTENSIONS"
    out[#out + 1] = text("Commands of the extensions installed (nt3 ext list), each run in the sandbox.")
    for _, cmd in ipairs(exts) do
      out[#out + 1] = ".TP"
      out[#out + 1] = ".B " .. literal("nt3 " .. cmd.name)
      -- from the lock, which a hand can edit: no control byte goes to groff
      out[#out + 1] = text(require("nt3.policy").sanitize(cmd.summary .. " [extension " .. cmd.extension .. "]", 400))
    end
  end
  out[#out + 1] = ".SH ENVIRONMENT"
  tagged(out, help.ENVIRONMENT, true)
  out[#out + 1] = ".SH FILES"
  tagged(out, help.FILES, true)
  out[#out + 1] = ".SH EXIT STATUS"
  tagged(out, EXIT_STATUS, false)
  out[#out + 1] = ".SH SEE ALSO"
  out[#out + 1] = text("The documentation installed with nt3, in share/doc/nt3 under its installation prefix"
    .. " (/usr/local/share/doc/nt3 by default): README.md, lua-api.md (the Lua API of scripts and"
    .. " commands), writing-commands.md, and examples/.")
  return table.concat(out, "\n") .. "\n"
end

return M
