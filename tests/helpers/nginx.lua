-- Starts Debian's nginx (package nginx), a real, fast HTTP/1.1 and HTTP/2
-- server, on 127.0.0.1 for the duration of a spec or a benchmark: its own
-- prefix, configuration and logs in a temporary directory, a port above
-- 1024, over TLS with the test servers' throwaway certificate (made at test
-- time, see helpers/server.lua), serving the files of a directory.
--
--   local nginx = require "helpers.nginx"
--   if nginx.available() then
--     local web = nginx.start { files = { ["hello.txt"] = "hello\n" }, http2 = true, gzip = true }
--     web.url, web.cafile, web.port, web.pid, web.version
--     web.requests() -> { { connection, method, path, status, protocol, body_bytes, bytes,
--                           encoding, accept_encoding }, ... }   (from its access log)
--     web.connections() -> how many connections carried a request
--     web.established() -> how many connections are open to it now (ss)
--     web.stop()
--   end
--
-- opts: files = { name = content } (a name may hold "/"); tls = false for
-- plain http; http2 = true (TLS only, ALPN "h2"); gzip = true compresses
-- every type of answer of 20 bytes or more (nginx's gzip_min_length
-- default), level 1; server = "directives" added to the server block;
-- lifetime = seconds (default 300): it is started under timeout(1), so
-- one forgotten anyway ends by itself.
--
-- The access log is written as each request ends: a caller that just got
-- its answer may have to wait (bounded) for the line, as with nghttpd.
-- When the caller is root (a container), the workers run as root too: the
-- temporary directory is the caller's own (0700) and nobody else may read it.
local sh = require "helpers.sh"
local server = require "helpers.server"

local M = {}

local BIN = "/usr/sbin/nginx"

function M.available()
  local f = io.open(BIN)
  if f then f:close() end
  return f ~= nil
end

-- "1.22.1", from `nginx -v`
local function version()
  local p = io.popen(BIN .. " -v 2>&1")
  local text = p:read("a")
  p:close()
  return text:match("nginx/([%d.]+)")
end

-- 1.25.1 replaced `listen ... http2` (now deprecated) by `http2 on;`
local function has_http2_directive(v)
  local a, b, c = v:match("^(%d+)%.(%d+)%.?(%d*)")
  a, b, c = tonumber(a), tonumber(b), tonumber(c) or 0
  return a > 1 or (a == 1 and (b > 25 or (b == 25 and c >= 1)))
end

local LOG_FORMAT = [[log_format nt3 '$connection $connection_requests $request_method "$request_uri" $status ]]
  .. [[$server_protocol $body_bytes_sent $bytes_sent "$sent_http_content_encoding" "$http_accept_encoding"';]]

local function whoami()
  local p = io.popen("id -un")
  local name = p:read("l")
  p:close()
  return name
end

local function config(dir, port, opts, v)
  local tls = opts.tls ~= false
  local h2 = tls and opts.http2
  local c = tls and server.certificate() or nil
  local listen = "listen 127.0.0.1:" .. port .. (tls and " ssl" or "")
  local lines = {
    "worker_processes 1;",
    "pid " .. dir .. "/nginx.pid;",
    "error_log " .. dir .. "/error.log warn;",
    "events { worker_connections 1024; }",
    "http {",
    "  " .. LOG_FORMAT,
    "  access_log " .. dir .. "/access.log nt3;",
    "  types { text/plain txt; text/html html; application/json json; }",
    "  default_type application/octet-stream;",
    "  keepalive_requests 1000000;",
    "  keepalive_timeout 300s;",
  }
  if whoami() == "root" then table.insert(lines, 1, "user root;") end
  for _, t in ipairs { "client_body", "proxy", "fastcgi", "uwsgi", "scgi" } do
    lines[#lines + 1] = ("  %s_temp_path %s/tmp/%s;"):format(t, dir, t)
  end
  lines[#lines + 1] = "  server {"
  if h2 and not has_http2_directive(v) then listen = listen .. " http2" end
  lines[#lines + 1] = "    " .. listen .. ";"
  if h2 and has_http2_directive(v) then lines[#lines + 1] = "    http2 on;" end
  if tls then
    lines[#lines + 1] = "    ssl_certificate " .. c.cert .. ";"
    lines[#lines + 1] = "    ssl_certificate_key " .. c.key .. ";"
  end
  lines[#lines + 1] = "    root " .. dir .. "/www;"
  if opts.gzip then lines[#lines + 1] = "    gzip on; gzip_types *; gzip_comp_level 1; gzip_proxied any;" end
  if opts.server then lines[#lines + 1] = "    " .. opts.server end
  lines[#lines + 1] = "  }"
  lines[#lines + 1] = "}"
  return table.concat(lines, "\n") .. "\n", c
end

local function parse(log)
  local list = {}
  for line in (sh.slurp(log) or ""):gmatch("[^\n]+") do
    local conn, n, method, path, status, proto, body, bytes, enc, accept =
      line:match('^(%d+) (%d+) (%S+) "([^"]*)" (%d+) (%S+) (%d+) (%d+) "([^"]*)" "([^"]*)"$')
    if conn then
      list[#list + 1] = {
        connection = tonumber(conn), connection_requests = tonumber(n), method = method, path = path,
        status = tonumber(status), protocol = proto, body_bytes = tonumber(body), bytes = tonumber(bytes),
        encoding = enc ~= "-" and enc or nil, accept_encoding = accept ~= "-" and accept or nil,
      }
    end
  end
  return list
end

-- nginx.start(opts) -> web (see the top of this file)
function M.start(opts)
  opts = opts or {}
  local v = assert(version(), "nginx -v gave no version")
  local dir = sh.tmpdir()
  assert(os.execute(("mkdir -p %s/www %s/tmp"):format(sh.quote(dir), sh.quote(dir))))
  for name, content in pairs(opts.files or {}) do
    local sub = name:match("^(.*)/[^/]*$")
    if sub then assert(os.execute("mkdir -p " .. sh.quote(dir .. "/www/" .. sub))) end
    sh.spit(dir .. "/www/" .. name, content)
  end
  local log, errors = dir .. "/access.log", dir .. "/error.log"
  for _ = 1, 5 do
    local port = sh.free_port()
    local text, c = config(dir, port, opts, v)
    sh.spit(dir .. "/nginx.conf", text)
    local cmd = ("exec timeout %d %s -p %s -c %s -e %s -g 'daemon off;' </dev/null >%s 2>&1 & echo $!")
      :format(opts.lifetime or 300, BIN, sh.quote(dir), sh.quote(dir .. "/nginx.conf"), sh.quote(errors),
        sh.quote(dir .. "/out.log"))
    local p = io.popen(cmd)
    local pid = tonumber(p:read("l"))
    p:close()
    local up = false
    for _ = 1, 100 do -- about 5 s at most
      if sh.listening(port) then
        up = true
        break
      end
      if not os.execute("kill -0 " .. pid .. " 2>/dev/null") then break end
      sh.sleep(0.05)
    end
    if up then
      local scheme = opts.tls == false and "http" or "https"
      local web = {
        url = ("%s://127.0.0.1:%d"):format(scheme, port), port = port, pid = pid, version = v,
        cafile = c and c.cert, log = log, dir = dir,
      }
      function web.requests() return parse(log) end
      function web.connections()
        local seen, n = {}, 0
        for _, r in ipairs(parse(log)) do
          if not seen[r.connection] then
            seen[r.connection] = true
            n = n + 1
          end
        end
        return n
      end
      function web.established()
        local q = io.popen(("ss -Htn state established '( sport = :%d )' 2>/dev/null | wc -l"):format(port))
        local n = tonumber(q:read("l"))
        q:close()
        return n
      end
      function web.stop()
        if not web.pid then return end
        os.execute("kill " .. web.pid .. " 2>/dev/null")
        web.pid = nil
      end
      return web
    end
    os.execute("kill " .. pid .. " 2>/dev/null")
  end
  error("nginx did not start: " .. (sh.slurp(errors) or "") .. (sh.slurp(dir .. "/out.log") or ""))
end

return M
