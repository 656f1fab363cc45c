#!/usr/bin/env bash
# Builds the native addon for AWS Lambda (nodejs22.x on Amazon Linux 2023,
# x86_64) into build/lambda-x64/hyperspace_native.node, which infra/api.ts
# ships with the functions. libstdc++ is linked statically, so the binary
# needs no GLIBCXX/CXXABI from the runtime (libgcc_s stays shared: its static
# unwinder wants _dl_find_object, glibc 2.35; and a static libstdc++ built on
# glibc ≥ 2.36 wants arc4random, supplied by native/lambda/glibc-compat.c);
# what it needs from glibc is checked below against what Amazon Linux 2023
# provides (glibc 2.34). The
# addon uses N-API only (NAPI_VERSION=8), so the Node version it was built
# with does not matter.
#
# Built in a scratch copy, so the development build in build/ is untouched.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/build/lambda-x64"
glibc_max="2.34"

if [[ "$(uname -s)/$(uname -m)" != "Linux/x86_64" ]]; then
  echo "build:lambda-addon: needs a linux x86_64 machine (or container), this is $(uname -s)/$(uname -m)" >&2
  exit 1
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cp "$root/binding.gyp" "$scratch/"
mkdir -p "$scratch/native"
cp -r "$root/native/core" "$root/native/binding" "$scratch/native/"
ln -s "$root/node_modules" "$scratch/node_modules"

gyp="$(npm prefix -g)/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"
[[ -f "$gyp" ]] || gyp="$(dirname "$(command -v npm)")/../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"
# npm hands its own nodedir (Node headers installed locally, no download) to npm run scripts only.
gyp_args=(rebuild -j "$(nproc)")
nodedir="${npm_config_nodedir:-$(npm config get nodedir 2>/dev/null || true)}"
[[ -n "$nodedir" && "$nodedir" != "undefined" && "$nodedir" != "null" ]] && gyp_args+=("--nodedir=$nodedir")
gcc -O2 -fPIC -c "$root/native/lambda/glibc-compat.c" -o "$scratch/glibc-compat.o"
(
  cd "$scratch"
  LDFLAGS="-static-libstdc++ $scratch/glibc-compat.o" node "$gyp" "${gyp_args[@]}" >"$scratch/build.log" 2>&1 || {
    cat "$scratch/build.log" >&2
    exit 1
  }
)
addon="$scratch/build/Release/hyperspace_native.node"

# What the binary asks of the dynamic loader.
needs="$(objdump -T "$addon")"
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
libraries="$(objdump -p "$addon" | awk '/NEEDED/ {print $2}' | tr '\n' ' ')"
if grep -q 'libstdc++' <<<"$libraries"; then
  echo "build:lambda-addon: the addon links libstdc++ dynamically: $libraries" >&2
  exit 1
fi

mkdir -p "$out"
cp "$addon" "$out/hyperspace_native.node"
echo "build/lambda-x64/hyperspace_native.node: $(stat -c %s "$out/hyperspace_native.node") bytes, needs glibc ≤ ${newest_glibc:-none} (Amazon Linux 2023: $glibc_max), no GLIBCXX/CXXABI; libraries: $libraries"
