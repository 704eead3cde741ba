-- nt3 repl: a Lua prompt with nt3 loaded, driven through a real
-- pseudo-terminal (libedit, loaded when the REPL starts) and through a pipe.
local sh = require "helpers.sh"
local pty = require "helpers.pty"
local server = require "helpers.server"
local json = require "nt3.json"
local http = require "nt3.http"
local job = require "helpers.job"

local TOKEN = "entri_valid_repl_spec"

local function env(extra)
  local e = { TERM = "xterm" }
  for k, v in pairs(extra or {}) do e[k] = v end
  return e
end

-- the prompt after an answer: waiting for it first means nothing is typed
-- before the REPL reads again
local PROMPT = "\r\n> "

-- libedit prints the prompt, then puts the terminal in its own mode: what
-- is typed before that is the terminal's (echoed by it, Ctrl-D an end of
-- file libedit never reads). So after each prompt the steps wait for the
-- echo to go off, as it does once libedit reads.
local function typed(steps)
  local out = {}
  for _, step in ipairs(steps) do
    out[#out + 1] = step
    if step.expect and step.expect:find(">+ $") then out[#out + 1] = { expect_echo = false } end
  end
  return out
end

local function history_dir(home) return home .. "/.local/state/nt3" end

describe("nt3 repl on a pipe", function()
  it("prints an expression's value, a table as indented JSON-ish text, runs a multi-line statement, exit 0", function()
    local r = sh.run({ "repl" }, { stdin = table.concat({
      "1 + 1",
      "=\"a\" .. \"b\"",
      "{ b = { 2, 3 }, a = true, [\"x y\"] = json and 1 or nil, n = nt3.json.null }",
      "for i = 1, 2 do",
      "  print(i * 10)",
      "end",
      "error(\"boom\")",
      "nt3.version ~= nil",
    }, "\n") .. "\n" })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("2\nab\n{\n  \"a\": true,\n  \"b\": [\n    2,\n    3\n  ],\n  \"n\": null\n}\n10\n20\ntrue\n", r.stdout)
    assert.are.equal("stdin:1: boom\n", r.stderr)
  end)

  it("runs each line as a task: task.map works as it is", function()
    local r = sh.run({ "repl" }, { stdin = 'nt3.task.map({ 1, 2, 3 }, function(x) nt3.task.sleep(0.01) return x * 2 end)\n' })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("[\n  2,\n  4,\n  6\n]\nnil\n", r.stdout)
  end)

  it("resolves the credential only when a request needs it", function()
    local home = sh.tmpdir()
    local marker = home .. "/ran"
    os.execute("mkdir -p " .. sh.quote(home .. "/.nt3") .. " && chmod 700 " .. sh.quote(home .. "/.nt3"))
    local helper = home .. "/cred.sh"
    sh.spit(helper, "#!/bin/sh\n: > " .. sh.quote(marker) .. "\necho entri_valid_from_command\n")
    os.execute("chmod 700 " .. sh.quote(helper))
    sh.spit(home .. "/.nt3/config.json", json.encode({ credential_command = { helper } }))
    os.execute("chmod 600 " .. sh.quote(home .. "/.nt3/config.json"))
    local srv = server.start()
    local first = sh.run({ "repl" }, { home = home, env = { NT3_API_URL = srv.url }, stdin = "1 + 1\n" })
    assert.are.equal(0, first.code, first.stderr)
    assert.are.equal("2\n", first.stdout)
    assert.is_nil(sh.slurp(marker))
    local second = sh.run({ "repl" }, { home = home, env = { NT3_API_URL = srv.url },
      stdin = 'nt3.api.get("/api/v1/me").email\n' })
    srv.stop()
    assert.are.equal(0, second.code, second.stderr)
    assert.are.equal("dev@example.com\n", second.stdout)
    assert.are.equal("", sh.slurp(marker))
  end)
end)

describe("nt3 repl on a terminal", function()
  it("evaluates an expression, continues a multi-line statement, prints a table, and Ctrl-D leaves with exit 0", function()
    local home = sh.tmpdir()
    local r = pty.run({ "repl" }, { home = home, env = env(), steps = typed {
      { expect = "\n> " },
      { send = "1 + 1\r" }, { expect = "2" .. PROMPT },
      { send = "for i = 1, 2 do\r" }, { expect = "\r\n>> " },
      { send = "print(i * 10) end\r" }, { expect = "10\r\n20" .. PROMPT },
      { send = "{ a = { 1, 2 } }\r" }, { expect = '{\r\n  "a": [\r\n    1,\r\n    2\r\n  ]\r\n}' .. PROMPT },
      { send = "\4" },
    } })
    assert.are.equal(0, r.code, r.output)
    assert.is_true(r.echo_on_after)
    assert.is_true(r.icanon_on_after)
  end)

  it("drops the line being typed on Ctrl-C, multi-line or not, and keeps going", function()
    local r = pty.run({ "repl" }, { env = env(), steps = typed {
      { expect = "\n> " },
      { send = "if true then\r" }, { expect = "\r\n>> " },
      { send = "error('never run')" }, { sleep = 0.2 },
      { send = "\3" }, { expect = "\r\n> " },
      { send = "2 + 3\r" }, { expect = "5" .. PROMPT },
      { send = "\4" },
    } })
    assert.are.equal(0, r.code, r.output)
    assert.falsy(r.output:find("never run'\r\n", 1, true) and r.output:find("stdin:", 1, true), r.output)
    assert.falsy(r.output:find(">> 2 + 3", 1, true), r.output)
  end)

  it("cancels a request that is running on Ctrl-C: the connection is closed and the prompt comes back", function()
    local srv = server.start()
    local run = pty.start({ "repl" }, { env = env { NT3_API_URL = srv.url, NT3_API_TOKEN = TOKEN }, timeout = 20, steps = typed {
      { expect = "\n> " },
      -- the server sends 5 bytes, then holds: the sink hears of them
      { send = 'nt3.api.get("/hold", { key = "repl-int", seconds = 60 },'
        .. ' { sink = function() io.write("held\\n") io.flush() end })\r' },
      { expect = "held\r\n" },
      -- the sink has returned by then and the REPL waits on the request
      { sleep = 0.5 },
      { send = "\3" }, { expect = "interrupted" .. PROMPT },
      { send = "40 + 2\r" }, { expect = "42" .. PROMPT },
      { send = "\4" },
    } })
    local r = run.result()
    local state
    job.eventually(function()
      state = json.decode(http.request { url = srv.url .. "/_hold?key=repl-int" }.body).state
      return state ~= "open"
    end, 20)
    srv.stop()
    assert.are.equal(0, r.code, r.output)
    assert.are.equal("dropped", state)
  end)

  it("ends the tasks a line spawned on Ctrl-C, at the prompt or while a line runs, through their <close>", function()
    -- each task holds a <close> that says how it ended, then waits long
    local spawn = 'nt3.task.spawn(function(name) local c <close> = setmetatable({}, { __close = function(_, e)'
      .. ' io.write(name, " closed: ", tostring(e), "\\n") io.flush() end }) nt3.task.sleep(600) end, %q)'
    local r = pty.run({ "repl" }, { env = env(), timeout = 20, steps = typed {
      { expect = "\n> " },
      -- spawned and left: it runs while a line runs, and waits meanwhile
      { send = "t1 = " .. spawn:format("first") .. "\r" }, { expect = PROMPT },
      { send = "nt3.task.sleep(0.1) return t1:done()\r" }, { expect = "false" .. PROMPT },
      { send = "\3" }, { expect = "first closed: interrupted\r\n" }, { expect = "> " },
      { send = "t1:done()\r" }, { expect = "true" .. PROMPT },
      -- spawned by a line that Ctrl-C stops
      { send = "t2 = " .. spawn:format("second") .. " nt3.task.sleep(600)\r" }, { sleep = 0.5 },
      { send = "\3" }, { expect = "second closed: interrupted\r\n" }, { expect = "interrupted" .. PROMPT },
      { send = "t2:done(), 6 * 7\r" }, { expect = "true\r\n42" .. PROMPT },
      { send = "\4" },
    } })
    assert.are.equal(0, r.code, r.output)
  end)

  it("neutralises terminal escapes in a value that came from a server", function()
    local srv = server.start()
    local r = pty.run({ "repl" }, { env = env { NT3_API_URL = srv.url, NT3_API_TOKEN = TOKEN }, steps = typed {
      { expect = "\n> " },
      { send = 'v = nt3.api.get("/api/v1/echo", { q = "\\27]52;c;aGk=\\7\\27[2J" })\r' }, { expect = PROMPT },
      { send = "v.query.q\r" }, { expect = "?]52;c;aGk=??[2J" .. PROMPT },
      { send = "v.query\r" }, { expect = PROMPT },
      { send = "\4" },
    } })
    srv.stop()
    assert.are.equal(0, r.code, r.output)
    assert.falsy(r.output:find("\27]52", 1, true), r.output)
    assert.falsy(r.output:find("\27[2J", 1, true), r.output)
  end)

  it("keeps the history 0600 in a 0700 directory of the XDG state home, and offers it again", function()
    local home = sh.tmpdir()
    local r = pty.run({ "repl" }, { home = home, env = env(), steps = typed {
      { expect = "\n> " },
      { send = "6 * 7\r" }, { expect = "42" .. PROMPT },
      { send = 'x = "entri_secret_token_123"\r' }, { expect = PROMPT },
      { send = "\4" },
    } })
    assert.are.equal(0, r.code, r.output)
    local fs = require "nt3.fs"
    local file = history_dir(home) .. "/history"
    assert.are.equal(384, fs.lstat(file).mode) -- 0600
    assert.are.equal(448, fs.lstat(history_dir(home)).mode) -- 0700
    assert.are.equal("6 * 7\n", sh.slurp(file))
    -- the next session finds it: Up brings it back
    local again = pty.run({ "repl" }, { home = home, env = env(), steps = typed {
      { expect = "\n> " },
      { send = "\27[A" }, { expect = "6 * 7" }, { send = "\r" }, { expect = "42" .. PROMPT },
      { send = "\4" },
    } })
    assert.are.equal(0, again.code, again.output)
  end)

  it("uses $XDG_STATE_HOME when it is absolute", function()
    local home, state = sh.tmpdir(), sh.tmpdir()
    local r = pty.run({ "repl" }, { home = home, env = env { XDG_STATE_HOME = state }, steps = typed {
      { expect = "\n> " }, { send = "1\r" }, { expect = PROMPT }, { send = "\4" },
    } })
    assert.are.equal(0, r.code, r.output)
    assert.are.equal("1\n", sh.slurp(state .. "/nt3/history"))
  end)

  it("never reads or writes through a symbolic link planted at the history path", function()
    local home = sh.tmpdir()
    local elsewhere = sh.tmpdir() .. "/target"
    sh.spit(elsewhere, "planted_line_from_the_target\n")
    os.execute("mkdir -p " .. sh.quote(history_dir(home)) .. " && chmod 700 " .. sh.quote(history_dir(home)))
    os.execute("ln -s " .. sh.quote(elsewhere) .. " " .. sh.quote(history_dir(home) .. "/history"))
    local r = pty.run({ "repl" }, { home = home, env = env(), steps = typed {
      { expect = "\n> " },
      { send = "\27[A" }, { sleep = 0.2 }, { send = "\21" }, -- Up, then Ctrl-U
      { send = "7 * 6\r" }, { expect = "42" .. PROMPT },
      { send = "\4" },
    } })
    assert.are.equal(0, r.code, r.output)
    assert.truthy(r.output:find("nt3: warning: the REPL keeps no history: " .. history_dir(home)
      .. "/history is a symbolic link", 1, true), r.output)
    assert.falsy(r.output:find("planted_line", 1, true), r.output)
    assert.are.equal("planted_line_from_the_target\n", sh.slurp(elsewhere))
    assert.are.equal("link", require("nt3.fs").lstat(history_dir(home) .. "/history").type)
  end)

  it("puts the terminal back when SIGTERM ends it at the prompt, and after Ctrl-Z takes the line up again", function()
    local r = pty.run({ "repl" }, { env = env(), steps = typed {
      { expect = "\n> " },
      { send = "1 +" }, { expect = "1 +" },
      { send = "\26" }, { expect_stopped = true }, { expect_echo = true },
      { signal = "CONT" }, { expect_stopped = false },
      { send = " 1\r" }, { expect = "2" .. PROMPT },
      { signal = "TERM" },
    } })
    assert.are.equal("SIGTERM", r.signal_name, r.output)
    assert.is_true(r.echo_on_after)
    assert.is_true(r.icanon_on_after)
  end)

  it("falls back to a plain line reader without libedit, and says so once", function()
    local r = pty.run({ "repl" }, { env = env { NT3_TEST_NO_LINEEDIT = "1" }, steps = {
      { expect = "\n> " },
      { send = "1 + 2\r" }, { expect = "3" .. PROMPT },
      { send = "half = \3" }, { expect = "\n> " },
      { send = "4 + 4\r" }, { expect = "8" .. PROMPT },
      { send = "\4" },
    } })
    assert.are.equal(0, r.code, r.output)
    local _, warnings = r.output:gsub("line editing is off", "")
    assert.are.equal(1, warnings, r.output)
  end)

  it("is what nt3 run starts with no script at a terminal", function()
    local r = pty.run({ "run" }, { env = env(), steps = typed {
      { expect = "\n> " }, { send = "arg == nil and nt3 ~= nil\r" }, { expect = "true" .. PROMPT }, { send = "\4" },
    } })
    assert.are.equal(0, r.code, r.output)
  end)
end)
