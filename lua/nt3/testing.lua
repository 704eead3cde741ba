-- nt3.testing: what a spec of a user's own command needs
-- (docs/architecture.md, "The test kit"; docs/testing-commands.md):
--   testing.server()  a fake nt3 API, a real HTTP/1.1 server on 127.0.0.1,
--                     served by tasks of this very process;
--   testing.home()    a throw-away HOME whose config holds a test token;
--   testing.run()     a command run by name in a child nt3, with its
--                     stdout, stderr and exit code.
-- Loaded only by `nt3 test` or `require "nt3.testing"`.
local assert, error, getmetatable, ipairs, math, next = assert, error, getmetatable, ipairs, math, next
local pairs, pcall, require, setmetatable, string = pairs, pcall, require, setmetatable, string
local table, tonumber, tostring, type = table, tonumber, tostring, type
local check = require "nt3.check"
local env = require "nt3.env"
local fs = require "nt3.fs"
local json = require "nt3.json"
local policy = require "nt3.policy"
local socket = require "nt3.testing.socket"
local task = require "nt3.task"

local M = {}

-- Bounds of what the server reads: a request head (request line and
-- headers) and a body. Past them it answers 431 or 413 and hangs up.
M.MAX_HEAD = 64 * 1024
M.MAX_BODY = 8 * 1024 * 1024
local READ_SIZE = 64 * 1024

local REASONS = {
  [100] = "Continue", [200] = "OK", [201] = "Created", [202] = "Accepted", [204] = "No Content",
  [301] = "Moved Permanently", [302] = "Found", [303] = "See Other", [304] = "Not Modified",
  [307] = "Temporary Redirect", [308] = "Permanent Redirect",
  [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden", [404] = "Not Found",
  [405] = "Method Not Allowed", [409] = "Conflict", [413] = "Content Too Large", [422] = "Unprocessable Content",
  [429] = "Too Many Requests", [431] = "Request Header Fields Too Large",
  [500] = "Internal Server Error", [501] = "Not Implemented", [502] = "Bad Gateway",
  [503] = "Service Unavailable", [504] = "Gateway Timeout",
}

-- What is open, for close_all (nt3 test calls it once the specs ran).
local open_servers, open_homes = {}, {}

---------------------------------------------------------------------------
-- HTTP: reading a request, writing a response
---------------------------------------------------------------------------

local function unescape(s)
  return (s:gsub("+", " "):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function parse_query(q)
  local t = {}
  for pair in (q or ""):gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    t[unescape(k)] = unescape(v)
  end
  return t
end

-- The head's text -> request record without its body | nil, status
local function parse_head(head)
  local method, target, minor = head:match("^(%u+) ([!-~]+) HTTP/1%.([01])\r\n")
  if not method then return nil, 400 end
  local headers, list = {}, {}
  local rest = head:sub(#method + #target + 12)
  for line in rest:gmatch("([^\r\n]*)\r\n") do
    if line ~= "" then
      local name, value = line:match("^([!#-'*+%-.0-9A-Z^_`a-z|~]+):[ \t]*(.-)[ \t]*$")
      if not name then return nil, 400 end
      name = name:lower()
      headers[name] = headers[name] and headers[name] .. ", " .. value or value
      list[#list + 1] = { name, value }
    end
  end
  local path, query = target:match("^([^?]*)%??(.*)$")
  return {
    method = method, target = target, path = path, query_string = query, query = parse_query(query),
    headers = headers, header_list = list, keep_alive = minor == "1",
  }
end

-- What a spec sees of a request: no token in clear anywhere. The
-- Authorization line keeps its scheme and the token's masked form
-- (policy.mask, the one masking rule); every other value, the target and
-- the body have token-shaped text redacted (policy.redact).
local function record(req, body)
  local headers, list = {}, {}
  for _, h in ipairs(req.header_list) do
    local value = h[2]
    if policy.is_credential_header(h[1]) then
      local scheme, secret = value:match("^(%S+)%s+(.+)$")
      value = scheme and scheme .. " " .. policy.mask(secret) or policy.mask(value)
    else
      value = policy.redact(value)
    end
    list[#list + 1] = { h[1], value }
    headers[h[1]] = headers[h[1]] and headers[h[1]] .. ", " .. value or value
  end
  local auth = headers.authorization
  local r = {
    method = req.method,
    target = policy.redact(req.target),
    path = policy.redact(req.path),
    query = {},
    headers = headers,
    header_list = list,
    body = policy.redact(body),
    token = auth and auth:match("^[Bb]earer (.+)$") or nil,
  }
  for k, v in pairs(req.query) do r.query[policy.redact(k)] = policy.redact(v) end
  if body ~= "" then
    local ok, value = pcall(json.decode, r.body)
    if ok then r.json = value end
  end
  return r
end

local plain

local function response_bytes(method, res)
  local status = res.status or 200
  local body = res.body or ""
  local headers = {}
  for k, v in pairs(res.headers or {}) do
    k, v = tostring(k), tostring(v)
    -- a line break would end the head where the spec did not mean it to
    if (k .. v):find("[\r\n]") then return response_bytes(method, plain(500, "a header holds a line break")) end
    -- the length is the body's, always
    if k:lower() ~= "content-length" then headers[#headers + 1] = { k, v } end
  end
  if res.json ~= nil then
    body = assert(json.encode(res.json))
    headers[#headers + 1] = { "Content-Type", "application/json" }
  end
  table.sort(headers, function(a, b) return a[1] < b[1] end)
  local out = { ("HTTP/1.1 %d %s\r\n"):format(status, REASONS[status] or "Status") }
  for _, h in ipairs(headers) do out[#out + 1] = h[1] .. ": " .. h[2] .. "\r\n" end
  out[#out + 1] = ("Content-Length: %d\r\n\r\n"):format(#body)
  if method ~= "HEAD" and status ~= 204 and status ~= 304 then out[#out + 1] = body end
  return table.concat(out)
end

function plain(status, message)
  return { status = status, json = { error = message } }
end

---------------------------------------------------------------------------
-- the server
---------------------------------------------------------------------------

local Server = {}
Server.__index = Server
Server.__name = "nt3.testing.server"

-- The response for a request: the route of its method and target, else
-- of its method and path; a route's responses are served in turn, the last
-- one again and again.
local function respond(self, req, rec)
  local route = self.routes[req.method .. " " .. req.target] or self.routes[req.method .. " " .. req.path]
  if not route then
    rec.matched = false
    return plain(404, ("no route for %s %s"):format(req.method, req.path))
  end
  rec.matched = true
  route.hits = route.hits + 1
  local res = route.responses[math.min(route.hits, #route.responses)]
  if type(res) == "function" then
    local ok, value = pcall(res, rec)
    if not ok then return plain(500, "the route's function failed: " .. tostring(value)) end
    res = value
  end
  if type(res) ~= "table" then return plain(500, "the route's function returned no response table") end
  local status = res.status or 200
  if math.type(status) ~= "integer" or status < 100 or status > 599 then
    return plain(500, "the route's status is not an integer from 100 to 599")
  end
  if res.body ~= nil and type(res.body) ~= "string" then return plain(500, "the route's body is not a string") end
  return res
end

-- Reads from conn until buf holds want bytes; nil if the client hangs up.
local function fill(conn, buf, want)
  while #buf < want do
    local chunk = conn:read(math.min(READ_SIZE, want - #buf))
    if not chunk or chunk == "" then return nil end
    buf = buf .. chunk
  end
  return buf
end

-- One connection: requests one after another (keep-alive) until the
-- client hangs up or a request cannot be read.
local function serve(self, conn)
  local buf = ""
  while true do
    local head_end = buf:find("\r\n\r\n", 1, true)
    while not head_end do
      if #buf > M.MAX_HEAD then
        conn:write(response_bytes("GET", plain(431, "request head too large")))
        return
      end
      local chunk = conn:read(READ_SIZE)
      if not chunk or chunk == "" then return end
      buf = buf .. chunk
      head_end = buf:find("\r\n\r\n", 1, true)
    end
    if head_end > M.MAX_HEAD then
      conn:write(response_bytes("GET", plain(431, "request head too large")))
      return
    end
    local req, bad = parse_head(buf:sub(1, head_end + 1))
    if not req then
      conn:write(response_bytes("GET", plain(bad, "malformed request")))
      return
    end
    buf = buf:sub(head_end + 4)
    if req.headers["transfer-encoding"] then
      conn:write(response_bytes(req.method, plain(501, "chunked request bodies are not read by the test server")))
      return
    end
    local length = req.headers["content-length"] or "0"
    if not length:match("^%d+$") or #length > 10 then
      conn:write(response_bytes(req.method, plain(400, "bad Content-Length")))
      return
    end
    length = tonumber(length)
    if length > M.MAX_BODY then
      conn:write(response_bytes(req.method, plain(413, "request body too large")))
      return
    end
    if length > 0 and (req.headers.expect or ""):lower() == "100-continue" then
      conn:write("HTTP/1.1 100 Continue\r\n\r\n")
    end
    buf = fill(conn, buf, length)
    if not buf then return end
    local body = buf:sub(1, length)
    buf = buf:sub(length + 1)
    local rec = record(req, body)
    self.requests[#self.requests + 1] = rec
    local res = respond(self, req, rec)
    if not conn:write(response_bytes(req.method, res)) then return end
    local close = (req.headers.connection or ""):lower() == "close" or not req.keep_alive
    if close then return end
  end
end

local function check_response(i, fname, res)
  if type(res) == "function" then return end
  if type(res) ~= "table" then check.fail(i, fname, "a response table or a function expected, got " .. type(res)) end
  if res.status ~= nil and (math.type(res.status) ~= "integer" or res.status < 100 or res.status > 599) then
    check.fail(i, fname, "status must be an integer from 100 to 599")
  end
  if res.body ~= nil and type(res.body) ~= "string" then check.fail(i, fname, "body must be a string") end
  if res.headers ~= nil and type(res.headers) ~= "table" then check.fail(i, fname, "headers must be a table") end
end

-- srv:route(method, path, response, ...) -> srv
function Server:route(method, path, ...)
  check.arg(1, "route", method, "string")
  check.arg(2, "route", path, "string")
  if path:sub(1, 1) ~= "/" then check.fail(2, "route", "the path must start with /") end
  local responses = table.pack(...)
  if responses.n == 0 then check.fail(3, "route", "give at least one response") end
  for i = 1, responses.n do check_response(i + 2, "route", responses[i]) end
  responses.n = nil
  self.routes[method:upper() .. " " .. path] = { responses = responses, hits = 0 }
  return self
end

-- srv:pages(path, items [, opts]) -> srv: GET path answers items per_page
-- at a time (opts.per_page, default 2), each page but the last with a
-- Link: <...?page=N>; rel="next"; opts.data = true wraps each page as
-- { data = [...] }.
function Server:pages(path, items, opts)
  check.arg(1, "pages", path, "string")
  check.arg(2, "pages", items, "table")
  check.arg(3, "pages", opts, "table", true)
  opts = opts or {}
  local per = opts.per_page or 2
  if math.type(per) ~= "integer" or per < 1 then check.fail(3, "pages", "per_page must be an integer of 1 or more") end
  return self:route("GET", path, function(req)
    local page = math.tointeger(tonumber(req.query.page or "1")) or 1
    local slice = json.array()
    for i = (page - 1) * per + 1, math.min(page * per, #items) do slice[#slice + 1] = items[i] end
    local res = { status = 200, json = opts.data and { data = slice } or slice, headers = {} }
    if page * per < #items then
      res.headers.Link = ('<%s%s?page=%d>; rel="next"'):format(self.url, path, page + 1)
    end
    return res
  end)
end

-- srv:last() -> the last request received | nil
function Server:last()
  return self.requests[#self.requests]
end

-- srv:reset() -> srv: forgets the requests received and the routes' turns
function Server:reset()
  self.requests = {}
  for _, r in pairs(self.routes) do r.hits = 0 end
  return self
end

-- srv:close(): stops listening and ends every connection's task
function Server:close()
  if self.closed then return end
  self.closed = true
  open_servers[self] = nil
  for conn, t in pairs(self.conns) do
    task.cancel(t)
    conn:close()
  end
  self.conns = {}
  if self.acceptor then task.cancel(self.acceptor) end
  self.listener:close()
end
Server.__close = Server.close

-- testing.server() -> srv: a fake nt3 API on http://127.0.0.1:<port>,
-- served by tasks of the running scheduler until srv:close().
function M.server()
  local listener, err = socket.listen()
  if not listener then return nil, "cannot listen on 127.0.0.1: " .. tostring(err), "system" end
  local self = setmetatable({
    listener = listener, routes = {}, requests = {}, conns = {},
    url = "http://127.0.0.1:" .. listener:port(),
  }, Server)
  local ok, acceptor = pcall(task.spawn, function()
    while true do
      local conn = listener:accept()
      if not conn then return end
      self.conns[conn] = task.spawn(function()
        pcall(serve, self, conn)
        self.conns[conn] = nil
        conn:close()
      end)
    end
  end)
  if not ok then
    listener:close()
    error("testing.server serves from tasks: run the spec with 'nt3 test' (or inside task.run)", 2)
  end
  self.acceptor = acceptor
  open_servers[self] = true
  return self
end

---------------------------------------------------------------------------
-- a throw-away HOME
---------------------------------------------------------------------------

local Home = {}
Home.__index = Home
Home.__name = "nt3.testing.home"

local made = 0

-- A new private directory under $TMPDIR (absolute) or /tmp: mkdir 0700
-- refuses a name that exists, so nothing planted there is used.
local function private_dir()
  local base = env.get("TMPDIR")
  if not base or base:sub(1, 1) ~= "/" then base = "/tmp" end
  for _ = 1, 100 do
    made = made + 1
    local noise = math.floor((policy.now() % 1) * 1e9)
    local dir = ("%s/nt3-test-%d-%d-%x"):format(base, env.pid(), made, noise)
    local ok, err, errno = fs.mkdir(dir, 448)
    if ok then return dir end
    if errno ~= 17 then return nil, err end
  end
  return nil, "cannot make a private directory under " .. base
end

local function remove_tree(path)
  local st = fs.lstat(path)
  if not st then return end
  if st.type == "directory" then
    for _, name in ipairs(fs.dir(path) or {}) do remove_tree(path .. "/" .. name) end
    fs.rmdir(path)
  else
    fs.remove(path)
  end
end

local function random_token()
  local parts = {}
  for _ = 1, 4 do parts[#parts + 1] = ("%08x"):format(math.random(0, 0xffffffff)) end
  return "entri_test" .. table.concat(parts)
end

-- testing.home([opts]) -> home | nil, message: a directory that is HOME
-- for testing.run, with .nt3/config.json (0600) holding a test token and
-- the API URL (opts.server's, or opts.api_url); opts.token picks the
-- token; opts.commands, a folder whose *.lua files (not *_spec.lua) are
-- copied into .nt3/commands.
function M.home(opts)
  check.arg(1, "home", opts, "table", true)
  opts = opts or {}
  if opts.server ~= nil and getmetatable(opts.server) ~= Server then
    check.fail(1, "home", "server must be a testing.server")
  end
  local url = opts.server and opts.server.url or opts.api_url
  if url ~= nil and type(url) ~= "string" then check.fail(1, "home", "api_url must be a string") end
  if opts.token ~= nil and type(opts.token) ~= "string" then check.fail(1, "home", "token must be a string") end
  if opts.commands ~= nil and type(opts.commands) ~= "string" then
    check.fail(1, "home", "commands must be a path")
  end
  local dir, err = private_dir()
  if not dir then return nil, err end
  local self = setmetatable({ dir = dir, config_dir = dir .. "/.nt3" }, Home)
  open_homes[self] = true
  local token = opts.token or random_token()
  self.token = policy.mask(token)
  assert(fs.mkdir(self.config_dir, 448))
  local cfg = { token = token, api_url = url }
  local ok, werr = fs.write(self.config_dir .. "/config.json", assert(json.encode(cfg)) .. "\n", 384)
  if not ok then
    self:remove()
    return nil, werr
  end
  if opts.commands then
    ok, werr = self:add_commands(opts.commands)
    if not ok then
      self:remove()
      return nil, werr
    end
  end
  return self
end

local function absolute(path)
  if path:sub(1, 1) == "/" then return path end
  return (env.cwd() or ".") .. "/" .. path
end

-- home:add_commands(path) -> true | nil, message: copies a command file, or
-- every *.lua of a folder but *_spec.lua, into the home's .nt3/commands.
function Home:add_commands(path)
  check.arg(1, "add_commands", path, "string")
  path = absolute(path)
  local st, err = fs.stat(path)
  if not st then return nil, err end
  local files = {}
  if st.type == "directory" then
    for _, name in ipairs(assert(fs.dir(path))) do
      if name:match("%.lua$") and not name:match("_spec%.lua$") then files[#files + 1] = path .. "/" .. name end
    end
  else
    files[1] = path
  end
  local into = self.config_dir .. "/commands"
  if not fs.lstat(into) then assert(fs.mkdir(into, 448)) end
  for _, file in ipairs(files) do
    local text, rerr = fs.read(file)
    if not text then return nil, rerr end
    local ok, werr = fs.write(into .. "/" .. file:match("[^/]*$"), text, 384)
    if not ok then return nil, werr end
  end
  return true
end

-- home:path(rel) -> the absolute path of rel inside the home
function Home:path(rel)
  check.arg(1, "path", rel, "string")
  return self.dir .. "/" .. rel
end

-- home:remove(): removes the directory and all it holds (links are not
-- followed)
function Home:remove()
  open_homes[self] = nil
  remove_tree(self.dir)
end
Home.__close = Home.remove

---------------------------------------------------------------------------
-- running a command
---------------------------------------------------------------------------

-- The variables that would make the child use something but the home:
-- the user's token, API URL, profile, configuration and caches.
local CLEARED = { "NT3_API_TOKEN", "NT3_API_URL", "NT3_PROFILE", "NT3_COMMANDS_PATH", "NT3_DEBUG",
  "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME" }

-- testing.run(name, argv [, opts]) -> { code, stdout, stderr } | nil,
-- message, code: `nt3 <name> <argv...>` run by the nt3 binary running now,
-- with opts.home as HOME (a new one, for opts.server, when not given) and
-- as its working directory (opts.cwd: another; one it cannot enter is
-- the failure "cwd"), opts.env added to its environment, stdin /dev/null,
-- opts.timeout seconds (default 60).
function M.run(name, argv, opts)
  check.arg(1, "run", name, "string")
  check.arg(2, "run", argv, "table", true)
  check.arg(3, "run", opts, "table", true)
  opts = opts or {}
  argv = argv or {}
  for i, a in ipairs(argv) do
    if type(a) ~= "string" then check.fail(2, "run", ("argv[%d] is a %s, not a string"):format(i, type(a))) end
  end
  if opts.home ~= nil and getmetatable(opts.home) ~= Home then check.fail(3, "run", "home must be a testing.home") end
  local home, temp = opts.home, false
  if not home then
    local err
    home, err = M.home { server = opts.server, commands = opts.commands }
    if not home then return nil, err, "system" end
    temp = true
  end
  local exe, err = socket.exe()
  if not exe then return nil, "cannot find the nt3 binary: " .. tostring(err), "system" end
  local vars = {}
  for _, k in ipairs(CLEARED) do vars[k] = false end
  vars.HOME = home.dir
  vars.NT3_CONFIG_DIR = home.config_dir
  for k, v in pairs(opts.env or {}) do vars[k] = v end
  local cmd = { exe, name }
  for _, a in ipairs(argv) do cmd[#cmd + 1] = a end
  local r, perr, code = require("nt3.proc").run(cmd,
    { env = vars, cwd = opts.cwd or home.dir, timeout = opts.timeout or 60, max_output = 16 * 1024 * 1024 })
  if temp then home:remove() end
  if not r then return nil, perr, code end
  return { code = r.code, stdout = r.stdout, stderr = r.stderr }
end

-- testing.close_all(): closes every server and removes every home still
-- open (nt3 test does it once the specs ran).
function M.close_all()
  for srv in pairs(open_servers) do srv:close() end
  for home in pairs(open_homes) do home:remove() end
  return next(open_servers) == nil
end

return M
