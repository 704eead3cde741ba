-- Starts tests/helpers/server.py (routes documented at its top) on a
-- loopback address and port of its own, for the duration of a spec.
--
--   local server = require "helpers.server"
--   local srv = server.start()                  -- http://127.0.0.1:PORT
--   local tls = server.start { tls = true }      -- https://127.0.0.1:PORT, tls.cafile trusts it
--   local v6 = server.start { host = "::1" }     -- http://[::1]:PORT
--   server.start { accept_tokens = { "entri_a" } } -- /api/v1/me accepts only these
--   server.start { tls = true, tls_names = "DNS:elsewhere.test" } -- a certificate for other names
--   server.start { port = 40123 }               -- on that port (it must be free)
--   server.certificate() -> { cert = PEM path, key = PEM path }, the one TLS servers use
--   srv.url, srv.port, srv.pid, srv.requests() -> list, srv.stop()
--
-- Call srv.stop() in teardown; a server forgotten anyway exits by itself
-- after `lifetime` seconds (default 300).
local sh = require "helpers.sh"

local M = {}

local script = sh.src .. "/tests/helpers/server.py"

-- Throwaway self-signed certificates, one per set of names and spec process,
-- made with the openssl CLI for CN localhost; by default valid for
-- 127.0.0.1, ::1 and localhost. Never trusted by the system, so only a client
-- given one as cafile accepts it.
local DEFAULT_NAMES = "IP:127.0.0.1,IP:::1,DNS:localhost"
local certs = {}
local function certificate(names)
  if certs[names] then return certs[names] end
  local dir = sh.tmpdir()
  local c = { cert = dir .. "/cert.pem", key = dir .. "/key.pem" }
  local cmd = ("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
    .. " -keyout %s -out %s -days 2 -subj /CN=localhost"
    .. " -addext %s >%s 2>&1")
    :format(sh.quote(c.key), sh.quote(c.cert), sh.quote("subjectAltName=" .. names), sh.quote(dir .. "/openssl.log"))
  assert(os.execute(cmd), "openssl could not make a certificate: " .. (sh.slurp(dir .. "/openssl.log") or ""))
  certs[names] = c
  return c
end

-- server.certificate([names]) -> { cert, key }: the throwaway certificate
-- (and its key) a TLS server of ours presents, for other servers (nghttpd)
-- and as the cafile that trusts them
function M.certificate(names) return certificate(names or DEFAULT_NAMES) end

local function read_ready(path)
  local text = sh.slurp(path)
  if not text then return nil end
  local port, pid = text:match('"port":%s*(%d+)'), text:match('"pid":%s*(%d+)')
  if port and pid then return tonumber(port), tonumber(pid) end
end

-- Gone once it is a zombie with no thread left: whoever reaps orphans here
-- may take its time, and while another thread is still exiting the leader
-- already shows "Z" but the listening socket is still open.
local function alive(pid)
  local stat = sh.slurp("/proc/" .. pid .. "/stat")
  if not stat then return false end
  local fields = {}
  for f in stat:match("%) (.*)"):gmatch("%S+") do fields[#fields + 1] = f end
  return fields[1] ~= "Z" or tonumber(fields[18]) > 1
end

-- server.start(opts) -> srv; opts: tls, tls_names (the certificate's
-- subjectAltName, e.g. "DNS:elsewhere.test"), host ("127.0.0.1" or "::1"),
-- accept_tokens (list), lifetime (seconds), port (default: one the system picks)
function M.start(opts)
  opts = opts or {}
  local dir = sh.tmpdir()
  local ready = dir .. "/ready.json"
  local host = opts.host or "127.0.0.1"
  local args = { "python3", script, "--ready", ready, "--bind", host,
    "--lifetime", tostring(opts.lifetime or 300) }
  local c
  if opts.tls then
    c = certificate(opts.tls_names or DEFAULT_NAMES)
    for _, a in ipairs { "--tls", c.cert, c.key } do args[#args + 1] = a end
  end
  if opts.port then
    args[#args + 1] = "--port"
    args[#args + 1] = tostring(opts.port)
  end
  for _, t in ipairs(opts.accept_tokens or {}) do
    args[#args + 1] = "--accept-token"
    args[#args + 1] = t
  end
  local quoted = {}
  for i, a in ipairs(args) do quoted[i] = sh.quote(a) end
  local log = dir .. "/server.log"
  assert(os.execute(table.concat(quoted, " ") .. " </dev/null >" .. sh.quote(log) .. " 2>&1 &"))

  -- bounded wait for the ready file (about 20 s at most on a loaded machine)
  local port, pid
  for _ = 1, 400 do
    port, pid = read_ready(ready)
    if port then break end
    sh.sleep(0.05)
  end
  assert(port, "test server did not start: " .. (sh.slurp(log) or ""))

  local shown = host:find(":", 1, true) and "[" .. host .. "]" or host
  local srv = {
    url = ("%s://%s:%d"):format(opts.tls and "https" or "http", shown, port),
    port = port,
    pid = pid,
    cafile = c and c.cert,
    log = log,
  }

  -- srv.requests() -> what the server received, in order (see /_requests);
  -- over TLS this needs a certificate valid for 127.0.0.1 (the default one)
  function srv.requests()
    local http = require "nt3.http"
    local json = require "nt3.json"
    local res = assert(http.request { url = srv.url .. "/_requests", cafile = srv.cafile })
    assert(res.status == 200, "/_requests answered " .. res.status)
    return assert(json.decode(res.body))
  end

  function srv.stop()
    if not srv.pid then return end
    os.execute("kill " .. srv.pid .. " 2>/dev/null")
    -- bounded wait until it is gone, so the port is free for the next one
    for _ = 1, 100 do
      if not alive(srv.pid) then break end
      sh.sleep(0.05)
    end
    srv.pid = nil
  end

  return srv
end

-- server.pattern(n[, from]) -> n bytes of the body of /big?pattern=1 from
-- offset `from` (0, or a multiple of 1024): 1024-byte records, each
-- opening with its offset, so that a lost, doubled or moved piece shows
local FILL
function M.pattern(n, from)
  from = from or 0
  if not FILL then
    local chars = {}
    for c = 32, 126 do chars[#chars + 1] = string.char(c) end
    FILL = table.concat(chars):rep(10) .. ("\n"):rep(58)
  end
  local records = {}
  for off = from, from + n - 1, 1024 do records[#records + 1] = ("%015x\n"):format(off) .. FILL end
  return table.concat(records):sub(1, n)
end

-- server.same_pattern(path, n) -> true, or false and where the file first
-- differs from the body of /big?bytes=n&pattern=1 (read a MiB at a time)
function M.same_pattern(path, n)
  local f = assert(io.open(path, "rb"))
  local at = 0
  while true do
    local got = f:read(1048576)
    if not got then break end
    local want = M.pattern(math.min(#got, math.max(n - at, 0)), at)
    if got ~= want then
      f:close()
      for i = 1, #got do
        if got:byte(i) ~= want:byte(i) then return false, ("differs at byte %d"):format(at + i - 1) end
      end
      return false, ("differs at byte %d"):format(at + #got)
    end
    at = at + #got
  end
  f:close()
  if at ~= n then return false, ("%d bytes, not %d"):format(at, n) end
  return true
end

return M
