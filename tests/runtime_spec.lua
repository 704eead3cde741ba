-- The runtime: how Lua code gets into the binary, where modules come from,
-- how errors reach the user, and `nt3 run`.
local sh = require "helpers.sh"

local function lines_of(path)
  local t = {}
  for l in io.lines(path) do t[#t + 1] = l end
  return t
end

describe("embedding", function()
  it("compiles every module at build time; a syntax error fails with file and line", function()
    local root = sh.tmpdir()
    os.execute("mkdir -p " .. sh.quote(root .. "/lua/nt3"))
    sh.spit(root .. "/lua/nt3/good.lua", "return {}\n")
    sh.spit(root .. "/lua/nt3/bad.lua", "local x = 1\n\nlocal y = = 2\n")
    local out = root .. "/embedded.c"
    local cmd = ("%s %s %s lua/nt3/good.lua lua/nt3/bad.lua 2>%s"):format(
      sh.quote(os.getenv("NT3_EMBEDGEN")), sh.quote(out), sh.quote(root), sh.quote(root .. "/err"))
    local ok = os.execute(cmd)
    assert.is_falsy(ok)
    assert.matches("lua/nt3/bad.lua:3:", sh.slurp(root .. "/err"), 1, true)
    assert.is_nil(sh.slurp(out))
  end)

  it("writes a sorted table, and rewrites it only when it changes", function()
    local root = sh.tmpdir()
    os.execute("mkdir -p " .. sh.quote(root .. "/lua/nt3") .. " " .. sh.quote(root .. "/lua/commands"))
    sh.spit(root .. "/lua/nt3/init.lua", "return {}\n")
    sh.spit(root .. "/lua/commands/zeta.lua", 'return { name = "zeta", summary = "z", run = print }\n')
    sh.spit(root .. "/lua/commands/alpha.lua", 'return { name = "alpha", summary = "a", run = print }\n')
    local out = root .. "/embedded.c"
    local cmd = ("%s %s %s lua/nt3/init.lua lua/commands/zeta.lua lua/commands/alpha.lua"):format(
      sh.quote(os.getenv("NT3_EMBEDGEN")), sh.quote(out), sh.quote(root))
    assert.is_true(os.execute(cmd))
    local text = sh.slurp(out)
    local a = text:find('"commands.alpha"', 1, true)
    local z = text:find('"commands.zeta"', 1, true)
    local n = text:find('{"nt3", "lua/nt3/init.lua"', 1, true)
    assert.truthy(a and z and n)
    assert.is_true(a < z and z < n)
    os.execute("touch -d '2001-01-01' " .. sh.quote(out))
    assert.is_true(os.execute(cmd))
    local p = io.popen("stat -c %Y " .. sh.quote(out))
    local mtime = tonumber(p:read("l"))
    p:close()
    assert.is_true(mtime < 1000000000 + 10 * 365 * 86400)
  end)

  it("indexes every built-in command with what its own table says", function()
    local embedded = require "nt3.embedded"
    local index, names = {}, {}
    for _, entry in ipairs(embedded.commands()) do
      index[#index + 1] = entry.name
      local cmd = require("commands." .. entry.name)
      assert.are.same({ name = cmd.name, summary = cmd.summary, aliases = cmd.aliases or {}, hidden = cmd.hidden },
        entry)
      -- and what completion reads of it instead of loading it
      local text = embedded.command_shape(entry.name)
      assert.truthy(text, entry.name)
      local shape = assert(load(text, "=shape", "t", { require = require }))()
      local want = { args = cmd.args, complete = cmd.complete, stop_at_first_arg = cmd.stop_at_first_arg,
        uses_token = cmd.uses_token, format = cmd.format }
      if cmd.flags then
        want.flags = {}
        for i, f in ipairs(cmd.flags) do
          want.flags[i] = { long = f.long, short = f.short, value = f.value, help = f.help, multiple = f.multiple,
            complete = f.complete }
        end
      end
      assert.are.same(want, shape, entry.name)
    end
    for _, mod in ipairs(embedded.list("commands.")) do names[#names + 1] = mod:sub(#"commands." + 1) end
    assert.are.same(names, index)
  end)

  it("writes the command index from each command's table, escaped for C; a table it cannot read fails", function()
    local root = sh.tmpdir()
    os.execute("mkdir -p " .. sh.quote(root .. "/lua/commands"))
    -- a top level that requires modules and calls into them, as commands do
    sh.spit(root .. "/lua/commands/odd.lua", [[
      local cli = require "nt3.cli"
      local x = cli.something("at load")
      return { name = "odd", aliases = { "od", "o-d" }, run = function() return x end,
        summary = 'quotes " and \\ and ??= and \t, and “—”' }
    ]])
    -- flags named through a module (kept as the expression) and made by a
    -- call (unknown at build time: no shape)
    sh.spit(root .. "/lua/commands/named.lua", [[
      local cli = require "nt3.cli"
      return { name = "named", summary = "s", run = print, args = { "a?" },
        flags = { { long = "f", value = "v", complete = require("nt3.cli.registry").FORMATS, help = "h\n\"" } } }
    ]])
    sh.spit(root .. "/lua/commands/made.lua", [[
      local cli = require "nt3.cli"
      return { name = "made", summary = "s", run = print, flags = { { long = "f", help = cli.words("x") } } }
    ]])
    sh.spit(root .. "/main.c", [[
      #include <stdio.h>
      #include "embedded.h"
      int main(void) {
        for (int i = 0; i < nt3_command_count; i++)
          printf("%s|%s|%s|%d|%s\n", nt3_commands[i].name, nt3_commands[i].summary, nt3_commands[i].aliases,
                 nt3_commands[i].hidden, nt3_commands[i].shape ? nt3_commands[i].shape : "NULL");
        return 0;
      }
    ]])
    local gen = ("%s %s %s lua/commands/odd.lua lua/commands/named.lua lua/commands/made.lua"):format(
      sh.quote(os.getenv("NT3_EMBEDGEN")), sh.quote(root .. "/embedded.c"), sh.quote(root))
    assert.is_true(os.execute(gen))
    local cc = ("cc -std=c11 -Werror -Wall -Wtrigraphs -I %s -o %s %s %s"):format(sh.quote(sh.src .. "/src"),
      sh.quote(root .. "/index"), sh.quote(root .. "/embedded.c"), sh.quote(root .. "/main.c"))
    assert.is_true(os.execute(cc))
    local p = io.popen(sh.quote(root .. "/index"))
    assert.are.equal('made|s||0|NULL\n'
      .. 'named|s||0|return {flags={{long="f",value="v",help="h\\\n\\"",complete=require("nt3.cli.registry").FORMATS}},'
      .. 'args={"a?"}}\n'
      .. 'odd|quotes " and \\ and ??= and \t, and “—”|od o-d|0|return {}\n', p:read("a"))
    p:close()
    for file, text, why in ([[
      nameless.lua|return { summary = "s", run = print }|its name must be a string naming the file
      other.lua|return { name = "different", summary = "s", run = print }|its name must be a string naming the file
      quiet.lua|return { name = "quiet", run = print }|its summary must be a string
      aliased.lua|return { name = "aliased", summary = "s", aliases = { "a b" } }|its aliases must be a list of names
      broken.lua|local x = nil; return { name = x.y }|its top level failed
    ]]):gmatch("%s*([^|\n]+)|([^|\n]+)|([^\n]+)") do
      sh.spit(root .. "/lua/commands/" .. file, text)
      local cmd = ("%s %s %s lua/commands/%s 2>%s"):format(sh.quote(os.getenv("NT3_EMBEDGEN")),
        sh.quote(root .. "/bad.c"), sh.quote(root), file, sh.quote(root .. "/err"))
      assert.is_falsy(os.execute(cmd), file)
      local err = sh.slurp(root .. "/err")
      assert.truthy(err:find("lua/commands/" .. file .. ": " .. why, 1, true), err)
      assert.is_nil(sh.slurp(root .. "/bad.c"), file)
    end
  end)

  it("gives embedded chunks their real paths as chunk names", function()
    assert.are.equal("@lua/nt3/json.lua", debug.getinfo(require("nt3.json").encode, "S").source)
    assert.are.equal("@lua/nt3/cli.lua", debug.getinfo(require("nt3.cli").parse, "S").source)
  end)

  it("embeds chunks without the names of locals and upvalues, but with every line", function()
    -- src/embedgen.c, drop_names: interning those names was a large part
    -- of loading a module at start-up
    local json = require "nt3.json"
    assert.is_nil(debug.getlocal(json.encode, 1))
    assert.are.equal("(no name)", (debug.getupvalue(json.encode, 1)))
    local info = debug.getinfo(json.encode, "SL")
    assert.is_true(info.linedefined > 0)
    local src = lines_of(sh.src .. "/lua/nt3/json.lua")
    assert.matches("function", src[info.linedefined])
    local lines = 0
    for _ in pairs(info.activelines) do lines = lines + 1 end
    assert.is_true(lines > 0)
    -- the same module from its source (NT3_LUA_DIR) keeps its names
    local r = sh.run({ "run", sh.script('print((debug.getlocal(require("nt3.json").encode, 1)))') },
      { env = { NT3_LUA_DIR = sh.src .. "/lua" } })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("^%a", r.stdout)
  end)

  it("names the real file and line of an embedded module in a traceback", function()
    local script = sh.script('error("boom")\n')
    local r = sh.run({ "run", script }, { env = { NT3_DEBUG = "1" } })
    assert.are.equal(1, r.code)
    local line = tonumber(r.stderr:match("lua/commands/run%.lua:(%d+):"))
    assert.truthy(line, r.stderr)
    local src = lines_of(sh.src .. "/lua/commands/run.lua")
    assert.matches("chunk%(", src[line])
  end)
end)

describe("module search", function()
  it("has no relative entry in package.path or package.cpath, even when LUA_PATH adds one", function()
    local script = sh.script("print(package.path) print(package.cpath)")
    local r = sh.run({ "run", script }, { env = { LUA_PATH = "./?.lua;;", LUA_CPATH = "./?.so;;" } })
    assert.are.equal(0, r.code, r.stderr)
    for entry in r.stdout:gmatch("[^;\n]+") do
      assert.are.equal("/", entry:sub(1, 1), "relative entry: " .. entry)
    end
  end)

  it("never loads a module from the current directory", function()
    local cwd = sh.tmpdir()
    sh.spit(cwd .. "/planted.lua", "print('PLANTED') return {}")
    os.execute("mkdir " .. sh.quote(cwd .. "/nt3"))
    sh.spit(cwd .. "/nt3/json.lua", "print('PLANTED') return {}")
    local script = sh.script([[
      print(pcall(require, "planted"))
      print(require("nt3.json").pretty ~= nil)
    ]])
    local r = sh.run({ "run", script }, { cwd = cwd })
    assert.are.equal(0, r.code, r.stderr)
    assert.is_nil(r.stdout:find("PLANTED", 1, true))
    assert.matches("^false", r.stdout)
    assert.matches("true\n$", r.stdout)
  end)

  it("prefers the embedded copy to any module of the same name on package.path", function()
    local dir = sh.tmpdir()
    os.execute("mkdir " .. sh.quote(dir .. "/nt3"))
    sh.spit(dir .. "/nt3/cli.lua", "error('shadowed')")
    local r = sh.run({ "--version" }, { env = { LUA_PATH = dir .. "/?.lua;;" } })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("^nt3 version %d+%.%d+%.%d+\n$", r.stdout)
  end)

  it("loads modules from NT3_LUA_DIR instead of the embedded copies", function()
    local dir = sh.tmpdir()
    os.execute("mkdir -p " .. sh.quote(dir .. "/commands") .. " " .. sh.quote(dir .. "/nt3"))
    sh.spit(dir .. "/commands/help.lua", [[
      return { name = "help", summary = "edited", run = function() print("edited help") return 0 end }
    ]])
    sh.spit(dir .. "/nt3/extra.lua", "return { answer = 42 }")
    local r = sh.run({ "help" }, { env = { NT3_LUA_DIR = dir } })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("edited help\n", r.stdout)
    local script = sh.script('print(require("nt3.extra").answer)')
    r = sh.run({ "run", script }, { env = { NT3_LUA_DIR = dir } })
    assert.are.equal("42\n", r.stdout)
  end)

  it("reports a syntax error in NT3_LUA_DIR instead of silently using the embedded copy", function()
    local dir = sh.tmpdir()
    os.execute("mkdir -p " .. sh.quote(dir .. "/commands"))
    sh.spit(dir .. "/commands/help.lua", "return {\n")
    local r = sh.run({ "help" }, { env = { NT3_LUA_DIR = dir } })
    assert.are.equal(1, r.code)
    assert.matches("commands/help.lua:2:", r.stderr, 1, true)
  end)

  it("gives the whole API through require 'nt3', loading each part on first use", function()
    local script = sh.script([[
      local nt3 = require "nt3"
      print(package.loaded["nt3.json"] == nil)
      print(type(nt3.json.encode), type(nt3.env.get), type(nt3.cli.parse), nt3.version)
      print(package.loaded["nt3.json"] ~= nil, nt3.nonsense)
    ]])
    local r = sh.run({ "run", script })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("^true\nfunction\tfunction\tfunction\t%d+%.%d+%.%d+\ntrue\tnil\n$", r.stdout)
  end)
end)

describe("errors", function()
  it("reach the user as one line 'nt3: <message>' and exit 1", function()
    local script = sh.script('error("the thing failed", 0)\n')
    local r = sh.run({ "run", script })
    assert.are.equal(1, r.code)
    assert.are.equal("nt3: the thing failed\n", r.stderr)
    assert.are.equal("", r.stdout)
  end)

  it("show a traceback with NT3_DEBUG=1", function()
    local script = sh.script('local function f() error("deep") end\nf()\n')
    local r = sh.run({ "run", script }, { env = { NT3_DEBUG = "1" } })
    assert.are.equal(1, r.code)
    assert.matches("^nt3: .*script.lua:1: deep\nstack traceback:\n", r.stderr)
    assert.matches("in local 'f'", r.stderr, 1, true)
  end)

  it("never show a traceback without NT3_DEBUG", function()
    local script = sh.script('local t = nil\nprint(t.x)\n')
    local r = sh.run({ "run", script })
    assert.are.equal(1, r.code)
    assert.is_nil(r.stderr:find("traceback", 1, true))
    assert.matches("^nt3: [^\n]*script.lua:2: attempt to index a nil value[^\n]*\n$", r.stderr)
  end)
end)

describe("nt3 run", function()
  it("sets arg as the lua interpreter does", function()
    local script = sh.script('print(arg[0]) print(#arg, arg[1], arg[2]) print(...)')
    local r = sh.run({ "run", script, "one", "--two" })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal(script .. "\n2\tone\t--two\none\t--two\n", r.stdout)
  end)

  it("runs an executable script with a #! line", function()
    local dir = sh.tmpdir()
    local bindir = sh.tmpdir()
    os.execute(("ln -s %s %s"):format(sh.quote(sh.bin), sh.quote(bindir .. "/nt3")))
    local script = dir .. "/hello"
    sh.spit(script, '#!/usr/bin/env -S nt3 run\nprint("hello " .. arg[1])\n')
    os.execute("chmod +x " .. sh.quote(script))
    local r = sh.run({ "x" }, { bin = script, env = { PATH = bindir .. ":/usr/bin:/bin" } })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("hello x\n", r.stdout)
  end)

  it("refuses precompiled bytecode", function()
    local dir = sh.tmpdir()
    sh.spit(dir .. "/chunk.luac", string.dump(load("print('bytecode ran')")))
    local r = sh.run({ "run", dir .. "/chunk.luac" })
    assert.are.equal(1, r.code)
    assert.are.equal("", r.stdout)
    assert.matches("attempt to load a binary chunk", r.stderr, 1, true)
  end)

  it("reports a missing script in one line", function()
    local r = sh.run({ "run", "/nonexistent/script.lua" })
    assert.are.equal(1, r.code)
    assert.matches("^nt3: cannot open /nonexistent/script.lua[^\n]*\n$", r.stderr)
  end)

  it("exits 1, never 0, when a script returns a code an exit status cannot hold", function()
    -- exit(256) would report success: the system keeps only the low 8 bits
    for _, code in ipairs { "256", "512", "-256", "1 << 32", "math.mininteger" } do
      local r = sh.run({ "run", sh.script("return " .. code) })
      assert.are.equal(1, r.code, code)
    end
    assert.are.equal(255, sh.run({ "run", sh.script("return 255") }).code)
  end)

  it("exits with the code given to os.exit", function()
    local r = sh.run({ "run", sh.script("os.exit(7)") })
    assert.are.equal(7, r.code)
  end)
end)

describe("lazy loading", function()
  it("loads no module a command does not use", function()
    local dir = sh.tmpdir()
    local marker = dir .. "/loaded"
    os.execute("mkdir -p " .. sh.quote(dir .. "/nt3"))
    -- a stand-in that only records that it was required
    sh.spit(dir .. "/nt3/json.lua", ("io.open(%q, 'a'):write('json\\n') return {}"):format(marker))
    local r = sh.run({ "--version" }, { env = { NT3_LUA_DIR = dir } })
    assert.are.equal(0, r.code, r.stderr)
    assert.is_nil(sh.slurp(marker))
    -- and the stand-in is really picked up when something does need it
    r = sh.run({ "run", sh.script('require "nt3.json"') }, { env = { NT3_LUA_DIR = dir } })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("json\n", sh.slurp(marker))
  end)
end)

describe("installation", function()
  teardown(sh.cleanup)

  local prefix
  setup(function()
    prefix = sh.tmpdir()
    local build = assert(os.getenv("NT3_BUILD_DIR"), "NT3_BUILD_DIR is not set")
    local ok = os.execute(("cmake --install %s --prefix %s >/dev/null"):format(sh.quote(build), sh.quote(prefix)))
    assert.is_true(ok)
  end)

  -- the manual page as man shows it, wide enough that no line is folded
  local function rendered(page)
    local p = io.popen(("MANWIDTH=250 LANG=C man -l %s 2>&1"):format(sh.quote(page)))
    local text = p:read("a")
    p:close()
    return text
  end

  it("cmake --install puts a working nt3 under the prefix", function()
    local r = sh.run({ "--version" }, { bin = prefix .. "/bin/nt3" })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("^nt3 version ", r.stdout)
  end)

  it("installs nt3(1), made at build time from the command tables: every built-in command and flag", function()
    local page = prefix .. "/share/man/man1/nt3.1"
    local roff = assert(sh.slurp(page), "no share/man/man1/nt3.1")
    -- what `nt3 help --man` prints, built-ins only whoever builds
    assert.are.equal(sh.run({ "help", "--man" }).stdout, roff)
    assert.truthy(roff:match('^%.TH NT3 1 "" "nt3 %d+%.%d+%.%d+" "User Commands"\n'), roff:sub(1, 80))
    local sections = {}
    for name in roff:gmatch("\n%.SH ([^\n]+)") do sections[#sections + 1] = name end
    assert.are.same({ "NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "ENVIRONMENT",
      "FILES", "EXIT STATUS", "SEE ALSO" }, sections)
    -- groff finds nothing to warn about
    local p = io.popen("groff -man -ww -z " .. sh.quote(page) .. " 2>&1")
    assert.are.equal("", p:read("a"))
    p:close()
    local text = rendered(page)
    assert.truthy(text:find("\nNAME\n +nt3 %- command%-line client for the nt3 API\n"), text)
    local cli = require "nt3.cli"
    for _, cmd in ipairs(cli.commands()) do
      if cmd.builtin and not cmd.hidden then
        assert.truthy(text:find("\n   nt3 " .. cmd.name .. " %[options%]"), cmd.name .. " is not in the page")
        for _, f in ipairs(cmd.flags or {}) do
          local tag = (f.short and ("-" .. f.short .. ", ") or "") .. "--" .. f.long .. (f.value and (" " .. f.value) or "")
          assert.truthy(text:find("\n       " .. tag .. "\n", 1, true) or text:find("\n       " .. tag .. " ", 1, true),
            ("%s %s is not in the page"):format(cmd.name, tag))
        end
      end
    end
    for _, name in ipairs({ "NT3_API_TOKEN", "NT3_API_URL", "NT3_PROFILE", "NT3_CONFIG_DIR", "NT3_COMMANDS_PATH",
      "NT3_CA_FILE", "NT3_DEBUG", "NT3_LUA_DIR" }) do
      assert.truthy(text:find("\n       " .. name .. "\n", 1, true), name .. " is not in ENVIRONMENT")
    end
    for _, code in ipairs({ "0", "1", "2", "4", "130" }) do
      assert.truthy(text:find("\n       " .. code .. " +%u"), "exit status " .. code)
    end
    assert.truthy(text:find("~/.nt3/config.json", 1, true))
    assert.truthy(text:find("share/doc/nt3", 1, true))
  end)

  it("installs the bash, zsh and fish completions where each shell looks, as nt3 completion prints them", function()
    for shell, path in pairs({
      bash = "/share/bash-completion/completions/nt3",
      zsh = "/share/zsh/site-functions/_nt3",
      fish = "/share/fish/vendor_completions.d/nt3.fish",
    }) do
      local installed = sh.slurp(prefix .. path)
      assert.truthy(installed, path)
      assert.are.equal(sh.run({ "completion", shell }).stdout, installed, shell)
    end
  end)

  it("installs the docs under share/doc/nt3", function()
    for _, file in ipairs({ "README.md", "LICENSE", "lua-api.md", "writing-commands.md",
      "examples/items-to-csv.lua", "examples/commands/whoami.lua", "types/nt3.lua" }) do
      assert.truthy(sh.slurp(prefix .. "/share/doc/nt3/" .. file), file)
    end
  end)

  it("points help at the installed manual and docs, never at a path of the repository", function()
    local cli = require "nt3.cli"
    for _, cmd in ipairs(cli.commands()) do
      if cmd.builtin then
        local usage = cli.usage(cmd)
        assert.falsy(usage:find("docs/", 1, true), cmd.name .. ":\n" .. usage)
      end
    end
    assert.truthy(sh.run({ "help" }).stdout:find("'man nt3'", 1, true))
  end)
end)

describe("C modules", function()
  -- A Lua C module takes the Lua API from the binary. Were anything else of
  -- the binary exported (lua-cjson's strbuf_* and fpconv_* are linked in),
  -- a module with a function of the same name would call ours instead.
  it("keep their own functions: the binary exports the Lua C API and nothing of its own", function()
    local dir = sh.tmpdir()
    sh.spit(dir .. "/probe.c", [[
      #include <lua.h>
      int fpconv_init(void) { return 42; }
      int luaopen_probe(lua_State *L) {
        lua_pushinteger(L, fpconv_init());
        return 1;
      }
    ]])
    local cmd = ("cc -shared -fPIC -I/usr/include/lua5.4 -o %s %s 2>&1")
      :format(sh.quote(dir .. "/probe.so"), sh.quote(dir .. "/probe.c"))
    assert.is_true(os.execute(cmd), "cc could not build the probe module")
    local r = sh.run({ "run", sh.script([[
      print(assert(package.loadlib(os.getenv("PROBE"), "luaopen_probe"))())
    ]]) }, { env = { PROBE = dir .. "/probe.so" } })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("42\n", r.stdout)
  end)
end)

describe("the built binary", function()
  it("is hardened as Debian's packages are: full RELRO, bound at start, stack protector", function()
    local bin = assert(os.getenv("NT3_BUILD_DIR"), "NT3_BUILD_DIR is not set") .. "/nt3"
    local p = io.popen("readelf -d -s --wide " .. sh.quote(bin) .. " 2>&1")
    local out = p:read("a")
    p:close()
    assert.matches("BIND_NOW", out, 1, true)
    assert.matches("GNU_RELRO", io.popen("readelf -l --wide " .. sh.quote(bin)):read("a"), 1, true)
    assert.matches("__stack_chk_fail", out, 1, true)
  end)

  describe("is not dumpable, so a token in its memory or environment stays there", function()
    teardown(sh.cleanup)

    it("writes no core file when it crashes, even with cores allowed", function()
      local pattern = sh.slurp("/proc/sys/kernel/core_pattern") or ""
      if pattern:sub(1, 1) == "|" then
        pending("core_pattern hands cores to a program; the /proc test below still holds")
        return
      end
      -- the sanitizer build turns core files off itself: test the plain one
      local bin = assert(os.getenv("NT3_BUILD_DIR"), "NT3_BUILD_DIR is not set") .. "/nt3"
      local dir = sh.tmpdir()
      sh.spit(dir .. "/crash.lua", 'os.execute("kill -SEGV " .. require("nt3.env").pid())\n')
      local script = ("cd %s && ulimit -c unlimited && exec %s run crash.lua"):format(sh.quote(dir), sh.quote(bin))
      local ok, how, sig = os.execute("sh -c " .. sh.quote(script) .. " 2>/dev/null")
      assert.is_falsy(ok)
      assert.are.equal("exit", how) -- sh reports the signal as 128 + N
      assert.are.equal(128 + 11, sig)
      local p = io.popen("ls -A " .. sh.quote(dir))
      local files = p:read("a")
      p:close()
      assert.are.equal("crash.lua\n", files)
    end)

    it("does not let another process of the same user read its environment", function()
      -- The reader and nt3 run as one non-root user: root could read anything.
      local uid = io.popen("id -u"):read("l")
      local as_user = uid == "0" and "setpriv --reuid=65534 --regid=65534 --clear-groups " or ""
      local want_uid = uid == "0" and "65534" or uid
      local dir = sh.tmpdir()
      os.execute("chmod 0755 " .. sh.quote(dir) .. " && mkfifo -m 0666 " .. sh.quote(dir .. "/go"))
      -- a copy the other user can run wherever the checkout is (a build
      -- tree under /root is closed to it)
      local bin = dir .. "/nt3"
      assert(os.execute(("cp %s %s && chmod 0755 %s"):format(sh.quote(sh.bin), sh.quote(bin), sh.quote(bin))))
      -- nt3 prints its pid, then waits until the test writes to the fifo
      sh.spit(dir .. "/wait.lua", ([[
print(require("nt3.env").pid())
io.stdout:flush()
local f = io.open(%q)
if f then f:read("l") f:close() end
]]):format(dir .. "/go"))
      local env = sh.environment({ home = dir, env = { NT3_API_TOKEN = "entri_canary_in_environ" } })
      local assign = {}
      for k, v in pairs(env) do assign[#assign + 1] = k .. "=" .. sh.quote(v) end
      local p = io.popen(("%senv -i %s %s run %s"):format(as_user, table.concat(assign, " "),
        sh.quote(bin), sh.quote(dir .. "/wait.lua")))
      local pid = p:read("l")
      local owner, environ
      if pid then
        owner = io.popen("stat -c %u /proc/" .. pid .. "/environ"):read("l")
        environ = io.popen(as_user .. "cat /proc/" .. pid .. "/environ 2>/dev/null"):read("a")
      end
      -- (the fifo has no reader when nt3 did not start: opening it would hang)
      if pid then sh.spit(dir .. "/go", "\n") end
      p:close()
      assert.truthy(pid and pid:match("^%d+$"), "nt3 did not start")
      assert.are_not.equal(want_uid, owner, "/proc/" .. pid .. "/environ belongs to the user: nt3 is dumpable")
      assert.are.equal("", environ)
    end)
  end)
end)

describe("the Lua allocator", function()
  -- blocks of 2 MB or more are mappings of their own (src/bigmem.c,
  -- docs/architecture.md, "Large blocks"); this spec runs in the binary,
  -- so its strings and tables are allocated by it
  local MB = 1024 * 1024
  local cycle = {}
  for i = 0, 250 do cycle[#cycle + 1] = string.char(i) end
  cycle = table.concat(cycle)

  it("keeps strings whole that are made past 2 MB at once and by growing", function()
    for _, n in ipairs { 2 * MB - 1, 2 * MB, 2 * MB + 1, 3 * MB + 7, 10 * MB } do
      local once = cycle:rep(n // 251 + 1):sub(1, n)   -- one buffer of the whole size
      local parts = {}
      for i = 1, n // 251 + 1 do parts[i] = cycle end
      local grown = table.concat(parts):sub(1, n)      -- a buffer that doubles past 2 MB
      assert.are.equal(n, #once)
      assert.is_true(once == grown, "strings of " .. n .. " bytes differ")
      assert.are.equal(cycle:sub(1, 20), once:sub(1, 20))
      local tail = (n - 20) % 251
      assert.are.equal(cycle:rep(2):sub(tail + 1, tail + 20), once:sub(-20))
    end
  end)

  it("keeps a table's values while its array grows past 2 MB, and when it shrinks below", function()
    local t = {}
    local n = 400000 -- an array of 16-byte values: 6.4 MB, grown 2 MB -> 4 MB -> 8 MB
    for i = 1, n do t[i] = i * 3 end
    for i = 1, n do
      if t[i] ~= i * 3 then error(("t[%d] is %s after growing"):format(i, tostring(t[i]))) end
    end
    -- most of it cleared; a new key rehashes the table, whose array then
    -- shrinks to what is left (a copy out of the large block)
    for i = n, 1001, -1 do t[i] = nil end
    t.key = "value"
    collectgarbage()
    for i = 1, 1000 do
      if t[i] ~= i * 3 then error(("t[%d] is %s after shrinking"):format(i, tostring(t[i]))) end
    end
    assert.is_nil(t[1001])
    assert.are.equal("value", t.key)
    -- and grows again, past the bound once more
    for i = 1001, n do t[i] = -i end
    assert.are.equal(-n, t[n])
    assert.are.equal(3000, t[1000])
  end)

  it("puts a string of 2 MB or more in a mapping aligned to 2 MB and advised to use 2 MB pages", function()
    if sh.bin:find("asan", 1, true) then
      -- the ASan build keeps malloc for every size, so that ASan still sees
      -- every overflow and leak (src/bigmem.c): nothing of the kind to check
      return
    end
    local s = cycle:rep(3 * MB // 251)
    local addr = tonumber(string.format("%p", s):match("^0x(%x+)$"), 16)
    assert.are.equal(0, addr % (2 * MB), "the string is not 2 MB aligned")
    local found, flags
    for line in io.lines("/proc/self/smaps") do
      local from, to = line:match("^(%x+)%-(%x+) ")
      if from then
        found = tonumber(from, 16) <= addr and addr < tonumber(to, 16)
      elseif found and line:match("^VmFlags:") then
        flags = line
        break
      end
    end
    assert.truthy(flags, "no mapping holds the string")
    -- the advice needs a kernel with transparent huge pages
    local thp = io.open("/sys/kernel/mm/transparent_hugepage/enabled")
    if thp then
      thp:close()
      assert.matches(" hg", flags)
    end
    assert.are.equal(#s, 3 * MB // 251 * 251)
  end)

  it("keeps the free top of malloc's heap rather than giving it back and faulting it in again", function()
    if sh.bin:find("asan", 1, true) then
      -- ASan's allocator is not glibc's, and nt3_mem_init leaves it alone
      return
    end
    -- 100 rounds that each make and free 1 MB of strings: glibc's default
    -- gives the heap's top back (brk) in most rounds (58 calls), nt3 keeps
    -- it (src/bigmem.c, nt3_mem_init: 4 calls, all at start)
    local auth = require "helpers.auth_util"
    local script = sh.script([[
      for _ = 1, 100 do
        local t = {}
        for i = 1, 2000 do t[i] = ("x"):rep(500) .. i end
        t = nil
        collectgarbage()
      end
    ]])
    local trace = sh.tmpdir() .. "/trace"
    local out = sh.run({ "run", script },
      { bin = auth.wrapped("strace -f -qq -e trace=brk -o " .. sh.quote(trace)), env = auth.traced() })
    assert.are.equal(0, out.code, out.stderr)
    local n = 0
    for _ in io.lines(trace) do n = n + 1 end
    assert.is_true(n > 0 and n <= 10, n .. " brk calls")
  end)
end)
