#!/bin/sh
# Builds the compiled contid-lxc start (integrations/lxc/contid-lxc.c) with the host's C
# compiler, static, as scripts/build-shim.sh builds contid-runc-fast. Usage: build-lxc-fast.sh [OUT]
# (default: integrations/bin/contid-lxc-fast, beside the sh contid-lxc it hands other cases to).
# Rebuilds only when OUT is missing or older than the source; written under a temporary name
# and renamed, so a start never execs a half-written binary.
set -eu
src=$(cd "$(dirname "$0")/../integrations/lxc" && pwd)/contid-lxc.c
out=${1:-$(cd "${src%/*}/../bin" && pwd)/contid-lxc-fast}
[ -x "$out" ] && [ "$out" -nt "$src" ] && exit 0
mkdir -p "$(dirname "$out")"
${CC:-cc} -O2 -Wall -Wextra -Werror -static -o "$out.tmp.$$" "$src"
mv -f "$out.tmp.$$" "$out"
