-- User commands: every *.lua in ~/.nt3/commands (and NT3_COMMANDS_PATH) is a
-- command with the same shape, parsing and help as a built-in one.
local sh = require "helpers.sh"
local uc = require "helpers.usercmd"

local HELLO = [[
return {
  name = "hello",
  aliases = { "hi" },
  summary = "Greet someone",
  flags = {
    { short = "n", long = "name", value = "who", help = "Whom to greet" },
    { short = "s", long = "shout", help = "Greet loudly" },
    { long = "tag", value = "tag", multiple = true, help = "A tag (repeatable)" },
  },
  args = { "extra..." },
  run = function(opts, ctx)
    local msg = "hello " .. (opts.name or "world")
    if opts.shout then msg = msg:upper() end
    print(msg)
    print("args: " .. table.concat(ctx.args, ","))
    print("tags: " .. table.concat(opts.tag or {}, ","))
    print("invoked as: " .. ctx.name)
    return 0
  end,
}
]]

local function lines_with(text, pattern)
  local found = {}
  for line in text:gmatch("[^\n]+") do
    if line:find(pattern, 1, true) then found[#found + 1] = line end
  end
  return found
end

describe("user commands", function()
  teardown(sh.cleanup)

  describe("listing and running", function()
    it("lists a command from ~/.nt3/commands in nt3 help, marked as a user command", function()
      local home = uc.home({ ["hello.lua"] = HELLO })
      local out = sh.run({ "help" }, { home = home })
      assert.are.equal(0, out.code)
      assert.are.equal("", out.stderr)
      local rows = lines_with(out.stdout, "hello")
      assert.are.equal(1, #rows)
      assert.truthy(rows[1]:match("^  hello%s+Greet someone %(alias: hi%) %[user command%]$"), rows[1])
      -- built-ins are listed too, and are not marked
      local help_row = lines_with(out.stdout, "  help ")[1]
      assert.truthy(help_row and not help_row:find("[user command]", 1, true), out.stdout)
    end)

    it("lists user commands in bare `nt3` as well", function()
      local home = uc.home({ ["hello.lua"] = HELLO })
      local out = sh.run({}, { home = home })
      assert.are.equal(0, out.code)
      assert.truthy(out.stdout:find("[user command]", 1, true), out.stdout)
    end)

    it("runs a user command with its flags parsed and its arguments in ctx.args", function()
      local home = uc.home({ ["hello.lua"] = HELLO })
      local out = sh.run({ "hello", "-s", "--name", "ana", "--tag=a", "--tag", "b", "x", "y" }, { home = home })
      assert.are.equal("", out.stderr)
      assert.are.equal(0, out.code)
      assert.are.equal("HELLO ANA\nargs: x,y\ntags: a,b\ninvoked as: hello\n", out.stdout)
    end)

    it("runs a user command by its alias", function()
      local home = uc.home({ ["hello.lua"] = HELLO })
      local out = sh.run({ "hi", "-nbo" }, { home = home })
      assert.are.equal(0, out.code)
      assert.are.equal("hello bo\nargs: \ntags: \ninvoked as: hi\n", out.stdout)
    end)

    it("gives a user command --help for free, naming the file it comes from", function()
      local home, dir = uc.home({ ["hello.lua"] = HELLO })
      for _, argv in ipairs({ { "hello", "--help" }, { "hello", "-h" }, { "help", "hello" } }) do
        local out = sh.run(argv, { home = home })
        assert.are.equal(0, out.code)
        assert.truthy(out.stdout:find("Usage: nt3 hello [options] [extra...]", 1, true), out.stdout)
        assert.truthy(out.stdout:find("\n  %-n, %-%-name <who> +Whom to greet\n"), out.stdout)
        assert.truthy(out.stdout:find("\n      %-%-profile <name> +Use the token and API URL of this profile"),
          out.stdout)
        assert.truthy(out.stdout:find("Defined in " .. dir .. "/hello.lua", 1, true), out.stdout)
      end
    end)

    it("rejects an unknown flag of a user command with exit 2, its usage line and where its help is", function()
      local home = uc.home({ ["hello.lua"] = HELLO })
      local out = sh.run({ "hello", "--loud" }, { home = home })
      assert.are.equal(2, out.code)
      assert.are.equal("", out.stdout)
      assert.are.equal("nt3: unknown flag: --loud\nUsage: nt3 hello [options] [extra...]\n"
        .. "Run 'nt3 hello --help' for help.\n", out.stderr)
      out = sh.run({ "hi", "--shuot" }, { home = home })
      assert.are.equal(2, out.code)
      assert.are.equal("nt3: unknown flag: --shuot (did you mean --shout?)\n", out.stderr:match("^[^\n]*\n"))
      out = sh.run({ "hello", "-n", "-s" }, { home = home })
      assert.are.equal(2, out.code)
      assert.are.equal("nt3: -n needs a value\n", out.stderr:match("^[^\n]*\n"))
    end)

    it("takes the global --profile NAME and selects it (nt3.config.use_profile) before the command runs", function()
      local home = uc.home({ ["hello.lua"] = HELLO })
      -- NT3_LUA_DIR puts a stand-in nt3.config in front of the built-in one:
      -- it says when the profile is chosen; the command itself prints after
      local lua = sh.tmpdir()
      uc.dir({ ["config.lua"] = [[
        return { use_profile = function(name) io.stdout:write("use_profile(", name, ")\n") end }]] }, lua .. "/nt3")
      for _, argv in ipairs({ { "hello", "--profile", "work", "-n", "ana" }, { "hi", "-n", "ana", "--profile=work" } }) do
        local out = sh.run(argv, { home = home, env = { NT3_LUA_DIR = lua } })
        assert.are.equal("", out.stderr)
        assert.are.equal(0, out.code)
        assert.are.equal("use_profile(work)\nhello ana\n", out.stdout:match("^[^\n]*\n[^\n]*\n"))
      end
      local out = sh.run({ "hello", "--profile" }, { home = home, env = { NT3_LUA_DIR = lua } })
      assert.are.equal(2, out.code)
      assert.are.equal("nt3: --profile needs a value\n", out.stderr:match("^[^\n]*\n"))
    end)

    it("passes the command's exit code and cli.fail messages through", function()
      local home = uc.home({
        ["three.lua"] = uc.command { name = "three", body = "return 3" },
        ["nope.lua"] = uc.command { name = "nope", body = [[require("nt3.cli").fail("no such widget", 5)]] },
      })
      assert.are.equal(3, sh.run({ "three" }, { home = home }).code)
      local out = sh.run({ "nope" }, { home = home })
      assert.are.equal(5, out.code)
      assert.are.equal("nt3: no such widget\n", out.stderr)
    end)

    it("gives a user command the same API as a built-in: require \"nt3\"", function()
      local home = uc.home({
        ["api.lua"] = uc.command { name = "jsonish", body = [[
          local nt3 = require "nt3"
          print(nt3.json.encode({ ok = true }), type(nt3.fs.stat), type(nt3.cli.fail), nt3.version)]] },
      })
      -- the file is api.lua but the command is jsonish: a name mismatch is refused
      local out = sh.run({ "help" }, { home = home })
      assert.truthy(out.stderr:find("api.lua", 1, true), out.stderr)
      home = uc.home({
        ["jsonish.lua"] = uc.command { name = "jsonish", body = [[
          local nt3 = require "nt3"
          print(nt3.json.encode({ ok = true }), type(nt3.fs.stat), type(nt3.cli.fail), nt3.version)]] },
      })
      out = sh.run({ "jsonish" }, { home = home })
      assert.are.equal("", out.stderr)
      assert.truthy(out.stdout:match('^{"ok":true}\tfunction\tfunction\t%d+%.%d+%.%d+\n$'), out.stdout)
    end)

    it("takes commands from every directory in NT3_COMMANDS_PATH, in order after ~/.nt3/commands", function()
      local home = uc.home({ ["one.lua"] = uc.command { name = "one", body = [[print("one from home")]] } })
      local a = uc.dir({ ["one.lua"] = uc.command { name = "one", body = [[print("one from a")]] },
        ["two.lua"] = uc.command { name = "two", body = [[print("two from a")]] } })
      local b = uc.dir({ ["two.lua"] = uc.command { name = "two", body = [[print("two from b")]] },
        ["three.lua"] = uc.command { name = "three", body = [[print("three from b")]] } })
      local env = { NT3_COMMANDS_PATH = a .. ":" .. b }
      assert.are.equal("one from home\n", sh.run({ "one" }, { home = home, env = env }).stdout)
      assert.are.equal("two from a\n", sh.run({ "two" }, { home = home, env = env }).stdout)
      assert.are.equal("three from b\n", sh.run({ "three" }, { home = home, env = env }).stdout)
      local help = sh.run({ "help" }, { home = home, env = env })
      assert.are.equal(1, #lines_with(help.stdout, "  two "))
      assert.are.equal("", help.stderr)
    end)

    it("takes ~/.nt3/commands from NT3_CONFIG_DIR when that is set", function()
      local config = sh.tmpdir()
      uc.dir({ ["cfg.lua"] = uc.command { name = "cfg" } }, config .. "/commands")
      local out = sh.run({ "cfg" }, { env = { NT3_CONFIG_DIR = config } })
      assert.are.equal("cfg ran\n", out.stdout)
    end)

    it("ignores files that do not end in .lua", function()
      local home = uc.home({ ["notes.txt"] = "hello", ["hello.lua.bak"] = HELLO })
      local out = sh.run({ "help" }, { home = home })
      assert.are.equal(0, out.code)
      assert.are.equal("", out.stderr)
      assert.falsy(out.stdout:find("[user command]", 1, true))
    end)
  end)

  describe("overriding a built-in", function()
    local MY_HELP = [[
return {
  name = "help",
  summary = "My own help",%s
  run = function() print("my help") end,
}
]]

    it("refuses a user command named like a built-in, with a warning, unless it declares overrides = true", function()
      local home, dir = uc.home({ ["help.lua"] = MY_HELP:format("") })
      local out = sh.run({ "help" }, { home = home })
      assert.are.equal(0, out.code)
      assert.truthy(out.stdout:find("Commands:", 1, true), out.stdout) -- the built-in ran
      assert.falsy(out.stdout:find("my help", 1, true))
      assert.are.equal(("nt3: warning: ignoring %s/help.lua: it has the name of the built-in command 'help'"
        .. " (add overrides = true to replace it)\n"):format(dir), out.stderr)
    end)

    it("runs the user command instead of the built-in when it declares overrides = true, and help says so", function()
      local home = uc.home({ ["help.lua"] = MY_HELP:format("\n  overrides = true,") })
      local out = sh.run({ "help" }, { home = home })
      assert.are.equal(0, out.code)
      assert.are.equal("my help\n", out.stdout)
      assert.are.equal("", out.stderr)
      -- the list (bare `nt3` prints it too) marks the override
      out = sh.run({}, { home = home })
      local row = lines_with(out.stdout, "  help ")[1]
      assert.truthy(row and row:match("My own help %[user command, overrides built%-in%]$"), out.stdout)
    end)
  end)

  describe("a name or alias of a built-in's", function()
    local AUTH = [[
return {
  name = "auth",
  summary = "My own auth",%s
  run = function() print("my auth") end,
}
]]
    local function aliased(alias, extra)
      return uc.command { name = "hello", extra = ("aliases = { %q },%s"):format(alias, extra or "") }
    end

    it("refuses a user command named like a built-in's alias (auth), with a warning, unless it overrides", function()
      local home, dir = uc.home({ ["auth.lua"] = AUTH:format("") })
      local warning = ("nt3: warning: ignoring %s/auth.lua: it has the name of an alias of the built-in command"
        .. " 'login' (add overrides = true to replace it)\n"):format(dir)
      local out = sh.run({ "auth", "--help" }, { home = home })
      assert.are.equal(0, out.code)
      assert.truthy(out.stdout:find("\nUsage: nt3 login [options]\n", 1, true), out.stdout) -- login's alias ran
      assert.are.equal(warning, out.stderr)
      out = sh.run({ "help" }, { home = home })
      assert.are.equal(warning, out.stderr)
      assert.truthy(out.stdout:find("(alias: auth)", 1, true), out.stdout)
      assert.falsy(out.stdout:find("My own auth", 1, true), out.stdout)
    end)

    it("runs a user command named like a built-in's alias when it overrides, and help marks it", function()
      local home = uc.home({ ["auth.lua"] = AUTH:format("\n  overrides = true,") })
      local out = sh.run({ "auth" }, { home = home })
      assert.are.equal("", out.stderr)
      assert.are.equal("my auth\n", out.stdout)
      out = sh.run({ "help" }, { home = home })
      assert.are.equal("", out.stderr)
      local auth = lines_with(out.stdout, "  auth ")
      assert.are.equal(1, #auth, out.stdout)
      assert.truthy(auth[1]:match("^  auth +My own auth %[user command, overrides built%-in%]$"), auth[1])
      -- login is still there, without the alias it gave up
      local login = lines_with(out.stdout, "  login ")[1]
      assert.truthy(login and not login:find("alias", 1, true), out.stdout)
      assert.are.equal(0, sh.run({ "login", "--help" }, { home = home }).code)
    end)

    it("refuses a user command whose alias is a built-in's alias, unless it overrides", function()
      local home, dir = uc.home({ ["hello.lua"] = aliased("auth") })
      local out = sh.run({ "help" }, { home = home })
      assert.are.equal(("nt3: warning: ignoring %s/hello.lua: its alias 'auth' is the name of an alias of the"
        .. " built-in command 'login' (add overrides = true to replace it)\n"):format(dir), out.stderr)
      assert.falsy(out.stdout:find("  hello ", 1, true), out.stdout)
      home = uc.home({ ["hello.lua"] = aliased("auth", " overrides = true,") })
      out = sh.run({ "auth" }, { home = home })
      assert.are.equal("", out.stderr)
      assert.are.equal("hello ran\n", out.stdout)
      out = sh.run({ "help" }, { home = home })
      assert.truthy(out.stdout:find("\n  hello +the hello command %(alias: auth%) %[user command, overrides built%-in%]\n"),
        out.stdout)
    end)

    it("refuses a user command whose alias is a built-in's name, even when it overrides", function()
      for _, extra in ipairs({ "", " overrides = true," }) do
        local home, dir = uc.home({ ["hello.lua"] = aliased("status", extra) })
        local out = sh.run({ "help" }, { home = home })
        assert.are.equal(("nt3: warning: ignoring %s/hello.lua: its alias 'status' is the name of the built-in"
          .. " command 'status' (a user command replaces a built-in by its name: status.lua with overrides = true)\n")
          :format(dir), out.stderr)
        assert.falsy(out.stdout:find("  hello ", 1, true), out.stdout)
        out = sh.run({ "status" }, { home = home })
        assert.are.equal(4, out.code)
        assert.falsy(out.stdout:find("hello ran", 1, true), out.stdout)
      end
    end)
  end)

  describe("broken command files", function()
    it("warns about a syntax error naming the file and line, and other commands keep working", function()
      local home, dir = uc.home({
        ["hello.lua"] = HELLO,
        ["broken.lua"] = "return {\n  name = 'broken',\n  summary = \n}\n",
      })
      local out = sh.run({ "help" }, { home = home })
      assert.are.equal(0, out.code)
      assert.truthy(out.stderr:find("nt3: warning: skipping " .. dir .. "/broken.lua:4:", 1, true), out.stderr)
      assert.truthy(out.stdout:find("  hello ", 1, true))
      out = sh.run({ "hello" }, { home = home })
      assert.are.equal(0, out.code)
      assert.are.equal("hello world\n", out.stdout:match("^[^\n]*\n"))
    end)

    it("warns about a file that raises while loading, naming the file and line", function()
      local home, dir = uc.home({ ["boom.lua"] = "local x = 1\nerror('kaboom')\n", ["hello.lua"] = HELLO })
      local out = sh.run({ "help" }, { home = home })
      assert.are.equal(0, out.code)
      assert.truthy(out.stderr:find("skipping " .. dir .. "/boom.lua:2: kaboom", 1, true), out.stderr)
      assert.truthy(out.stdout:find("  hello ", 1, true))
    end)

    it("warns about a file lacking a required field, naming the file, the line and the field", function()
      local home, dir = uc.home({
        ["nosummary.lua"] = "local M = {}\n\nreturn {\n  name = 'nosummary',\n  run = function() end,\n}\n",
        ["norun.lua"] = "return { name = 'norun', summary = 'x' }\n",
        ["hello.lua"] = HELLO,
      })
      local out = sh.run({ "help" }, { home = home })
      assert.are.equal(0, out.code)
      assert.truthy(out.stderr:find("skipping " .. dir .. "/nosummary.lua:3: field 'summary' is missing", 1, true),
        out.stderr)
      assert.truthy(out.stderr:find("skipping " .. dir .. "/norun.lua:1: field 'run' is missing", 1, true),
        out.stderr)
      assert.truthy(out.stdout:find("  hello ", 1, true))
      assert.falsy(out.stdout:find("nosummary", 1, true))
    end)

    it("warns once when the broken command itself is called, then says it is unknown", function()
      local home, dir = uc.home({ ["norun.lua"] = "return { name = 'norun', summary = 'x' }\n" })
      local out = sh.run({ "norun" }, { home = home })
      assert.are.equal(2, out.code)
      local warnings = lines_with(out.stderr, "warning")
      assert.are.equal(1, #warnings, out.stderr)
      assert.truthy(warnings[1]:find(dir .. "/norun.lua", 1, true))
      assert.truthy(out.stderr:find('unknown command "norun"', 1, true))
    end)

    it("refuses a file whose name field differs from its file name", function()
      local home, dir = uc.home({ ["greet.lua"] = uc.command { name = "salute" } })
      local out = sh.run({ "help" }, { home = home })
      assert.truthy(out.stderr:find("skipping " .. dir .. "/greet.lua", 1, true), out.stderr)
      assert.truthy(out.stderr:find("'salute'", 1, true), out.stderr)
      assert.falsy(out.stdout:find("salute", 1, true))
      assert.are.equal(2, sh.run({ "salute" }, { home = home }).code)
    end)

    it("refuses a command file holding precompiled bytecode: chunks are loaded as text only", function()
      local home, dir = uc.home({})
      local make = sh.run({ "run", sh.script(([[
        local chunk = assert(load(%q))
        local f = assert(io.open(%q, "wb"))
        f:write(string.dump(chunk))
        f:close()
      ]]):format(uc.command { name = "bin" }, dir .. "/bin.lua")) })
      assert.are.equal(0, make.code, make.stderr)
      uc.chmod("644", dir .. "/bin.lua")
      local out = sh.run({ "bin" }, { home = home })
      assert.are.equal(2, out.code)
      assert.falsy(out.stdout:find("bin ran", 1, true))
      assert.truthy(out.stderr:find("skipping " .. dir .. "/bin.lua", 1, true), out.stderr)
      assert.truthy(out.stderr:find("binary", 1, true), out.stderr)
    end)
  end)

  describe("trust", function()
    it("skips a group-writable commands directory with a warning naming the fix", function()
      local home, dir = uc.home({ ["hello.lua"] = HELLO })
      uc.chmod("775", dir)
      local out = sh.run({ "hello" }, { home = home })
      assert.are.equal(2, out.code)
      assert.falsy(out.stdout:find("hello world", 1, true))
      assert.truthy(out.stderr:find(("nt3: warning: skipping %s/hello.lua: %s is writable by group or others"
        .. " (mode 775); fix: chmod go-w %s"):format(dir, dir, dir), 1, true), out.stderr)
      out = sh.run({ "help" }, { home = home })
      assert.falsy(out.stdout:find("hello", 1, true))
    end)

    it("skips a command file writable by others, and keeps the trusted ones", function()
      local home, dir = uc.home({ ["hello.lua"] = HELLO, ["evil.lua"] = uc.command { name = "evil" } })
      uc.chmod("646", dir .. "/evil.lua")
      local out = sh.run({ "help" }, { home = home })
      assert.truthy(out.stderr:find(("skipping %s/evil.lua: %s/evil.lua is writable by group or others (mode 646)")
        :format(dir, dir), 1, true), out.stderr)
      assert.falsy(out.stdout:find("evil", 1, true))
      assert.truthy(out.stdout:find("  hello ", 1, true))
      assert.are.equal(2, sh.run({ "evil" }, { home = home }).code)
    end)

    it("skips a group-writable directory listed in NT3_COMMANDS_PATH", function()
      local d = uc.dir({ ["shared.lua"] = uc.command { name = "shared" } })
      uc.chmod("777", d)
      local out = sh.run({ "shared" }, { env = { NT3_COMMANDS_PATH = d } })
      assert.are.equal(2, out.code)
      assert.truthy(out.stderr:find("writable by group or others", 1, true), out.stderr)
    end)

    it("skips a command file owned by another user", function()
      local home, dir = uc.home({ ["theirs.lua"] = uc.command { name = "theirs" } })
      -- the suite runs as root (CI does); chown to nobody makes the file someone else's
      uc.chown("65534", dir .. "/theirs.lua")
      local out = sh.run({ "theirs" }, { home = home })
      assert.are.equal(2, out.code)
      assert.truthy(out.stderr:find(dir .. "/theirs.lua is owned by another user (uid 65534)", 1, true), out.stderr)
    end)

    it("names a hostile file in its warning as one line of printable text", function()
      local d = uc.dir({ ["x\27]0;pwned\7\nnt3: fake.lua"] = uc.command { name = "x" } })
      uc.chmod("646", d .. "/x\27]0;pwned\7\nnt3: fake.lua")
      local out = sh.run({ "help" }, { env = { NT3_COMMANDS_PATH = d } })
      assert.are.equal(0, out.code)
      local shown = d .. "/x?]0;pwned? nt3: fake.lua"
      assert.are.equal(("nt3: warning: skipping %s: %s is writable by group or others (mode 646); fix: chmod go-w %s\n")
        :format(shown, shown, shown), out.stderr)
    end)

    it("warns once for each relative directory in NT3_COMMANDS_PATH, which it ignores", function()
      local home = uc.home({ ["hello.lua"] = HELLO })
      local extra = uc.dir({ ["shared.lua"] = uc.command { name = "shared" } })
      local env = { NT3_COMMANDS_PATH = "commands:" .. extra .. ":./.nt3/commands" }
      for _, args in ipairs({ { "help" }, { "hello" }, { "shared" } }) do
        local out = sh.run(args, { home = home, env = env })
        assert.are.equal(table.concat({
          'nt3: warning: ignoring relative directory "commands" in NT3_COMMANDS_PATH (only absolute directories are searched)',
          'nt3: warning: ignoring relative directory "./.nt3/commands" in NT3_COMMANDS_PATH (only absolute directories are searched)',
          "" }, "\n"), out.stderr)
        assert.are.equal(0, out.code)
      end
    end)

    it("never looks in the current directory", function()
      local cwd = uc.dir({ ["hello.lua"] = HELLO })
      uc.dir({ ["hello.lua"] = HELLO }, cwd .. "/commands")
      uc.dir({}, cwd .. "/.nt3")
      uc.dir({ ["hello.lua"] = HELLO }, cwd .. "/.nt3/commands")
      local home = uc.home({})
      -- relative entries in NT3_COMMANDS_PATH are ignored as well
      local out = sh.run({ "hello" }, { home = home, cwd = cwd,
        env = { NT3_COMMANDS_PATH = ".:commands:.nt3/commands" } })
      assert.are.equal(2, out.code)
      assert.are.equal("", out.stdout)
      assert.truthy(out.stderr:find('unknown command "hello"', 1, true), out.stderr)
      -- nor through a relative NT3_CONFIG_DIR, which would be ./.nt3/commands
      out = sh.run({ "hello" }, { home = home, cwd = cwd, env = { NT3_CONFIG_DIR = ".nt3" } })
      assert.are.equal(2, out.code)
      assert.are.equal("", out.stdout)
      assert.truthy(out.stderr:find('unknown command "hello"', 1, true), out.stderr)
      -- and a script's require does not find modules there either
      out = sh.run({ "run", sh.script([[print(pcall(require, "hello"))]]) }, { home = home, cwd = cwd })
      assert.truthy(out.stdout:match("^false\t"), out.stdout)
    end)
  end)
end)
