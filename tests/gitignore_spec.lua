-- nt3.gitignore: whether git ignores a file, as git decides it; matching in
-- time linear in the name, and no error on any pattern a file may hold.
local gitignore = require "nt3.gitignore"
local sh = require "helpers.sh"
local auth = require "helpers.auth_util"

local function match(p, name) return (gitignore.match(p, name)) end

describe("gitignore.match", function()
  it("matches literals, * and ? within one path component", function()
    assert.is_true(match(".nt3.local.json", ".nt3.local.json"))
    assert.is_true(match("*.json", ".nt3.local.json"))
    assert.is_true(match(".nt3?local.json", ".nt3.local.json"))
    assert.is_false(match("*.json", "a/b.json"))
    assert.is_false(match("a?b", "a/b"))
    assert.is_false(match("*.json", ".nt3.local.jsonx"))
  end)

  it("reads brackets as git does: sets, ranges, negation, POSIX classes, ] first", function()
    assert.is_true(match("[.]nt3*", ".nt3.local.json"))
    assert.is_true(match("x[a-c]", "xb"))
    assert.is_false(match("x[a-c]", "xd"))
    assert.is_true(match("x[!a-c]", "xd"))
    assert.is_true(match("x[^a-c]", "xd"))
    assert.is_true(match("x[[:digit:]]", "x7"))
    assert.is_false(match("x[[:digit:]]", "xa"))
    assert.is_true(match("x[]]", "x]"))
    assert.is_true(match("x[]a]", "xa"))
    assert.is_false(match("a[/]b", "a/b"))
    assert.is_false(match("a[!x]b", "a/b"))
  end)

  it("takes a backslash as an escape", function()
    assert.is_true(match("\\*x", "*x"))
    assert.is_false(match("\\*x", "ax"))
    assert.is_true(match("\\#a", "#a"))
  end)

  it("gives ** its meaning only as a whole path component", function()
    assert.is_true(match("**/x.json", "x.json"))
    assert.is_true(match("**/x.json", "a/b/x.json"))
    assert.is_true(match("a/**/x.json", "a/x.json"))
    assert.is_true(match("a/**/x.json", "a/b/c/x.json"))
    assert.is_false(match("a/**/x.json", "b/x.json"))
    assert.is_true(match("a/**", "a/b/c"))
    assert.is_true(match("**", "a/b/c"))
    assert.is_false(match("a**x", "a/x")) -- two stars inside a name are one
    assert.is_true(match("a**x", "abx"))
  end)

  it("matches nothing, and raises nothing, for a malformed pattern", function()
    for _, p in ipairs({ "[abc", "[]", "[!]", "x\\", "[[:nope:]]", "[a-", "[\\" }) do
      local ok, res = pcall(gitignore.match, p, "[]")
      assert.is_true(ok, p)
      assert.is_false(res, p)
      assert.is_false(gitignore.match(p, ".nt3.local.json"), p)
    end
  end)

  it("does work proportional to pattern times name, however many stars", function()
    local name = ("a"):rep(10000)
    for _, p in ipairs({ ("*"):rep(50) .. "x", ("*a"):rep(25) .. "b", ("?*"):rep(30) .. "x", ("**/"):rep(40) .. "x" }) do
      local matched, steps = gitignore.match(p, name)
      assert.is_false(matched, p)
      local tokens = gitignore.compile(p)
      assert.is_true(steps <= (2 * #tokens + 2) * #name, ("%s: %d steps"):format(p:sub(1, 12), steps))
    end
    local long = ("*"):rep(50) .. "x"
    assert.is_true(match(long, name .. "x"))
  end)
end)

describe("gitignore.apply", function()
  local rel = ".nt3.local.json"

  it("lets the last matching rule win, negation included", function()
    assert.is_true(gitignore.apply("*.json\n", rel, false))
    assert.is_false(gitignore.apply("*.json\n!.nt3.local.json\n", rel, false))
    assert.is_true(gitignore.apply("!.nt3.local.json\n*.json\n", rel, false))
    assert.is_true(gitignore.apply("*.log\n", rel, true)) -- no rule matches: as given
  end)

  it("skips comments, blank lines and directory-only rules; trims CR and unescaped trailing spaces", function()
    assert.is_false(gitignore.apply("# .nt3.local.json\n\n.nt3.local.json/\n", rel, false))
    assert.is_true(gitignore.apply(".nt3.local.json\r\n", rel, false))
    assert.is_true(gitignore.apply(".nt3.local.json   \n", rel, false))
    assert.is_false(gitignore.apply(".nt3.local.json\\ \n", rel, false))
    assert.is_true(gitignore.apply(".nt3.local.json\\ \n", rel .. " ", false))
    assert.is_true(gitignore.apply("\\!x\n", "!x", false))
  end)

  it("matches a pattern with a slash against the path from the ignore file's directory", function()
    assert.is_true(gitignore.apply("/.nt3.local.json\n", rel, false))
    assert.is_false(gitignore.apply("/.nt3.local.json\n", "sub/" .. rel, false))
    assert.is_true(gitignore.apply(".nt3.local.json\n", "sub/" .. rel, false))
    assert.is_true(gitignore.apply("sub/*.json\n", "sub/" .. rel, false))
    assert.is_false(gitignore.apply("other/.nt3.local.json\n", "sub/" .. rel, false))
  end)

  it("survives a file of malformed and pathological lines", function()
    local text = "[\n[]\n\\\n[!]\n" .. ("*"):rep(50) .. "x\n" .. ("[a-"):rep(100) .. "\n"
    assert.is_false(gitignore.apply(text, rel, false))
  end)
end)

describe("gitignore.ignores", function()
  local function repo()
    local u = auth.user()
    auth.mkdir(u.cwd .. "/.git/info")
    return u
  end

  it("reads the global ignore file, .git/info/exclude, then each .gitignore down to the directory", function()
    local u = repo()
    local sub = u.cwd .. "/a/b"
    auth.mkdir(sub)
    local run = function()
      return u.lua("io.write(tostring(require('nt3.gitignore').ignores(require('nt3.env').cwd(), '.nt3.local.json')))",
        { cwd = sub }).stdout
    end
    assert.are.equal("false", run())
    auth.mkdir(u.home .. "/.config/git")
    auth.write(u.home .. "/.config/git/ignore", "*.json\n")
    assert.are.equal("true", run())
    auth.write(u.cwd .. "/.git/info/exclude", "!.nt3.local.json\n")
    assert.are.equal("false", run())
    auth.write(u.cwd .. "/.gitignore", "a/b/.nt3.local.json\n")
    assert.are.equal("true", run())
    auth.write(u.cwd .. "/a/.gitignore", "!.nt3.local.json\n")
    assert.are.equal("false", run())
    auth.write(sub .. "/.gitignore", "/.nt3.local.json\n")
    assert.are.equal("true", run())
  end)

  it("is false outside a repository", function()
    local u = auth.user()
    auth.write(u.cwd .. "/.gitignore", "*\n")
    assert.are.equal("false", u.lua(
      "io.write(tostring(require('nt3.gitignore').ignores(require('nt3.env').cwd(), '.nt3.local.json')))").stdout)
  end)
end)

-- How many bytes the string searches of fn() pass over (its string.find
-- calls, wrapped meanwhile; the module's p:find reaches string.find through
-- the strings' metatable): the work that grows with the input, counted,
-- never timed.
local function scanned(fn)
  local find, bytes = string.find, 0
  string.find = function(s, pattern, init, plain) -- luacheck: ignore 122
    local at = find(s, pattern, init, plain)
    bytes = bytes + (at or #s) - (init or 1) + 1
    return find(s, pattern, init, plain)
  end
  local ok, err = pcall(fn)
  string.find = find -- luacheck: ignore 122
  assert(ok, err)
  return bytes
end

describe("gitignore.compile", function()
  it("works in time linear in a bracket full of '[:' (once quadratic: 3 s for a 1 MiB line)", function()
    local function compile_of(n)
      local p = "[" .. ("[:"):rep(n) .. "a]"
      return scanned(function() assert.is_table(gitignore.compile(p)) end)
    end
    local small, large = compile_of(2000), compile_of(8000)
    assert.is_true(small >= 4000)
    -- linear is 4 times the work for 4 times the input; quadratic was 16
    assert.is_true(large < small * 8, ("%d bytes searched for 2000, %d for 8000"):format(small, large))
  end)

  it("works out each class of a bracket once, however often it is repeated", function()
    local p = "[" .. ("[:alpha:]"):rep(2000) .. "]"
    local bytes = scanned(function() assert.is_table(gitignore.compile(p)) end)
    -- one look at each of 256 bytes for each of 2000 classes would be 512000
    assert.is_true(bytes < 100000, ("%d bytes searched"):format(bytes))
  end)
end)

teardown(sh.cleanup)
