-- nt3.json against what JSON is (Python's json and jq as the measure): no
-- number JSON does not have, pretty-printing that says why it refuses, and
-- an instance of lua-cjson that a script's settings never reach.
local sh = require "helpers.sh"
local json = require "nt3.json"
local text = require "nt3.json.text"

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
