-- nt3.cli.api.request: what `nt3 api` does beyond a plain answer from the
-- HTTP cache (nt3.cli.api): fields and headers, the request, --paginate,
-- --filter, -i, --format, the terminal's output and the pager. Private to
-- nt3.cli.api.
local error, getmetatable, io, ipairs, load, math = error, getmetatable, io, ipairs, load, math
local next, pairs, setmetatable = next, pairs, setmetatable
local pcall, require, select, string, table = pcall, require, select, string, table
local tonumber, tostring, type, utf8 = tonumber, tostring, type, utf8
local cli = require "nt3.cli"
local base = require "nt3.cli.api"

local api_path, duration, is_tty, KNOWN_METHOD = base.api_path, base.duration, base.is_tty, base.KNOWN_METHOD

local M = {}

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
    -- `key[]` alone is an empty list, as in gh api
    if spec:match("^[^=]+%[%]$") then return spec, nil end
    cli.usage_error(("%s expects key=value, got %q"):format(flag, spec), cmd)
  end
  return key, value
end

-- A field's key as gh api reads it: name, then [sub] for a key of an
-- object and a final [] for an item of a list: "a[b][]" -> { "a", "b", "" }
local function key_path(key, flag, cmd)
  local name, rest = key:match("^([^%[%]]+)(.*)$")
  local path = { name }
  while name and rest ~= "" do
    local seg, after = rest:match("^%[([^%[%]]*)%](.*)$")
    if not seg or (seg == "" and after ~= "") then name = nil break end
    path[#path + 1], rest = seg, after
  end
  if not name then
    cli.usage_error(("%s %s: a field key is name, name[key] (in an object) or name[] (an item of a list, at the end)")
      :format(flag, key), cmd)
  end
  return path
end

-- The fields as the JSON body: nested objects and lists built from the
-- keys; a key given twice (other than name[]) is a mistake, not "the last wins".
local function body_fields(list, cmd)
  local json = require "nt3.json"
  local body, is_object = {}, {}
  is_object[body] = true
  for _, f in ipairs(list) do
    local path = key_path(f.key, f.flag, cmd)
    local append = path[#path] == ""
    if append then path[#path] = nil end
    local node = body
    local function clash()
      cli.usage_error(("%s %s: that field is already given (a list is key[]=value, an object key[name]=value)")
        :format(f.flag, f.key), cmd)
    end
    for i = 1, #path - 1 do
      local child = node[path[i]]
      if child == nil then
        child = {}
        is_object[child] = true
        node[path[i]] = child
      elseif not is_object[child] then
        clash()
      end
      node = child
    end
    local leaf, current = path[#path], node[path[#path]]
    if append then
      if current == nil then
        current = json.array()
        node[leaf] = current
      elseif getmetatable(current) ~= json.array_mt then
        clash()
      end
      if f.value ~= nil then current[#current + 1] = f.value end
    elseif current ~= nil then
      clash()
    else
      node[leaf] = f.value
    end
  end
  return body
end

-- The fields as a query string: keys as given (tags[]=x, a[b]=y), a key
-- given more than once sent once per value (?tags=x&tags=y).
local function query_fields(list)
  local query = {}
  for _, f in ipairs(list) do
    if f.value ~= nil then
      local current = query[f.key]
      if current == nil then
        query[f.key] = f.value
      elseif type(current) == "table" then
        current[#current + 1] = f.value
      else
        query[f.key] = { current, f.value }
      end
    end
  end
  return query
end

-- -F values: true, false, null, numbers, @file (its contents; @- stdin),
-- else the string itself
local function typed(value, spec, cmd)
  local json = require "nt3.json"
  if value == "true" then return true end
  if value == "false" then return false end
  if value == "null" then return json.null end
  if value:match("^-?%d+$") then
    local n = math.tointeger(tonumber(value))
    if n then return n end
  end
  if value:match("^-?%d+%.?%d*[eE][-+]?%d+$") or value:match("^-?%d+%.%d+$") then
    local n = tonumber(value)
    -- JSON has no infinity: 1E400 is a mistake to point at, not a crash
    if n == math.huge or n == -math.huge then
      cli.usage_error(("-F %s: the number is too large for JSON"):format(spec), cmd)
    end
    return n
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

-- The API URL to name in a network or 401/403 error, when it is not the
-- default one: a token sent to a staging or self-hosted URL by mistake is
-- then plain to see.
local function custom_url(code)
  if code ~= "network" and code ~= 401 and code ~= 403 then return nil end
  local root = require("nt3.api").url("/")
  if not root then return nil end
  root = root:sub(1, -2)
  if root == require("nt3.config").DEFAULT_API_URL then return nil end
  return root
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

-- What a terminal gets of the server's bytes: its lines and tabs, and
-- every other control character (an escape sequence), C1 control and
-- bidi or invisible character as "?" (policy.sanitize's rule). A pipe
-- gets the bytes as they came.
local function for_terminal(text)
  if not is_tty() then return text end
  return require("nt3.policy").sanitize(text, 0, { lines = true, mask = false })
end

-- As `gh api -i`: the status line with the version that answered, then
-- every header line in the order received (a repeated header on lines of
-- its own), then a blank line.
local function print_head(res)
  local status = ("HTTP/%s %d %s"):format(res.version or "1.1", res.status, res.reason or "")
  local lines = { (status:gsub(" $", "")) }
  for _, h in ipairs(res.header_list or {}) do lines[#lines + 1] = h.name .. ": " .. h.value end
  if is_tty() then
    -- one line each: a header cannot start a line of its own
    for k, line in ipairs(lines) do lines[k] = require("nt3.policy").sanitize(line, 0, { mask = false }) end
  end
  cli.out(table.concat(lines, "\n"), "\n\n")
end

local function print_body(res)
  local body = res.body or ""
  if body == "" then return end
  local value, is_json = require("nt3.api").decode(res)
  if not is_json then
    cli.out(for_terminal(body))
    return
  end
  if is_tty() then
    -- as the server sent it: its key order and its numbers, indented
    local pretty = require("nt3.json.text").pretty(body) or require("nt3.json").pretty(value)
    if pretty then
      cli.out(for_terminal(pretty), "\n")
      return
    end
  end
  cli.out(compact(body), "\n")
end

-- A value as --filter prints it: a string raw, a table as JSON (indented
-- on a terminal), nothing for nil, anything else as tostring does. On a
-- terminal it is printable text: the data came from the server.
local function print_value(value)
  local json = require "nt3.json"
  if value == nil then return end
  if type(value) == "table" then
    local text, err
    if is_tty() then text, err = json.pretty(value) else text, err = json.encode(value) end
    if not text then cli.fail("--filter: its result cannot be written as JSON: " .. tostring(err)) end
    cli.out(for_terminal(text), "\n")
  elseif value == json.null then
    cli.out("null\n")
  else
    cli.out(for_terminal(tostring(value)), "\n")
  end
end

-- An error of the filter, named once: Lua's own already starts "--filter:1:".
local function filter_error(err)
  err = tostring(err)
  if err:sub(1, 9) == "--filter:" then return err end
  return "--filter: " .. err
end

-- --filter '<lua>': an expression (or a chunk that returns) over the whole
-- decoded result, bound to the name `data`, with Lua's string, table,
-- math and utf8 libraries, nt3.json as `json` and print (to stdout);
-- nothing else. A result of nil with nothing printed is a mistake (a
-- misspelt key), not an empty line.
local function compile_filter(source, cmd)
  local printed = false
  local env = {
    json = require "nt3.json", string = string, table = table, math = math, utf8 = utf8,
    pairs = pairs, ipairs = ipairs, next = next, select = select, type = type,
    tostring = tostring, tonumber = tonumber, error = error, pcall = pcall,
    print = function(...)
      local parts = table.pack(...)
      for i = 1, parts.n do parts[i] = tostring(parts[i]) end
      printed = true
      cli.out(table.concat(parts, "\t", 1, parts.n), "\n")
    end,
  }
  local chunk = load("return " .. source, "=--filter", "t", env)
  local err
  if not chunk then chunk, err = load(source, "=--filter", "t", env) end
  if not chunk then cli.usage_error(filter_error(err), cmd) end
  return function(value)
    env.data = value
    local ok, result = pcall(chunk)
    if not ok then cli.fail(filter_error(result)) end
    if result == nil and not printed then
      cli.fail("--filter: the result is nil, nothing to print (a misspelt key? json.null prints null)")
    end
    return result
  end
end

-- A fresh Idempotency-Key: 128 random bits, as a UUID (version 4).
local function random_key()
  local f = io.open("/dev/urandom", "rb")
  local bytes = f and f:read(16)
  if f then f:close() end
  if not bytes or #bytes ~= 16 then cli.fail("cannot read /dev/urandom for an idempotency key") end
  local b = { bytes:byte(1, 16) }
  b[7] = (b[7] & 0x0f) | 0x40
  b[9] = (b[9] & 0x3f) | 0x80
  return ("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x"):format(table.unpack(b))
end

local function count_flag(value, flag, cmd, integer)
  local n = tonumber(value)
  if not n or n < 0 or n ~= n or n == math.huge or (integer and math.type(n) ~= "integer" and n % 1 ~= 0) then
    cli.usage_error(("%s expects %s, got %q"):format(flag, integer and "a whole number >= 0" or "a number of seconds",
      value), cmd)
  end
  return integer and math.tointeger(n) or n
end

-- The items so far, on stderr once the pages have taken a second, at a
-- terminal, unless --no-progress, NT3_NO_PROGRESS or the progress setting
-- turns it off (nt3.ui decides, through cli._progress, asked once the second has
-- passed: quick paging loads no UI). Erased before anything is printed,
-- and by its <close> on a failure.
local Counter = {}
Counter.__index = Counter

function Counter:done()
  if self.bar then self.bar:done() end
end
Counter.__close = Counter.done

function Counter:add()
  self.count = self.count + 1
  if self.bar then return self.bar:add() end
  if self.asked or self.now() - self.started < self.delay then return end
  self.asked = true
  self.bar = cli._progress { label = "nt3 api --paginate: items", count = self.count, flag = self.flag }
end

local function pages_progress(opts)
  local now = require("nt3.policy").now
  local c = setmetatable({ count = 0, now = now, started = now(), delay = require("nt3.task").PROGRESS_DELAY }, Counter)
  if opts.no_progress then c.flag = false end
  return c
end

-- --paginate: every page's items as ONE JSON array, as if the list were
-- one page; items keep the server's text (key order, numbers). Printed
-- once every page is in: a failure on page 3 leaves no half array behind.
local function print_pages(api, path, page_opts, progress)
  local items = {}
  for item in api.pages(path, page_opts) do
    items[#items + 1] = item
    progress:add()
  end
  progress:done()
  local text = "[" .. table.concat(items, ",") .. "]"
  if is_tty() then text = for_terminal(require("nt3.json.text").pretty(text) or text) end
  cli.out(text, "\n")
  return 0
end

-- --format table, csv or ndjson over every page (docs/architecture.md,
-- "Output formats"): csv and ndjson are written a page at a time, a table
-- once every page is in (its widths need every row).
local function print_page_rows(api, path, page_opts, out, progress)
  local json, text = require "nt3.json", require "nt3.json.text"
  -- csv and ndjson rows reach stdout page by page: a bar on the same
  -- terminal would land among them, so only a table counts its items
  local counting = out.kind == "table"
  local w = require("nt3.cli.format").writer(out.kind, out.columns)
  -- a page's items, and the text of its first (whose keys give the columns)
  local batch, first = {}, nil
  for item, i in api.pages(path, page_opts) do
    if i == 1 and #batch > 0 then
      w.add(batch, text.keys(first))
      batch = {}
    end
    if #batch == 0 then first = item end
    batch[#batch + 1] = json.decode(item)
    if counting then progress:add() end
  end
  if #batch > 0 then w.add(batch, text.keys(first)) end
  progress:done()
  w.finish()
  return 0
end

-- A result (the body, or what --filter gave) as --format's rows: a list's
-- items, an object as one row; columns in the order the server sent the
-- keys when the body says it (body is nil after --filter: sorted then).
local function print_rows(out, value, body)
  local keys
  if body then
    local text = require "nt3.json.text"
    local first = body
    if type(value) == "table" and #value > 0 then first = (text.items(body) or {})[1] end
    keys = first and text.keys(first)
  end
  require("nt3.cli.format").write(out.kind, value, out.columns, keys)
end

-- The body as --format's rows; a body that is no JSON has none.
local function print_body_rows(out, res)
  if (res.body or "") == "" then return end
  local value, is_json = require("nt3.api").decode(res)
  if not is_json then
    local ctype = res.headers and res.headers["content-type"] or "no Content-Type"
    cli.fail(("--format %s%s needs a JSON response, and this one is %s; --format json prints it as it is")
      :format(out.kind, out.source and " (" .. out.source .. ")" or "", require("nt3.policy").sanitize(ctype, 80)))
  end
  print_rows(out, value, res.body)
end

-- The output format in effect, or nil for the JSON nt3 api prints by
-- default: --format, else the api.format setting (`nt3 config`), with
-- --columns, else the api.columns setting. With -o or --silent there is no
-- output to format: a --format given with them is a mistake, the setting
-- is not.
local function output_format(opts, cmd)
  local settings = require "nt3.config.settings"
  local function columns_of(text) return text ~= "" and require("nt3.cli.format").columns(text) or nil end
  if opts.format or opts.columns then
    local kind, source = opts.format, nil
    if not kind then
      local err
      kind, err = settings.get("api.format")
      if kind == nil then cli.fail(err) end
      if kind == "json" then cli.usage_error("--columns goes with --format table, csv or ndjson", cmd) end
      source = "the api.format setting"
    end
    local chosen, columns = require("nt3.cli.format").choose(kind, opts.columns)
    if not chosen then cli.usage_error(columns, cmd) end
    if chosen == "json" then return nil end
    if opts.output or opts.silent then
      cli.usage_error("--format and --columns shape what is printed; they do not go with -o/--output or --silent", cmd)
    end
    if not columns then
      local text, err = settings.get("api.columns")
      if text == nil then cli.fail(err) end
      columns = columns_of(text)
    end
    return { kind = chosen, columns = columns, source = source }
  end
  if opts.output or opts.silent then return nil end
  local kind, source = settings.get("api.format")
  if kind == nil then cli.fail(source) end
  if kind == "json" then return nil end
  local text, err = settings.get("api.columns")
  if text == nil then cli.fail(err) end
  return { kind = kind, columns = columns_of(text), source = ("the api.format setting, from %s"):format(source) }
end

-- api.pages' options for --paginate: the request's, the bound, the key
local function pages_options(req, opts, cmd, raw)
  local page_opts = { query = req.query, headers = req.headers, raw = raw, cache = req.cache,
    retries = req.retries, max_retry_wait = req.max_retry_wait, key = opts.paginate_key }
  if opts.max_pages then
    page_opts.max_pages = count_flag(opts.max_pages, "--max-pages", cmd, true)
    if page_opts.max_pages == 0 then cli.usage_error("--max-pages expects a whole number >= 1, got 0", cmd) end
  end
  return page_opts
end

-- The pager setting (NT3_PAGER, `nt3 config set pager`) as an argv, or nil
-- for none ("", cat). Its words are split as an alias's are, never by a
-- shell; a bare program name is looked for in PATH's absolute directories.
local function pager_argv()
  local value, err = require("nt3.config.settings").get("pager")
  if value == nil then cli.fail(err) end
  if value == "" then return nil end
  local words, serr = require("nt3.cli.alias").split(value)
  if not words then cli.fail("the pager setting cannot be split into words: " .. serr) end
  local argv = require("nt3.cli.alias").substitute(words, {})
  if not argv or #argv == 0 or argv[1] == "cat" then return nil end
  if argv[1]:sub(1, 1) ~= "/" then
    local fs, found = require "nt3.fs", nil
    if not argv[1]:find("/", 1, true) then
      for dir in (require("nt3.env").get("PATH") or ""):gmatch("[^:]+") do
        local st = dir:sub(1, 1) == "/" and fs.stat(dir .. "/" .. argv[1])
        if st and st.type == "file" and st.mode & 73 ~= 0 then -- 0111
          found = dir .. "/" .. argv[1]
          break
        end
      end
    end
    if not found then
      cli.fail(('pager "%s" not found (an absolute path, or a program in PATH; empty for none)')
        :format(require("nt3.policy").sanitize(argv[1], 200)))
    end
    argv[1] = found
  end
  return argv
end

-- Runs fn with what it prints to the terminal kept, then hands all of it
-- to the pager (as gh does; LESS=FRX lets less print a short text and quit).
-- What a failure printed before it is paged too, then the failure raised.
local function paged(pager, fn, opts, ctx)
  local kept, real = {}, cli.out
  cli.out = function(...)
    local parts = table.pack(...)
    for i = 1, parts.n do kept[#kept + 1] = tostring(parts[i]) end
  end
  local ok, result = pcall(fn, opts, ctx)
  cli.out = real
  local text = table.concat(kept)
  if text ~= "" then
    local status, perr = require("nt3.proc").page(pager, text)
    if not status then
      cli.out(text)
      cli.warn(("the pager %s could not be started: %s"):format(require("nt3.policy").sanitize(pager[1], 200), perr))
    end
  end
  if not ok then error(result, 0) end
  return result
end

-- M.failed(opts, message, code, errres): a failed
-- api.request as nt3 api reports it, never returning: an HTTP error prints
-- the response (its head with -i, its body unless --silent) and exits 1
-- with the server's message; anything else exits with the code's status.
-- The API URL is named when it is not the default one.
function M.failed(opts, message, code, errres)
  local at = custom_url(code)
  if type(code) == "number" then
    if opts.include then print_head(errres) end
    if not opts.silent then print_body(errres) end
    -- a server with nothing to say gets "HTTP 418", not "HTTP 418 (HTTP 418)"
    if message == ("HTTP %d"):format(code) then cli.fail(message .. (at and " from the API at " .. at or "")) end
    cli.fail(("%s (HTTP %d%s)"):format(message, code, at and " from the API at " .. at or ""))
  end
  if at then message = ("could not reach the API at %s: %s"):format(at, message) end
  cli.fail(message, code)
end

local function request(opts, ctx, out)
  if opts.profile then require("nt3.config").use_profile(opts.profile) end
  local api = require "nt3.api"
  local cmd = ctx.command

  local field_list = {}
  for _, spec in ipairs(opts.raw_field or {}) do
    local k, v = split_field(spec, "-f", cmd)
    field_list[#field_list + 1] = { key = k, value = v, flag = "-f" }
  end
  for _, spec in ipairs(opts.field or {}) do
    local k, v = split_field(spec, "-F", cmd)
    if v ~= nil then v = typed(v, spec, cmd) end
    field_list[#field_list + 1] = { key = k, value = v, flag = "-F" }
  end
  local has_fields = #field_list > 0

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
  if not KNOWN_METHOD[method] then
    cli.usage_error(("unsupported method %q"):format(opts.method), cmd)
  end

  local path, perr, pkind = api_path(ctx.args[1])
  if not path then
    cli.fail(perr, pkind)
  end

  if opts.idempotency_key then
    headers["Idempotency-Key"] = opts.idempotency_key == "auto" and random_key() or opts.idempotency_key
  end
  local req = { method = method, path = path, headers = headers }
  if opts.no_decompress then req.decompress = false end
  if opts.retries then req.retries = count_flag(opts.retries, "--retries", cmd, true) end
  if opts.max_retry_wait then
    req.max_retry_wait = count_flag(opts.max_retry_wait, "--max-retry-wait", cmd, false)
    if req.max_retry_wait == 0 then req.retries = 0 end
  end
  if opts.cache then
    req.cache = duration(opts.cache, cmd)
    if opts.output then cli.usage_error("--cache keeps the body in memory; it does not go with -o/--output", cmd) end
  end
  if opts.paginate and method ~= "GET" then cli.usage_error("--paginate works with GET requests only", cmd) end
  if (opts.paginate_key or opts.max_pages) and not opts.paginate then
    cli.usage_error("--paginate-key and --max-pages go with --paginate", cmd)
  end
  if opts.output and (opts.paginate or opts.filter) then
    cli.usage_error("-o/--output takes the body as it is; it does not go with --paginate or --filter", cmd)
  end
  if opts.input then
    req.body = read_input(opts.input)
    if has_fields then req.query = query_fields(field_list) end
  elseif has_fields then
    if method == "GET" or method == "HEAD" then
      req.query = query_fields(field_list)
    else
      req.body = body_fields(field_list, cmd)
    end
  end

  local filter = opts.filter and compile_filter(opts.filter, cmd)
  if opts.paginate then
    local progress <close> = pages_progress(opts)
    if not filter then
      if out then return print_page_rows(api, path, pages_options(req, opts, cmd, true), out, progress) end
      return print_pages(api, path, pages_options(req, opts, cmd, true), progress)
    end
    local all = require("nt3.json").array()
    for item in api.pages(path, pages_options(req, opts, cmd, false)) do
      all[#all + 1] = item
      progress:add()
    end
    progress:done()
    if out then print_rows(out, filter(all)) else print_value(filter(all)) end
    return 0
  end

  -- the body goes where it is asked for as it arrives: to a file, or
  -- straight through a pipe, with no decoding and no size cap (the
  -- engine writes it to stdout's descriptor itself:
  -- docs/architecture.md, "Piping a body")
  if opts.output then
    req.output = opts.output
  elseif opts.silent then
    req.sink = function() end
  elseif not filter and not out and not opts.include and not is_tty() and not req.cache then
    req.raw = true
    req.sink = io.stdout
  elseif not filter and not opts.include and not is_tty() then
    -- --cache to a pipe: the body goes out as stored, never decoded
    req.raw = true
  end

  local value, res, code, errres = api.request(req)
  if value == nil then M.failed(opts, res, code, errres) end
  if filter then
    if out then print_rows(out, filter(value)) else print_value(filter(value)) end
    return 0
  end
  if opts.include then print_head(res) end
  if out then
    print_body_rows(out, res)
    return 0
  end
  if not opts.silent and not req.sink and not req.output then
    -- a pipe gets the server's bytes unchanged, from the cache too
    if req.cache and not opts.include and not is_tty() then cli.out(res.body or "") else print_body(res) end
  end
  return 0
end

-- nt3 api, run: on a terminal, with a pager set, what the command prints
-- goes through it; rows nt3.ui writes (--format) go to the terminal itself.
function M.run(opts, ctx)
  if opts.profile then require("nt3.config").use_profile(opts.profile) end
  local out = output_format(opts, ctx.command)
  local pager = not out and is_tty() and not opts.output and pager_argv()
  if not pager then return request(opts, ctx, out) end
  return paged(pager, request, opts, ctx)
end

return M
