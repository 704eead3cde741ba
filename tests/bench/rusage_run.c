/*
 * rusage_run REPORT prog [args...]: runs prog (fork + execv, stdio as
 * inherited), waits for it with wait4 and writes one line to the file
 * REPORT: "<exit status> <wall s> <user s> <system s> <peak RSS KiB>".
 *
 * Why not os.wait4 in the benchmark itself: Python starts a child with
 * posix_spawn, i.e. vfork, and at exec the kernel folds the high-water RSS
 * of the memory the child had until then (the Python parent's, ~23 MB)
 * into the child's ru_maxrss. A child forked from this small program
 * starts from ~1 MB, so ru_maxrss is the program's own peak (its VmHWM).
 * benchlib.py compiles this on first use (cc is a build dependency).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double seconds(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec / 1e6; }

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: rusage_run REPORT prog [args...]\n");
    return 2;
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pid_t pid = fork();
  if (pid < 0) return 111;
  if (pid == 0) {
    execv(argv[2], argv + 2);
    _exit(127);
  }
  int status;
  struct rusage ru;
  if (wait4(pid, &status, 0, &ru) != pid) return 111;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  FILE *f = fopen(argv[1], "w");
  if (!f) return 111;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  fprintf(f, "%d %.6f %.6f %.6f %ld\n", code,
          (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
          seconds(ru.ru_utime), seconds(ru.ru_stime), ru.ru_maxrss);
  return fclose(f) == 0 ? 0 : 111;
}
