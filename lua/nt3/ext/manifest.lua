-- nt3.ext.manifest: an extension's nt3-extension.json, as data: its
-- validation (one line naming the field at fault), the permissions it asks
-- for in words a person reads in five seconds, and what an upgrade asks
-- for beyond what was granted (docs/architecture.md, "Extensions").
local getmetatable, ipairs, math, next, pairs = getmetatable, ipairs, math, next, pairs
local require, table, tonumber, tostring, type = require, table, tonumber, tostring, type
local embedded = require "nt3.embedded"
local json = require "nt3.json"

local M = {}

M.FILE = "nt3-extension.json"
M.MAX = 64 * 1024

-- an extension's name and a command's, as nt3.cli.registry spells a name
M.NAME = require("nt3.ext.lock").NAME
local NAME_MAX = 64

local TOP = { name = true, version = true, description = true, commands = true, permissions = true, nt3 = true }
local KNOWN = { api = true, http = true, fs = true, env = true, proc = true, prompt = true, memory = true }
-- what "read" and "write" grant of the API
-- as the sandbox grants them (src/sandbox.c, READ_METHODS and ALL_METHODS)
M.API_LEVELS = {
  read = { "GET", "HEAD", "OPTIONS" },
  write = { "GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE" },
}

local function is_list(v)
  if type(v) ~= "table" then return false end
  local n = 0
  for k in pairs(v) do
    if math.type(k) ~= "integer" or k < 1 then return false end
    n = n + 1
  end
  return n == #v
end

local function is_object(v)
  return type(v) == "table" and not (next(v) ~= nil and is_list(v)) and getmetatable(v) ~= json.array_mt
end

local function nonempty_string(v) return type(v) == "string" and v ~= "" and not v:find("[%z\1-\31\127]") end

-- manifest.path_ok(rel) -> true | nil, why: a path inside the tree, as
-- the lock and the sandbox name files: components separated by one "/",
-- none empty, "." or "..", no control characters or backslashes, not
-- absolute (docs/extensions.md, "What is verified").
function M.path_ok(rel)
  if type(rel) ~= "string" or rel == "" then return nil, "is empty" end
  if #rel > 255 then return nil, "is longer than 255 bytes" end
  if rel:find("[%z\1-\31\127\\]") then return nil, "holds a control character or a backslash" end
  if rel:sub(1, 1) == "/" then return nil, "is absolute" end
  local depth = 0
  for part in (rel .. "/"):gmatch("([^/]*)/") do
    depth = depth + 1
    if part == "" or part == "." or part == ".." then return nil, "leaves the extension's folder or is not plain" end
  end
  if depth > 16 then return nil, "is nested deeper than 16 folders" end
  return true
end

-- manifest.check_permissions(p, field) -> true | nil, message
-- The JSON's shape here (objects and lists where the sandbox wants
-- tables); what each permission may say is the sandbox's one rule
-- (sandbox.check_permissions, in C).
function M.check_permissions(p, field)
  field = field or "permissions"
  if p == nil then return true end
  if not is_object(p) then return nil, ("field '%s' must be an object"):format(field) end
  for k, v in pairs(p) do
    if not KNOWN[k] then
      return nil, ("field '%s.%s' is not a permission nt3 knows (api, http, fs, env, proc, prompt, memory)")
        :format(field, tostring(k))
    end
    local want_list = k == "http" or k == "env" or k == "proc" or (k == "api" and type(v) == "table")
    if want_list and not is_list(v) then return nil, ("field '%s.%s' must be a list"):format(field, k) end
    if k == "fs" then
      if not is_object(v) then
        return nil, ("field '%s.fs' must be an object with read and write lists"):format(field)
      end
      for sub, list in pairs(v) do
        if not is_list(list) then return nil, ("field '%s.fs.%s' must be a list"):format(field, tostring(sub)) end
      end
    end
  end
  local ok, why = require("nt3.sandbox").check_permissions(p)
  if not ok then return nil, ("field '%s': %s"):format(field, why) end
  return true
end

local function version_parts(v)
  local a, b, c = tostring(v):match("^(%d+)%.(%d+)%.?(%d*)")
  if not a then return nil end
  return { math.tointeger(a), math.tointeger(b), math.tointeger(c ~= "" and c or "0") }
end

local function older(have, need)
  for i = 1, 3 do
    if have[i] ~= need[i] then return have[i] < need[i] end
  end
  return false
end

-- manifest.parse(text[, files]) -> manifest | nil, message, "manifest"
-- files, when given, is the set of the tree's files { [rel] = true }: every
-- command's file must be one of them.
function M.parse(text, files)
  local function bad(msg) return nil, M.FILE .. ": " .. msg, "manifest" end
  if #text > M.MAX then return bad(("is larger than %d bytes"):format(M.MAX)) end
  local m, err = json.decode(text)
  if m == nil then return bad("is not valid JSON (" .. tostring(err) .. ")") end
  if not is_object(m) then return bad("must be a JSON object") end
  for k in pairs(m) do
    if not TOP[k] then return bad(("field '%s' is not a manifest field"):format(tostring(k))) end
  end
  if type(m.name) ~= "string" or not m.name:match(M.NAME) or #m.name > NAME_MAX then
    return bad("field 'name' is missing or not a name (letters, digits, - and _, at most 64)")
  end
  -- printed as it is (installed x 1.2.0, upgraded, outdated): letters,
  -- digits and . + - _ ~ only, so no control byte of any kind reaches a
  -- terminal
  if type(m.version) ~= "string" or not m.version:match("^[%w][%w.+~_-]*$") or #m.version > 64 then
    return bad("field 'version' is missing or not a version (letters, digits and . + - _ ~, at most 64)")
  end
  if m.description ~= nil and (type(m.description) ~= "string" or m.description:find("[%z\1-\31\127]")) then
    return bad("field 'description' must be a one-line string")
  end
  if m.nt3 ~= nil then
    local need = type(m.nt3) == "string" and version_parts(m.nt3)
    if not need then return bad("field 'nt3' must be a version like \"0.3.0\"") end
    local have = version_parts(embedded.version)
    if have and older(have, need) then
      return bad(("field 'nt3' asks for nt3 %s or newer; this is %s"):format(m.nt3, embedded.version))
    end
  end
  if not is_list(m.commands) or #m.commands == 0 then return bad("field 'commands' must be a list of commands") end
  local seen = {}
  for i, c in ipairs(m.commands) do
    local at = ("commands[%d]"):format(i)
    if not is_object(c) then return bad(("field '%s' must be an object"):format(at)) end
    for k in pairs(c) do
      if k ~= "name" and k ~= "summary" and k ~= "file" then
        return bad(("field '%s.%s' is not a command field (name, summary, file)"):format(at, tostring(k)))
      end
    end
    if type(c.name) ~= "string" or not c.name:match(M.NAME) or #c.name > NAME_MAX then
      return bad(("field '%s.name' is missing or not a name"):format(at))
    end
    if seen[c.name] then return bad(("field '%s.name': %s is named twice"):format(at, c.name)) end
    seen[c.name] = true
    if not nonempty_string(c.summary) then return bad(("field '%s.summary' is missing or not one line"):format(at)) end
    local ok, why = M.path_ok(c.file)
    if type(c.file) ~= "string" then return bad(("field '%s.file' is missing"):format(at)) end
    if not ok then
      return bad(("field '%s.file' names a path outside the extension's files (it %s)"):format(at, why))
    end
    if c.file:sub(-4) ~= ".lua" then return bad(("field '%s.file' must name a .lua file"):format(at)) end
    if files and not files[c.file] then
      return bad(("field '%s.file' names %s, which is not a file of the extension"):format(at, c.file))
    end
  end
  local ok, perr = M.check_permissions(m.permissions)
  if not ok then return bad(perr) end
  m.permissions = m.permissions or {}
  return m
end

---------------------------------------------------------------------------
-- permissions, in words and as a set
---------------------------------------------------------------------------

local function methods_of(api)
  if api == nil then return {} end
  return M.API_LEVELS[api] or api
end

-- manifest.atoms(permissions) -> { [atom] = words }: each thing granted,
-- one atom each, so two grants compare as sets. The API's methods share
-- one line of words (on the atom of the first).
function M.atoms(p)
  local out = {}
  p = p or {}
  local methods = methods_of(p.api)
  local changes = false
  for _, m in ipairs(methods) do
    if m ~= "GET" and m ~= "HEAD" and m ~= "OPTIONS" then changes = true end
    out["api:" .. m] = ""
  end
  if #methods > 0 then
    out["api:" .. methods[1]] = (changes and "read and change your nt3 API data (%s)" or "read your nt3 API data (%s)")
      :format(table.concat(methods, ", "))
  end
  for _, o in ipairs(p.http or {}) do out["http:" .. o] = "send requests (without your token) to " .. o end
  for _, d in ipairs((p.fs or {}).read or {}) do out["fs.read:" .. d] = "read files under " .. d end
  for _, d in ipairs((p.fs or {}).write or {}) do out["fs.write:" .. d] = "write files under " .. d end
  for _, v in ipairs(p.env or {}) do out["env:" .. v] = "read the environment variable " .. v end
  for _, prog in ipairs(p.proc or {}) do out["proc:" .. prog] = "run the program " .. prog end
  if p.prompt == true then out.prompt = "ask you questions on the terminal" end
  if p.memory then out["memory:" .. p.memory] = ("use up to %s of memory"):format(p.memory) end
  return out
end

-- the words of the atoms in only (every atom when only is nil); any API
-- atom brings the API's line
local function words_of(atoms, only)
  local keys, api = {}, false
  for k, w in pairs(atoms) do
    if not only or only[k] then
      if k:match("^api:") then api = true elseif w ~= "" then keys[#keys + 1] = k end
    end
  end
  table.sort(keys)
  local lines = {}
  if api then
    for k, w in pairs(atoms) do if k:match("^api:") and w ~= "" then lines[1] = w end end
  end
  for _, k in ipairs(keys) do lines[#lines + 1] = atoms[k] end
  return lines
end

-- manifest.describe(permissions) -> { line, ... }: what the grant allows,
-- one short line each
function M.describe(p)
  local lines = words_of(M.atoms(p))
  if #lines == 0 then lines[1] = "nothing but printing its output" end
  return lines
end

-- manifest.wider(new, old) -> { line, ... }: what new grants that old
-- does not (empty: the same or fewer). More memory is wider; a cap
-- where there was none (the sandbox's default) is not.
local UNITS = { [""] = 1, K = 1024, M = 1024 ^ 2, G = 1024 ^ 3 }
local function bytes(spec)
  local n, unit = tostring(spec):upper():match("^(%d+)([KMG]?)B?$")
  return n and tonumber(n) * UNITS[unit] or math.huge
end

function M.wider(new, old)
  local a, b = M.atoms(new), M.atoms(old)
  local extra, any = {}, false
  for k in pairs(a) do
    if b[k] == nil then
      local had = old and old.memory or "1G" -- the sandbox's default cap
      if not k:match("^memory:") or (had and bytes(new.memory) > bytes(had)) then extra[k], any = true, true end
    end
  end
  if not any then return {} end
  return words_of(a, extra)
end

return M
