#!/bin/sh
# 'make series' writes a series that applies with git am to a pristine base
# and passes checkpatch (fork/series-check.sh checks both), and new files
# with a 'hook:' line in fork/series-new-files travel in the patch that
# hooks them into the build, not in a commit of their own.  With
# SERIES_SIGNOFF every patch is from, and signed off by, that identity only.
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
series=${BUILD_DIR:-$repo/build}/series
fail() { echo "FAIL: $*"; exit 1; }

id='Jane Tester <jane.tester@example.org>'
make -s -C "$repo" series SERIES_SIGNOFF="$id"
ls "$series"/*.patch

queue=$(ls "$repo"/patches/*.patch | wc -l)
own=$(awk '/^%%$/ { getline; if ($0 ~ /^files:/) { getline; if ($0 !~ /^hook:/) n++ } }
           END { print n + 0 }' "$repo/fork/series-new-files")
total=$(ls "$series"/*.patch | grep -vc '/0000-cover-letter.patch$')
[ "$total" = $((queue + own)) ] ||
    fail "$total patches in the series, expected $queue from the queue + $own of new files"

# Each hooked stanza's files sit in a patch that also changes upstream files.
awk '/^%%$/ { getline; f = $0; getline; if ($0 ~ /^hook:/) print f }' \
    "$repo/fork/series-new-files" | sed 's/^files: //' |
while read -r globs; do
    first=$(cd "$repo" && for g in $globs; do ls $g; done | head -n 1)
    p=$(grep -l "^diff --git a/$first " "$series"/*.patch) ||
        fail "$first is in no patch of the series"
    grep -q '^index [0-9a-f]*\.\.[0-9a-f]* ' "$p" ||
        fail "${p##*/} adds $first but changes no existing file"
done
grep -q "^From: $id\$" "$series/0000-cover-letter.patch" ||
    fail "the cover letter is not from $id"
for p in $(ls "$series"/*.patch | grep -v '/0000-cover-letter.patch$'); do
    grep -q "^From: $id\$" "$p" || fail "${p##*/} is not from $id"
    [ "$(grep -c '^Signed-off-by: ' "$p")" = 1 ] &&
        grep -q "^Signed-off-by: $id\$" "$p" ||
        fail "${p##*/}: the sign-off is not $id alone: $(grep '^Signed-off-by: ' "$p")"
done
echo PASS
