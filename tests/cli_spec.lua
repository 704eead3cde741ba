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

  it("keeps a value that starts with a dash but is none of the command's flags", function()
    for _, value in ipairs({ "-abc", "-1", "-", "--x" }) do
      assert.are.equal(value, cli.parse(login_like, { "-t", value }).token)
      assert.are.equal(value, cli.parse(login_like, { "--token", value }).token)
    end
    assert.are.same({ "-x: 1" }, cli.parse(login_like, { "-H", "-x: 1" }).header)
  end)

  it("rejects an unknown flag, a missing value and a value given to a boolean", function()
    local cases = {
      { { "--bogus" }, "unknown flag: --bogus" },
      { { "-x" }, "unknown shorthand flag: 'x' in -x" },
      { { "--token" }, "--token needs a value" },
      { { "-t" }, "-t needs a value" },
      { { "-lt" }, "-t needs a value" },
      { { "--local=yes" }, "flag --local does not take a value" },
      { { "a", "b" }, "unexpected argument: b" },
    }
    for _, c in ipairs(cases) do
      local opts, err = cli.parse(login_like, c[1])
      assert.is_nil(opts)
      assert.are.equal(c[2], err)
    end
  end)

  it("says a flag needs a value when the next word is another of its flags, not that flag as the value", function()
    local cases = {
      { { "-t", "-u", "https://x.example" }, "-t needs a value" },
      { { "--token", "-u", "https://x.example" }, "--token needs a value" },
      { { "--token", "--local" }, "--token needs a value" },
      { { "-t", "--api-url=https://x.example" }, "-t needs a value" },
      { { "-t", "-lv" }, "-t needs a value" },
      { { "-t", "-h" }, "-t needs a value" },
      { { "-t", "--help" }, "-t needs a value" },
      { { "-t", "--" }, "-t needs a value" },
      { { "-H", "--profile", "work" }, "-H needs a value" },
    }
    for _, c in ipairs(cases) do
      local opts, err = cli.parse(login_like, c[1])
      assert.is_nil(opts, table.concat(c[1], " "))
      assert.are.equal(c[2], err)
    end
  end)

  it("names the nearest flag of the command for an unknown one", function()
    local cases = {
      { { "--tokne", "x" }, "unknown flag: --tokne (did you mean --token?)" },
      { { "--api-ulr=x" }, "unknown flag: --api-ulr (did you mean --api-url?)" },
      { { "--hepl" }, "unknown flag: --hepl (did you mean --help?)" },
      { { "--profle", "w" }, "unknown flag: --profle (did you mean --profile?)" },
      { { "--zzzzzz" }, "unknown flag: --zzzzzz" },
    }
    for _, c in ipairs(cases) do
      local opts, err = cli.parse(login_like, c[1])
      assert.is_nil(opts)
      assert.are.equal(c[2], err)
    end
  end)

  it("takes the global --profile NAME (and --profile=NAME) for a command that uses a token", function()
    assert.are.equal("work", cli.parse(login_like, { "--profile", "work", "-l" }).profile)
    assert.are.equal("work", cli.parse(login_like, { "-l", "--profile=work" }).profile)
    assert.are.same({ nil, "--profile needs a value" }, { cli.parse(login_like, { "--profile" }) })
    -- not for one that says it uses none
    local offline = { name = "offline", summary = "s", uses_token = false, run = function() end }
    assert.are.same({ nil, "unknown flag: --profile" }, { cli.parse(offline, { "--profile", "w" }) })
    -- a command declaring a --profile of its own parses it as its own flag
    local own = { name = "own", summary = "s", run = function() end,
      flags = { { short = "p", long = "profile", value = "name" } } }
    assert.are.equal("w", cli.parse(own, { "-p", "w" }).profile)
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

  it("prints the version for nt3 --version, -v and nt3 version, as gh version does", function()
    local r = sh.run({ "--version" })
    assert.are.equal(0, r.code)
    assert.matches("^nt3 version %d+%.%d+%.%d+\n$", r.stdout)
    for _, args in ipairs { { "-v" }, { "version" } } do
      local other = sh.run(args)
      assert.are.equal(0, other.code, other.stderr)
      assert.are.equal(r.stdout, other.stdout)
    end
  end)

  it("shows one command's help for nt3 help <cmd> and nt3 <cmd> --help", function()
    local a = sh.run({ "help", "run" })
    local b = sh.run({ "run", "--help" })
    assert.are.equal(0, a.code)
    assert.are.equal(0, b.code)
    assert.matches("Usage: nt3 run [options] [<file>] [args...]", a.stdout, 1, true)
    assert.are.equal(a.stdout, b.stdout)
  end)

  it("suggests the nearest command for an unknown one and exits 2", function()
    local r = sh.run({ "hepl" })
    assert.are.equal(2, r.code)
    assert.are.equal('nt3: unknown command "hepl" (did you mean "help"?); run \'nt3 help\' for the list\n', r.stderr)
    assert.are.equal("", r.stdout)
  end)

  it("suggests the nearest command or topic for nt3 help <unknown> too, exit 2", function()
    for word, near in pairs { stauts = "status", env = "environment", enviroment = "environment", stat = "status" } do
      local r = sh.run({ "help", word })
      assert.are.equal(2, r.code)
      assert.are.equal(('nt3: unknown command or topic "%s" (did you mean "%s"?)\n'):format(word, near), r.stderr)
    end
  end)

  it("suggests by prefix: a command or a flag cut short gets the whole one", function()
    -- each is further from the whole word than a typo may be: only the prefix rule finds it
    local r = sh.run({ "comp" })
    assert.are.equal(2, r.code)
    assert.are.equal('nt3: unknown command "comp" (did you mean "completion"?); run \'nt3 help\' for the list\n',
      r.stderr)
    r = sh.run({ "--vers" })
    assert.are.equal("nt3: unknown flag: --vers (did you mean --version?)\n", r.stderr)
    r = sh.run({ "help", "envir" })
    assert.are.equal('nt3: unknown command or topic "envir" (did you mean "environment"?)\n', r.stderr)
    r = sh.run({ "login", "--no-ver" })
    assert.matches("^nt3: unknown flag: %-%-no%-ver %(did you mean %-%-no%-verify%?%)\n", r.stderr)
    r = sh.run({ "api", "--pag", "/x" })
    assert.matches("^nt3: unknown flag: %-%-pag %(did you mean %-%-paginate%?%)\n", r.stderr)
  end)

  it("rejects an unknown flag with its line, the command's one line of usage and where its help is, exit 2", function()
    local r = sh.run({ "help", "--bogus" })
    assert.are.equal(2, r.code)
    assert.are.equal("", r.stdout)
    assert.are.equal("nt3: unknown flag: --bogus\n"
      .. "Usage: nt3 help [options] [<command>]\n"
      .. "Run 'nt3 help --help' for help.\n", r.stderr)
  end)

  it("never prints the whole help after a usage error", function()
    for _, argv in ipairs({ { "login", "--bogus" }, { "api" }, { "status", "x" }, { "completion", "tcsh" },
      { "logout", "--local=1" }, { "run" } }) do
      local r = sh.run(argv)
      assert.are.equal(2, r.code, argv[1])
      assert.are.equal(3, select(2, r.stderr:gsub("\n", "")), r.stderr)
      assert.falsy(r.stderr:find("Options:", 1, true), r.stderr)
      assert.are.equal(("Run 'nt3 %s --help' for help."):format(argv[1]), r.stderr:match("([^\n]*)\n$"))
    end
  end)

  it("says -t needs a value when the token is missing before another flag (nt3 login -t -u URL), exit 2", function()
    local home = sh.tmpdir()
    for _, argv in ipairs({
      { { "login", "-t", "-u", "https://x.example" }, "-t" },
      { { "login", "--token", "-u", "https://x.example" }, "--token" },
      { { "login", "--local", "-t" }, "-t" },
      { { "auth", "-lt", "--api-url", "https://x.example" }, "-t" },
    }) do
      local r = sh.run(argv[1], { home = home, cwd = home })
      assert.are.equal(2, r.code)
      assert.are.equal("", r.stdout)
      assert.are.equal(("nt3: %s needs a value\nUsage: nt3 login [options]\nRun 'nt3 login --help' for help.\n")
        :format(argv[2]), r.stderr)
    end
    -- and nothing was saved
    assert.is_nil(sh.slurp(home .. "/.nt3/config.json"))
    assert.is_nil(sh.slurp(home .. "/.nt3.local.json"))
  end)

  it("takes a value with a leading dash that is none of the command's flags (nt3 api -X -1)", function()
    local r = sh.run({ "api", "-X", "-1", "/api/v1/me" })
    assert.are.equal(2, r.code)
    assert.are.equal('nt3: unsupported method "-1"\nUsage: nt3 api [options] <path>\n'
      .. "Run 'nt3 api --help' for help.\n", r.stderr)
  end)

  it("suggests the nearest flag for a misspelt one: nt3 login --tokne", function()
    local r = sh.run({ "login", "--tokne", "entri_x" })
    assert.are.equal(2, r.code)
    assert.are.equal("nt3: unknown flag: --tokne (did you mean --token?)\n"
      .. "Usage: nt3 login [options]\nRun 'nt3 login --help' for help.\n", r.stderr)
  end)

  it("suggests --version for nt3 --verison and --help for nt3 --hlep, exit 2", function()
    local r = sh.run({ "--verison" })
    assert.are.equal(2, r.code)
    assert.are.equal("", r.stdout)
    assert.are.equal("nt3: unknown flag: --verison (did you mean --version?)\n", r.stderr)
    assert.are.equal("nt3: unknown flag: --hlep (did you mean --help?)\n", sh.run({ "--hlep" }).stderr)
  end)

  it("prints the usage error the README shows, exactly", function()
    local readme = assert(sh.slurp(sh.src .. "/README.md"))
    local command, shown = readme:match("\n%$ nt3 (login %-t %-u [^\n]+)\n(.-)```")
    assert.truthy(command, "the README shows no `nt3 login -t -u ...`")
    local argv = {}
    for w in command:gmatch("%S+") do argv[#argv + 1] = w end
    local r = sh.run(argv)
    assert.are.equal(2, r.code)
    assert.are.equal(shown, r.stderr)
  end)

  it("gives a script's command the usage `nt3 run <file>` after a usage error", function()
    local script = sh.script([[
      return require("nt3.cli").run_command({ name = "report", summary = "A report",
        flags = { { long = "since", value = "date", help = "Start date" } }, run = function() end }, arg)]])
    local r = sh.run({ "run", script, "--snice", "x" })
    assert.are.equal(2, r.code)
    assert.are.equal(("nt3: unknown flag: --snice (did you mean --since?)\nUsage: nt3 run %s [options]\n"
      .. "Run 'nt3 run %s --help' for help.\n"):format(script, script), r.stderr)
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

describe("nt3 help environment", function()
  -- The string literals of a Lua or C source: quoted text, escapes kept,
  -- comments skipped (a C macro such as NT3_VERSION is never in one).
  local function literals(text, lua)
    local out, i, n = {}, 1, #text
    while i <= n do
      local c = text:sub(i, i)
      if lua and text:sub(i, i + 1) == "--" then
        i = (text:find("\n", i, true) or n) + 1
      elseif not lua and text:sub(i, i + 1) == "/*" then
        i = (select(2, text:find("*/", i + 2, true)) or n) + 1
      elseif not lua and text:sub(i, i + 1) == "//" then
        i = (text:find("\n", i, true) or n) + 1
      elseif c == '"' or (lua and c == "'") then
        local j = i + 1
        while j <= n and text:sub(j, j) ~= c and text:sub(j, j) ~= "\n" do
          j = j + (text:sub(j, j) == "\\" and 2 or 1)
        end
        out[#out + 1] = text:sub(i + 1, j - 1)
        i = j + 1
      elseif not lua and c == "'" then
        i = i + (text:sub(i + 1, i + 1) == "\\" and 4 or 3)
      else
        i = i + 1
      end
    end
    return out
  end

  -- every NT3_* name the code reads: one in a string of lua/, src/ or
  -- bindings/ (getenv("NT3_DEBUG"), env.get("NT3_API_URL"), a message
  -- naming one)
  local function names_in_code()
    local found = {}
    local p = io.popen("cd " .. sh.quote(sh.src) .. " && find lua src bindings -type f"
      .. " \\( -name '*.lua' -o -name '*.c' -o -name '*.h' \\) | sort")
    for path in p:lines() do
      for _, lit in ipairs(literals(assert(sh.slurp(sh.src .. "/" .. path)), path:match("%.lua$"))) do
        for name in lit:gmatch("NT3_[A-Z0-9_]+") do found[name] = true end
      end
    end
    p:close()
    local list = {}
    for name in pairs(found) do list[#list + 1] = name end
    table.sort(list)
    return list
  end

  it("lists every NT3_* variable the code reads, each with its meaning, exit 0", function()
    local r = sh.run({ "help", "environment" })
    assert.are.equal(0, r.code)
    assert.are.equal("", r.stderr)
    local names = names_in_code()
    for _, expected in ipairs({ "NT3_API_TOKEN", "NT3_API_URL", "NT3_CONFIG_DIR", "NT3_COMMANDS_PATH",
      "NT3_CA_FILE", "NT3_DEBUG", "NT3_LUA_DIR", "NT3_PROFILE" }) do
      assert.truthy(table.concat(names, " "):find(expected, 1, true), "the scan misses " .. expected)
    end
    for _, name in ipairs(names) do
      assert.truthy(r.stdout:find("\n  " .. name .. " +%S[^\n]+\n"), name .. " is not documented:\n" .. r.stdout)
    end
    -- and nothing it lists is made up
    for name in r.stdout:gmatch("\n  (NT3_[A-Z0-9_]+) ") do
      assert.truthy(table.concat(names, " "):find(name, 1, true), name .. " is read nowhere")
    end
  end)

  it("is where nt3 help points for the variables", function()
    local r = sh.run({ "help" })
    assert.truthy(r.stdout:find("\nRun 'nt3 help environment' for the NT3_* variables nt3 reads.\n", 1, true),
      r.stdout)
  end)
end)

describe("the global --profile", function()
  teardown(sh.cleanup)

  local function each_builtin(f)
    for _, cmd in ipairs(cli.commands()) do
      if cmd.builtin then f(cmd) end
    end
  end

  it("is taken by every built-in that uses a token, and shown in its help; help, completion, extension, version and alias use none", function()
    local takers = {}
    each_builtin(function(cmd)
      local usage = cli.usage(cmd)
      if cmd.name == "help" or cmd.name == "completion" or cmd.name == "version" or cmd.name == "alias"
        or cmd.name == "extension" then
        assert.falsy(usage:find("--profile <", 1, true), cmd.name)
        assert.is_nil(cli.parse(cmd, { "--profile", "w" }), cmd.name)
      else
        takers[#takers + 1] = cmd.name
        assert.truthy(usage:find("\n      --profile <name> ", 1, true), cmd.name .. ":\n" .. usage)
        local argv = { "--profile", "w" }
        for _, a in ipairs(cmd.args or {}) do
          if not a:match("[?.]$") then argv[#argv + 1] = "x" end
        end
        assert.are.equal("w", (assert(cli.parse(cmd, argv))).profile, cmd.name)
      end
    end)
    for _, name in ipairs({ "api", "login", "logout", "run", "status" }) do
      assert.truthy(table.concat(takers, " "):find(name, 1, true), name)
    end
  end)

  it("calls nt3.config.use_profile(NAME) before the command runs, and not for --help", function()
    local saved = package.loaded["nt3.config"]
    local calls = {}
    package.loaded["nt3.config"] = { use_profile = function(name) calls[#calls + 1] = "use_profile " .. name end }
    local cmd = { name = "probe", summary = "s", run = function(opts)
      calls[#calls + 1] = "run " .. tostring(opts.profile)
    end }
    local ok, err = pcall(function()
      assert.are.equal(0, cli.run_command(cmd, { "--profile=work" }))
      assert.are.equal(0, cli.run_command(cmd, { "--profile", "x", "--help" }))
    end)
    package.loaded["nt3.config"] = saved
    assert(ok, err)
    assert.are.same({ "use_profile work", "run work" }, calls)
  end)

  it("says profiles are not available when nt3.config has no use_profile", function()
    local saved = package.loaded["nt3.config"]
    package.loaded["nt3.config"] = {}
    local ran = false
    local ok, err = pcall(cli.run_command, { name = "probe", summary = "s", run = function() ran = true end },
      { "--profile", "work" })
    package.loaded["nt3.config"] = saved
    assert.is_false(ok)
    assert.are.equal("profiles are not available", tostring(err))
    assert.is_false(ran)
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
    assert.truthy(r.stderr:find('^nt3: unknown command or topic "x%?y%?z"'), r.stderr)
  end)

  it("echoes an unknown flag with a newline in it as one line, before the usage", function()
    local r = sh.run({ "login", "--tok\nen" })
    assert.are.equal(2, r.code)
    assert.are.equal("nt3: unknown flag: --tok en (did you mean --token?)\nUsage: nt3 login [options]\n",
      r.stderr:match("^[^\n]*\n[^\n]*\n"))
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
