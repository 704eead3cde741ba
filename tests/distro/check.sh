#!/bin/sh
# Before a release: does the committed tree build, run its demo and pass its
# whole test suite on a fresh minimal Debian? Not run by CI (CI runs
# ./setup.sh test on the machine it is on); a developer runs it, as root:
#
#   sudo tests/distro/check.sh trixie        # or bookworm
#   sudo tests/distro/check.sh --refresh trixie
#
# Needs root (debootstrap, chroot, mount), debootstrap (apt-get install
# debootstrap) and a reachable Debian mirror. What it does:
#   1. debootstraps a --variant=minbase chroot of SUITE once, into
#      $NT3_CHROOT_CACHE/SUITE-base (default /var/cache/nt3-distro, outside
#      the repository), and reuses it later; --refresh makes it again;
#   2. copies that base to SUITE-run, so every check starts from minbase;
#   3. bind-mounts /proc /sys /dev /dev/pts into it, copies `git archive
#      HEAD` to /root/nt3 and runs `./setup.sh demo`, then `./setup.sh test`
#      (setup.sh installs the packages it needs, as it would for a user);
#   4. unmounts on every way out (trap), removes SUITE-run unless --keep,
#      and prints PASS or FAIL on its last line. Logs: SUITE-demo.log and
#      SUITE-test.log in the cache directory.
# Exit code: 0 pass, 1 fail, 2 usage.
set -eu

usage() {
  echo "usage: tests/distro/check.sh [--refresh] [--keep] SUITE   (SUITE: bookworm, trixie, ...)" >&2
  exit 2
}

refresh=0 keep=0 suite=
for arg in "$@"; do
  case "$arg" in
    --refresh) refresh=1 ;;
    --keep) keep=1 ;;
    -*) usage ;;
    *) [ -z "$suite" ] || usage; suite=$arg ;;
  esac
done
[ -n "$suite" ] || usage
case "$suite" in *[!a-z0-9-]*) usage ;; esac

say() { printf '==> check %s: %s\n' "$suite" "$*" >&2; }
die() { printf 'check %s: FAIL: %s\n' "$suite" "$*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot and mount): sudo $0 $*"
command -v debootstrap >/dev/null 2>&1 || die "needs debootstrap: apt-get install debootstrap"
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel 2>/dev/null) || die "not inside nt3's git repository"
head=$(git -C "$repo" rev-parse --short HEAD)
if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
  say "the work tree has uncommitted changes: they are NOT checked (git archive HEAD = $head)"
fi

cache=${NT3_CHROOT_CACHE:-/var/cache/nt3-distro}
mirror=${NT3_DEBIAN_MIRROR:-http://deb.debian.org/debian}
base=$cache/$suite-base
run=$cache/$suite-run
case "$cache/" in "$repo"/*) die "NT3_CHROOT_CACHE must be outside the repository" ;; esac
mkdir -p "$cache"

# Mount points under $run that are mounted now, deepest first.
mounted_under() {
  awk -v root="$run" '$2 == root || index($2, root "/") == 1 { print $2 }' /proc/self/mounts | sort -r
}

cleanup() {
  status=$?
  trap - EXIT INT TERM HUP
  for m in $(mounted_under); do
    umount "$m" 2>/dev/null || umount -l "$m" || echo "check $suite: could not unmount $m" >&2
  done
  if [ "$keep" -eq 0 ] && [ -d "$run" ] && [ -z "$(mounted_under)" ]; then rm -rf "$run"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

if [ "$refresh" -eq 1 ] || [ ! -e "$base/.nt3-base-ready" ]; then
  rm -rf "$base"
  say "debootstrap --variant=minbase $suite from $mirror (once; later checks reuse $base)"
  debootstrap --variant=minbase "$suite" "$base" "$mirror" >"$cache/$suite-debootstrap.log" 2>&1 \
    || die "debootstrap failed, see $cache/$suite-debootstrap.log"
  touch "$base/.nt3-base-ready"
fi

[ -z "$(mounted_under)" ] || die "something is still mounted under $run (an earlier check?): $(mounted_under | tr '\n' ' ')"
rm -rf "$run"
say "a fresh copy of the minbase chroot: $run"
cp -a "$base" "$run"
for d in proc sys dev dev/pts; do
  mkdir -p "$run/$d"
  mount --bind "/$d" "$run/$d"
done
cp /etc/resolv.conf "$run/etc/resolv.conf"
mkdir -p "$run/root/nt3"
git -C "$repo" archive HEAD | tar -x -C "$run/root/nt3"

# setup.sh as a user would run it, in a clean environment
in_chroot() {
  chroot "$run" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    sh -c "cd /root/nt3 && ./setup.sh $1"
}

say "git archive HEAD ($head) -> /root/nt3; ./setup.sh demo (log: $cache/$suite-demo.log)"
in_chroot demo >"$cache/$suite-demo.log" 2>&1 || { tail -n 20 "$cache/$suite-demo.log"; die "./setup.sh demo failed at $head, see $cache/$suite-demo.log"; }
say "./setup.sh test (log: $cache/$suite-test.log)"
if in_chroot test >"$cache/$suite-test.log" 2>&1; then tested=0; else tested=1; fi
summary=$(grep -E 'tests passed|tests failed' "$cache/$suite-test.log" | tail -n 1)
# shellcheck disable=SC2016 # dpkg-query's own ${...} fields
versions=$(chroot "$run" dpkg-query -W -f='${Package} ${Version}\n' 'libcurl4*' 'liblua5.4-0*' cppcheck 2>/dev/null \
  | awk 'NF == 2 && $1 !~ /-(dev|doc)$/ { printf "%s%s %s", sep, $1, $2; sep = ", " }' || true)
if [ "$tested" -ne 0 ]; then
  grep -E '^ *[0-9]+ - .*\((Failed|Timeout|Not Run)\)' "$cache/$suite-test.log" | tail -n 20 || true
  die "./setup.sh test failed at $head: ${summary:-no ctest summary}; see $cache/$suite-test.log"
fi
printf 'check %s: PASS at %s: demo ok; %s (%s)\n' "$suite" "$head" "$summary" "$versions"
