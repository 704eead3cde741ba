#!/bin/sh
# nt3 set-up: installs the Debian packages this machine lacks, builds, and
# then runs nt3 (demo) or the whole test suite (test).
#
#   ./setup.sh demo    install what is missing, build, show nt3 working
#   ./setup.sh test    install what is missing, build (plus the sanitizer
#                      build), run every test; the last line is ctest's summary
#   ./setup.sh build   install what is missing and build build/nt3
#   ./setup.sh deps    only install what is missing
set -eu

cd "$(dirname "$0")"
ROOT=$(pwd)

# What nt3 needs to build (gcc, make, cmake, Lua 5.4, lua-cjson, libcurl),
# to run its tests (busted, python3 for the test server, openssl for a
# throwaway certificate, bash, zsh and fish to run the completion scripts in,
# strace to watch the system calls of an atomic write, nghttpd for a real
# HTTP/2 server, nginx for a real, fast HTTP/1.1 and HTTP/2 server that
# counts connections and gzips answers (tests/helpers/nginx.lua, run on a
# loopback port of its own, never as a service), man and groff to read the
# manual page it installs), its linters (luacheck, cppcheck), its fuzz
# harnesses (clang and its libFuzzer runtime) and its benchmarks (lua5.4,
# curl and Python requests as baselines; gh for tests/bench/paginate.py,
# `gh api --paginate` being the measure; nginx also as the server of
# tests/bench/scale.py, and Python aiohttp and lua-http as two more clients
# it compares), and git: `nt3 ext install` runs
# the system git for a git source, and the extension specs serve real
# repositories (file:// and git http-backend). libedit2 gives `nt3 repl`
# line editing and history (dlopen()ed by its soname libedit.so.2 when a
# REPL starts, so no -dev package; BSD licensed, where GNU readline's GPL
# would not sit with nt3's MIT licence; without it the REPL reads plain lines).
PACKAGES="gcc libc6-dev make cmake pkgconf
liblua5.4-dev lua5.4 lua-cjson-dev libcurl4-openssl-dev libedit2 ca-certificates
lua-busted python3 openssl curl bash zsh fish strace nghttp2-server man-db groff-base
lua-check cppcheck clang libclang-rt-dev python3-requests gh nginx git
python3-aiohttp lua-http"

say() { printf '==> %s\n' "$*" >&2; }

missing_packages() {
  for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
      printf '%s ' "$p"
    fi
  done
}

install_deps() {
  missing=$(missing_packages)
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" -eq 0 ]; then
    as_root=""
  elif command -v sudo >/dev/null 2>&1; then
    as_root="sudo"
  else
    echo "setup.sh: these Debian packages are missing and I am not root (and there is no sudo):" >&2
    echo "  apt-get install $missing" >&2
    exit 1
  fi
  say "installing: $missing"
  $as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # shellcheck disable=SC2086
  $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

jobs() { nproc 2>/dev/null || echo 2; }

build() { # build DIR [cmake options...]
  dir=$1; shift
  say "building in $dir"
  cmake -S "$ROOT" -B "$dir" "$@" >/dev/null
  cmake --build "$dir" -j "$(jobs)"
}

demo() {
  nt3="$ROOT/build/nt3"
  home=$(mktemp -d)
  trap 'rm -rf "$home"' EXIT
  say "nt3 is built: $nt3; a demo in a throwaway HOME ($home, removed at the end)"
  run() { printf '\n$ nt3 %s\n' "$*"; HOME="$home" "$nt3" "$@"; }
  run --version
  run help
  # a made-up token: --no-verify, or the API would (rightly) refuse it
  run login -t entri_demo_token_1234 --no-verify
  run status || true
  run logout
  run status || true
  printf '\nInstall it with: cmake --install build --prefix ~/.local\n'
}

cmd=${1:-build}
case "$cmd" in
  deps)  install_deps ;;
  build) install_deps; build build ;;
  demo)  install_deps; build build; demo ;;
  test)
    install_deps
    build build-test -DNT3_SANITIZE=ON -DNT3_WERROR=ON
    say "running the test suite (every spec with nt3 and nt3-asan)"
    # twice as many specs as cores: about half of a spec's time is spent
    # waiting (servers, terminals, child processes), so two per core keep
    # the cores busy (on 2 cores the suite took 9.7 min at -j2)
    cd build-test && ctest --output-on-failure -j "$(( $(jobs) * 2 ))"
    ;;
  *) echo "usage: ./setup.sh [demo|test|build|deps]" >&2; exit 2 ;;
esac
