#!/usr/bin/env bash
# Builds native/test/kernels_test.cc with the kernel sources and runs it: for
# the host, then cross-compiled for aarch64 (static) under qemu-user, so the
# NEON table is checked on any x86_64 machine. The binaries are left in
# build/kernel-tests/, but built and run in a private temporary directory:
# `node-gyp rebuild` deletes all of build/ and may run at the same time.
#
#   run-kernel-tests.sh [all|host|aarch64]   (default: all)
#
# Exit status: 0 all passed, 1 a check failed, 2 a build failed, 3 the aarch64
# cross tools are missing.
set -uo pipefail
cd "$(dirname "$0")/../.."

target="${1:-all}"
case "$target" in all | host | aarch64) ;; *)
  echo "usage: $0 [all|host|aarch64]" >&2
  exit 2
  ;;
esac

out=build/kernel-tests
work="$(mktemp -d "${TMPDIR:-/tmp}/hs-kernel-tests.XXXXXX")" || exit 2
# Keep copies for inspection (best effort), then drop the private directory.
trap 'mkdir -p "$out" && cp -f "$work"/kernels_test* "$out"/ 2>/dev/null; rm -rf "$work"' EXIT
sources=(native/core/kernels.cc native/core/kernels_scalar.cc native/core/kernels_avx2.cc
  native/core/kernels_neon.cc native/core/crc32c.cc native/test/kernels_test.cc)
flags=(-std=c++17 -O2 -Wall -Wextra -Werror)
status=0

# run <label> <command...>: the full test, then the dispatch check with the
# scalar table forced, as the library sees HS_KERNELS only once per process.
run() {
  local label="$1"
  shift
  echo "== $label: $*"
  "$@" || status=1
  echo "== $label: HS_KERNELS=scalar $* --dispatch"
  HS_KERNELS=scalar "$@" --dispatch || status=1
}

if [ "$target" != aarch64 ]; then
  echo "== host ($(uname -m)): g++ ${flags[*]} -> $out/kernels_test"
  g++ "${flags[@]}" -o "$work/kernels_test" "${sources[@]}" || exit 2
  run "host $(uname -m)" "$work/kernels_test"
fi

if [ "$target" != host ]; then
  if ! command -v aarch64-linux-gnu-g++ >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
    echo "aarch64 kernel tests need g++-aarch64-linux-gnu and qemu-user" \
      "(apt-get install -y g++-aarch64-linux-gnu qemu-user; .ci/run installs them)"
    exit 3
  fi
  echo "== aarch64: aarch64-linux-gnu-g++ ${flags[*]} -static -> $out/kernels_test_aarch64"
  aarch64-linux-gnu-g++ "${flags[@]}" -static -o "$work/kernels_test_aarch64" "${sources[@]}" || exit 2
  run "aarch64 under qemu-aarch64" qemu-aarch64 "$work/kernels_test_aarch64"
fi

exit "$status"
