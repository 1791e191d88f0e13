#!/bin/sh
# fork/deps.sh on a machine it cannot serve says exactly what to do, installs
# nothing and exits 1: another Debian release, a user other than root.
# Fake dpkg-query, id, os-release and apt-get; nothing is installed.
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
fail() { echo "FAIL: $*"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/bin"
# Nothing is installed, meson is absent.
printf '#!/bin/sh\nexit 1\n' > "$tmp/bin/dpkg-query"
printf '#!/bin/sh\nexit 127\n' > "$tmp/bin/meson"
printf '#!/bin/sh\necho "$@" >> %s/apt.log\n' "$tmp" > "$tmp/bin/apt-get"
chmod +x "$tmp/bin/"*
export DEPS_APT_GET=$tmp/bin/apt-get

# deps RELEASE UID: run deps.sh as that user on that release; sets $out.
deps() {
    printf 'ID=debian\nVERSION_CODENAME=%s\n' "$1" > "$tmp/os-release"
    printf '#!/bin/sh\necho %s\n' "$2" > "$tmp/bin/id"
    chmod +x "$tmp/bin/id"
    set +e
    out=$(PATH="$tmp/bin:$PATH" DEPS_OS_RELEASE=$tmp/os-release \
          "$repo/fork/deps.sh" 2>&1)
    status=$?
    set -e
    [ "$status" = 1 ] || fail "$1, uid $2: exit $status, expected 1:
$out"
    [ ! -e "$tmp/apt.log" ] || fail "$1, uid $2: apt-get was run"
}

for release in trixie sid; do
    deps "$release" 0
    for want in "runs debian $release" "Debian 12 (bookworm) only" \
                "libglib2.0-dev" "meson >= 1.5"; do
        echo "$out" | grep -q -F -e "$want" ||
            fail "$release: the message does not say '$want':
$out"
    done
    echo "ok: Debian $release is named, with what to install"
done

deps bookworm 1000
for want in "not root" "qemu-fork.sources" "Suites: bookworm-backports" \
            "apt-get install --no-install-recommends build-essential" \
            "-t bookworm-backports meson python3-pycotap"; do
    echo "$out" | grep -q -F -e "$want" ||
        fail "non-root: the message does not say '$want':
$out"
done
echo "ok: a user other than root is told the commands to run as root"
echo PASS
