#ifndef NT3_BENEATH_H
#define NT3_BENEATH_H

#include <limits.h>
#include <sys/types.h>

/* Opening beneath a root (docs/architecture.md, "Opening beneath a root"):
 * the one check of the sandbox's fs capability. Whatever rel holds, the
 * file opened is beneath the directory rootfd is:
 *
 * - rel is relative: an absolute rel is -EXDEV, an empty one -ENOENT, one
 *   of PATH_MAX bytes or more -ENAMETOOLONG;
 * - ".." never climbs above the root: -EXDEV;
 * - a symlink is followed only while it stays beneath: an absolute target
 *   is -EXDEV, more than NT3_BENEATH_MAX_LINKS links -ELOOP;
 * - no magic link of /proc (/proc/self/fd/N, /proc/self/root, .../cwd,
 *   .../exe, .../ns/<kind>) is followed: -ELOOP;
 * - with O_CREAT or O_NOFOLLOW a symlink at the last component is -ELOOP,
 *   dangling or not: nothing is ever created through a link;
 * - only a regular file or a directory is opened (a FIFO, device or socket
 *   is -EINVAL, and O_TMPFILE is -EINVAL), and a regular file with more
 *   than one hard link is -EMLINK: a link inside the root to a file outside
 *   it would otherwise be the way out. O_TRUNC applies only once that is
 *   checked;
 * - a last component that is the folder's credential file or one of nt3's
 *   own beside it (nt3_is_local_file_name: ".nt3.local.json", its lock,
 *   its temp files) is -EPERM, reached by its name or through a link.
 *
 * openat2(2) with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS resolves the
 * directories where the kernel has it (5.6 and later); elsewhere (ENOSYS)
 * a walk of descriptors gives the same answers. NT3_TEST_NO_OPENAT2=1 in
 * the environment forces the walk: a test hook, so the specs can run
 * every case both ways. */

#define NT3_BENEATH_MAX_LINKS 40 /* as the kernel's MAXSYMLINKS */

enum nt3_beneath_how {
  NT3_BENEATH_AUTO, /* openat2, or the walk where it is missing or NT3_TEST_NO_OPENAT2=1 */
  NT3_BENEATH_WALK, /* the walk only */
};

/* An open descriptor (O_CLOEXEC always) >= 0, or -errno. */
int nt3_open_beneath(int rootfd, const char *rel, int flags, mode_t mode);
int nt3_open_beneath_how(int rootfd, const char *rel, int flags, mode_t mode, enum nt3_beneath_how how);

/* "openat2" or "walk": what NT3_BENEATH_AUTO uses here and now */
const char *nt3_beneath_backend(void);

/* The directory holding rel's last component, resolved beneath rootfd by
 * the rules above: an O_PATH descriptor, or -errno; the last component,
 * left as it is (never followed), into name. A last component that is
 * empty (a trailing "/"), "." or ".." is -EISDIR. The first stage of every
 * open, for what acts on a name in a directory: the atomic write beneath a
 * root (src/atomic.h), mkdir and remove. */
int nt3_parent_beneath(int rootfd, const char *rel, char name[NAME_MAX + 1], enum nt3_beneath_how how);

#endif
