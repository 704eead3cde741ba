-- nt3.json against what JSON is (Python's json and jq as the measure): no
-- number JSON does not have, pretty-printing that says why it refuses, and
-- an instance of lua-cjson that a script's settings never reach.
local sh = require "helpers.sh"
local json = require "nt3.json"
local text = require "nt3.json.text"
-- nt3.json as it was in Lua, before the C core: what the C core must match
local legacy = dofile((os.getenv("NT3_SOURCE_DIR") or ".") .. "/tests/helpers/json_legacy.lua")

-- Deterministic documents of every kind nt3.json meets: nested tables,
-- string, integer and float keys, every byte in strings, floats at the
-- edges, json.null, empty and marked arrays.
local function generator(seed)
  local state = seed
  local function rand(n) -- 1..n, a linear congruential generator (no math.random: its seed is global)
    state = (state * 1103515245 + 12345) % 2147483648
    return state % n + 1
  end
  local floats = { 0.1, 1.5, -2.5e-8, 6.02e23, 1e300, -0.0, 2 ^ 53, 2 ^ 63, 1 / 3, 123456.789, 5e-324 }
  local ints = { 0, 1, -1, 42, 2 ^ 53 // 1, math.maxinteger, math.mininteger, 1234567890123456 }
  local function str()
    local t = {}
    for i = 1, rand(12) - 1 do
      local r = rand(10)
      t[i] = r <= 2 and string.char(rand(256) - 1) or r == 3 and "é" or r == 4 and "/" or r == 5 and "\\" or
        string.char(96 + rand(26))
    end
    return table.concat(t)
  end
  local function value(depth)
    local r = rand(depth > 4 and 7 or 11)
    if r == 1 then return str() elseif r == 2 then return ints[rand(#ints)]
    elseif r == 3 then return floats[rand(#floats)] elseif r == 4 then return rand(2) == 1
    elseif r == 5 then return json.null elseif r == 6 then return rand(1000) - 500
    elseif r == 7 then return rand(2) == 1 and {} or json.array()
    elseif r <= 9 then
      local t = rand(3) == 1 and json.array() or {}
      for i = 1, rand(6) do t[i] = value(depth + 1) end
      return t
    end
    local t = {}
    for _ = 1, rand(6) do
      local k = rand(5)
      k = k == 1 and rand(20) or k == 2 and rand(9) + 0.5 or str()
      t[k] = value(depth + 1)
    end
    return t
  end
  return function() return value(1) end
end

-- Equal as nt3.json gives them: same types, integer or float, json.array or not.
local function same(a, b)
  if type(a) ~= type(b) or math.type(a) ~= math.type(b) then return false end
  if type(a) ~= "table" then return a == b or (a ~= a and b ~= b) end
  if getmetatable(a) ~= getmetatable(b) then return false end
  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

describe("json.encode and json.pretty in C", function()
  it("write what the Lua encoder wrote, byte for byte, for a thousand generated documents", function()
    local next_value = generator(13)
    for i = 1, 1000 do
      local v = next_value()
      assert.are.same({ legacy.encode(v) }, { json.encode(v) }, "document " .. i)
      assert.are.same({ legacy.pretty(v) }, { json.pretty(v) }, "document " .. i)
    end
  end)

  it("escape every byte as the Lua encoder did, and leave / alone", function()
    for b = 0, 255 do
      assert.are.equal(legacy.encode(string.char(b)), json.encode(string.char(b)), "byte " .. b)
    end
    assert.are.equal('"https://example.com/a\\\\/b"', json.encode("https://example.com/a\\/b"))
  end)

  it("refuse what JSON cannot say, with the messages they had", function()
    local t = {}
    t[1] = t
    local deep = json.array()
    for _ = 1, 999 do deep = { deep } end
    for _, v in ipairs { 0 / 0, 1 / 0, -1 / 0, { x = 1 / 0 }, print, io.stdout, { [true] = 1 },
      { [1] = 1, ["1"] = 2 }, { x = { [{}] = 1 } }, t, { deep } } do
      local got, err = json.encode(v)
      assert.is_nil(got)
      assert.are.same({ legacy.encode(v) }, { got, err })
    end
    assert.are.equal(1000, #json.encode(deep):match("^%[*"))
    assert.are.equal("cannot encode: nested more than 1000 levels deep", select(2, json.encode({ deep })))
  end)

  it("judge the raw table: no __pairs, __index or __len of the caller's is run", function()
    local called = {}
    local mt = {
      __pairs = function() called[#called + 1] = "__pairs" error("ran __pairs") end,
      __index = function() called[#called + 1] = "__index" error("ran __index") end,
      __len = function() called[#called + 1] = "__len" error("ran __len") end,
    }
    assert.are.equal('{"a":1}', json.encode(setmetatable({ a = 1 }, mt)))
    assert.are.equal("[1,2]", json.encode(setmetatable({ 1, 2 }, mt)))
    assert.are.equal("{}", json.encode(setmetatable({}, mt)))
    assert.are.equal('{"x":[3]}', json.encode { x = setmetatable({ 3 }, mt) })
    assert.are.same({}, called)
  end)

  it("take an array only for the keys 1..n, whatever the length operator says", function()
    local t = { 1, 2, 3 }
    t[5], t.x = 5, "x" -- a border of 3 or 5; not a list either way
    assert.are.equal('{"1":1,"2":2,"3":3,"5":5,"x":"x"}', json.encode(t))
    assert.are.equal('[1,null,3]', json.encode(json.array { 1, nil, 3 }))
  end)
end)

describe("json.decode in C", function()
  it("gives what the Lua decoder gave for a thousand generated documents", function()
    local next_value = generator(7)
    for i = 1, 1000 do
      local doc = assert(legacy.encode(next_value()))
      if not doc:find("\\u0000", 1, true) then -- the Lua decoder marked no [] then (see below)
        local a, b = legacy.decode(doc), json.decode(doc)
        assert.is_true(same(a, b), "document " .. i .. ": " .. doc)
      end
    end
  end)

  it("words every refusal as it did, for texts cut short or with a byte changed", function()
    local next_value = generator(11)
    local state = 5
    for i = 1, 500 do
      local doc = assert(legacy.encode(next_value()))
      state = (state * 16807) % 2147483647
      local at = state % (#doc + 1)
      local cut = doc:sub(1, at)
      local flipped = doc:sub(1, at - 1) .. string.char(state % 256) .. doc:sub(at + 1)
      for _, input in ipairs { cut, flipped } do
        if not input:find("\\u0000", 1, true) then
          local a, aerr = legacy.decode(input)
          local b, berr = json.decode(input)
          assert.are.equal(aerr, berr, "text " .. i .. ": " .. input)
          if aerr == nil then assert.is_true(same(a, b), "text " .. i .. ": " .. input) end
        end
      end
    end
  end)

  it("gives what the Lua decoder gave for arrays and objects of 0 to 40 members, a repeated key's last value winning",
    function()
    -- the C decoder makes a table at its size once the first 16 members
    -- are read, and sets the rest one by one: both sides of that boundary
    for n = 0, 40 do
      local items, members = {}, {}
      for i = 1, n do
        items[i] = ('{"id":%d,"tags":[%d,"t"]}'):format(i, i)
        members[i] = ('"k%d":%d'):format(i % 7 == 0 and 1 or i, i) -- k1 again every 7th
      end
      for _, doc in ipairs { "[" .. table.concat(items, ",") .. "]", "{" .. table.concat(members, ",") .. "}" } do
        local a, b = legacy.decode(doc), json.decode(doc)
        assert.is_true(same(a, b), doc)
      end
    end
    local o = json.decode('{"a":1,"b":2,"a":3}')
    assert.are.equal(3, o.a)
    assert.is_table(json.decode(('{"a":'):rep(999) .. "1" .. ("}"):rep(999)))
  end)

  it("gives each key its own bytes when keys come back, in the same text and the next ones (the key cache)", function()
    -- src/json.c keeps short keys made in a cache of 64 slots that lasts
    -- from one decode to the next: keys of one length and first, middle
    -- and last bytes share a slot, a key past 40 bytes or with an escape
    -- is never cached, and a collection between texts must not lose one.
    local keys = { "", "a", "b", "ab", "ba", "aab", "abb", "id", "name", "nAme", "naMe", "x\\ny", "\\u00e9t\\u00e9",
      "\\\"q", ("k"):rep(40), ("k"):rep(41), ("long"):rep(20), "k1", "k2", "k10", "k01", "é", "日本" }
    for i = 1, 90 do keys[#keys + 1] = ("key%d_%s"):format(i, ("x"):rep(i % 7)) end
    local state = 3
    for round = 1, 300 do
      local members = {}
      for m = 1, round % 23 + 1 do
        state = (state * 16807) % 2147483647
        members[m] = ('"%s":%d'):format(keys[state % #keys + 1], m)
      end
      local doc = "[{" .. table.concat(members, ",") .. "},{" .. table.concat(members, ",", 1, #members // 2) .. "}]"
      assert.is_true(same(legacy.decode(doc), json.decode(doc)), doc)
      if round % 50 == 0 then collectgarbage() end
    end
  end)

  it("marks [] as json.array even where the text holds \\u0000 (the Lua decoder did not)", function()
    local v = assert(json.decode('{"a":[],"b":"\\u0000"}'))
    assert.are.equal(json.array_mt, getmetatable(v.a))
    assert.are.equal("\0", v.b)
  end)

  it("bounds nesting at 1000, with cjson's message past it", function()
    assert.is_table(json.decode(("["):rep(1000) .. ("]"):rep(1000)))
    assert.are.same({ nil, "Found too many nested data structures (1001) at character 1001" },
      { json.decode(("["):rep(1001) .. ("]"):rep(1001)) })
  end)

  it("reads numbers as lua-cjson does: whole ones within 2^53 as integers, 1e400 as inf", function()
    local v = assert(json.decode("[1.0, 1e2, -0, 9007199254740992, 1e16, 12345678901234567890, 1e400, -.5]"))
    assert.are.same({ "integer", "integer", "integer", "integer", "float", "float", "float", "float" },
      { math.type(v[1]), math.type(v[2]), math.type(v[3]), math.type(v[4]), math.type(v[5]), math.type(v[6]),
        math.type(v[7]), math.type(v[8]) })
    assert.are.same({ 1, 100, 0, 2 ^ 53 // 1, 1e16, 1.2345678901234567e19, math.huge, -0.5 },
      { v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8] })
    for _, input in ipairs { "01", "-01", "+1", ".5", "1e", "[1,]", '{"a":1,}', "", " ", "[", '"\\ud800"', '"\\x"' } do
      assert.are.same({ legacy.decode(input) }, { json.decode(input) }, input)
      assert.is_nil((json.decode(input)), input)
    end
  end)
end)

describe("json.decode", function()
  it("refuses hexadecimal numbers, Infinity and NaN, as nil, message", function()
    for _, input in ipairs { "0x10", "[0x10]", "Infinity", "-Infinity", "NaN", '{"a": NaN}', "[inf]", "-nan" } do
      local value, err = json.decode(input)
      assert.is_nil(value, input)
      assert.is_string(err, input)
    end
  end)

  it("names the position in the text as given, an empty array before it", function()
    assert.are.same({ nil, "Expected value but found T_ARR_END at character 5" }, { json.decode("[[],]") })
    assert.are.same({ nil, "Expected the end but found T_ARR_END at character 3" }, { json.decode("[]]") })
  end)

  it("still reads every number JSON has", function()
    local v = assert(json.decode("[0, -0, 16, 1.5, -2e3, 1E-2]"))
    assert.are.same({ 0, 0, 16, 1.5, -2000, 0.01 }, { v[1], v[2], v[3], v[4], v[5], v[6] })
  end)
end)

describe("json.text.pretty", function()
  it("returns nil, message for text that is not one JSON value, never raising", function()
    for _, input in ipairs { 'a1"1\\', "[1 2]", '{"a":}', "{,}", "[:]", "tru", "x", ":", "[}", '{"a":1,}', "0x10", "" } do
      local ok, out, err = pcall(text.pretty, input)
      assert.is_true(ok, input)
      assert.is_nil(out, input)
      assert.is_string(err, input)
    end
  end)

  it("still indents a JSON value, its text kept byte for byte", function()
    assert.are.equal('{\n  "b": 1.50,\n  "a": [\n    "\\u00e9"\n  ]\n}', text.pretty('{"b":1.50,"a":["\\u00e9"]}'))
  end)
end)

describe("nt3.json's lua-cjson", function()
  it("is not the one a script configures through require 'cjson' or 'cjson.safe'", function()
    local dir = sh.tmpdir()
    local out = sh.run({ "run", sh.script([==[
for _, name in ipairs { "cjson", "cjson.safe" } do
  local c = require(name)
  c.decode_max_depth(2)
  c.decode_invalid_numbers(true)
end
local json = require "nt3.json"
print(json.decode("[[[[1]]]]")[1][1][1][1], json.decode("0x10"), (require("cjson.safe").decode("[[[1]]]")))
]==]) }, { home = dir, cwd = dir })
    assert.are.equal("", out.stderr)
    assert.are.equal(0, out.code)
    assert.are.equal("1\tnil\tnil\n", out.stdout)
  end)
end)

teardown(sh.cleanup)
