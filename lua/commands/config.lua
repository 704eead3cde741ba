-- nt3 config get|set|unset|list: the documented settings, kept in the
-- global file beside the profiles (docs/architecture.md, "Settings and aliases").
local ipairs, math, require, table, tostring = ipairs, math, require, table, tostring
local cli = require "nt3.cli"

local function settings() return require "nt3.config.settings" end

-- the setting, or a usage error naming the nearest one
local function known(key, cmd)
  local s = settings().find(key)
  if s then return s end
  local near = require("nt3.cli.help").nearest(key, settings().keys())
  cli.usage_error(('unknown setting "%s"%s; run \'nt3 config list\' for the settings'):format(
    require("nt3.policy").sanitize(key, 80), near and (' (did you mean "%s"?)'):format(near) or ""), cmd)
end

-- --profile NAME: that profile's settings (nt3.cli leaves the flag to the
-- command, which declares it)
local function scope_of(opts)
  if opts.profile == nil then return nil end
  local name, err = require("nt3.config").validate_profile_name(opts.profile)
  if not name then cli.fail(err) end
  return name
end

local actions = {}

function actions.get(args, opts, cmd)
  if #args ~= 1 then cli.usage_error("config get takes one setting", cmd) end
  local s = known(args[1], cmd)
  local value, source = settings().get(s.key, { profile = scope_of(opts) })
  if value == nil then cli.fail(source) end
  if opts.json then
    cli.out(require("nt3.json").encode({ key = s.key, value = value, source = source }), "\n")
  else
    cli.print(tostring(value))
  end
end

function actions.set(args, opts, cmd)
  if #args ~= 2 then cli.usage_error("config set takes a setting and a value", cmd) end
  local s = known(args[1], cmd)
  local value, err = settings().parse(s.key, args[2])
  if value == nil then cli.usage_error(err, cmd) end
  local profile = scope_of(opts)
  local res, werr, kind = settings().set(s.key, value, profile)
  if not res then cli.fail(werr, kind) end
  cli.print(("Set %s to %s%s in %s"):format(s.key, tostring(value),
    profile and (' for profile "%s"'):format(profile) or "", res.display))
end

function actions.unset(args, opts, cmd)
  if #args ~= 1 then cli.usage_error("config unset takes one setting", cmd) end
  local s = known(args[1], cmd)
  local profile = scope_of(opts)
  local res, err, kind = settings().set(s.key, nil, profile)
  if not res then cli.fail(err, kind) end
  cli.print(("%s %s%s (default: %s)"):format((res.written or res.removed) and "Unset" or "Not set:", s.key,
    profile and (' for profile "%s"'):format(profile) or "", tostring(s.default)))
end

function actions.list(args, opts, cmd)
  if #args ~= 0 then cli.usage_error("config list takes no arguments", cmd) end
  local part = settings()
  local profile = scope_of(opts)
  local rows, list = {}, {}
  for _, s in ipairs(part.LIST) do
    local value, source = part.get(s.key, { profile = profile })
    if value == nil then cli.fail(source) end
    rows[#rows + 1] = { s.key, tostring(value), source, s.help }
    list[#list + 1] = { key = s.key, value = value, source = source, default = s.default, env = s.env, help = s.help }
  end
  if opts.json then
    cli.out(require("nt3.json").pretty(list), "\n")
    return
  end
  local w1, w2, w3 = 0, 0, 0
  for _, r in ipairs(rows) do
    w1, w2, w3 = math.max(w1, #r[1]), math.max(w2, #r[2]), math.max(w3, #r[3])
  end
  for _, r in ipairs(rows) do
    cli.out(("%-" .. w1 .. "s  %-" .. w2 .. "s  %-" .. w3 .. "s  %s\n"):format(r[1], r[2], r[3], r[4]))
  end
end

return {
  name = "config",
  summary = "Get, set, unset and list settings (http.timeout, http.retries, http.concurrency, pager, ...)",
  args = { "get|set|unset|list", "words..." },
  complete = { "get", "set", "unset", "list" },
  uses_token = false,
  flags = {
    { long = "json", help = "get, list: print JSON (key, value, source)" },
    { long = "profile", value = "name", help = "The settings of this profile instead of the global ones" },
  },
  description = [[
The settings live under "settings" in ~/.nt3/config.json, and a profile's own
under that profile; they stay through every login and logout, and are never
read from ./.nt3.local.json. Precedence, first wins: flag > environment >
profile setting > global setting > default. The profile whose settings apply
is the one of the token in use. list shows each setting's value and where it
comes from; an unknown setting is refused.

  http.timeout       seconds an nt3.api request may take in all (default 30;
                     NT3_HTTP_TIMEOUT; a script's timeout option)
  http.retries       retries on 429/502/503/504 or a failed connection
                     (default 3; NT3_HTTP_RETRIES; nt3 api --retries)
  http.concurrency   items task.map runs at a time (default 8;
                     NT3_HTTP_CONCURRENCY; task.map's concurrency option)
  progress           true or false: whether progress shows on a terminal's
                     stderr: ui.progress, and task.map and nt3 api
                     --paginate after a second (default true;
                     NT3_NO_PROGRESS, any value, is false; --no-progress)
  pager              the program nt3 api's output goes through on a
                     terminal, as gh's pager: "less", "/usr/bin/less -S"
                     (default none; NT3_PAGER; empty or cat: none)
  api.format         nt3 api's output: json (the body as the server sent
                     it), table, csv or ndjson (default json;
                     NT3_API_FORMAT; nt3 api --format)
  api.columns        nt3 api's columns for table, csv and ndjson: a,b.c
                     (default: the first item's; NT3_API_COLUMNS; --columns)
  color              auto, always or never (default auto: on a terminal,
                     unless NO_COLOR or TERM=dumb; NT3_COLOR, ahead of
                     NO_COLOR and CLICOLOR_FORCE)]],
  examples = {
    "nt3 config set http.retries 5",
    "nt3 config set http.timeout 30 --profile staging",
    "nt3 config list --json",
  },
  run = function(opts, ctx)
    local action = ctx.args[1]
    local fn = actions[action]
    if not fn then
      cli.usage_error(('unknown action "%s" (one of: get, set, unset, list)'):format(
        require("nt3.policy").sanitize(action, 80)), ctx.command)
    end
    if opts.json and action ~= "get" and action ~= "list" then
      cli.usage_error("--json goes with config get and config list", ctx.command)
    end
    fn(table.move(ctx.args, 2, #ctx.args, 1, {}), opts, ctx.command)
    return 0
  end,
}
