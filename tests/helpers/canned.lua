-- A loopback HTTP server that gives every request the same canned answer
-- (status, Content-Type, body), for what tests/helpers/server.py has no
-- route for: a server whose error message is hostile or huge.
--
--   local canned = require "helpers.canned"
--   local srv = canned.start { status = 400, body = '{"message":"..."}' }
--   srv.url -- http://127.0.0.1:PORT; srv.stop() in the end
local sh = require "helpers.sh"

local M = {}

local PY = [[
import http.server, json, os, sys
ready, status, ctype, body = sys.argv[1], int(sys.argv[2]), sys.argv[3], open(sys.argv[4], "rb").read()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n: self.rfile.read(n)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = answer
    def log_message(self, *a): pass
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
srv.timeout = 300
with open(ready + ".tmp", "w") as f: json.dump({"port": srv.server_address[1]}, f)
os.rename(ready + ".tmp", ready)
while True: srv.handle_request()
]]

function M.start(opts)
  local dir = sh.tmpdir()
  sh.spit(dir .. "/server.py", PY)
  sh.spit(dir .. "/body", opts.body or "")
  local ready = dir .. "/ready.json"
  local cmd = ("timeout 300 python3 %s %s %d %s %s </dev/null >%s 2>&1 & echo $!"):format(
    sh.quote(dir .. "/server.py"), sh.quote(ready), opts.status or 200,
    sh.quote(opts.content_type or "application/json"), sh.quote(dir .. "/body"), sh.quote(dir .. "/log"))
  local p = io.popen(cmd)
  local pid = p:read("l")
  p:close()
  local port
  for _ = 1, 400 do
    local text = sh.slurp(ready)
    port = text and text:match('"port":%s*(%d+)')
    if port then break end
    sh.sleep(0.05)
  end
  assert(port, "canned server did not start: " .. (sh.slurp(dir .. "/log") or ""))
  local srv = { url = "http://127.0.0.1:" .. port }
  function srv.stop() os.execute("kill " .. pid .. " 2>/dev/null") end
  return srv
end

return M
