/*
 * nt3.fs: the file operations a credential store needs, done safely.
 * Failures of the world return nil, message, errno (as io.open does);
 * wrong argument types raise.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>

#define READ_CAP_DEFAULT (1024 * 1024)

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

static void push_stat(lua_State *L, const struct stat *st) {
  lua_createtable(L, 0, 7);
  lua_pushstring(L, type_name(st->st_mode));
  lua_setfield(L, -2, "type");
  lua_pushinteger(L, st->st_mode & 07777);
  lua_setfield(L, -2, "mode");
  lua_pushinteger(L, (lua_Integer)st->st_uid);
  lua_setfield(L, -2, "uid");
  lua_pushinteger(L, (lua_Integer)st->st_gid);
  lua_setfield(L, -2, "gid");
  lua_pushinteger(L, (lua_Integer)st->st_size);
  lua_setfield(L, -2, "size");
  lua_pushinteger(L, (lua_Integer)st->st_mtime);
  lua_setfield(L, -2, "mtime");
  lua_pushinteger(L, (lua_Integer)st->st_nlink);
  lua_setfield(L, -2, "nlink");
}

/* fs.stat(path) -> {type, mode, uid, gid, size, mtime, nlink} | nil, msg, errno */
static int fs_stat(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  struct stat st;
  if (stat(path, &st) != 0) return luaL_fileresult(L, 0, path);
  push_stat(L, &st);
  return 1;
}

/* fs.lstat(path): as stat, but a symbolic link is reported as type "link" */
static int fs_lstat(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  struct stat st;
  if (lstat(path, &st) != 0) return luaL_fileresult(L, 0, path);
  push_stat(L, &st);
  return 1;
}

/* fs.read(path [, max_bytes]) -> content | nil, msg, errno
 * Only regular files; more than max_bytes (default 1 MiB) is an error, so a
 * huge or endless file cannot exhaust memory. */
static int fs_read(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  lua_Integer cap = luaL_optinteger(L, 2, READ_CAP_DEFAULT);
  luaL_argcheck(L, cap >= 0, 2, "size cap must not be negative");

  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return luaL_fileresult(L, 0, path);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return luaL_fileresult(L, 0, path);
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    lua_pushnil(L);
    lua_pushfstring(L, "%s: not a regular file", path);
    lua_pushinteger(L, EINVAL);
    return 3;
  }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  lua_Integer total = 0;
  for (;;) {
    char *p = luaL_prepbuffer(&b);
    ssize_t n = read(fd, p, LUAL_BUFFERSIZE);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      close(fd);
      errno = e;
      return luaL_fileresult(L, 0, path);
    }
    if (n == 0) break;
    total += n;
    if (total > cap) {
      close(fd);
      lua_pushnil(L);
      lua_pushfstring(L, "%s: file too large (more than %I bytes)", path, cap);
      lua_pushinteger(L, EFBIG);
      return 3;
    }
    luaL_addsize(&b, (size_t)n);
  }
  close(fd);
  luaL_pushresult(&b);
  return 1;
}

static int by_string(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* fs.dir(path) -> sorted list of entry names (no . and ..) | nil, msg, errno */
static int fs_dir(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  DIR *d = opendir(path);
  if (!d) return luaL_fileresult(L, 0, path);
  size_t n = 0, cap = 16;
  char **names = malloc(cap * sizeof *names);
  struct dirent *e;
  while (names && (e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (n == cap) {
      char **grown = realloc(names, (cap *= 2) * sizeof *names);
      if (!grown) break;
      names = grown;
    }
    if (!(names[n] = strdup(e->d_name))) break;
    n++;
  }
  closedir(d);
  if (!names) return luaL_error(L, "not enough memory");
  qsort(names, n, sizeof *names, by_string);
  lua_createtable(L, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    lua_pushstring(L, names[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
    free(names[i]);
  }
  free(names);
  return 1;
}

static const luaL_Reg fs_fns[] = {
  {"stat", fs_stat},
  {"lstat", fs_lstat},
  {"read", fs_read},
  {"dir", fs_dir},
  {NULL, NULL},
};

int luaopen_nt3_fs(lua_State *L) {
  luaL_newlib(L, fs_fns);
  return 1;
}
