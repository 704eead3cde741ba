-- nt3.cli.alias: the user's aliases (`nt3 alias`), kept under "aliases" in
-- the global file beside the profiles
-- (docs/architecture.md, "Settings and aliases"), written with config.update (atomic, under the file's lock).
-- nt3.cli loads this only for a name that is no command: a run of a
-- command never reads an alias.
--
-- An expansion is nt3's arguments, split into words the way a shell splits
-- them, but never run by a shell: no variables, no globbing, no pipes.
local ipairs, next, pairs, require, table = ipairs, next, pairs, require, table
local tonumber, type = tonumber, type
local policy = require "nt3.policy"
local registry = require "nt3.cli.registry"

local M = {}

-- the longest chain of aliases naming aliases before it is called a loop
local DEPTH_MAX = 16
M.EXPANSION_MAX = 4096

local function shown(text) return policy.sanitize(text, 200) end

-- alias.split(text) -> words | nil, message
-- Words are separated by blanks. 'single quotes' keep everything as it is;
-- "double quotes" keep everything but \" \\ and \$; outside quotes a
-- backslash keeps the next character. A placeholder ($1...$9, $@) is
-- marked where it is not quoted or in double quotes: each word is a list of
-- parts, a string or { arg = n } / { all = true }.
function M.split(text)
  local words, parts, buf, have = {}, {}, {}, false
  local function flush_text()
    if #buf > 0 then
      parts[#parts + 1] = table.concat(buf)
      buf = {}
    end
  end
  local function end_word()
    flush_text()
    if have then words[#words + 1] = parts end
    parts, have = {}, false
  end
  local i, n = 1, #text
  local function placeholder()
    local c = text:sub(i + 1, i + 1)
    if c:match("^[1-9]$") then
      flush_text()
      parts[#parts + 1] = { arg = tonumber(c) }
      i = i + 2
      return true
    elseif c == "@" then
      flush_text()
      parts[#parts + 1] = { all = true }
      i = i + 2
      return true
    end
  end
  while i <= n do
    local c = text:sub(i, i)
    if c == " " or c == "\t" or c == "\n" then
      end_word()
      i = i + 1
    elseif c == "'" then
      local j = text:find("'", i + 1, true)
      if not j then return nil, "a ' is not closed" end
      buf[#buf + 1] = text:sub(i + 1, j - 1)
      have, i = true, j + 1
    elseif c == '"' then
      have, i = true, i + 1
      while true do
        if i > n then return nil, 'a " is not closed' end
        local d = text:sub(i, i)
        if d == '"' then
          i = i + 1
          break
        elseif d == "\\" and text:sub(i + 1, i + 1):match('^["\\$]$') then
          buf[#buf + 1] = text:sub(i + 1, i + 1)
          i = i + 2
        elseif d ~= "$" or not placeholder() then
          buf[#buf + 1] = d
          i = i + 1
        end
      end
    elseif c == "\\" then
      if i == n then return nil, "a \\ ends the expansion" end
      buf[#buf + 1] = text:sub(i + 1, i + 1)
      have, i = true, i + 2
    elseif c == "$" and placeholder() then
      have = true
    else
      buf[#buf + 1] = c
      have, i = true, i + 1
    end
  end
  end_word()
  return words
end

-- alias.substitute(words, args) -> argv | nil, message
-- $n is argument n; $@ is every argument, a word each when it is a word of
-- its own; arguments past the highest $n are appended unless $@ is used.
function M.substitute(words, args)
  local highest, all = 0, false
  for _, w in ipairs(words) do
    for _, p in ipairs(w) do
      if type(p) == "table" then
        if p.all then all = true elseif p.arg > highest then highest = p.arg end
      end
    end
  end
  if #args < highest then
    return nil, ("it needs at least %d argument%s ($%d), and got %d"):format(highest, highest == 1 and "" or "s",
      highest, #args)
  end
  local argv = {}
  for _, w in ipairs(words) do
    if #w == 1 and type(w[1]) == "table" and w[1].all then
      for _, a in ipairs(args) do argv[#argv + 1] = a end
    else
      local out = {}
      for _, p in ipairs(w) do
        if type(p) == "string" then
          out[#out + 1] = p
        elseif p.all then
          out[#out + 1] = table.concat(args, " ")
        else
          out[#out + 1] = args[p.arg]
        end
      end
      argv[#argv + 1] = table.concat(out)
    end
  end
  if not all then
    for k = highest + 1, #args do argv[#argv + 1] = args[k] end
  end
  return argv
end

---------------------------------------------------------------------------
-- the stored aliases
---------------------------------------------------------------------------

-- alias.all() -> { name = expansion } | nil, message (the global file's)
function M.all()
  -- no file, no aliases: `nt3 help` need not load the credential store
  -- and a file with no aliases in it need not be parsed (`nt3 help` stays
  -- within its start-up budget): the one reading of the file follows only
  -- when its text names them
  local dir = registry.config_dir()
  local text = dir and require("nt3.fs").read(dir .. "/config.json", 64 * 1024)
  if not text or not text:find('"aliases"', 1, true) then return {} end
  local rec = require("nt3.config.store").read("global")
  if rec.state == "invalid" then return nil, rec.error end
  local out = {}
  local t = rec.state == "ok" and rec.data.aliases
  if type(t) == "table" then
    for name, exp in pairs(t) do
      -- a name typed into the file by hand is used only if `alias set` would take it
      if type(name) == "string" and name:match(registry.NAME) and type(exp) == "string" then out[name] = exp end
    end
  end
  return out
end

-- alias.names() -> sorted names of the stored aliases (none when the file cannot be read)
function M.names()
  local names = {}
  for name in pairs(M.all() or {}) do names[#names + 1] = name end
  table.sort(names)
  return names
end

-- alias.clash(name) -> the words naming what already has the name, or nil.
-- Every command name goes through the one list, nt3.cli.user's
-- command_names (built-ins, their aliases, user commands and theirs).
function M.clash(name)
  return require("nt3.cli.user").command_names()[name]
end

-- The first word of an expansion: a command or another alias.
local function first_word(words)
  local w = words[1]
  if not w or #w ~= 1 or type(w[1]) ~= "string" then return nil end
  return w[1]
end

-- alias.chain(name, aliases) -> the command name the alias ends at | nil,
-- message: follows aliases naming aliases, and calls a loop a loop.
function M.chain(name, aliases)
  local path, seen = { name }, { [name] = true }
  local at = name
  while aliases[at] do
    local words, err = M.split(aliases[at])
    if not words then return nil, ('alias "%s": %s'):format(shown(at), err) end
    local nxt = first_word(words)
    if not nxt then return nil, ('alias "%s" does not start with a command'):format(shown(at)) end
    path[#path + 1] = nxt
    if seen[nxt] or #path > DEPTH_MAX then
      return nil, ('alias "%s" expands to itself: %s'):format(shown(name), shown(table.concat(path, " -> ")))
    end
    seen[nxt] = true
    at = nxt
  end
  return at
end

-- alias.check(name, expansion, aliases) -> true | nil, message: whether the
-- alias may be saved beside the others (aliases: the ones it joins).
function M.check(name, expansion, aliases)
  if type(name) ~= "string" or not name:match(registry.NAME) then
    return nil, ('"%s" is not an alias name (a letter, then letters, digits, - and _)'):format(shown(name or ""))
  end
  local taken = M.clash(name)
  if taken then return nil, ('cannot define alias "%s": it is the name of %s'):format(name, taken) end
  if type(expansion) ~= "string" or #expansion > M.EXPANSION_MAX then
    return nil, ("the expansion of alias \"%s\" must be text of at most %d bytes"):format(name, M.EXPANSION_MAX)
  end
  local words, err = M.split(expansion)
  if not words then return nil, ('the expansion of alias "%s" cannot be split: %s'):format(name, err) end
  local first = first_word(words)
  if not first or not first:match(registry.NAME) then
    return nil, ('the expansion of alias "%s" must start with a command name'):format(name)
  end
  local with = {}
  for k, v in pairs(aliases) do with[k] = v end
  with[name] = expansion
  local last, cerr = M.chain(name, with)
  if not last then return nil, cerr end
  if not M.clash(last) then
    return nil, ('the expansion of alias "%s" starts with "%s", which is not a command'):format(name, shown(last))
  end
  return true
end

-- alias.save(changes) -> result | nil, message: sets (a string) or deletes
-- (false) aliases in one write of the global file, each checked first.
function M.save(changes)
  local config = require "nt3.config"
  local failure
  local res, err = config.update("global", function(data)
    local t = type(data.aliases) == "table" and data.aliases or {}
    local merged = {}
    for k, v in pairs(t) do merged[k] = v end
    for k, v in pairs(changes) do merged[k] = v or nil end
    for k, v in pairs(changes) do
      if v then
        local ok, why = M.check(k, v, merged)
        if not ok then
          failure = why
          return false
        end
      end
    end
    data.aliases = next(merged) ~= nil and merged or nil
  end)
  if failure then return nil, failure end
  return res, err
end

-- alias.expand(name, args) -> argv | nil (no such alias) | false, the one
-- line of why the alias cannot be used (a loop, too few arguments)
function M.expand(name, args)
  local aliases = M.all()
  if not aliases or not aliases[name] then return nil end
  local last, err = M.chain(name, aliases)
  if not last then return false, err end
  local words = M.split(aliases[name])
  local argv, serr = M.substitute(words, args)
  if not argv then return false, ('alias "%s": %s'):format(name, serr) end
  return argv
end

return M
