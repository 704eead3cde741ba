-- nt3 api <path>: an authenticated request to the nt3 API, like `gh api`.
local cli = require "nt3.cli"

local INPUT_MAX = 64 * 1024 * 1024

local function read_input(source)
  if source == "-" then
    local data = io.stdin:read("a")
    if not data then cli.fail("cannot read the body from standard input") end
    return data
  end
  local data, err = require("nt3.fs").read(source, INPUT_MAX)
  if not data then cli.fail(err) end
  return data
end

local function split_field(spec, flag, cmd)
  local key, value = spec:match("^([^=]+)=(.*)$")
  if not key then
    cli.usage_error(("%s expects key=value, got %q"):format(flag, spec), cmd)
  end
  return key, value
end

-- -F values: true, false, null, numbers, @file (its contents; @- stdin),
-- else the string itself
local function typed(value)
  local json = require "nt3.json"
  if value == "true" then return true end
  if value == "false" then return false end
  if value == "null" then return json.null end
  if value:match("^-?%d+$") then
    local n = math.tointeger(tonumber(value))
    if n then return n end
  end
  if value:match("^-?%d+%.?%d*[eE][-+]?%d+$") or value:match("^-?%d+%.%d+$") then
    return tonumber(value)
  end
  if value:sub(1, 1) == "@" then return read_input(value:sub(2)) end
  return value
end

local function parse_header(line, cmd)
  -- a line break would make a second header line (or a second request)
  if line:find("[\r\n%z]") then
    cli.usage_error('-H takes one line, "Name: value"; this one has a line break or a NUL byte in it', cmd)
  end
  local name, value = line:match("^%s*([^:%s]+)%s*:%s*(.-)%s*$")
  if not name then cli.usage_error(('-H expects "Name: value", got %q'):format(line), cmd) end
  return name, value
end

-- Accepts "/api/v1/me", "api/v1/me", or a full URL under the API URL; a
-- URL anywhere else is refused so the token stays with its origin.
local function api_path(arg, api)
  if arg:match("^%a[%w+.-]*://") then
    local root, err, kind = api.url("/")
    if not root then return nil, err, kind end
    if arg:sub(1, #root) == root then return arg:sub(#root) end
    cli.fail(("refusing to send the token to %s: it is not under the API URL %s"):format(arg, root:sub(1, -2)))
  end
  if arg:sub(1, 1) ~= "/" then arg = "/" .. arg end
  return arg
end

-- Removes the white space outside strings, leaving everything else (key
-- order, number spelling) exactly as the server sent it.
local function compact(text)
  local out, i, n = {}, 1, #text
  while i <= n do
    local s = text:find('[%s"]', i)
    if not s then
      out[#out + 1] = text:sub(i)
      break
    end
    out[#out + 1] = text:sub(i, s - 1)
    if text:byte(s) == 34 then -- '"'
      local j = s + 1
      while true do
        local q = text:find('["\\]', j)
        if not q then return text end
        if text:byte(q) == 92 then j = q + 2 else j = q break end
      end
      out[#out + 1] = text:sub(s, j)
      i = j + 1
    else
      i = select(2, text:find("^%s+", s)) + 1
    end
  end
  return table.concat(out)
end

-- As `gh api -i`: the status line with the version that answered, then
-- every header line in the order received (a repeated header on lines of
-- its own), then a blank line.
local function print_head(res)
  local status = ("HTTP/%s %d %s"):format(res.version or "1.1", res.status, res.reason or "")
  local lines = { (status:gsub(" $", "")) }
  for _, h in ipairs(res.header_list or {}) do lines[#lines + 1] = h.name .. ": " .. h.value end
  cli.out(table.concat(lines, "\n"), "\n\n")
end

local function print_body(res)
  local body = res.body or ""
  if body == "" then return end
  local value, is_json = require("nt3.api").decode(res)
  if not is_json then
    cli.out(body)
    return
  end
  if require("nt3.prompt").isatty("stdout") then
    local pretty = require("nt3.json").pretty(value)
    if pretty then
      cli.out(pretty, "\n")
      return
    end
  end
  cli.out(compact(body), "\n")
end

return {
  name = "api",
  summary = "Make an authenticated request to the nt3 API",
  args = { "path" },
  flags = {
    { short = "X", long = "method", value = "method", help = "HTTP method (default GET, or POST with fields or --input)" },
    { short = "H", long = "header", value = "name:value", multiple = true,
      help = "Add a request header (repeatable; a name given twice is sent on two lines)" },
    { short = "f", long = "raw-field", value = "key=value", multiple = true, help = "Add a string field" },
    { short = "F", long = "field", value = "key=value", multiple = true,
      help = "Add a typed field: numbers, true, false, null, @file (@- for stdin)" },
    { long = "input", value = "file", help = "The request body, from a file or - for stdin" },
    { short = "i", long = "include",
      help = "Print the status line and response headers before the body" },
    { long = "silent", help = "Do not print the response body" },
  },
  description = [[
Sends a request to <api_url><path> with the active token (the one `nt3 status`
shows) and prints the response body: JSON is pretty-printed on a terminal and
compact otherwise. Fields become a JSON object body, or the query string of a
GET request (and of any request with --input). An HTTP error status exits 1
with the server's message on stderr. With -i, the status line
(HTTP/<version> <code> <reason>) and every response header line, in the
order received, come first, then a blank line. For a server with a private CA, set
NT3_CA_FILE to the absolute path of its PEM certificate file.]],
  examples = {
    "nt3 api /api/v1/me",
    "nt3 api /api/v1/items -X GET -F page=2 -F per_page=50",
    "nt3 api -X PATCH /api/v1/items/7 -f name=renamed -F archived=true",
    "echo '{\"name\":\"x\"}' | nt3 api /api/v1/items --input -",
  },
  run = function(opts, ctx)
    local api = require "nt3.api"
    local cmd = ctx.command

    local fields = {}
    local has_fields = false
    for _, spec in ipairs(opts.raw_field or {}) do
      local k, v = split_field(spec, "-f", cmd)
      fields[k], has_fields = v, true
    end
    for _, spec in ipairs(opts.field or {}) do
      local k, v = split_field(spec, "-F", cmd)
      fields[k], has_fields = typed(v), true
    end

    -- a name given once is Name = value, one given again (in any case)
    -- Name = {values}: nt3.http sends each value on its own line, in order,
    -- and either form still replaces nt3's own header of that name
    local headers, spelling = {}, {}
    for _, line in ipairs(opts.header or {}) do
      local name, value = parse_header(line, cmd)
      local key = spelling[name:lower()]
      if not key then
        spelling[name:lower()] = name
        headers[name] = value
      elseif type(headers[key]) == "table" then
        table.insert(headers[key], value)
      else
        headers[key] = { headers[key], value }
      end
    end

    local method = opts.method and opts.method:upper()
      or ((has_fields or opts.input) and "POST" or "GET")
    if not method:match("^[A-Z]+$") or not ({ GET = 1, POST = 1, PUT = 1, PATCH = 1, DELETE = 1, HEAD = 1, OPTIONS = 1 })[method] then
      cli.usage_error(("unsupported method %q"):format(opts.method), cmd)
    end

    local path, perr, pkind = api_path(ctx.args[1], api)
    if not path then
      cli.fail(perr, pkind == "not_logged_in" and cli.EXIT.not_logged_in or cli.EXIT.failure)
    end

    local req = { method = method, path = path, headers = headers }
    if opts.input then
      req.body = read_input(opts.input)
      if has_fields then req.query = fields end
    elseif has_fields then
      if method == "GET" or method == "HEAD" then req.query = fields else req.body = fields end
    end

    local value, res, code, errres = api.request(req)
    if value == nil then
      local message = res
      if type(code) == "number" then
        if opts.include then print_head(errres) end
        if not opts.silent then print_body(errres) end
        cli.fail(("%s (HTTP %d)"):format(message, code))
      end
      cli.fail(message, code == "not_logged_in" and cli.EXIT.not_logged_in or cli.EXIT.failure)
    end
    if opts.include then print_head(res) end
    if not opts.silent then print_body(res) end
    return 0
  end,
}
