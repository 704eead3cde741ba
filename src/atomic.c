/*
 * The atomic file write (src/atomic.h), used by nt3.fs.write and by the
 * request engine's output files, so both follow the same steps.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "atomic.h"
#include "beneath.h"
#include "runtime.h"

/* ".<name>.tmp-<12 hex digits>": the name part is cut so the whole stays
 * within NAME_MAX even for a target whose own name is at the limit. The
 * form is relied on: nt3.config removes what a killed writer left
 * (lua/nt3/config/write.lua), and docs/lua-api.md names it. */
#define TMP_NAME_KEEP 200
#define TMP_ATTEMPTS 16

/* Splits path into its directory (into dir, PATH_MAX bytes) and its last
 * component (into w->name): "a/b" -> "a", "b"; "b" -> "."; "/b" -> "/".
 * 0 or an errno. */
static int split(struct nt3_atomic *w, const char *path, char *dir) {
  if (*path == '\0') return ENOENT;
  const char *slash = strrchr(path, '/');
  const char *name = slash ? slash + 1 : path;
  size_t dl = slash ? (size_t)(slash - path) : 0;
  if (*name == '\0') return EISDIR;
  if (strlen(name) > NAME_MAX) return ENAMETOOLONG;
  if (dl >= PATH_MAX) return ENAMETOOLONG;
  if (!slash) memcpy(dir, ".", 2);
  else if (dl == 0) memcpy(dir, "/", 2);
  else {
    memcpy(dir, path, dl);
    dir[dl] = '\0';
  }
  memcpy(w->name, name, strlen(name) + 1);
  return 0;
}

int nt3_dir_openat(int at, const char *dir, int *can_sync) {
  int fd = openat(at, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  *can_sync = fd >= 0;
  if (fd < 0 && errno == EACCES) fd = openat(at, dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  return fd;
}

int nt3_dir_open(const char *dir, int *can_sync) { return nt3_dir_openat(AT_FDCWD, dir, can_sync); }

int nt3_dir_sync(int dfd, int can_sync) {
  if (can_sync && fsync(dfd) != 0 && errno != EINVAL && errno != EROFS) return errno;
  return 0;
}

/* Unpredictable, so nobody can plant something at the next temp name in
 * advance (O_EXCL|O_NOFOLLOW would refuse it, but the write would fail).
 * The system call itself, not glibc's getrandom(): glibc 2.41 (Debian
 * trixie) answers from the vDSO, where strace, and so the spec that proves
 * the name is random, cannot see it. 0 or an errno. */
static int random_bits(uint64_t *r) {
  for (;;) {
    long n = syscall(SYS_getrandom, r, sizeof *r, 0);
    if (n == (long)sizeof *r) return 0;
    if (n < 0 && errno != EINTR) return errno;
  }
}

/* Creates the temp file beside the target, its name into w->tmp. Only the
 * owner bits of the mode are granted at creation: nothing is readable by
 * group or others before the content is complete, whatever the umask. */
static int create_temp(struct nt3_atomic *w) {
  for (int attempt = 0; attempt < TMP_ATTEMPTS; attempt++) {
    uint64_t r;
    int e = random_bits(&r);
    if (e) return e;
    snprintf(w->tmp, sizeof w->tmp, ".%.*s.tmp-%012llx", TMP_NAME_KEEP, w->name,
             (unsigned long long)(r & 0xffffffffffffULL));
    w->fd = openat(w->dfd, w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, w->mode & 0700);
    if (w->fd >= 0) return 0;
    if (errno != EEXIST) return errno;
  }
  return EEXIST;
}

/* 0 when the target is absent or a regular file (its stat into st, which
 * is left zero when absent); NT3_ATOMIC_NOT_REGULAR; or an errno. */
static int check_target(const struct nt3_atomic *w, struct stat *st) {
  memset(st, 0, sizeof *st);
  if (fstatat(w->dfd, w->name, st, AT_SYMLINK_NOFOLLOW) != 0) return errno == ENOENT ? 0 : errno;
  return S_ISREG(st->st_mode) ? 0 : NT3_ATOMIC_NOT_REGULAR;
}

static int is_through(mode_t m) { return S_ISCHR(m) || S_ISFIFO(m); }

/* Opens the device or FIFO named w->name for writing (a FIFO waits for a
 * reader, as for any writer): 0 with w->fd the target, or with *regular
 * set when a regular file was found there instead (then nothing is open);
 * NT3_ATOMIC_NOT_REGULAR; or an errno. */
static int open_through(struct nt3_atomic *w, int *regular) {
  *regular = 0;
  w->fd = openat(w->dfd, w->name, O_WRONLY | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC);
  if (w->fd < 0) return errno == ELOOP ? NT3_ATOMIC_NOT_REGULAR : errno;
  struct stat st;
  int e = fstat(w->fd, &st) == 0 ? 0 : errno;
  if (!e && is_through(st.st_mode)) return 0;
  close(w->fd);
  w->fd = -1;
  if (e) return e;
  *regular = S_ISREG(st.st_mode);
  return *regular ? 0 : NT3_ATOMIC_NOT_REGULAR;
}

static mode_t umasked(mode_t mode) {
  /* the only way to read the umask is to set it; nt3 creates no files
   * on other threads meanwhile */
  mode_t u = umask(077);
  umask(u);
  return mode & ~u;
}

/* Chooses the mode, then opens the device or creates the temp file. */
static int begin(struct nt3_atomic *w, mode_t mode, int flags) {
  struct stat st;
  int e = check_target(w, &st);
  if (e == NT3_ATOMIC_NOT_REGULAR && (flags & NT3_ATOMIC_THROUGH) && is_through(st.st_mode)) {
    int regular;
    e = open_through(w, &regular);
    if (e) return e;
    if (!regular) {
      w->through = 1;
      return 0;
    }
    e = check_target(w, &st); /* a regular file now: replace it */
  }
  if (e) return e;
  if (flags & NT3_ATOMIC_UMASK) mode = umasked(mode);
  w->mode = (flags & NT3_ATOMIC_KEEP_MODE) && S_ISREG(st.st_mode) ? st.st_mode & 0777 : mode;
  return create_temp(w);
}

/* The start shared by both opens: dir names the directory relative to at. */
static int open_in(struct nt3_atomic *w, int at, const char *dir, mode_t mode, int flags) {
  w->dfd = nt3_dir_openat(at, dir, &w->can_sync);
  if (w->dfd < 0) return errno;
  int e = begin(w, mode, flags);
  if (e) {
    close(w->dfd);
    w->dfd = -1;
    return e;
  }
  w->active = 1;
  w->no_sync = (flags & NT3_ATOMIC_NO_SYNC) != 0;
  return 0;
}

static void clear(struct nt3_atomic *w) {
  memset(w, 0, sizeof *w);
  w->fd = w->dfd = -1;
}

int nt3_atomic_open(struct nt3_atomic *w, const char *path, mode_t mode, int flags) {
  clear(w);
  char dir[PATH_MAX];
  int e = split(w, path, dir);
  return e ? e : open_in(w, AT_FDCWD, dir, mode, flags);
}

int nt3_atomic_openat(struct nt3_atomic *w, int dirfd, const char *name, mode_t mode, int flags) {
  clear(w);
  size_t len = strlen(name);
  if (len == 0 || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) return EINVAL;
  if (len > NAME_MAX) return ENAMETOOLONG;
  memcpy(w->name, name, len + 1);
  /* a descriptor of its own, readable for the fsync, of the very directory
   * dirfd is (an O_PATH one cannot be fsynced) */
  return open_in(w, dirfd, ".", mode, flags);
}

int nt3_atomic_open_beneath(struct nt3_atomic *w, int rootfd, const char *rel, mode_t mode, int flags, int how) {
  clear(w);
  char name[NAME_MAX + 1];
  int dfd = nt3_parent_beneath(rootfd, rel, name, (enum nt3_beneath_how)how);
  if (dfd < 0) return -dfd;
  int e = nt3_atomic_openat(w, dfd, name, mode, flags);
  close(dfd);
  return e;
}

int nt3_atomic_write(struct nt3_atomic *w, const char *data, size_t len) {
  return w->active ? nt3_write_all(w->fd, data, len) : EBADF;
}

/* The temp file is complete, has its final mode and is on disk before the
 * rename makes it the target. */
static int put_in_place(struct nt3_atomic *w) {
  int e = fchmod(w->fd, w->mode) == 0 ? 0 : errno;
  if (!e && !w->no_sync && fsync(w->fd) != 0) e = errno;
  /* on Linux the descriptor is gone even when close says EINTR */
  if (close(w->fd) != 0 && !e && errno != EINTR) e = errno;
  w->fd = -1;
  /* the target may have been swapped for a link while we wrote */
  struct stat st;
  if (!e) e = check_target(w, &st);
  if (!e && renameat(w->dfd, w->tmp, w->dfd, w->name) != 0) e = errno;
  if (e) unlinkat(w->dfd, w->tmp, 0);
  else if (!w->no_sync) e = nt3_dir_sync(w->dfd, w->can_sync);
  return e;
}

int nt3_atomic_commit(struct nt3_atomic *w) {
  if (!w->active) return EBADF;
  int e;
  if (w->through) {
    e = close(w->fd) == 0 || errno == EINTR ? 0 : errno;
    w->fd = -1;
  } else {
    e = put_in_place(w);
  }
  close(w->dfd);
  w->dfd = -1;
  w->active = 0;
  return e;
}

void nt3_atomic_abort(struct nt3_atomic *w) {
  if (!w->active) return;
  close(w->fd);
  if (!w->through) unlinkat(w->dfd, w->tmp, 0);
  close(w->dfd);
  w->fd = w->dfd = -1;
  w->active = 0;
}

int nt3_atomic_file(const char *path, const char *data, size_t len, mode_t mode, int flags) {
  struct nt3_atomic w;
  int e = nt3_atomic_open(&w, path, mode, flags);
  if (e) return e;
  e = nt3_atomic_write(&w, data, len);
  if (e) {
    nt3_atomic_abort(&w);
    return e;
  }
  return nt3_atomic_commit(&w);
}
