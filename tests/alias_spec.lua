-- nt3 alias: shortcuts kept in the global file, expanded only for a name
-- that is no command, never shadowing one, never looping.
local sh = require "helpers.sh"
local json = require "nt3.json"

local function home_with(aliases)
  local home = sh.tmpdir()
  if aliases then
    os.execute("mkdir -m 700 " .. sh.quote(home .. "/.nt3"))
    sh.spit(home .. "/.nt3/config.json", json.encode({ aliases = aliases }))
    os.execute("chmod 600 " .. sh.quote(home .. "/.nt3/config.json"))
  end
  return home
end

local function nt3(home, args, opts)
  opts = opts or {}
  opts.home = home
  return sh.run(args, opts)
end

-- a user command that prints its arguments, one per line, in brackets
local function echo_command(home, name)
  os.execute("mkdir -p -m 700 " .. sh.quote(home .. "/.nt3/commands"))
  sh.spit(home .. "/.nt3/commands/" .. name .. ".lua", ([[
return { name = %q, summary = "print the arguments", args = { "words..." }, uses_token = false,
  flags = { { long = "loud" } },
  run = function(opts, ctx)
    for _, a in ipairs(ctx.args) do print("[" .. a .. "]") end
    if opts.loud then print("LOUD") end
  end }
]]):format(name))
  os.execute("chmod 600 " .. sh.quote(home .. "/.nt3/commands/" .. name .. ".lua"))
end

describe("nt3 alias", function()
  teardown(sh.cleanup)

  it("saves an alias in ~/.nt3/config.json (0600) and lists it, as text and as JSON", function()
    local home = home_with()
    local r = nt3(home, { "alias", "set", "ver", "version" })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal('Saved alias "ver": nt3 version\n', r.stdout)
    assert.are.equal("600", sh.mode(home .. "/.nt3/config.json"))
    assert.are.same({ ver = "version" }, json.decode(sh.slurp(home .. "/.nt3/config.json")).aliases)
    assert.are.equal("ver   version\n", nt3(home, { "alias", "list" }).stdout)
    assert.are.same({ ver = "version" }, json.decode(nt3(home, { "alias", "list", "--json" }).stdout))
    local v = nt3(home, { "ver" })
    assert.are.equal(0, v.code, v.stderr)
    assert.matches("^nt3 version ", v.stdout)
  end)

  it("splits the expansion like a shell's words, fills $1..$9 and $@, and appends what is left", function()
    local home = home_with()
    echo_command(home, "say")
    assert.are.equal(0, nt3(home, { "alias", "set", "two", [[say 'a b' "c \"d\" \$1" $2-x $1 e\ f]] }).code)
    local r = nt3(home, { "two", "one", "two", "three", "--loud" })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal('[a b]\n[c "d" $1]\n[two-x]\n[one]\n[e f]\n[three]\nLOUD\n', r.stdout)
    assert.are.equal(0, nt3(home, { "alias", "set", "all", [[say first $@ "<$@>"]] }).code)
    assert.are.equal("[first]\n[x y]\n[z]\n[<x y z>]\n", nt3(home, { "all", "x y", "z" }).stdout)
    local few = nt3(home, { "two", "only" })
    assert.are.equal(2, few.code)
    assert.are.equal('nt3: alias "two": it needs at least 2 arguments ($2), and got 1\n', few.stderr)
  end)

  it("never runs a shell: ; | $(...) and * are words given to the command", function()
    local home = home_with()
    echo_command(home, "say")
    local marker = home .. "/ran"
    assert.are.equal(0, nt3(home, { "alias", "set", "x", "say ; touch " .. marker .. " | $(touch " .. marker .. ") *" }).code)
    local r = nt3(home, { "x" })
    assert.are.equal(0, r.code, r.stderr)
    assert.is_nil(io.open(marker))
    assert.matches("%[;%]\n%[touch%]", r.stdout)
    assert.matches("%[%*%]\n$", r.stdout)
  end)

  it("refuses a name of a built-in, of a built-in's alias and of a user command, naming the clash", function()
    local home = home_with()
    echo_command(home, "say")
    local cases = {
      { "status", "nt3: cannot define alias \"status\": it is the name of the built-in command 'status'\n" },
      { "auth", "nt3: cannot define alias \"auth\": it is the name of an alias of the built-in command 'login'\n" },
      { "say", ('nt3: cannot define alias "say": it is the name of the user command %s/.nt3/commands/say.lua\n')
        :format(home) },
    }
    for _, c in ipairs(cases) do
      local r = nt3(home, { "alias", "set", c[1], "version" })
      assert.are.equal(1, r.code)
      assert.are.equal(c[2], r.stderr)
    end
    assert.is_nil(io.open(home .. "/.nt3/config.json"))
  end)

  it("checks every command name through the one list extensions feed (nt3.cli.user.command_names)", function()
    -- a command nt3.cli.user.listing() lists is refused as a name, whatever
    -- its source: an extension command is such a command
    local home = home_with()
    local dir = sh.tmpdir()
    os.execute("mkdir -p " .. sh.quote(dir .. "/nt3/cli"))
    sh.spit(dir .. "/nt3/cli/user.lua", sh.slurp(sh.src .. "/lua/nt3/cli/user.lua"):gsub(
      "\nfunction M.listing%(%)\n", [[

local real_listing
function M.listing()
  local list = real_listing()
  list[#list + 1] = { name = "deploy", summary = "an extension's command", run = function() end,
    user = true, source = "the extension acme/deploy" }
  return list
end
real_listing = function()
]], 1))
    local r = nt3(home, { "alias", "set", "deploy", "version" }, { env = { NT3_LUA_DIR = dir } })
    assert.are.equal(1, r.code, r.stderr)
    assert.are.equal('nt3: cannot define alias "deploy": it is the name of the user command the extension'
      .. ' acme/deploy\n', r.stderr)
  end)

  it("refuses an alias that loops, and one that loops in a file edited by hand, in one line", function()
    local home = home_with()
    assert.are.equal(0, nt3(home, { "alias", "set", "a", "version" }).code)
    assert.are.equal(0, nt3(home, { "alias", "set", "b", "a" }).code)
    local r = nt3(home, { "alias", "set", "a", "b" })
    assert.are.equal(1, r.code)
    assert.are.equal('nt3: alias "a" expands to itself: a -> b -> a\n', r.stderr)
    local edited = home_with({ p = "q x", q = "r", r = "p" })
    local loop = nt3(edited, { "q" })
    assert.are.equal(2, loop.code)
    assert.are.equal('nt3: alias "q" expands to itself: q -> r -> p -> q\n', loop.stderr)
  end)

  it("is looked up only for a name that is no command: a user command added later wins", function()
    local home = home_with({ say = "version" })
    echo_command(home, "say")
    assert.are.equal("[hi]\n", nt3(home, { "say", "hi" }).stdout)
  end)

  it("shows aliases in nt3 help, in did-you-mean and in the completion scripts", function()
    local home = home_with({ mine = "api /api/v1/me" })
    assert.matches("\nAliases %(nt3 alias list%):\n  mine   api /api/v1/me\n", nt3(home, { "help" }).stdout)
    local r = nt3(home, { "mien" })
    assert.are.equal(2, r.code)
    assert.matches('^nt3: unknown command "mien" %(did you mean "mine"%?%)', r.stderr)
    for _, shell in ipairs({ "bash", "zsh", "fish" }) do
      assert.matches("mine", nt3(home, { "completion", shell }).stdout, 1, true)
    end
  end)

  it("deletes an alias, and refuses to delete one that does not exist", function()
    local home = home_with({ mine = "version", other = "help" })
    assert.are.equal('Deleted alias "mine"\n', nt3(home, { "alias", "delete", "mine" }).stdout)
    assert.are.same({ other = "help" }, json.decode(sh.slurp(home .. "/.nt3/config.json")).aliases)
    local r = nt3(home, { "alias", "delete", "mine" })
    assert.are.equal(1, r.code)
    assert.are.equal('nt3: no alias "mine"\n', r.stderr)
  end)

  it("exports, and imports a file only after showing it and being told yes (--yes for scripts)", function()
    local home = home_with({ mine = "version" })
    local file = home .. "/shared.json"
    sh.spit(file, nt3(home, { "alias", "export" }).stdout)
    local other = home_with({ mine = "help" })
    local refused = nt3(other, { "alias", "import", file })
    assert.are.equal(1, refused.code)
    assert.matches("defines 1 alias:\n  mine = nt3 version   %(replaces: nt3 help%)\n", refused.stderr)
    assert.matches("nt3: not saved %(.*%): confirm on a terminal, or give %-%-yes\n$", refused.stderr)
    assert.are.same({ mine = "help" }, json.decode(sh.slurp(other .. "/.nt3/config.json")).aliases)
    local ok = nt3(other, { "alias", "import", file, "--yes" })
    assert.are.equal(0, ok.code, ok.stderr)
    assert.are.same({ mine = "version" }, json.decode(sh.slurp(other .. "/.nt3/config.json")).aliases)
  end)

  it("imports nothing when one alias of the file would be refused", function()
    local home = home_with({ keep = "version" })
    local file = home .. "/bad.json"
    sh.spit(file, json.encode({ fine = "version", status = "help" }))
    local r = nt3(home, { "alias", "import", file, "--yes" })
    assert.are.equal(1, r.code)
    assert.matches("nt3: cannot define alias \"status\"", r.stderr, 1, true)
    assert.are.same({ keep = "version" }, json.decode(sh.slurp(home .. "/.nt3/config.json")).aliases)
  end)

  it("never reads aliases from ./.nt3.local.json", function()
    local home = home_with()
    local cwd = sh.tmpdir()
    sh.spit(cwd .. "/.nt3.local.json", json.encode({ aliases = { ls = "version" } }))
    os.execute("chmod 600 " .. sh.quote(cwd .. "/.nt3.local.json"))
    local r = nt3(home, { "ls" }, { cwd = cwd })
    assert.are.equal(2, r.code)
    assert.matches('^nt3: unknown command "ls"', r.stderr)
  end)

  it("keeps the aliases through login and logout", function()
    local home = home_with({ mine = "version" })
    assert.are.equal(0, nt3(home, { "login", "--no-verify", "-t", "entri_alias_spec_token_0001" }).code)
    assert.are.equal(0, nt3(home, { "logout" }).code)
    assert.are.same({ mine = "version" }, json.decode(sh.slurp(home .. "/.nt3/config.json")).aliases)
  end)
end)
