/*
 * nt3.fs: the file operations a credential store needs, done safely.
 * Failures of the world return nil, message, errno (as io.open does);
 * wrong argument types raise.
 *
 * Resources (descriptors, directory streams) are either owned by a userdata
 * created before they are acquired, or released before the next call into
 * Lua that could raise, so a memory error never leaks one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>

#include "atomic.h"
#include "beneath.h"
#include "policy.h"
#include "runtime.h"
#include "sha256.h"
#include "sched.h"

#define READ_CAP_DEFAULT (1024 * 1024)
#define FILE_MODE_DEFAULT 0600
#define DIR_MODE_DEFAULT 0700
#define LOCK_TIMEOUT_DEFAULT 10.0
#define LOCK_TIMEOUT_MAX 1e9
#define LOCK_PAUSE_MIN_NS 1000000L  /* 1 ms */
#define LOCK_PAUSE_MAX_NS 10000000L /* 10 ms: a waiter notices a release quickly, at little cost */

/* lock_open's answer when the path is not a file it can lock */
#define NOT_REGULAR (-1)

#define FD_BOX "nt3.fs.fd"
#define DIR_BOX "nt3.fs.dirlist"
#define LOCK_TYPE "nt3.fs.lock"

/* --- results and arguments ------------------------------------------------ */

/* nil, "<path>: <strerror(e)>", e */
static int fail(lua_State *L, const char *path, int e) {
  errno = e;
  return luaL_fileresult(L, 0, path);
}

/* nil, "<path>: <why>", e: for refusals that strerror has no words for */
static int refuse(lua_State *L, const char *path, const char *why, int e) {
  lua_pushnil(L);
  lua_pushfstring(L, "%s: %s", path, why);
  lua_pushinteger(L, e);
  return 3;
}

static int ok(lua_State *L) {
  lua_pushboolean(L, 1);
  return 1;
}

/* A path with a zero byte in it would silently name a different file to
 * the system call than the one the caller sees. */
static const char *check_path(lua_State *L, int arg) {
  size_t len;
  const char *p = luaL_checklstring(L, arg, &len);
  luaL_argcheck(L, strlen(p) == len, arg, "path contains a zero byte");
  return p;
}

/* Modes are integers (tonumber("600", 8)); a string such as "600" would
 * convert as decimal and give a mode nobody meant, so it is refused. */
static mode_t check_mode(lua_State *L, int arg, int optional, mode_t def) {
  if (optional && lua_isnoneornil(L, arg)) return def;
  luaL_argexpected(L, lua_type(L, arg) == LUA_TNUMBER, arg, "integer mode");
  lua_Integer m = luaL_checkinteger(L, arg);
  luaL_argcheck(L, m >= 0 && m <= 07777, arg, "mode must be between 0 and 07777 (octal)");
  return (mode_t)m;
}

/* --- owning userdata -------------------------------------------------------- */

struct fdbox {
  int fd;
};

static int fdbox_close(lua_State *L) {
  struct fdbox *b = luaL_checkudata(L, 1, FD_BOX);
  if (b->fd >= 0) close(b->fd);
  b->fd = -1;
  return 0;
}

/* an empty descriptor owner, closed when the calling C function returns */
static struct fdbox *new_fdbox(lua_State *L) {
  struct fdbox *b = lua_newuserdatauv(L, sizeof *b, 0);
  b->fd = -1;
  luaL_setmetatable(L, FD_BOX);
  lua_toclose(L, -1);
  return b;
}

struct dirlist {
  DIR *dir;
  char **names;
  size_t n, cap;
};

static void dirlist_free(struct dirlist *l) {
  if (l->dir) closedir(l->dir);
  l->dir = NULL;
  while (l->n > 0) free(l->names[--l->n]);
  free(l->names);
  l->names = NULL;
  l->cap = 0;
}

static int dirlist_close(lua_State *L) {
  dirlist_free(luaL_checkudata(L, 1, DIR_BOX));
  return 0;
}

/* --- stat ------------------------------------------------------------------------ */

static const char *type_name(mode_t m) {
  if (S_ISREG(m)) return "file";
  if (S_ISDIR(m)) return "directory";
  if (S_ISLNK(m)) return "link";
  if (S_ISFIFO(m)) return "fifo";
  if (S_ISSOCK(m)) return "socket";
  if (S_ISCHR(m)) return "char";
  if (S_ISBLK(m)) return "block";
  return "other";
}

static void set_int(lua_State *L, const char *key, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, key);
}

static void push_stat(lua_State *L, const struct stat *st) {
  lua_createtable(L, 0, 10);
  lua_pushstring(L, type_name(st->st_mode));
  lua_setfield(L, -2, "type");
  set_int(L, "mode", st->st_mode & 07777);
  set_int(L, "uid", (lua_Integer)st->st_uid);
  set_int(L, "gid", (lua_Integer)st->st_gid);
  set_int(L, "size", (lua_Integer)st->st_size);
  set_int(L, "mtime", (lua_Integer)st->st_mtime);
  /* the nanoseconds too: a file rewritten within the second is told apart */
  set_int(L, "mtime_ns", (lua_Integer)st->st_mtim.tv_nsec);
  set_int(L, "nlink", (lua_Integer)st->st_nlink);
  /* dev and ino tell a replaced file from one rewritten in place */
  set_int(L, "dev", (lua_Integer)st->st_dev);
  set_int(L, "ino", (lua_Integer)st->st_ino);
}

/* fs.stat(path) -> {type, mode, uid, gid, size, mtime, mtime_ns, nlink, dev, ino} | nil, msg, errno */
static int fs_stat(lua_State *L) {
  const char *path = check_path(L, 1);
  struct stat st;
  if (stat(path, &st) != 0) return luaL_fileresult(L, 0, path);
  push_stat(L, &st);
  return 1;
}

/* fs.lstat(path): as stat, but a symbolic link is reported as type "link" */
static int fs_lstat(lua_State *L) {
  const char *path = check_path(L, 1);
  struct stat st;
  if (lstat(path, &st) != 0) return luaL_fileresult(L, 0, path);
  push_stat(L, &st);
  return 1;
}

/* --- read ------------------------------------------------------------------------ */

static int too_large(lua_State *L, const char *path, lua_Integer cap) {
  lua_pushnil(L);
  lua_pushfstring(L, "%s: file too large (more than %I bytes)", path, cap);
  lua_pushinteger(L, EFBIG);
  return 3;
}

/* Pushes the content of the regular file open in box (st its fstat),
 * read to its end and closed, or nil, msg, errno. */
static int read_rest(lua_State *L, struct fdbox *box, const char *path, const struct stat *st,
                     lua_Integer cap) {
  if (st->st_size > cap) return too_large(L, path, cap);

  /* st_size is a hint only (procfs says 0; a file may grow): the cap is
   * enforced on what is actually read */
  size_t chunk = (size_t)st->st_size + 1;
  /* A small file (a cache entry, a config file) is read on the stack and
   * pushed as one string: a luaL_Buffer of a chunk's size is a userdata
   * and a malloc'd block more, then a copy, for each read. What does not
   * fit (the file grew) goes on into the buffer. */
  char small[16384];
  size_t got = 0;
  if ((size_t)st->st_size < sizeof small) {
    for (;;) {
      ssize_t n = read(box->fd, small + got, sizeof small - got);
      if (n < 0) {
        if (errno == EINTR) continue;
        return luaL_fileresult(L, 0, path);
      }
      if (n == 0) {
        close(box->fd);
        box->fd = -1;
        lua_pushlstring(L, small, got);
        return 1;
      }
      got += (size_t)n;
      if ((lua_Integer)got > cap) return too_large(L, path, cap);
      if (got == sizeof small) break;
    }
  }
  if (chunk < 4096) chunk = 4096;
  if (chunk > 65536) chunk = 65536;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addlstring(&b, small, got);
  lua_Integer total = (lua_Integer)got;
  for (;;) {
    char *p = luaL_prepbuffsize(&b, chunk);
    ssize_t n = read(box->fd, p, chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      return luaL_fileresult(L, 0, path);
    }
    if (n == 0) break;
    total += n;
    if (total > cap) return too_large(L, path, cap);
    luaL_addsize(&b, (size_t)n);
  }
  close(box->fd);
  box->fd = -1;
  luaL_pushresult(&b);
  return 1;
}

/* Opens the regular file at path for reading into a new fdbox (pushed),
 * its fstat into st: 0, or the number of results pushed after it: nil,
 * msg, errno. The one open of fs.read and fs.sha256. */
static int open_regular(lua_State *L, const char *path, struct fdbox **box, struct stat *st) {
  /* refuse devices before opening them: opening one can have effects */
  if (stat(path, st) != 0) return luaL_fileresult(L, 0, path);
  if (!S_ISREG(st->st_mode)) return refuse(L, path, "not a regular file", EINVAL);

  *box = new_fdbox(L);
  /* O_NONBLOCK: should a FIFO be swapped in, the open must not hang */
  (*box)->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if ((*box)->fd < 0) return luaL_fileresult(L, 0, path);
  if (fstat((*box)->fd, st) != 0) return luaL_fileresult(L, 0, path);
  if (!S_ISREG(st->st_mode)) return refuse(L, path, "not a regular file", EINVAL);
  return 0;
}

/* fs.read(path [, max_bytes]) -> content | nil, msg, errno
 * Only regular files; more than max_bytes (default 1 MiB) is an error, so a
 * huge or endless file cannot exhaust memory. */
static int fs_read(lua_State *L) {
  const char *path = check_path(L, 1);
  lua_Integer cap = luaL_optinteger(L, 2, READ_CAP_DEFAULT);
  luaL_argcheck(L, cap >= 0, 2, "size cap must not be negative");
  struct fdbox *box = NULL;
  struct stat st;
  int n = open_regular(L, path, &box, &st);
  return n ? n : read_rest(L, box, path, &st, cap);
}

/* --- sha256 ------------------------------------------------------------------------ */

static void push_hex(lua_State *L, const unsigned char digest[NT3_SHA256_SIZE]) {
  char hex[NT3_SHA256_HEX_SIZE];
  nt3_sha256_hex(digest, hex);
  lua_pushlstring(L, hex, NT3_SHA256_HEX_SIZE - 1);
}

/* Pushes the hex digest of what is left to read in box, or nil, msg, errno */
static int push_sha256(lua_State *L, const struct fdbox *box, const char *path) {
  unsigned char digest[NT3_SHA256_SIZE];
  int e = nt3_sha256_fd(box->fd, digest);
  if (e) return fail(L, path, e);
  push_hex(L, digest);
  return 1;
}

/* fs.sha256(path) -> 64 hex digits | nil, msg, errno
 * The file is opened as fs.read opens it and streamed: no size cap. */
static int fs_sha256(lua_State *L) {
  const char *path = check_path(L, 1);
  struct fdbox *box = NULL;
  struct stat st;
  int n = open_regular(L, path, &box, &st);
  if (n) return n;
  return push_sha256(L, box, path);
}

/* fs.sha256_text(data) -> 64 hex digits: of any bytes, a tree listing say */
static int fs_sha256_text(lua_State *L) {
  size_t len;
  const char *data = luaL_checklstring(L, 1, &len);
  struct nt3_sha256 c;
  unsigned char digest[NT3_SHA256_SIZE];
  nt3_sha256_init(&c);
  nt3_sha256_update(&c, data, len);
  nt3_sha256_final(&c, digest);
  push_hex(L, digest);
  return 1;
}

/* --- trusted code ----------------------------------------------------------- */

/* Code is run only from directories and files that nobody but the user (or
 * root) could have put there. Every directory on the way is opened from its
 * parent's descriptor without following links and checked on that open
 * descriptor, and the file is read from the very descriptor that was
 * checked: a rename anywhere on the path between the check and the read
 * swaps in nothing (a path checked, then opened again, would load whatever
 * is there by then). */

#define TRUST_DIR_FLAGS (O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

/* The length of the part of real from which directories are checked: that
 * of the home directory when real is inside it (what is above a home
 * directory is the system's business, as for OpenSSH's secure_path), else
 * 0: every directory from / down. */
static size_t trust_from(const char *real) {
  char home[PATH_MAX];
  const char *h = nt3_home_dir();
  if (!h || !realpath(h, home)) return 0;
  size_t n = strlen(home);
  if (n <= 1 || strncmp(real, home, n) != 0 || (real[n] != '/' && real[n] != '\0')) return 0;
  return n;
}

/* nil, "<real[0..n)><why>", e */
static int untrusted(lua_State *L, const char *real, size_t n, const char *why, int e) {
  lua_pushnil(L);
  lua_pushlstring(L, real, n);
  lua_pushstring(L, why);
  lua_concat(L, 2);
  lua_pushinteger(L, e);
  return 3;
}

static int wrong_type(lua_State *L, const char *real, size_t n, int want_dir) {
  if (want_dir) return untrusted(L, real, n, " is not a directory", ENOTDIR);
  return untrusted(L, real, n, " is not a regular file", EINVAL);
}

/* 0 when what st describes, named real[0..n), is owned by the user or root
 * and not writable by group or others; else pushes nil, message, EPERM and
 * returns 3. Others may add entries to a sticky directory (/tmp) but not
 * rename or remove ours, so one is fine above the code's own directory. */
static int check_trust(lua_State *L, const char *real, size_t n, const struct stat *st,
                       int sticky_ok) {
  char why[PATH_MAX + 96];
  if (st->st_uid != geteuid() && st->st_uid != 0) {
    snprintf(why, sizeof why, " is owned by another user (uid %lu)", (unsigned long)st->st_uid);
    return untrusted(L, real, n, why, EPERM);
  }
  if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(sticky_ok && (st->st_mode & S_ISVTX))) {
    snprintf(why, sizeof why, " is writable by group or others (mode %03o); fix: chmod go-w %.*s",
             (unsigned)(st->st_mode & 07777), (int)n, real);
    return untrusted(L, real, n, why, EPERM);
  }
  return 0;
}

/* Resolves the links in the directory part of path (realpath), so a home
 * reached through a link still works; what is checked is then the
 * directories actually walked. A file's own name is never followed. Into
 * real (PATH_MAX bytes): 0, or errno. */
static int resolve(const char *path, int want_dir, char *real) {
  if (want_dir) return realpath(path, real) ? 0 : errno;
  const char *slash = strrchr(path, '/');
  const char *name = slash ? slash + 1 : path;
  char dir[PATH_MAX];
  size_t dl = slash ? (size_t)(slash - path) : 0;
  if (dl >= sizeof dir) return ENAMETOOLONG;
  if (!slash) memcpy(dir, ".", 2);
  else if (dl == 0) memcpy(dir, "/", 2);
  else {
    memcpy(dir, path, dl);
    dir[dl] = '\0';
  }
  if (!realpath(dir, real)) return errno;
  size_t rl = strlen(real);
  if (*name == '\0') return EISDIR;
  if (rl + 1 + strlen(name) >= PATH_MAX) return ENAMETOOLONG;
  snprintf(real + rl, PATH_MAX - rl, "%s%s", rl > 1 ? "/" : "", name);
  return 0;
}

/* The number of components of an absolute canonical path: "/" 0, "/a/b" 2 */
static int depth_of(const char *real) {
  int n = 0;
  for (const char *p = real; *p; p++)
    if (*p == '/' && p[1] != '\0') n++;
  return n;
}

/* Opens path, a directory (O_PATH) or a regular file (for reading, or
 * O_PATH when check_only), into box->fd, its fstat into st, after checking
 * it and each directory above it up to the home directory or /. 0, or the
 * number of results pushed: nil, message, errno. */
static int open_trusted(lua_State *L, const char *path, int want_dir, int check_only,
                        struct fdbox *box, struct stat *st) {
  char real[PATH_MAX];
  int e = resolve(path, want_dir, real);
  if (e) return fail(L, path, e);
  size_t from = trust_from(real);
  int below = depth_of(real);
  /* the code's own directory (or the directory asked about) is never sticky */
  int strict = want_dir ? 0 : 1;
  box->fd = open("/", TRUST_DIR_FLAGS);
  if (box->fd < 0) return luaL_fileresult(L, 0, "/");
  size_t end = 1; /* real[0..end) names the directory in box->fd */
  for (;;) {
    if (fstat(box->fd, st) != 0) return fail(L, path, errno);
    if (!S_ISDIR(st->st_mode)) return wrong_type(L, real, end, 1);
    if (end >= from) {
      int n = check_trust(L, real, end, st, below > strict);
      if (n) return n;
    }
    if (below == 0) return 0;
    const char *comp = real + (end == 1 ? 1 : end + 1);
    const char *slash = strchr(comp, '/');
    size_t next = slash ? (size_t)(slash - real) : strlen(real);
    char name[PATH_MAX];
    memcpy(name, comp, next - (size_t)(comp - real));
    name[next - (size_t)(comp - real)] = '\0';
    below--;
    int fd;
    if (below == 0 && !want_dir) {
      /* refuse a device before opening it: opening one can have effects;
       * O_NONBLOCK, should a FIFO be swapped in, so the open cannot hang */
      if (fstatat(box->fd, name, st, AT_SYMLINK_NOFOLLOW) != 0) return fail(L, path, errno);
      if (!S_ISREG(st->st_mode)) return wrong_type(L, real, next, 0);
      int flags = check_only ? O_PATH : O_RDONLY | O_NOCTTY | O_NONBLOCK;
      fd = openat(box->fd, name, flags | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0 && errno == ELOOP) return wrong_type(L, real, next, 0);
    } else {
      fd = openat(box->fd, name, TRUST_DIR_FLAGS);
      if (fd < 0 && (errno == ELOOP || errno == ENOTDIR)) return wrong_type(L, real, next, 1);
    }
    if (fd < 0) return fail(L, path, errno);
    close(box->fd);
    box->fd = fd;
    end = next;
    if (below == 0 && !want_dir) {
      if (fstat(box->fd, st) != 0) return fail(L, path, errno);
      if (!S_ISREG(st->st_mode)) return wrong_type(L, real, end, 0);
      return check_trust(L, real, end, st, 0);
    }
  }
}

/* fs.trusted(path, kind) -> true | nil, msg, errno
 * Whether code may be loaded from path, kind "file" or "directory": it and
 * every directory above it (up to the home directory, or /) owned by the
 * user or root and not writable by group or others. */
static int fs_trusted(lua_State *L) {
  static const char *const kinds[] = {"file", "directory", NULL};
  const char *path = check_path(L, 1);
  int want_dir = luaL_checkoption(L, 2, NULL, kinds);
  struct fdbox *box = new_fdbox(L);
  struct stat st;
  int n = open_trusted(L, path, want_dir, 1, box, &st);
  return n ? n : ok(L);
}

/* fs.read_trusted(path [, max_bytes]) -> content | nil, msg, errno
 * fs.read of a file fs.trusted accepts, read from the descriptor checked. */
static int fs_read_trusted(lua_State *L) {
  const char *path = check_path(L, 1);
  lua_Integer cap = luaL_optinteger(L, 2, READ_CAP_DEFAULT);
  luaL_argcheck(L, cap >= 0, 2, "size cap must not be negative");
  struct fdbox *box = new_fdbox(L);
  struct stat st;
  int n = open_trusted(L, path, 0, 0, box, &st);
  return n ? n : read_rest(L, box, path, &st, cap);
}

/* --- dir -------------------------------------------------------------------------- */

static int by_string(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* appends a copy of name; 0 when out of memory */
static int dirlist_add(struct dirlist *l, const char *name) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    char **grown = realloc(l->names, cap * sizeof *grown);
    if (!grown) return 0;
    l->names = grown;
    l->cap = cap;
  }
  if (!(l->names[l->n] = strdup(name))) return 0;
  l->n++;
  return 1;
}

/* A new dirlist owner on the stack, closed when the calling C function returns */
static struct dirlist *new_dirlist(lua_State *L) {
  struct dirlist *l = lua_newuserdatauv(L, sizeof *l, 0);
  memset(l, 0, sizeof *l);
  luaL_setmetatable(L, DIR_BOX);
  lua_toclose(L, -1);
  return l;
}

/* Pushes the sorted names (no . and ..) of the directory open in l->dir,
 * or nil, msg, errno; path names it in messages. */
static int push_names(lua_State *L, struct dirlist *l, const char *path) {
  for (;;) {
    errno = 0;
    const struct dirent *e = readdir(l->dir);
    if (!e) {
      if (errno != 0) return luaL_fileresult(L, 0, path);
      break;
    }
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (!dirlist_add(l, e->d_name)) return luaL_error(L, "%s: not enough memory", path);
  }
  closedir(l->dir);
  l->dir = NULL;
  if (l->n > 1) qsort(l->names, l->n, sizeof *l->names, by_string);
  lua_createtable(L, l->n > INT_MAX ? INT_MAX : (int)l->n, 0);
  for (size_t i = 0; i < l->n; i++) {
    lua_pushstring(L, l->names[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

/* fs.dir(path) -> sorted list of entry names (no . and ..) | nil, msg, errno */
static int fs_dir(lua_State *L) {
  const char *path = check_path(L, 1);
  struct dirlist *l = new_dirlist(L);
  if (!(l->dir = opendir(path))) return luaL_fileresult(L, 0, path);
  return push_names(L, l, path);
}

/* --- paths ------------------------------------------------------------------------ */

/* Pushes the directory holding path and its last component:
 * "a/b" -> "a", "b"; "b" -> ".", "b"; "/b" -> "/", "b"; "a/" -> "a", "". */
static void split_path(lua_State *L, const char *path, const char **dir, const char **name) {
  const char *slash = strrchr(path, '/');
  if (!slash)
    lua_pushliteral(L, ".");
  else if (slash == path)
    lua_pushliteral(L, "/");
  else
    lua_pushlstring(L, path, (size_t)(slash - path));
  *dir = lua_tostring(L, -1);
  *name = lua_pushstring(L, slash ? slash + 1 : path);
}

/* --- write ------------------------------------------------------------------------ */

/* true, or nil, msg, errno for what an atomic write of path answered */
static int write_result(lua_State *L, const char *path, int e) {
  if (e == NT3_ATOMIC_NOT_REGULAR)
    return refuse(L, path, "not a regular file; refusing to write through it", EINVAL);
  if (e) return fail(L, path, e);
  return ok(L);
}

/* fs.write(path, data [, mode=0600 [, opts]]) -> true | nil, msg, errno
 * Atomic: readers see the old content or the new, never a mix, even if the
 * process is killed. A symlink or other non-regular file at path is never
 * written through. opts.sync = false skips the fsyncs (the HTTP cache). */
static int fs_write(lua_State *L) {
  const char *path = check_path(L, 1);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  mode_t mode = check_mode(L, 3, 1, FILE_MODE_DEFAULT);
  int flags = 0;
  if (!lua_isnoneornil(L, 4)) {
    luaL_checktype(L, 4, LUA_TTABLE);
    lua_getfield(L, 4, "sync");
    luaL_argexpected(L, lua_isnil(L, -1) || lua_isboolean(L, -1), 4, "boolean sync");
    if (lua_isboolean(L, -1) && !lua_toboolean(L, -1)) flags |= NT3_ATOMIC_NO_SYNC;
    lua_pop(L, 1);
  }
  /* a credential path: nothing but a regular file is ever written, and
   * it always ends up with exactly mode */
  return write_result(L, path, nt3_atomic_file(path, data, len, mode, flags));
}

/* --- remove, mkdir, chmod ---------------------------------------------------- */

/* Unlinks name in the directory dir (relative to at) and syncs that
 * directory, so the removal survives a crash: 0 or errno. */
static int unlink_synced(int at, const char *dir, const char *name) {
  int can_sync;
  int dfd = nt3_dir_openat(at, dir, &can_sync);
  if (dfd < 0) return errno;
  int e = unlinkat(dfd, name, 0) == 0 ? nt3_dir_sync(dfd, can_sync) : errno;
  close(dfd);
  return e;
}

/* fs.remove(path) -> true | nil, msg, errno
 * Unlinks a file (a directory is an error) and syncs its directory, so the
 * removal of a credential survives a crash. */
static int fs_remove(lua_State *L) {
  const char *path = check_path(L, 1);
  if (*path == '\0') return fail(L, path, ENOENT);
  const char *dir, *name;
  split_path(L, path, &dir, &name);
  if (*name == '\0') return fail(L, path, EISDIR);
  int e = unlink_synced(AT_FDCWD, dir, name);
  return e ? fail(L, path, e) : ok(L);
}

/* Gives the directory just made, name in at, its mode; 0 or errno. Never
 * chmod(path): whoever can write to the parent could have swapped the new
 * directory for a symlink since the mkdir, and chmod would then open up
 * whatever it points to (a credential file, say). */
static int chmod_new_dir(int at, const char *name, mode_t mode) {
  int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    /* a umask that took even the owner's read bit: this one checks the
     * type of the very inode it changes (glibc, through /proc) */
    if (errno == EACCES && fchmodat(at, name, mode, AT_SYMLINK_NOFOLLOW) == 0) return 0;
    return errno;
  }
  int e = fchmod(fd, mode) == 0 ? 0 : errno;
  close(fd);
  return e;
}

/* mkdir of name in at with exactly mode; an existing directory is success
 * (through a link only with AT_FDCWD-relative paths: follow). Pushes true
 * or nil, msg, errno, the message naming shown. */
static int mkdir_in(lua_State *L, int at, const char *name, const char *shown, mode_t mode, int follow) {
  if (mkdirat(at, name, mode) == 0) {
    /* the umask only ever narrows mkdir's mode; the caller asked for this one */
    int e = chmod_new_dir(at, name, mode);
    return e ? fail(L, shown, e) : ok(L);
  }
  if (errno == EEXIST) {
    struct stat st;
    if (fstatat(at, name, &st, follow ? 0 : AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) return ok(L);
    return fail(L, shown, EEXIST);
  }
  return fail(L, shown, errno);
}

/* fs.mkdir(path [, mode=0700]) -> true | nil, msg, errno
 * An existing directory (or a link to one) is success, its mode untouched. */
static int fs_mkdir(lua_State *L) {
  const char *path = check_path(L, 1);
  mode_t mode = check_mode(L, 2, 1, DIR_MODE_DEFAULT);
  return mkdir_in(L, AT_FDCWD, path, path, mode, 1);
}

/* fs.rmdir(path) -> true | nil, msg, errno
 * Removes an empty directory (never a link to one) and syncs its parent. */
static int fs_rmdir(lua_State *L) {
  const char *path = check_path(L, 1);
  if (*path == '\0') return fail(L, path, ENOENT);
  const char *dir, *name;
  split_path(L, path, &dir, &name);
  if (*name == '\0') return fail(L, path, EINVAL);
  int can_sync;
  int dfd = nt3_dir_open(dir, &can_sync);
  if (dfd < 0) return luaL_fileresult(L, 0, path);
  int e = unlinkat(dfd, name, AT_REMOVEDIR) == 0 ? nt3_dir_sync(dfd, can_sync) : errno;
  close(dfd);
  return e ? fail(L, path, e) : ok(L);
}

/* renameat2's flags, spelt out: glibc before 2.28 has no wrapper, and the
 * system call is what the kernel offers either way */
#define RENAME_NOREPLACE_FLAG (1 << 0)
#define RENAME_EXCHANGE_FLAG (1 << 1)

/* fs.rename(from, to [, how]) -> true | nil, msg, errno
 * One rename(2), so a reader sees the old entry or the new, never neither.
 * how: nil (replace what is at to, as rename does), "noreplace" (fail with
 * EEXIST when to exists) or "exchange" (swap the two entries in one step:
 * both must exist; a directory tree is switched for another so). The
 * directory of to is synced after, so the switch survives a crash. */
static int fs_rename(lua_State *L) {
  static const char *const hows[] = {"replace", "noreplace", "exchange", NULL};
  const char *from = check_path(L, 1);
  const char *to = check_path(L, 2);
  int how = luaL_checkoption(L, 3, "replace", hows);
  unsigned flags = how == 1 ? RENAME_NOREPLACE_FLAG : how == 2 ? RENAME_EXCHANGE_FLAG : 0;
  const char *dir, *name;
  split_path(L, to, &dir, &name);
  long r = flags ? syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, flags) : rename(from, to);
  if (r != 0) return fail(L, from, errno);
  int can_sync;
  int dfd = nt3_dir_open(dir, &can_sync);
  if (dfd >= 0) {
    nt3_dir_sync(dfd, can_sync);
    close(dfd);
  }
  return ok(L);
}

/* fs.chmod(path, mode) -> true | nil, msg, errno */
static int fs_chmod(lua_State *L) {
  const char *path = check_path(L, 1);
  mode_t mode = check_mode(L, 2, 0, 0);
  if (chmod(path, mode) != 0) return luaL_fileresult(L, 0, path);
  return ok(L);
}

/* fs.touch(path) -> true | nil, msg, errno: the file's access and
 * modification times set to now, in place (its bytes, inode and mode
 * untouched); a symbolic link is touched itself, never what it names */
static int fs_touch(lua_State *L) {
  const char *path = check_path(L, 1);
  if (utimensat(AT_FDCWD, path, NULL, AT_SYMLINK_NOFOLLOW) != 0) return luaL_fileresult(L, 0, path);
  return ok(L);
}

/* --- lock ------------------------------------------------------------------------- */

struct lock {
  int fd;
  int remove; /* a lock file fs.lock created: removed on release */
  dev_t dev;
  ino_t ino;
  char path[]; /* the lock file, when remove may be set */
};

static int names_file(const char *path, dev_t dev, ino_t ino) {
  struct stat st;
  return lstat(path, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

static void lock_release(struct lock *lk) {
  if (lk->fd < 0) return;
  /* removed while still held, and only while path still names the file
   * held: a waiter that then gets the old file sees it is gone */
  if (lk->remove && names_file(lk->path, lk->dev, lk->ino)) unlink(lk->path);
  lk->remove = 0;
  flock(lk->fd, LOCK_UN);
  close(lk->fd);
  lk->fd = -1;
}


/* 0, ETIMEDOUT, or errno. Polls with LOCK_NB instead of blocking in flock,
 * so the wait is bounded without alarms or signal handlers. */
static int acquire(int fd, double timeout) {
  double deadline = nt3_monotonic() + timeout;
  long pause_ns = LOCK_PAUSE_MIN_NS;
  for (;;) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) return 0;
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) return errno;
    double left = deadline - nt3_monotonic();
    if (left <= 0) return ETIMEDOUT;
    double pause = (double)pause_ns / 1e9;
    nt3_sleep(pause < left ? pause : left);
    if (pause_ns < LOCK_PAUSE_MAX_NS) pause_ns *= 2;
  }
}

/* Opens and locks path: 0, NOT_REGULAR, ETIMEDOUT or errno. With create,
 * a missing path is created as an empty file with mode 0600 (never through
 * a link), and the lock counts only if path still names the file locked:
 * the holder before may have removed it, and the next writer would then
 * create and lock another. */
static int lock_open(struct lock *lk, double timeout, int create) {
  double deadline = nt3_monotonic() + timeout;
  for (;;) {
    /* O_NONBLOCK: opening a FIFO must not hang; O_CLOEXEC: a program we
     * start must not inherit (and so prolong) the lock. Without create,
     * symlinks are followed: a lock writes nothing, and a ~/.nt3 kept in
     * a dotfiles repository and linked into place is common. */
    int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    lk->fd = create ? open(lk->path, flags | O_CREAT | O_NOFOLLOW, 0600) : open(lk->path, flags);
    if (lk->fd < 0) return errno;
    struct stat st;
    if (fstat(lk->fd, &st) != 0) return errno;
    if (create ? !S_ISREG(st.st_mode) : !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) return NOT_REGULAR;
    double left = deadline - nt3_monotonic();
    int e = acquire(lk->fd, left > 0 ? left : 0);
    if (e || !create) return e;
    if (names_file(lk->path, st.st_dev, st.st_ino)) {
      lk->remove = 1;
      lk->dev = st.st_dev;
      lk->ino = st.st_ino;
      return 0;
    }
    lock_release(lk);
    if (nt3_monotonic() >= deadline) return ETIMEDOUT;
  }
}

/* fs.lock(path [, timeout_seconds=10 [, create=false]]) -> lock | nil, msg, errno
 * An exclusive advisory lock (flock) on an existing file or directory;
 * nothing is created. With create, path is a lock file of its own:
 * created (mode 0600) when missing and removed again on release. Held
 * until lock:unlock(), the end of a <close> scope, garbage collection or
 * process exit. */
static int fs_lock(lua_State *L) {
  const char *path = check_path(L, 1);
  lua_Number timeout = luaL_optnumber(L, 2, LOCK_TIMEOUT_DEFAULT);
  luaL_argcheck(L, timeout >= 0 && timeout <= LOCK_TIMEOUT_MAX, 2,
                "timeout must be a number of seconds, 0 or more");
  int create = lua_toboolean(L, 3);
  size_t len = strlen(path);
  struct lock *lk = lua_newuserdatauv(L, sizeof *lk + len + 1, 0);
  lk->fd = -1;
  lk->remove = 0;
  memcpy(lk->path, path, len + 1);
  luaL_setmetatable(L, LOCK_TYPE);

  int e = lock_open(lk, timeout, create);
  if (e) {
    lock_release(lk);
    if (e == NOT_REGULAR)
      return refuse(L, path, create ? "not a regular file; cannot lock it" : "not a file or directory; cannot lock it",
                    EINVAL);
    if (e == ETIMEDOUT) return refuse(L, path, "timed out waiting for a lock", ETIMEDOUT);
    return fail(L, path, e);
  }
  return 1;
}

/* lock:unlock() -> true; unlocking again does nothing */
static int lock_unlock(lua_State *L) {
  lock_release(luaL_checkudata(L, 1, LOCK_TYPE));
  return ok(L);
}

/* __gc and __close */
static int lock_gc(lua_State *L) {
  lock_release(luaL_checkudata(L, 1, LOCK_TYPE));
  return 0;
}

static int lock_tostring(lua_State *L) {
  const struct lock *lk = luaL_checkudata(L, 1, LOCK_TYPE);
  lua_pushfstring(L, "nt3.fs.lock (%s)", lk->fd >= 0 ? "held" : "released");
  return 1;
}

/* --- expand ----------------------------------------------------------------------- */

/* fs.expand(path) -> path with a leading ~ or ~/ replaced by the home
 * directory; other paths unchanged | nil, msg */
static int fs_expand(lua_State *L) {
  const char *path = check_path(L, 1);
  if (path[0] != '~') {
    lua_settop(L, 1);
    return 1;
  }
  if (path[1] != '\0' && path[1] != '/') {
    lua_pushnil(L);
    lua_pushfstring(L, "%s: ~user paths are not supported; write the full path", path);
    return 2;
  }
  const char *home = nt3_home_dir();
  if (!home) {
    lua_pushnil(L);
    lua_pushliteral(L, "cannot find the home directory (HOME is not set)");
    return 2;
  }
  /* HOME="/" or "/home/me/" must not give "//x" or "/home/me//x" */
  size_t hl = strlen(home);
  while (hl > 0 && home[hl - 1] == '/') hl--;
  if (path[1] == '\0' && hl == 0) {
    lua_pushliteral(L, "/");
    return 1;
  }
  lua_pushlstring(L, home, hl);
  lua_pushstring(L, path + 1);
  lua_concat(L, 2);
  return 1;
}

/* --- nt3.beneath: the same operations beneath a root ------------------------------ */

/* nt3.beneath is private (src/runtime.h): the primitive of the sandbox's
 * fs capability (src/beneath.h) behind fs's own results, for the sandbox
 * and the extensions to build on and the specs to drive. A root is a
 * userdata owning a descriptor of the directory; every path given to its
 * methods is relative to it and opened by nt3_open_beneath, and each
 * operation acts on the descriptor that open returned. */

#define ROOT_TYPE "nt3.beneath.root"

static void owner_metatable(lua_State *L, const char *name, lua_CFunction release) {
  luaL_newmetatable(L, name);
  lua_pushcfunction(L, release);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, release);
  lua_setfield(L, -2, "__close");
  lua_pop(L, 1);
}

static int root_gc(lua_State *L) {
  struct fdbox *b = luaL_checkudata(L, 1, ROOT_TYPE);
  if (b->fd >= 0) close(b->fd);
  b->fd = -1;
  return 0;
}

static int root_fd(lua_State *L) {
  const struct fdbox *b = luaL_checkudata(L, 1, ROOT_TYPE);
  if (b->fd < 0) luaL_error(L, "the root is closed");
  return b->fd;
}

const char *nt3_beneath_words(int err) {
  switch (err) {
  case EXDEV: return "outside the root";
  case EMLINK: return "has more than one hard link; refusing it";
  case ELOOP: return "a symbolic link that is not followed (a loop, a magic link of /proc, or a link to create through)";
  case EINVAL: return "not a regular file or directory";
  case EPERM: return "the folder's credential file (" NT3_LOCAL_FILE ") or one of nt3's beside it: never opened beneath a root";
  default: return strerror(err);
  }
}

int nt3_beneath_root_fd(lua_State *L, int idx) {
  struct fdbox *b = luaL_testudata(L, idx, ROOT_TYPE);
  return b ? b->fd : -1;
}

/* nil, msg, errno for what nt3_open_beneath answered (-errno): the
 * refusals of its rules in words, the rest as strerror says */
static int beneath_fail(lua_State *L, const char *rel, int r) {
  switch (-r) {
  case EXDEV: case EMLINK: case ELOOP: case EINVAL: case EPERM:
    return refuse(L, rel, nt3_beneath_words(-r), -r);
  default:
    return fail(L, rel, -r);
  }
}

/* Opens rel beneath the root (argument 1) into a new fdbox, its fstat into
 * st: 0 or the number of results pushed (nil, msg, errno). */
static int open_beneath(lua_State *L, const char *rel, int flags, struct fdbox **box, struct stat *st) {
  int root = root_fd(L);
  *box = new_fdbox(L);
  int fd = nt3_open_beneath(root, rel, flags | O_CLOEXEC, 0);
  if (fd < 0) return beneath_fail(L, rel, fd);
  (*box)->fd = fd;
  if (fstat(fd, st) != 0) return fail(L, rel, errno);
  return 0;
}

/* beneath.root(path) -> root | nil, msg, errno: the directory at path
 * (links in path followed: it is what the grant names), held open */
static int beneath_root(lua_State *L) {
  const char *path = check_path(L, 1);
  struct fdbox *b = lua_newuserdatauv(L, sizeof *b, 0);
  b->fd = -1;
  luaL_setmetatable(L, ROOT_TYPE);
  b->fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (b->fd < 0) return luaL_fileresult(L, 0, path);
  return 1;
}

/* beneath.backend() -> "openat2" | "walk" */
static int beneath_backend(lua_State *L) {
  lua_pushstring(L, nt3_beneath_backend());
  return 1;
}

/* root:read(rel [, max_bytes]) -> content | nil, msg, errno: fs.read's cap */
static int root_read(lua_State *L) {
  const char *rel = check_path(L, 2);
  lua_Integer cap = luaL_optinteger(L, 3, READ_CAP_DEFAULT);
  luaL_argcheck(L, cap >= 0, 3, "size cap must not be negative");
  struct fdbox *box = NULL;
  struct stat st;
  int n = open_beneath(L, rel, O_RDONLY, &box, &st);
  return n ? n : read_rest(L, box, rel, &st, cap);
}

/* root:sha256(rel) -> hex | nil, msg, errno: of the descriptor opened */
static int root_sha256(lua_State *L) {
  const char *rel = check_path(L, 2);
  struct fdbox *box = NULL;
  struct stat st;
  int n = open_beneath(L, rel, O_RDONLY, &box, &st);
  if (n) return n;
  if (!S_ISREG(st.st_mode)) return refuse(L, rel, "not a regular file", EINVAL);
  return push_sha256(L, box, rel);
}

/* root:dir(rel) -> sorted names | nil, msg, errno */
static int root_dir(lua_State *L) {
  const char *rel = check_path(L, 2);
  int root = root_fd(L);
  struct dirlist *l = new_dirlist(L);
  int fd = nt3_open_beneath(root, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (fd < 0) return beneath_fail(L, rel, fd);
  if (!(l->dir = fdopendir(fd))) {
    int e = errno;
    close(fd);
    return fail(L, rel, e);
  }
  return push_names(L, l, rel);
}

/* root:write(rel, data [, mode=0600]) -> true | nil, msg, errno: fs.write's
 * atomic write, in the directory resolved beneath the root */
static int root_write(lua_State *L) {
  const char *rel = check_path(L, 2);
  size_t len;
  const char *data = luaL_checklstring(L, 3, &len);
  mode_t mode = check_mode(L, 4, 1, FILE_MODE_DEFAULT);
  int root = root_fd(L);
  struct nt3_atomic w;
  int e = nt3_atomic_open_beneath(&w, root, rel, mode, 0, NT3_BENEATH_AUTO);
  if (e > 0 && (e == EXDEV || e == ELOOP || e == EMLINK || e == EPERM)) return beneath_fail(L, rel, -e);
  if (!e && (e = nt3_atomic_write(&w, data, len)) != 0) nt3_atomic_abort(&w);
  else if (!e) e = nt3_atomic_commit(&w);
  return write_result(L, rel, e);
}

/* open(2) flags from letters: r read, w write, c O_CREAT, x O_EXCL,
 * t O_TRUNC, n O_NOFOLLOW, d O_DIRECTORY, p O_PATH */
static int check_flags(lua_State *L, int arg) {
  const char *s = luaL_checkstring(L, arg);
  int flags = 0, acc = O_RDONLY;
  for (; *s; s++) {
    switch (*s) {
    case 'r': acc = acc == O_WRONLY ? O_RDWR : O_RDONLY; break;
    case 'w': acc = O_WRONLY; break;
    case 'c': flags |= O_CREAT; break;
    case 'x': flags |= O_EXCL; break;
    case 't': flags |= O_TRUNC; break;
    case 'n': flags |= O_NOFOLLOW; break;
    case 'd': flags |= O_DIRECTORY; break;
    case 'p': flags |= O_PATH; break;
    default: luaL_argerror(L, arg, "flags are letters of \"rwcxtndp\"");
    }
  }
  return flags | acc;
}

/* Pushes fs.stat's table of what nt3_open_beneath opens with flags (the
 * descriptor closed again), or nil, msg, errno. */
static int push_opened(lua_State *L, const char *rel, int flags, mode_t mode) {
  int root = root_fd(L);
  struct fdbox *box = new_fdbox(L);
  int fd = nt3_open_beneath(root, rel, flags | O_CLOEXEC, mode);
  if (fd < 0) return beneath_fail(L, rel, fd);
  box->fd = fd;
  struct stat st;
  if (fstat(fd, &st) != 0) return fail(L, rel, errno);
  push_stat(L, &st);
  return 1;
}

/* root:stat(rel) -> info | nil, msg, errno: fs.stat's table, of an O_PATH open */
static int root_stat(lua_State *L) {
  const char *rel = check_path(L, 2);
  return push_opened(L, rel, O_PATH, 0);
}

/* root:opened(rel, flags [, mode=0600]) -> info | nil, msg, errno: what
 * nt3_open_beneath opens with those flags, as root:stat describes it. A
 * file is created with O_CREAT. */
static int root_opened(lua_State *L) {
  const char *rel = check_path(L, 2);
  int flags = check_flags(L, 3);
  mode_t mode = check_mode(L, 4, 1, FILE_MODE_DEFAULT);
  return push_opened(L, rel, flags, mode);
}

/* Resolves rel's directory beneath the root (argument 1) into a new fdbox
 * and its last component, a plain name, into name: 0 or the number of
 * results pushed (nil, msg, errno). */
static int parent_beneath(lua_State *L, const char *rel, struct fdbox **box, char name[NAME_MAX + 1]) {
  int root = root_fd(L);
  *box = new_fdbox(L);
  int fd = nt3_parent_beneath(root, rel, name, NT3_BENEATH_AUTO);
  if (fd < 0) return beneath_fail(L, rel, fd);
  (*box)->fd = fd;
  return 0;
}

/* root:mkdir(rel [, mode=0700]) -> true | nil, msg, errno: fs.mkdir, but a
 * link at rel is not an existing directory */
static int root_mkdir(lua_State *L) {
  const char *rel = check_path(L, 2);
  mode_t mode = check_mode(L, 3, 1, DIR_MODE_DEFAULT);
  struct fdbox *box = NULL;
  char name[NAME_MAX + 1];
  int n = parent_beneath(L, rel, &box, name);
  return n ? n : mkdir_in(L, box->fd, name, rel, mode, 0);
}

/* root:remove(rel) -> true | nil, msg, errno: fs.remove (a link itself is
 * removed, never what it points to) */
static int root_remove(lua_State *L) {
  const char *rel = check_path(L, 2);
  struct fdbox *box = NULL;
  char name[NAME_MAX + 1];
  int n = parent_beneath(L, rel, &box, name);
  if (n) return n;
  int e = unlink_synced(box->fd, ".", name);
  return e ? fail(L, rel, e) : ok(L);
}

/* root:close() -> true; closing again does nothing */
static int root_close(lua_State *L) {
  root_gc(L);
  return ok(L);
}

static const luaL_Reg root_methods[] = {
  {"read", root_read},
  {"sha256", root_sha256},
  {"stat", root_stat},
  {"dir", root_dir},
  {"write", root_write},
  {"opened", root_opened},
  {"mkdir", root_mkdir},
  {"remove", root_remove},
  {"close", root_close},
  {NULL, NULL},
};

static const luaL_Reg beneath_fns[] = {
  {"root", beneath_root},
  {"backend", beneath_backend},
  {NULL, NULL},
};

int luaopen_nt3_beneath(lua_State *L) {
  owner_metatable(L, FD_BOX, fdbox_close);
  owner_metatable(L, DIR_BOX, dirlist_close);
  owner_metatable(L, ROOT_TYPE, root_gc);
  luaL_getmetatable(L, ROOT_TYPE);
  luaL_newlib(L, root_methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_newlib(L, beneath_fns);
  return 1;
}

/* --- the module ------------------------------------------------------------------- */

static const luaL_Reg fs_fns[] = {
  {"stat", fs_stat},
  {"lstat", fs_lstat},
  {"read", fs_read},
  {"read_trusted", fs_read_trusted},
  {"sha256", fs_sha256},
  {"sha256_text", fs_sha256_text},
  {"trusted", fs_trusted},
  {"dir", fs_dir},
  {"write", fs_write},
  {"remove", fs_remove},
  {"mkdir", fs_mkdir},
  {"chmod", fs_chmod},
  {"touch", fs_touch},
  {"rmdir", fs_rmdir},
  {"rename", fs_rename},
  {"lock", fs_lock},
  {"expand", fs_expand},
  {NULL, NULL},
};


int luaopen_nt3_fs(lua_State *L) {
  owner_metatable(L, FD_BOX, fdbox_close);
  owner_metatable(L, DIR_BOX, dirlist_close);
  owner_metatable(L, LOCK_TYPE, lock_gc);
  luaL_getmetatable(L, LOCK_TYPE);
  lua_pushcfunction(L, lock_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, lock_unlock);
  lua_setfield(L, -2, "unlock");
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);

  luaL_newlib(L, fs_fns);
  return 1;
}
