-- The command framework: flag parsing, validation, help, dispatch.
local cli = require "nt3.cli"
local sh = require "helpers.sh"

local login_like = {
  name = "demo", summary = "A demo command",
  flags = {
    { short = "t", long = "token", value = "token", help = "API token" },
    { short = "u", long = "api-url", value = "url", help = "Custom API URL" },
    { short = "l", long = "local", help = "Save locally" },
    { short = "v", long = "verbose", help = "Say more" },
    { short = "H", long = "header", value = "line", multiple = true, help = "A header" },
  },
  args = { "path?" },
  run = function() return 0 end,
}

describe("flag parsing", function()
  it("reads -t VALUE, --token VALUE and --token=VALUE alike", function()
    for _, argv in ipairs({ { "-t", "abc" }, { "--token", "abc" }, { "--token=abc" }, { "-tabc" } }) do
      local opts = cli.parse(login_like, argv)
      assert.are.equal("abc", opts.token)
    end
  end)

  it("keys options by long name with - turned into _", function()
    local opts = cli.parse(login_like, { "--api-url", "https://x.example" })
    assert.are.equal("https://x.example", opts.api_url)
  end)

  it("combines boolean short flags, and a value flag may end the group", function()
    local opts = cli.parse(login_like, { "-lvt", "tok" })
    assert.is_true(opts["local"])
    assert.is_true(opts.verbose)
    assert.are.equal("tok", opts.token)
  end)

  it("collects a repeated flag declared multiple", function()
    local opts = cli.parse(login_like, { "-H", "a: 1", "--header=b: 2" })
    assert.are.same({ "a: 1", "b: 2" }, opts.header)
  end)

  it("treats everything after -- as arguments", function()
    local opts, args = cli.parse(login_like, { "--", "-t" })
    assert.is_nil(opts.token)
    assert.are.same({ "-t" }, args)
  end)

  it("keeps a value that starts with a dash", function()
    local opts = cli.parse(login_like, { "-t", "-abc" })
    assert.are.equal("-abc", opts.token)
  end)

  it("rejects an unknown flag, a missing value and a value given to a boolean", function()
    local cases = {
      { { "--bogus" }, "unknown flag: --bogus" },
      { { "-x" }, "unknown shorthand flag: 'x' in -x" },
      { { "--token" }, "flag needs an argument: --token" },
      { { "-t" }, "flag needs an argument: 't' in -t" },
      { { "--local=yes" }, "flag --local does not take a value" },
      { { "a", "b" }, "unexpected argument: b" },
    }
    for _, c in ipairs(cases) do
      local opts, err = cli.parse(login_like, c[1])
      assert.is_nil(opts)
      assert.are.equal(c[2], err)
    end
  end)

  it("requires the arguments a command declares", function()
    local cmd = { name = "x", summary = "x", args = { "file", "rest..." }, run = function() end }
    local opts, err = cli.parse(cmd, {})
    assert.is_nil(opts)
    assert.are.equal("missing argument: file", err)
    local _, args = cli.parse(cmd, { "a", "b", "c" })
    assert.are.same({ "a", "b", "c" }, args)
  end)

  it("recognises -h and --help everywhere", function()
    assert.is_true(cli.parse(login_like, { "--help" }).help)
    assert.is_true(cli.parse(login_like, { "-lh" }).help)
  end)
end)

describe("a caller's mistake", function()
  it("raises in Lua's own words, blamed on the caller's line", function()
    -- (not tail calls: a tail call leaves no caller's line to blame)
    local cases = {
      { function() local r = cli.parse(nil, {}); return r end, "bad argument #1 to 'parse' (table expected, got nil)" },
      { function() local r = cli.parse(login_like, "-t"); return r end, "bad argument #2 to 'parse' (table expected, got string)" },
      { function() local r = cli.find(42); return r end, "bad argument #1 to 'find' (string expected, got number)" },
      { function() local r = cli.usage("demo"); return r end, "bad argument #1 to 'usage' (table expected, got string)" },
      { function() local r = cli.run_command(login_like, {}, 7); return r end,
        "bad argument #3 to 'run_command' (string expected, got number)" },
      { function() local r = cli.main(); return r end, "bad argument #1 to 'main' (table expected, got nil)" },
      { function() local r = cli.trusted("/", "dir"); return r end, "bad argument #2 to 'trusted' (invalid option 'dir')" },
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(c[1])
      assert.is_false(ok)
      assert.matches("cli_spec.lua:%d+: " .. c[2]:gsub("%p", "%%%0") .. "$", err)
    end
  end)
end)

describe("command validation", function()
  it("accepts a well-formed command", function()
    assert.are.equal(login_like, cli.validate(login_like, "demo.lua"))
  end)

  it("names the source and the missing field", function()
    local cases = {
      { 42, "x.lua: a command must return a table, got number" },
      { { summary = "s", run = print }, "x.lua: field 'name' is missing" },
      { { name = "n", run = print }, "x.lua: field 'summary' is missing" },
      { { name = "n", summary = "s" }, "x.lua: field 'run' is missing or not a function" },
      { { name = "n", summary = "s", run = print, flags = { { short = "t" } } }, "x.lua: flags[1]: 'long'" },
      { { name = "n", summary = "s", run = print, flags = { { long = "help" } } }, "reserved" },
      { { name = "n", summary = "s", run = print, flags = { { long = "a", short = "a" }, { long = "b", short = "a" } } },
        "flag -a is declared twice" },
      { { name = "bad name", summary = "s", run = print }, "field 'name'" },
    }
    for _, c in ipairs(cases) do
      local ok, err = cli.validate(c[1], "x.lua")
      assert.is_nil(ok)
      assert.matches(c[2], err, 1, true)
    end
  end)
end)

describe("help text", function()
  it("shows every flag with its value and help, and the alias", function()
    local text = cli.usage(setmetatable({ aliases = { "dm" } }, { __index = login_like }))
    assert.matches("Usage: nt3 demo [options] [<path>]", text, 1, true)
    assert.matches("Alias: nt3 dm", text, 1, true)
    assert.matches("%-t, %-%-token <token>%s+API token", text)
    assert.matches("%-l, %-%-local%s+Save locally", text)
    assert.matches("%-h, %-%-help%s+Show help for demo", text)
  end)
end)

describe("the nt3 command line", function()
  it("prints the command list for bare nt3, nt3 help and nt3 --help", function()
    local bare = sh.run({})
    assert.are.equal(0, bare.code)
    assert.matches("Usage: nt3 <command> [options]", bare.stdout, 1, true)
    assert.matches("\n  run +Run a Lua script", bare.stdout)
    assert.are.equal(bare.stdout, sh.run({ "help" }).stdout)
    assert.are.equal(bare.stdout, sh.run({ "--help" }).stdout)
    assert.are.equal("", bare.stderr)
  end)

  it("prints the version", function()
    local r = sh.run({ "--version" })
    assert.are.equal(0, r.code)
    assert.matches("^nt3 version %d+%.%d+%.%d+\n$", r.stdout)
  end)

  it("shows one command's help for nt3 help <cmd> and nt3 <cmd> --help", function()
    local a = sh.run({ "help", "run" })
    local b = sh.run({ "run", "--help" })
    assert.are.equal(0, a.code)
    assert.are.equal(0, b.code)
    assert.matches("Usage: nt3 run [options] <file> [args...]", a.stdout, 1, true)
    assert.are.equal(a.stdout, b.stdout)
  end)

  it("suggests the nearest command for an unknown one and exits 2", function()
    local r = sh.run({ "hepl" })
    assert.are.equal(2, r.code)
    assert.are.equal('nt3: unknown command "hepl" (did you mean "help"?); run \'nt3 help\' for the list\n', r.stderr)
    assert.are.equal("", r.stdout)
  end)

  it("suggests the nearest command for nt3 help <unknown> too, exit 2", function()
    local r = sh.run({ "help", "stauts" })
    assert.are.equal(2, r.code)
    assert.are.equal('nt3: unknown command "stauts" (did you mean "status"?)\n', r.stderr)
  end)

  it("rejects an unknown flag with one line plus the command's usage, exit 2", function()
    local r = sh.run({ "help", "--bogus" })
    assert.are.equal(2, r.code)
    local first, rest = r.stderr:match("^([^\n]*)\n(.*)$")
    assert.are.equal("nt3: unknown flag: --bogus", first)
    assert.matches("Usage: nt3 help [options]", rest, 1, true)
  end)

  it("points gh users typing nt3 auth status (or auth login, auth logout) to the command they meant, exit 2", function()
    -- auth is login's alias, not a group of commands as in gh auth
    local home = sh.tmpdir()
    for _, sub in ipairs({ "status", "login", "logout" }) do
      local r = sh.run({ "auth", sub }, { home = home, cwd = home })
      assert.are.equal(2, r.code, sub)
      assert.are.equal(('nt3: unexpected argument: %s (did you mean "nt3 %s"?)'):format(sub, sub),
        r.stderr:match("^[^\n]*"))
    end
    assert.are.equal('nt3: unexpected argument: stuff', sh.run({ "status", "stuff" }).stderr:match("^[^\n]*"))
  end)

  it("rejects a flag before any command, exit 2", function()
    local r = sh.run({ "--bogus" })
    assert.are.equal(2, r.code)
    assert.matches("^nt3: unknown flag: %-%-bogus", r.stderr)
  end)
end)

describe("what nt3 prints that came from outside", function()
  teardown(sh.cleanup)

  -- stderr is exactly one line, with no control byte but its newline
  local function one_line(stderr)
    assert.are.equal(1, select(2, stderr:gsub("\n", "")), stderr)
    assert.falsy(stderr:sub(1, -2):find("[%c\127]"), stderr)
    assert.are.equal("\n", stderr:sub(-1))
  end

  it("echoes an unknown command as one line: a newline becomes a space, an escape a ?", function()
    local r = sh.run({ "a\nb" })
    assert.are.equal(2, r.code)
    one_line(r.stderr)
    assert.truthy(r.stderr:find('^nt3: unknown command "a b"'), r.stderr)
    r = sh.run({ "x\27[31mred\27]0;title\7" })
    one_line(r.stderr)
    assert.truthy(r.stderr:find('^nt3: unknown command "x%?%[31mred%?%]0;title%?"'), r.stderr)
    -- and C1 controls and bidi overrides, which terminals also obey
    r = sh.run({ "help", "x\194\155y\226\128\174z" })
    one_line(r.stderr)
    assert.truthy(r.stderr:find('^nt3: unknown command "x%?y%?z"'), r.stderr)
  end)

  it("echoes an unknown flag with a newline in it as one line, before the usage", function()
    local r = sh.run({ "login", "--tok\nen" })
    assert.are.equal(2, r.code)
    assert.are.equal("nt3: unknown flag: --tok en\n\n", r.stderr:match("^[^\n]*\n\n"))
    assert.truthy(r.stderr:find("Usage: nt3 login", 1, true), r.stderr)
    r = sh.run({ "--x\ny" })
    one_line(r.stderr)
    assert.truthy(r.stderr:find("^nt3: unknown flag: %-%-x y "), r.stderr)
  end)

  it("masks a token echoed in an error whatever its characters, a quote included", function()
    local r = sh.run({ "status", "entri_abc'defghijklmnop" })
    assert.are.equal(2, r.code)
    assert.are.equal("nt3: unexpected argument: entri_****mnop", r.stderr:match("^[^\n]*"))
    assert.falsy(r.stderr:find("defghijkl", 1, true), r.stderr)
    r = sh.run({ "entri_abc'defghijklmnop" })
    one_line(r.stderr)
    assert.falsy(r.stderr:find("defghijkl", 1, true), r.stderr)
    assert.truthy(r.stderr:find('unknown command "entri_****', 1, true), r.stderr)
  end)

  it("prints a warning as one line, tokens masked (cli.warn)", function()
    local r = sh.run({ "run", sh.script([[require("nt3.cli").warn("a\nb\27[2J entri_abc'defghijklmnop")]]) })
    assert.are.equal(0, r.code)
    assert.are.equal("nt3: warning: a b?[2J entri_****mnop\n", r.stderr)
  end)

  it("prints a script's error as one line, and as a masked traceback only with NT3_DEBUG", function()
    local script = sh.script([[error("boom\nentri_abc'defghijklmnop\27[0m")]])
    local r = sh.run({ "run", script })
    assert.are.equal(1, r.code)
    one_line(r.stderr)
    assert.truthy(r.stderr:find(":1: boom entri_****", 1, true), r.stderr)
    r = sh.run({ "run", script }, { env = { NT3_DEBUG = "1" } })
    assert.are.equal(1, r.code)
    assert.truthy(r.stderr:find(":1: boom\nentri_****", 1, true), r.stderr)
    assert.truthy(r.stderr:find("\nstack traceback:\n", 1, true), r.stderr)
    assert.falsy(r.stderr:find("defghijkl", 1, true), r.stderr)
  end)
end)

describe("nt3.json", function()
  local json = require "nt3.json"
  it("decodes bad input to nil and a message instead of raising", function()
    local v, err = json.decode("{not json")
    assert.is_nil(v)
    assert.is_string(err)
  end)
  it("decodes whole numbers as integers and keeps fractions and huge values as floats", function()
    local v = json.decode('{"page":3,"neg":-7,"f":2.5,"big":1e300,"list":[1,2.0]}')
    assert.are.equal("integer", math.type(v.page))
    assert.are.equal(3, v.page)
    assert.are.equal("integer", math.type(v.neg))
    assert.are.equal("float", math.type(v.f))
    assert.are.equal("float", math.type(v.big))
    assert.are.equal("integer", math.type(v.list[1]))
    assert.are.equal('{"page":3}', json.encode({ page = json.decode("3") }))
  end)

  it("writes numbers exactly: long integers whole, floats with the digits that read back", function()
    assert.are.equal("[1234567890123456,123456789012345,-7,0.1,2.5,1e+300]",
      json.encode({ 1234567890123456, 123456789012345, -7, 0.1, 2.5, 1e300 }))
    assert.are.equal(0.1 + 0.2, json.decode(json.encode({ 0.1 + 0.2 }))[1])
    assert.are.equal(1234567890123456, json.decode(json.pretty({ id = 1234567890123456 })).id)
    local v, err = json.encode({ 1 / 0 })
    assert.is_nil(v)
    assert.matches("JSON has no such number", err, 1, true)
  end)

  it("round-trips values", function()
    assert.are.same({ a = { 1, 2, 3 }, b = "x" }, json.decode(json.encode({ a = { 1, 2, 3 }, b = "x" })))
  end)
  it("writes / as it is, and a backslash before it still escaped", function()
    assert.are.equal('{"url":"https://app.nt3.io/x"}', json.encode({ url = "https://app.nt3.io/x" }))
    assert.are.equal('["a\\\\/b"]', json.encode({ "a\\/b" }))
    assert.are.equal("a\\/b", json.decode(json.encode({ "a\\/b" }))[1])
    assert.are.equal('{\n  "u": "http://h/p"\n}', json.pretty({ u = "http://h/p" }))
  end)

  it("encodes an empty list marked with json.array as [] and a plain empty table as {}", function()
    assert.are.equal('{"a":[],"b":{}}', json.encode({ a = json.array(), b = {} }))
    assert.are.equal('{\n  "a": []\n}', json.pretty({ a = json.array({}) }))
  end)

  it("decodes [] as an empty list that encodes back as [], and {} as an object", function()
    local text = '{"a":[],"b":{},"c":[[ ],{"d":[\n]}],"e":"[]","f":"\\\\"}'
    local v = assert(json.decode(text))
    assert.are.equal('{"a":[],"b":{},"c":[[],{"d":[]}],"e":"[]","f":"\\\\"}', json.encode(v))
    assert.are.equal(0, #v.a)
    assert.are.equal("[]", json.encode(json.decode("[]")))
    -- a string that spells the NUL character is left alone, whatever happens to []
    assert.are.equal("\0x", json.decode('["\\u0000x",[]]')[1])
  end)

  it("encodes compactly with sorted keys, and refuses what JSON cannot hold", function()
    assert.are.equal('{"a":1,"b":[true,"x",null]}', json.encode({ b = { true, "x", json.null }, a = 1 }))
    local t = {}
    t.self = t
    local v, err = json.encode(t)
    assert.is_nil(v)
    assert.matches("nested more than", err)
    v, err = json.encode({ f = print })
    assert.is_nil(v)
    assert.is_string(err)
    v, err = json.encode({ 0 / 0 })
    assert.is_nil(v)
    assert.is_string(err)
  end)

  it("pretty-prints with sorted keys and two-space indent", function()
    assert.are.equal('{\n  "a": [\n    1,\n    2\n  ],\n  "b": {},\n  "c": "x"\n}',
      json.pretty({ c = "x", a = { 1, 2 }, b = {} }))
  end)
end)
