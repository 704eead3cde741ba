-- --format and --columns (docs/architecture.md, "Output formats"): on
-- `nt3 api`, over the whole result and every page, and on a user command
-- that declares format = true, sandboxed or not; the api.format,
-- api.columns and color settings through every level of precedence.
-- Against the loopback test server, at a real pty and on a pipe.
local sh = require "helpers.sh"
local server = require "helpers.server"
local pty = require "helpers.pty"
local uc = require "helpers.usercmd"
local json = require "nt3.json"

local TOKEN = "entri_valid_format_spec_01"
local STAGING = "entri_valid_format_spec_02"

local function enc(bytes)
  return (bytes:gsub("[^%w]", function(c) return ("%%%02X"):format(c:byte()) end))
end

-- a path of the test server's /raw answering this JSON body
local function raw(body) return "/raw?body=" .. enc(body) end

-- items with a quote, a comma and a line break in a cell, a nested field,
-- and a second item that lacks both
local ITEMS = raw('[{"id": 1, "text": "he said \\"hi\\", then\\nleft", "owner": {"login": "ann"}},'
  .. ' {"id": 2, "text": "plain"}]')

-- the items back from CSV, as Python's csv module reads them
local function read_csv(text)
  local dir = sh.tmpdir()
  sh.spit(dir .. "/out.csv", text)
  local r = require("nt3.proc").run({ "/usr/bin/python3", "-c", [[
import csv, json, sys
with open(sys.argv[1], newline="") as f:
    print(json.dumps(list(csv.reader(f))))
]], dir .. "/out.csv" })
  assert.are.equal(0, r.code, r.stderr)
  return json.decode(r.stdout)
end

local function write_config(home, data)
  os.execute("mkdir -p -m 700 " .. sh.quote(home .. "/.nt3"))
  sh.spit(home .. "/.nt3/config.json", json.encode(data))
  os.execute("chmod 600 " .. sh.quote(home .. "/.nt3/config.json"))
end

describe("nt3 api --format", function()
  local srv, env
  setup(function()
    srv = server.start { tls = false }
    env = { NT3_API_URL = srv.url, NT3_API_TOKEN = TOKEN }
  end)
  teardown(function()
    srv.stop()
    sh.cleanup()
  end)

  local function api(args, extra)
    local e = {}
    for k, v in pairs(env) do e[k] = v end
    for k, v in pairs(extra or {}) do e[k] = v end
    local argv = { "api" }
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    return sh.run(argv, { env = e })
  end

  it("prints a table with a header and aligned columns at a terminal, tab-separated lines on a pipe", function()
    local t = pty.run({ "api", ITEMS, "--format", "table", "--columns", "id,owner.login,text" },
      { env = env, columns = 40 })
    assert.are.equal(0, t.code, t.output)
    -- the line break in a cell is shown as a space of the table's, nothing cut at 40 columns but the text
    local lines = {}
    for line in t.output:gsub("\r\n", "\n"):gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.are.equal("ID  OWNER.LOGIN  TEXT", lines[1])
    assert.matches("^1   ann          he said \"hi\", then", lines[2])
    assert.are.equal("2                plain", lines[#lines])
    local p = api({ ITEMS, "--format", "table", "--columns", "id,owner.login,text" })
    assert.are.equal(0, p.code, p.stderr)
    assert.are.equal('1\tann\the said "hi", then left\n2\t\tplain\n', p.stdout)
  end)

  it("writes CSV that quotes quotes, commas and line breaks, reaches nested fields and leaves a missing one empty",
    function()
      local r = api({ ITEMS, "--format", "csv", "--columns", "id,text,owner.login,no.such" })
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal('id,text,owner.login,no.such\r\n1,"he said ""hi"", then\nleft",ann,\r\n2,plain,,\r\n', r.stdout)
      assert.are.same({
        { "id", "text", "owner.login", "no.such" },
        { "1", 'he said "hi", then\nleft', "ann", "" },
        { "2", "plain", "", "" },
      }, read_csv(r.stdout))
    end)

  it("writes one JSON object a line with ndjson, cut to the columns with a missing field null", function()
    local r = api({ ITEMS, "--format", "ndjson" })
    assert.are.equal(0, r.code, r.stderr)
    local lines = {}
    for line in r.stdout:gmatch("([^\n]*)\n") do lines[#lines + 1] = json.decode(line) end
    assert.are.same({ { id = 1, text = 'he said "hi", then\nleft', owner = { login = "ann" } },
      { id = 2, text = "plain" } }, lines)
    local cut = api({ ITEMS, "--format", "ndjson", "--columns", "id,owner.login" })
    assert.are.equal('{"id":1,"owner.login":"ann"}\n{"id":2,"owner.login":null}\n', cut.stdout)
  end)

  it("takes the columns from the first item's keys in the server's order, those holding scalars", function()
    local r = api({ raw('[{"zeta": 1, "nested": {"a": 1}, "alpha": "x", "list": [1], "none": null}, {"zeta": 2}]'),
      "--format", "csv" })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("zeta,alpha,none\r\n1,x,\r\n2,,\r\n", r.stdout)
  end)

  it("makes an object one row, a list of scalars a value column, and formats what --filter gives", function()
    local me = api({ "/api/v1/me", "--format", "csv" })
    assert.are.equal("id,email,name\r\nu_1,dev@example.com,Dev\r\n", me.stdout)
    local scalars = api({ raw('["a", "b,c"]'), "--format", "csv" })
    assert.are.equal('value\r\na\r\n"b,c"\r\n', scalars.stdout)
    local filtered = api({ "/api/v1/items", "--filter", "data.items", "--format", "csv" })
    assert.are.equal(0, filtered.code, filtered.stderr)
    assert.are.equal("id,name\r\nitem_1,Item 1\r\nitem_2,Item 2\r\n", filtered.stdout)
  end)

  it("writes every page's items with --paginate: CSV with one header, ndjson, and a table", function()
    local path = "/list?page=1&per=2&total=5&echo=1"
    local before = #srv.requests()
    local r = api({ path, "--paginate", "--format", "csv", "--columns", "n,authorization" })
    assert.are.equal(0, r.code, r.stderr)
    local rows = read_csv(r.stdout)
    assert.are.equal(6, #rows)
    assert.are.same({ "n", "authorization" }, rows[1])
    for i = 1, 5 do assert.are.same({ tostring(i), "Bearer " .. TOKEN }, rows[i + 1]) end
    assert.are.equal(3, #srv.requests() - before, "three pages")
    local nd = api({ path, "--paginate", "--format", "ndjson", "--columns", "n" })
    assert.are.equal('{"n":1}\n{"n":2}\n{"n":3}\n{"n":4}\n{"n":5}\n', nd.stdout)
    -- at a terminal the table is cut to its width and the token masked, as nt3.ui shows it
    local t = pty.run({ "api", path, "--paginate", "--format", "table" }, { env = env, columns = 80 })
    assert.are.equal(0, t.code, t.output)
    local out = t.output:gsub("\r\n", "\n")
    assert.matches("^N  AUTHORIZATION\n1  Bearer entri_%*%*%*%*c_01\n", out)
    assert.matches("\n5  Bearer entri_%*%*%*%*c_01\n$", out)
    assert.is_nil(out:find(TOKEN, 1, true))
  end)

  it("refuses a bad --format or --columns, or one with -o, with exit 2, and a body that is no JSON with exit 1",
    function()
      local bad = api({ "/api/v1/me", "--format", "xml" })
      assert.are.equal(2, bad.code)
      assert.matches('^nt3: %-%-format expects json, table, csv or ndjson, got "xml"\n', bad.stderr)
      local cols = api({ "/api/v1/me", "--format", "csv", "--columns", "id,,name" })
      assert.are.equal(2, cols.code)
      assert.matches("^nt3: %-%-columns expects a comma%-separated list of field names", cols.stderr)
      assert.are.equal(2, api({ "/api/v1/me", "--columns", "id" }).code, "--columns with the default json")
      local dir = sh.tmpdir()
      local out = api({ "/api/v1/me", "--format", "csv", "-o", dir .. "/me.csv" })
      assert.are.equal(2, out.code)
      assert.is_nil(sh.slurp(dir .. "/me.csv"))
      local text = api({ "/big?bytes=5", "--format", "csv" })
      assert.are.equal(1, text.code)
      assert.matches("^nt3: %-%-format csv needs a JSON response, and this one is text/plain", text.stderr)
      assert.are.equal("", text.stdout)
    end)

  it("prints the server's JSON with --format json, as with no --format", function()
    local plain = api({ "/api/v1/me" })
    local as_json = api({ "/api/v1/me", "--format", "json" })
    assert.are.equal(0, as_json.code, as_json.stderr)
    assert.are.equal(plain.stdout, as_json.stdout)
  end)

  it("takes api.format and api.columns from the flag, the environment, the profile, the global file, else the default",
    function()
      local home = sh.tmpdir()
      write_config(home, {
        token = TOKEN, api_url = srv.url, settings = { ["api.format"] = "csv", ["api.columns"] = "id" },
        profiles = { staging = { token = STAGING, api_url = srv.url,
          settings = { ["api.format"] = "ndjson", ["api.columns"] = "email" } } },
      })
      local plain = sh.tmpdir()
      write_config(plain, { token = TOKEN, api_url = srv.url })
      local function run(h, args, e)
        local argv = { "api", "/api/v1/me" }
        for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
        local r = sh.run(argv, { home = h, env = e })
        assert.are.equal(0, r.code, r.stderr)
        return r.stdout
      end
      assert.matches('^{"id":', run(plain))                                            -- default: json
      assert.are.equal("id\r\nu_1\r\n", run(home))                                     -- global
      assert.are.equal('{"email":"dev@example.com"}\n', run(home, { "--profile", "staging" })) -- profile
      local e = { NT3_API_FORMAT = "csv", NT3_API_COLUMNS = "name" }
      assert.are.equal("name\r\nDev\r\n", run(home, { "--profile", "staging" }, e))     -- environment
      local flags = { "--profile", "staging", "--format", "table", "--columns", "name,id" }
      assert.are.equal("Dev\tu_1\n", run(home, flags, e))                                -- flag
      -- --format json beats a setting; --columns alone takes the format from it
      assert.matches('^{"id":', run(home, { "--format", "json" }))
      assert.are.equal("name\r\nDev\r\n", run(home, { "--columns", "name" }))
      -- a setting with -o writes the body as it is
      local dir = sh.tmpdir()
      run(home, { "-o", dir .. "/me.json" })
      assert.matches('^{"id":', sh.slurp(dir .. "/me.json"))
    end)

  it("shows the format settings that differ from the defaults in nt3 status, and refuses a bad one", function()
    local home = sh.tmpdir()
    write_config(home, { token = TOKEN, api_url = srv.url })
    assert.are.equal(0, sh.run({ "config", "set", "api.format", "table" }, { home = home }).code)
    assert.are.equal(0, sh.run({ "config", "set", "api.columns", "id,owner.login" }, { home = home }).code)
    assert.are.equal(0, sh.run({ "config", "set", "color", "never" }, { home = home }).code)
    local st = sh.run({ "status" }, { home = home })
    assert.are.equal(0, st.code, st.stderr)
    assert.matches("\n    api.format = table %(global%)\n", st.stdout)
    assert.matches("\n    api.columns = id,owner.login %(global%)\n", st.stdout)
    assert.matches("\n    color = never %(global%)\n", st.stdout)
    local bad = sh.run({ "config", "set", "api.format", "xml" }, { home = home })
    assert.are.equal(2, bad.code)
    assert.matches('api.format must be one of json, table, csv, ndjson, not "xml"', bad.stderr)
    local badcols = sh.run({ "config", "set", "api.columns", "a,,b" }, { home = home })
    assert.are.equal(2, badcols.code)
    local env_bad = sh.run({ "api", "/api/v1/me" }, { home = home, env = { NT3_API_FORMAT = "yaml" } })
    assert.are.equal(1, env_bad.code)
    assert.matches('NT3_API_FORMAT must be one of json, table, csv, ndjson, not "yaml"', env_bad.stderr)
  end)
end)

describe("a user command with format = true", function()
  local srv
  setup(function() srv = server.start { tls = false } end)
  teardown(function()
    srv.stop()
    sh.cleanup()
  end)

  local ROWS = [[
return {
  name = "rows",
  summary = "Some rows",
  format = true,
  run = function(opts, ctx)
    io.stderr:write("ran\n")
    return {
      { id = 1, owner = { login = "ann" }, note = 'he said "hi", ok' },
      { id = 2, note = "two\nlines" },
    }
  end,
}
]]

  -- the rows a sandboxed command got from the API, with a JSON null and an empty list
  local SANDBOXED = [[
return {
  name = "people",
  summary = "Who I am, in rows",
  format = true,
  columns = { "id", "email" },
  permissions = { api = "read" },
  run = function(opts, ctx)
    local json = require "nt3.json"
    local me = assert(require("nt3.api").get("/api/v1/me"))
    return { me, { id = "u_2", email = json.null, tags = json.array() } }
  end,
}
]]

  local BAD = [[
return {
  name = "bad", summary = "A function in a row", format = true, permissions = {},
  run = function() return { { f = print } } end,
}
]]

  local home
  setup(function()
    home = uc.home({ ["rows.lua"] = ROWS, ["people.lua"] = SANDBOXED, ["bad.lua"] = BAD })
  end)

  local function run(args)
    return sh.run(args, { home = home, env = { NT3_API_URL = srv.url, NT3_API_TOKEN = TOKEN } })
  end

  it("gets --format and --columns: a table by default, csv, json and ndjson", function()
    local t = run({ "rows", "--columns", "id,owner.login,note" })
    assert.are.equal(0, t.code, t.stderr)
    assert.are.equal('1\tann\the said "hi", ok\n2\t\ttwo lines\n', t.stdout)
    local c = run({ "rows", "--format", "csv", "--columns", "id,note,owner.login" })
    assert.are.same({ { "id", "note", "owner.login" }, { "1", 'he said "hi", ok', "ann" }, { "2", "two\nlines", "" } },
      read_csv(c.stdout))
    local j = run({ "rows", "--format", "json" })
    assert.are.same({ { id = 1, owner = { login = "ann" }, note = 'he said "hi", ok' },
      { id = 2, note = "two\nlines" } }, json.decode(j.stdout))
    local n = run({ "rows", "--format", "ndjson", "--columns", "owner.login" })
    assert.are.equal('{"owner.login":"ann"}\n{"owner.login":null}\n', n.stdout)
    -- without --columns: the first row's keys holding scalars, sorted (a Lua table has no order)
    assert.are.equal('1\the said "hi", ok\n2\ttwo lines\n', run({ "rows" }).stdout)
  end)

  it("shows the flags in --help, and refuses a bad --format before the command runs", function()
    local h = run({ "rows", "--help" })
    assert.matches("\n      %-%-format <format> ", h.stdout)
    assert.matches("\n      %-%-columns <a,b.c> ", h.stdout)
    local bad = run({ "rows", "--format", "yaml" })
    assert.are.equal(2, bad.code)
    assert.matches('^nt3: %-%-format expects json, table, csv or ndjson, got "yaml"\n', bad.stderr)
    assert.is_nil(bad.stderr:find("ran", 1, true))
    assert.are.equal(2, run({ "rows", "--format", "json", "--columns", "id" }).code)
  end)

  it("is a table aligned at a terminal", function()
    local t = pty.run({ "rows", "--columns", "id,owner.login" }, { home = home, columns = 40 })
    assert.are.equal(0, t.code, t.output)
    assert.are.equal("ran\r\nID  OWNER.LOGIN\r\n1   ann\r\n2   \r\n", t.output)
  end)

  it("returns its rows across the sandbox boundary as JSON, nulls and empty lists kept", function()
    local t = run({ "people" })
    assert.are.equal(0, t.code, t.stderr)
    assert.are.equal("u_1\tdev@example.com\nu_2\t\n", t.stdout)
    local j = run({ "people", "--format", "json" })
    assert.are.equal('[{"email":"dev@example.com","id":"u_1","name":"Dev"},{"email":null,"id":"u_2","tags":[]}]\n',
      j.stdout)
    local bad = run({ "bad" })
    assert.are.equal(1, bad.code)
    assert.matches("^nt3: command 'bad' returned rows that cannot be written as JSON", bad.stderr)
  end)

  it("is refused when it declares its own --format, or columns that are no list of names", function()
    local h = uc.home({
      ["own.lua"] = [[return { name = "own", summary = "x", format = true,
        flags = { { long = "format", value = "f" } }, run = function() return {} end }]],
      ["cols.lua"] = [[return { name = "cols", summary = "x", format = true, columns = "id", run = function() end }]],
    })
    local own = sh.run({ "own" }, { home = h })
    assert.matches("flag %-%-format comes with format = true", own.stderr)
    local cols = sh.run({ "cols" }, { home = h })
    assert.matches("field 'columns' must be a list of field names", cols.stderr)
  end)
end)

describe("the color setting", function()
  teardown(sh.cleanup)

  local SCRIPT = [[print(require("nt3").ui.colors(io.stdout))]]

  local function colors(home, opts)
    opts = opts or {}
    local args = { "run" }
    for _, a in ipairs(opts.args or {}) do args[#args + 1] = a end
    args[#args + 1] = sh.script(SCRIPT)
    if opts.tty then
      local r = pty.run(args, { home = home, env = opts.env })
      assert.are.equal(0, r.code, r.output)
      return r.output:match("(%a+)\r\n$")
    end
    local r = sh.run(args, { home = home, env = opts.env })
    assert.are.equal(0, r.code, r.stderr)
    return r.stdout:match("^(%a+)\n$")
  end

  it("goes NT3_COLOR > NO_COLOR and CLICOLOR_FORCE > profile setting > global setting > auto", function()
    local home = sh.tmpdir()
    write_config(home, {
      token = TOKEN, settings = { color = "never" },
      profiles = { staging = { token = STAGING, settings = { color = "always" } } },
    })
    local plain = sh.tmpdir()
    write_config(plain, { token = TOKEN })
    assert.are.equal("true", colors(plain, { tty = true }))                  -- auto: a terminal
    assert.are.equal("false", colors(plain))                                 -- auto: a pipe
    assert.are.equal("false", colors(plain, { tty = true, env = { TERM = "dumb" } }))
    assert.are.equal("false", colors(home, { tty = true }))                  -- global never
    assert.are.equal("true", colors(home, { args = { "--profile", "staging" } })) -- profile always, on a pipe
    assert.are.equal("false", colors(home, { args = { "--profile", "staging" }, env = { NO_COLOR = "1" } }))
    assert.are.equal("true", colors(home, { tty = true, env = { CLICOLOR_FORCE = "1" } }))
    assert.are.equal("true", colors(home, { env = { NO_COLOR = "1", NT3_COLOR = "always" } }))
    assert.are.equal("false", colors(plain, { tty = true, env = { CLICOLOR_FORCE = "1", NT3_COLOR = "never" } }))
  end)

  it("refuses a bad NT3_COLOR with one line", function()
    local r = sh.run({ "run", sh.script(SCRIPT) }, { env = { NT3_COLOR = "sometimes" } })
    assert.are.equal(1, r.code)
    assert.matches('^nt3: NT3_COLOR must be one of auto, always, never, not "sometimes"\n$', r.stderr)
  end)
end)

describe("json.text.keys", function()
  local text = require "nt3.json.text"

  it("gives an object's member names in the order written, each once, whatever the values hold", function()
    assert.are.same({ "z", "a\"b", "m", "deep" },
      text.keys(' { "z" : 1, "a\\"b": "}{,:", "m": [1, {"x": 2}], "z": 3, "deep": {"k": {"l": null}} } '))
    assert.are.same({}, text.keys("{}"))
    assert.are.same({ "\u{e9}" }, text.keys('{"\\u00e9": true}'))
  end)

  it("is nil for anything but an object", function()
    for _, t in ipairs({ "[1]", '"s"', "3", "", "{", '{"a" 1}', '{"a": }', "{1: 2}" }) do
      assert.is_nil(text.keys(t), t)
    end
  end)
end)
