-- nt3.ui: output that fits a terminal and a pipe
-- (docs/architecture.md, "Output for people and for pipes"). At a terminal: aligned columns cut to
-- its width, colour, and everything shown through policy.sanitize; on a pipe
-- or into a file: the caller's data as it is, in a shape cut, awk, a CSV
-- reader or jq take. Progress goes to a terminal's stderr only.
local _G, error, getmetatable, ipairs, io, math, pairs = _G, error, getmetatable, ipairs, io, math, pairs
local pcall, require, select = pcall, require, select
local setmetatable, table, tonumber, tostring, type, utf8 = setmetatable, table, tonumber, tostring, type, utf8
local check = require "nt3.check"
local env = require "nt3.env"
local json = require "nt3.json"
local policy = require "nt3.policy"
local prompt = require "nt3.prompt"

local M = {}

-- The streams the writers take (opts.stream): io.stdout and io.stderr, here
-- for a sandboxed command too, which has no io (docs/sandbox.md).
M.stdout, M.stderr = io.stdout, io.stderr

-- What marks a cell cut to fit: one column wide.
M.ELLIPSIS = "\u{2026}"

-- Display widths that are not 1, as sorted, disjoint code point ranges
-- { first, last, width }, from Unicode's East Asian Width property (W and
-- F are 2), the emoji blocks shown in emoji presentation (2), and the
-- nonspacing and enclosing combining marks, which draw over the character
-- before them (0). Everything else printable is 1.
local RANGES = {
  { 0x0300, 0x036F, 0 }, -- Combining Diacritical Marks
  { 0x0483, 0x0489, 0 }, -- Cyrillic combining marks
  { 0x0591, 0x05BD, 0 }, { 0x05BF, 0x05BF, 0 }, { 0x05C1, 0x05C2, 0 }, { 0x05C4, 0x05C5, 0 },
  { 0x05C7, 0x05C7, 0 }, -- Hebrew points
  { 0x0610, 0x061A, 0 }, { 0x064B, 0x065F, 0 }, { 0x0670, 0x0670, 0 }, { 0x06D6, 0x06DC, 0 },
  { 0x06DF, 0x06E4, 0 }, { 0x06E7, 0x06E8, 0 }, { 0x06EA, 0x06ED, 0 }, -- Arabic marks
  { 0x0900, 0x0902, 0 }, { 0x093A, 0x093A, 0 }, { 0x093C, 0x093C, 0 }, { 0x0941, 0x0948, 0 },
  { 0x094D, 0x094D, 0 }, { 0x0951, 0x0957, 0 }, { 0x0962, 0x0963, 0 }, -- Devanagari signs
  { 0x0E31, 0x0E31, 0 }, { 0x0E34, 0x0E3A, 0 }, { 0x0E47, 0x0E4E, 0 }, -- Thai vowels and tones
  { 0x1100, 0x115F, 2 }, -- Hangul Jamo leading consonants
  { 0x1160, 0x11FF, 0 }, -- Hangul Jamo vowels and trailing consonants (they join the syllable)
  { 0x1AB0, 0x1AFF, 0 }, -- Combining Diacritical Marks Extended
  { 0x1DC0, 0x1DFF, 0 }, -- Combining Diacritical Marks Supplement
  { 0x200B, 0x200D, 0 }, -- zero width space, non-joiner, joiner
  { 0x20D0, 0x20FF, 0 }, -- Combining Diacritical Marks for Symbols
  { 0x231A, 0x231B, 2 }, { 0x2329, 0x232A, 2 }, { 0x23E9, 0x23EC, 2 }, { 0x23F0, 0x23F0, 2 },
  { 0x23F3, 0x23F3, 2 }, { 0x25FD, 0x25FE, 2 }, { 0x2614, 0x2615, 2 }, { 0x2648, 0x2653, 2 },
  { 0x267F, 0x267F, 2 }, { 0x2693, 0x2693, 2 }, { 0x26A1, 0x26A1, 2 }, { 0x26AA, 0x26AB, 2 },
  { 0x26BD, 0x26BE, 2 }, { 0x26C4, 0x26C5, 2 }, { 0x26CE, 0x26CE, 2 }, { 0x26D4, 0x26D4, 2 },
  { 0x26EA, 0x26EA, 2 }, { 0x26F2, 0x26F3, 2 }, { 0x26F5, 0x26F5, 2 }, { 0x26FA, 0x26FA, 2 },
  { 0x26FD, 0x26FD, 2 }, { 0x2705, 0x2705, 2 }, { 0x270A, 0x270B, 2 }, { 0x2728, 0x2728, 2 },
  { 0x274C, 0x274C, 2 }, { 0x274E, 0x274E, 2 }, { 0x2753, 0x2755, 2 }, { 0x2757, 0x2757, 2 },
  { 0x2795, 0x2797, 2 }, { 0x27B0, 0x27B0, 2 }, { 0x27BF, 0x27BF, 2 }, { 0x2B1B, 0x2B1C, 2 },
  { 0x2B50, 0x2B50, 2 }, { 0x2B55, 0x2B55, 2 }, -- symbols with emoji presentation
  { 0x2E80, 0x3029, 2 }, -- CJK radicals, Kangxi, ideographic description, CJK punctuation
  { 0x302A, 0x302D, 0 }, -- ideographic tone marks
  { 0x302E, 0x303E, 2 },
  { 0x3041, 0x3098, 2 }, -- Hiragana
  { 0x3099, 0x309A, 0 }, -- combining (semi-)voiced sound marks
  { 0x309B, 0x33FF, 2 }, -- Katakana, Bopomofo, Hangul compatibility, Kanbun, CJK strokes, enclosed, compatibility
  { 0x3400, 0x4DBF, 2 }, -- CJK Extension A
  { 0x4E00, 0x9FFF, 2 }, -- CJK Unified Ideographs
  { 0xA000, 0xA4CF, 2 }, -- Yi
  { 0xA960, 0xA97F, 2 }, -- Hangul Jamo Extended-A
  { 0xAC00, 0xD7A3, 2 }, -- Hangul syllables
  { 0xF900, 0xFAFF, 2 }, -- CJK Compatibility Ideographs
  { 0xFE00, 0xFE0F, 0 }, -- variation selectors
  { 0xFE10, 0xFE19, 2 }, -- vertical forms
  { 0xFE20, 0xFE2F, 0 }, -- Combining Half Marks
  { 0xFE30, 0xFE6F, 2 }, -- CJK compatibility forms, small form variants
  { 0xFF00, 0xFF60, 2 }, -- fullwidth forms
  { 0xFFE0, 0xFFE6, 2 }, -- fullwidth signs
  { 0x16FE0, 0x16FE4, 2 }, { 0x17000, 0x18CFF, 2 }, -- Tangut, Khitan
  { 0x1B000, 0x1B2FF, 2 }, -- Kana supplement and extended, Nushu
  { 0x1F004, 0x1F004, 2 }, { 0x1F0CF, 0x1F0CF, 2 }, { 0x1F18E, 0x1F18E, 2 }, { 0x1F191, 0x1F19A, 2 },
  { 0x1F200, 0x1F2FF, 2 }, -- Enclosed Ideographic Supplement
  { 0x1F300, 0x1F64F, 2 }, -- Miscellaneous Symbols and Pictographs, Emoticons
  { 0x1F680, 0x1F6FF, 2 }, -- Transport and Map Symbols
  { 0x1F7E0, 0x1F7EB, 2 }, -- coloured circles and squares
  { 0x1F900, 0x1F9FF, 2 }, -- Supplemental Symbols and Pictographs
  { 0x1FA70, 0x1FAFF, 2 }, -- Symbols and Pictographs Extended-A
  { 0x20000, 0x2FFFD, 2 }, -- CJK Extensions B to F, compatibility supplement
  { 0x30000, 0x3FFFD, 2 }, -- CJK Extensions G and H
  { 0xE0100, 0xE01EF, 0 }, -- variation selectors supplement
}

-- The display width of one code point.
local function char_width(cp)
  if cp < 0x300 then return 1 end
  local lo, hi = 1, #RANGES
  while lo <= hi do
    local mid = (lo + hi) // 2
    local r = RANGES[mid]
    if cp < r[1] then
      hi = mid - 1
    elseif cp > r[2] then
      lo = mid + 1
    else
      return r[3]
    end
  end
  return 1
end

-- Each character of text, with where it starts; a byte that starts no UTF-8
-- character is one on its own (policy.sanitize has made it "?" at a terminal).
local function chars(text)
  local at = 1
  return function()
    if at > #text then return nil end
    local _, stop = text:find("^[\xC2-\xF4][\x80-\xBF]*", at)
    local start = at
    at = (stop or at) + 1
    return start, text:sub(start, at - 1)
  end
end

local function width_of(ch)
  if #ch == 1 then return 1 end
  local ok, cp = pcall(utf8.codepoint, ch, 1, 1, true)
  return ok and char_width(cp) or 1
end

-- ui.width(text) -> the columns text takes on a terminal
function M.width(text)
  check.arg(1, "width", text, "string")
  local w = 0
  for _, ch in chars(text) do w = w + width_of(ch) end
  return w
end

-- text cut to at most `max` columns, ELLIPSIS marking a cut, never inside a
-- character: a combining mark stays with the character before it
local function fit(text, w, max)
  if w <= max then return text end
  local room, used, stop = max - 1, 0, 1
  for at, ch in chars(text) do
    local cw = width_of(ch)
    if used + cw > room then break end
    used = used + cw
    stop = at + #ch
  end
  return text:sub(1, stop - 1) .. M.ELLIPSIS
end

-- The stream's file descriptor name for nt3.prompt, or nil for one that is
-- no standard stream (a file the caller opened is never a terminal here).
local function stream_name(stream)
  if stream == io.stdout then return "stdout" end
  if stream == io.stderr then return "stderr" end
  return nil
end

local function is_terminal(stream)
  local name = stream_name(stream)
  return name ~= nil and prompt.isatty(name)
end

local function terminal_width(stream)
  local name = stream_name(stream)
  local w = name and prompt.columns(name)
  if w then return w end
  w = math.tointeger(tonumber(env.get("COLUMNS") or ""))
  return w and w > 0 and w or 80
end

-- row["owner.login"], else row.owner.login; nil when any step is missing
local function field(row, column)
  local v = row[column]
  if v ~= nil then return v end
  for key in column:gmatch("[^.]+") do
    if type(row) ~= "table" then return nil end
    row = row[key]
  end
  return row
end

-- ui.field(row, column) -> the value a column names in row, or nil
function M.field(row, column)
  check.arg(1, "field", row, "table")
  check.arg(2, "field", column, "string")
  return field(row, column)
end

-- A value as the text of a cell: nothing for nil and JSON null, tables as JSON.
local function cell(row, column)
  local v = type(row) == "table" and field(row, column) or nil
  if v == nil or v == json.null then return "" end
  if type(v) == "table" then return (json.encode(v)) or "" end
  return tostring(v)
end

local function options(fname, opts)
  opts = check.arg(2, fname, opts, "table", true) or {}
  local stream = opts.stream or io.stdout
  if io.type(stream) ~= "file" then check.fail(2, fname, "stream must be an open file", 2) end
  return opts, stream
end

local function columns_of(n, fname, columns)
  check.arg(n, fname, columns, "table", false, 2)
  if #columns == 0 then check.fail(n, fname, "at least one column expected", 2) end
  for i, c in ipairs(columns) do
    if type(c) ~= "string" or c == "" then
      check.fail(n, fname, ("column %d must be a non-empty string"):format(i), 2)
    end
  end
  return columns
end

local function write(stream, text)
  local ok, err, code = stream:write(text)
  if not ok then return nil, err, code end
  return true
end

-- Column widths that fit `room`: a column narrower than its fair share keeps
-- its width, the rest share what is left equally.
local function fit_widths(natural, room)
  local n, total = #natural, 0
  for _, w in ipairs(natural) do total = total + w end
  if total <= room then return natural end
  local order = {}
  for i = 1, n do order[i] = i end
  table.sort(order, function(a, b) return natural[a] < natural[b] end)
  local widths, left = {}, room
  for k, i in ipairs(order) do
    local share = math.max(1, left // (n - k + 1))
    widths[i] = math.min(natural[i], share)
    left = left - widths[i]
  end
  return widths
end

-- ui.table(rows, opts) -> true | nil, message, errno
function M.table(rows, opts)
  check.arg(1, "table", rows, "table")
  local stream
  opts, stream = options("table", opts)
  local columns = columns_of(2, "table", opts.columns)
  local out = {}
  if not is_terminal(stream) then
    -- a row is a line and a cell never holds a tab, or cut and awk would split it
    for _, row in ipairs(rows) do
      local line = {}
      for i, c in ipairs(columns) do line[i] = (cell(row, c):gsub("[\t\r\n]", " ")) end
      out[#out + 1] = table.concat(line, "\t") .. "\n"
    end
    return write(stream, table.concat(out))
  end
  local headers = opts.headers or {}
  local grid, natural = {}, {}
  for r = 0, #rows do
    local line = {}
    for i, c in ipairs(columns) do
      local text = policy.sanitize(r == 0 and tostring(headers[i] or c:upper()) or cell(rows[r], c))
      local w = M.width(text)
      line[i] = { text, w }
      natural[i] = math.max(natural[i] or 0, w)
    end
    grid[#grid + 1] = line
  end
  local widths = fit_widths(natural, terminal_width(stream) - 2 * (#columns - 1))
  for _, line in ipairs(grid) do
    local parts = {}
    for i, c in ipairs(line) do
      local text = fit(c[1], c[2], widths[i])
      parts[i] = i < #line and text .. (" "):rep(widths[i] - M.width(text)) or text
    end
    out[#out + 1] = table.concat(parts, "  ") .. "\n"
  end
  return write(stream, table.concat(out))
end

-- One CSV field (RFC 4180): quoted when it holds a comma, a quote, CR or LF.
local function csv_field(text)
  if text:find('[,"\r\n]') then return '"' .. text:gsub('"', '""') .. '"' end
  return text
end

-- ui.csv(rows, columns[, opts]) -> true | nil, message, errno
function M.csv(rows, columns, opts)
  check.arg(1, "csv", rows, "table")
  columns_of(2, "csv", columns)
  opts = check.arg(3, "csv", opts, "table", true) or {}
  local stream = opts.stream or io.stdout
  if io.type(stream) ~= "file" then check.fail(3, "csv", "stream must be an open file") end
  local shown = is_terminal(stream)
  local out = {}
  local function record(fields)
    for i, f in ipairs(fields) do
      if shown then f = policy.sanitize(f, 0, { lines = true }) end
      fields[i] = csv_field(f)
    end
    out[#out + 1] = table.concat(fields, ",") .. "\r\n"
  end
  if opts.header ~= false then
    local h = {}
    for i, c in ipairs(columns) do h[i] = c end
    record(h)
  end
  for _, row in ipairs(rows) do
    local fields = {}
    for i, c in ipairs(columns) do fields[i] = cell(row, c) end
    record(fields)
  end
  return write(stream, table.concat(out))
end

-- ui.ndjson(rows[, opts]) -> true | nil, message, errno
function M.ndjson(rows, opts)
  check.arg(1, "ndjson", rows, "table")
  local _, stream = options("ndjson", opts)
  local shown = is_terminal(stream)
  local out = {}
  for i, row in ipairs(rows) do
    local line, err = json.encode(row)
    if not line then check.fail(1, "ndjson", ("row %d: %s"):format(i, err)) end
    out[#out + 1] = (shown and policy.sanitize(line) or line) .. "\n"
  end
  return write(stream, table.concat(out))
end

-- SGR parameters of the colours ui.color knows
local SGR = {
  bold = "1", dim = "2", underline = "4",
  red = "31", green = "32", yellow = "33", blue = "34", magenta = "35", cyan = "36", gray = "90",
}

local function set(name)
  local v = env.get(name)
  return v ~= nil and v ~= ""
end

-- The color setting (auto, always, never) from where it is set, read once
-- a process (nt3.config.settings, only when colour is asked about).
local color_setting
local function setting()
  if not color_setting then
    local value, err = require("nt3.config.settings").get("color")
    if value == nil then error(err, 0) end
    color_setting = value
  end
  return color_setting
end

-- ui.colors(stream) -> whether colour is shown on stream
-- NT3_COLOR first, then NO_COLOR and CLICOLOR_FORCE, then the color
-- setting of the profile, then the global one; auto (the default) is a
-- terminal's that is not TERM=dumb.
function M.colors(stream)
  stream = stream or io.stdout
  if io.type(stream) ~= "file" then check.fail(1, "colors", "an open file expected") end
  local mode
  if set("NT3_COLOR") then
    mode = setting()
  elseif set("NO_COLOR") then
    return false
  elseif set("CLICOLOR_FORCE") and env.get("CLICOLOR_FORCE") ~= "0" then
    return true
  else
    mode = setting()
  end
  if mode ~= "auto" then return mode == "always" end
  if env.get("TERM") == "dumb" then return false end
  return is_terminal(stream)
end

-- ui.color(name, text[, stream]) -> text, in colour when stream shows colour
function M.color(name, text, stream)
  check.arg(1, "color", name, "string")
  local sgr = SGR[name]
  if not sgr then check.fail(1, "color", ('unknown colour "%s"'):format(policy.sanitize(name, 40))) end
  text = tostring(check.arg(2, "color", text, "string|number"))
  if not M.colors(stream) then return text end
  return ("\27[%sm%s\27[0m"):format(sgr, text)
end


-- ui.progress: one line on stderr that redraws itself, at a terminal only
-- (docs/architecture.md, "Output for people and for pipes").
local Progress = {}
Progress.__index = Progress
Progress.__name = "nt3.ui.progress"

-- At most this many redraws a second, by the monotonic clock: a bar that
-- redraws at every item of a fast loop would cost more than the loop.
M.PROGRESS_RATE = 10

local SPINNER = { "|", "/", "-", "\\" }

-- Whether progress may be shown: the one rule for every bar, a command's
-- own ui.progress and those nt3 shows by itself (task.map, nt3 api
-- --paginate). stderr is a terminal, and the progress setting is on:
-- --no-progress (M._set_progress_flag(false), from nt3.cli) wins over
-- NT3_NO_PROGRESS, which wins over the profile's and the global setting
-- (nt3.config.settings; a value that cannot be read shows none). In a
-- sandbox the setting is the host's answer, handed in by C.
local progress_flag

function M._set_progress_flag(flag)
  progress_flag = flag
end

local function progress_allowed()
  if not is_terminal(io.stderr) then return false end
  return require("nt3.config.settings").get("progress", { flag = progress_flag }) == true
end

-- The bar's line for the terminal's width: the label cut to fit, then the
-- count (and for a known total, a bar of what is done).
local function progress_line(p, columns)
  local room = columns - 1 -- never the last column: a terminal may wrap there
  local count
  if p.total then
    count = ("%d/%d"):format(math.min(p.count, p.total), p.total)
  else
    p.turn = p.turn % #SPINNER + 1
    count = ("%s %d"):format(SPINNER[p.turn], p.count)
  end
  local label = p.label
  if label ~= "" then
    local left = room - #count - 1
    label = left >= 2 and fit(label, M.width(label), left) .. " " or ""
  end
  local line = label .. count
  local bar = room - M.width(line) - 3
  if p.total and bar >= 5 then
    bar = math.min(bar, 40)
    local full = p.total == 0 and bar or math.min(bar, p.count * bar // p.total)
    line = label .. "[" .. ("#"):rep(full) .. ("."):rep(bar - full) .. "] " .. count
  end
  return line
end

-- The line a bar owns at the terminal, and the output that goes around it
-- (docs/architecture.md, "Output for people and for pipes"). Whatever else
-- reaches the terminal while a bar is shown (print, io.write, a write to
-- io.stdout or io.stderr, and so nt3.ui's tables and nt3's messages) first
-- erases the bar, and the bar is drawn again once that output has ended
-- its line: output lines never mix with the bar. Those writers are wrapped
-- only while a bar is shown, so output costs nothing more otherwise. In a
-- sandbox the bar goes through io.progress_line (C, the one way it reaches
-- the terminal with controls of its own: its text as one printable line),
-- and C does the same around the command's print.
local put_line = io.progress_line
local owner        -- the bar that holds the line now, if any
local on_screen    -- whether owner's line is drawn
local mid_line     -- output to the terminal has not ended its line yet
local unwrapped    -- the writers as they were, while they are wrapped

-- (host) the raw writes of the bar itself: never through the wrappers
local function raw_write(...)
  if unwrapped then return unwrapped.write(io.stderr, ...) end
  return io.stderr:write(...)
end

-- One write(2) for the whole line: a terminal's echo (Ctrl-C's "^C") can
-- land between two writes, never inside one.
local function show(text)
  if put_line then return put_line(text) end
  raw_write("\r" .. text .. "\27[K")
  io.stderr:flush()
end

-- Output of `fn(...)` to the terminal (ends_line: whether it leaves the
-- cursor at a line's start): the bar erased before, drawn again after.
local function around(stream, ends_line, fn, ...)
  if on_screen then
    show("")
    on_screen = false
  end
  local r = table.pack(fn(...))
  stream:flush()
  mid_line = not ends_line
  if owner and not mid_line then
    owner.text = progress_line(owner, terminal_width(io.stderr))
    on_screen = true -- before the draw: Ctrl-C raised in it leaves the line to erase
    show(owner.text)
  end
  return table.unpack(r, 1, r.n)
end

local function last_ends_line(...)
  local n = select("#", ...)
  local last = n > 0 and select(n, ...)
  if type(last) ~= "string" and type(last) ~= "number" then return n == 0 and not mid_line end
  last = tostring(last)
  if last == "" then return not mid_line end
  return last:sub(-1) == "\n"
end

local function wrap()
  if put_line or unwrapped then return end
  local file = getmetatable(io.stdout).__index
  local out_tty = prompt.isatty("stdout")
  local stdout, stderr = io.stdout, io.stderr
  unwrapped = { print = _G.print, write = file.write, io_write = io.write }
  local u = unwrapped
  local function on_terminal(f) return f == stderr or (f == stdout and out_tty) end
  file.write = function(f, ...)
    if not on_terminal(f) then return u.write(f, ...) end
    return around(f, last_ends_line(...), u.write, f, ...)
  end
  io.write = function(...)
    local f = io.output()
    if not on_terminal(f) then return u.io_write(...) end
    return around(f, last_ends_line(...), u.io_write, ...)
  end
  _G.print = function(...)
    if not out_tty then return u.print(...) end
    return around(stdout, true, u.print, ...)
  end
end

local function unwrap()
  local u = unwrapped
  if not u then return end
  unwrapped = nil
  getmetatable(io.stdout).__index.write = u.write
  io.write, _G.print = u.io_write, u.print
end

-- Draws p's line if it may be shown, its delay has passed, and the last
-- draw is 1 / PROGRESS_RATE s ago (force: whenever that was).
local function draw(p, force)
  if p.finished or not p.shown then return end
  local now = policy.now()
  if now - p.started < p.delay then return end
  if not force and p.drawn_at and now - p.drawn_at < 1 / M.PROGRESS_RATE then return end
  p.drawn_at = now
  p.text = progress_line(p, terminal_width(io.stderr))
  if owner ~= p then
    owner = p
    wrap()
  end
  if mid_line and not put_line then return end -- drawn once the output ends its line
  on_screen = true -- before the draw, as in around
  show(p.text)
end

-- progress:add([n]): n (default 1) more done
function Progress:add(n)
  n = check.arg(1, "add", n, "number", true) or 1
  self.count = self.count + n
  draw(self)
end

-- progress:set(n): n done in all
function Progress:set(n)
  self.count = check.arg(1, "set", n, "number")
  draw(self)
end

-- progress:done(): erases the line it drew (the cursor back at its start);
-- nothing more is drawn
function Progress:done()
  if self.finished then return end
  self.finished = true
  if owner ~= self then return end
  owner = nil
  if on_screen then show("") end
  on_screen = false
  unwrap()
end
Progress.__close = Progress.done

-- A bar nothing holds any more (an error skipped its done) is erased too,
-- where there are finalizers: a sandbox (where the bar goes through
-- io.progress_line) has none, and there C erases a bar left at the end.
local plain = Progress
if not put_line then
  plain = {}
  for k, v in pairs(Progress) do plain[k] = v end
  plain.__gc = Progress.done
end

-- ui.progress(opts) -> progress
function M.progress(opts)
  opts = check.arg(1, "progress", opts, "table", true) or {}
  local total = opts.total
  if total ~= nil and (math.type(total) ~= "integer" or total < 0) then
    check.fail(1, "progress", "total must be a whole number of 0 or more")
  end
  local label = check.arg(1, "progress", opts.label, "string", true) or ""
  local delay = opts.delay or 0
  if type(delay) ~= "number" or delay ~= delay or delay < 0 then
    check.fail(1, "progress", "delay must be a number of seconds, 0 or more")
  end
  local count = check.arg(1, "progress", opts.count, "number", true) or 0
  local p = setmetatable({
    total = total, count = count, turn = 0, delay = delay, started = policy.now(),
    -- the label came from the caller's data (an item, a server's name): one
    -- line of printable text, as every cell at a terminal
    label = policy.sanitize(label, 200),
    shown = progress_allowed(),
  }, plain)
  -- Ctrl-C raised in the first draw: the caller never holds this bar to
  -- close it, so it is erased (and the writers unwrapped) here
  local ok, err = pcall(draw, p, true)
  if not ok then
    p:done()
    error(err, 0)
  end
  return p
end

return M
