/*
 * docs/architecture.md, "Opening beneath a root"; the rules are in
 * src/beneath.h.
 *
 * A path is opened in two stages, so that both ways of resolving give the
 * same answers by construction where they can:
 *
 * 1. the directory holding the last component is resolved beneath the
 *    root, to an O_PATH descriptor: by openat2(2) (RESOLVE_BENEATH |
 *    RESOLVE_NO_MAGICLINKS) where the kernel has it, else by walk(),
 *    which follows the same rules one component at a time;
 * 2. the last component is looked at without following anything
 *    (last()): a symlink there is read here and its target put in its
 *    place, and the whole path resolved again from the root, so that a
 *    ".." in a target is judged as any other; anything else is opened
 *    O_NOFOLLOW from that directory and checked on the descriptor.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "beneath.h"
#include "policy.h"

/* <linux/openat2.h>, spelt out: older headers lack it, and only the
 * system call is needed (glibc has no wrapper before 2.40) */
struct open_how_v0 {
  // cppcheck-suppress unusedStructMember ; read by the kernel
  uint64_t flags, mode, resolve;
};
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#define RESOLVE_NO_MAGICLINKS_ 0x02
#define RESOLVE_BENEATH_ 0x08

#define DIR_FLAGS (O_PATH | O_DIRECTORY | O_CLOEXEC)
#define AGAIN_TRIES 4   /* resolutions raced by a rename before -EAGAIN */
#define MAX_DEPTH (PATH_MAX / 2) /* "a/" per directory: deeper is -ENAMETOOLONG */

/* the last component was a symlink to follow, its target in the buffer */
#define FOLLOW 1

static int use_walk(enum nt3_beneath_how how) {
  if (how == NT3_BENEATH_WALK) return 1;
  const char *e = getenv("NT3_TEST_NO_OPENAT2");
  return e && strcmp(e, "1") == 0;
}

/* -errno, with what errno holds now */
static int neg(void) { return errno ? -errno : -EIO; }

/* A link that only procfs has: /proc/<pid>/fd/N, cwd, root, exe, ns/...
 * The kernel jumps to their object whatever their text says, so the text
 * must never be taken as the way. Their text is an absolute path, or
 * "<kind>:[<n>]" (pipe:[7], net:[4026531840]); the plain links of procfs
 * (self, thread-self, mounts, net) say "1234" or "self/mounts". Fails
 * closed when the file system cannot be told. */
static int magic_link(int dirfd, const char *text) {
  struct statfs sf;
  if (fstatfs(dirfd, &sf) != 0) return 1;
  return sf.f_type == PROC_SUPER_MAGIC && (text[0] == '/' || strchr(text, ':') != NULL);
}

/* Reads the symlink name in dirfd into target (PATH_MAX bytes) and judges
 * it: 0 when it may be followed, else -errno. The one judgement of a link
 * target, for walk() and last(). */
static int read_link(int dirfd, const char *name, char *target) {
  ssize_t n = readlinkat(dirfd, name, target, PATH_MAX);
  if (n < 0) return errno == EINVAL ? -EAGAIN : neg(); /* no longer a link: raced */
  if (n >= PATH_MAX) return -ENAMETOOLONG;
  target[n] = '\0';
  if (magic_link(dirfd, target)) return -ELOOP;
  if (target[0] == '/') return -EXDEV;
  if (n == 0) return -ENOENT;
  return 0;
}

/* a directory passed through, by identity */
struct id {
  dev_t dev;
  ino_t ino;
};

static struct id id_of(const struct stat *st) {
  struct id i = {st->st_dev, st->st_ino};
  return i;
}

static int same_file(const struct stat *a, struct id b) { return a->st_dev == b.dev && a->st_ino == b.ino; }

/* The walk: the directory rel names, resolved from rootfd one component
 * at a time, each opened O_PATH | O_NOFOLLOW from the one before. The
 * identities of the directories passed through are a stack: ".." pops it,
 * and must reach the very directory it pops to (else a rename moved
 * something meanwhile: -EAGAIN, as openat2 says); ".." with the stack
 * empty is an escape. A symlink's target takes its place in what is left
 * to walk. An O_PATH descriptor, or -errno. */
static int walk(int rootfd, const char *rel) {
  static const size_t max_depth = MAX_DEPTH;
  struct id *stack = malloc((max_depth + 1) * sizeof *stack);
  if (!stack) return -ENOMEM;
  char *buf = malloc(2 * PATH_MAX);
  if (!buf) {
    free(stack);
    return -ENOMEM;
  }
  char *target = buf + PATH_MAX;
  size_t depth = 0, links = 0, len = strlen(rel);
  int r = 0;
  struct stat st;
  int cur = openat(rootfd, ".", DIR_FLAGS);
  if (cur < 0 || fstat(cur, &st) != 0) r = neg();
  else stack[0] = id_of(&st);
  if (len >= PATH_MAX) r = -ENAMETOOLONG;
  else memcpy(buf, rel, len + 1);
  const char *p = buf;
  while (r == 0) {
    while (*p == '/') p++;
    if (*p == '\0') break;
    size_t n = strcspn(p, "/");
    if (n > NAME_MAX) {
      r = -ENAMETOOLONG;
      break;
    }
    char name[NAME_MAX + 1];
    memcpy(name, p, n);
    name[n] = '\0';
    p += n;
    if (strcmp(name, ".") == 0) continue;
    if (strcmp(name, "..") == 0) {
      if (depth == 0) {
        r = -EXDEV;
        break;
      }
      int up = openat(cur, "..", DIR_FLAGS);
      if (up < 0 || fstat(up, &st) != 0) r = neg();
      else if (!same_file(&st, stack[depth - 1])) r = -EAGAIN;
      if (r) {
        if (up >= 0) close(up);
        break;
      }
      close(cur);
      cur = up;
      depth--;
      continue;
    }
    int fd = openat(cur, name, DIR_FLAGS | O_NOFOLLOW);
    if (fd >= 0) {
      if (fstat(fd, &st) != 0) r = neg();
      else if (depth + 1 > max_depth) r = -ENAMETOOLONG;
      if (r) {
        close(fd);
        break;
      }
      close(cur);
      cur = fd;
      stack[++depth] = id_of(&st);
      continue;
    }
    /* O_PATH | O_NOFOLLOW on a link gives the link, which O_DIRECTORY
     * then refuses with ENOTDIR */
    if (errno != ENOTDIR && errno != ELOOP) {
      r = neg();
      break;
    }
    if (fstatat(cur, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      r = neg();
      break;
    }
    if (!S_ISLNK(st.st_mode)) {
      r = -ENOTDIR;
      break;
    }
    if (++links > NT3_BENEATH_MAX_LINKS) {
      r = -ELOOP;
      break;
    }
    if ((r = read_link(cur, name, target)) != 0) break;
    /* what is left to walk: the target, then the rest */
    size_t tl = strlen(target), rl = strlen(p);
    if (tl + rl >= PATH_MAX) {
      r = -ENAMETOOLONG;
      break;
    }
    memmove(buf + tl, p, rl + 1);
    memcpy(buf, target, tl);
    p = buf;
  }
  free(buf);
  free(stack);
  if (r && cur >= 0) close(cur);
  return r ? r : cur;
}

/* The directory rel names, beneath rootfd: an O_PATH descriptor or
 * -errno. A resolution that a rename raced (-EAGAIN) is tried again. */
static int resolve_dir(int rootfd, const char *rel, int walked) {
  if (*rel == '\0') rel = ".";
  int fd = -EAGAIN;
  for (int tries = 0; tries < AGAIN_TRIES && fd == -EAGAIN; tries++) {
    if (!walked) {
      struct open_how_v0 how = {
        .flags = DIR_FLAGS,
        .resolve = RESOLVE_BENEATH_ | RESOLVE_NO_MAGICLINKS_,
      };
      long r = syscall(SYS_openat2, rootfd, rel, &how, sizeof how);
      if (r >= 0) return (int)r;
      if (errno != ENOSYS) {
        fd = neg();
        continue;
      }
    }
    fd = walk(rootfd, rel);
  }
  return fd;
}

/* Checks what was opened as fd: a regular file with one link or a
 * directory; then truncates it if asked and gives back the caller's
 * O_NONBLOCK. fd, or -errno with fd closed. */
static int checked(int fd, int flags) {
  struct stat st;
  int r = 0;
  if (fstat(fd, &st) != 0) r = neg();
  else if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) r = -EINVAL;
  else if (S_ISREG(st.st_mode) && st.st_nlink > 1) r = -EMLINK;
  else if ((flags & O_TRUNC) && S_ISREG(st.st_mode) && (flags & O_ACCMODE) != O_RDONLY && ftruncate(fd, 0) != 0)
    r = neg();
  else if (!(flags & (O_NONBLOCK | O_PATH))) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) r = neg();
  }
  if (r) close(fd);
  return r ? r : fd;
}

/* Stage 2: the last component name in dirfd. An open descriptor; FOLLOW
 * with the link's target in target; or -errno. */
static int last(int dirfd, const char *name, int flags, mode_t mode, char *target) {
  if (nt3_is_local_file_name(name)) return -EPERM;
  /* O_NONBLOCK: the open cannot hang should a FIFO be swapped in after the
   * look; O_TRUNC waits for checked(), past the hard-link check */
  int open_flags = (flags & ~O_TRUNC) | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC;
  if (!(flags & O_PATH)) open_flags |= O_NONBLOCK;
  struct stat st;
  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno != ENOENT || !(flags & O_CREAT)) return neg();
  } else if (S_ISLNK(st.st_mode)) {
    if (flags & (O_CREAT | O_NOFOLLOW)) return -ELOOP;
    int r = read_link(dirfd, name, target);
    return r ? r : FOLLOW;
  } else if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
    /* refused before opening it: opening a device can have effects */
    return -EINVAL;
  }
  int fd = openat(dirfd, name, open_flags, mode);
  return fd < 0 ? neg() : checked(fd, flags);
}

/* Splits path (in place) into the directory part and the last component.
 * A last component that is empty (a trailing "/"), "." or ".." makes the
 * whole path the directory, and the last component ".". */
static void split(char *path, const char **dir, const char **name) {
  char *slash = strrchr(path, '/');
  const char *tail = slash ? slash + 1 : path;
  if (*tail == '\0' || strcmp(tail, ".") == 0 || strcmp(tail, "..") == 0) {
    *dir = path;
    *name = ".";
    return;
  }
  *name = tail;
  if (slash) {
    *slash = '\0';
    *dir = path;
  } else {
    *dir = "";
  }
}

/* The checks every entry point makes first: 0 or -errno. */
static int check_rel(const char *rel) {
  if (!rel) return -EINVAL;
  if (rel[0] == '/') return -EXDEV;
  if (rel[0] == '\0') return -ENOENT;
  if (strlen(rel) >= PATH_MAX) return -ENAMETOOLONG;
  return 0;
}

/* Both stages, over and over while the last component is a link: an open
 * descriptor or -errno. */
static int resolve(int rootfd, const char *rel, int flags, mode_t mode, int walked) {
  char *path = malloc(3 * PATH_MAX);
  if (!path) return -ENOMEM;
  char *work = path + PATH_MAX, *target = work + PATH_MAX;
  memcpy(path, rel, strlen(rel) + 1);
  int r, tries = 0;
  size_t links = 0;
  for (;;) {
    memcpy(work, path, strlen(path) + 1);
    const char *dir, *name;
    split(work, &dir, &name);
    int dfd = resolve_dir(rootfd, dir, walked);
    if (dfd < 0) {
      r = dfd;
      break;
    }
    r = last(dfd, name, flags, mode, target);
    close(dfd);
    if (r == -EAGAIN && ++tries < AGAIN_TRIES) continue;
    if (r != FOLLOW) break;
    if (++links > NT3_BENEATH_MAX_LINKS) {
      r = -ELOOP;
      break;
    }
    /* the target is relative to the link's directory: dir/target, and the
     * whole judged again from the root */
    size_t dl = strlen(dir), tl = strlen(target);
    if (dl + 1 + tl >= PATH_MAX) {
      r = -ENAMETOOLONG;
      break;
    }
    if (dl) {
      memmove(path, dir, dl);
      path[dl] = '/';
      memcpy(path + dl + 1, target, tl + 1);
    } else {
      memcpy(path, target, tl + 1);
    }
  }
  free(path);
  return r;
}

int nt3_open_beneath_how(int rootfd, const char *rel, int flags, mode_t mode, enum nt3_beneath_how how) {
  int r = check_rel(rel);
  if (r) return r;
  if ((flags & O_TMPFILE) == O_TMPFILE) return -EINVAL;
  return resolve(rootfd, rel, flags, mode, use_walk(how));
}

int nt3_open_beneath(int rootfd, const char *rel, int flags, mode_t mode) {
  return nt3_open_beneath_how(rootfd, rel, flags, mode, NT3_BENEATH_AUTO);
}

const char *nt3_beneath_backend(void) {
  if (use_walk(NT3_BENEATH_AUTO)) return "walk";
  struct open_how_v0 how = {.flags = DIR_FLAGS, .resolve = RESOLVE_BENEATH_ | RESOLVE_NO_MAGICLINKS_};
  long fd = syscall(SYS_openat2, AT_FDCWD, ".", &how, sizeof how);
  if (fd >= 0) close((int)fd);
  return fd < 0 && errno == ENOSYS ? "walk" : "openat2";
}

int nt3_parent_beneath(int rootfd, const char *rel, char name[NAME_MAX + 1], enum nt3_beneath_how how) {
  int r = check_rel(rel);
  if (r) return r;
  char path[PATH_MAX];
  memcpy(path, rel, strlen(rel) + 1);
  const char *dir, *last_name;
  split(path, &dir, &last_name);
  if (strcmp(last_name, ".") == 0) return -EISDIR;
  if (nt3_is_local_file_name(last_name)) return -EPERM;
  size_t n = strlen(last_name);
  if (n > NAME_MAX) return -ENAMETOOLONG;
  memcpy(name, last_name, n + 1);
  return resolve_dir(rootfd, dir, use_walk(how));
}
