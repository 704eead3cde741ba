---@meta
-- LuaCATS annotations for the nt3 Lua API, for lua-language-server.
--
-- This file is never run: it describes what `require "nt3"` (and each
-- `require "nt3.<part>"`) gives commands and scripts, so the editor can
-- complete and type-check them. Point the language server at this directory,
-- e.g. in .luarc.json:
--
--   { "runtime.version": "Lua 5.4", "workspace.library": ["/path/to/nt3/docs/types"] }
--
-- Conventions: a failure of the world (missing file, refused connection,
-- HTTP error) returns nil, message[, code]; a mistake of the caller (wrong
-- argument type) raises. Branch on the code, never on the message.

---------------------------------------------------------------------------
-- nt3.fs
---------------------------------------------------------------------------

---@alias nt3.fs.type "file"|"directory"|"link"|"fifo"|"socket"|"char"|"block"|"other"

---@class nt3.fs.Stat
---@field type nt3.fs.type
---@field mode integer permission bits, e.g. 420 (0644)
---@field uid integer
---@field gid integer
---@field size integer bytes
---@field mtime integer seconds since the epoch
---@field mtime_ns integer the nanoseconds within that second (0 where the file system keeps none)
---@field nlink integer
---@field dev integer the device the file is on
---@field ino integer its inode number: with dev, tells a replaced file from one rewritten in place

---@class nt3.fs.Lock
local Lock = {}
--- Releases the lock; calling it again does nothing. Also done by `<close>` and the collector.
function Lock:unlock() end

--- Secure file operations: atomic writes with the final mode from creation,
--- size-capped reads, advisory locks.
---@class nt3.fs
local fs = {}

--- Information about a file, following symbolic links.
---@param path string
---@return nt3.fs.Stat|nil stat
---@return string? message
---@return integer? errno
function fs.stat(path) end

--- Like `stat`, but a symbolic link is reported as itself (type "link").
---@param path string
---@return nt3.fs.Stat|nil stat
---@return string? message
---@return integer? errno
function fs.lstat(path) end

--- Reads a whole regular file; more than `max_bytes` (default 1 MiB) is an error.
---@param path string
---@param max_bytes? integer
---@return string|nil content
---@return string? message
---@return integer? errno
function fs.read(path, max_bytes) end

--- Whether code may be loaded from `path`: it and every directory above it (up to
--- the home directory, or /) owned by the user or root and not writable by group
--- or others; each checked on a descriptor opened without following links.
---@param path string
---@param kind "file"|"directory"
---@return true|nil ok
---@return string? message
---@return integer? errno
function fs.trusted(path, kind) end

--- `fs.read` of a file `fs.trusted` accepts, read from the descriptor it checked.
---@param path string
---@param max_bytes? integer
---@return string|nil content
---@return string? message
---@return integer? errno
function fs.read_trusted(path, max_bytes) end

--- The SHA-256 digest of a regular file (opened as `fs.read` opens it, read in
--- pieces, no size cap), as 64 lowercase hex digits.
---@param path string
---@return string|nil hex
---@return string? message
---@return integer? errno
function fs.sha256(path) end

--- The SHA-256 digest of a string (any bytes), as 64 lowercase hex digits.
---@param data string
---@return string hex
function fs.sha256_text(data) end

--- The names in a directory, sorted, without "." and "..".
---@param path string
---@return string[]|nil names
---@return string? message
---@return integer? errno
function fs.dir(path) end

--- Atomically replaces `path` with `data`: a temporary file created with `mode`
--- (default 0600) in the same directory, fsync, rename. Never writes through a symlink.
---@param path string
---@param data string
---@param mode? integer
---@param opts? { sync?: boolean } sync = false: no fsync (still atomic; data that can be fetched again)
---@return true|nil ok
---@return string? message
---@return integer? errno
function fs.write(path, data, mode, opts) end

--- Removes a file (not a directory).
---@param path string
---@return true|nil ok
---@return string? message
---@return integer? errno
function fs.remove(path) end

--- Creates a directory with exactly `mode` (default 0700); an existing directory is fine.
---@param path string
---@param mode? integer
---@return true|nil ok
---@return string? message
---@return integer? errno
function fs.mkdir(path, mode) end

--- Removes an empty directory (never through a link) and syncs its parent.
---@param path string
---@return true|nil ok
---@return string? message
---@return integer? errno
function fs.rmdir(path) end

--- One rename(2): "replace" (default), "noreplace" (EEXIST if `to` exists) or
--- "exchange" (swap two existing entries in one step).
---@param from string
---@param to string
---@param how? "replace"|"noreplace"|"exchange"
---@return true|nil ok
---@return string? message
---@return integer? errno
function fs.rename(from, to, how) end

---@param path string
---@param mode integer
---@return true|nil ok
---@return string? message
---@return integer? errno
function fs.chmod(path, mode) end

--- Sets the access and modification times to now, in place (a link itself).
---@param path string
---@return true|nil ok
---@return string? message
---@return integer? errno
function fs.touch(path) end

--- An exclusive advisory lock on an existing file or directory, waiting up to
--- `timeout` seconds (default 10); with `create`, on a lock file of its own,
--- created 0600 when missing and removed on release.
--- Use `local l <close> = fs.lock(dir .. "/.x.lock", 10, true)`.
---@param path string
---@param timeout? number
---@param create? boolean
---@return nt3.fs.Lock|nil lock
---@return string? message
---@return integer? errno
function fs.lock(path, timeout, create) end

--- Expands a leading `~` or `~/` to the home directory; other paths are returned as they are.
---@param path string
---@return string|nil path
---@return string? message
function fs.expand(path) end

---------------------------------------------------------------------------
-- nt3.prompt
---------------------------------------------------------------------------

---@class nt3.prompt.SecretOptions
---@field mask? string shown for each typed character, e.g. "*"

--- Questions on the terminal (/dev/tty), never on stdout.
---@class nt3.prompt
local prompt = {}

---@alias nt3.prompt.FailureCode
---| "interrupted"     # Ctrl-C, SIGTERM, SIGHUP or SIGQUIT (exit 130 is customary)
---| "end_of_input"    # Ctrl-D on an empty answer, or the terminal hung up
---| "no_terminal"     # no controlling terminal
---| "input_too_long"  # more than 8192 bytes
---| "no_valid_answer" # confirm: three answers that were not yes or no
---| integer           # errno of a terminal error

--- Reads a secret without echoing it. Returns nil, "interrupted", "interrupted"
--- on Ctrl-C, nil, "no terminal", "no_terminal" without one.
---@param message string
---@param opts? nt3.prompt.SecretOptions
---@return string|nil secret
---@return string? message
---@return nt3.prompt.FailureCode? code
function prompt.secret(message, opts) end

--- Reads one echoed line; empty input gives `default` when there is one.
---@param message string
---@param default? string
---@return string|nil line
---@return string? message
---@return nt3.prompt.FailureCode? code
function prompt.line(message, default) end

--- Asks a yes/no question (" [y/N] " or " [Y/n] " is appended).
---@param message string
---@param default? boolean
---@return boolean|nil answer
---@return string? message
---@return nt3.prompt.FailureCode? code
function prompt.confirm(message, default) end

--- Whether a stream is a terminal.
---@param stream "stdin"|"stdout"|"stderr"|integer
---@return boolean
function prompt.isatty(stream) end

--- The width in columns of the terminal on a stream (TIOCGWINSZ); nil when
--- the stream is no terminal or the terminal reports no width.
---@param stream "stdin"|"stdout"|"stderr"|integer
---@return integer|nil columns
function prompt.columns(stream) end

---------------------------------------------------------------------------
-- nt3.env
---------------------------------------------------------------------------

--- The process environment, read-only.
---@class nt3.env
local env = {}

---@param name string
---@return string|nil value
function env.get(name) end

--- $HOME, else the password database entry.
---@return string|nil home
---@return string? message
function env.home() end

---@return string|nil cwd
---@return string? message
---@return integer? errno
function env.cwd() end

--- The effective user id.
---@return integer
function env.uid() end

---@return integer
function env.pid() end

---------------------------------------------------------------------------
-- nt3.policy
---------------------------------------------------------------------------

--- The security rules more than one part of nt3 needs, each written once (in
--- C): loopback hosts, token masking, printable text, the debug switch,
--- credential headers, the monotonic clock.
---@class nt3.policy
---@field TOKEN_PREFIX string "entri_", the public prefix of every token
---@field LOCAL_FILE string ".nt3.local.json", a folder's credential file (nt3 login --local)
local policy = {}

--- Whether a host, as a URL writes it ("localhost", "127.0.0.1", "[::1]"),
--- names this machine. "127.0.0.08", "127.1" and "localhost.evil.com" do not.
---@param host string
---@return boolean
function policy.is_loopback(host) end

--- "entri_****mnop": the prefix, then the last four characters only when at
--- least eight others stay hidden. Anything but a string is "****".
---@param token any
---@return string
function policy.mask(token) end

--- The text with every token-shaped run (TOKEN_PREFIX up to white space) masked.
---@param text string
---@return string
function policy.redact(text) end

--- Text from outside as one printable line: white space controls become a
--- space; other controls, DEL, C1 controls, bidi/format characters and bytes
--- that are not UTF-8 become "?"; tokens are masked. With max_bytes (0: no
--- limit), cut at a character boundary with "..." appended.
--- opts.lines keeps newlines and tabs; opts.mask = false leaves tokens as they are.
---@param text string
---@param max_bytes? integer
---@param opts? { lines?: boolean, mask?: boolean }
---@return string
function policy.sanitize(text, max_bytes, opts) end

--- Prints "nt3: warning: <message>" on stderr, the message sanitized.
---@param message string
---@return nil
function policy.warn(message) end

--- Whether NT3_DEBUG is set to something other than "" or "0".
---@return boolean
function policy.debug() end

--- Whether a header carries a credential (Authorization, Proxy-Authorization,
--- Cookie, Set-Cookie; any case).
---@param name string
---@return boolean
function policy.is_credential_header(name) end

--- Seconds on the monotonic clock: only differences mean something.
---@return number seconds
function policy.now() end

---------------------------------------------------------------------------
-- nt3.http
---------------------------------------------------------------------------

---@class nt3.http.Request
---@field method? string default "GET"
---@field url string http:// only for loopback hosts; otherwise https://
---@field headers? table<string|integer, string|number|(string|number)[]|nt3.http.HeaderPair> Name = value, Name = {values} (one line each), and {name, value} pairs under 1..n (one line each, in order, after the others)
---@field body? string
---@field timeout? number total seconds (default 30)
---@field connect_timeout? number seconds (default 10)
---@field stall_timeout? number give up when no byte arrives for this long (default 30)
---@field max_size? integer largest response body in bytes (default 16 MiB)
---@field cafile? string a CA bundle for a self-hosted server
---@field max_redirects? integer default 5
---@field retries? integer more attempts on 429/502/503/504 or a failed connection, for idempotent methods (POST/PATCH only with Idempotency-Key); default 0
---@field max_retry_wait? number seconds all retries may wait in all (default 60); a longer Retry-After fails at once (rate_limited)
---@field output? string stream a 2xx body into this file, atomically, no size cap (not with sink)
---@field sink? fun(chunk: string)|file* stream a 2xx body to this function, chunk by chunk, or write it to this file (io.stdout), no size cap (not with output)
---@field decompress? boolean false: keep a gzip/deflate/br/zstd body as the server sent it (default true: decoded)

---@alias nt3.http.HeaderPair { [1]: string, [2]: string|number } a request header line: {name, value}

---@class nt3.http.HeaderLine
---@field name string lower case
---@field value string

---@class nt3.http.Response
---@field status integer
---@field version string the HTTP version that answered: "1.0", "1.1", "2" or "3"
---@field reason string the status line's reason phrase ("OK"); "" when there is none (HTTP/2, HTTP/3)
---@field headers table<string, string> lower-case names; repeated headers joined with ", "
---@field header_list nt3.http.HeaderLine[] every header line of the final response, in order, repeats apart
---@field body string "" when the body was streamed (output, sink)
---@field url string the final URL, after redirects
---@field output? string the file the body was written to, when the request gave output

--- HTTP requests, with every safety rule of nt3 enforced (TLS verified,
--- no token to another origin on a redirect, bounded time and size), over
--- one pool of kept-alive connections; inside a task a request yields.
---@class nt3.http
local http = {}

--- A stable code for each failure: branch on it, never on the message.
---@alias nt3.http.code "invalid_url"|"refused_url"|"timeout"|"untrusted_certificate"|"tls"|"connect"|"resolve"|"too_large"|"too_many_redirects"|"network"|"unsupported"|"rate_limited"|"sink"|"output"

--- Any status is a response; only a failure to get one returns nil,
--- message, code.
---@param req nt3.http.Request
---@return nt3.http.Response|nil response
---@return string? message for people; may change
---@return nt3.http.code? code for programs; stable
function http.request(req) end

--- The target of the first link of a Link header value (RFC 8288) whose rel holds `rel`, as written.
---@param value string
---@param rel string
---@return string|nil target
function http.link(value, rel) end

--- A URL (or a reference resolved against `base`, RFC 3986), parsed as requests are.
---@param url string
---@param base? string
---@return { url: string, origin: string, shown: string }|nil parsed
---@return string? message
---@return "invalid_url"? code
function http.parse_url(url, base) end

---------------------------------------------------------------------------
-- nt3.task
---------------------------------------------------------------------------

--- A task: a function running as a coroutine under nt3.task's scheduler.
---@class nt3.task.Task
local Task = {}
--- Whether the task has finished (returned or raised).
---@return boolean
function Task:done() end
--- task.wait(self, opts)
---@param opts? { timeout?: number }
---@return any ...
function Task:wait(opts) end
--- task.cancel(self)
---@return boolean
function Task:cancel() end

---@class nt3.task.MapOptions
---@field concurrency? integer items run at once (default task.DEFAULT_CONCURRENCY, 8)
---@field fail_fast? boolean no new item after the first failure, whose error is raised
---@field timeout? number seconds for the whole map; unfinished items are cancelled
---@field progress? string|false the label of its progress at a terminal, or false for none

---@class nt3.task.PollOptions
---@field every? number the first pause, seconds (default 1)
---@field backoff? number each pause is the last times this (default 1)
---@field max_every? number the longest pause, seconds
---@field timeout? number seconds in all, then nil, message, "timeout"

--- At most n holders at once, across tasks.
---@class nt3.task.Semaphore
local Semaphore = {}
--- Takes a permit, waiting in turn; true, or nil, message, "timeout".
---@param opts? { timeout?: number }
---@return true|nil ok
---@return string? message
---@return "timeout"? code
function Semaphore:acquire(opts) end
--- Gives a permit back.
function Semaphore:release() end
--- Holds a permit while fn(...) runs; returns what fn returns.
---@param fn fun(...): ...
---@return any ...
function Semaphore:with(fn, ...) end

--- At most `rate` starts per `per` seconds, shared or per key.
---@class nt3.task.Limiter
local Limiter = {}
--- Returns when the next start (for key, or shared) is allowed.
---@param key? string
function Limiter:wait(key) end

--- The tasks of a task.scope.
---@class nt3.task.Scope
local Scope = {}
--- Starts fn(...) as a task of the scope.
---@param fn fun(...): ...
---@return nt3.task.Task
function Scope:spawn(fn, ...) end
--- Cancels every task of the scope.
function Scope:cancel() end

--- Tasks: requests side by side without threads. A request inside a task
--- yields while in flight; outside one it blocks. `nt3 run` scripts and user
--- commands already run as a task.
---@class nt3.task
---@field DEFAULT_CONCURRENCY integer 8: how many items task.map runs at once when not told
---@field PROGRESS_DELAY number 1: seconds a task.map runs before it shows progress at a terminal
---@field INTERRUPTED "interrupted" what Ctrl-C raises in a script: a stable code
---@field CANCELLED "cancelled" what task.cancel raises in the task at its next wait
local task = {}

--- Runs fn(...) as a task, and every task it spawns, until all are done;
--- inside a task already, simply calls fn.
---@param fn fun(...): ...
---@param ... any arguments for fn
---@return any ... what fn returned (its error is raised)
function task.run(fn, ...) end

--- Starts fn(...) as a task of its own; only inside a task.
---@param fn fun(...): ...
---@param ... any arguments for fn
---@return nt3.task.Task task
function task.spawn(fn, ...) end

--- Waits for a task; returns its results or raises its error again;
--- nil, message, "timeout" once opts.timeout seconds pass (it goes on).
---@param task nt3.task.Task
---@param opts? { timeout?: number }
---@return any ...
function task.wait(task, opts) end

--- Ends a task at its next wait with the error "cancelled" (its <close>
--- variables close, its request or process is aborted); false if done.
---@param task nt3.task.Task
---@return boolean
function task.cancel(task) end

--- fn(...) in a task of its own, cancelled after seconds: its results, or
--- nil, message, "timeout".
---@param seconds number
---@param fn fun(...): ...
---@return any ...
function task.timeout(seconds, fn, ...) end

--- The first result of the first task to succeed, and its index; the
--- others are cancelled unless opts.cancel is false.
---@param tasks nt3.task.Task[]
---@param opts? { cancel?: boolean }
---@return any value
---@return integer i
function task.any(tasks, opts) end

--- Iterates i, ok, value over the tasks in the order they finish.
---@param tasks nt3.task.Task[]
---@return fun(): integer?, boolean, any
function task.as_completed(tasks) end

--- Calls fn(...) until its first result is truthy, pausing between calls.
---@param opts nt3.task.PollOptions
---@param fn fun(...): ...
---@return any ...
function task.poll(opts, fn, ...) end

---@param n integer
---@return nt3.task.Semaphore
function task.semaphore(n) end

---@param rate number starts per opts.per seconds (default 1)
---@param opts? { per?: number }
---@return nt3.task.Limiter
function task.limiter(rate, opts) end

--- fn(scope); returns once every task of the scope has finished. With
--- opts.fail_fast the first failure cancels the others and is raised.
---@param fn fun(scope: nt3.task.Scope): ...
---@param opts? { fail_fast?: boolean }
---@return any ...
function task.scope(fn, opts) end

--- Waits for every task: results[i] is task i's first value, errors[i] its
--- error (errors is nil when none failed).
---@param tasks nt3.task.Task[]
---@return table results
---@return table? errors
function task.wait_all(tasks) end

--- Pauses this task while the others go on; outside a task, sleeps.
---@param seconds number
function task.sleep(seconds) end

--- fn(item, i) for every item, at most opts.concurrency at once; results in
--- input order (results.n = #list), errors[i] for the items that failed.
---@generic T, R
---@param list T[]
---@param fn fun(item: T, i: integer): R
---@param opts? nt3.task.MapOptions
---@return { [integer]: R, n: integer } results
---@return table<integer, any>? errors
function task.map(list, fn, opts) end

---------------------------------------------------------------------------
-- nt3.json
---------------------------------------------------------------------------

--- JSON at lua-cjson's speed (C): keys sorted, [] told from {} (json.array),
--- whole numbers within 2^53 decoded as integers; encoding calls no metamethod.
---@class nt3.json
---@field null lightuserdata JSON null, as decode returns it and encode accepts it
---@field array_mt table the metatable json.array sets: a table with it encodes as a JSON array
local json = {}

--- Marks a table as a JSON array, so that an empty one encodes as [] (a
--- plain empty table encodes as {}).
---@generic T: table
---@param t? T
---@return T
function json.array(t) end

--- Compact JSON, keys sorted by their bytes; the raw table is judged (no
--- __pairs, __index or __len is called).
---@param value any
---@return string|nil text
---@return string? message
function json.encode(value) end

--- Numbers without a fraction come back as Lua integers (3, not 3.0); an
--- empty array as a json.array; null as json.null.
---@param text string
---@return any value nil on bad input
---@return string? message
function json.decode(text) end

--- Indented JSON with sorted keys, for people.
---@param value any
---@return string|nil text
---@return string? message
function json.pretty(value) end

---------------------------------------------------------------------------
-- nt3.proc
---------------------------------------------------------------------------

---@class nt3.proc.Options
---@field timeout? number seconds (default 30); then the program is killed
---@field max_output? integer bytes of stdout (default 64 KiB)
---@field env? table<string, string|false> variables to set (a string) or unset (false) for the program
---@field cwd? string the program's working directory (relative: to nt3's); one it cannot enter is the failure "cwd"

---@class nt3.proc.Result
---@field code integer exit status; 128 + signal when killed; proc.TIMED_OUT (124) when the timeout ended it
---@field signal integer the signal that ended it, 0 when none
---@field stdout string
---@field stderr string its first 4 KiB

--- One program run without a shell or PATH search, stdin from /dev/null,
--- bounded in time and output: how credential commands run.
---@class nt3.proc
---@field TIMED_OUT integer 124: the code of a run its timeout ended
local proc = {}

--- Runs argv[1] (an absolute path) with argv[2..]; inside a task it yields
--- while the child runs. A non-zero exit status is returned, not a failure.
---@param argv string[]
---@param opts? nt3.proc.Options
---@return nt3.proc.Result|nil result
---@return string? message
---@return "cwd"|"exec"|"output"|"interrupted"|"system"|nil code
function proc.run(argv, opts) end

--- Runs a pager (argv[1] an absolute path) with text on its stdin and the
--- terminal as its stdout; nt3 ignores SIGINT, SIGQUIT and SIGPIPE meanwhile.
---@param argv string[]
---@param text string
---@return integer|nil status
---@return string? message
---@return string? code "exec"|"system"
function proc.page(argv, text) end

---------------------------------------------------------------------------
-- nt3.config
---------------------------------------------------------------------------

---@alias nt3.config.source "environment"|"profile"|"local"|"global"
---@alias nt3.config.scope "global"|"local"

---@class nt3.config.Credential
---@field token? string nil until config.token runs a profile's credential command (config.active does)
---@field credential_command? string[] the argv of the profile's credential command
---@field api_url string
---@field api_url_source "environment"|"profile"|"local"|"global"|"default"
---@field source nt3.config.source
---@field profile? string the profile's name
---@field via? "flag"|"environment"|"local" what chose the profile
---@field path? string the credential file (nil for the environment)
---@field display string where it came from, as a user would type it
---@field warnings string[]

---@class nt3.config.Source
---@field source nt3.config.source
---@field path? string
---@field display string
---@field state "missing"|"ok"|"invalid"
---@field token? string
---@field command? string[] a credential command's argv (never run by config.sources)
---@field api_url? string
---@field profile? string
---@field via? "flag"|"environment"|"local"
---@field profiles? table<string, table> the global file's profiles, by name
---@field error? string
---@field kind? "not_logged_in"|"invalid"
---@field warnings string[]
---@field active? boolean
---@field shadowed? boolean

--- The credential store: NT3_API_TOKEN, then --profile / NT3_PROFILE, then
--- ./.nt3.local.json (a token or a profile's name), then ~/.nt3/config.json.
---@class nt3.config
---@field DEFAULT_API_URL string "https://app.nt3.io"
---@field TOKEN_PREFIX string "entri_"
---@field TOKEN_MAX integer longest token accepted, in bytes
---@field LOCAL_NAME string ".nt3.local.json"
---@field GLOBAL_NAME string "config.json"
local config = {}

--- The token in use and its API URL, resolved as `nt3 status` shows them.
---@return nt3.config.Credential|nil cred
---@return string? message
---@return ("not_logged_in"|"invalid"|"credential")? kind
function config.active() end

--- This process uses a profile of the global file (what --profile does); nil undoes it.
---@param name string|nil
function config.use_profile(name) end

--- The sorted names of the global file's profiles.
---@param global? nt3.config.Source config.sources().global, to read the file once
---@return string[]
function config.profiles(global) end

--- The token of a credential: as saved, or printed by its credential command, run now.
---@param cred nt3.config.Credential
---@return string|nil token
---@return string? message
---@return ("not_logged_in"|"credential")? kind
function config.token(cred) end

--- Where a source's or credential's token lives: 'profile "staging" in ~/.nt3/config.json'.
---@param cred nt3.config.Credential|nt3.config.Source
---@return string
function config.describe(cred) end

---@param name string
---@return string|nil name
---@return string? message
function config.validate_profile_name(name) end

--- A credential command: a list of strings, the first an absolute program path.
---@param argv string[]
---@return string[]|nil argv
---@return string? message
function config.validate_command(argv) end

--- Every source, highest priority first; also by name: `list.global`,
--- `list["local"]`, `list.environment`.
---@return nt3.config.Source[]|{ environment: nt3.config.Source, local: nt3.config.Source, global: nt3.config.Source }
function config.sources() end

--- "entri_****abcd": never more of a token than that.
---@param token string
---@return string
function config.mask(token) end

--- The .nt3.local.json of a folder above this one (it does not apply here),
--- up to a repository's root or a file-system boundary.
---@return string|nil path
function config.local_file_above() end

---@param t { token?: string, api_url?: string, scope?: nt3.config.scope, profile?: string, credential_command?: string[] }
---@return { path: string, display: string }|nil result
---@return string? message
function config.save(t) end

---@param scope? nt3.config.scope
---@param profile? string remove this profile of the global file, and only it
---@return table|nil result
---@return string? message
function config.clear(scope, profile) end

---@param token string
---@return string|nil token trimmed
---@return string? message
function config.validate_token(token) end

---@param url string
---@return string|nil url
---@return string? message
function config.validate_url(url) end

--- Every source resolved: the active credential, or why there is none.
---@param sources nt3.config.Source[] as config.sources() returns them
---@return nt3.config.Credential|nil cred
---@return string? message
---@return ("not_logged_in"|"invalid")? kind
function config.resolve(sources) end

--- The global credential directory: $NT3_CONFIG_DIR, else ~/.nt3.
---@return string|nil dir
---@return string? message
function config.global_dir() end

--- The credential file of a scope.
---@param scope nt3.config.scope
---@return string|nil path
---@return string? message
function config.path(scope) end

--- A path as the user would type it: ~/.nt3/config.json, ./.nt3.local.json.
---@param path string
---@param scope? nt3.config.scope "local": a file in the current directory is always ./...
---@return string
function config.display(path, scope) end

--- How credential files are written: sorted keys, two-space indent.
---@param value table
---@return string|nil text
---@return string? message
function config.format(value) end

--- Read-modify-write of one credential file under its directory's lock. `fn`
--- changes the table in place and returns "remove" to delete the file, false
--- to leave it, anything else to write it.
---@param scope nt3.config.scope
---@param fn fun(data: table): any
---@return { path: string, display: string, written: boolean, removed: boolean, value: any }|nil result
---@return string? message
function config.update(scope, fn) end

--- Whether the file of a scope could be written now, and what deserves a warning.
---@param scope nt3.config.scope
---@return true|nil ok
---@return string[]|string warnings_or_message
function config.check(scope) end

---------------------------------------------------------------------------
-- nt3.api
---------------------------------------------------------------------------

---@class nt3.api.Options
---@field query? table<string, any> query parameters
---@field headers? table<string, string> extra headers; they win over nt3's
---@field raw? boolean return the body as received, never decoded
---@field connect_timeout? number
---@field stall_timeout? number
---@field max_size? integer
---@field max_redirects? integer
---@field cafile? string
---@field retries? integer more attempts on 429/502/503/504 or a failed connection (default: the http.retries setting, api.RETRIES)
---@field max_retry_wait? number seconds of waiting between attempts, in all (default api.MAX_RETRY_WAIT)
---@field output? string stream a 2xx body into this file, atomically
---@field sink? fun(chunk: string)|file* stream a 2xx body into this function, or write it to this file
---@field cache? number seconds a cached answer is used without a request (GET/HEAD, no headers of the caller's); 0: always revalidate
---@field cache_404? boolean with cache: a 404 may be stored too
---@field timeout? number seconds in all (default: the http.timeout setting, 30)
---@field decompress? boolean false: keep a compressed body as the server sent it (default true)

---@class nt3.api.PagesOptions: nt3.api.Options
---@field credential? nt3.config.Credential
---@field key? string the items are the array under this member of each page's object (default: the page, or its "data")
---@field max_pages? integer fetch at most this many pages (default api.MAX_PAGES, 1000)

--- What api.pages raises: tostring(err) is the message.
---@class nt3.api.PagesError
---@field message string
---@field kind nt3.api.failure|"not_a_list"|"cross_origin"|"loop"|"too_many_pages"|"invalid_url"

---@class nt3.api.Request: nt3.api.Options
---@field method? "GET"|"POST"|"PUT"|"PATCH"|"DELETE"|"HEAD"|"OPTIONS"|string default "GET"
---@field path string must start with "/"
---@field body? table|string a table is sent as JSON
---@field credential? nt3.config.Credential use this credential (token, api_url) instead of the active one

--- On failure: the status (a number, for HTTP >= 400), or "not_logged_in",
--- "invalid" (a broken credential) or "network" (no response at all).
---@alias nt3.api.failure integer|"not_logged_in"|"invalid"|"network"|"rate_limited"|"sink"|"output"

--- Authenticated requests to `<api_url><path>` with the active token.
---@class nt3.api
---@field RETRIES integer attempts after the first, by default (3)
---@field MAX_RETRY_WAIT number seconds of waiting between attempts, in all, by default (60)
---@field MAX_PAGES integer the pages api.pages fetches at most, by default (1000)
local api = {}

--- Every item of a list, page by page (Link: rel="next"); raises on failure.
---@param path string must start with "/"
---@param opts? nt3.api.PagesOptions
---@return fun(): any, integer iterator item, index
function api.pages(path, opts) end

--- What api.request's second value is: the nt3.http.Response when the first
--- is not nil, else the message (a string). lua-language-server cannot tie
--- one position's type to another's (it merges them, and `Response|string`
--- then warns at both `cli.fail(message)` and `response.status`), so it is
--- `any` here: branch on the first value, as the code does.
---@alias nt3.api.second any

--- Decoded JSON (or the body as text), and the response; or nil, message,
--- status or kind, and the response for an HTTP error.
---@param req nt3.api.Request
---@return any value
---@return nt3.api.second response_or_message the response on success, the message (a string) on failure
---@return nt3.api.failure? failure
---@return nt3.http.Response? response
function api.request(req) end

--- GET; a table `params` becomes the query string.
---@param path string
---@param params? table<string, any>
---@param opts? nt3.api.Options
---@return any value
---@return nt3.api.second response_or_message the response on success, the message (a string) on failure
---@return nt3.api.failure? failure
---@return nt3.http.Response? response
function api.get(path, params, opts) end

---@param path string
---@param body? table|string
---@param opts? nt3.api.Options
---@return any value
---@return nt3.api.second response_or_message the response on success, the message (a string) on failure
---@return nt3.api.failure? failure
---@return nt3.http.Response? response
function api.post(path, body, opts) end

---@param path string
---@param body? table|string
---@param opts? nt3.api.Options
---@return any value
---@return nt3.api.second response_or_message the response on success, the message (a string) on failure
---@return nt3.api.failure? failure
---@return nt3.http.Response? response
function api.put(path, body, opts) end

---@param path string
---@param body? table|string
---@param opts? nt3.api.Options
---@return any value
---@return nt3.api.second response_or_message the response on success, the message (a string) on failure
---@return nt3.api.failure? failure
---@return nt3.http.Response? response
function api.patch(path, body, opts) end

---@param path string
---@param body? table|string
---@param opts? nt3.api.Options
---@return any value
---@return nt3.api.second response_or_message the response on success, the message (a string) on failure
---@return nt3.api.failure? failure
---@return nt3.http.Response? response
function api.delete(path, body, opts) end

--- The full URL of a path under the active API URL. The path is checked as
--- api.request checks it: a full URL, or a path not starting with "/", raises.
---@param path string
---@return string|nil url
---@return string? message
---@return ("not_logged_in"|"invalid")? kind
function api.url(path) end

--- "page=2&q=a%20b": keys sorted, values percent-encoded.
---@param params table<string, any>
---@return string
function api.query(params) end

--- A response's body decoded when it is JSON, else as it is.
---@param response nt3.http.Response
---@return any value
---@return boolean is_json
function api.decode(response) end

--- nt3.http.request with the TLS settings of nt3.api: the CA file of
--- NT3_CA_FILE unless req.cafile is given. No token is added.
---@param req nt3.http.Request
---@return nt3.http.Response|nil response
---@return string? message
---@return (nt3.http.code|"invalid")? code nt3.http's, or "invalid" for a relative NT3_CA_FILE
function api.http(req) end

--- Called with each warning about the credential files, once per process.
--- A replaceable field: the default is policy.warn (printed on stderr).
---@param message string
---@return nil
function api.on_warning(message) end

---------------------------------------------------------------------------
-- nt3.cli
---------------------------------------------------------------------------

---@class nt3.cli.Flag
---@field long string e.g. "api-url"; arrives as opts.api_url
---@field short? string one letter or digit
---@field value? string the value's name in help ("url"); without it the flag is a boolean
---@field help? string
---@field multiple? boolean repeatable; opts holds a list
---@field secret? boolean its value is overwritten in the process's arguments once parsed (hidden from ps)

---@class nt3.cli.Context
---@field name string the name the command was invoked as (maybe an alias)
---@field command nt3.cli.Command
---@field args string[] positional arguments
---@field argv string[] every argument after the command name
---@field cli nt3.cli
---@field ui nt3.ui

---@class nt3.cli.Command
---@field name string letters, digits, - and _; a user command's file is <name>.lua
---@field summary string one line for `nt3 help`
---@field run fun(opts: table<string, any>, ctx: nt3.cli.Context): integer|boolean|table[]|nil rows with format = true
---@field aliases? string[]
---@field description? string a paragraph for --help
---@field examples? string[] lines for --help
---@field flags? nt3.cli.Flag[]
---@field args? string[] "name" required, "name?" optional, "name..." any number
---@field overrides? boolean a user command may replace the built-in of its name
---@field complete? string[] words its arguments complete to in shell completion
---@field hidden? boolean left out of `nt3 help`
---@field stop_at_first_arg? boolean everything after the first argument is an argument
---@field unknown_flags? table<string, string> what `unknown flag: --<name>` says for these names instead of a suggestion
---@field format? boolean true: the command takes --format and --columns, and run returns rows
---@field columns? string[] with format = true: the default columns (a.b reaches into a nested table)
---@field source? string set by nt3: the file a user command came from
---@field user? boolean set by nt3 for user commands
---@field builtin? boolean set by nt3 for built-in commands
---@field overrides_builtin? boolean set by nt3 when a user command replaced a built-in

--- The command registry, flag parsing and help; what user commands use too.
---@class nt3.cli
---@field EXIT { ok: 0, failure: 1, usage: 2, not_logged_in: 4, interrupted: 130 }
local cli = {}

--- Stops the command: "nt3: <message>" on stderr, exit `code` (default 1),
--- or the exit code of a failure kind given instead.
---@param message string
---@param code? integer|string
---@return never
function cli.fail(message, code) end

--- The exit code of a failure kind: "not_logged_in" 4, "interrupted" 130, else 1.
---@param kind any
---@return integer
function cli.exit_code(kind) end

--- As fail, with exit 2 and the command's usage after the message.
---@param message string
---@param command? nt3.cli.Command
---@return never
function cli.usage_error(message, command) end

--- "nt3: warning: <message>" on stderr.
---@param message string
function cli.warn(message) end

--- Writes to stdout, like io.write.
---@param ... string|number
function cli.out(...) end

--- Prints its arguments separated by spaces, and a newline, to stdout.
---@param ... any
function cli.print(...) end

--- Writes a line to stderr as it is.
---@param message string
function cli.errorln(message) end

--- Checks a command table.
---@param command any
---@param where? string names the source in messages
---@return nt3.cli.Command|nil command
---@return string? message
function cli.validate(command, where) end

--- Parses arguments against a command's flags.
---@param command nt3.cli.Command
---@param argv string[]
---@return table<string, any>|nil opts
---@return string[]|string args_or_message
---@return string? unexpected the first argument too many, with "unexpected argument: ..."
function cli.parse(command, argv) end

--- A command's help text.
---@param command nt3.cli.Command
---@return string
function cli.usage(command) end

--- Parses argv, handles --help, runs the command; returns its exit code.
--- Scripts use it to get flag parsing: `return nt3.cli.run_command(cmd, arg)`.
---@param command nt3.cli.Command
---@param argv string[]
---@param invoked_as? string
---@return integer
function cli.run_command(command, argv, invoked_as) end

--- Every command, built-in and user, sorted by name, overrides applied.
---@return nt3.cli.Command[]
function cli.commands() end

--- The command of that name or alias.
---@param name string
---@return nt3.cli.Command|nil
function cli.find(name) end

--- The nearest command name, for "did you mean".
---@param name string
---@return string|nil
function cli.suggest(name) end

--- Stops with a usage error (exit 2) for an unknown command name,
--- suggesting the nearest one; tail is appended to the message.
---@param name string
---@param tail? string
---@return never
function cli.unknown_command(name, tail) end

--- The directories user commands come from, in order.
---@return string[]
function cli.user_command_dirs() end

--- Whether code may be loaded from a path: it and every directory above it (up
--- to the home directory, or /) owned by the user or root and not writable by
--- group or others (`fs.trusted`).
---@param path string
---@param kind "file"|"directory"
---@return true|nil ok
---@return string? reason
---@return integer? errno
function cli.trusted(path, kind) end

--- The command list shown by `nt3` and `nt3 help`.
---@return string
function cli.help_text() end

---@return string
function cli.version_text() end

--- Runs nt3 with these arguments; every error ends here as one line.
---@param argv string[]
---@return integer exit_code
function cli.main(argv) end

---------------------------------------------------------------------------
-- nt3.ui
---------------------------------------------------------------------------

---@alias nt3.ui.color "red"|"green"|"yellow"|"blue"|"magenta"|"cyan"|"gray"|"bold"|"dim"|"underline"

---@class nt3.ui.TableOptions
---@field columns string[] field names; a dot reaches into nested tables ("owner.login")
---@field headers? string[] each column's header at a terminal (default: the name in capitals)
---@field stream? file* default io.stdout

---@class nt3.ui.CsvOptions
---@field header? boolean false leaves the header record out
---@field stream? file* default io.stdout

---@class nt3.ui.StreamOptions
---@field stream? file* default io.stdout

---@class nt3.ui.ProgressOptions
---@field total? integer how many in all: a bar and done/total (none: a count)
---@field label? string shown first, sanitised and cut to fit
---@field count? number done already (default 0)
---@field delay? number seconds before the first draw (default 0)

--- A line on stderr at a terminal (nothing on a pipe), redrawn at most
--- ui.PROGRESS_RATE times a second; done() or <close> erases it.
---@class nt3.ui.Progress
local Progress = {}
--- n more done (default 1).
---@param n? number
function Progress:add(n) end
--- n done in all.
---@param n number
function Progress:set(n) end
--- Erases the line; nothing is drawn after it.
function Progress:done() end

--- Output that fits a terminal (aligned, cut to its width, sanitised, in
--- colour) and a pipe (tab-separated, CSV, ndjson: the caller's data as is).
---@class nt3.ui
---@field ELLIPSIS string "…", what ends a cell cut to fit
---@field PROGRESS_RATE integer 10: the most redraws a second of a ui.progress
---@field stdout file* io.stdout, for opts.stream (a sandboxed command has no io)
---@field stderr file* io.stderr, likewise
local ui = {}

--- A table: at a terminal a header and aligned columns cut to its width; on
--- a pipe one tab-separated line a row, no header, nothing cut.
---@param rows table[]
---@param opts nt3.ui.TableOptions
---@return true|nil ok
---@return string? message
---@return integer? errno
function ui.table(rows, opts) end

--- RFC 4180 CSV: a header record, fields quoted when they hold , " CR or LF, CRLF line ends.
---@param rows table[]
---@param columns string[]
---@param opts? nt3.ui.CsvOptions
---@return true|nil ok
---@return string? message
---@return integer? errno
function ui.csv(rows, columns, opts) end

--- One json.encode'd row a line.
---@param rows table[]
---@param opts? nt3.ui.StreamOptions
---@return true|nil ok
---@return string? message
---@return integer? errno
function ui.ndjson(rows, opts) end

--- text in a colour when the stream shows colour (ui.colors), else text.
---@param name nt3.ui.color
---@param text string|number
---@param stream? file* default io.stdout
---@return string
function ui.color(name, text, stream) end

--- Whether a stream shows colour: NT3_COLOR, NO_COLOR, CLICOLOR_FORCE, the color setting; auto: TERM=dumb, isatty.
---@param stream? file* default io.stdout
---@return boolean
function ui.colors(stream) end

--- The value a column names in a row: row[column], else the path through dots; nil when missing.
---@param row table
---@param column string
---@return any
function ui.field(row, column) end

--- The columns text takes at a terminal: wide characters 2, combining marks 0.
---@param text string
---@return integer
function ui.width(text) end

--- Progress on stderr, drawn only when stderr is a terminal.
---@param opts? nt3.ui.ProgressOptions
---@return nt3.ui.Progress
function ui.progress(opts) end

---------------------------------------------------------------------------
-- nt3.testing
---------------------------------------------------------------------------

--- A response a route serves.
---@class nt3.testing.Response
---@field status? integer default 200
---@field headers? table<string, string|number>
---@field body? string
---@field json? any sent as JSON, with its Content-Type

--- A request the fake API received; the token only masked.
---@class nt3.testing.Request
---@field method string
---@field path string
---@field target string the path and the query string, as sent
---@field query table<string, string>
---@field headers table<string, string> by lowercased name
---@field header_list {[1]: string, [2]: string}[]
---@field body string
---@field json? any the body decoded, when it is JSON
---@field token? string the masked token of its Authorization
---@field matched boolean false when no route answered (404)

---@class nt3.testing.PagesOptions
---@field per_page? integer default 2
---@field data? boolean wrap each page as { data = [...] }

--- A fake nt3 API on http://127.0.0.1:<port>, served by tasks of this process.
---@class nt3.testing.Server
---@field url string
---@field requests nt3.testing.Request[]
local Server = {}
--- Requests of method to path get the responses in turn, the last one again and again.
---@param method string
---@param path string
---@param ... nt3.testing.Response|fun(req: nt3.testing.Request): nt3.testing.Response
---@return nt3.testing.Server
function Server:route(method, path, ...) end
--- GET path answers items a page at a time, with Link: rel="next" headers.
---@param path string
---@param items any[]
---@param opts? nt3.testing.PagesOptions
---@return nt3.testing.Server
function Server:pages(path, items, opts) end
---@return nt3.testing.Request|nil
function Server:last() end
---@return nt3.testing.Server
function Server:reset() end
function Server:close() end

---@class nt3.testing.HomeOptions
---@field server? nt3.testing.Server its URL goes into the config
---@field api_url? string
---@field token? string default a random entri_test... token
---@field commands? string a command file, or a folder of them, copied into .nt3/commands

--- A throw-away home whose .nt3/config.json holds a test token.
---@class nt3.testing.Home
---@field dir string
---@field config_dir string
---@field token string the token's masked form
local Home = {}
---@param path string
---@return true|nil ok
---@return string? message
function Home:add_commands(path) end
---@param rel string
---@return string
function Home:path(rel) end
function Home:remove() end

---@class nt3.testing.RunOptions
---@field home? nt3.testing.Home
---@field server? nt3.testing.Server for the home made when none is given
---@field commands? string likewise
---@field cwd? string default the home
---@field env? table<string, string|false>
---@field timeout? number seconds, default 60

---@class nt3.testing.Result
---@field code integer
---@field stdout string
---@field stderr string the first 4 KiB

--- For the specs of your commands, under `nt3 test`.
---@class nt3.testing
---@field MAX_HEAD integer 64 KiB
---@field MAX_BODY integer 8 MiB
local testing = {}

--- A new fake API on 127.0.0.1; raises outside a task.
---@return nt3.testing.Server|nil server
---@return string? message
---@return string? code
function testing.server() end

--- A new throw-away home with a test token in its config.
---@param opts? nt3.testing.HomeOptions
---@return nt3.testing.Home|nil home
---@return string? message
function testing.home(opts) end

--- Runs `nt3 <name> <argv...>` in a child nt3 and waits for it.
---@param name string
---@param argv? string[]
---@param opts? nt3.testing.RunOptions
---@return nt3.testing.Result|nil result
---@return string? message
---@return string? code
function testing.run(name, argv, opts) end

--- Closes every server and removes every home still open.
---@return boolean
function testing.close_all() end

---------------------------------------------------------------------------
-- require "nt3"
---------------------------------------------------------------------------

--- The whole API; each part loads the first time it is used.
---@class nt3
---@field version string
---@field parts string[] the sorted names of every part: the C bindings and the Lua library modules
---@field fs nt3.fs
---@field prompt nt3.prompt
---@field env nt3.env
---@field http nt3.http
---@field task nt3.task
---@field policy nt3.policy
---@field proc nt3.proc
---@field json nt3.json
---@field config nt3.config
---@field api nt3.api
---@field cli nt3.cli
---@field testing nt3.testing

---@type nt3
local nt3 = {}

return nt3
