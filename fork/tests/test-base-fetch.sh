#!/bin/sh
# fork/fetch-base.sh takes the pinned base from each of its sources, and
# trusts none of them: a file with another sha256 is never used.  Runs on
# fake caches, mirrors and a fake apt-get; the genuine tarball comes from
# the real download cache (configure has put it there).
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
. "$repo/fork/base.env"
fetch=$repo/fork/fetch-base.sh
fail() { echo "FAIL: $*"; exit 1; }

real=""
for d in "${CACHE_DIR:-}" "${QEMU_FORK_CACHE:-}" "$HOME/.cache/qemu-fork" \
         "$(sed -n 's/^CACHE_DIR=//p' "$repo/config.mak" 2>/dev/null)"; do
    if [ -n "$d" ] && [ -f "$d/base/$base_tarball" ]; then
        real=$d/base/$base_tarball
        break
    fi
done
[ -n "$real" ] || { echo "SKIP: no genuine $base_tarball in the cache"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/mirror" "$tmp/badmirror" "$tmp/empty"
printf 'not the base\n' > "$tmp/bad.tar.xz"
cp "$tmp/bad.tar.xz" "$tmp/badmirror/$base_tarball"
ln -s "$real" "$tmp/mirror/$base_tarball"

# apt-get stand-ins: one that fails, one that "downloads" the real file,
# one that downloads a corrupt one.  Each logs that it was called.
cat > "$tmp/bin/apt-fail" <<SH
#!/bin/sh
echo called >> "$tmp/apt.log"; exit 100
SH
cat > "$tmp/bin/apt-good" <<SH
#!/bin/sh
echo called >> "$tmp/apt.log"; cp "$real" ./$base_tarball
SH
cat > "$tmp/bin/apt-bad" <<SH
#!/bin/sh
echo called >> "$tmp/apt.log"; cp "$tmp/bad.tar.xz" ./$base_tarball
SH
chmod +x "$tmp/bin/"*

n=0
# run NAME EXPECTED-STATUS [FILE]: fetch into a fresh cache (holding $seed,
# if set); sets $out and $cache.
run() {
    n=$((n + 1))
    cache=$tmp/cache$n
    rm -f "$tmp/apt.log"
    if [ -n "${seed:-}" ]; then
        mkdir -p "$cache/base"
        cp "$seed" "$cache/base/$base_tarball"
    fi
    set +e
    out=$("$fetch" "$cache" ${3:+"$3"} 2>&1)
    status=$?
    set -e
    [ "$status" = "$2" ] || fail "$1: exit $status, expected $2:
$out"
    if [ "$2" = 0 ]; then
        sum=$(sha256sum "$cache/base/$base_tarball" | cut -d' ' -f1)
        [ "$sum" = "$base_sha256" ] || fail "$1: the cache holds a wrong file"
    else
        [ ! -e "$cache/base/$base_tarball" ] || fail "$1: a file was left in the cache"
    fi
    echo "ok: $1"
}
apt_called() { [ -f "$tmp/apt.log" ]; }

export APT_GET=$tmp/bin/apt-fail
unset QEMU_FORK_BASE_DIR || true

# 1. The cache alone: no other source asked.
mkdir -p "$tmp/cache1/base" && cp "$real" "$tmp/cache1/base/"
rm -f "$tmp/apt.log"
out=$("$fetch" "$tmp/cache1") || fail "cache: $out"
apt_called && fail "cache: apt-get was called although the cache had the base"
[ "$out" = "$tmp/cache1/base/$base_tarball" ] || fail "cache: printed $out"
echo "ok: the download cache"
n=1

# 2. A mirror directory (CI's ../shared/base).
QEMU_FORK_BASE_DIR=$tmp/mirror run "QEMU_FORK_BASE_DIR" 0
apt_called && fail "mirror: apt-get was called although the mirror had the base"

# 3. A corrupt file in the mirror is not used; apt-get is tried next.
export APT_GET=$tmp/bin/apt-good
QEMU_FORK_BASE_DIR=$tmp/badmirror run "corrupt mirror, then apt-get source" 0
echo "$out" | grep -q "ignoring $tmp/badmirror/$base_tarball: sha256" ||
    fail "the corrupt mirror file was not reported: $out"
apt_called || fail "apt-get was not tried after the corrupt mirror"

# 4. --base-tarball=FILE.
export APT_GET=$tmp/bin/apt-fail
run "--base-tarball=FILE" 0 "$real"
apt_called && fail "--base-tarball: apt-get was called"

# 5. A named file that is not the base is an error, not passed over.
run "--base-tarball=corrupt FILE" 1 "$tmp/bad.tar.xz"
echo "$out" | grep -q "is not the pinned base" || fail "no clear error: $out"

# 6. A corrupt cached file is moved aside and replaced from the mirror.
seed=$tmp/bad.tar.xz QEMU_FORK_BASE_DIR=$tmp/mirror run "corrupt cache, then mirror" 0
[ -f "$cache/base/$base_tarball.bad" ] || fail "the corrupt cached file was not kept aside"

# 7. apt-get delivers a corrupt file: refused.
export APT_GET=$tmp/bin/apt-bad
run "corrupt apt-get download" 1

# 8. Nothing has it: the error names the file, its sum and every way.
export APT_GET=$tmp/bin/apt-fail
QEMU_FORK_BASE_DIR=$tmp/empty run "no source" 1
for want in "$base_tarball" "$base_sha256" "--base-tarball=FILE" \
            "QEMU_FORK_BASE_DIR" "make deps"; do
    echo "$out" | grep -q -e "$want" || fail "the error does not say '$want':
$out"
done

# 9. .ci/run points QEMU_FORK_BASE_DIR at ../shared/base when it exists.
grep -q 'QEMU_FORK_BASE_DIR=.*shared/base' "$repo/.ci/run" ||
    fail ".ci/run does not use ../shared/base"
echo PASS
