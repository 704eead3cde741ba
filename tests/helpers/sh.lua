-- Test helpers: run the built nt3 as a user would (own environment, HOME,
-- working directory, umask, stdin) and read back stdout, stderr, exit code.
local M = {}

M.bin = assert(os.getenv("NT3_BIN"), "NT3_BIN is not set: run the specs through ctest")
M.src = os.getenv("NT3_SOURCE_DIR") or "."

function M.quote(s)
  return "'" .. tostring(s):gsub("'", [['\'']]) .. "'"
end

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end
M.slurp = slurp

function M.spit(path, data)
  local f = assert(io.open(path, "wb"))
  assert(f:write(data))
  assert(f:close())
end

local tmp_root
local dirs = {}
-- sh.tmpdir() -> a fresh directory, removed when the spec file ends
-- (one shell per directory: specs make hundreds, and on a busy machine
-- every process started costs more than what it does)
function M.tmpdir()
  -- resolve symlinks so paths compare equal to getcwd()
  local p = io.popen('d=$(mktemp -d /tmp/nt3-test.XXXXXX) && cd "$d" && pwd -P')
  local d = p:read("l")
  p:close()
  assert(d, "mktemp -d failed")
  dirs[#dirs + 1] = d
  tmp_root = tmp_root or d
  return d
end

-- sh.sleep(seconds): a pause in a bounded wait, without starting a process
-- (nt3.task.sleep outside a task simply sleeps)
function M.sleep(seconds)
  require("nt3.task").sleep(seconds)
end

-- removes them all, a few hundred per shell (a test may have left a
-- directory without write or search permission: chmod first)
function M.cleanup()
  for i = 1, #dirs, 200 do
    local batch = {}
    for j = i, math.min(i + 199, #dirs) do batch[#batch + 1] = M.quote(dirs[j]) end
    local list = table.concat(batch, " ")
    os.execute("chmod -R u+rwx " .. list .. " 2>/dev/null; rm -rf " .. list)
  end
  dirs = {}
end

-- sh.script(source) -> path of a file holding source (for `nt3 run`)
function M.script(source)
  local d = M.tmpdir()
  local path = d .. "/script.lua"
  M.spit(path, source)
  return path
end

-- variables passed through to every child (sanitizer settings, PATH)
local passthrough = { "PATH", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "NT3_SOURCE_DIR", "NT3_BIN" }

-- sh.environment(opts) -> the variables a child gets: the passthrough ones,
-- HOME (opts.home or a fresh directory), LANG=C, then opts.env (false unsets)
function M.environment(opts)
  local vars = {}
  for _, k in ipairs(passthrough) do
    local v = os.getenv(k)
    if v then vars[k] = v end
  end
  vars.HOME = opts.home or M.tmpdir()
  vars.LANG = "C"
  for k, v in pairs(opts.env or {}) do
    if v == false then vars[k] = nil else vars[k] = v end
  end
  return vars
end

-- sh.run(args, opts) -> { code, stdout, stderr }
-- opts.env: extra variables (false unsets); opts.home: HOME (default: a
-- fresh directory); opts.cwd; opts.stdin: text fed to stdin (default: none,
-- /dev/null); opts.umask: e.g. "000"; opts.bin: another executable.
function M.run(args, opts)
  opts = opts or {}
  local vars = M.environment(opts)
  local d = M.tmpdir()
  local parts = { "cd", M.quote(opts.cwd or d), "&&" }
  if opts.umask then
    parts[#parts + 1] = "umask " .. opts.umask .. " &&"
  end
  parts[#parts + 1] = "exec env -i"
  local keys = {}
  for k in pairs(vars) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do parts[#parts + 1] = M.quote(k .. "=" .. vars[k]) end
  parts[#parts + 1] = M.quote(opts.bin or M.bin)
  for _, a in ipairs(args) do parts[#parts + 1] = M.quote(a) end
  local stdin = "/dev/null"
  if opts.stdin then
    stdin = d .. "/stdin"
    M.spit(stdin, opts.stdin)
  end
  -- opts.stdout_file: where stdout goes instead (a big body, /dev/full).
  -- No subshell: the shell execs env, which execs the binary, so one
  -- process fewer waits for it (and a signal that ends it ends the shell's
  -- process, which os.execute reports as such).
  local cmd = ("%s <%s >%s 2>%s"):format(table.concat(parts, " "), M.quote(stdin),
    M.quote(opts.stdout_file or (d .. "/stdout")), M.quote(d .. "/stderr"))
  local _, how, code = os.execute(cmd)
  if how == "signal" then code = 128 + code end
  return {
    code = code,
    stdout = not opts.stdout_file and slurp(d .. "/stdout") or "",
    stderr = slurp(d .. "/stderr") or "",
    home = vars.HOME,
  }
end

-- sh.nt3(args..., opts) shorthand: sh.nt3({"status"}, {home = h})
M.nt3 = M.run

-- sh.mode(path) -> permission bits as an octal string, e.g. "600"
function M.mode(path)
  local p = io.popen("stat -c %a " .. M.quote(path) .. " 2>/dev/null")
  local m = p:read("l")
  p:close()
  return m
end

-- sh.free_port() -> a TCP port nothing listens on now on 127.0.0.1 (another
-- process may take it before the server meant for it does: try again then)
function M.free_port()
  local p = io.popen([[python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])']])
  local port = tonumber(p:read("l"))
  p:close()
  return assert(port, "no free port")
end

-- sh.listening(port) -> whether something accepts connections on 127.0.0.1:port
function M.listening(port)
  local ok = os.execute(("python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", %d), 1).close()' 2>/dev/null")
    :format(port))
  return ok == true
end

return M
