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
