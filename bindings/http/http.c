/*
 * nt3.http: HTTP requests with nt3's network policy (docs/architecture.md, invariant 8)
 * enforced in C so that no Lua code can get around it: only http and https;
 * plain http only to a loopback host; TLS always verified; no .netrc;
 * redirects followed hop by hop so that every one is checked, and
 * credentials never carried to another origin; bounded connect time, stall
 * and size; retries only where repeating is harmless.
 *
 * Every request goes through the process's one engine (engine.c), so
 * connections are reused. Inside a task of nt3.task, http.request yields
 * while its transfer is in flight, the task to wake kept with the transfer
 * (docs/architecture.md, "Waiting"); anywhere else it waits in the same
 * one wait (src/sched.c) until its own transfer is done.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "sched.h"

#define TRANSFER_MT "nt3.http.transfer"

static int transfer_gc(lua_State *L) {
  struct transfer *t = luaL_checkudata(L, 1, TRANSFER_MT);
  nt3_transfer_free(L, t);
  free(t->message);
  free(t->file);
  t->message = NULL;
  t->file = NULL;
  return 0;
}

static struct transfer *new_transfer(lua_State *L) {
  struct transfer *t = lua_newuserdatauv(L, sizeof *t, 1);
  memset(t, 0, sizeof *t);
  t->sink_ref = t->waiter = t->token = LUA_NOREF;
  t->deliver = -1;
  t->out_dir = -1;
  if (luaL_newmetatable(L, TRANSFER_MT)) {
    lua_pushcfunction(L, transfer_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return t;
}

static int transfer_done(lua_State *L, void *t) {
  (void)L;
  return ((struct transfer *)t)->state == T_DONE;
}

static int finish_request(lua_State *L, int status, lua_KContext slot) {
  (void)status;
  struct transfer *t = luaL_checkudata(L, (int)slot, TRANSFER_MT);
  if (lua_gettop(L) >= (int)slot + 2 && lua_touserdata(L, (int)slot + 1) == nt3_sched_cancel_mark()) {
    /* cancelled (task.cancel, Ctrl-C): taken out of the pool unfinished,
     * its connection is closed */
    nt3_transfer_free(L, t);
    lua_pushvalue(L, (int)slot + 2);
    return lua_error(L);
  }
  if (t->state == T_WAITING || t->state == T_RUNNING) nt3_sched_wait(L, -1, transfer_done, t); /* resumed early */
  if (t->code && strcmp(t->code, E_INTERRUPTED) == 0) {
    /* Ctrl-C while the sink ran: an interrupt, raised as a wait raises it */
    nt3_transfer_free(L, t);
    lua_pushliteral(L, E_INTERRUPTED);
    return lua_error(L);
  }
  int n = nt3_http_push_result(L, t);
  nt3_transfer_free(L, t);
  return n;
}

const struct nt3_http_gate *nt3_http_gate_of(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, NT3_HTTP_GATE);
  const struct nt3_http_gate *g = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return g;
}

/* http.request(req) -> response | nil, message, code */
static int http_request(lua_State *L) { return nt3_http_request_as(L, NULL); }

int nt3_http_request_as(lua_State *L, const struct nt3_api_auth *a) {
  struct request req;
  nt3_http_check_request(L, &req);
  req.gate = nt3_http_gate_of(L);
  int out_dir = -1;
  char out_name[NAME_MAX + 1] = "";
  if (req.gate) {
    /* a sandbox reaches files only through its fs grant: an output file
     * beneath a write root (the gate resolves its directory now, before
     * anything is sent), never a CA file of its choosing */
    if (req.cafile) return req.gate->raise(L, "permission denied: http.request with 'cafile' (not granted: fs)");
    if (req.output) {
      char why[PATH_MAX + 200];
      int r = req.gate->output(L, req.gate, req.output, &out_dir, out_name, why, sizeof why);
      if (r < 0) return req.gate->raise(L, why);
      if (r > 0) {
        lua_pushnil(L);
        lua_pushstring(L, why);
        lua_pushliteral(L, E_OUTPUT);
        return 3;
      }
    }
    if (a) {
      req.auth = a->auth;
      req.secret = a->secret;
      req.cafile = a->cafile;
    }
  }
  struct engine *e = nt3_engine(L);
  if (!e) {
    if (out_dir >= 0) close(out_dir);
    return 3;
  }
  struct transfer *t = new_transfer(L);
  int slot = lua_gettop(L);
  t->req = req;
  t->out_dir = out_dir;
  if (req.output) {
    t->file = calloc(1, sizeof *t->file);
    if (!t->file) return luaL_error(L, "not enough memory");
    memcpy(t->file->name, out_name, sizeof out_name);
  }
  /* the strings req points into stay alive as long as the transfer */
  lua_createtable(L, SLOT_SINK, 0);
  for (int i = REQ; i <= SLOT_SINK; i++) {
    lua_pushvalue(L, i);
    lua_rawseti(L, -2, i);
  }
  lua_setiuservalue(L, slot, 1);
  if (req.has_sink) {
    lua_pushvalue(L, SLOT_SINK);
    t->sink_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  nt3_http_build_headers(L, nt3_engine_api(e), &req, &t->headers, &t->safe_headers);
  if (nt3_transfer_begin(L, e, t) != 0) {
    if (req.gate && t->code && strcmp(t->code, "permission") == 0) {
      lua_pushstring(L, nt3_http_message(t));
      nt3_transfer_free(L, t);
      return req.gate->raise(L, lua_tostring(L, -1));
    }
    return finish_request(L, LUA_OK, slot);
  }
  /* in flight, it is the engine's until done, whoever else lets go of it */
  lua_getfield(L, LUA_REGISTRYINDEX, NT3_HTTP_LIVE);
  lua_pushvalue(L, slot);
  lua_rawsetp(L, -2, t);
  lua_pop(L, 1);
  if (nt3_sched_task(L)) {
    /* the task to wake travels with the transfer */
    t->waiter = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, slot);
    t->token = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushlightuserdata(L, nt3_sched_mark());
    lua_pushvalue(L, slot);
    return lua_yieldk(L, 2, (lua_KContext)slot, finish_request);
  }
  nt3_sched_wait(L, -1, transfer_done, t);
  return finish_request(L, LUA_OK, slot);
}

/* http.link(value, rel) -> the target of the first link whose rel holds
 * rel, as written (RFC 8288) | nil */
static int http_link(lua_State *L) {
  size_t len, rel_len, start, n;
  const char *value = luaL_checklstring(L, 1, &len);
  const char *rel = luaL_checklstring(L, 2, &rel_len);
  if (!nt3_http_link_target(value, len, rel, rel_len, &start, &n)) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushlstring(L, value + start, n);
  return 1;
}

/* NT3_TEST_NO_FAST_URL=1 when the module was loaded: parse_url leaves
 * every URL to libcurl (a test hook: tests/http_spec.lua compares both) */
static int url_by_libcurl;

static int push_parsed(lua_State *L, const char *full, const struct nt3_url_parts *p) {
  char *origin = nt3_http_parts_origin(p);
  char shown[600];
  nt3_http_parts_shown(p, shown, sizeof shown);
  lua_createtable(L, 0, 3);
  lua_pushstring(L, full);
  lua_setfield(L, -2, "url");
  lua_pushstring(L, origin ? origin : "");
  lua_setfield(L, -2, "origin");
  lua_pushstring(L, shown);
  lua_setfield(L, -2, "shown");
  free(origin);
  return 1;
}

/* http.parse_url(url [, base]) -> { url, origin, shown } | nil, message,
 * "invalid_url". url may be a reference relative to base (RFC 3986), as
 * libcurl's URL parser, the one redirects use, resolves it; the plain
 * case (a next link "/items?page=2") is resolved here, as libcurl would,
 * without its two parses (docs/architecture.md, "Performance budget"). */
static int http_parse_url(lua_State *L) {
  const char *ref = luaL_checkstring(L, 1);
  const char *base = luaL_optstring(L, 2, NULL);
  const struct curl_api *api = nt3_curl(L);
  if (!api) return 3;
  if (base && !url_by_libcurl) {
    struct nt3_plain_url plain;
    if (nt3_http_resolve_plain(base, ref, &plain)) return push_parsed(L, plain.url, &plain.parts);
  }
  CURLU *u = api->url();
  if (!u) return luaL_error(L, "not enough memory");
  CURLUcode uc = CURLUE_OK;
  const char *bad = ref;
  if (base) {
    uc = api->url_set(u, CURLUPART_URL, base, CURLU_NON_SUPPORT_SCHEME);
    bad = base;
  }
  /* an empty reference or a fragment alone is the base itself; libcurl
   * would drop the base's last segment */
  if (uc == CURLUE_OK && (!base || (ref[0] && ref[0] != '#'))) {
    uc = api->url_set(u, CURLUPART_URL, ref, CURLU_NON_SUPPORT_SCHEME);
    bad = ref;
  }
  if (uc == CURLUE_OK) uc = api->url_set(u, CURLUPART_FRAGMENT, NULL, 0);
  char *full = NULL;
  if (uc == CURLUE_OK) {
    if (api->url_get(u, CURLUPART_URL, &full, 0) != CURLUE_OK || !full) uc = CURLUE_OUT_OF_MEMORY;
  }
  if (uc != CURLUE_OK) {
    char shown[300];
    lua_pushnil(L);
    lua_pushfstring(L, "invalid URL \"%s\": %s", nt3_http_printable(shown, sizeof shown, bad, 200),
                    api->url_strerror(uc));
    api->url_cleanup(u);
    lua_pushliteral(L, "invalid_url");
    return 3;
  }
  struct nt3_url_parts p;
  nt3_http_parts_read(api, u, NT3_PARTS_ORIGIN | NT3_PARTS_PATH, &p);
  api->url_cleanup(u);
  push_parsed(L, full, &p);
  nt3_http_parts_free(&p);
  api->free(full);
  return 1;
}

static const luaL_Reg http_fns[] = {
  {"request", http_request},
  {"link", http_link},
  {"parse_url", http_parse_url},
  {NULL, NULL},
};

int luaopen_nt3_http(lua_State *L) {
  const char *no_fast = getenv("NT3_TEST_NO_FAST_URL");
  url_by_libcurl = no_fast && strcmp(no_fast, "1") == 0;
  luaL_newlib(L, http_fns);
  return 1;
}
