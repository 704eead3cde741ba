/*
 * nt3.policy: the security rules more than one part of nt3 needs, each
 * written once. A rule written twice drifts (the Lua copy of the loopback
 * test once accepted "127.0.0.08" while the C copy refused it; the Lua
 * token mask stopped at a quote the token may contain), so the HTTP
 * binding, the CLI and the credential store all call these.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <lauxlib.h>

#include "policy.h"

#define PREFIX_LEN (sizeof NT3_TOKEN_PREFIX - 1)

/* ---------------------------------------------------------------------------
 * the rules
 * ------------------------------------------------------------------------- */

int nt3_parse_address(const char *host, unsigned char addr[16]) {
  if (inet_pton(AF_INET, host, addr) == 1) return AF_INET;
  size_t len = strlen(host);
  char inner[INET6_ADDRSTRLEN];
  const char *bare = host;
  if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
    if (len - 2 >= sizeof inner) return 0;
    memcpy(inner, host + 1, len - 2);
    inner[len - 2] = '\0';
    bare = inner;
  }
  return inet_pton(AF_INET6, bare, addr) == 1 ? AF_INET6 : 0;
}

int nt3_is_loopback(const char *host) {
  if (strcasecmp(host, "localhost") == 0) return 1;
  unsigned char addr[16];
  struct in6_addr a6;
  switch (nt3_parse_address(host, addr)) {
  case AF_INET: return addr[0] == 127;
  case AF_INET6:
    /* a bare "::1" is no host of a URL: only the bracketed form counts */
    if (host[0] != '[') return 0;
    memcpy(&a6, addr, sizeof a6);
    return IN6_IS_ADDR_LOOPBACK(&a6);
  default: return 0;
  }
}

int nt3_debug_enabled(void) {
  const char *d = getenv("NT3_DEBUG");
  return d && *d && strcmp(d, "0") != 0;
}

int nt3_is_credential_header(const char *name, size_t len) {
  static const char *const names[] = {"Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie", NULL};
  for (int i = 0; names[i]; i++)
    if (strlen(names[i]) == len && strncasecmp(name, names[i], len) == 0) return 1;
  return 0;
}

double nt3_monotonic(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------------------
 * masking and printable text
 * ------------------------------------------------------------------------- */

static int is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

void nt3_mask(nt3_sink out, void *ud, const char *token, size_t len) {
  if (len >= PREFIX_LEN && memcmp(token, NT3_TOKEN_PREFIX, PREFIX_LEN) == 0) {
    out(ud, NT3_TOKEN_PREFIX, PREFIX_LEN);
    token += PREFIX_LEN;
    len -= PREFIX_LEN;
  }
  out(ud, "****", 4);
  if (len < 12) return;
  /* the tail is shown only when it is plain text: it must neither cut a
   * UTF-8 character in two nor carry a control byte */
  for (size_t i = len - 4; i < len; i++)
    if ((unsigned char)token[i] < 0x21 || (unsigned char)token[i] > 0x7e) return;
  out(ud, token + len - 4, 4);
}

/* Length of the token-shaped run at s (up to white space or the end). */
static size_t token_run(const char *s, size_t len) {
  size_t n = 0;
  while (n < len && !is_space((unsigned char)s[n])) n++;
  return n;
}

/* "entri_" and then, up to white space, anything with a letter or digit
 * in it: a token holding quotes is still a token, but the documented
 * 'Tokens should start with "entri_"' names no token. */
static int starts_token(const char *s, size_t len) {
  if (len <= PREFIX_LEN || memcmp(s, NT3_TOKEN_PREFIX, PREFIX_LEN) != 0) return 0;
  for (size_t i = PREFIX_LEN; i < len && !is_space((unsigned char)s[i]); i++)
    if (isalnum((unsigned char)s[i])) return 1;
  return 0;
}

void nt3_redact(nt3_sink out, void *ud, const char *s, size_t len) {
  size_t i = 0, plain = 0;
  while (i < len) {
    if (starts_token(s + i, len - i)) {
      out(ud, s + plain, i - plain);
      size_t n = token_run(s + i, len - i);
      nt3_mask(out, ud, s + i, n);
      i += n;
      plain = i;
    } else {
      i++;
    }
  }
  out(ud, s + plain, len - plain);
}

/* Decodes one UTF-8 character at s; returns its length (0: not UTF-8:
 * truncated, overlong, a surrogate or past U+10FFFF). */
static size_t utf8_decode(const unsigned char *s, size_t len, unsigned long *cp) {
  unsigned char c = s[0];
  size_t n;
  unsigned long min;
  if (c < 0x80) {
    *cp = c;
    return 1;
  } else if (c >= 0xc2 && c <= 0xdf) {
    n = 2, min = 0x80, *cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3, min = 0x800, *cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4, min = 0x10000, *cp = c & 0x07;
  } else {
    return 0;
  }
  if (len < n) return 0;
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    *cp = (*cp << 6) | (s[i] & 0x3f);
  }
  if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff)) return 0;
  return n;
}

/* Characters that move or hide text without showing themselves: C1
 * controls (U+0085 is a line break on some terminals, U+009B a CSI),
 * bidirectional overrides and isolates (the "Trojan Source" trick),
 * zero-width characters, line and paragraph separators, tags. */
static int is_invisible(unsigned long cp) {
  return (cp >= 0x80 && cp <= 0x9f) || cp == 0xad || cp == 0x61c || cp == 0x180e ||
         (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202e) ||
         (cp >= 0x2060 && cp <= 0x206f) || cp == 0xfeff || (cp >= 0xfff9 && cp <= 0xfffb) ||
         (cp >= 0xe0000 && cp <= 0xe007f);
}

void nt3_printable_as(nt3_sink out, void *ud, const char *s, size_t len, size_t max, unsigned how) {
  size_t limit = max && max < len ? max : len;
  size_t i = 0, plain = 0; /* plain: where the run of text kept as it is began */
  while (i < limit) {
    const unsigned char *u = (const unsigned char *)s + i;
    if (!(how & NT3_TEXT_UNMASKED) && starts_token(s + i, len - i)) {
      out(ud, s + plain, i - plain);
      size_t n = token_run(s + i, len - i);
      nt3_mask(out, ud, s + i, n);
      i += n;
      plain = i;
      continue;
    }
    if ((how & NT3_TEXT_LINES) && (*u == '\n' || *u == '\t')) {
      i++;
      continue;
    }
    unsigned long cp = 0;
    size_t n = *u < 0x20 || *u == 0x7f ? 0 : utf8_decode(u, len - i, &cp);
    if (n && !is_invisible(cp)) {
      i += n;
      continue;
    }
    out(ud, s + plain, i - plain);
    out(ud, *u < 0x20 && is_space(*u) ? " " : "?", 1);
    i += n ? n : 1;
    plain = i;
  }
  out(ud, s + plain, i - plain);
  if (i < len) out(ud, "...", 3);
}

void nt3_printable(nt3_sink out, void *ud, const char *s, size_t len, size_t max) {
  nt3_printable_as(out, ud, s, len, max, 0);
}

static void to_buffer(void *ud, const char *s, size_t n) {
  luaL_addlstring((luaL_Buffer *)ud, s, n);
}

/* ---------------------------------------------------------------------------
 * nt3.policy
 * ------------------------------------------------------------------------- */

/* policy.is_loopback(host) -> boolean */
static int policy_is_loopback(lua_State *L) {
  lua_pushboolean(L, nt3_is_loopback(luaL_checkstring(L, 1)));
  return 1;
}

/* policy.mask(token) -> "entri_****abcd"; anything but a string is "****" */
static int policy_mask(lua_State *L) {
  size_t len = 0;
  const char *t = lua_type(L, 1) == LUA_TSTRING ? lua_tolstring(L, 1, &len) : "";
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  nt3_mask(to_buffer, &b, t, len);
  luaL_pushresult(&b);
  return 1;
}

/* policy.redact(text) -> text with every token-shaped run masked */
static int policy_redact(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  nt3_redact(to_buffer, &b, s, len);
  luaL_pushresult(&b);
  return 1;
}

/* policy.sanitize(text [, max_bytes [, opts]]) -> one printable line,
 * tokens masked; opts.lines keeps line breaks and tabs, opts.mask = false
 * leaves tokens as they are */
static int policy_sanitize(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  lua_Integer max = luaL_optinteger(L, 2, 0);
  luaL_argcheck(L, max >= 0, 2, "must be 0 (no limit) or more");
  unsigned how = 0;
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    if (lua_getfield(L, 3, "lines") != LUA_TNIL && lua_toboolean(L, -1)) how |= NT3_TEXT_LINES;
    if (lua_getfield(L, 3, "mask") != LUA_TNIL && !lua_toboolean(L, -1)) how |= NT3_TEXT_UNMASKED;
    lua_pop(L, 2);
  }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  nt3_printable_as(to_buffer, &b, s, len, (size_t)max, how);
  luaL_pushresult(&b);
  return 1;
}

/* policy.debug() -> whether NT3_DEBUG asks for traces */
static int policy_debug(lua_State *L) {
  lua_pushboolean(L, nt3_debug_enabled());
  return 1;
}

/* policy.is_credential_header(name) -> boolean */
static int policy_is_credential_header(lua_State *L) {
  size_t len;
  const char *name = luaL_checklstring(L, 1, &len);
  lua_pushboolean(L, nt3_is_credential_header(name, len));
  return 1;
}

/* policy.warn(message): "nt3: warning: <message>" on stderr, as one
 * printable line with tokens masked: how every nt3 warning is printed */
static int policy_warn(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "nt3: warning: ");
  nt3_printable(to_buffer, &b, s, len, 0);
  luaL_addchar(&b, '\n');
  luaL_pushresult(&b);
  fputs(lua_tostring(L, -1), stderr);
  return 0;
}

int nt3_is_local_file_name(const char *name) {
  if (name[0] == '.' && name[1] == '.') name++;
  return strncmp(name, NT3_LOCAL_FILE, sizeof NT3_LOCAL_FILE - 1) == 0;
}

/* policy.now() -> seconds on the monotonic clock */
static int policy_now(lua_State *L) {
  lua_pushnumber(L, nt3_monotonic());
  return 1;
}

static const luaL_Reg policy_fns[] = {
  {"is_loopback", policy_is_loopback},
  {"mask", policy_mask},
  {"redact", policy_redact},
  {"sanitize", policy_sanitize},
  {"debug", policy_debug},
  {"is_credential_header", policy_is_credential_header},
  {"now", policy_now},
  {"warn", policy_warn},
  {NULL, NULL},
};

int luaopen_nt3_policy(lua_State *L) {
  luaL_newlib(L, policy_fns);
  lua_pushliteral(L, NT3_TOKEN_PREFIX);
  lua_setfield(L, -2, "TOKEN_PREFIX");
  lua_pushliteral(L, NT3_LOCAL_FILE);
  lua_setfield(L, -2, "LOCAL_FILE");
  return 1;
}
