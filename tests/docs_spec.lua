-- docs/lua-api.md documents every public function of every module, each
-- under its own heading and followed by an example.
local sh = require "helpers.sh"

local doc = assert(sh.slurp(sh.src .. "/docs/lua-api.md"))

-- the sections: heading -> text up to the next heading of any level
local sections = {}
do
  local heads = {}
  for start, head in doc:gmatch("()\n#+ ([^\n]+)") do heads[#heads + 1] = { start, head } end
  for i, h in ipairs(heads) do
    local stop = heads[i + 1] and heads[i + 1][1] or #doc
    sections[#sections + 1] = { head = h[2], body = doc:sub(h[1], stop) }
  end
end

local modules = {
  fs = "nt3.fs", prompt = "nt3.prompt", env = "nt3.env", http = "nt3.http", json = "nt3.json",
  config = "nt3.config", api = "nt3.api", cli = "nt3.cli",
}

local function documented(short, fname)
  -- a heading naming `short.fname(` (possibly among others: "api.post/put/patch")
  for _, s in ipairs(sections) do
    local h = s.head:gsub("`", "")
    if h:find(short .. "." .. fname .. "(", 1, true)
      or h:find(short .. "." .. fname .. " ", 1, true)
      or h:find("[/·,] *" .. short .. "%." .. fname .. "[%s(]")
      or h:find("[/·,] *" .. fname .. "[/(%s]") and h:find(short .. ".", 1, true) then
      return s
    end
  end
end

describe("docs/lua-api.md", function()
  for short, name in pairs(modules) do
    it("documents every public function of " .. name .. " with an example", function()
      local mod = require(name)
      local missing = {}
      for k, v in pairs(mod) do
        if type(v) == "function" and not k:match("^_") then
          local s = documented(short, k)
          if not s then
            missing[#missing + 1] = k .. " (no heading)"
          elseif not s.body:find("```lua", 1, true) then
            -- the example may sit in a shared section right above (a family of functions)
            missing[#missing + 1] = k .. " (no example)"
          end
        end
      end
      table.sort(missing)
      assert.are.same({}, missing)
    end)
  end
end)
