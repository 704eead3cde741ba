-- nt3 completion bash|zsh|fish: generated from the registry, user commands included.
local sh = require "helpers.sh"
local uc = require "helpers.usercmd"
local complete = require "helpers.complete"

local HELLO = [[
return {
  name = "hello", aliases = { "hi" },
  summary = "It's [really] fancy: hello",
  flags = {
    { short = "n", long = "name", value = "who", help = "Whom to greet" },
    { long = "shout", help = "Greet loudly" },
    { short = "o", long = "output", value = "file", help = "Write the greeting to a file" },
  },
  run = function() end,
}
]]

-- a user command that returns rows: it takes --format and --columns
local LIST = [[
return { name = "list", summary = "Some rows", format = true, run = function() return {} end }
]]

-- a user command whose own words include some a shell would run, were they
-- pasted into a script unquoted
local DEPLOY = [[
return {
  name = "deploy",
  summary = "Deploy somewhere",
  args = { "target" },
  complete = { "staging", "prod", "$(touch pwned)", "(touch pwned)", "`touch pwned`", "a;touch pwned" },
  run = function() end,
}
]]

describe("nt3 completion", function()
  teardown(sh.cleanup)

  local home, cwd
  setup(function()
    home = uc.home({ ["hello.lua"] = HELLO, ["deploy.lua"] = DEPLOY, ["list.lua"] = LIST })
    -- two profiles, which --profile completes to
    sh.spit(home .. "/.nt3/config.json", '{"profiles": {"staging": {"token": "entri_staging_0000001"},'
      .. ' "work": {"token": "entri_work_00000000001"}}}')
    uc.chmod("600", home .. "/.nt3/config.json")
    cwd = uc.dir({ ["data.json"] = "{}", ["deck.txt"] = "" })
  end)

  local function generate(shell)
    local out = sh.run({ "completion", shell }, { home = home })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal("", out.stderr)
    return out.stdout
  end

  -- what `shell` completes each line to, asked in one session
  local function ask(shell, lines, opts)
    opts = opts or {}
    local results, transcript = complete[shell](generate(shell), lines,
      { home = home, cwd = opts.cwd or cwd, install = opts.install })
    for _, line in ipairs(lines) do
      assert(results[line], ("%s never completed %q:\n%s"):format(shell, line, transcript or ""))
    end
    return results
  end

  local function words(shell, line) return ask(shell, { line })[line].words end

  describe("bash", function()
    it("completes command names: built-in, user commands and their aliases", function()
      assert.are.same({ "hello", "help", "hi" }, words("bash", "nt3 h"))
      assert.are.same({ "completion" }, words("bash", "nt3 com"))
      assert.are.same({ "repl", "run" }, words("bash", "nt3 r"))
      assert.are.same({ "--help", "--version" }, words("bash", "nt3 --"))
    end)

    it("completes a user command's flags", function()
      assert.are.same({ "--name" }, words("bash", "nt3 hello --n"))
      assert.are.same({ "--help", "--name", "--output", "--profile", "--shout", "-h", "-n", "-o" }, words("bash", "nt3 hi -"))
    end)

    it("completes file names after a flag whose value is a file, and not after a boolean flag", function()
      assert.are.same({ "data.json", "deck.txt" }, words("bash", "nt3 hello --output d"))
      assert.are.same({ "data.json", "deck.txt" }, words("bash", "nt3 hello -o d"))
      assert.are.same({ "--shout" }, words("bash", "nt3 hello --shout --s"))
    end)

    it("completes command names after help, and shells after completion", function()
      assert.are.same({ "hello", "help", "hi" }, words("bash", "nt3 help h"))
      assert.are.same({ "bash", "fish", "zsh" }, words("bash", "nt3 completion "))
    end)

    it("leaves out a user command that is not trusted", function()
      local h, dir = uc.home({ ["hello.lua"] = HELLO })
      uc.chmod("777", dir)
      local out = sh.run({ "completion", "bash" }, { home = h })
      assert.are.equal(0, out.code)
      assert.falsy(out.stdout:find("hello", 1, true))
      assert.truthy(out.stderr:find("writable by group or others", 1, true))
    end)
  end)

  -- a real interactive zsh on a pseudo-terminal, compinit loaded, <Tab> pressed
  describe("zsh", function()
    it("completes command names: built-in, user commands and their aliases, each with its summary", function()
      local r = ask("zsh", { "nt3 h", "nt3 com", "nt3 -" })
      assert.are.same({ "hello", "help", "hi" }, r["nt3 h"].words)
      assert.truthy(tostring(r["nt3 h"].about.hello):find("-- It's [really] fancy: hello", 1, true), r["nt3 h"].about.hello)
      assert.truthy(tostring(r["nt3 h"].about.hi):find("-- It's [really] fancy: hello", 1, true), r["nt3 h"].about.hi)
      assert.are.same({ "completion" }, r["nt3 com"].words)
      assert.truthy(tostring(r["nt3 com"].about.completion):find("-- Print a shell completion script (bash, zsh or fish)",
        1, true))
      assert.are.same({ "--help", "--version", "-h", "-v" }, r["nt3 -"].words)
    end)

    it("completes a user command's flags, with their help, and not one already given", function()
      local r = ask("zsh", { "nt3 hello --n", "nt3 hi -", "nt3 hello --shout --" })
      assert.are.same({ "--name" }, r["nt3 hello --n"].words)
      assert.are.same({ "--help", "--name", "--output", "--profile", "--shout", "-h", "-n", "-o" }, r["nt3 hi -"].words)
      assert.truthy(tostring(r["nt3 hi -"].about["--name"]):find("-- Whom to greet", 1, true))
      assert.truthy(tostring(r["nt3 hi -"].about["--shout"]):find("-- Greet loudly", 1, true))
      assert.are.same({ "--help", "--name", "--output", "--profile" }, r["nt3 hello --shout --"].words)
    end)

    it("completes file names for a flag's value that is a file, after it, joined to it or after =", function()
      local lines = { "nt3 hello --output d", "nt3 hello -o d", "nt3 hello -od", "nt3 hello --output=d" }
      local r = ask("zsh", lines)
      for _, line in ipairs(lines) do
        assert.are.same({ "data.json", "deck.txt" }, r[line].words, line)
      end
    end)

    it("completes command names after help, and a shell after completion, only once", function()
      local r = ask("zsh", { "nt3 help h", "nt3 completion ", "nt3 completion bash ", "nt3 hello d" })
      assert.are.same({ "hello", "help", "hi" }, r["nt3 help h"].words)
      assert.are.same({ "bash", "fish", "zsh" }, r["nt3 completion "].words)
      -- completion takes one shell, hello no argument: no more words, no files
      assert.are.same({ "--help", "--profiles", "-h" }, r["nt3 completion bash "].words)
      assert.are.same({}, r["nt3 hello d"].words)
    end)

    it("offers run's flags before the script only: after it, every word is the script's", function()
      local r = ask("zsh", { "nt3 run -", "nt3 run x.lua -", "nt3 api /x --no-p" })
      assert.are.same({ "--help", "--no-progress", "--profile", "-h" }, r["nt3 run -"].words)
      assert.are.same({ "--no-progress" }, r["nt3 api /x --no-p"].words)
      assert.are.same({}, r["nt3 run x.lua -"].words)
    end)

    it("works saved as _nt3 on $fpath and autoloaded by compinit, as the install line says", function()
      local r = ask("zsh", { "nt3 h", "nt3 hello --n", "nt3 completion " }, { install = "fpath" })
      assert.are.same({ "hello", "help", "hi" }, r["nt3 h"].words)
      assert.are.same({ "--name" }, r["nt3 hello --n"].words)
      assert.are.same({ "bash", "fish", "zsh" }, r["nt3 completion "].words)
    end)
  end)

  describe("fish", function()
    it("completes command names: built-in, user commands and their aliases, each with its summary", function()
      local r = ask("fish", { "nt3 h", "nt3 com", "nt3 -", "nt3 rep" })
      assert.are.same({ "hello", "help", "hi" }, r["nt3 h"].words)
      assert.are.equal("It's [really] fancy: hello", r["nt3 h"].about.hello)
      assert.are.equal("It's [really] fancy: hello", r["nt3 h"].about.hi)
      assert.are.same({ "completion" }, r["nt3 com"].words)
      assert.are.equal("Print a shell completion script (bash, zsh or fish)", r["nt3 com"].about.completion)
      assert.are.equal("An interactive Lua prompt with the nt3 API loaded", r["nt3 rep"].about.repl)
      assert.are.same({ "--help", "--version", "-h", "-v" }, r["nt3 -"].words)
    end)

    it("completes a user command's flags, with their help", function()
      local r = ask("fish", { "nt3 hello --n", "nt3 hi -" })
      assert.are.same({ "--name" }, r["nt3 hello --n"].words)
      assert.are.same({ "--help", "--name", "--output", "--profile", "--shout", "-h", "-n", "-o" }, r["nt3 hi -"].words)
      assert.are.equal("Whom to greet", r["nt3 hi -"].about["--name"])
      assert.are.equal("Greet loudly", r["nt3 hi -"].about["--shout"])
    end)

    it("completes file names for a flag's value that is a file, after it or after =", function()
      local r = ask("fish", { "nt3 hello --output d", "nt3 hello -o d", "nt3 hello --output=d", "nt3 completion d" })
      assert.are.same({ "data.json", "deck.txt" }, r["nt3 hello --output d"].words)
      assert.are.same({ "data.json", "deck.txt" }, r["nt3 hello -o d"].words)
      assert.are.same({ "--output=data.json", "--output=deck.txt" }, r["nt3 hello --output=d"].words)
      -- completion takes a shell name, never a file
      assert.are.same({}, r["nt3 completion d"].words)
    end)

    it("completes command names after help, and shells after completion", function()
      local r = ask("fish", { "nt3 help h", "nt3 completion " })
      assert.are.same({ "hello", "help", "hi" }, r["nt3 help h"].words)
      assert.are.same({ "bash", "fish", "zsh" }, r["nt3 completion "].words)
    end)

    it("works saved to ~/.config/fish/completions/nt3.fish, as the install line says", function()
      local r = ask("fish", { "nt3 h", "nt3 hello --n", "nt3 completion " }, { install = "config" })
      assert.are.same({ "hello", "help", "hi" }, r["nt3 h"].words)
      assert.are.same({ "--name" }, r["nt3 hello --n"].words)
      assert.are.same({ "bash", "fish", "zsh" }, r["nt3 completion "].words)
    end)

    it("offers the flags of the command itself, not of a command named as its argument", function()
      local r = ask("fish", { "nt3 help hello -" })
      assert.are.same({ "--help", "--man", "-h" }, r["nt3 help hello -"].words)
      assert.are.equal("Show help for help", r["nt3 help hello -"].about["--help"])
    end)
  end)

  for _, shell in ipairs({ "bash", "zsh", "fish" }) do
    it(("offers a user command's own words in %s, leaving out any the shell would run"):format(shell), function()
      local dir = sh.tmpdir()
      assert.are.same({ "prod", "staging" }, ask(shell, { "nt3 deploy " }, { cwd = dir })["nt3 deploy "].words)
      assert.is_nil(sh.slurp(dir .. "/pwned"))
    end)
  end

  -- a token, a URL, a name: nothing on disk is one
  for _, shell in ipairs({ "bash", "zsh", "fish" }) do
    it(("offers no file names after -t/--token, -u or a value that is no file, in %s"):format(shell), function()
      local lines = { "nt3 login -t d", "nt3 login --token d", "nt3 auth -u d", "nt3 status --profile d",
        "nt3 hello --name d", "nt3 hello -n d" }
      local r = ask(shell, lines)
      for _, line in ipairs(lines) do assert.are.same({}, r[line].words, line) end
    end)

    it(("offers the profiles' names after --profile, asked of nt3 as it completes, in %s"):format(shell), function()
      local r = ask(shell, { "nt3 status --profile ", "nt3 api --profile s", "nt3 login --profile w" })
      assert.are.same({ "staging", "work" }, r["nt3 status --profile "].words)
      assert.are.same({ "staging" }, r["nt3 api --profile s"].words)
      assert.are.same({ "work" }, r["nt3 login --profile w"].words)
    end)

    it(("offers the API's path, never local files, for nt3 api's path, in %s"):format(shell), function()
      local r = ask(shell, { "nt3 api d", "nt3 api ", "nt3 api -X GET /a" })
      assert.are.same({}, r["nt3 api d"].words)
      assert.are.same({ "/api/v1/" }, r["nt3 api "].words)
      assert.are.same({ "/api/v1/" }, r["nt3 api -X GET /a"].words)
    end)

    it(("offers the HTTP methods after -X and --method, in %s"):format(shell), function()
      local r = ask(shell, { "nt3 api -X ", "nt3 api --method P", "nt3 api /x -X D" })
      assert.are.same({ "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT" }, r["nt3 api -X "].words)
      assert.are.same({ "PATCH", "POST", "PUT" }, r["nt3 api --method P"].words)
      assert.are.same({ "DELETE" }, r["nt3 api /x -X D"].words)
    end)

    it(("offers --format and --columns, and the formats, for nt3 api and a command with format = true, in %s")
      :format(shell), function()
      local r = ask(shell, { "nt3 api /x --for", "nt3 api --format ", "nt3 list --co", "nt3 list --format c" })
      assert.are.same({ "--format" }, r["nt3 api /x --for"].words)
      assert.are.same({ "csv", "json", "ndjson", "table" }, r["nt3 api --format "].words)
      assert.are.same({ "--columns" }, r["nt3 list --co"].words)
      assert.are.same({ "csv" }, r["nt3 list --format c"].words)
    end)

    it(("completes run's script to Lua files and directories, in %s"):format(shell), function()
      local dir = uc.dir({ ["report.lua"] = "", ["readme.txt"] = "", ["rates.json"] = "" })
      uc.dir({ ["inner.lua"] = "" }, dir .. "/reports")
      local r = ask(shell, { "nt3 run r", "nt3 run --profile w r" }, { cwd = dir })
      for _, line in ipairs({ "nt3 run r", "nt3 run --profile w r" }) do
        local got = {}
        for i, w in ipairs(r[line].words) do got[i] = w:gsub("/$", "") end
        assert.are.same({ "report.lua", "reports" }, got, line)
      end
    end)
  end

  it("completes any file after run's script, in bash: the words are the script's", function()
    local dir = uc.dir({ ["report.lua"] = "", ["rates.json"] = "" })
    assert.are.same({ "rates.json", "report.lua" }, ask("bash", { "nt3 run report.lua r" }, { cwd = dir })
      ["nt3 run report.lua r"].words)
  end)

  it("refuses an unknown shell with exit 2 and the usage", function()
    local out = sh.run({ "completion", "tcsh" }, { home = home })
    assert.are.equal(2, out.code)
    assert.are.equal("", out.stdout)
    assert.truthy(out.stderr:match('^nt3: unsupported shell "tcsh" %(choose one of: bash, zsh, fish%)\n'), out.stderr)
    assert.truthy(out.stderr:find("Usage: nt3 completion", 1, true))
  end)

  describe("install lines", function()
    local readme = assert(sh.slurp(sh.src .. "/README.md"))
    local section = assert(readme:match("\n## Shell completion\n(.-)\n## "))

    -- the help's examples, without their trailing comments
    local function examples()
      local help = sh.run({ "completion", "--help" }, { home = home }).stdout
      local list = {}
      for line in assert(help:match("\nExamples:\n(.*)$"), help):gmatch("  ([^\n]+)") do
        list[#list + 1] = (line:gsub("%s+#.*$", ""))
      end
      return list, help
    end

    it("write only to directories the user owns, creating them first", function()
      local list, help = examples()
      assert.falsy(help:find("fpath[1]", 1, true), help)
      assert.truthy(help:find("mkdir -p ~/.zfunc && nt3 completion zsh > ~/.zfunc/_nt3", 1, true), help)
      assert.truthy(help:find("mkdir -p ~/.config/fish/completions && nt3 completion fish > "
        .. "~/.config/fish/completions/nt3.fish", 1, true), help)
      assert.are.equal(3, #list)
      for _, shell in ipairs { "zsh", "fish" } do
        local script = generate(shell)
        local header = script:match("^(.-)\n[^#]")
        assert.falsy(header:find("fpath[1]", 1, true), header)
        for _, line in ipairs(list) do
          if line:find("completion " .. shell, 1, true) then
            assert.truthy(header:find(line, 1, true), ("%s's header lacks %q:\n%s"):format(shell, line, header))
          end
        end
      end
    end)

    it("are the ones the README's Shell completion section gives", function()
      for _, line in ipairs((examples())) do
        assert.truthy(section:find(line, 1, true), ("README lacks %q"):format(line))
      end
    end)
  end)
end)
