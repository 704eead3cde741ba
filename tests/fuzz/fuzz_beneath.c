/*
 * src/beneath.c (docs/architecture.md, "Opening beneath a root"):
 * nt3_open_beneath on random relative paths in a tree built once at start,
 * with links in and out, a loop, a dangling link, a hard link to a file
 * outside and a FIFO. The first byte picks the open flags, the rest is the
 * path. Properties: openat2 and the walk give the same answer (the same
 * errno, or descriptors of the same file); every descriptor either returns
 * names a file beneath the root (its /proc/self/fd link starts with the
 * root's real path), a directory or a regular file with one link; and
 * the same of nt3_parent_beneath, whose name is always a plain one.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "beneath.h"
#include "fuzz.h"

static const int FLAGS[] = {
  O_RDONLY,
  O_PATH,
  O_RDONLY | O_DIRECTORY,
  O_PATH | O_NOFOLLOW,
  O_WRONLY | O_CREAT | O_EXCL,
  O_WRONLY | O_CREAT | O_TRUNC,
  O_RDWR | O_NOFOLLOW,
};

static char root_real[PATH_MAX], top_dir[PATH_MAX];
static int rootfd = -1;

static void must(int ok, const char *what) {
  if (!ok) {
    perror(what);
    abort();
  }
}

static void put(const char *dir, const char *name, const char *data) {
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  must(f != NULL, p);
  fputs(data, f);
  fclose(f);
}

static void link_at(const char *dir, const char *name, const char *target) {
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  must(symlink(target, p) == 0, p);
}

static void sub(const char *dir, const char *name) {
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  must(mkdir(p, 0700) == 0, p);
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
  (void)st;
  (void)type;
  (void)ftw;
  remove(path);
  return 0;
}

static void remove_tree(void) { nftw(top_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* top/root (the root) and top/outside, made once per process and removed
 * at its exit */
static void build(void) {
  char top[] = "/tmp/nt3-fuzz-beneath.XXXXXX";
  must(mkdtemp(top) != NULL, "mkdtemp");
  snprintf(top_dir, sizeof top_dir, "%s", top);
  atexit(remove_tree);
  char root[PATH_MAX], out[PATH_MAX];
  snprintf(root, sizeof root, "%s/root", top);
  snprintf(out, sizeof out, "%s/outside", top);
  must(mkdir(root, 0700) == 0 && mkdir(out, 0700) == 0, "mkdir");
  put(out, "secret", "SECRET");
  sub(root, "a");
  sub(root, "a/b");
  sub(root, "a/b/c");
  put(root, "a/f", "inside");
  link_at(root, "in", "a");
  link_at(root, "in_f", "a/f");
  link_at(root, "chain", "in/b/../f");
  link_at(root, "abs", "/etc");
  link_at(root, "abs_in", root); /* absolute, even though it names the root */
  link_at(root, "up", "../outside");
  link_at(root, "a/b/upup", "../../..");
  link_at(root, "a/b/back", "../../a/b");
  link_at(root, "loop", "loop");
  link_at(root, "ping", "pong");
  link_at(root, "pong", "ping");
  link_at(root, "dangling", "nowhere");
  char secret[PATH_MAX], hard[PATH_MAX], fifo[PATH_MAX];
  snprintf(secret, sizeof secret, "%s/secret", out);
  snprintf(hard, sizeof hard, "%s/a/hard", root);
  snprintf(fifo, sizeof fifo, "%s/fifo", root);
  must(link(secret, hard) == 0, "link");
  must(mkfifo(fifo, 0600) == 0, "mkfifo");
  must(realpath(root, root_real) != NULL, "realpath");
  rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  must(rootfd >= 0, "open root");
}

/* What fd is, by /proc/self/fd (into path) and fstat; checks it is beneath */
static void check_beneath(int fd, char *path, struct stat *st, const char *rel) {
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, PATH_MAX - 1);
  FUZZ_CHECK(n > 0, "readlink of a descriptor returned for %s", rel);
  path[n] = '\0';
  size_t rl = strlen(root_real);
  FUZZ_CHECK(strncmp(path, root_real, rl) == 0 && (path[rl] == '\0' || path[rl] == '/'),
             "%s opened %s, outside the root %s", rel, path, root_real);
  FUZZ_CHECK(fstat(fd, st) == 0, "fstat");
  FUZZ_CHECK(S_ISDIR(st->st_mode) || (S_ISREG(st->st_mode) && st->st_nlink == 1),
             "%s opened a file that is neither a directory nor a regular file with one link (%s)", rel, path);
}

/* opens rel one way; a file it created is removed again so both ways find
 * the tree the same. The result, and the file's identity into st. */
static int one(const char *rel, int flags, enum nt3_beneath_how how, struct stat *st) {
  int fd = nt3_open_beneath_how(rootfd, rel, flags, 0600, how);
  if (fd < 0) return fd;
  char path[PATH_MAX];
  check_beneath(fd, path, st, rel);
  /* a/f is the one regular file of the tree that may be opened */
  if ((flags & O_CREAT) && S_ISREG(st->st_mode) && strcmp(path + strlen(root_real), "/a/f") != 0) unlink(path);
  close(fd);
  return 0;
}

/* nt3_parent_beneath one way: 0 with the directory's identity into st
 * (checked beneath) and the name, or -errno */
static int parent(const char *rel, enum nt3_beneath_how how, char *name, struct stat *st) {
  int fd = nt3_parent_beneath(rootfd, rel, name, how);
  if (fd < 0) return fd;
  char path[PATH_MAX];
  check_beneath(fd, path, st, rel);
  FUZZ_CHECK(S_ISDIR(st->st_mode), "the directory of %s is no directory", rel);
  close(fd);
  return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  if (size < 1 || size > 4200) return 0;
  if (rootfd < 0) build();
  int flags = FLAGS[data[0] % (sizeof FLAGS / sizeof *FLAGS)];
  char *rel = fuzz_string(data + 1, size - 1); /* a NUL ends it, as in C */
  struct stat a, b;
  int ra = one(rel, flags, NT3_BENEATH_AUTO, &a);
  int rb = one(rel, flags, NT3_BENEATH_WALK, &b);
  FUZZ_CHECK(ra == rb, "openat2 said %d, the walk %d, for %s (flags %#x)", ra, rb, rel, (unsigned)flags);
  if (ra == 0 && !(flags & O_CREAT))
    FUZZ_CHECK(a.st_dev == b.st_dev && a.st_ino == b.st_ino, "openat2 and the walk opened different files for %s",
               rel);
  /* the first stage alone, as writes, mkdir and remove use it */
  char na[NAME_MAX + 1], nb[NAME_MAX + 1];
  ra = parent(rel, NT3_BENEATH_AUTO, na, &a);
  rb = parent(rel, NT3_BENEATH_WALK, nb, &b);
  FUZZ_CHECK(ra == rb, "for the directory of %s openat2 said %d, the walk %d", rel, ra, rb);
  if (ra == 0) {
    FUZZ_CHECK(a.st_dev == b.st_dev && a.st_ino == b.st_ino && strcmp(na, nb) == 0,
               "openat2 and the walk resolved different directories for %s", rel);
    FUZZ_CHECK(strchr(na, '/') == NULL && strcmp(na, ".") != 0 && strcmp(na, "..") != 0 && *na,
               "the last component of %s is not a plain name: %s", rel, na);
  }
  free(rel);
  return 0;
}
