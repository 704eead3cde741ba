-- docs/lua-api.md documents every public function of every module under a
-- heading `### module.fn(args) -> results`, each with a ```lua example, and
-- every example at least compiles.
local sh = require "helpers.sh"

local DOC = assert(sh.slurp(sh.src .. "/docs/lua-api.md"))

-- Every part of the API, from the one list (NT3_BINDINGS in src/runtime.h
-- and nt3's Lua library modules): a new binding is checked here without
-- anyone editing this file.
local MODULES = require("nt3").parts

local FENCE = "^%s*```"

-- The document as sections: { level, head, body } where body is the text up
-- to the next heading of any level. A line starting with # inside a fenced
-- block (a shell comment, a shebang) is not a heading.
local function sections_of(doc)
  local list, current, in_fence = {}, nil, false
  for line in (doc .. "\n"):gmatch("([^\n]*)\n") do
    local hashes, head
    if line:match(FENCE) then
      in_fence = not in_fence
    elseif not in_fence then
      hashes, head = line:match("^(#+) +(.-)%s*$")
    end
    if head then
      current = { level = #hashes, head = head, lines = {} }
      list[#list + 1] = current
    elseif current then
      current.lines[#current.lines + 1] = line
    end
  end
  for _, s in ipairs(list) do s.body = table.concat(s.lines, "\n") end
  return list
end

-- Every ```lua block of text: { code, line }.
local function lua_blocks(text)
  local blocks, code, n = {}, nil, 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    if code then
      if line:match(FENCE .. "%s*$") then
        blocks[#blocks + 1] = { code = table.concat(code, "\n"), line = code.start }
        code = nil
      else
        code[#code + 1] = line
      end
    elseif line:match(FENCE .. "lua%s*$") then
      code = { start = n + 1 }
    end
  end
  return blocks
end

-- The function headings of one module: name -> section, from headings that
-- start with `short.name(`.
local function function_headings(sections, short)
  local found = {}
  for _, s in ipairs(sections) do
    local mod, name = s.head:match("^([%w_]+)%.([%a_][%w_]*)%(")
    if mod == short and not found[name] then found[name] = s end
  end
  return found
end

-- What is wrong with how doc documents module `short`, as a sorted list of
-- "<name> (<problem>)": a public function with no heading, no example, or a
-- heading without its results; a heading for a function that does not
-- exist; a public constant the text never names.
local function problems(doc, short)
  local mod = require("nt3." .. short)
  local headings = function_headings(sections_of(doc), short)
  local list = {}
  for k, v in pairs(mod) do
    if not k:match("^_") then
      if type(v) == "function" then
        local s = headings[k]
        if not s then
          list[#list + 1] = k .. " (no heading)"
        else
          if not s.head:find(" -> ", 1, true) then list[#list + 1] = k .. " (heading without -> results)" end
          if #lua_blocks(s.body) == 0 then list[#list + 1] = k .. " (no example)" end
        end
      elseif not doc:find("`" .. short .. "." .. k, 1, true) then
        list[#list + 1] = k .. " (not mentioned)"
      end
    end
  end
  for name in pairs(headings) do
    if type(mod[name]) ~= "function" then list[#list + 1] = name .. " (documented, but not a function)" end
  end
  table.sort(list)
  return list
end

-- Every ```lua block that does not compile, as "line <n>: <error>".
local function broken_examples(doc)
  local list = {}
  for _, b in ipairs(lua_blocks(doc)) do
    local ok, err = load(b.code, "=doc", "t")
    if not ok then list[#list + 1] = ("line %d: %s"):format(b.line, err) end
  end
  return list
end

-- doc with the first occurrence of `old` replaced by `new` (plain text).
local function edited(doc, old, new)
  local at = assert(doc:find(old, 1, true), "not in the document: " .. old)
  return doc:sub(1, at - 1) .. new .. doc:sub(at + #old)
end

describe("docs/lua-api.md", function()
  it("checks every part of the API: each C binding, policy included, and the Lua modules", function()
    local checked = {}
    for _, short in ipairs(MODULES) do checked[short] = true end
    local bindings = require("nt3.embedded").bindings
    assert.is_true(#bindings >= 5, "only " .. #bindings .. " bindings")
    local missing = {}
    for _, short in ipairs(bindings) do
      if not checked[short] then missing[#missing + 1] = short end
    end
    for _, short in ipairs { "policy", "api", "cli", "config", "json" } do
      if not checked[short] then missing[#missing + 1] = short end
    end
    assert.are.same({}, missing)
  end)

  it("quotes nt3.parts as the binary has it", function()
    local quoted = assert(DOC:match("`nt3%.parts` is the sorted list of the names of every part: `(%b{})`"),
      "nt3.parts is not quoted")
    local names = {}
    for name in quoted:gmatch('"([%w_]+)"') do names[#names + 1] = name end
    assert.are.same(MODULES, names)
  end)

  for _, short in ipairs(MODULES) do
    it("documents every public function of nt3." .. short .. " under its own heading, with an example", function()
      assert.are.same({}, problems(DOC, short))
    end)
  end

  it("has examples that all compile as Lua", function()
    assert.is_true(#lua_blocks(DOC) >= 50)
    assert.are.same({}, broken_examples(DOC))
  end)

  it("lists every module in its table of contents and gives each a section", function()
    local sections = sections_of(DOC)
    local contents, heads = nil, {}
    for _, s in ipairs(sections) do
      if s.level == 2 and s.head == "Contents" then contents = s.body end
      heads[#heads + 1] = ("%d %s"):format(s.level, s.head)
    end
    assert.is_string(contents)
    local missing = {}
    for _, short in ipairs(MODULES) do
      if not contents:find("[nt3." .. short .. "](#nt3" .. short .. ")", 1, true) then
        missing[#missing + 1] = "nt3." .. short .. " (not in the contents)"
      end
      local found = false
      for _, h in ipairs(heads) do found = found or h == "2 nt3." .. short end
      if not found then missing[#missing + 1] = "nt3." .. short .. " (no ## section)" end
    end
    assert.are.same({}, missing)
  end)

  it("speaks to users only: no sections for maintainers or spec writers", function()
    for _, s in ipairs(sections_of(DOC)) do
      local head = s.head:lower()
      assert.is_nil(head:find("maintainer", 1, true), s.head)
      assert.is_nil(head:find("spec writer", 1, true), s.head)
    end
  end)

  describe("the check itself", function()
    local mask_example = '```lua\nprint(config.mask("entri_abcdefghijklmnop"))'

    it("fails when a function loses its example", function()
      local doc = edited(DOC, mask_example, "```text\nprint(config.mask(\"entri_abcdefghijklmnop\"))")
      assert.are.same({ "mask (no example)" }, problems(doc, "config"))
    end)

    it("fails when a function loses its heading", function()
      local doc = edited(DOC, "### config.mask(token) -> string", "### Masking tokens")
      assert.are.same({ "mask (no heading)" }, problems(doc, "config"))
    end)

    it("fails when a heading does not give the results", function()
      local doc = edited(DOC, "### api.url(path) -> url | nil, message, kind", "### api.url(path)")
      assert.are.same({ "url (heading without -> results)" }, problems(doc, "api"))
    end)

    it("counts a replaceable function field (api.on_warning) as a public function", function()
      local doc = edited(DOC, "### api.on_warning(message) -> nothing", "### Warnings")
      assert.are.same({ "on_warning (no heading)" }, problems(doc, "api"))
    end)

    it("fails when a constant is not mentioned", function()
      local doc = DOC:gsub("`policy%.TOKEN_PREFIX", "`TOKEN_PREFIX")
      assert.are.same({ "TOKEN_PREFIX (not mentioned)" }, problems(doc, "policy"))
    end)

    it("fails when a heading names a function the module does not have", function()
      local doc = edited(DOC, "### json.null\n", "### json.null\n\n### json.nil() -> nothing\n```lua\nprint(1)\n```\n")
      assert.are.same({ "nil (documented, but not a function)" }, problems(doc, "json"))
    end)

    it("does not take an example from the next section", function()
      -- the example of fs.lstat must not count for fs.stat
      local stat_head = "### fs.stat(path) -> info | nil, message, errno"
      local at = assert(DOC:find(stat_head, 1, true))
      local next_head = assert(DOC:find("\n### ", at + 1, true))
      local doc = DOC:sub(1, at + #stat_head) .. "No example.\n" .. DOC:sub(next_head)
      assert.are.same({ "stat (no example)" }, problems(doc, "fs"))
    end)

    it("fails when an example does not compile", function()
      local doc = edited(DOC, mask_example, "```lua\nif then\n")
      local broken = broken_examples(doc)
      assert.are.equal(1, #broken)
      assert.matches("^line %d+: doc:1: ", broken[1])
    end)
  end)
end)

-- docs/types/nt3.lua against docs/lua-api.md: each documented function is
-- declared with the heading's parameters (same names, same order, `?`
-- where the heading brackets one), `---@return never` where the heading says
-- "does not return", and as many ---@return lines as the longest
-- alternative of the heading's results, so the two cannot drift apart.
-- lua-language-server checks code against the types (README.md, "Editor
-- support"); this checks the types against the document.
local TYPES = assert(sh.slurp(sh.src .. "/docs/types/nt3.lua"))

-- "path [, params [, opts]]" -> { "path", "params?", "opts?" }
local function heading_params(args)
  local list, depth = {}, 0
  for piece in (args .. ","):gmatch("([^,]*),") do
    local at = piece:find("[%w_]") or piece:find("...", 1, true)
    if at then
      local before, after = piece:sub(1, at - 1), piece:sub(at)
      depth = depth + select(2, before:gsub("%[", ""))
      list[#list + 1] = (after:match("^[%w_]+") or "...") .. (depth > 0 and "?" or "")
      depth = depth + select(2, after:gsub("%[", "")) - select(2, piece:gsub("%]", ""))
    end
  end
  return list
end

-- "value, response | nil, message, failure[, response]" -> 4; "does not
-- return" -> "never"; "nothing" -> 0; nil when the results are words
-- ("the task's results") rather than a list of names
local function heading_results(res)
  if res == "does not return" then return "never" end
  if res == "nothing" then return 0 end
  res = res:gsub("%b{}", "t"):gsub("%[", ""):gsub("%]", "")
  local most = 0
  for alt in (res .. " | "):gmatch("(.-) | ") do
    for item in (alt .. ","):gmatch("%s*(.-)%s*,") do
      if not item:match("^[%w_]+$") and not item:match('^"[^"]*"$') then return nil end
    end
    most = math.max(most, select(2, alt:gsub(",", "")) + 1)
  end
  return most
end

-- The declaration of short.name in types: its parameters as
-- heading_params gives them, and its ---@return types; nil when none.
local function declared(types, short, name)
  local lines = {}
  for line in types:gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
  local head = "function " .. short .. "." .. name .. "("
  for i, line in ipairs(lines) do
    if line:sub(1, #head) == head then
      local optional, returns, j = {}, {}, i - 1
      while j > 0 and lines[j]:sub(1, 3) == "---" do
        local p, q = lines[j]:match("^%-%-%-@param ([%w_.]+)(%??)")
        if p then optional[p] = q == "?" end
        local r = lines[j]:match("^%-%-%-@return (%S+)")
        if r then table.insert(returns, 1, r) end
        j = j - 1
      end
      local params = {}
      for p in line:match("%(([^)]*)%)"):gmatch("[%w_.]+") do params[#params + 1] = p .. (optional[p] and "?" or "") end
      return params, returns
    end
  end
end

-- Every disagreement of types with doc, as "<module.fn>: <what>", and how
-- many headings had their results compared.
local function drift(doc, types)
  local list, compared = {}, 0
  for _, short in ipairs(MODULES) do
    for _, s in ipairs(sections_of(doc)) do
      local name, args, res = s.head:match("^" .. short .. "%.([%w_]+)(%b()) %-> (.-)%s*$")
      if name then
        local where = short .. "." .. name
        local params, returns = declared(types, short, name)
        local want = table.concat(heading_params(args:sub(2, -2)), ", ")
        if not params then
          list[#list + 1] = where .. ": not declared"
        else
          local got = table.concat(params, ", ")
          if got ~= want then list[#list + 1] = ("%s: parameters (%s), documented (%s)"):format(where, got, want) end
          local n = heading_results(res)
          if n == "never" then
            if #returns ~= 1 or returns[1] ~= "never" then list[#list + 1] = where .. ": not ---@return never" end
          elseif n == 0 then
            if #returns > 1 or (returns[1] and returns[1] ~= "nil") then list[#list + 1] = where .. ": returns something" end
          elseif n then
            compared = compared + 1
            if #returns ~= n then list[#list + 1] = ("%s: %d results, documented %d"):format(where, #returns, n) end
          end
        end
      end
    end
  end
  table.sort(list)
  return list, compared
end

describe("docs/types/nt3.lua against docs/lua-api.md", function()
  it("declares every documented function with its parameters, in order, optional ones marked, and its results", function()
    local list, compared = drift(DOC, TYPES)
    assert.are.same({}, list)
    assert.is_true(compared >= 60, "only " .. compared .. " results compared")
  end)

  describe("the check itself", function()
    local function only(doc, types) return (drift(doc, types)) end

    it("fails when a parameter is renamed, moved or made optional on one side only", function()
      assert.are.same({ "api.get: parameters (path, query, opts?), documented (path, params?, opts?)" },
        only(DOC, edited(TYPES, "function api.get(path, params, opts)", "function api.get(path, query, opts)")))
      assert.are.same({ "api.url: parameters (path?), documented (path)" },
        only(DOC, edited(TYPES, "---@param path string\n---@return string|nil url",
          "---@param path? string\n---@return string|nil url")))
      assert.are.same({ "cli.fail: parameters (message, code?), documented (message, code)" },
        only(edited(DOC, "### cli.fail(message [, code])", "### cli.fail(message, code)"), TYPES))
    end)

    it("fails when a never-returning function loses ---@return never", function()
      assert.are.same({ "cli.usage_error: not ---@return never" },
        only(DOC, edited(TYPES, "---@return never\nfunction cli.usage_error(", "function cli.usage_error(")))
    end)

    it("fails when the results are not as many as the heading gives", function()
      assert.are.same({ "api.url: 2 results, documented 3" },
        only(DOC, edited(TYPES, '---@return ("not_logged_in"|"invalid")? kind\nfunction api.url(', "function api.url(")))
    end)
  end)
end)

-- Citations of the design document. Comments cite docs/architecture.md by
-- section (`docs/architecture.md, "The request engine"`, several in a row
-- allowed) or by invariant (`docs/architecture.md, invariant 8`,
-- `invariants 1, 2, 4`); the design notes that came before it are not in
-- the repository, so no file may cite them.
local fs = require "nt3.fs"

local ARCH = "docs/architecture.md"
-- spelt in two pieces so that this file does not cite them itself
local GONE = { "DESIGN" .. "%.md", "STYLE" .. "%.md" }
local SCANNED = { "lua", "src", "bindings", "tests", "docs", "README.md" }

-- Every regular file under the scanned places, as paths relative to the
-- source tree, skipping Python's byte-code caches.
local function scanned_files()
  local list = {}
  local function walk(rel)
    local info = assert(fs.lstat(sh.src .. "/" .. rel))
    if info.type == "file" then
      list[#list + 1] = rel
    elseif info.type == "directory" then
      for _, name in ipairs(assert(fs.dir(sh.src .. "/" .. rel))) do
        if name ~= "__pycache__" then walk(rel .. "/" .. name) end
      end
    end
  end
  for _, top in ipairs(SCANNED) do walk(top) end
  return list
end

-- The headings of the design document, and the numbers of its invariants
-- (the numbered list of its "Invariants" section).
local function design_of(doc)
  local heads, invariants = {}, {}
  for _, s in ipairs(sections_of(doc)) do
    heads[s.head] = true
    if s.head == "Invariants" then
      for n in (s.body .. "\n"):gmatch("\n(%d+)%. ") do invariants[tonumber(n)] = true end
    end
  end
  return heads, invariants
end

-- What is wrong with the citations in one file's text, as a list of
-- "<where>: <problem>": a citation of the notes that are gone, a section
-- the design document does not have, an invariant it does not number.
-- Also returns how many citations of the design document it found.
local function citation_problems(where, text, heads, invariants)
  local list, found = {}, 0
  for _, gone in ipairs(GONE) do
    if text:find(gone) then list[#list + 1] = where .. ": cites " .. gone:gsub("%%", "") end
  end
  local at = 1
  while true do
    local s, e = text:find(ARCH, at, true)
    if not s then break end
    at = e + 1
    local rest = text:sub(at)
    local cited = false
    local pos = 1
    while true do
      local _, send, head = rest:find('^,%s*"([^"]+)"', pos)
      if not head then break end
      cited = true
      if not heads[head] then list[#list + 1] = ('%s: no section "%s" in %s'):format(where, head, ARCH) end
      pos = send + 1
    end
    local numbers = rest:match("^,%s*invariants?%s+([%d, and]+)")
    if numbers then
      cited = true
      for n in numbers:gmatch("%d+") do
        if not invariants[tonumber(n)] then list[#list + 1] = ("%s: no invariant %s in %s"):format(where, n, ARCH) end
      end
    end
    if cited then found = found + 1 end
  end
  return list, found
end

describe("docs/architecture.md", function()
  local DESIGN_DOC = assert(sh.slurp(sh.src .. "/" .. ARCH))
  local heads, invariants = design_of(DESIGN_DOC)

  it("numbers the invariants 1 to 9 and has every section the code cites by name", function()
    local numbers = {}
    for n in pairs(invariants) do numbers[#numbers + 1] = n end
    table.sort(numbers)
    assert.are.same({ 1, 2, 3, 4, 5, 6, 7, 8, 9 }, numbers)
    for _, head in ipairs { "The credential store", "Profiles and credential sources", "Rate limits", "Invariants",
      "The request engine", "Talking to the API", "Performance budget", "One home for each rule" } do
      assert.is_true(heads[head] == true, head)
    end
  end)

  it("is what every file in lua/ src/ bindings/ tests/ docs/ and the README cites, by a section or an invariant it has",
    function()
      local wrong, cited, files = {}, 0, scanned_files()
      assert.is_true(#files >= 100, "only " .. #files .. " files")
      for _, rel in ipairs(files) do
        local text = assert(sh.slurp(sh.src .. "/" .. rel))
        local list, found = citation_problems(rel, text, heads, invariants)
        for _, p in ipairs(list) do wrong[#wrong + 1] = p end
        cited = cited + found
      end
      assert.are.same({}, wrong)
      assert.is_true(cited >= 20, "only " .. cited .. " citations found")
    end)

  describe("the check itself", function()
    -- the planted citations are put together here, or the scan above would
    -- find them in this file
    local function check(...) return (citation_problems("x.c", table.concat { ... }, heads, invariants)) end

    it("accepts sections in a row and invariants by number", function()
      assert.are.same({}, check("(", ARCH, ', "The credential store", "Profiles and credential sources")'))
      assert.are.same({}, check("(", ARCH, ", invariants 1, 2, 4) and (", ARCH, ", invariant 9)"))
    end)

    it("fails on a section or an invariant the document does not have", function()
      assert.are.same({ 'x.c: no section "Rate limit" in docs/architecture.md' },
        check("-- waits (", ARCH, ', "Rate limits", "Rate limit")'))
      assert.are.same({ "x.c: no invariant 10 in docs/architecture.md" }, check("(", ARCH, ", invariants 8 and 10)"))
    end)

    it("fails on a citation of the notes that are not in the repository", function()
      assert.are.same({ "x.c: cites " .. "DESIGN" .. ".md" }, check("/* (", "DESIGN", ".md, invariant 8) */"))
      assert.are.same({ "x.c: cites " .. "STYLE" .. ".md" }, check("-- as ", "STYLE", ".md says"))
    end)
  end)
end)
