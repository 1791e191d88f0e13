#!/bin/sh
# fork/check.py counts what did not run as skipped, never as passed: a test
# binary or script that exits 77, and a TAP case marked SKIP.  Runs check.py
# on a fake repo and build directory.
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
fail() { echo "FAIL: $*"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/repo/tests/qtest" "$tmp/repo/tests/guest" "$tmp/build/obj/tests/qtest"
for t in skip77 tapskip tappass; do
    : > "$tmp/repo/tests/qtest/$t-test.c"
done
printf '#!/bin/sh\necho "no /dev/kvm here"\nexit 77\n' > "$tmp/build/obj/tests/qtest/skip77-test"
printf '#!/bin/sh\necho "1..1"\necho "ok 1 /a # SKIP no kvm"\n' > "$tmp/build/obj/tests/qtest/tapskip-test"
printf '#!/bin/sh\necho "1..1"\necho "ok 1 /b"\n' > "$tmp/build/obj/tests/qtest/tappass-test"
printf '#!/bin/sh\nexit 77\n' > "$tmp/repo/tests/guest/test-skip.sh"
printf '#!/bin/sh\nexit 0\n' > "$tmp/repo/tests/guest/test-pass.sh"
chmod +x "$tmp/build/obj/tests/qtest/"* "$tmp/repo/tests/guest/"*

out=$(python3 "$repo/fork/check.py" --repo "$tmp/repo" --build-dir "$tmp/build" \
      --only 'qtest: |guest: ' 2>&1) || fail "check.py failed:
$out"
echo "$out"
echo "$out" | grep -q '^SKIP qtest: skip77-test' || fail "exit 77 of a qtest is not a skip"
echo "$out" | grep -q '^SKIP qtest: tapskip-test: /a' || fail "a TAP SKIP is not a skip"
echo "$out" | grep -q '^SKIP guest: test-skip' || fail "exit 77 of a script is not a skip"
echo "$out" | tail -n 1 | grep -qx '2 passed, 0 failed, 3 skipped' ||
    fail "wrong summary: $(echo "$out" | tail -n 1)"
echo PASS
