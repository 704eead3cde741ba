-- nt3.ui: each helper at a real pseudo-terminal (tests/helpers/pty_run.py,
-- with its window size set) and on a pipe
-- (docs/architecture.md, "Output for people and for pipes"). The terminal's
-- "\n" comes back as "\r\n".
local pty = require "helpers.pty"
local sh = require "helpers.sh"

-- runs `source` (a script using `ui`) with nt3 run: at a pty of `columns`
-- columns when opts.columns or opts.tty is given, else with stdout a pipe.
-- Returns what stdout showed, with the pty's "\r\n" (and CSV's "\r\r\n")
-- made "\n" again.
local function show(source, opts)
  opts = opts or {}
  local script = sh.script('local ui = require("nt3").ui\n' .. source)
  if opts.columns or opts.tty then
    local r = pty.run({ "run", script }, { columns = opts.columns, env = opts.env })
    assert.are.equal(0, r.code, r.output)
    return (r.output:gsub("\r+\n", "\n"))
  end
  local r = sh.run({ "run", script }, { env = opts.env })
  assert.are.equal(0, r.code, r.stderr)
  return r.stdout
end

local WIDE_ROWS = [[
local rows = {
  { id = 1, name = "日本語のテキストです", owner = { login = "ann" } },
  { id = 22, name = "héllo wörld, héllo again", owner = {} },
  { id = 3, name = "cafe\u{301}" },
}
]]

describe("ui.table", function()
  it("aligns columns under a header at a terminal, each line cut to its width, wide characters counted as 2", function()
    local out = show(WIDE_ROWS .. [[ui.table(rows, { columns = { "id", "owner.login", "name" }, headers = { "ID", "OWNER" } })]],
      { columns = 24 })
    -- id keeps 2 and owner 5 (its header), name gets the rest: 24 - 2*2 - 2 - 5 = 13
    assert.are.equal(table.concat({
      "ID  OWNER  NAME",
      "1   ann    日本語のテキ…",
      "22         héllo wörld,…",
      "3          cafe\u{301}",
      "",
    }, "\n"), out)
    for line in out:gmatch("[^\n]+") do assert.is_true(require("nt3.ui").width(line) <= 24, line) end
  end)

  it("shares the width fairly when every column is too wide", function()
    local out = show([[ui.table({ { a = ("x"):rep(30), b = ("y"):rep(30) } }, { columns = { "a", "b" } })]],
      { columns = 21 })
    assert.are.equal("A          B\nxxxxxxxx…  yyyyyyyyy…\n", out)
  end)

  it("never splits a character at the cut: a wide one that does not fit is left out whole", function()
    -- 9 columns for the name: 4 wide characters (8) would leave no room for "…"
    local out = show([[ui.table({ { name = "日本語のテキスト" } }, { columns = { "name" }, headers = { "名前" } })]],
      { columns = 9 })
    assert.are.equal("名前\n日本語の…\n", out)
    assert.is_nil(out:find("\u{FFFD}", 1, true))
    for line in out:gmatch("[^\n]+") do assert.is_true(utf8.len(line) ~= nil, line) end
  end)

  it("keeps a combining mark with its letter and counts it as no width", function()
    local out = show([[ui.table({ { a = "e\u{301}e\u{301}e\u{301}xyz" } }, { columns = { "a" }, headers = { "A" } })]],
      { columns = 4 })
    assert.are.equal("A\ne\u{301}e\u{301}e\u{301}…\n", out)
  end)

  it("is tab-separated on a pipe, with no header and nothing cut, so cut and awk work", function()
    local out = show(WIDE_ROWS .. [[ui.table(rows, { columns = { "id", "owner.login", "name" } })]])
    assert.are.equal("1\tann\t日本語のテキストです\n22\t\théllo wörld, héllo again\n3\t\tcafe\u{301}\n", out)
  end)

  it("puts each row on one line on a pipe: a tab or newline in a cell becomes a space", function()
    local out = show([[ui.table({ { a = "x\ty", b = "1\n2" } }, { columns = { "a", "b" } })]])
    assert.are.equal("x y\t1 2\n", out)
  end)

  it("writes the caller's data as it is on a pipe and replaces escape sequences at a terminal", function()
    local src = [[ui.table({ { a = "\27]0;pwned\7\27[31mred", t = "entri_abcdefghijklmnop" } }, { columns = { "a", "t" } })]]
    assert.are.equal("\27]0;pwned\7\27[31mred\tentri_abcdefghijklmnop\n", show(src))
    local tty = show(src, { columns = 80 })
    assert.is_nil(tty:find("\27", 1, true))
    assert.matches("?]0;pwned??[31mred", tty, 1, true)
    assert.is_nil(tty:find("abcdefghijklmnop", 1, true), "a token is masked at a terminal")
  end)

  it("reads nested fields through dots, tables as JSON, and leaves a missing or null field empty", function()
    local out = show([[ui.table({
      { a = { b = { c = "deep" } }, l = { 1, 2 } },
      { a = "not a table", l = require("nt3.json").null },
      {},
    }, { columns = { "a.b.c", "l", "nope.x" } })]])
    assert.are.equal("deep\t[1,2]\t\n\t\t\n\t\t\n", out)
  end)

  it("takes the width from COLUMNS when the terminal reports none", function()
    local out = show([[ui.table({ { a = "abcdefghijklmnop" } }, { columns = { "a" } })]],
      { tty = true, env = { COLUMNS = "6" } })
    assert.are.equal("A\nabcde…\n", out)
  end)

  it("raises on a caller's mistake", function()
    local ui = require "nt3.ui"
    assert.has_error(function() ui.table({}) end, "bad argument #2 to 'table' (table expected, got nil)")
    assert.has_error(function() ui.table({}, { columns = {} }) end,
      "bad argument #2 to 'table' (at least one column expected)")
    assert.has_error(function() ui.table({}, { columns = { "a" }, stream = 1 }) end,
      "bad argument #2 to 'table' (stream must be an open file)")
  end)
end)

describe("ui.csv", function()
  local ROWS = [[
local rows = {
  { id = 1, text = 'he said "hi", then left' },
  { id = 2, text = "two\nlines", extra = { n = "a,b" } },
  { id = 3, text = "cr\r\nlf" },
}
ui.csv(rows, { "id", "text", "extra.n" })
]]

  it("quotes what RFC 4180 says, doubles quotes and ends records with CRLF", function()
    assert.are.equal('id,text,extra.n\r\n1,"he said ""hi"", then left",\r\n2,"two\nlines","a,b"\r\n3,"cr\r\nlf",\r\n',
      show(ROWS))
  end)

  it("is read back as it was by Python's csv module", function()
    local dir = sh.tmpdir()
    sh.spit(dir .. "/out.csv", show(ROWS))
    local r = require("nt3.proc").run({ "/usr/bin/python3", "-c", [[
import csv, json, sys
with open(sys.argv[1], newline="") as f:
    print(json.dumps(list(csv.reader(f))))
]], dir .. "/out.csv" })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.same({
      { "id", "text", "extra.n" },
      { "1", 'he said "hi", then left', "" },
      { "2", "two\nlines", "a,b" },
      { "3", "cr\r\nlf", "" },
    }, require("nt3.json").decode(r.stdout))
  end)

  it("leaves the header out when asked", function()
    assert.are.equal("1\r\n", show([[ui.csv({ { a = 1 } }, { "a" }, { header = false })]]))
  end)

  it("replaces escape sequences at a terminal", function()
    local out = show([[ui.csv({ { a = "\27[2Jx" } }, { "a" })]], { columns = 80 })
    assert.are.equal("a\n?[2Jx\n", out)
  end)
end)

describe("ui.ndjson", function()
  it("writes one JSON document a line", function()
    assert.are.equal('{"a":1,"b":[true]}\n{"s":"x\\ny"}\n{}\n',
      show([[ui.ndjson({ { b = { true }, a = 1 }, { s = "x\ny" }, {} })]]))
  end)

  it("keeps the caller's text on a pipe and replaces a bidi override at a terminal", function()
    local src = [[ui.ndjson({ { s = "abc\u{202E}def" } })]]
    assert.are.equal('{"s":"abc\u{202E}def"}\n', show(src))
    assert.are.equal('{"s":"abc?def"}\n', show(src, { columns = 80 }))
  end)
end)

describe("ui.color", function()
  local SRC = [[io.write(ui.color("red", "R"), "\n")]]
  local RED = "\27[31mR\27[0m\n"

  it("colours at a terminal and not on a pipe", function()
    assert.are.equal(RED, show(SRC, { tty = true }))
    assert.are.equal("R\n", show(SRC))
  end)

  it("shows none when NO_COLOR is set to anything, even with CLICOLOR_FORCE", function()
    assert.are.equal("R\n", show(SRC, { tty = true, env = { NO_COLOR = "1" } }))
    assert.are.equal("R\n", show(SRC, { env = { NO_COLOR = "yes", CLICOLOR_FORCE = "1" } }))
    assert.are.equal(RED, show(SRC, { tty = true, env = { NO_COLOR = "" } }), "an empty NO_COLOR is not set")
  end)

  it("colours a pipe with CLICOLOR_FORCE, unless it is 0 or empty", function()
    assert.are.equal(RED, show(SRC, { env = { CLICOLOR_FORCE = "1" } }))
    assert.are.equal("R\n", show(SRC, { env = { CLICOLOR_FORCE = "0" } }))
    assert.are.equal("R\n", show(SRC, { env = { CLICOLOR_FORCE = "" } }))
  end)

  it("shows none with TERM=dumb", function()
    assert.are.equal("R\n", show(SRC, { tty = true, env = { TERM = "dumb" } }))
  end)

  it("asks about the stream it is given", function()
    assert.are.equal("R\n", show([[io.write(ui.color("red", "R", io.stderr), "\n")]], { env = { TERM = "xterm" } }))
    assert.are.equal("R\n", show([[io.write(ui.color("bold", "R", io.open("/dev/null", "w")), "\n")]],
      { tty = true }))
  end)

  it("raises on a colour it does not know", function()
    assert.has_error(function() require("nt3.ui").color("chartreuse", "x") end,
      'bad argument #1 to \'color\' (unknown colour "chartreuse")')
  end)
end)

describe("ui.width", function()
  it("counts wide characters as 2, combining marks as 0, others as 1", function()
    local ui = require "nt3.ui"
    assert.are.equal(0, ui.width(""))
    assert.are.equal(5, ui.width("hello"))
    assert.are.equal(6, ui.width("日本語"))
    assert.are.equal(4, ui.width("ｆｕ"))          -- fullwidth forms
    assert.are.equal(4, ui.width("😀🚀"))
    assert.are.equal(4, ui.width("cafe\u{301}"))
    assert.are.equal(3, ui.width("\xff\xfeA"), "a byte that is no UTF-8 is one column")
  end)
end)

describe("prompt.columns", function()
  it("reports the terminal's width, and nil for a pipe", function()
    assert.are.equal("37\n", show([[print(require("nt3.prompt").columns("stdout"))]], { columns = 37 }))
    assert.are.equal("nil\n", show([[print(require("nt3.prompt").columns("stdout"))]]))
  end)
end)
