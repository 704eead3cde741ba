/*
 * The one wait of nt3 (docs/architecture.md, "Waiting"): see sched.h.
 *
 * nt3.task (Lua) owns the tasks: the ready queue, who waits for whom, what
 * a failure does. This file owns waiting on the outside world: the HTTP
 * engine's transfers (through its poller), process pipes and timers, all
 * in one poll, curl_multi_poll's own when the engine is made. Whatever
 * waits keeps the task to wake beside it; a wake queues that task and the
 * token it waited on, and nt3.sched.wait hands the list to the scheduler.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#include "policy.h"
#include "runtime.h"
#include "sched.h"

#define STATE_KEY "nt3.sched.state" /* struct sched of this Lua state */
#define WOKEN_KEY "nt3.sched.woken" /* task, token, task, token, ... */
#define TASKS_KEY "nt3.sched.tasks" /* coroutine -> its task (weak keys) */
#define TIMER_MT "nt3.sched.timer"

struct sched {
  struct nt3_poller poller;
  int has_poller;
  struct nt3_watch *watches;
};

static const char mark = 0, cancel_mark = 0;

void *nt3_sched_mark(void) { return (void *)&mark; }
void *nt3_sched_cancel_mark(void) { return (void *)&cancel_mark; }

void nt3_sleep(double s) {
  if (!(s > 0)) return;
  struct timespec ts;
  ts.tv_sec = (time_t)s;
  ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
  nanosleep(&ts, NULL); /* a signal cuts it short: the caller looks again */
}

static struct sched *state(lua_State *L) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, STATE_KEY) == LUA_TUSERDATA) {
    struct sched *s = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return s;
  }
  lua_pop(L, 1);
  struct sched *s = lua_newuserdatauv(L, sizeof *s, 0);
  memset(s, 0, sizeof *s);
  lua_setfield(L, LUA_REGISTRYINDEX, STATE_KEY);
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, WOKEN_KEY);
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, TASKS_KEY);
  return s;
}

void nt3_sched_set_poller(lua_State *L, const struct nt3_poller *p) {
  struct sched *s = state(L);
  s->has_poller = p != NULL;
  if (p) s->poller = *p;
}

void nt3_watch_init(struct nt3_watch *w) {
  memset(w, 0, sizeof *w);
  w->fds[0] = w->fds[1] = -1;
  w->waiter = w->token = LUA_NOREF;
}

void nt3_sched_watch(lua_State *L, struct nt3_watch *w) {
  struct sched *s = state(L);
  if (w->listed) return;
  w->prev = NULL;
  w->next = s->watches;
  if (s->watches) s->watches->prev = w;
  s->watches = w;
  w->listed = 1;
}

static void unlist(struct sched *s, struct nt3_watch *w) {
  if (!w->listed) return;
  if (w->prev) w->prev->next = w->next;
  else s->watches = w->next;
  if (w->next) w->next->prev = w->prev;
  w->prev = w->next = NULL;
  w->listed = 0;
}

void nt3_sched_unwatch(lua_State *L, struct nt3_watch *w) {
  unlist(state(L), w);
  luaL_unref(L, LUA_REGISTRYINDEX, w->waiter);
  luaL_unref(L, LUA_REGISTRYINDEX, w->token);
  w->waiter = w->token = LUA_NOREF;
}

void nt3_sched_wake(lua_State *L, int *waiter, int *token) {
  if (*waiter == LUA_NOREF) return;
  luaL_checkstack(L, 3, NULL);
  lua_getfield(L, LUA_REGISTRYINDEX, WOKEN_KEY);
  lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, *waiter);
  lua_rawseti(L, -2, n + 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, *token);
  lua_rawseti(L, -2, n + 2);
  lua_pop(L, 1);
  luaL_unref(L, LUA_REGISTRYINDEX, *waiter);
  luaL_unref(L, LUA_REGISTRYINDEX, *token);
  *waiter = *token = LUA_NOREF;
}

int nt3_sched_task(lua_State *L) {
  if (!lua_isyieldable(L)) return 0;
  if (lua_getfield(L, LUA_REGISTRYINDEX, TASKS_KEY) != LUA_TTABLE) {
    lua_pop(L, 1);
    return 0;
  }
  lua_pushthread(L);
  if (lua_rawget(L, -2) == LUA_TNIL) {
    lua_pop(L, 2);
    return 0;
  }
  lua_remove(L, -2);
  return 1;
}

static int woken_any(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, WOKEN_KEY);
  int any = lua_rawlen(L, -1) > 0;
  lua_pop(L, 1);
  return any;
}

static int to_ms(double seconds) {
  if (seconds <= 0) return 0;
  double ms = ceil(seconds * 1000.0);
  return ms < 1 ? 1 : ms > 1e9 ? 1000000000 : (int)ms;
}

/* Steps every watch after a poll; a done one is taken out and wakes its
 * task. */
static void step_watches(lua_State *L, struct sched *s) {
  double now = nt3_monotonic();
  for (struct nt3_watch *w = s->watches, *next; w; w = next) {
    next = w->next;
    if (!w->done) w->step(w, now);
    if (w->done) {
      unlist(s, w);
      nt3_sched_wake(L, &w->waiter, &w->token);
    }
  }
}

void nt3_sched_wait(lua_State *L, double timeout, int (*until)(lua_State *L, void *arg), void *arg) {
  struct sched *s = state(L);
  double deadline = timeout >= 0 ? nt3_monotonic() + timeout : HUGE_VAL;
  struct pollfd small[16], *fds = small;
  size_t cap = sizeof small / sizeof small[0];
  for (;;) {
    if (s->has_poller) s->poller.drive(L, s->poller.ud);
    if (until ? until(L, arg) : woken_any(L)) break;
    if (nt3_interrupt_pending()) break; /* Ctrl-C: Lua raises "interrupted" once back */
    double now = nt3_monotonic();
    if (now >= deadline) break;
    int busy = s->has_poller && s->poller.busy(s->poller.ud);
    if (!until && timeout < 0 && !busy && !s->watches) break; /* nothing will ever wake a task */
    double wait = deadline - now;
    double due = s->has_poller ? s->poller.due(s->poller.ud) : 0;
    if (due > 0 && due - now < wait) wait = due - now;
    size_t n = 0, want = 0;
    for (struct nt3_watch *w = s->watches; w; w = w->next) {
      if (w->due > 0 && w->due - now < wait) wait = w->due - now;
      want += 2;
    }
    if (want > cap) {
      struct pollfd *bigger = realloc(fds == small ? NULL : fds, want * sizeof *fds);
      if (bigger) {
        fds = bigger;
        cap = want;
      }
    }
    for (struct nt3_watch *w = s->watches; w; w = w->next)
      for (int i = 0; i < 2; i++) {
        w->revents[i] = 0;
        if (w->fds[i] >= 0 && n < cap) fds[n++] = (struct pollfd){.fd = w->fds[i], .events = w->events[i] ? w->events[i] : POLLIN};
      }
    /* a second at most, so that nothing waits long on a wake it missed */
    int ms = to_ms(wait > 1.0 ? 1.0 : wait);
    if (s->has_poller) s->poller.poll(s->poller.ud, fds, (unsigned)n, ms);
    else if (n > 0) poll(fds, (nfds_t)n, ms);
    else nt3_sleep(ms / 1000.0);
    size_t k = 0;
    for (struct nt3_watch *w = s->watches; w; w = w->next)
      for (int i = 0; i < 2; i++)
        if (w->fds[i] >= 0 && k < n) w->revents[i] = fds[k++].revents;
    step_watches(L, s);
  }
  if (fds != small) free(fds);
}

/* --- timers: task.sleep ------------------------------------------------------ */

static void timer_step(struct nt3_watch *w, double now) {
  if (now >= w->due) w->done = 1;
}

static int timer_gc(lua_State *L) {
  nt3_sched_unwatch(L, luaL_checkudata(L, 1, TIMER_MT));
  return 0;
}

static int sleep_done(lua_State *L, int status, lua_KContext slot) {
  (void)status;
  struct nt3_watch *w = luaL_checkudata(L, (int)slot, TIMER_MT);
  nt3_sched_unwatch(L, w);
  if (lua_gettop(L) >= (int)slot + 2 && lua_touserdata(L, (int)slot + 1) == (void *)&cancel_mark) {
    lua_pushvalue(L, (int)slot + 2);
    return lua_error(L);
  }
  return 0;
}

static int never(lua_State *L, void *arg) {
  (void)L;
  (void)arg;
  return 0;
}

/* sched.sleep(seconds): inside a task, a timer the task yields on; else
 * the one wait, for that long (transfers in flight move meanwhile). */
static int sched_sleep(lua_State *L) {
  double seconds = luaL_checknumber(L, 1);
  lua_settop(L, 1);
  if (!nt3_sched_task(L)) {
    if (seconds > 0) nt3_sched_wait(L, seconds, never, NULL);
    return 0;
  }
  int task = lua_gettop(L);
  struct nt3_watch *w = lua_newuserdatauv(L, sizeof *w, 0);
  nt3_watch_init(w);
  if (luaL_newmetatable(L, TIMER_MT)) {
    lua_pushcfunction(L, timer_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  int slot = lua_gettop(L);
  w->due = nt3_monotonic() + (seconds > 0 ? seconds : 0);
  w->step = timer_step;
  lua_pushvalue(L, task);
  w->waiter = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushvalue(L, slot);
  w->token = luaL_ref(L, LUA_REGISTRYINDEX);
  nt3_sched_watch(L, w);
  lua_pushlightuserdata(L, (void *)&mark);
  lua_pushvalue(L, slot);
  return lua_yieldk(L, 2, (lua_KContext)slot, sleep_done);
}

/* sched.wait(timeout) -> woken, pending: the tasks woken (task, token,
 * task, token ...) once one is, timeout passes (< 0: none) or Ctrl-C;
 * pending says whether anything is left that could wake one. */
static int sched_wait(lua_State *L) {
  double timeout = luaL_optnumber(L, 1, -1);
  struct sched *s = state(L);
  nt3_sched_wait(L, timeout, NULL, NULL);
  lua_getfield(L, LUA_REGISTRYINDEX, WOKEN_KEY);
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, WOKEN_KEY);
  lua_pushboolean(L, s->watches || (s->has_poller && s->poller.busy(s->poller.ud)));
  return 2;
}

/* sched.tasks() -> the table of tasks by coroutine: a coroutine in it is a
 * task, whose requests, processes and sleeps yield. */
static int sched_tasks(lua_State *L) {
  state(L);
  lua_getfield(L, LUA_REGISTRYINDEX, TASKS_KEY);
  return 1;
}

int luaopen_nt3_sched(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"wait", sched_wait},
    {"sleep", sched_sleep},
    {"tasks", sched_tasks},
    {NULL, NULL},
  };
  luaL_newlib(L, fns);
  lua_pushlightuserdata(L, (void *)&mark);
  lua_setfield(L, -2, "MARK");
  lua_pushlightuserdata(L, (void *)&cancel_mark);
  lua_setfield(L, -2, "CANCEL");
  return 1;
}
