#!/bin/sh
# Builds the compiled contid-runc (integrations/docker/contid-runc.c) with the host's C compiler:
# static, so no dynamic loader runs before the runtime. Usage: build-shim.sh [OUT]
# (default: integrations/docker/contid-runc-fast, beside the sh shim it hands other cases to).
# Rebuilds only when OUT is missing or older than the source; written under a temporary name
# and renamed, so a runtime never execs a half-written binary.
set -eu
src=$(cd "$(dirname "$0")/../integrations/docker" && pwd)/contid-runc.c
out=${1:-${src%/*}/contid-runc-fast}
[ -x "$out" ] && [ "$out" -nt "$src" ] && exit 0
mkdir -p "$(dirname "$out")"
${CC:-cc} -O2 -Wall -Wextra -Werror -static -o "$out.tmp.$$" "$src"
mv -f "$out.tmp.$$" "$out"
