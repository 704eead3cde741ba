-- The credential store's invariants (docs/architecture.md, "Invariants"), each proved
-- on the real binary: modes whatever the umask, no writing through links,
-- crash safety under kill -9, concurrent writers, no token in any output.
local sh = require "helpers.sh"
local json = require "nt3.json"
local auth = require "helpers.auth_util"

-- A script that runs nt3 as the user with that HOME, in a clean
-- environment (exec all the way down, so its pid is nt3's pid).
local function wrapper(home)
  local vars = sh.environment { home = home }
  local keys = {}
  for k in pairs(vars) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = { "exec env -i" }
  for _, k in ipairs(keys) do parts[#parts + 1] = sh.quote(k .. "=" .. vars[k]) end
  parts[#parts + 1] = sh.quote(sh.bin) .. ' "$@"'
  local path = sh.tmpdir() .. "/nt3-as-user"
  sh.spit(path, "#!/bin/sh\n" .. table.concat(parts, " ") .. "\n")
  assert(os.execute("chmod +x " .. sh.quote(path)))
  return path
end

-- Runs a bash script with the given variables set (NT3: the wrapper above).
local function bash(script, vars)
  local path = sh.tmpdir() .. "/script.sh"
  local lines = { "set -u" }
  for k, v in pairs(vars) do lines[#lines + 1] = ("%s=%s"):format(k, sh.quote(v)) end
  lines[#lines + 1] = script
  sh.spit(path, table.concat(lines, "\n"))
  local ok = os.execute("bash " .. sh.quote(path))
  return ok
end

describe("file modes", function()
  it("saves the token with mode 0600 and the directory with 0700 whatever the umask", function()
    local u = auth.user()
    local out = u.run({ "login", "-t", "entri_umask_token_0001" }, { umask = "000" })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal("600", sh.mode(u.global))
    assert.are.equal("700", sh.mode(u.dir))
    out = u.run({ "login", "--local", "-t", "entri_umask_token_0002" }, { umask = "000" })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal("600", sh.mode(u["local"]))
  end)

  it("keeps 0600 when logout rewrites a file under umask 000", function()
    local u = auth.user()
    auth.mkdir(u.dir)
    auth.write(u.global, '{"token":"entri_umask_token_0001","other":1}', "600")
    assert.are.equal(0, u.run({ "logout" }, { umask = "000" }).code)
    assert.are.same({ other = 1 }, auth.read_json(u.global))
    assert.are.equal("600", sh.mode(u.global))
  end)
end)

describe("symbolic links at a credential path", function()
  local function plant(link, target)
    assert(os.execute("ln -s " .. sh.quote(target) .. " " .. sh.quote(link)))
  end

  it("refuses a link planted at ~/.nt3/config.json and leaves its target unchanged", function()
    local u = auth.user()
    auth.mkdir(u.dir)
    local target = sh.tmpdir() .. "/victim.json"
    auth.write(target, '{"token":"entri_victim_token_0001"}', "600")
    plant(u.global, target)
    local out = u.run({ "login", "-t", "entri_attack_token_001" })
    assert.are.equal(1, out.code)
    assert.matches("^nt3: refusing ~/%.nt3/config%.json: it is a symbolic link; fix: remove it", out.stderr)
    assert.are.equal('{"token":"entri_victim_token_0001"}', sh.slurp(target))
    assert.are.equal("link", require("nt3.fs").lstat(u.global).type)
  end)

  it("does not create the target of a dangling link", function()
    local u = auth.user()
    auth.mkdir(u.dir)
    local target = sh.tmpdir() .. "/created-by-attacker.json"
    plant(u.global, target)
    assert.are.equal(1, u.run({ "login", "-t", "entri_attack_token_001" }).code)
    assert.is_false(auth.exists(target))
  end)

  it("refuses a link planted at ./.nt3.local.json and leaves its target unchanged", function()
    local u = auth.user()
    local target = sh.tmpdir() .. "/victim.json"
    auth.write(target, "precious", "600")
    plant(u["local"], target)
    local out = u.run({ "login", "--local", "-t", "entri_attack_token_001" })
    assert.are.equal(1, out.code)
    assert.matches("^nt3: refusing %./%.nt3%.local%.json: it is a symbolic link", out.stderr)
    assert.are.equal("precious", sh.slurp(target))
    -- and resolution refuses it too, instead of reading through it
    assert.are.equal(1, u.run({ "status" }).code)
  end)

  it("refuses a directory or a fifo at the credential path", function()
    local u = auth.user()
    auth.mkdir(u["local"])
    assert.are.equal(1, u.run({ "login", "--local", "-t", "entri_attack_token_001" }).code)
    local v = auth.user()
    assert(os.execute("mkfifo " .. sh.quote(v["local"])))
    local out = v.run({ "login", "--local", "-t", "entri_attack_token_001" })
    assert.are.equal(1, out.code)
    assert.matches("not a regular file", out.stderr)
  end)
end)

describe("crash safety", function()
  it("leaves the old or the new token after kill -9 at random points, and no temp files", function()
    local u = auth.user()
    assert.are.equal(0, u.run({ "login", "-t", "entri_kill_token_0" }).code)
    local snaps = sh.tmpdir()
    local n = 50
    -- the kill lands anywhere from before start-up to after the rename: the
    -- window is scaled to how long one login takes on this machine, and cut
    -- into n slices, one kill at a random point of each, so that few kills
    -- still cover all of it
    assert(bash([[
t0=$(date +%s%N)
for i in 1 2 3; do (cd "$CWD" && "$NT3" login -t entri_kill_token_0 >/dev/null 2>&1); done
t1=$(date +%s%N)
span=$(( (t1 - t0) / 3000000 * 6 / 5 + 1 ))
for i in $(seq 1 $N); do
  (cd "$CWD" && exec "$NT3" login -t entri_kill_token_$i >/dev/null 2>&1) &
  pid=$!
  ms=$(( (i - 1) * span / N + RANDOM % (span / N + 1) ))
  sleep "$(( ms / 1000 )).$(printf %03d $(( ms % 1000 )))"
  kill -9 $pid 2>/dev/null
  wait $pid 2>/dev/null
  if [ -e "$DIR/config.json" ]; then cp "$DIR/config.json" "$SNAPS/$i"; stat -c %a "$DIR/config.json" > "$SNAPS/$i.mode"; fi
done
]], { NT3 = wrapper(u.home), CWD = u.cwd, N = tostring(n), DIR = u.dir, SNAPS = snaps }))
    local previous, changes = "entri_kill_token_0", 0
    for i = 1, n do
      local text = sh.slurp(snaps .. "/" .. i)
      assert.truthy(text, "the file vanished after kill " .. i)
      local data = json.decode(text)
      assert.are.equal("table", type(data), "not valid JSON after kill " .. i .. ": " .. text)
      local new = "entri_kill_token_" .. i
      assert.is_true(data.token == previous or data.token == new,
        ("after kill %d the file holds %s, neither %s nor %s"):format(i, tostring(data.token), previous, new))
      assert.are.equal("600\n", sh.slurp(snaps .. "/" .. i .. ".mode"))
      if data.token ~= previous then changes = changes + 1 end
      previous = data.token
    end
    -- the next login works, and cleans up any temp file a killed one left
    local out = u.run({ "login", "-t", "entri_after_the_kills" })
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal("entri_after_the_kills", auth.read_json(u.global).token)
    assert.are.same({ "config.json" }, auth.listing(u.dir))
    -- some kills came too late to stop a login: the window covered real writes
    assert.is_true(changes > 0)
  end)
end)

-- The system calls of an atomic write of dir/name in an strace log (strace
-- -f -e trace=getrandom,openat,write,fsync,close,rename,renameat,renameat2):
-- those on the temp file and on the directory, in order ("random" when the
-- temp file's name came straight from an 8-byte getrandom), and the flags
-- the temp file was created with.
local function write_steps(trace, dir, name)
  local dir_fd, temp, temp_fd, flags
  local steps, last = {}, {}
  local function step(s)
    if s ~= "write" or steps[#steps] ~= "write" then steps[#steps + 1] = s end
  end
  local dir_pattern = 'openat%(AT_FDCWD, "' .. dir:gsub("%p", "%%%0") .. '", O_RDONLY[^)]*O_DIRECTORY[^)]*%) = (%d+)'
  local temp_pattern = 'openat%((%d+), "(%.' .. name:gsub("%p", "%%%0") .. '%.tmp%-%x+)", ([^)]*)%) = (%d+)'
  for line in assert(sh.slurp(trace)):gmatch("[^\n]+") do
    local pid, call = line:match("^(%d+)%s+(.*)$")
    local d = line:match(dir_pattern)
    if d then dir_fd = d end
    local at, tname, tflags, fd = line:match(temp_pattern)
    if tname and at == dir_fd then
      temp, temp_fd, flags = tname, fd, tflags
      if last[pid] and last[pid]:match("^getrandom%(.*, 8, 0%) = 8$") then step("random") end
      step("create")
    end
    if temp_fd and line:match("^%d+%s+write%(" .. temp_fd .. ",") then step("write") end
    if temp_fd and line:match("^%d+%s+fsync%(" .. temp_fd .. "%)") then step("fsync temp") end
    if temp_fd and line:match("^%d+%s+close%(" .. temp_fd .. "%)") then
      step("close temp")
      temp_fd = nil
    end
    if temp and line:match('rename') and line:find('"' .. temp .. '", ' .. dir_fd .. ', "' .. name .. '"', 1, true) then
      step("rename")
    end
    if dir_fd and line:match("^%d+%s+fsync%(" .. dir_fd .. "%)") then step("fsync dir") end
    if pid then last[pid] = call end
  end
  return steps, flags
end

local TRACE = "strace -f -qq -e trace=getrandom,openat,open,write,fsync,fdatasync,rename,renameat,renameat2,close -o "
local IN_ORDER = { "random", "create", "write", "fsync temp", "close temp", "rename", "fsync dir" }

-- the temp file: created new (never opened through a link planted at its
-- name), with the owner bits only
local function assert_created_safely(flags)
  assert.matches("O_CREAT", flags)
  assert.matches("O_EXCL", flags)
  assert.matches("O_NOFOLLOW", flags)
  assert.matches(", 0600$", flags)
end

describe("the order of an atomic write", function()
  it("creates the temp file 0600 exclusively, fsyncs it, renames it, then fsyncs the directory", function()
    local u = auth.user()
    assert.are.equal(0, u.run({ "login", "-t", "entri_order_token_001" }).code)
    local trace = sh.tmpdir() .. "/trace"
    local out = u.run({ "login", "-t", "entri_order_token_002" },
      { bin = auth.wrapped(TRACE .. sh.quote(trace)), env = auth.traced() })
    assert.are.equal(0, out.code, out.stderr)
    local steps, flags = write_steps(trace, u.dir, "config.json")
    assert.are.same(IN_ORDER, steps)
    assert_created_safely(flags)
    assert.are.equal("entri_order_token_002", auth.read_json(u.global).token)
  end)

  it("writes `nt3 api -o` the same way: a random temp file, exclusive, fsynced before the rename", function()
    local server = require "helpers.server"
    local at = require "helpers.apitest"
    local srv = server.start { tls = false }
    local dir = sh.tmpdir()
    local trace = sh.tmpdir() .. "/trace"
    local out = at.nt3(srv, { "api", "/api/v1/me", "-o", dir .. "/me.json" },
      { bin = auth.wrapped(TRACE .. sh.quote(trace)), env = auth.traced(), umask = "022" })
    srv.stop()
    assert.are.equal(0, out.code, out.stderr)
    local steps, flags = write_steps(trace, dir, "me.json")
    assert.are.same(IN_ORDER, steps)
    assert_created_safely(flags)
    assert.matches('^{"id": "u_1"', sh.slurp(dir .. "/me.json"))
  end)
end)

describe("the atomic write of an HTTP cache entry", function()
  it("is the same write with no fsync (fs.write's sync = false): a crash costs a miss, never a torn entry", function()
    local server = require "helpers.server"
    local at = require "helpers.apitest"
    local srv = server.start { tls = false }
    local home = sh.tmpdir()
    local trace = sh.tmpdir() .. "/trace"
    local out = at.nt3(srv, { "api", "--cache", "1h", "/cached?key=traced" }, { home = home,
      bin = auth.wrapped(TRACE .. sh.quote(trace)), env = (function()
        local e = auth.traced()
        e.XDG_CACHE_HOME = home .. "/c"
        return e
      end)() })
    srv.stop()
    assert.are.equal(0, out.code, out.stderr)
    local sub = io.popen("ls -d " .. sh.quote(home) .. "/c/nt3/*"):read("l")
    local name = io.popen("ls " .. sh.quote(sub)):read("l")
    assert.matches("^%x+$", name)
    local steps, flags = write_steps(trace, sub, name)
    assert.are.same({ "random", "create", "write", "close temp", "rename" }, steps)
    assert_created_safely(flags)
  end)
end)

describe("concurrent writers", function()
  it("20 concurrent logins leave one valid file holding one of their tokens", function()
    local u = auth.user()
    assert(bash([[
for i in $(seq 1 20); do (cd "$CWD" && "$NT3" login -t entri_concurrent_$i >"$OUT/$i" 2>&1; echo $? >"$OUT/$i.rc") & done
wait
]], { NT3 = wrapper(u.home), CWD = u.cwd, OUT = u.cwd }))
    for i = 1, 20 do
      assert.are.equal("0\n", sh.slurp(u.cwd .. "/" .. i .. ".rc"), sh.slurp(u.cwd .. "/" .. i))
    end
    local data = auth.read_json(u.global)
    assert.are.equal("table", type(data))
    assert.matches("^entri_concurrent_%d+$", data.token)
    assert.are.equal("600", sh.mode(u.global))
    assert.are.same({ "config.json" }, auth.listing(u.dir))
  end)

  it("concurrent writers of different keys lose nothing", function()
    local u = auth.user()
    local script = sh.script([[
local config = require "nt3.config"
local i = arg[1]
assert(config.update("global", function(d) d["key_" .. i] = tonumber(i) end))
]])
    assert(bash([[
for i in $(seq 1 20); do (cd "$CWD" && "$NT3" run "$SCRIPT" $i >"$OUT/$i" 2>&1; echo $? >"$OUT/$i.rc") & done
for i in $(seq 1 5); do (cd "$CWD" && exec "$NT3" login -t entri_concurrent_$i >/dev/null 2>&1) & done
wait
]], { NT3 = wrapper(u.home), CWD = u.cwd, OUT = u.cwd, SCRIPT = script }))
    local data = auth.read_json(u.global)
    for i = 1, 20 do
      assert.are.equal("0\n", sh.slurp(u.cwd .. "/" .. i .. ".rc"), sh.slurp(u.cwd .. "/" .. i))
      assert.are.equal(i, data["key_" .. i])
    end
    assert.matches("^entri_concurrent_%d$", data.token)
  end)
end)

describe("a .nt3.local.json holding only an api_url", function()
  it("never redirects the global token", function()
    local server = require "helpers.server"
    local good, evil = server.start { tls = false }, server.start { tls = false }
    local u = auth.user()
    u.run({ "login", "-t", "entri_valid_redirect_01", "-u", good.url })
    auth.write(u["local"], json.encode({ api_url = evil.url }), "600")
    local out = u.run({ "status", "--check" })
    local evil_saw = 0
    for _, r in ipairs(evil.requests()) do if r.path == "/api/v1/me" then evil_saw = evil_saw + 1 end end
    good.stop()
    evil.stop()
    assert.are.equal(0, out.code, out.stderr)
    assert.are.equal(0, evil_saw)
  end)

  it("never redirects the environment token", function()
    local u = auth.user()
    auth.write(u["local"], '{"api_url":"http://127.0.0.1:9"}', "600")
    local out = u.lua("local c = assert(require('nt3.config').active()) io.write(c.api_url)",
      { env = { NT3_API_TOKEN = "entri_env_token_00001" } })
    assert.are.equal("https://app.nt3.io", out.stdout)
  end)
end)

local function config_mask(t) return require("nt3.config").mask(t) end

describe("the token in output", function()
  it("never appears whole in any stdout or stderr, failures and NT3_DEBUG=1 included", function()
    local server = require "helpers.server"
    local srv = server.start { tls = false }
    local C = auth.CANARY
    local u = auth.user()
    -- ok: the run must succeed; shown: its output must name the token masked
    local ok, shown = { ok = true }, { ok = true, shown = true }
    local runs = {
      { { "login", "-t", C }, nil, ok },
      { { "login", "-t", C }, { env = { NT3_DEBUG = "1" } }, ok },
      { { "status" }, nil, shown },
      { { "status", "--json" }, nil, shown },
      { { "status" }, { env = { NT3_DEBUG = "1" } }, shown },
      { { "login", "--local", "-t", C }, nil, ok },
      { { "status", "--json" }, nil, shown },
      { { "logout", "--local" }, nil, ok },
      { { "login", "-t", C .. " x" } },
      { { "login", "-t", C .. "\1" } },
      { { "login", "-t", "x" .. C } },
      { { "login", "-t", C .. ("z"):rep(5000) }, { env = { NT3_DEBUG = "1" } } },
      { { "login", "-t", C, "-u", "http://evil.example.com" } },
      { { "login", "--token=" .. C, "--bogus" } },
      { { "login" }, { stdin = C .. "\n" } },
      { { "login" }, { stdin = "bad" .. C .. "\n", env = { NT3_DEBUG = "1" } } },
      { { "status" }, { env = { NT3_API_TOKEN = C } }, shown },
      { { "status", "--json" }, { env = { NT3_API_TOKEN = C .. " " } }, shown },
      { { "status" }, { env = { NT3_API_TOKEN = "x" .. C, NT3_DEBUG = "1" } } },
      { { "logout" }, { env = { NT3_API_TOKEN = C } } },
      { { "login", "-t", C, "-u", srv.url } },
      { { "status", "--check" }, { env = { NT3_DEBUG = "1" } } },
      { { "status", "--check", "--json" }, { env = { NT3_DEBUG = "1" } } },
      { { "logout" }, nil, ok },
    }
    local masked = config_mask(C)
    for i, r in ipairs(runs) do
      local out = u.run(r[1], r[2])
      local what = "run " .. i .. " (" .. table.concat(r[1], " "):sub(1, 60) .. ")"
      auth.assert_no_canary(out, what)
      local expect = r[3] or {}
      if expect.ok then assert.are.equal(0, out.code, what .. ": " .. out.stderr) end
      if expect.ok then assert.is_true(#out.stdout > 0, what .. " printed nothing") end
      if expect.shown then
        assert.truthy((out.stdout .. out.stderr):find(masked, 1, true), what .. " does not show " .. masked)
      end
    end
    -- files that hold the canary in a form nt3 refuses
    for i, text in ipairs({ '{"token":"' .. C .. '"', '{"token":"' .. C .. ' x"}', '{"token":["' .. C .. '"]}',
      C, '{"token":"' .. C .. '","api_url":"http://evil.example.com"}' }) do
      local v = auth.user()
      auth.mkdir(v.dir)
      auth.write(v.global, text, "600")
      for _, args in ipairs({ { "status" }, { "status", "--json" }, { "login", "-t", "entri_other_000000001" }, { "logout" } }) do
        auth.assert_no_canary(v.run(args, { env = { NT3_DEBUG = "1" } }), "file " .. i .. ": " .. args[1])
      end
    end
    srv.stop()
  end)

  it("is not repeated whole when it is typed where something else belongs, or comes back in an error", function()
    local C = auth.CANARY
    local u = auth.user()
    local logged_in = { env = { NT3_API_TOKEN = C, NT3_API_URL = "http://127.0.0.1:9" } }
    local runs = {
      { { "login", C } },                 -- -t forgotten: an unexpected argument
      { { "logout", C } },
      { { "login", "--" .. C } },         -- an unknown flag
      { { C } },                          -- an unknown command
      { { "api", "/api/v1/me", "-H", "Authorization Bearer " .. C }, logged_in }, -- the colon forgotten
      { { "api", "/api/v1/me", "-f", C }, logged_in },
      { { "api", "-X", C, "/api/v1/me" }, logged_in },
      { { "api", "https://elsewhere.example/?t=" .. C }, logged_in },
      { { "run", sh.script('error("the server said: bad token ' .. C .. '")') } },
      { { "run", sh.script('error("the server said: bad token ' .. C .. '")') }, { env = { NT3_DEBUG = "1" } } },
      { { "run", sh.script('require("nt3.cli").warn("odd token ' .. C .. '")') } },
    }
    for i, r in ipairs(runs) do
      local out = u.run(r[1], r[2])
      assert.matches("entri_%*%*%*%*", out.stderr, 1, false, "run " .. i .. ": the masked token is still named")
      auth.assert_no_canary(out, "run " .. i .. " (" .. table.concat(r[1], " "):sub(1, 60) .. ")")
    end
  end)
end)

teardown(sh.cleanup)
