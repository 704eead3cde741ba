-- nt3.gitignore: does git ignore a file? `nt3 login --local` asks it
-- whether to remind the user to add .nt3.local.json to .gitignore. Not part
-- of the documented API.
--
-- Patterns are matched as git's wildmatch matches them (with WM_PATHNAME),
-- but by walking all the places a pattern could be at once (a set of
-- states, one pass over the name) instead of backtracking: a line such as
-- fifty `*` and an `x` costs time proportional to pattern times name, never
-- exponential time. A malformed pattern (an unclosed `[`, a trailing
-- backslash, `[]`) matches nothing, as in git; nothing here raises on
-- what a file says.
local ipairs, math, next, pairs, string, table = ipairs, math, next, pairs, string, table
local type = type
local env = require "nt3.env"
local fs = require "nt3.fs"

local M = {}

local IGNORE_FILE_MAX = 1024 * 1024

local SLASH = 47 -- "/"

---------------------------------------------------------------------------
-- compiling one pattern
---------------------------------------------------------------------------

-- Token kinds. A pattern compiles to a list of tokens; { kind, ... }.
local LIT, ONE, SET, STAR, ALL, DIRS = 1, 2, 3, 4, 5, 6

-- POSIX classes inside brackets, as git knows them.
local CLASSES = {
  alnum = "%w", alpha = "%a", blank = "[ \t]", cntrl = "%c", digit = "%d", graph = "[\33-\126]",
  lower = "%l", print = "[\32-\126]", punct = "%p", space = "%s", upper = "%u", xdigit = "%x",
}

-- Parses the bracket expression whose "[" is at i. Returns a table of the
-- bytes it matches (a negated one is turned around here) and the index
-- after its "]", or nil when it is malformed (then git's wildmatch gives
-- up: nothing matches).
local function bracket(p, i)
  local set, n = {}, #p
  i = i + 1
  local negate = false
  local c = p:sub(i, i)
  if c == "!" or c == "^" then
    negate = true
    i = i + 1
  end
  local prev = nil
  local first = true
  -- the first "]" at or after some index: i only grows, so one kept answer
  -- serves every "[:" before it (a search for each made "[[:[:[:..." quadratic)
  local close_at
  local added = {}
  while true do
    if i > n then return nil end
    c = p:sub(i, i)
    if c == "]" and not first then break end
    first = false
    if c == "\\" then
      i = i + 1
      if i > n then return nil end
      c = p:sub(i, i)
      set[c:byte()] = true
      prev = c:byte()
      i = i + 1
    elseif c == "-" and prev and i < n and p:sub(i + 1, i + 1) ~= "]" then
      i = i + 1
      c = p:sub(i, i)
      if c == "\\" then
        i = i + 1
        if i > n then return nil end
        c = p:sub(i, i)
      end
      for b = prev, c:byte() do set[b] = true end
      prev = nil
      i = i + 1
    elseif c == "[" and p:sub(i + 1, i + 1) == ":" then
      if not close_at or close_at < i + 2 then close_at = p:find("]", i + 2, true) end
      local close = close_at
      if not close then return nil end
      if p:sub(close - 1, close - 1) ~= ":" or close - 1 < i + 2 then
        -- no ":]": the "[" is an ordinary member
        set[91] = true
        prev = 91
        i = i + 1
      else
        local name = p:sub(i + 2, close - 2)
        local class = CLASSES[name]
        if not class then return nil end
        -- each class once: "[[:alpha:][:alpha:]...]" costs no more than "[[:alpha:]]"
        if not added[name] then
          added[name] = true
          for b = 0, 255 do
            if string.char(b):find(class) then set[b] = true end
          end
        end
        prev = nil
        i = close + 1
      end
    else
      set[c:byte()] = true
      prev = c:byte()
      i = i + 1
    end
  end
  if negate then
    local other = {}
    for b = 0, 255 do other[b] = not set[b] or nil end
    set = other
  end
  set[SLASH] = nil -- a bracket never matches "/"
  return set, i + 1
end

-- gitignore.compile(pattern) -> tokens | nil when the pattern can match
-- nothing (malformed). `**` is special only as a whole path component:
-- "**/" at the start or "/**/" inside match any run of directories, "/**"
-- at the end everything inside; any other run of stars is one `*`.
function M.compile(p)
  local tokens, i, n = {}, 1, #p
  while i <= n do
    local c = p:sub(i, i)
    if c == "*" then
      local j = i
      while p:sub(j + 1, j + 1) == "*" do j = j + 1 end
      local whole = j > i and (i == 1 or p:sub(i - 1, i - 1) == "/")
      if whole and j == n then
        tokens[#tokens + 1] = { ALL }
        i = j + 1
      elseif whole and p:sub(j + 1, j + 1) == "/" then
        tokens[#tokens + 1] = { DIRS }
        i = j + 2
      else
        tokens[#tokens + 1] = { STAR }
        i = j + 1
      end
    elseif c == "?" then
      tokens[#tokens + 1] = { ONE }
      i = i + 1
    elseif c == "[" then
      local set, after = bracket(p, i)
      if not set then return nil end
      tokens[#tokens + 1] = { SET, set }
      i = after
    elseif c == "\\" then
      if i == n then return nil end -- a trailing backslash matches nothing
      tokens[#tokens + 1] = { LIT, p:byte(i + 1) }
      i = i + 2
    else
      tokens[#tokens + 1] = { LIT, p:byte(i) }
      i = i + 1
    end
  end
  return tokens
end

---------------------------------------------------------------------------
-- matching
---------------------------------------------------------------------------

-- The states: token k's start is state k (n + 1: the end); a DIRS token
-- k also has an inside state, -k (within a directory name it crosses).

-- Adds state s and every state reachable from it without reading (a
-- star, `**` or a run of directories may match nothing). A loop, not a
-- recursion: "**/**/**/..." is as long as the line.
local function add(tokens, set, s)
  while not set[s] do
    set[s] = true
    local t = tokens[s]
    if not (t and (t[1] == STAR or t[1] == ALL or t[1] == DIRS)) then return end
    s = s + 1
  end
end

-- gitignore.match(pattern_or_tokens, name) -> matched, steps
-- Whether the whole of name matches; steps is the work done (states times
-- bytes), which is at most (#tokens * 2 + 2) per byte of name.
function M.match(p, name)
  local tokens = type(p) == "string" and M.compile(p) or p
  if not tokens then return false, 0 end
  local current, steps = {}, 0
  add(tokens, current, 1)
  for i = 1, #name do
    local b = name:byte(i)
    local nxt = {}
    for s in pairs(current) do
      steps = steps + 1
      if s < 0 then
        -- inside a directory name of a DIRS token
        if b == SLASH then add(tokens, nxt, -s) else nxt[s] = true end
      else
        local t = tokens[s]
        if t then
          local kind = t[1]
          if kind == LIT then
            if b == t[2] then add(tokens, nxt, s + 1) end
          elseif kind == ONE then
            if b ~= SLASH then add(tokens, nxt, s + 1) end
          elseif kind == SET then
            if t[2][b] then add(tokens, nxt, s + 1) end
          elseif kind == STAR then
            if b ~= SLASH then add(tokens, nxt, s) end
          elseif kind == ALL then
            add(tokens, nxt, s)
          elseif b ~= SLASH then -- DIRS: into a directory name
            nxt[-s] = true
          end
        end
      end
    end
    current = nxt
    if next(current) == nil then return false, steps end
  end
  return current[#tokens + 1] == true, steps
end

---------------------------------------------------------------------------
-- ignore files
---------------------------------------------------------------------------

-- Trailing spaces go unless escaped with a backslash, as git trims them.
local function trim_trailing_spaces(line)
  local keep, i = 0, 1
  while i <= #line do
    local c = line:sub(i, i)
    if c == "\\" then
      i = i + 2
      keep = math.min(i - 1, #line)
    else
      if c ~= " " then keep = i end
      i = i + 1
    end
  end
  return line:sub(1, keep)
end

-- gitignore.rule(line) -> { tokens, negate, anchored } | nil (a blank line,
-- a comment, a directory-only rule: the file asked about is not a directory)
function M.rule(line)
  line = trim_trailing_spaces((line:gsub("\r$", "")))
  if line == "" or line:sub(1, 1) == "#" or line:sub(-1) == "/" then return nil end
  local negate = line:sub(1, 1) == "!"
  if negate then line = line:sub(2) end
  -- a slash at the start or inside ties the pattern to the ignore file's
  -- directory; without one it matches the name at any depth
  local anchored = line:find("/", 1, true) ~= nil
  if line:sub(1, 1) == "/" then line = line:sub(2) end
  return { tokens = M.compile(line), negate = negate, anchored = anchored }
end

-- gitignore.apply(text, rel, ignored) -> ignored
-- Applies the rules of one ignore file's text to rel (the path relative to
-- that file's directory): true when the last rule that matches ignores
-- it, false when it is negated, `ignored` as given when no rule matches.
function M.apply(text, rel, ignored)
  local name = rel:match("([^/]*)$")
  if text:sub(1, 3) == "\239\187\191" then text = text:sub(4) end -- a BOM
  for line in text:gmatch("[^\n]+") do
    local r = M.rule(line)
    if r and M.match(r.tokens, r.anchored and rel or name) then ignored = not r.negate end
  end
  return ignored
end

local function apply_file(path, rel, ignored)
  local text = fs.read(path, IGNORE_FILE_MAX)
  if not text then return ignored end
  return M.apply(text, rel, ignored)
end

-- The user's global ignore file when core.excludesFile is not set.
local function global_ignore_file()
  local xdg = env.get("XDG_CONFIG_HOME")
  if xdg and xdg:sub(1, 1) == "/" then return xdg .. "/git/ignore" end
  local h = env.home()
  return h and (h .. "/.config/git/ignore")
end

-- gitignore.ignores(dir, name) -> boolean
-- Whether the repository holding dir ignores dir/name: the user's global
-- ignore file, .git/info/exclude, then every .gitignore from the
-- repository's top down to dir, later ones overriding earlier ones as in
-- git. Not in a repository: false.
function M.ignores(dir, name)
  local dirs, d = {}, dir
  while true do
    table.insert(dirs, 1, d)
    if fs.lstat(d .. "/.git") then break end
    if d == "" or d == "/" then return false end
    d = d:match("^(.*)/[^/]*$")
  end
  local function relative_to(top)
    local rel = dir:sub(#top + 2)
    return (rel == "" and "" or rel .. "/") .. name
  end
  local top = dirs[1]
  local files = {}
  local global = global_ignore_file()
  if global then files[#files + 1] = { global, relative_to(top) } end
  files[#files + 1] = { top .. "/.git/info/exclude", relative_to(top) }
  for _, each in ipairs(dirs) do
    files[#files + 1] = { each .. "/.gitignore", relative_to(each) }
  end
  local ignored = false
  for _, f in ipairs(files) do ignored = apply_file(f[1], f[2], ignored) end
  return ignored
end

return M
