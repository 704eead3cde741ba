/*
 * nt3.json.core: the C half of nt3.json (docs/architecture.md, "JSON"),
 * private to lua/nt3/json.lua, which is the public face and documents the
 * rules. Both directions work on the raw table: no metamethod of a value
 * (__pairs, __index, __len, __tojson...) is ever called, so encoding runs
 * no code of the caller's and says what the table holds.
 *
 * encode(value, pretty) -> text, or raises the message (a string, no
 * position). Keys sorted by their bytes, integers written whole, a float
 * in the fewest of 15..17 significant digits that read back exactly, "/"
 * left alone, a table with array_mt or holding exactly the keys 1..n an
 * array, nesting bounded by MAX_DEPTH (what stops a table that contains
 * itself).
 *
 * decode(text) -> value | nil, position: the grammar lua-cjson 2.1.0
 * accepts (its number rule, its escapes, a NUL ending the text after the
 * value), less a raw control character inside a string. An empty array is
 * a table with array_mt, a whole number within +-2^53 an integer, null
 * json.null (cjson's NULL light userdata). On failure the Lua side asks
 * lua-cjson for its message, so the wording stays cjson's.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "runtime.h"

#define MAX_DEPTH 1000 /* as lua-cjson, both ways */
#define EXACT 9007199254740992.0 /* 2^53 */

/* ---- the output buffer: a userdata, so that an error frees it ---------- */

struct key {
  const char *s; /* a string key's bytes (alive in the table), or NULL */
  size_t len;
  int is_int;
  lua_Integer i;
  lua_Number n;
  char num[48]; /* a number key's text, as tostring writes it */
};

struct enc {
  char *p;
  size_t len, cap;
  struct key *keys; /* one stack for every object being written */
  size_t nkeys, capkeys;
  int pretty;
};

static int enc_gc(lua_State *L) {
  struct enc *e = lua_touserdata(L, 1);
  free(e->p);
  free(e->keys);
  e->p = NULL;
  e->keys = NULL;
  return 0;
}

static void grow(lua_State *L, struct enc *e, size_t more) {
  if (e->cap - e->len >= more) return;
  size_t cap = e->cap ? e->cap : 4096;
  while (cap - e->len < more) cap *= 2;
  char *p = realloc(e->p, cap);
  if (!p) luaL_error(L, "not enough memory");
  e->p = p;
  e->cap = cap;
}

static void put(lua_State *L, struct enc *e, const char *s, size_t n) {
  grow(L, e, n);
  memcpy(e->p + e->len, s, n);
  e->len += n;
}

#define PUTLIT(L, e, lit) put(L, e, lit, sizeof(lit) - 1)

static void newline(lua_State *L, struct enc *e, int depth) {
  grow(L, e, 1 + 2 * (size_t)depth);
  e->p[e->len++] = '\n';
  memset(e->p + e->len, ' ', 2 * (size_t)depth);
  e->len += 2 * (size_t)depth;
}

static void fail(lua_State *L, const char *fmt, const char *what) {
  lua_pushfstring(L, fmt, what);
  lua_error(L);
}

/* ---- scalars ------------------------------------------------------------ */

/* lua-cjson's escapes, less "\/": 0 for a byte written as it is */
static const char *const escapes[256] = {
  "\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005", "\\u0006", "\\u0007",
  "\\b", "\\t", "\\n", "\\u000b", "\\f", "\\r", "\\u000e", "\\u000f",
  "\\u0010", "\\u0011", "\\u0012", "\\u0013", "\\u0014", "\\u0015", "\\u0016", "\\u0017",
  "\\u0018", "\\u0019", "\\u001a", "\\u001b", "\\u001c", "\\u001d", "\\u001e", "\\u001f",
  ['"'] = "\\\"", ['\\'] = "\\\\", [127] = "\\u007f",
};

static void put_string(lua_State *L, struct enc *e, const char *s, size_t n) {
  grow(L, e, n + 2);
  e->p[e->len++] = '"';
  size_t run = 0;
  for (size_t i = 0; i < n; i++) {
    const char *esc = escapes[(unsigned char)s[i]];
    if (!esc) continue;
    put(L, e, s + run, i - run);
    put(L, e, esc, strlen(esc));
    run = i + 1;
  }
  put(L, e, s + run, n - run);
  PUTLIT(L, e, "\"");
}

static void put_number(lua_State *L, struct enc *e, int idx) {
  char text[64];
  int n;
  if (lua_isinteger(L, idx)) {
    n = snprintf(text, sizeof text, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, idx));
  } else {
    double v = (double)lua_tonumber(L, idx);
    if (isnan(v) || isinf(v)) {
      lua_pushvalue(L, idx);
      fail(L, "cannot encode %s: JSON has no such number", lua_tostring(L, -1));
    }
    n = 0;
    for (int digits = 15; digits <= 17; digits++) {
      n = snprintf(text, sizeof text, "%.*g", digits, v);
      if (strtod(text, NULL) == v) break;
    }
  }
  put(L, e, text, (size_t)n);
}

/* ---- tables ------------------------------------------------------------- */

static void put_value(lua_State *L, struct enc *e, int idx, int depth);

/* Whether the table at idx is written as an array, and its length. */
static int is_array(lua_State *L, int idx, lua_Integer *len) {
  *len = (lua_Integer)lua_rawlen(L, idx);
  if (lua_getmetatable(L, idx)) {
    int marked = lua_rawequal(L, -1, lua_upvalueindex(1));
    lua_pop(L, 1);
    if (marked) return 1;
  }
  if (*len == 0) return 0;
  lua_Integer count = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > *len) {
      lua_pop(L, 1);
      return 0;
    }
    count++;
  }
  return count == *len;
}

static const char *key_text(const struct key *k) { return k->s ? k->s : k->num; }

static int key_cmp(const void *a, const void *b) {
  const struct key *x = a, *y = b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(key_text(x), key_text(y), n);
  if (c) return c;
  return (x->len > y->len) - (x->len < y->len);
}

static void put_array(lua_State *L, struct enc *e, int idx, int depth, lua_Integer len) {
  if (len == 0) {
    PUTLIT(L, e, "[]");
    return;
  }
  PUTLIT(L, e, "[");
  for (lua_Integer i = 1; i <= len; i++) {
    if (i > 1) PUTLIT(L, e, ",");
    if (e->pretty) newline(L, e, depth);
    lua_rawgeti(L, idx, i);
    put_value(L, e, lua_gettop(L), depth + 1);
    lua_pop(L, 1);
  }
  if (e->pretty) newline(L, e, depth - 1);
  PUTLIT(L, e, "]");
}

static void put_object(lua_State *L, struct enc *e, int idx, int depth) {
  size_t base = e->nkeys;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    int kind = lua_type(L, -1);
    if (kind != LUA_TSTRING && kind != LUA_TNUMBER) fail(L, "cannot encode a key of type %s", lua_typename(L, kind));
    if (e->nkeys == e->capkeys) {
      size_t cap = e->capkeys ? e->capkeys * 2 : 64;
      struct key *keys = realloc(e->keys, cap * sizeof *keys);
      if (!keys) luaL_error(L, "not enough memory");
      e->keys = keys;
      e->capkeys = cap;
    }
    struct key *k = &e->keys[e->nkeys++];
    if (kind == LUA_TSTRING) {
      k->s = lua_tolstring(L, -1, &k->len);
    } else {
      k->s = NULL;
      k->is_int = lua_isinteger(L, -1);
      k->i = lua_tointeger(L, -1);
      k->n = lua_tonumber(L, -1);
      lua_pushvalue(L, -1);
      const char *t = lua_tolstring(L, -1, &k->len); /* tostring's text: 1, 1.5, 1e+20 */
      if (k->len >= sizeof k->num) k->len = sizeof k->num - 1;
      memcpy(k->num, t, k->len);
      k->num[k->len] = '\0';
      lua_pop(L, 1);
    }
  }
  size_t count = e->nkeys - base;
  if (count == 0) {
    PUTLIT(L, e, "{}");
    return;
  }
  qsort(e->keys + base, count, sizeof *e->keys, key_cmp);
  for (size_t i = base + 1; i < e->nkeys; i++)
    if (key_cmp(&e->keys[i - 1], &e->keys[i]) == 0)
      fail(L, "cannot encode: key %s appears as a string and as a number", key_text(&e->keys[i]));
  PUTLIT(L, e, "{");
  for (size_t i = base; i < base + count; i++) {
    if (i > base) PUTLIT(L, e, ",");
    if (e->pretty) newline(L, e, depth);
    const struct key *k = &e->keys[i]; /* e->keys moves only while nested values are written */
    put_string(L, e, key_text(k), k->len);
    if (e->pretty) PUTLIT(L, e, ": "); else PUTLIT(L, e, ":");
    if (k->s) lua_pushlstring(L, k->s, k->len);
    else if (k->is_int) lua_pushinteger(L, k->i);
    else lua_pushnumber(L, k->n);
    lua_rawget(L, idx);
    put_value(L, e, lua_gettop(L), depth + 1);
    lua_pop(L, 1);
  }
  e->nkeys = base;
  if (e->pretty) newline(L, e, depth - 1);
  PUTLIT(L, e, "}");
}

static void put_value(lua_State *L, struct enc *e, int idx, int depth) {
  switch (lua_type(L, idx)) {
  case LUA_TNIL: PUTLIT(L, e, "null"); return;
  case LUA_TBOOLEAN:
    if (lua_toboolean(L, idx)) PUTLIT(L, e, "true"); else PUTLIT(L, e, "false");
    return;
  case LUA_TNUMBER: put_number(L, e, idx); return;
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    put_string(L, e, s, n);
    return;
  }
  case LUA_TLIGHTUSERDATA:
    if (lua_touserdata(L, idx) == NULL) { /* json.null */
      PUTLIT(L, e, "null");
      return;
    }
    break;
  case LUA_TTABLE: {
    if (depth > MAX_DEPTH) {
      lua_pushfstring(L, "cannot encode: nested more than %d levels deep", MAX_DEPTH);
      lua_error(L);
    }
    luaL_checkstack(L, 4, "nested too deep");
    lua_Integer len;
    if (is_array(L, idx, &len)) put_array(L, e, idx, depth, len);
    else put_object(L, e, idx, depth);
    return;
  }
  default: break;
  }
  fail(L, "Cannot serialise %s: type not supported", luaL_typename(L, idx));
}

/* core.encode(value, pretty) -> text (raises the message) */
static int core_encode(lua_State *L) {
  luaL_checkany(L, 1);
  int pretty = lua_toboolean(L, 2);
  lua_settop(L, 1);
  struct enc *e = lua_newuserdatauv(L, sizeof *e, 0);
  memset(e, 0, sizeof *e);
  e->pretty = pretty;
  lua_pushvalue(L, lua_upvalueindex(2)); /* the buffer's metatable: __gc frees it */
  lua_setmetatable(L, -2);
  put_value(L, e, 1, 1);
  lua_pushlstring(L, e->p, e->len);
  free(e->p);
  e->p = NULL;
  return 1;
}

/* ---- decoding ----------------------------------------------------------- */

/* The text is a Lua string, so a NUL always follows its last byte: a scan
 * that stops at a NUL (white space, a string's plain bytes) needs no test
 * of the end, and the NUL then fails whatever test comes next. */

/* Short keys (at most this long, without an escape) are looked up in a
 * small cache of the keys already made: the members of a list's objects
 * repeat their keys, and so do the texts of one kind (a cache entry's
 * line, a page of an API's list), so a key found there is pushed without
 * interning its bytes again. The cache is a userdata, an upvalue of
 * core.decode (one per Lua state), and a table, the next upvalue, that
 * holds its strings (on the stack at KEYTAB while a text is decoded). */
#define NKEYS 64
#define KEYLEN 40 /* LUAI_MAXSHORTLEN: longer ones are not interned */
#define KEYTAB 2

struct keys {
  struct {
    const char *s; /* the bytes of the string at [i + 1], or NULL */
    size_t len;
  } e[NKEYS];
};

struct dec {
  const char *p, *end;
  int depth;
  int skip; /* check the text only, push nothing (core.items) */
  struct keys *keys; /* at lua_upvalueindex(2), or NULL */
};

static int value(lua_State *L, struct dec *d);

#if defined(__GNUC__)
#define NOINLINE __attribute__((noinline)) /* keeps value(), which recurses, small */
#else
#define NOINLINE
#endif

static const unsigned char ws[256] = {[' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1};

static void skip_ws(struct dec *d) {
  while (ws[(unsigned char)*d->p]) d->p++;
}

/* the bytes that end a string's plain run: '"', '\\' and the control
 * characters (a NUL too, so the end of the text) */
static const unsigned char special[256] = {
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  ['"'] = 1, ['\\'] = 1,
};

/* the first special byte from q on */
static const char *plain_run(const char *q, const char *end) {
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  /* eight bytes at a time: a byte's flag is exact below the first flagged
   * one (a borrow only runs upwards from a byte that is itself a match) */
  const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
  while (end - q >= 8) {
    uint64_t x, quote, slash;
    memcpy(&x, q, 8);
    quote = x ^ (ones * '"');
    slash = x ^ (ones * '\\');
    uint64_t m = (((quote - ones) & ~quote) | ((slash - ones) & ~slash) | ((x - ones * 0x20) & ~x)) & highs;
    if (m) return q + (__builtin_ctzll(m) >> 3);
    q += 8;
  }
#else
  (void)end;
#endif
  while (!special[(unsigned char)*q]) q++;
  return q;
}

static int hex4(const char *p) {
  int v = 0;
  for (int i = 0; i < 4; i++) {
    int c = (unsigned char)p[i], x;
    if (c >= '0' && c <= '9') x = c - '0';
    else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') x = (c | 0x20) - 'a' + 10;
    else return -1; /* a NUL too: the text always ends in one */
    v = v * 16 + x;
  }
  return v;
}

/* \uXXXX (a surrogate pair as lua-cjson takes it) at p, as UTF-8 into u
 * (room for 4 bytes) and its length into *n; the length of the escape, or
 * 0. */
static int unicode_escape(const char *p, char *u, int *n) {
  int cp = hex4(p + 2), len = 6;
  if (cp < 0) return 0;
  if ((cp & 0xF800) == 0xD800) {
    if (cp & 0x400) return 0; /* a low surrogate first */
    if (p[6] != '\\' || p[7] != 'u') return 0;
    int low = hex4(p + 8);
    if (low < 0 || (low & 0xFC00) != 0xDC00) return 0;
    cp = (((cp & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
    len = 12;
  }
  if (cp < 0x80) {
    u[0] = (char)cp;
    *n = 1;
  } else if (cp < 0x800) {
    u[0] = (char)(0xC0 | (cp >> 6));
    u[1] = (char)(0x80 | (cp & 0x3F));
    *n = 2;
  } else if (cp < 0x10000) {
    u[0] = (char)(0xE0 | (cp >> 12));
    u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    u[2] = (char)(0x80 | (cp & 0x3F));
    *n = 3;
  } else {
    u[0] = (char)(0xF0 | (cp >> 18));
    u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    u[3] = (char)(0x80 | (cp & 0x3F));
    *n = 4;
  }
  return len;
}

/* The string whose plain run from s (after its opening quote at d->p)
 * ends at q, on an escape: pushed. Each plain run and the escape after it
 * are written with one reservation in the buffer (an escape gives at most
 * 4 bytes). */
static int escaped(lua_State *L, struct dec *d, const char *s, const char *q) {
  luaL_Buffer buffer;
  luaL_Buffer *b = NULL;
  if (!d->skip) {
    b = &buffer;
    luaL_buffinit(L, b);
  }
  const char *run = s;
  for (;;) {
    char scratch[4], *o = scratch;
    if (b) {
      size_t r = (size_t)(q - run);
      o = luaL_prepbuffsize(b, r + 4);
      memcpy(o, run, r);
      luaL_addsize(b, r);
      o += r;
    }
    if (*q == '"') {
      if (b) luaL_pushresult(b);
      d->p = q + 1;
      return 1;
    }
    if (*q != '\\') break; /* a control character, or the end */
    int len = 2, n = 1;
    switch (q[1]) {
    case '"': *o = '"'; break;
    case '\\': *o = '\\'; break;
    case '/': *o = '/'; break;
    case 'b': *o = '\b'; break;
    case 'f': *o = '\f'; break;
    case 'n': *o = '\n'; break;
    case 'r': *o = '\r'; break;
    case 't': *o = '\t'; break;
    case 'u':
      len = unicode_escape(q, o, &n);
      if (!len) goto bad;
      break;
    default: goto bad;
    }
    if (b) luaL_addsize(b, n);
    run = q + len;
    q = plain_run(run, d->end);
  }
bad:
  if (b) {
    luaL_pushresult(b);
    lua_pop(L, 1);
  }
  return 0;
}

/* the string whose opening quote is at d->p, pushed */
static int string(lua_State *L, struct dec *d) {
  const char *s = d->p + 1, *q = plain_run(s, d->end);
  if (*q != '"') return *q == '\\' ? escaped(L, d, s, q) : 0;
  if (!d->skip) lua_pushlstring(L, s, (size_t)(q - s));
  d->p = q + 1;
  return 1;
}

/* an object's key whose opening quote is at d->p, pushed: from the cache
 * when it is there */
static int member_key(lua_State *L, struct dec *d) {
  const char *s = d->p + 1, *q = plain_run(s, d->end);
  size_t n = (size_t)(q - s);
  if (*q != '"' || n > KEYLEN) return string(L, d);
  /* n == 0: s[0] and q[-1] are the quotes */
  unsigned h = ((unsigned)n * 5 + (unsigned char)s[0] + (unsigned char)s[n >> 1] * 7 + (unsigned char)q[-1] * 3) % NKEYS;
  struct keys *k = d->keys;
  if (k->e[h].s && k->e[h].len == n && memcmp(k->e[h].s, s, n) == 0) {
    lua_rawgeti(L, KEYTAB, (lua_Integer)h + 1);
  } else {
    const char *bytes = lua_pushlstring(L, s, n);
    lua_pushvalue(L, -1);
    lua_rawseti(L, KEYTAB, (lua_Integer)h + 1);
    k->e[h].s = bytes; /* alive while KEYTAB holds it */
    k->e[h].len = n;
  }
  d->p = q + 1;
  return 1;
}

/* lua-cjson's number: strtod's, without a leading zero, hexadecimal,
 * infinity or NaN */
static int number(lua_State *L, struct dec *d) {
  const char *p = d->p, *q = p;
  if (*q == '-') q++;
  if (*q == '0' && ((q[1] | 0x20) == 'x' || (q[1] >= '0' && q[1] <= '9'))) return 0;
  if ((unsigned char)*q > '9') return 0; /* inf, nan and any other word */
  const char *r = q;
  while (*r >= '0' && *r <= '9') r++; /* the NUL at the end stops it */
  if (r > q && r - q <= 15 && *r != '.' && *r != 'e' && *r != 'E') {
    lua_Integer v = 0; /* below 10^15 < 2^53: exact */
    for (const char *c = q; c < r; c++) v = v * 10 + (*c - '0');
    if (!d->skip) lua_pushinteger(L, p != q ? -v : v);
    d->p = r;
    return 1;
  }
  char *stop;
  double v = strtod(p, &stop); /* the text ends in a NUL: strtod stops there */
  if (stop == p || stop > d->end) return 0;
  d->p = stop;
  if (d->skip) return 1;
  if (v == floor(v) && v >= -EXACT && v <= EXACT) lua_pushinteger(L, (lua_Integer)v);
  else lua_pushnumber(L, v);
  return 1;
}

static int word(struct dec *d, const char *w, size_t n) {
  if ((size_t)(d->end - d->p) < n || memcmp(d->p, w, n) != 0) return 0;
  d->p += n;
  return 1;
}

/* A decoded array or object's first BATCH elements (members) wait on the
 * stack, and its table is then made at their number: most JSON values are
 * small, and a table grown one key at a time is resized at 1, 2, 4, 8...
 * (a cached page's header lines were most of its decoding). */
#define BATCH 16
#define STACK_LEVELS 4 /* how many levels one luaL_checkstack makes room for */

/* the table at t made for the n elements (or members) above it, which are
 * then set in it in order (a repeated key: the last one wins) and popped */
static void fill(lua_State *L, int t, int n, int object) {
  if (object) {
    lua_createtable(L, 0, n);
    lua_replace(L, t);
    for (int k = 0; k < n; k++) {
      lua_pushvalue(L, t + 1 + 2 * k);
      lua_pushvalue(L, t + 2 + 2 * k);
      lua_rawset(L, t);
    }
  } else {
    lua_createtable(L, n, 0);
    lua_replace(L, t);
    for (int k = n; k >= 1; k--) lua_rawseti(L, t, k);
  }
  lua_settop(L, t);
}

/* With list (a stack index), each element's text goes into that table as
 * a string, and nothing is pushed for the array itself. */
static NOINLINE int array(lua_State *L, struct dec *d, int list) {
  d->p++;
  int batch = !d->skip && !list, t = 0, pending = 0;
  if (batch) {
    lua_pushnil(L); /* the table's slot */
    t = lua_gettop(L);
  } else if (!d->skip) {
    lua_newtable(L);
  }
  skip_ws(d);
  if (*d->p == ']') {
    d->p++;
    if (!d->skip) {
      if (batch) fill(L, t, 0, 0);
      lua_pushvalue(L, lua_upvalueindex(1));
      lua_setmetatable(L, -2);
    }
    return 1;
  }
  for (lua_Integer i = 1;; i++) {
    const char *start = d->p; /* after the white space */
    if (!value(L, d)) return 0;
    if (list) {
      lua_pushlstring(L, start, (size_t)(d->p - start));
      lua_rawseti(L, list, i);
    } else if (batch && pending >= 0) {
      if (++pending == BATCH) {
        fill(L, t, pending, 0);
        pending = -1; /* made: the rest are set one by one */
      }
    } else if (!d->skip) {
      lua_rawseti(L, -2, i);
    }
    skip_ws(d);
    if (*d->p == ']') {
      d->p++;
      if (batch && pending >= 0) fill(L, t, pending, 0);
      return 1;
    }
    if (*d->p != ',') return 0;
    d->p++;
    skip_ws(d);
  }
}

static NOINLINE int object(lua_State *L, struct dec *d) {
  d->p++;
  int batch = !d->skip, t = 0, pending = 0;
  if (batch) {
    lua_pushnil(L); /* the table's slot */
    t = lua_gettop(L);
  }
  skip_ws(d);
  if (*d->p == '}') {
    d->p++;
    if (batch) fill(L, t, 0, 1);
    return 1;
  }
  for (;;) {
    if (*d->p != '"' || !(d->keys && batch ? member_key(L, d) : string(L, d))) return 0;
    skip_ws(d);
    if (*d->p != ':') return 0;
    d->p++;
    if (!value(L, d)) return 0;
    if (batch && pending >= 0) {
      if (++pending == BATCH) {
        fill(L, t, pending, 1);
        pending = -1; /* made: the rest are set one by one */
      }
    } else if (batch) {
      lua_rawset(L, -3);
    }
    skip_ws(d);
    if (*d->p == '}') {
      d->p++;
      if (batch && pending >= 0) fill(L, t, pending, 1);
      return 1;
    }
    if (*d->p != ',') return 0;
    d->p++;
    skip_ws(d);
  }
}

static int value(lua_State *L, struct dec *d) {
  skip_ws(d);
  switch (*d->p) {
  case '{':
  case '[': {
    if (++d->depth > MAX_DEPTH) return 0;
    /* room for the next STACK_LEVELS levels: each holds at most its
     * table's slot, 2 * BATCH members and what is pushed to set them */
    if (d->depth % STACK_LEVELS == 1 && !d->skip)
      luaL_checkstack(L, STACK_LEVELS * (2 * BATCH + 6), "nested too deep");
    int ok = *d->p == '{' ? object(L, d) : array(L, d, 0);
    d->depth--;
    return ok;
  }
  case '"': return string(L, d);
  case 't':
    if (!word(d, "true", 4)) return 0;
    if (!d->skip) lua_pushboolean(L, 1);
    return 1;
  case 'f':
    if (!word(d, "false", 5)) return 0;
    if (!d->skip) lua_pushboolean(L, 0);
    return 1;
  case 'n':
    if (!word(d, "null", 4)) return 0;
    if (!d->skip) lua_pushlightuserdata(L, NULL);
    return 1;
  default:
    if (*d->p == '-' || (*d->p >= '0' && *d->p <= '9')) return number(L, d);
    return 0;
  }
}

/* Whether the rest of the text after a value is white space (or a NUL, where
 * cjson ends the text). */
static int at_end(struct dec *d) {
  skip_ws(d);
  return d->p >= d->end || *d->p == '\0';
}

/* core.decode(text) -> value | nil, the character (from 1) where it failed
 * | nil, false when text is not a string (json.decode words that) */
static int core_decode(lua_State *L) {
  if (lua_type(L, 1) != LUA_TSTRING) {
    lua_pushnil(L);
    lua_pushboolean(L, 0);
    return 2;
  }
  size_t n;
  const char *s = lua_tolstring(L, 1, &n);
  struct dec d = {s, s + n, 0, 0, lua_touserdata(L, lua_upvalueindex(2))};
  lua_settop(L, 1);
  lua_pushvalue(L, lua_upvalueindex(3)); /* KEYTAB */
  if (value(L, &d) && at_end(&d)) return 1;
  lua_settop(L, 1);
  lua_pushnil(L);
  lua_pushinteger(L, (lua_Integer)(d.p - s) + 1);
  return 2;
}

/* The member list of the object at d->p: the elements of the first member
 * named key, if it is an array, into the table at index list. 1 when the
 * text is JSON, 0 when not; *found whether the member was an array. */
static int member_list(lua_State *L, struct dec *d, const char *key, size_t klen, int list, int *found) {
  d->p++;
  d->depth++;
  skip_ws(d);
  if (d->p < d->end && *d->p == '}') {
    d->p++;
    return 1;
  }
  for (;;) {
    skip_ws(d);
    if (d->p >= d->end || *d->p != '"') return 0;
    d->skip = 0;
    if (!string(L, d)) return 0;
    size_t n;
    const char *k = lua_tolstring(L, -1, &n);
    int match = !*found && n == klen && memcmp(k, key, n) == 0;
    lua_pop(L, 1);
    d->skip = 1;
    skip_ws(d);
    if (d->p >= d->end || *d->p != ':') return 0;
    d->p++;
    skip_ws(d);
    if (match && d->p < d->end && *d->p == '[') {
      *found = 1;
      d->depth++;
      if (d->depth > MAX_DEPTH || !array(L, d, list)) return 0;
      d->depth--;
    } else {
      if (match) *found = -1; /* the first such member is no array: no list */
      if (!value(L, d)) return 0;
    }
    skip_ws(d);
    if (d->p >= d->end) return 0;
    if (*d->p == '}') {
      d->p++;
      return 1;
    }
    if (*d->p != ',') return 0;
    d->p++;
  }
}

/* core.items(text[, key]) -> list of the elements' texts | nil, is_json:
 * the elements of a list as a server sends one (a JSON array, or an object
 * whose "data" member, or key's, is the array), each as the bytes the text
 * has. The whole text is checked as json.decode would check it. */
static int core_items(lua_State *L) {
  size_t n, klen;
  const char *s = luaL_checklstring(L, 1, &n);
  const char *key = luaL_optlstring(L, 2, NULL, &klen);
  int keyed = key != NULL;
  if (!keyed) {
    key = "data";
    klen = 4;
  }
  lua_settop(L, 2);
  lua_newtable(L);
  struct dec d = {s, s + n, 0, 1, NULL};
  int found = 0, ok;
  skip_ws(&d);
  if (d.p < d.end && *d.p == '[') {
    found = keyed ? -1 : 1;
    d.depth++;
    ok = array(L, &d, keyed ? 0 : 3);
  } else if (d.p < d.end && *d.p == '{') {
    ok = member_list(L, &d, key, klen, 3, &found);
  } else {
    ok = value(L, &d);
  }
  if (ok && at_end(&d) && found == 1) return 1;
  lua_pushnil(L);
  lua_pushboolean(L, ok && at_end(&d));
  return 2;
}

int luaopen_nt3_json_core(lua_State *L) {
  lua_newtable(L);
  lua_newtable(L); /* array_mt */
  lua_pushliteral(L, "nt3.json.array");
  lua_setfield(L, -2, "__name");
  lua_newtable(L); /* the output buffer's metatable */
  lua_pushcfunction(L, enc_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushvalue(L, -2);
  lua_pushvalue(L, -2);
  lua_pushcclosure(L, core_encode, 2);
  lua_setfield(L, -4, "encode");
  lua_pop(L, 1);
  lua_pushvalue(L, -1);
  struct keys *keys = lua_newuserdatauv(L, sizeof *keys, 0);
  memset(keys, 0, sizeof *keys);
  lua_createtable(L, NKEYS, 0);
  lua_pushcclosure(L, core_decode, 3);
  lua_setfield(L, -3, "decode");
  lua_pushcfunction(L, core_items);
  lua_setfield(L, -3, "items");
  lua_setfield(L, -2, "array_mt");
  return 1;
}
