/*
 * embedgen: compiles every Lua source named on the command line into
 * bytecode with the very Lua library nt3 links, and writes a C table
 * { module name, chunk, size } sorted by name; and, for each built-in
 * command (lua/commands/<name>.lua), a second table { name, summary,
 * aliases, hidden, shape }: what nt3 help, completion and did-you-mean
 * list, so that listing a command never loads it (docs/architecture.md,
 * "Commands"). The shape is what a completion script says of the command
 * (its flags, args, complete, stop_at_first_arg, uses_token, format) as
 * Lua text, `return { ... }`, or NULL when those are not plain data at
 * build time (a flag list taken from another module): completion then
 * loads that one module.
 * The index is read from the very command table the module returns, so it
 * cannot say something else; a command whose table cannot be read so fails
 * the build.
 *
 * usage: embedgen OUTPUT.c SRCROOT FILE...
 *   FILE is a path relative to SRCROOT, e.g. lua/nt3/cli.lua; the chunk name
 *   is "@" FILE so tracebacks point at the file in the repository.
 *
 * The output is rewritten only when its content changes, so an unrelated
 * edit does not relink the binary.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

struct buf {
  char *data;
  size_t len, cap;
};

struct entry {
  char *name;
  char *file;
  struct buf code;
  /* a built-in command's index entry (command = 1) */
  int command, hidden;
  char *summary, *aliases;
  char *shape; /* NULL: not plain data */
};

static void buf_add(struct buf *b, const void *p, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n) cap *= 2;
    b->data = realloc(b->data, cap);
    if (!b->data) { perror("embedgen"); exit(1); }
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

static void buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#include <stdarg.h>
static void buf_printf(struct buf *b, const char *fmt, ...) {
  char tmp[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof tmp) { fputs("embedgen: line too long\n", stderr); exit(1); }
  buf_add(b, tmp, (size_t)n);
}

static int writer(lua_State *L, const void *p, size_t sz, void *ud) {
  (void)L;
  buf_add(ud, p, sz);
  return 0;
}

/*
 * Dropping the names of locals and upvalues from a chunk, keeping its lines.
 *
 * A module's bytecode is loaded at every start that needs it, and loading
 * interns every string in it: a third of `nt3 status` was spent so, much of
 * it on the names of local variables and upvalues, which only error
 * messages about nt3's own bugs ("local 'x'") and debug.getlocal use.
 * lua_dump can keep all debug information or none; none would take the
 * file and line out of every error and traceback, which must name them.
 * So the chunk is dumped whole and rewritten here with no local or
 * upvalue names: the source name, the line information and everything
 * else kept byte for byte. The format is Lua 5.4's (ldump.c): every count
 * and size is a variable-length integer, seven bits a byte, most
 * significant first, the last byte marked by its high bit.
 *
 * The rewrite is checked: the result must load, and dumped without debug
 * information it must be the very bytes the original gives so. If the
 * format is not the one known here (another Lua), the chunk is kept whole
 * and a warning says so: nt3 is then only slower to start.
 */
struct reader {
  const unsigned char *p, *end;
  int bad;
};

static size_t rd_size(struct reader *r, struct buf *out) {
  size_t x = 0;
  for (;;) {
    if (r->p >= r->end || x > (SIZE_MAX >> 7)) { r->bad = 1; return 0; }
    unsigned char b = *r->p++;
    if (out) buf_add(out, &b, 1);
    x = (x << 7) | (b & 0x7f);
    if (b & 0x80) return x;
  }
}

static void put_size(struct buf *out, size_t x) {
  unsigned char tmp[16];
  int n = 0;
  do { tmp[sizeof tmp - (++n)] = (unsigned char)(x & 0x7f); x >>= 7; } while (x);
  tmp[sizeof tmp - 1] |= 0x80;
  buf_add(out, tmp + sizeof tmp - n, (size_t)n);
}

/* copies n bytes (out NULL: skips them) */
static void rd_bytes(struct reader *r, size_t n, struct buf *out) {
  if ((size_t)(r->end - r->p) < n) { r->bad = 1; return; }
  if (out) buf_add(out, r->p, n);
  r->p += n;
}

static void rd_string(struct reader *r, struct buf *out) {
  size_t n = rd_size(r, out);
  if (n && !r->bad) rd_bytes(r, n - 1, out);
}

static void rd_function(struct reader *r, struct buf *out, int depth) {
  if (depth > 200) { r->bad = 1; return; }
  rd_string(r, out);                        /* source (none: the parent's) */
  rd_size(r, out);                          /* linedefined */
  rd_size(r, out);                          /* lastlinedefined */
  rd_bytes(r, 3, out);                      /* numparams, is_vararg, maxstacksize */
  size_t n = rd_size(r, out);               /* code */
  if (r->bad || n > (size_t)(r->end - r->p) / 4) { r->bad = 1; return; }
  rd_bytes(r, n * 4, out);
  n = rd_size(r, out);                      /* constants */
  for (size_t i = 0; i < n && !r->bad; i++) {
    if (r->p >= r->end) { r->bad = 1; return; }
    unsigned char tt = *r->p;
    rd_bytes(r, 1, out);
    switch (tt) {
    case 0x13: case 0x03: rd_bytes(r, 8, out); break;   /* float, integer */
    case 0x04: case 0x14: rd_string(r, out); break;     /* short, long string */
    case 0x00: case 0x01: case 0x11: break;             /* nil, false, true */
    default: r->bad = 1;
    }
  }
  n = rd_size(r, out);                      /* upvalues: instack, idx, kind */
  if (r->bad || n > (size_t)(r->end - r->p) / 3) { r->bad = 1; return; }
  rd_bytes(r, n * 3, out);
  n = rd_size(r, out);                      /* nested functions */
  for (size_t i = 0; i < n && !r->bad; i++) rd_function(r, out, depth + 1);
  n = rd_size(r, out);                      /* lineinfo: kept */
  rd_bytes(r, n, out);
  n = rd_size(r, out);                      /* abslineinfo: kept */
  for (size_t i = 0; i < n && !r->bad; i++) { rd_size(r, out); rd_size(r, out); }
  n = rd_size(r, NULL);                     /* locvars: dropped */
  put_size(out, 0);
  for (size_t i = 0; i < n && !r->bad; i++) { rd_string(r, NULL); rd_size(r, NULL); rd_size(r, NULL); }
  n = rd_size(r, NULL);                     /* upvalue names: dropped */
  put_size(out, 0);
  for (size_t i = 0; i < n && !r->bad; i++) rd_string(r, NULL);
}

/* 1 and *out the rewritten chunk, or 0 (not Lua 5.4's format) */
static int drop_names(const struct buf *in, struct buf *out) {
  static const unsigned char header[] = { 0x1b, 'L', 'u', 'a', 0x54, 0, 0x19, 0x93, '\r', '\n', 0x1a, '\n', 4, 8, 8 };
  const size_t head = sizeof header + 8 + 8 + 1; /* LUAC_INT, LUAC_NUM, the main function's upvalue count */
  if (in->len < head || memcmp(in->data, header, sizeof header) != 0) return 0;
  struct reader r = { (const unsigned char *)in->data + head, (const unsigned char *)in->data + in->len, 0 };
  buf_add(out, in->data, head);
  rd_function(&r, out, 0);
  return !r.bad && r.p == r.end;
}

/* the function on the top of the stack, dumped with strip; popped */
static struct buf stripped_dump(lua_State *L) {
  struct buf b = {0};
  lua_dump(L, writer, &b, 1);
  lua_pop(L, 1);
  return b;
}

/* The chunk of the function on the top of the stack (left there), with no
 * local or upvalue names when that can be done and checked. */
static struct buf chunk_of(lua_State *L, const char *file) {
  struct buf whole = {0}, lean = {0};
  lua_dump(L, writer, &whole, 0);
  int ok = drop_names(&whole, &lean);
  if (ok) {
    ok = luaL_loadbufferx(L, lean.data, lean.len, file, "b") == LUA_OK;
    if (ok) {
      struct buf a = stripped_dump(L);
      lua_pushvalue(L, -1);
      struct buf b = stripped_dump(L);
      ok = a.len == b.len && memcmp(a.data, b.data, a.len) == 0;
      free(a.data);
      free(b.data);
    } else {
      lua_pop(L, 1);
    }
  }
  if (!ok) {
    fprintf(stderr, "embedgen: warning: %s: not Lua 5.4's bytecode format; kept its local names\n", file);
    free(lean.data);
    return whole;
  }
  free(whole.data);
  return lean;
}

/* lua/nt3/cli.lua -> nt3.cli ; lua/nt3/init.lua -> nt3 */
static char *module_name(const char *file) {
  const char *p = file;
  if (strncmp(p, "lua/", 4) == 0) p += 4;
  size_t n = strlen(p);
  if (n < 5 || strcmp(p + n - 4, ".lua") != 0) {
    fprintf(stderr, "embedgen: %s: not a .lua file\n", file);
    exit(1);
  }
  char *name = strndup(p, n - 4);
  size_t len = strlen(name);
  if (len >= 5 && strcmp(name + len - 5, "/init") == 0) name[len - 5] = '\0';
  for (char *c = name; *c; c++)
    if (*c == '/') *c = '.';
  return name;
}

/* Runs a command module's chunk (on the stack) with a `require` that gives
 * a stand-in for every module (indexing or calling it gives another): a
 * command's top level only takes what it will use at run time. Returns
 * the command table's fields, or the reason it cannot be read. A stand-in
 * reached from require by names alone (require("nt3.cli.registry").FORMATS)
 * knows that expression, and the shape holds it as such: it means the
 * same at run time; one that was called means nothing known. */
static const char INDEX_READER[] =
  "local chunk, module, file = ...\n"
  "local paths = setmetatable({}, { __mode = 'k' })\n"
  "local function stand_in(path)\n"
  "  local s = setmetatable({}, {\n"
  "    __index = function(_, k)\n"
  "      return stand_in(path and type(k) == 'string' and k:match('^[%a_][%w_]*$') and path .. '.' .. k or nil)\n"
  "    end,\n"
  "    __call = function() return stand_in(nil) end })\n"
  "  paths[s] = path\n"
  "  return s\n"
  "end\n"
  "local function fake_require(name)\n"
  "  return stand_in(type(name) == 'string' and 'require(' .. string.format('%q', name) .. ')' or nil)\n"
  "end\n"
  "local env = setmetatable({ require = fake_require }, { __index = _G })\n"
  "debug.setupvalue(chunk, 1, env)\n"
  "local ok, cmd = pcall(chunk, module)\n"
  "local function fail(why) error(file .. ': ' .. why .. ' (embedgen reads it for the command index)', 0) end\n"
  "if not ok then fail('its top level failed: ' .. tostring(cmd)) end\n"
  "if type(cmd) ~= 'table' then fail('it must return the command table') end\n"
  "if type(cmd.name) ~= 'string' or 'commands.' .. cmd.name ~= module then\n"
  "  fail('its name must be a string naming the file') end\n"
  "if type(cmd.summary) ~= 'string' or cmd.summary == '' then fail('its summary must be a string') end\n"
  "local aliases = {}\n"
  "if cmd.aliases ~= nil and type(cmd.aliases) ~= 'table' then fail('its aliases must be a list of names') end\n"
  "for i, a in ipairs(cmd.aliases or {}) do\n"
  "  if type(a) ~= 'string' or not a:match('^[%a][%w_-]*$') then fail('its aliases must be a list of names') end\n"
  "  aliases[i] = a\n"
  "end\n"
  /* plain: strings, numbers, booleans and tables without a metatable; a
   * stand-in (it has one) or a function is not, and so neither is a
   * table holding one. fields: the keys a record keeps (nil: a list) */
  "local function plain(v, fields)\n"
  "  local t = type(v)\n"
  "  if t == 'string' or t == 'number' or t == 'boolean' then return string.format('%q', v) end\n"
  "  if paths[v] then return paths[v] end\n"
  "  if t ~= 'table' or getmetatable(v) ~= nil then return nil end\n"
  "  local parts = {}\n"
  "  if fields then\n"
  "    for _, k in ipairs(fields) do\n"
  "      local x = rawget(v, k)\n"
  "      if x ~= nil then\n"
  "        local s = plain(x)\n"
  "        if not s then return nil end\n"
  "        parts[#parts + 1] = k .. '=' .. s\n"
  "      end\n"
  "    end\n"
  "  else\n"
  "    for _, x in ipairs(v) do\n"
  "      local s = plain(x, type(x) == 'table' and x.long and { 'long', 'short', 'value', 'help', 'multiple', 'complete' })\n"
  "      if not s then return nil end\n"
  "      parts[#parts + 1] = s\n"
  "    end\n"
  "  end\n"
  "  return '{' .. table.concat(parts, ',') .. '}'\n"
  "end\n"
  "local shape = plain(cmd, { 'flags', 'args', 'complete', 'stop_at_first_arg', 'uses_token', 'format' })\n"
  "return cmd.summary, table.concat(aliases, ' '), cmd.hidden and true or false, shape and 'return ' .. shape\n";

static void read_command(lua_State *L, struct entry *e) {
  if (luaL_loadbufferx(L, INDEX_READER, sizeof INDEX_READER - 1, "=embedgen", "t") != LUA_OK) {
    fprintf(stderr, "embedgen: %s\n", lua_tostring(L, -1));
    exit(1);
  }
  lua_insert(L, -2); /* reader, chunk */
  lua_pushstring(L, e->name);
  lua_pushstring(L, e->file);
  if (lua_pcall(L, 3, 4, 0) != LUA_OK) {
    fprintf(stderr, "%s\n", lua_tostring(L, -1));
    exit(1);
  }
  e->command = 1;
  e->summary = strdup(lua_tostring(L, -4));
  e->aliases = strdup(lua_tostring(L, -3));
  e->hidden = lua_toboolean(L, -2);
  e->shape = lua_isstring(L, -1) ? strdup(lua_tostring(L, -1)) : NULL;
  lua_pop(L, 4);
}

/* s as the body of a C string literal: every byte that is not plain
 * printable ASCII, and ", \\ and ?, as an octal escape */
static void c_string(struct buf *b, const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\' && *p != '?')
      buf_add(b, p, 1);
    else
      buf_printf(b, "\\%03o", *p);
  }
}

static int by_name(const void *a, const void *b) {
  return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

static int same_content(const char *path, const struct buf *b) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  struct buf old = {0};
  char tmp[65536];
  size_t n;
  while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) buf_add(&old, tmp, n);
  fclose(f);
  int same = old.len == b->len && memcmp(old.data, b->data, b->len) == 0;
  free(old.data);
  return same;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fputs("usage: embedgen OUTPUT.c SRCROOT FILE...\n", stderr);
    return 2;
  }
  const char *out = argv[1], *root = argv[2];
  int n = argc - 3;
  struct entry *e = calloc((size_t)(n ? n : 1), sizeof *e);
  lua_State *L = luaL_newstate();
  if (!e || !L) { fputs("embedgen: out of memory\n", stderr); return 1; }
  luaL_openlibs(L);

  for (int i = 0; i < n; i++) {
    const char *file = argv[i + 3];
    char path[4096], chunk[4096];
    snprintf(path, sizeof path, "%s/%s", root, file);
    snprintf(chunk, sizeof chunk, "@%s", file);
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "embedgen: %s: %s\n", path, strerror(errno)); return 1; }
    struct buf src = {0};
    char tmp[65536];
    size_t r;
    while ((r = fread(tmp, 1, sizeof tmp, f)) > 0) buf_add(&src, tmp, r);
    fclose(f);
    /* "t": a source must be text; the message names file:line on error */
    if (luaL_loadbufferx(L, src.data ? src.data : "", src.len, chunk, "t") != LUA_OK) {
      fprintf(stderr, "%s\n", lua_tostring(L, -1));
      return 1;
    }
    free(src.data);
    e[i].name = module_name(file);
    e[i].file = strdup(file);
    /* lines kept: errors in embedded code must name file and line */
    e[i].code = chunk_of(L, file);
    /* commands.<name>, not a module under it */
    if (strncmp(e[i].name, "commands.", 9) == 0 && !strchr(e[i].name + 9, '.'))
      read_command(L, &e[i]);
    else
      lua_pop(L, 1);
  }
  qsort(e, (size_t)n, sizeof *e, by_name);
  for (int i = 1; i < n; i++)
    if (strcmp(e[i - 1].name, e[i].name) == 0) {
      fprintf(stderr, "embedgen: %s and %s both define module %s\n", e[i - 1].file, e[i].file, e[i].name);
      return 1;
    }

  struct buf o = {0};
  buf_printf(&o, "/* generated by embedgen; do not edit */\n#include \"embedded.h\"\n\n");
  for (int i = 0; i < n; i++) {
    buf_printf(&o, "static const unsigned char m%d[] = {", i);
    for (size_t j = 0; j < e[i].code.len; j++)
      buf_printf(&o, "%s%u,", j % 20 ? "" : "\n", (unsigned char)e[i].code.data[j]);
    buf_printf(&o, "\n};\n");
  }
  buf_printf(&o, "\nconst struct nt3_module nt3_modules[] = {\n");
  for (int i = 0; i < n; i++)
    buf_printf(&o, "  {\"%s\", \"%s\", m%d, sizeof m%d},\n", e[i].name, e[i].file, i, i);
  buf_printf(&o, "};\nconst int nt3_module_count = %d;\n", n);
  buf_printf(&o, "\nconst struct nt3_command nt3_commands[] = {\n");
  int commands = 0;
  for (int i = 0; i < n; i++) {
    if (!e[i].command) continue;
    buf_printf(&o, "  {\"");
    c_string(&o, e[i].name + 9);
    buf_printf(&o, "\", \"");
    c_string(&o, e[i].summary);
    buf_printf(&o, "\", \"");
    c_string(&o, e[i].aliases);
    buf_printf(&o, "\", %d, ", e[i].hidden);
    if (e[i].shape) {
      buf_printf(&o, "\"");
      c_string(&o, e[i].shape);
      buf_printf(&o, "\"},\n");
    } else {
      buf_printf(&o, "NULL},\n");
    }
    commands++;
  }
  if (!commands) buf_printf(&o, "  {0},\n");
  buf_printf(&o, "};\nconst int nt3_command_count = %d;\n", commands);

  if (!same_content(out, &o)) {
    char tmpname[4096];
    snprintf(tmpname, sizeof tmpname, "%s.tmp", out);
    FILE *f = fopen(tmpname, "wb");
    if (!f || fwrite(o.data, 1, o.len, f) != o.len || fclose(f) != 0 || rename(tmpname, out) != 0) {
      fprintf(stderr, "embedgen: %s: %s\n", out, strerror(errno));
      return 1;
    }
  }
  lua_close(L);
  return 0;
}
