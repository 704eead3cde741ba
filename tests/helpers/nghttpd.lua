-- Starts Debian's nghttpd (package nghttp2-server), a real HTTP/2 server, on
-- 127.0.0.1 over TLS with the test servers' throwaway certificate, serving
-- the files of a directory, for the duration of a spec.
--
--   local nghttpd = require "helpers.nghttpd"
--   if nghttpd.available() then
--     local h2 = nghttpd.start { files = { ["hello.txt"] = "hello\n" } }
--     h2.url, h2.cafile, h2.connections() -> n, h2.requests() -> { path, ... }, h2.stop()
--   end
--
-- It runs with -v: its log says which connection ("[id=N]") carried which
-- request (":path:"), so a spec can count connections. It is started under
-- timeout(1), so one forgotten anyway ends after `lifetime` seconds.
local sh = require "helpers.sh"
local server = require "helpers.server"

local M = {}

local BIN = "/usr/sbin/nghttpd"

function M.available()
  local f = io.open(BIN)
  if f then f:close() end
  return f ~= nil
end

-- nghttpd.start { files = { name = content }, lifetime = seconds } -> h2
function M.start(opts)
  opts = opts or {}
  local dir = sh.tmpdir()
  local www = dir .. "/www"
  assert(os.execute("mkdir " .. sh.quote(www)))
  for name, content in pairs(opts.files or {}) do sh.spit(www .. "/" .. name, content) end
  local c = server.certificate()
  local log = dir .. "/nghttpd.log"
  for _ = 1, 5 do
    local port = sh.free_port()
    local cmd = ("exec timeout %d %s -v --address=127.0.0.1 --htdocs=%s %d %s %s </dev/null >%s 2>&1 & echo $!")
      :format(opts.lifetime or 300, BIN, sh.quote(www), port, sh.quote(c.key), sh.quote(c.cert), sh.quote(log))
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
      local h2 = { url = ("https://127.0.0.1:%d"):format(port), port = port, pid = pid, cafile = c.cert, log = log }
      -- the log as {connection id = true}, {path, ...}
      local function parse()
        local text = sh.slurp(log) or ""
        local ids, paths = {}, {}
        for id in text:gmatch("%[id=(%d+)%]") do ids[id] = true end
        for path in text:gmatch("recv %(stream_id=%d+%) :path: ([^\n]*)") do paths[#paths + 1] = path end
        return ids, paths
      end
      -- h2.connections() -> how many connections it has seen (one probe of
      -- ours, from start(), included: see h2.probes)
      function h2.connections()
        local n = 0
        for _ in pairs((parse())) do n = n + 1 end
        return n
      end
      function h2.requests()
        local _, paths = parse()
        return paths
      end
      h2.probes = h2.connections()
      function h2.stop()
        if not h2.pid then return end
        os.execute("kill " .. h2.pid .. " 2>/dev/null")
        h2.pid = nil
      end
      return h2
    end
    os.execute("kill " .. pid .. " 2>/dev/null")
  end
  error("nghttpd did not start: " .. (sh.slurp(log) or ""))
end

return M
