/*
 * Retries (docs/architecture.md, "Rate limits" and "The request engine"):
 * which requests may be sent again (idempotent ones, or those with an
 * Idempotency-Key), after which failures and answers, how long to wait
 * (backoff with jitter, or what Retry-After asks), and the pause that a
 * 429 puts on every transfer bound for its origin.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "policy.h"

/* Backoff between retries: 0.5 s, 1 s, 2 s ... at most 8 s, with jitter. */
#define BACKOFF_BASE 0.5
#define BACKOFF_CAP 8.0

void nt3_http_retries_init(struct retries *r) {
  r->pauses = NULL;
  r->npauses = 0;
  r->rng = (unsigned long long)(nt3_monotonic() * 1e9) ^ ((unsigned long long)getpid() << 32) ^ 0x9e3779b97f4a7c15ULL;
  if (!r->rng) r->rng = 1;
}

void nt3_http_retries_free(struct retries *r) {
  for (size_t i = 0; i < r->npauses; i++) free(r->pauses[i].origin);
  free(r->pauses);
  r->pauses = NULL;
  r->npauses = 0;
}

int nt3_http_is_idempotent(const struct transfer *t) {
  static const char *const safe[] = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE", NULL};
  for (int i = 0; safe[i]; i++)
    if (strcmp(t->method, safe[i]) == 0) return 1;
  /* POST and PATCH only when the caller made repeating them harmless */
  return t->req.has_idempotency_key;
}

int nt3_http_may_retry(const struct transfer *t) {
  return t->attempt < t->req.retries && nt3_http_is_idempotent(t) && t->deliver != 1;
}

int nt3_http_retriable_failure(const char *code) {
  return code && (strcmp(code, E_CONNECT) == 0 || strcmp(code, E_NETWORK) == 0 || strcmp(code, E_TIMEOUT) == 0);
}

int nt3_http_retriable_status(long status) {
  return status == 429 || status == 502 || status == 503 || status == 504;
}

static double jitter(struct retries *r) {
  /* xorshift: the jitter only spreads retries apart, it guards nothing */
  r->rng ^= r->rng << 13;
  r->rng ^= r->rng >> 7;
  r->rng ^= r->rng << 17;
  return (double)(r->rng >> 11) / 9007199254740992.0;
}

double nt3_http_backoff(struct retries *r, int attempt) {
  double wait = BACKOFF_BASE * pow(2.0, attempt);
  if (wait > BACKOFF_CAP) wait = BACKOFF_CAP;
  return wait * (0.5 + 0.5 * jitter(r));
}

/* When transfers to an origin may start again after a 429 (0: now). */
double nt3_http_paused_until(const struct retries *r, const char *origin) {
  for (size_t i = 0; origin && i < r->npauses; i++)
    if (strcmp(r->pauses[i].origin, origin) == 0) return r->pauses[i].until;
  return 0;
}

void nt3_http_pause_origin(struct retries *r, const char *origin, double until) {
  if (!origin) return;
  for (size_t i = 0; i < r->npauses; i++)
    if (strcmp(r->pauses[i].origin, origin) == 0) {
      if (until > r->pauses[i].until) r->pauses[i].until = until;
      return;
    }
  struct pause *p = realloc(r->pauses, (r->npauses + 1) * sizeof *p);
  char *o = strdup(origin);
  if (!p || !o) { /* no pause then: only the one transfer waits */
    if (p) r->pauses = p;
    free(o);
    return;
  }
  r->pauses = p;
  r->pauses[r->npauses].origin = o;
  r->pauses[r->npauses].until = until;
  r->npauses++;
}
