-- nt3.cli.help: the text of help and usage for nt3.cli, the help topics,
-- and the nearest name to a misspelt command or flag. nt3.cli loads this
-- only when help is shown or a name is not found; a run of a command with
-- its flags right does not undump it. Use it through nt3.cli (cli.usage,
-- cli.help_text, cli.suggest).
local ipairs, math, require, table, tostring, type = ipairs, math, require, table, tostring, type
local policy = require "nt3.policy"
local registry = require "nt3.cli.registry"

local PROGRAM = registry.PROGRAM
-- many lines, tokens left as the help writes them (a built-in's examples)
local SHOWN_AS_IS = { lines = true, mask = false }

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

-- how the command is typed: a script's command (cli.run_command with `arg`)
-- runs as `nt3 run <path>`
local function invocation(cmd)
  return PROGRAM .. " " .. (cmd.script and ("run " .. cmd.script) or cmd.name)
end

-- help.synopsis(command) -> "nt3 login [options]", with the arguments
function M.synopsis(cmd)
  local s = invocation(cmd) .. " [options]"
  local a = args_usage(cmd)
  if a ~= "" then s = s .. " " .. a end
  return s
end

-- help.flags(command) -> the flags the command takes, in the order help
-- shows them: its own, --format and --columns for a command that returns
-- rows, the global --profile where it applies, -h/--help
function M.flags(cmd)
  local list = {}
  for _, f in ipairs(cmd.flags or {}) do list[#list + 1] = f end
  if registry.takes_format(cmd) then
    for _, f in ipairs(registry.FORMAT_FLAGS) do list[#list + 1] = f end
  end
  if registry.takes_profile(cmd) then list[#list + 1] = registry.PROFILE_FLAG end
  list[#list + 1] = { short = "h", long = "help", help = "Show help for " .. cmd.name }
  return list
end

-- help.usage_hint(command) -> what follows a usage error: the one line of
-- usage and where the whole help is, never the whole help
function M.usage_hint(cmd)
  return ("Usage: %s\nRun '%s --help' for help.\n"):format(M.synopsis(cmd), invocation(cmd))
end

-- cli.usage(command) -> the command's help text
function M.usage(cmd)
  local lines = {}
  local function add(s) lines[#lines + 1] = s end
  -- the summary may come from a file (a lock edited by hand): one printable line
  add(policy.sanitize(cmd.summary, 400))
  add("")
  add("Usage: " .. M.synopsis(cmd))
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
  for _, f in ipairs(M.flags(cmd)) do rows[#rows + 1] = { flag_label(f), f.help or "" } end
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
  if cmd.permissions then
    add("")
    add("Permissions (it runs in a sandbox and may do only this):")
    for _, line in ipairs(M.permission_lines(cmd.permissions)) do add("  " .. line) end
  end
  if cmd.source then
    add("")
    add("Defined in " .. cmd.source)
  end
  -- a user command's or an extension's description, examples, flag help
  -- and value names are text from a file: printable, every line of it
  -- (an escape sequence could write the clipboard or fake a prompt)
  return policy.sanitize(table.concat(lines, "\n") .. "\n", 0, SHOWN_AS_IS)
end

local function words(list)
  local out = {}
  for _, v in ipairs(type(list) == "table" and list or { list }) do out[#out + 1] = tostring(v) end
  return table.concat(out, ", ")
end

-- help.permission_lines(permissions) -> what a sandboxed command may do,
-- one line each, in a fixed order (docs/sandbox.md)
function M.permission_lines(p)
  local lines = {}
  local function line(s) lines[#lines + 1] = policy.sanitize(s, 300) end
  if p.api == "read" then line("api: read the API (GET, HEAD, OPTIONS) with your token, which it never sees")
  elseif p.api == "write" then line("api: read and change through the API with your token, which it never sees")
  elseif p.api then line("api: " .. words(p.api) .. " requests to the API with your token, which it never sees") end
  if p.http then line("http: unauthenticated requests to " .. words(p.http)) end
  if type(p.fs) == "table" and p.fs.read then line("fs read: files under " .. words(p.fs.read)) end
  if type(p.fs) == "table" and p.fs.write then line("fs write: files under " .. words(p.fs.write)) end
  if p.env then line("env: the variables " .. words(p.env)) end
  if p.proc then line("proc: run " .. words(p.proc)) end
  if p.prompt then line("prompt: ask questions on the terminal") end
  line("memory: " .. (p.memory and tostring(p.memory) or "1G (the default)"))
  return lines
end

-- Edits from a to b, a swap of two neighbours counting as one ("hepl" is
-- one from "help", as from "repl"): the optimal string alignment distance.
local function distance(a, b)
  local before, prev = nil, {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
      if before and i > 1 and j > 1 and a:sub(i, i) == b:sub(j - 1, j - 1) and a:sub(i - 1, i - 1) == b:sub(j, j) then
        cur[j] = math.min(cur[j], before[j - 2] + 1)
      end
    end
    before, prev = prev, cur
  end
  return prev[#b]
end

-- help.nearest(name, candidates) -> the candidate nearest to name, if one
-- is near enough to be what was meant (a typo, a transposition, a prefix)
function M.nearest(name, candidates)
  local best, best_d
  for _, candidate in ipairs(candidates) do
    local d = distance(name, candidate)
    if candidate:sub(1, #name) == name then d = math.min(d, 1) end
    if not best_d or d < best_d then best, best_d = candidate, d end
  end
  if best and best_d <= math.max(2, #name // 3) then return best end
end

-- cli.suggest(name[, more]) -> the nearest command name (or alias, or
-- word of the list more: help's topics), if any is near enough
function M.suggest(name, more)
  local names = {}
  for _, cmd in ipairs(require("nt3.cli.user").listing()) do
    names[#names + 1] = cmd.name
    for _, alias in ipairs(cmd.aliases or {}) do names[#names + 1] = alias end
  end
  for _, alias in ipairs(require("nt3.cli.alias").names()) do names[#names + 1] = alias end
  for _, word in ipairs(more or {}) do names[#names + 1] = word end
  return M.nearest(name, names)
end

-- help.unknown_flag(name, longs) -> "unknown flag: --<name>", with the
-- nearest of the long names given, if one is near enough
function M.unknown_flag(name, longs)
  local near = M.nearest(name, longs)
  local hint = near and (" (did you mean --%s?)"):format(near) or ""
  return ("unknown flag: --%s%s"):format(name, hint)
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
  local cmds = require("nt3.cli.user").listing()
  local width = 0
  for _, c in ipairs(cmds) do if not c.hidden then width = math.max(width, #c.name) end end
  local row = "  %-" .. width .. "s   %s"
  for _, c in ipairs(cmds) do
    if not c.hidden then
      local line = row:format(c.name, c.summary)
      if c.aliases and #c.aliases > 0 then line = line .. " (alias: " .. table.concat(c.aliases, ", ") .. ")" end
      if c.overrides_builtin then
        line = line .. " [user command, overrides built-in]"
      elseif c.user then
        line = line .. " [user command]"
      elseif c.extension then
        line = line .. " [extension " .. c.extension .. "]"
      end
      -- a summary comes from a file (a user command, a lock edited by
      -- hand): never a control byte on the terminal
      lines[#lines + 1] = policy.sanitize(line, 400)
    end
  end
  local aliases = require("nt3.cli.alias")
  local taken = aliases.names()
  if #taken > 0 then
    local all = aliases.all()
    lines[#lines + 1] = ""
    lines[#lines + 1] = "Aliases (nt3 alias list):"
    width = 0
    for _, name in ipairs(taken) do width = math.max(width, #name) end
    for _, name in ipairs(taken) do
      lines[#lines + 1] = policy.sanitize(("  %-" .. width .. "s   %s"):format(name, all[name]), 200)
    end
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "Run 'nt3 help <command>' or 'nt3 <command> --help' for a command's options."
  lines[#lines + 1] = "Run 'nt3 help environment' for the NT3_* variables nt3 reads."
  lines[#lines + 1] = "Run 'nt3 --version' (or 'nt3 version') for the version, and 'man nt3' for the manual."
  return table.concat(lines, "\n") .. "\n"
end

---------------------------------------------------------------------------
-- topics: `nt3 help <topic>`, and the same words in the manual page
---------------------------------------------------------------------------

-- Every environment variable nt3 reads (tests/cli_spec.lua holds this list
-- to the code: a name read anywhere in lua/, src/ or bindings/ is here).
M.ENVIRONMENT = {
  { "NT3_API_TOKEN", "The API token to use, ahead of every saved one (--profile and NT3_PROFILE included)." },
  { "NT3_API_URL", "The API URL to use, ahead of the one saved with the token (default: https://app.nt3.io)." },
  { "NT3_PROFILE", "The profile whose token and API URL to use when --profile is not given." },
  { "NT3_CONFIG_DIR", "The directory of the global config.json and of commands/, instead of ~/.nt3"
    .. " (an absolute path)." },
  { "NT3_COMMANDS_PATH", "More directories of user commands, separated by ':', searched after"
    .. " ~/.nt3/commands (absolute paths; others are ignored with a warning)." },
  { "NT3_CA_FILE", "A CA certificate file (PEM, an absolute path) to verify the API server with, for a"
    .. " self-hosted server with a private CA; the system's CAs otherwise." },
  { "NT3_MAX_CONNECTIONS", "How many connections nt3.http's pool may keep open (default 256): it grows"
    .. " with the requests in flight up to this bound, so N tasks to one origin reuse N connections." },
  { "NT3_HTTP_TIMEOUT", "Seconds an nt3.api request may take in all, ahead of the http.timeout setting." },
  { "NT3_HTTP_RETRIES", "How many times nt3.api retries, ahead of the http.retries setting." },
  { "NT3_HTTP_CONCURRENCY", "How many items task.map runs at a time, ahead of the http.concurrency setting." },
  { "NT3_NO_PROGRESS", "Set to anything but empty: task.map and nt3 api --paginate show no progress on"
    .. " stderr, ahead of the progress setting (as --no-progress)." },
  { "NT3_PAGER", "The pager nt3 api's terminal output goes through, ahead of the pager setting"
    .. " (empty or cat: none)." },
  { "NT3_API_FORMAT", "nt3 api's output when no --format is given (json, table, csv, ndjson), ahead of the"
    .. " api.format setting." },
  { "NT3_API_COLUMNS", "nt3 api's columns when no --columns is given (a,b.c), ahead of the api.columns setting." },
  { "NT3_COLOR", "auto, always or never: colour in nt3's output, ahead of NO_COLOR, CLICOLOR_FORCE and"
    .. " the color setting." },
  { "XDG_CACHE_HOME", "The directory under which nt3's HTTP cache lives (nt3/), instead of ~/.cache." },
  { "XDG_STATE_HOME", "The directory under which nt3 repl keeps its history (nt3/history), instead of"
    .. " ~/.local/state." },
  { "NT3_DEBUG", "Set to anything but 0 or empty: an error prints its Lua traceback, and requests are"
    .. " traced on stderr (tokens and credential headers masked)." },
  { "NT3_GIT_TIMEOUT", "Seconds one git command of nt3 extension may take (default 120; 1 to 3600):"
    .. " a clone from a server that never answers is stopped then." },
  { "NT3_EXT_TEST_PAUSE", "For nt3's own tests: a stage of an extension change (staged, intent, locked, moved)"
    .. " at which nt3 stops for 60 s, to be killed there (extensions.md, \"The test hook\")." },
  { "NT3_TEST_NO_LINEEDIT", "For nt3's own tests: set to anything, nt3 repl does without libedit (plain lines),"
    .. " as on a system that lacks it." },
  { "NT3_LUA_DIR", "For developing nt3: an absolute directory whose nt3/*.lua and commands/*.lua files"
    .. " are loaded instead of the copies built into the binary." },
  { "NT3_TEST_NO_OPENAT2", "For nt3's own tests: set to 1, opening beneath a root (a sandbox's fs grants)"
    .. " takes the descriptor walk instead of openat2, so both can be checked to agree." },
  { "NT3_TEST_NO_FAST_URL", "For nt3's own tests: set to 1 when nt3.http loads, http.parse_url leaves every"
    .. " URL to libcurl's parser (no plain case of its own), so both can be checked to agree." },
  { "https_proxy", "The proxy (http://host:port, or host:port) for https requests, as curl reads it;"
    .. " also HTTPS_PROXY. TLS stays end to end. A loopback host never goes through a proxy, and"
    .. " plain http goes to loopback hosts only, so http_proxy is never used." },
  { "all_proxy", "The proxy when https_proxy is not set; also ALL_PROXY." },
  { "no_proxy", "Hosts that go direct, separated by commas: names (each with the names under it),"
    .. " addresses, address/bits ranges, or * for every host; also NO_PROXY." },
}

-- the files nt3 reads and writes, for the manual page
M.FILES = {
  { "~/.nt3/config.json", "The global credentials (mode 0600, in a 0700 directory); named profiles too." },
  { "./.nt3.local.json", "Credentials for the current directory only, written by nt3 login --local"
    .. " (mode 0600); ahead of the global file." },
  { "~/.nt3/commands/*.lua", "User commands: one command a file, named after the command." },
  { "~/.nt3/extensions/", "Installed extensions, one folder each (nt3 ext install); files 0600, folders 0700." },
  { "~/.nt3/extensions.lock", "What the installed extensions must be: sources, commits, a sha256 per file and"
    .. " over each tree, the permissions granted (JSON, written atomically under a lock)." },
  { "~/.nt3/extensions.index", "What nt3 help lists of the installed extensions, with the stamp of the lock it"
    .. " was made from; rewritten after the lock, and not read when it is not that lock's." },
}

local function rows(list, indent)
  local width = 0
  for _, r in ipairs(list) do width = math.max(width, #r[1]) end
  local lines = {}
  for _, r in ipairs(list) do lines[#lines + 1] = ("%s%-" .. width .. "s   %s"):format(indent, r[1], r[2]) end
  return table.concat(lines, "\n") .. "\n"
end

M.TOPICS = {
  environment = function()
    return "Environment variables nt3 reads:\n\n" .. rows(M.ENVIRONMENT, "  ")
      .. "\nA token is resolved in this order: NT3_API_TOKEN, --profile, NT3_PROFILE,"
      .. " ./.nt3.local.json, ~/.nt3/config.json.\n"
      .. "A setting (nt3 config) is taken in this order: flag > environment > profile setting > global setting"
      .. " > default.\n"
  end,
}

return M
