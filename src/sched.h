/*
 * The one wait of nt3 (docs/architecture.md, "Waiting"): every task of
 * nt3.task waits here, and so does a request or a process outside a task.
 * Transfers (the HTTP engine, through its poller), process pipes and
 * timers (watches) are waited on together, in one poll; what to resume
 * when one of them is done travels with it (its waiter), and is handed to
 * nt3.task's scheduler as woken. State is per Lua state (the registry).
 */
#ifndef NT3_SCHED_H
#define NT3_SCHED_H

#include <poll.h>

#include <lua.h>

/* The HTTP engine, once made: moves its transfers, says when it next has
 * something due (0: nothing), and polls its sockets with extra fds. */
struct nt3_poller {
  void *ud;
  void (*drive)(lua_State *L, void *ud);
  double (*due)(void *ud);
  int (*busy)(void *ud);
  void (*poll)(void *ud, struct pollfd *fds, unsigned n, int ms);
};

/* Sets (or, with NULL, clears) the poller of L's state. */
void nt3_sched_set_poller(lua_State *L, const struct nt3_poller *p);

/* A process, a socket or a timer: up to two descriptors to read (or to
 * write, per events), and a time to be
 * looked at again (0: none). `step` is called after every poll, with the
 * revents of each fd, and sets `done` once it is; a done watch wakes its
 * waiter and is taken out. */
struct nt3_watch {
  struct nt3_watch *prev, *next;
  int fds[2];
  short events[2];  /* what to wait for on each fd; 0: POLLIN */
  short revents[2];
  double due;
  int done, listed;
  int waiter; /* registry reference to the task to wake, or LUA_NOREF */
  int token;  /* registry reference to what it waits on, or LUA_NOREF */
  void (*step)(struct nt3_watch *w, double now);
};

void nt3_watch_init(struct nt3_watch *w);
void nt3_sched_watch(lua_State *L, struct nt3_watch *w);
/* Takes w out (idempotent) and lets go of its waiter. */
void nt3_sched_unwatch(lua_State *L, struct nt3_watch *w);

/* Waits, driving every transfer and watch, until until(L, arg) holds
 * (until NULL: until a task was woken), `timeout` seconds pass (< 0: no
 * limit) or Ctrl-C. With until NULL and no limit, it also returns once
 * nothing is left that could wake a task. */
void nt3_sched_wait(lua_State *L, double timeout, int (*until)(lua_State *L, void *arg), void *arg);

/* The running coroutine's task, if it is a task of nt3.task at a point
 * where it may yield: pushes it and returns 1; else pushes nothing, 0. */
int nt3_sched_task(lua_State *L);

/* Queues the task *waiter (a registry reference, released) to be resumed,
 * with *token, what it waited on (released too). */
void nt3_sched_wake(lua_State *L, int *waiter, int *token);

/* What a C wait yields (then its token), and what the scheduler resumes it
 * with to cancel it (then the error to raise). */
void *nt3_sched_mark(void);
void *nt3_sched_cancel_mark(void);

/* Sleeps s seconds (less if a signal comes): the one sleep of nt3. */
void nt3_sleep(double s);

/* nt3.sched, private to nt3.task. */
int luaopen_nt3_sched(lua_State *L);

#endif
