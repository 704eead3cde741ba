-- nt3 api <path>: an authenticated request to the nt3 API, like `gh api`.
-- This is the command's table; what it does is nt3.cli.api, and the
-- request machinery nt3.cli.api.request, loaded only when a run needs it
-- (an answer from the HTTP cache does not: docs/architecture.md, "The HTTP cache").
local require = require

return {
  name = "api",
  summary = "Make an authenticated request to the nt3 API",
  unknown_flags = { jq = "nt3 api filters with Lua instead: --filter 'data.items[1].name'; see 'nt3 api --help'" },
  args = { "path" },
  -- the path is on the server, not on disk: no file names
  complete = { "/api/v1/" },
  flags = {
    { short = "X", long = "method", value = "method", complete = require("nt3.cli.api").METHODS,
      help = "HTTP method (default GET, or POST with fields or --input)" },
    { short = "H", long = "header", value = "name:value", multiple = true,
      help = "Add a request header (repeatable; a name given twice is sent on two lines)" },
    { short = "f", long = "raw-field", value = "key=value", multiple = true, help = "Add a string field" },
    { short = "F", long = "field", value = "key=value", multiple = true,
      help = "Add a typed field: numbers, true, false, null, @file (@- for stdin)" },
    { long = "input", value = "file", help = "The request body, from a file or - for stdin" },
    { short = "i", long = "include",
      help = "Print the status line and response headers before the body" },
    { long = "silent", help = "Do not print the response body" },
    { short = "o", long = "output", value = "file", help = "Write the response body to a file atomically (see below)" },
    { long = "no-decompress",
      help = "Keep a gzip/deflate/br/zstd body as the server sent it (-o file.gz)" },
    { long = "paginate", help = "Follow Link: rel=\"next\" and print every page's items as one JSON array" },
    { long = "paginate-key", value = "key",
      help = "With --paginate: a page's items are its object's <key> array (default: the page, or its \"data\")" },
    { long = "max-pages", value = "n",
      help = "With --paginate: fail rather than fetch more than n pages (default 1000)" },
    { long = "no-progress",
      help = "With --paginate: show no progress on stderr (a terminal shows it after a second)" },
    { long = "filter", value = "lua", help = "Print a Lua expression over the decoded result, bound to `data`" },
    { long = "idempotency-key", value = "key|auto",
      help = "Send Idempotency-Key (auto: a random one), which lets a POST or PATCH be retried" },
    { long = "retries", value = "n",
      help = "Retry up to n times on 429/502/503/504 or a failed connection (default 3)" },
    { long = "max-retry-wait", value = "seconds", help = "Wait at most this long in all between retries (default 60)" },
    { long = "cache", value = "duration",
      help = "Answer from the HTTP cache for this long (90, 30s, 5m, 1h, 2d), then revalidate (GET/HEAD)" },
    { long = "format", value = "format", complete = require("nt3.cli.registry").FORMATS,
      help = "Print the result as json (default), table (tab-separated on a pipe), csv or ndjson" },
    { long = "columns", value = "a,b.c",
      help = "With --format table, csv or ndjson: these fields (b.c: field c of b), in this order" },
    { long = "profile", value = "name", help = "Use this profile of ~/.nt3/config.json" },
  },
  description = [[
Sends a request to <api_url><path> with the active token (the one `nt3 status`
shows) and prints the response body: JSON is pretty-printed on a terminal and
compact otherwise. Fields become a JSON object body, or the query string of a
GET request (and of any request with --input). As in gh api, key[]=v adds an
item to a list, key[name]=v a key of an object, and they nest (a[b][]=v); in
a query string a key given twice is sent twice. An HTTP error status exits 1
with the server's message on stderr. With -i, the status line
(HTTP/<version> <code> <reason>) and every response header line, in the
order received, come first, then a blank line. On a terminal, what the server
sent is shown as printable text (escape sequences, C1 controls and bidi
characters as ?); a pipe gets the server's bytes unchanged. With -o, a 2xx
body goes to the file through a temporary file renamed over it: an existing
file is replaced but keeps its mode, a new one gets 0666 less the umask; a
character device or FIFO (-o /dev/null) is written through; a symbolic link
or a directory at the path is refused. Every request offers the compressed
encodings libcurl decodes (gzip, deflate, br, zstd where built in) and the body
arrives decoded, a hand-set Accept-Encoding too; --no-decompress keeps the
server's bytes (-o file.gz). --paginate follows the Link:
rel="next" header (a relative link is resolved against the page's URL) to the
API URL's origin only, for at most --max-pages pages (default 1000); every
page must be a JSON list: an array, an object's "data" array, or with
--paginate-key KEY the object's KEY array. Once the pages have taken a
second, a terminal's stderr shows how many items have come (--no-progress,
NT3_NO_PROGRESS or the progress setting: none), erased before the array
is printed. --filter is Lua (in place of gh's
--jq) with data, json, print and Lua's string, table, math and utf8; a nil
result is an error (a misspelt key) unless it printed. --format table, csv
or ndjson prints the result as rows (--format json, the default, prints the
JSON): a list's items, an object as one row, any other value as a row
{ value = ... }; with --paginate every page's items, csv and ndjson written
a page at a time; with --filter, what the filter returns. --columns a,b.c
names the fields (b.c: field c of b; a missing one is empty, null in
ndjson); without it, the first item's keys that hold a string, number,
boolean or null, in the server's order. A table is aligned with a header at
a terminal (cut to its width) and tab-separated on a pipe; csv is RFC 4180.
The api.format and api.columns settings (nt3 config) give the defaults.
For a server with a private CA, set NT3_CA_FILE to the absolute path of its
PEM certificate file.]],
  examples = {
    "nt3 api /api/v1/me",
    "nt3 api /api/v1/items -X GET -F page=2 -F per_page=50",
    "nt3 api -X PATCH /api/v1/items/7 -f name=renamed -F archived=true",
    "nt3 api /api/v1/projects --paginate --max-pages 50",
    "nt3 api /api/v1/projects --paginate --format csv --columns id,name,owner.login",
    "echo '{\"name\":\"x\"}' | nt3 api /api/v1/items --input -",
  },
  run = function(opts, ctx) return require("nt3.cli.api").run(opts, ctx) end,
}
