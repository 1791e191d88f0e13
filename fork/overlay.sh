#!/bin/sh
# Link the repository's own files into the assembled tree at their paths.
#
# Usage: fork/overlay.sh REPO SRC
#
# Every file the repository tracks (or holds untracked and not ignored) is
# overlaid, except the fork's own machinery listed in fork/not-overlaid.
# A path the upstream tree already has is refused: the fork never replaces an
# upstream file, it changes one through patches/.  Links left by files the
# repository no longer has are removed.
set -eu
export LC_ALL=C

repo=$1
src=$2
list="$src/.git/fork-overlay"

files=$(cd "$repo" && git ls-files --cached --others --exclude-standard |
        grep -v -x -E -f "$repo/fork/not-overlaid" | sort -u)

# Upstream files: whatever the tree's git tracks (the base plus patches).
wanted=$(mktemp)
trap 'rm -f "$wanted"' EXIT
printf '%s\n' "$files" > "$wanted"
refused=$(git -C "$src" ls-files | sort | comm -12 - "$wanted")
if [ -n "$refused" ]; then
    echo "overlay: refused, these paths exist upstream (change them with a patch):" >&2
    printf '  %s\n' $refused >&2
    exit 1
fi

# Drop links to files that left the repository.
if [ -f "$list" ]; then
    printf '%s\n' "$files" | comm -23 "$list" - | while read -r f; do
        if [ -L "$src/$f" ]; then
            rm -f "$src/$f"
        fi
    done
fi

printf '%s\n' "$files" | while read -r f; do
    [ -n "$f" ] || continue
    target="$repo/$f"
    link="$src/$f"
    if [ -L "$link" ] && [ "$(readlink "$link")" = "$target" ]; then
        continue
    fi
    if [ -e "$link" ] && [ ! -L "$link" ]; then
        echo "overlay: refused, $f exists in the tree and is not a link to the repo" >&2
        exit 1
    fi
    mkdir -p "$(dirname "$link")"
    ln -sfn "$target" "$link"
done

# Keep the links out of the tree's git status.
printf '%s\n' "$files" > "$list"
exclude="$src/.git/info/exclude"
mkdir -p "$(dirname "$exclude")"
{
    echo "# Links to the fork repository (fork/overlay.sh)"
    sed 's|^|/|' "$list"
} > "$exclude"
