-- nt3 completion bash|zsh|fish: generated from the registry, user commands included.
local sh = require "helpers.sh"
local uc = require "helpers.usercmd"

local HELLO = [[
return {
  name = "hello", aliases = { "hi" },
  summary = "It's [really] fancy: hello",
  flags = {
    { short = "n", long = "name", value = "who", help = "Whom to greet" },
    { long = "shout", help = "Greet loudly" },
  },
  run = function() end,
}
]]

-- Asks the generated bash script what it completes `words` to (the last
-- word is the one under the cursor), as bash does on <Tab>.
local function bash_complete(script, cwd, words)
  local path = sh.tmpdir() .. "/nt3.bash"
  sh.spit(path, script)
  local driver = [[source "$1" || exit 9; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _nt3;]]
    .. [[ printf '%s\n' "${COMPREPLY[@]}" | LC_ALL=C sort]]
  local parts = { "cd", sh.quote(cwd or sh.tmpdir()), "&& bash -c", sh.quote(driver), "_", sh.quote(path) }
  for _, w in ipairs(words) do parts[#parts + 1] = sh.quote(w) end
  local p = io.popen(table.concat(parts, " ") .. " 2>&1")
  local out = p:read("a")
  p:close()
  local list = {}
  for line in out:gmatch("[^\n]+") do list[#list + 1] = line end
  return list
end

local function has_line(text, line)
  for l in text:gmatch("[^\n]+") do
    if l == line then return true end
  end
  return false
end

describe("nt3 completion", function()
  teardown(sh.cleanup)

  local home
  setup(function() home = uc.home({ ["hello.lua"] = HELLO }) end)

  local function generate(shell)
    local out = sh.run({ "completion", shell }, { home = home })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal("", out.stderr)
    return out.stdout
  end

  describe("bash", function()
    local script
    setup(function() script = generate("bash") end)

    it("completes command names: built-in, user commands and their aliases", function()
      assert.are.same({ "hello", "help", "hi" }, bash_complete(script, nil, { "nt3", "h" }))
      assert.are.same({ "completion" }, bash_complete(script, nil, { "nt3", "com" }))
    end)

    it("completes a user command's flags", function()
      assert.are.same({ "--name" }, bash_complete(script, nil, { "nt3", "hello", "--n" }))
      assert.are.same({ "--help", "--name", "--shout", "-h", "-n" }, bash_complete(script, nil, { "nt3", "hi", "-" }))
    end)

    it("completes file names after a flag that takes a value, and not after a boolean flag", function()
      local cwd = uc.dir({ ["data.json"] = "{}", ["deck.txt"] = "" })
      assert.are.same({ "data.json", "deck.txt" }, bash_complete(script, cwd, { "nt3", "hello", "--name", "d" }))
      assert.are.same({ "data.json", "deck.txt" }, bash_complete(script, cwd, { "nt3", "hello", "-n", "d" }))
      assert.are.same({ "--shout" }, bash_complete(script, cwd, { "nt3", "hello", "--shout", "--s" }))
    end)

    it("completes command names after help, and shells after completion", function()
      assert.are.same({ "hello", "help", "hi" }, bash_complete(script, nil, { "nt3", "help", "h" }))
      assert.are.same({ "bash", "fish", "zsh" }, bash_complete(script, nil, { "nt3", "completion", "" }))
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

  describe("zsh", function()
    it("describes every command, user commands included, with its summary quoted for zsh", function()
      local script = generate("zsh")
      assert.are.equal("#compdef nt3\n", script:match("^[^\n]*\n"))
      assert.truthy(has_line(script, [[    'hello:It'\''s \[really\] fancy\: hello']]), script)
      assert.truthy(has_line(script, [[    'hi:It'\''s \[really\] fancy\: hello']]), script)
      assert.truthy(has_line(script, [[    'completion:Print a shell completion script (bash, zsh or fish)']]), script)
    end)

    it("gives each command its flags as _arguments specs", function()
      local script = generate("zsh")
      assert.truthy(has_line(script, "    (hello|hi)"), script)
      assert.truthy(has_line(script, [[        '(-n --name)'{-n,--name}'[Whom to greet]:who:_files' \]]), script)
      assert.truthy(has_line(script, [[        '--shout[Greet loudly]' \]]), script)
      assert.truthy(has_line(script, [[        '*:argument:(bash zsh fish)']]), script)
    end)
  end)

  describe("fish", function()
    it("offers every command with its summary, quoted for fish", function()
      local script = generate("fish")
      assert.truthy(has_line(script,
        [[complete -c nt3 -n __fish_use_subcommand -a hello -d 'It\'s [really] fancy: hello']]), script)
      assert.truthy(has_line(script,
        [[complete -c nt3 -n __fish_use_subcommand -a hi -d 'It\'s [really] fancy: hello']]), script)
    end)

    it("offers a command's flags only after that command", function()
      local script = generate("fish")
      assert.truthy(has_line(script,
        [[complete -c nt3 -n '__fish_seen_subcommand_from hello hi' -s n -l name -r -F -d 'Whom to greet']]), script)
      assert.truthy(has_line(script,
        [[complete -c nt3 -n '__fish_seen_subcommand_from hello hi' -l shout -d 'Greet loudly']]), script)
    end)
  end)

  it("refuses an unknown shell with exit 2 and the usage", function()
    local out = sh.run({ "completion", "tcsh" }, { home = home })
    assert.are.equal(2, out.code)
    assert.are.equal("", out.stdout)
    assert.truthy(out.stderr:match('^nt3: unsupported shell "tcsh" %(choose one of: bash, zsh, fish%)\n'), out.stderr)
    assert.truthy(out.stderr:find("Usage: nt3 completion", 1, true))
  end)
end)
