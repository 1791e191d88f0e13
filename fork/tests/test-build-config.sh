#!/bin/sh
# The build keeps what users expect of any QEMU build although upstream's
# auto features are off: malloc_trim() (without it, memory freed by
# thousands of shared memory mappings stays in the heap), the tools, and
# contrib/vhost-user-pmem built as one of them.
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
obj=${BUILD_DIR:-$repo/build}/obj
fail() { echo "FAIL: $*"; exit 1; }

grep -q '^#define CONFIG_MALLOC_TRIM' "$obj/config-host.h" ||
    fail "CONFIG_MALLOC_TRIM is not set in $obj/config-host.h"
echo "ok: malloc_trim"
for t in qemu-img qemu-io qemu-nbd contrib/vhost-user-pmem/vhost-user-pmem; do
    [ -x "$obj/$t" ] || fail "$t was not built"
done
echo "ok: the tools and contrib/vhost-user-pmem"
# contrib/vhost-user-pmem obeys have_tools like the other contrib back-ends
awk '/^if have_tools/ { t = 1 } t && /^endif/ { t = 0 }
     /subdir\(.contrib\/vhost-user-pmem.\)/ { found = 1; inside = t }
     END { exit !(found && inside) }' "${BUILD_DIR:-$repo/build}/src/meson.build" ||
    fail "contrib/vhost-user-pmem is not under 'if have_tools'"
echo "ok: contrib/vhost-user-pmem is a tool"
echo PASS
