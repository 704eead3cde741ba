-- docs/examples, docs/writing-commands.md and the README's examples, run as a
-- user would run them, against the loopback test server.
local sh = require "helpers.sh"
local pty = require "helpers.pty"
local uc = require "helpers.usercmd"
local at = require "helpers.apitest"
local server = require "helpers.server"

local EXAMPLES = sh.src .. "/docs/examples"

-- A directory holding `nt3` (a link to the binary under test), for PATH:
-- the tutorial and `#!/usr/bin/env -S nt3 run` find nt3 there.
local function bin_dir()
  local d = sh.tmpdir()
  assert(os.execute(("ln -s %s %s/nt3"):format(sh.quote(sh.bin), sh.quote(d))))
  return d
end

local function install(home, files)
  local dir = home .. "/.nt3/commands"
  uc.dir({}, home .. "/.nt3")
  uc.dir({}, dir)
  for _, f in ipairs(files) do
    assert(os.execute(("cp %s %s/ && chmod 644 %s/%s"):format(sh.quote(EXAMPLES .. "/commands/" .. f),
      sh.quote(dir), sh.quote(dir), f)))
  end
end

describe("docs/examples", function()
  local srv
  setup(function() srv = server.start { tls = false } end)
  teardown(function()
    srv.stop()
    sh.cleanup()
  end)

  describe("commands/whoami.lua", function()
    it("shows the account of the active token", function()
      local home = sh.tmpdir()
      install(home, { "whoami.lua" })
      local out = at.nt3(srv, { "whoami" }, { home = home })
      assert.are.equal("", out.stderr)
      assert.are.equal(0, out.code)
      assert.are.equal("Dev <dev@example.com>\nid: u_1\n", out.stdout)
      out = at.nt3(srv, { "whoami", "--json" }, { home = home })
      assert.are.same({ id = "u_1", email = "dev@example.com", name = "Dev" }, at.decode(out.stdout))
    end)

    it("fails with the server's message for a rejected token, and exit 4 when not logged in", function()
      local home = sh.tmpdir()
      install(home, { "whoami.lua" })
      local out = at.nt3(srv, { "whoami" }, { home = home, env = { NT3_API_TOKEN = "entri_revoked" } })
      assert.are.equal(1, out.code)
      assert.are.equal("nt3: invalid token (HTTP 401)\n", out.stderr)
      out = sh.run({ "whoami" }, { home = home, env = { NT3_API_URL = srv.url } })
      assert.are.equal(4, out.code)
      assert.truthy(out.stderr:find("not logged in", 1, true), out.stderr)
    end)
  end)

  describe("export-projects.lua", function()
    local EXPECTED = table.concat({
      "id,name,owner,tasks", "p_1,Apollo,dev@example.com,3", "p_2,Borealis,dev@example.com,6",
      'p_3,"Caravel, Ltd",dev@example.com,9', "p_4,Dune,dev@example.com,12",
      'p_5,"Echo ""Park""",dev@example.com,15', "p_6,Fjord,dev@example.com,18",
      "p_7,Gemini,dev@example.com,21", "" }, "\r\n")

    local function stats(reset)
      local http = require "nt3.http"
      local res = assert(http.request { url = srv.url .. "/_stats" .. (reset and "?reset=1" or "") })
      return require("nt3.json").decode(res.body)
    end

    it("pages through the list and fetches the details side by side, in the list's order", function()
      local dir = sh.tmpdir()
      stats(true)
      local out = at.nt3(srv, { "run", EXAMPLES .. "/export-projects.lua", dir .. "/projects.csv" })
      assert.are.equal(0, out.code, out.stderr)
      assert.are.equal("", out.stderr)
      assert.are.equal(EXPECTED, sh.slurp(dir .. "/projects.csv"))
      local s = stats()
      assert.is_true(s.max_in_flight > 1, "details were fetched one at a time")
      local pages = 0
      for _, r in ipairs(at.requests_to(srv, "/api/v1/projects")) do
        if not r.path:find("^/api/v1/projects/") then pages = pages + 1 end
      end
      assert.are.equal(3, pages)
    end)

    it("never has more detail requests in flight than --concurrency", function()
      stats(true)
      local out = at.nt3(srv, { "run", EXAMPLES .. "/export-projects.lua", "--concurrency", "2" })
      assert.are.equal(0, out.code, out.stderr)
      assert.are.equal(EXPECTED, out.stdout)
      assert.are.equal(2, stats().max_in_flight)
    end)
  end)

  describe("items-to-csv.lua", function()
    local EXPECTED = "id,name\r\nitem_1,Item 1\r\nitem_2,Item 2\r\nitem_3,Item 3\r\nitem_4,Item 4\r\nitem_5,Item 5\r\n"

    it("pages through /api/v1/items and writes every item to a CSV file", function()
      local dir = sh.tmpdir()
      local before = #at.requests_to(srv, "/api/v1/items")
      local out = at.nt3(srv, { "run", EXAMPLES .. "/items-to-csv.lua", dir .. "/items.csv", "--per-page", "2" })
      assert.are.equal(0, out.code, out.stderr)
      assert.are.equal("wrote 5 items to " .. dir .. "/items.csv\n", out.stderr)
      assert.are.equal(EXPECTED, sh.slurp(dir .. "/items.csv"))
      -- five items, two a page: three requests
      local got = at.requests_to(srv, "/api/v1/items")
      assert.are.equal(before + 3, #got)
      assert.truthy(got[#got].path:find("page=3", 1, true), got[#got].path)
    end)

    it("runs as an executable file through #!/usr/bin/env -S nt3 run", function()
      local dir = sh.tmpdir()
      local script = dir .. "/items-to-csv.lua"
      assert(os.execute(("cp %s %s && chmod 755 %s"):format(sh.quote(EXAMPLES .. "/items-to-csv.lua"),
        sh.quote(script), sh.quote(script))))
      local out = sh.run({ "--columns", "name", "--per-page", "4" }, {
        bin = script, cwd = dir,
        env = at.env(srv, { PATH = bin_dir() .. ":" .. os.getenv("PATH") }),
      })
      assert.are.equal(0, out.code, out.stderr)
      assert.are.equal("name\r\nItem 1\r\nItem 2\r\nItem 3\r\nItem 4\r\nItem 5\r\n", out.stdout)
    end)

    it("has --help and usage errors like a command", function()
      local out = at.nt3(srv, { "run", EXAMPLES .. "/items-to-csv.lua", "--help" })
      assert.are.equal(0, out.code)
      assert.truthy(out.stdout:find("--per-page <n>", 1, true), out.stdout)
      out = at.nt3(srv, { "run", EXAMPLES .. "/items-to-csv.lua", "--pages", "2" })
      assert.are.equal(2, out.code)
      assert.truthy(out.stderr:match("^nt3: unknown flag: %-%-pages\n"), out.stderr)
    end)

    it("shows its usage as `nt3 run <file>` with the script's path as given, never as a command", function()
      local script = EXAMPLES .. "/items-to-csv.lua"
      local out = at.nt3(srv, { "run", script, "--help" })
      assert.are.equal(0, out.code)
      local usage = ("\nUsage: nt3 run %s [options] [<file>]\n"):format(script)
      assert.truthy(out.stdout:find(usage, 1, true), out.stdout)
      assert.falsy(out.stdout:find("nt3 items-to-csv", 1, true), out.stdout)
      out = at.nt3(srv, { "run", script, "--pages", "2" })
      assert.are.equal(2, out.code)
      assert.truthy(out.stderr:find(usage, 1, true), out.stderr)
      -- as a shell runs it through its #! line, from its own directory
      local dir = sh.tmpdir()
      assert(os.execute(("cp %s %s/"):format(sh.quote(script), sh.quote(dir))))
      out = at.nt3(srv, { "run", "./items-to-csv.lua", "-h" }, { cwd = dir })
      assert.truthy(out.stdout:find("\nUsage: nt3 run ./items-to-csv.lua [options] [<file>]\n", 1, true), out.stdout)
    end)
  end)

  describe("nt3 run", function()
    it("gives a script the whole API through require \"nt3\", and its arguments in arg", function()
      local out = at.script(srv, [[
        local nt3 = require "nt3"
        local kinds = {}
        for _, part in ipairs(nt3.parts) do
          kinds[#kinds + 1] = part .. "=" .. type(nt3[part])
        end
        print(table.concat(kinds, " "))
        print(nt3.api.get("/api/v1/me").email, select("#", ...), arg[1], arg[2])
      ]], { env = {} })
      assert.are.equal("", out.stderr)
      local expected = {}
      for _, part in ipairs(require("nt3").parts) do expected[#expected + 1] = part .. "=table" end
      assert.is_true(#expected >= 10) -- every binding and every Lua part
      assert.are.equal(table.concat(expected, " ") .. "\n" .. "dev@example.com\t0\tnil\tnil\n", out.stdout)
      local script = sh.script([[print(#arg, arg[1], arg[2], ...)]])
      out = at.nt3(srv, { "run", script, "one", "--two" })
      assert.are.equal("2\tone\t--two\tone\t--two\n", out.stdout)
    end)
  end)

  describe("commands/status.lua", function()
    it("overrides the built-in status and adds the account line", function()
      local plain_home, home = sh.tmpdir(), sh.tmpdir()
      install(home, { "status.lua" })
      local plain = at.nt3(srv, { "status" }, { home = plain_home })
      local out = at.nt3(srv, { "status" }, { home = home })
      assert.are.equal(0, plain.code, plain.stderr)
      assert.are.equal(0, out.code, out.stderr)
      assert.are.equal("", out.stderr)
      assert.are.equal(plain.stdout .. "Account: Dev <dev@example.com>\n", out.stdout)
      local help = at.nt3(srv, { "help" }, { home = home })
      assert.truthy(help.stdout:find("[user command, overrides built-in]", 1, true), help.stdout)
    end)

    it("leaves --json one JSON object and --check as the built-in prints them", function()
      -- the same HOME before and after installing the override, so the
      -- paths in --json are the same
      local home = sh.tmpdir()
      local plain = {}
      for _, flag in ipairs({ "--json", "--check" }) do
        plain[flag] = at.nt3(srv, { "status", flag }, { home = home, cwd = home })
      end
      install(home, { "status.lua" })
      for _, flag in ipairs({ "--json", "--check" }) do
        local out = at.nt3(srv, { "status", flag }, { home = home, cwd = home })
        assert.are.equal(0, out.code, out.stderr)
        assert.are.equal(plain[flag].stdout, out.stdout, flag)
      end
      local out = at.nt3(srv, { "status", "--json" }, { home = home })
      assert.is_true(at.decode(out.stdout).logged_in)
    end)

    it("keeps the built-in's exit code when there is no token", function()
      local plain_home, home = sh.tmpdir(), sh.tmpdir()
      install(home, { "status.lua" })
      local plain = sh.run({ "status" }, { home = plain_home })
      local out = sh.run({ "status" }, { home = home })
      assert.are.equal(4, plain.code)
      assert.are.equal(plain.code, out.code)
      assert.are.equal(plain.stdout, out.stdout)
    end)
  end)
end)

---------------------------------------------------------------------------
-- docs/writing-commands.md: every step of the tutorial, as written
---------------------------------------------------------------------------

-- The tutorial's blocks in order, up to "## Going further": lua blocks whose
-- first line names a file (`-- ~/.nt3/commands/x.lua`), and console blocks
-- of `$ command` lines each followed by the output expected.
local function tutorial_steps(text)
  text = text:match("^(.-)\n## Going further") or text
  local steps = {}
  for lang, body in text:gmatch("```(%w+)\n(.-)```") do
    if lang == "lua" then
      local file = body:match("^%-%- (~/%S+)\n")
      if file then steps[#steps + 1] = { file = file, source = body } end
    elseif lang == "console" then
      local current
      for line in body:gmatch("([^\n]*)\n") do
        local cmd = line:match("^%$ (.*)$")
        if cmd then
          current = { command = cmd, expected = {} }
          steps[#steps + 1] = current
        elseif current then
          current.expected[#current.expected + 1] = line
        end
      end
    end
  end
  return steps
end

local function squash(line) return (line:gsub("%s+", " "):gsub(" $", "")) end

-- Does output match the expected lines? "..." stands for any lines; runs of
-- spaces count as one (column widths depend on the longest command name).
local function matches(expected, output)
  local got = {}
  for line in output:gmatch("([^\n]*)\n") do got[#got + 1] = squash(line) end
  local function from(i, j)
    if i > #expected then return j > #got end
    if expected[i] == "..." then
      for k = j, #got + 1 do
        if from(i + 1, k) then return true end
      end
      return false
    end
    return j <= #got and squash(expected[i]) == got[j] and from(i + 1, j + 1)
  end
  return from(1, 1)
end

describe("docs/writing-commands.md", function()
  local srv
  setup(function() srv = server.start { tls = false } end)
  teardown(function()
    srv.stop()
    sh.cleanup()
  end)

  it("takes a new user from nothing to working commands, exactly as written", function()
    local steps = tutorial_steps(assert(sh.slurp(sh.src .. "/docs/writing-commands.md")))
    local home = sh.tmpdir()
    local path = bin_dir() .. ":" .. os.getenv("PATH")
    local ran = 0
    for _, step in ipairs(steps) do
      if step.file then
        local file = home .. step.file:sub(2)
        sh.spit(file, step.source)
        uc.chmod("644", file)
      else
        local out = sh.run({ "-c", step.command }, {
          bin = "/bin/sh", home = home, cwd = home, umask = "022",
          env = at.env(srv, { PATH = path }),
        })
        assert.are.equal(0, out.code, step.command .. ": " .. out.stderr)
        assert.are.equal("", out.stderr, step.command)
        assert.is_true(matches(step.expected, out.stdout),
          ("$ %s\nexpected:\n%s\ngot:\n%s"):format(step.command, table.concat(step.expected, "\n"), out.stdout))
        ran = ran + 1
      end
    end
    -- the tutorial really has its steps: mkdir, chmod, greet x3, help, --help, me
    assert.is_true(ran >= 7, "only " .. ran .. " commands found in the tutorial")
  end)

  it("shows the errors in its task.map example when every item fails", function()
    local doc = assert(sh.slurp(sh.src .. "/docs/writing-commands.md"))
    local source = assert(doc:match("%*%*Tasks%.%*%*.-```lua\n(.-)```"), "no task.map example")
    -- the test server knows p_1..p_7, not p1..p3: every item fails
    local out = at.script(srv, source)
    assert.are.equal(1, out.code, out.stderr)
    assert.are.equal("", out.stdout)
    for _, id in ipairs { "p1", "p2", "p3" } do
      assert.truthy(out.stderr:find("\n?" .. id .. ": [^\n]*no such project"), out.stderr)
    end
  end)
end)

---------------------------------------------------------------------------
-- docs/types: LuaCATS annotations for the whole API
---------------------------------------------------------------------------

describe("docs/types/nt3.lua", function()
  -- every part of the API, from the one list: a new binding (one line in
  -- NT3_BINDINGS, src/runtime.h) is checked here without editing this file
  local PARTS = require("nt3").parts
  local text = assert(sh.slurp(sh.src .. "/docs/types/nt3.lua"))

  -- "function fs.read(path, max_bytes)" -> the annotation block above it
  local lines = {}
  for line in text:gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
  local function declaration(part, name)
    local head = "function " .. part .. "." .. name .. "("
    for i, line in ipairs(lines) do
      if line:sub(1, #head) == head then
        local block, j = {}, i - 1
        while j > 0 and lines[j]:sub(1, 3) == "---" do
          table.insert(block, 1, lines[j])
          j = j - 1
        end
        return table.concat(block, "\n") .. "\n", line:match("%(([^)]*)%)")
      end
    end
  end

  it("covers every part: each C binding, policy included, and the Lua modules", function()
    local covered = {}
    for _, part in ipairs(PARTS) do covered[part] = true end
    assert.is_true(covered.policy)
    for _, part in ipairs(require("nt3.embedded").bindings) do assert.is_true(covered[part], part) end
    assert.truthy(text:find("---@field parts string[]", 1, true))
  end)

  it("is Lua that loads, and declares the class of each part", function()
    assert.truthy(load(text, "@docs/types/nt3.lua", "t"))
    for _, part in ipairs(PARTS) do
      assert.truthy(text:find("---@class nt3." .. part .. "\n", 1, true), part)
      local stub = assert(sh.slurp(("%s/docs/types/nt3/%s.lua"):format(sh.src, part)), part)
      assert.truthy(stub:find("---@type nt3." .. part .. "\n", 1, true), part)
      assert.truthy(text:find("---@field " .. part .. " nt3." .. part .. "\n", 1, true), part)
    end
  end)

  it("annotates every public function of every part, each parameter with ---@param", function()
    local checked = 0
    for _, part in ipairs(PARTS) do
      local mod = require("nt3." .. part)
      for name, value in pairs(mod) do
        if type(value) == "function" and name:sub(1, 1) ~= "_" then
          local block, params = declaration(part, name)
          assert.truthy(block, ("nt3.%s.%s is not declared in docs/types/nt3.lua"):format(part, name))
          for param in params:gmatch("[%w_]+") do
            assert.truthy(block:find("---@param " .. param .. "%??%s"),
              ("nt3.%s.%s: no ---@param %s"):format(part, name, param))
          end
          checked = checked + 1
        end
      end
    end
    assert.is_true(checked > 40, "only " .. checked .. " functions checked")
  end)

  it("declares no function nt3.api or nt3.cli does not have", function()
    for _, part in ipairs({ "api", "cli" }) do
      local mod = require("nt3." .. part)
      for name in text:gmatch("\nfunction " .. part .. "%.([%w_]+)%(") do
        assert.are.equal("function", type(mod[name]), ("nt3.%s.%s"):format(part, name))
      end
    end
  end)
end)

---------------------------------------------------------------------------
-- README.md: what it shows is what a user gets
---------------------------------------------------------------------------

describe("README.md", function()
  local readme = assert(sh.slurp(sh.src .. "/README.md"))

  -- the lines of the console block after "$ <command>", up to the next "$ "
  -- or the end of the block
  local function shown_output(command)
    local start = assert(readme:find("\n$ " .. command .. "\n", 1, true), command)
    local block = assert(readme:sub(start + #command + 4):match("^(.-\n)```"), command)
    return block:match("^(.-\n)%$ ") or block
  end

  local function words(text)
    local list = {}
    for w in text:gmatch("%S+") do list[#list + 1] = w end
    return list
  end

  local srv
  setup(function() srv = server.start { tls = false } end)
  teardown(function()
    srv.stop()
    sh.cleanup()
  end)

  it("names the same token sources, in the same order, wherever it lists them (and so does nt3 help environment)", function()
    local function order(text)
      local found = {}
      for _, word in ipairs { "NT3_API_TOKEN", "--profile", "NT3_PROFILE", ".nt3.local.json", "~/.nt3/config.json" } do
        local pos = text:find(word, 1, true)
        if pos then found[#found + 1] = { at = pos, word = word } end
      end
      table.sort(found, function(a, b) return a.at < b.at end)
      local seen = {}
      for i, f in ipairs(found) do seen[i] = f.word end
      return seen
    end
    local all = { "NT3_API_TOKEN", "--profile", "NT3_PROFILE", ".nt3.local.json", "~/.nt3/config.json" }
    local list = assert(readme:match("### Token priority order\n(.-)\n#"), "no Token priority order section")
    assert.are.same(all, order(list:match("\n1%..-\n\n") or ""))
    assert.are.same(all, order(assert(readme:match("The token is chosen per command, most explicit first: ([^\n]+\n[^\n]+\n[^\n]+)"))))
    local help = sh.run({ "help", "environment" }).stdout
    assert.are.same(all, order(assert(help:match("A token is resolved in this order: (.-)\n"))))
    local login = sh.run({ "login", "--help" }).stdout
    assert.are.same(all, order(assert(login:match("Token priority: (.-)%.\n"))))
  end)

  it("keeps the Quick start at two commands: ./setup.sh demo and ./setup.sh test", function()
    local block = assert(readme:match("## Quick start.-```sh\n(.-)```"))
    local commands = {}
    for line in block:gmatch("([^\n]*)\n") do commands[#commands + 1] = line:match("^(%S+ %S+)") end
    assert.are.same({ "./setup.sh demo", "./setup.sh test" }, commands)
  end)

  it("lists exactly the Debian packages setup.sh installs", function()
    local setup_sh = assert(sh.slurp(sh.src .. "/setup.sh"))
    local installed = words(assert(setup_sh:match('\nPACKAGES="([^"]*)"')))
    local listed = words(assert(readme:match("installs only the Debian packages that are missing.-not root%):%s*`([^`]+)`")))
    assert.are.same(installed, listed)
  end)

  it("shows `nt3 status` for a global login exactly as nt3 prints it", function()
    local home = sh.tmpdir()
    local login = sh.run({ "login", "-t", "entri_0123456789abcdef0123456789ab3333" }, { home = home, cwd = home })
    assert.are.equal(0, login.code, login.stderr)
    local out = sh.run({ "status" }, { home = home, cwd = home })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal(shown_output("nt3 status"), out.stdout)
  end)

  it("shows the warning login gives when a new token without -u leaves the saved URL behind", function()
    local home = sh.tmpdir()
    local first = sh.run({ "login", "-t", "entri_old_token", "-u", "https://staging.yourcompany.com" },
      { home = home, cwd = home })
    assert.are.equal(0, first.code, first.stderr)
    local out = sh.run({ "login", "-t", "entri_new_token", "--no-verify" }, { home = home, cwd = home })
    assert.are.equal(0, out.code)
    assert.are.equal(shown_output("nt3 login -t entri_new_token --no-verify"), out.stderr .. out.stdout)
  end)

  it("quotes the NT3_API_URL warning of login -u and the local-token warning of logout as nt3 prints them", function()
    local home = sh.tmpdir()
    local out = sh.run({ "login", "-t", "entri_abc123", "-u", "https://staging.yourcompany.com" },
      { home = home, cwd = home, env = { NT3_API_URL = "https://other.example" } })
    assert.are.equal(0, out.code)
    local shown = readme:match("warns that the\nvariable still wins: `([^`]+)`"):gsub("%s+", " ")
    assert.are.equal(shown .. "\n", out.stderr:match("nt3: warning: NT3_API_URL[^\n]*\n"))
    local project = sh.tmpdir()
    assert.are.equal(0, sh.run({ "login", "--local", "-t", "entri_abc123" }, { home = home, cwd = project }).code)
    out = sh.run({ "logout" }, { home = home, cwd = project })
    assert.are.equal(0, out.code)
    local logout_block = assert(readme:match("remains\nin effect there:\n\n```\n(.-\n)```"))
    assert.are.equal(logout_block, out.stderr)
  end)

  it("shows `nt3 api /api/v1/me` as a terminal shows it", function()
    local r = pty.run({ "api", "/api/v1/me" }, { env = at.env(srv) })
    assert.are.equal(0, r.code)
    assert.are.equal(shown_output("nt3 api /api/v1/me"), (r.output:gsub("\r\n", "\n")))
  end)
end)
