#!/usr/bin/env bash
# Builds the native addon for AWS Lambda (nodejs22.x on Amazon Linux 2023)
# into build/lambda-<arch>/hyperspace_native.node, which infra/native-addon.ts
# ships with the functions:
#
#   build-lambda-addon.sh [--arch x86_64|arm64]   (default x86_64; x64/aarch64 accepted)
#
# arm64 is cross-compiled on an x86_64 machine with g++-aarch64-linux-gnu
# (and x86_64 on an aarch64 one with g++-x86-64-linux-gnu); node-gyp only
# needs Node's headers, which do not depend on the architecture.
#
# libstdc++ is linked statically, so the binary needs no GLIBCXX/CXXABI from
# the runtime, and its symbols are kept local (--exclude-libs), so a
# libstdc++ already in the node process cannot interpose on them. libgcc_s
# stays shared: its static unwinder wants _dl_find_object, glibc 2.35; and a
# static libstdc++ built on glibc ≥ 2.36 wants arc4random, supplied by
# native/lambda/glibc-compat.c. What it needs from glibc is checked below
# with objdump -T against what Amazon Linux 2023 provides (glibc 2.34), as
# are its ELF architecture and its N-API entry point. The addon uses N-API
# only (NAPI_VERSION=8), so the Node version it was built with does not matter.
#
# Next to the addon it leaves addon_check (native/lambda/addon_check.cc),
# linked from the same core object files, which loads the addon and builds
# and searches an index where no Node of that architecture exists (under
# qemu-aarch64 for arm64; test/infra/lambda-addon-arm64.test.ts runs it).
#
# Built in a scratch copy, so the development build in build/ is untouched.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
glibc_max="2.34"

arch="x86_64"
while (($#)); do
  case "$1" in
    --arch) arch="${2:-}"; shift 2 || shift ;;
    --arch=*) arch="${1#--arch=}"; shift ;;
    *) echo "usage: build-lambda-addon.sh [--arch x86_64|arm64]" >&2; exit 2 ;;
  esac
done
# Lambda's name, node-gyp's name, the GNU triplet, objdump's file format.
case "$arch" in
  x86_64 | x64) arch=x86_64 gyp_arch=x64 triplet=x86_64-linux-gnu elf_format=elf64-x86-64 ;;
  arm64 | aarch64) arch=arm64 gyp_arch=arm64 triplet=aarch64-linux-gnu elf_format=elf64-littleaarch64 ;;
  *) echo "build:lambda-addon: --arch must be x86_64 or arm64, got \"$arch\"" >&2; exit 2 ;;
esac
out="$root/build/lambda-$gyp_arch"

if [[ "$(uname -s)" != Linux ]]; then
  echo "build:lambda-addon: needs a linux machine (or container), this is $(uname -s)/$(uname -m)" >&2
  exit 1
fi
# The native compilers when this machine is the target, the cross tools otherwise.
tools=""
[[ "$(uname -m)" == "${triplet%%-*}" ]] || tools="$triplet-"
for tool in gcc g++ objdump; do
  if ! command -v "$tools$tool" >/dev/null; then
    echo "build:lambda-addon: $arch needs $tools$tool (Debian/Ubuntu: sudo apt-get install -y g++-${triplet//_/-} binutils-${triplet//_/-})" >&2
    exit 3
  fi
done
cc="$tools"gcc cxx="$tools"g++ objdump="$tools"objdump

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cp "$root/binding.gyp" "$scratch/"
mkdir -p "$scratch/native"
cp -r "$root/native/core" "$root/native/binding" "$scratch/native/"
ln -s "$root/node_modules" "$scratch/node_modules"

gyp="$(npm prefix -g)/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"
[[ -f "$gyp" ]] || gyp="$(dirname "$(command -v npm)")/../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"
# npm hands its own nodedir (Node headers installed locally, no download) to npm run scripts only.
gyp_args=(rebuild -j "$(nproc)" "--arch=$gyp_arch")
nodedir="${npm_config_nodedir:-$(npm config get nodedir 2>/dev/null || true)}"
[[ -n "$nodedir" && "$nodedir" != "undefined" && "$nodedir" != "null" ]] && gyp_args+=("--nodedir=$nodedir")
"$cc" -O2 -fPIC -c "$root/native/lambda/glibc-compat.c" -o "$scratch/glibc-compat.o"
(
  cd "$scratch"
  CC="$cc" CXX="$cxx" LINK="$cxx" LDFLAGS="-static-libstdc++ -Wl,--exclude-libs,ALL $scratch/glibc-compat.o" \
    node "$gyp" "${gyp_args[@]}" >"$scratch/build.log" 2>&1 || {
    cat "$scratch/build.log" >&2
    exit 1
  }
)
addon="$scratch/build/Release/hyperspace_native.node"

# What the binary is and what it asks of the dynamic loader.
headers="$("$objdump" -f "$addon")"
if ! grep -q "file format $elf_format" <<<"$headers" || ! grep -q 'DYNAMIC' <<<"$headers"; then
  echo "build:lambda-addon: expected an $elf_format shared object, objdump -f says:" "$headers" >&2
  exit 1
fi
needs="$("$objdump" -T "$addon")"
if ! grep -qE '\.text.*[[:space:]]napi_register_module_v1$' <<<"$needs"; then
  echo "build:lambda-addon: the addon does not export napi_register_module_v1, Node cannot load it" >&2
  exit 1
fi
newest_glibc="$(grep -o 'GLIBC_[0-9.]*' <<<"$needs" | sed 's/GLIBC_//' | sort -uV | tail -1)"
if [[ -n "$newest_glibc" && "$(printf '%s\n%s\n' "$newest_glibc" "$glibc_max" | sort -V | tail -1)" != "$glibc_max" ]]; then
  echo "build:lambda-addon: the addon needs glibc $newest_glibc, Amazon Linux 2023 has $glibc_max; symbols:" >&2
  grep -E "GLIBC_$newest_glibc\b" <<<"$needs" >&2
  echo "build it on an older glibc (e.g. docker run --rm -v \"\$PWD\":/src -w /src public.ecr.aws/sam/build-nodejs22.x npm run build:lambda-addon)" >&2
  exit 1
fi
if grep -qE 'GLIBCXX_|CXXABI_' <<<"$needs"; then
  echo "build:lambda-addon: the addon still needs the runtime's libstdc++ (not linked statically):" >&2
  grep -E 'GLIBCXX_|CXXABI_' <<<"$needs" | head >&2
  exit 1
fi
libraries="$("$objdump" -p "$addon" | awk '/NEEDED/ {print $2}' | tr '\n' ' ')"
if grep -q 'libstdc++' <<<"$libraries"; then
  echo "build:lambda-addon: the addon links libstdc++ dynamically: $libraries" >&2
  exit 1
fi

# The checker, from the addon's own core objects (not the binding: it needs
# Node). It exports a stand-in for each N-API function the addon imports, so
# the addon loads without Node; a stand-in that is called aborts.
core_objects=("$scratch"/build/Release/obj.target/hyperspace_native/native/core/*.o)
{
  echo '#include <stdio.h>'
  echo '#include <stdlib.h>'
  awk '/\*UND\*/ && $NF ~ /^(napi|node_api)_/ {print $NF}' <<<"$needs" | sort -u | while read -r name; do
    echo "void $name(void) { fputs(\"addon_check: $name called, there is no Node here\\n\", stderr); abort(); }"
  done
} >"$scratch/napi_stand_ins.c"
"$cc" -O2 -c "$scratch/napi_stand_ins.c" -o "$scratch/napi_stand_ins.o"
"$cxx" -std=c++17 -O2 -pthread -static-libstdc++ -rdynamic -o "$scratch/addon_check" \
  "$root/native/lambda/addon_check.cc" "${core_objects[@]}" "$scratch/napi_stand_ins.o" "$scratch/glibc-compat.o" -ldl

mkdir -p "$out"
cp "$addon" "$out/hyperspace_native.node"
cp "$scratch/addon_check" "$out/addon_check"
echo "build/lambda-$gyp_arch/hyperspace_native.node ($arch, $elf_format): $(stat -c %s "$out/hyperspace_native.node") bytes, exports napi_register_module_v1, needs glibc ≤ ${newest_glibc:-none} (Amazon Linux 2023: $glibc_max), no GLIBCXX/CXXABI; libraries: $libraries"
