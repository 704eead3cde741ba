#ifndef NT3_ATOMIC_H
#define NT3_ATOMIC_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

/* The one atomic file write of nt3, for nt3.fs.write and
 * the request engine's output files. The data goes to a temp file beside
 * the target, ".<name>.tmp-<random>", created O_EXCL|O_NOFOLLOW with only
 * the owner bits of its mode, then given its mode, fsynced, checked again
 * and renamed over the target; the directory is fsynced after. A failure
 * at any step removes the temp file and leaves the target as it was. */

/* The target exists and is neither a regular file nor (with
 * NT3_ATOMIC_THROUGH) a character device or FIFO: a symlink, a directory,
 * a socket... It is never written through, never replaced. */
#define NT3_ATOMIC_NOT_REGULAR (-1)

enum {
  /* A character device or FIFO at the path is written to as it is (as
   * `curl -o /dev/null` does): no temp file, no rename. */
  NT3_ATOMIC_THROUGH = 1,
  /* An existing regular file keeps its permission bits (not set-id or
   * sticky); mode applies only to a new file. */
  NT3_ATOMIC_KEEP_MODE = 2,
  /* The umask narrows mode, as for open(2); without it mode is exact. */
  NT3_ATOMIC_UMASK = 4,
  /* No fsync of the file or the directory: still atomic (old or new, whole,
   * for every reader), but a crash may lose the write, or leave a file
   * whose content did not reach the disk. For data that checks itself and
   * can be fetched again (the HTTP cache), never for credentials. */
  NT3_ATOMIC_NO_SYNC = 8,
};

struct nt3_atomic {
  int active;  /* between nt3_atomic_open and commit or abort; 0 in a zeroed struct */
  int through; /* fd is the target itself, a device or FIFO */
  int fd, dfd, can_sync, no_sync;
  mode_t mode; /* the final mode of a replaced file */
  char name[NAME_MAX + 1], tmp[NAME_MAX + 1];
};

/* Starts a write of path: 0, NT3_ATOMIC_NOT_REGULAR, or an errno. */
int nt3_atomic_open(struct nt3_atomic *w, const char *path, mode_t mode, int flags);

/* nt3_atomic_open of the entry name, a plain name (no "/", not "." or
 * ".."; else EINVAL), in the directory dirfd is (any descriptor of it, an
 * O_PATH one too): the temp file and the rename are made there, whatever
 * path leads to it meanwhile. How nt3.beneath writes beneath a root. */
int nt3_atomic_openat(struct nt3_atomic *w, int dirfd, const char *name, mode_t mode, int flags);

/* nt3_atomic_openat of rel beneath rootfd (src/beneath.h): rel's directory
 * resolved by nt3_parent_beneath, its last component a plain name there (a
 * symlink or anything but a regular file there is NT3_ATOMIC_NOT_REGULAR,
 * as for any atomic write). A hard link to a file outside is harmless: the
 * rename replaces the entry and the file outside keeps its content. 0,
 * NT3_ATOMIC_NOT_REGULAR, or an errno (EXDEV, ELOOP: a rule of
 * src/beneath.h refused the way). how is an enum nt3_beneath_how. */
int nt3_atomic_open_beneath(struct nt3_atomic *w, int rootfd, const char *rel, mode_t mode, int flags, int how);

/* Appends to what the commit will put in place: 0 or an errno (the write
 * is then still open; abort it). */
int nt3_atomic_write(struct nt3_atomic *w, const char *data, size_t len);

/* Puts the data in place and ends the write, whatever the result: 0,
 * NT3_ATOMIC_NOT_REGULAR (the target was swapped meanwhile), or an errno. */
int nt3_atomic_commit(struct nt3_atomic *w);

/* Ends a write without touching the target; does nothing when none is
 * open, so it may be called any number of times. */
void nt3_atomic_abort(struct nt3_atomic *w);

/* open, write and commit in one: 0, NT3_ATOMIC_NOT_REGULAR or an errno */
int nt3_atomic_file(const char *path, const char *data, size_t len, mode_t mode, int flags);

/* A descriptor for the directory, to create, check, rename and remove
 * entries relative to it: every step then acts on the same directory even
 * if its path is changed meanwhile. Read access is needed to fsync it; a
 * write-only directory still works, only without that fsync (*can_sync 0).
 * -1 and errno on failure. */
int nt3_dir_open(const char *dir, int *can_sync);
/* the same, dir relative to the directory descriptor at (AT_FDCWD: as above) */
int nt3_dir_openat(int at, const char *dir, int *can_sync);

/* fsync of a directory after an entry was added or removed: 0 or an errno.
 * Some file systems cannot and say EINVAL; that is no reason to report a
 * successful write as failed. */
int nt3_dir_sync(int dfd, int can_sync);

#endif
