#!/bin/sh
# The patch queue: compare, export and publish edits to upstream files.
#
# Usage: fork/patches.sh check [--quiet] SRC PATCHES
#        fork/patches.sh export SRC PATCHES
#        fork/patches.sh series SRC REPO OUTDIR
#
# SRC is the assembled tree, a git repository whose tag v10.2.2 is the
# pristine base.  An upstream edit is made in SRC and committed there (one
# commit per topic, with a real message); 'export' turns those commits into
# PATCHES.  'check' fails, naming the files, when SRC differs from the base
# plus PATCHES.  'series' writes a git-am-able series against the base: one
# commit per group of new files (fork/series-new-files), then the patches.
set -eu
export LC_ALL=C

base=v10.2.2
cmd=$1
shift

die() {
    echo "patches: $*" >&2
    exit 1
}

# Absolute path of a directory, created if missing.
absdir() {
    mkdir -p "$1" && (cd "$1" && pwd)
}

# The tree object of BASE with PATCHES applied, cached by the patches' hash.
expected_tree() {
    src=$1
    patches=$2
    id=$(cat "$patches"/*.patch 2>/dev/null | sha256sum | cut -d' ' -f1)
    cache="$src/.git/fork-expected-tree"
    if [ -f "$cache" ] && [ "$(sed -n 1p "$cache")" = "$id" ]; then
        sed -n 2p "$cache"
        return
    fi
    index=$(mktemp)
    GIT_INDEX_FILE=$index git -C "$src" read-tree "$base"
    for p in "$patches"/*.patch; do
        [ -f "$p" ] || continue
        GIT_INDEX_FILE=$index git -C "$src" apply --cached "$p" ||
            die "${p##*/} does not apply to $base"
    done
    tree=$(GIT_INDEX_FILE=$index git -C "$src" write-tree)
    rm -f "$index"
    printf '%s\n%s\n' "$id" "$tree" > "$cache"
    echo "$tree"
}

check() {
    quiet=no
    if [ "$1" = --quiet ]; then
        quiet=yes
        shift
    fi
    src=$(absdir "$1")
    patches=$(absdir "$2")
    [ -d "$src/.git" ] || die "$src is not assembled; run ./configure"
    tree=$(expected_tree "$src" "$patches")
    # Tracked files that differ from base + patches, committed or not, and
    # new files nobody put in the repo.
    changed=$(git -C "$src" diff --name-only "$tree" --)
    new=$(git -C "$src" ls-files --others --exclude-standard)
    if [ -z "$changed" ] && [ -z "$new" ]; then
        return 0
    fi
    if [ "$quiet" = no ]; then
        if [ -n "$changed" ]; then
            echo "patches-check: upstream files edited in $src but not in patches/:"
            printf '  %s\n' $changed
            echo "Commit them in $src (git -C $src commit), then run 'make patches'."
        fi
        if [ -n "$new" ]; then
            echo "patches-check: new files in $src that the repo does not hold:"
            printf '  %s\n' $new
            echo "Move them into the repo at the same path; they are linked back."
        fi
    fi
    return 1
}

export_patches() {
    src=$(absdir "$1")
    patches=$(absdir "$2")
    dirty=$(git -C "$src" status --porcelain --untracked-files=no)
    if [ -n "$dirty" ]; then
        echo "patches: uncommitted edits in $src:" >&2
        printf '%s\n' "$dirty" >&2
        die "commit them first, one commit per topic with a real message
(git -C $src commit, or --fixup=COMMIT and rebase -i --autosquash $base)"
    fi
    tmp=$(mktemp -d)
    git -C "$src" format-patch -q --zero-commit --no-signature --no-numbered \
        --no-stat -o "$tmp" "$base..HEAD"
    mkdir -p "$patches"
    rm -f "$patches"/*.patch
    if ls "$tmp"/*.patch >/dev/null 2>&1; then
        mv "$tmp"/*.patch "$patches"/
    fi
    rmdir "$tmp"
    cat "$patches"/*.patch 2>/dev/null | sha256sum | cut -d' ' -f1 \
        > "$src/.git/fork-patches-id"
    git -C "$src" rev-parse HEAD > "$src/.git/fork-applied-head"
    echo "patches: $(ls "$patches" | grep -c '\.patch$') patches in $patches"
}

# fork/series-new-files: stanzas separated by a line '%%'.  Each starts with
# 'files: PATH...' (shell globs against the repo's file list), then the
# commit message.  A stanza whose files line is 'downstream: PATH...' names
# files that stay out of the series.  A line 'hook: SUBJECT' right after the
# files line puts the files into the patch of that subject (the one that
# hooks them into the build), so that a reviewer sees a file with its first
# use; the stanza's message then leads that patch's.  Other stanzas become
# commits of their own, before the patch queue.
# add_files LIST: copy the repo files LIST names into the series tree and
# stage them.
add_files() {
    while read -r f; do
        mkdir -p "$work/tree/$(dirname "$f")"
        cp "$repo/$f" "$work/tree/$f"
        git -C "$work/tree" add -f "$f"
    done < "$1"
}

# signoff TREE 'NAME <ADDRESS>': the series' commits since the base get
# that author, and their Signed-off-by lines that identity.  A sign-off is
# a person's Developer's Certificate of Origin: whoever sends the series
# signs it, not the queue's project identity.
signoff() {
    case $2 in
    *[\'\"\\]*) die "SERIES_SIGNOFF: no quotes or backslashes, please" ;;
    *" <"*@*">") ;;
    *) die "SERIES_SIGNOFF must be 'Name <address>', not '$2'" ;;
    esac
    signer_name=${2% <*}
    signer_email=${2##* <}
    signer_email=${signer_email%>}
    msg=$work/signoff-msg
    # -c passes the identity on to the commands of --exec
    git -C "$1" -c user.name="$signer_name" -c user.email="$signer_email" \
        rebase -q "$base" --exec "git log -1 --format=%B | sed '/^Signed-off-by: /d' | git interpret-trailers --trailer 'Signed-off-by: $2' | git stripspace > '$msg' && git commit -q --amend --reset-author -F '$msg'" ||
        die "cannot sign the series as $2"
}

series() {
    src=$(absdir "$1")
    repo=$(absdir "$2")
    out=$(absdir "$3")
    stanzas="$repo/fork/series-new-files"
    work=$(mktemp -d)
    trap 'git -C "$src" worktree remove --force "$work/tree" 2>/dev/null; rm -rf "$work"' EXIT
    git -C "$src" worktree add -q --detach "$work/tree" "$base"

    (cd "$repo" && git ls-files --cached --others --exclude-standard |
     grep -v -x -E -f fork/not-overlaid | sort -u) > "$work/all"
    : > "$work/claimed"
    awk -v dir="$work" '
        /^%%$/ { n++; next }
        { print > (dir "/stanza." sprintf("%03d", n)) }
    ' "$stanzas"
    for st in "$work"/stanza.*; do
        head=$(sed -n 1p "$st")
        kind=${head%%:*}
        globs=${head#*:}
        : > "$work/files"
        while read -r f; do
            for g in $globs; do
                case "$f" in
                $g) echo "$f" >> "$work/files"; break ;;
                esac
            done
        done < "$work/all"
        cat "$work/files" >> "$work/claimed"
        if [ "$kind" = downstream ] || [ ! -s "$work/files" ]; then
            continue
        fi
        hook=$(sed -n '2s/^hook: *//p' "$st")
        if [ -n "$hook" ]; then
            # Kept for the patch of that subject, below.
            printf '%s\n' "$hook" > "$st.hook"
            cp "$work/files" "$st.files"
            sed 1,2d "$st" > "$st.msg"
            continue
        fi
        add_files "$work/files"
        sed 1d "$st" | git -C "$work/tree" commit -q -F -
    done
    unclaimed=$(sort -u "$work/claimed" | comm -13 - "$work/all")
    if [ -n "$unclaimed" ]; then
        echo "patches: these files belong to no stanza of fork/series-new-files:" >&2
        printf '  %s\n' $unclaimed >&2
        exit 1
    fi
    for p in "$repo"/patches/*.patch; do
        [ -f "$p" ] || continue
        git -C "$work/tree" am -q --keep-cr "$p" ||
            die "${p##*/} does not apply on top of the new files"
        subject=$(git -C "$work/tree" log -1 --format=%s)
        : > "$work/msg"
        for h in "$work"/stanza.*.hook; do
            [ -f "$h" ] && [ "$(cat "$h")" = "$subject" ] || continue
            st=${h%.hook}
            add_files "$st.files"
            sed '/^Signed-off-by:/d' "$st.msg" >> "$work/msg"
            rm -f "$h"
        done
        if [ -s "$work/msg" ]; then
            # The new files' messages first, then the hook's own body.
            git -C "$work/tree" log -1 --format=%b >> "$work/msg"
            git -C "$work/tree" commit -q --amend -F "$work/msg"
        fi
    done
    for h in "$work"/stanza.*.hook; do
        [ -f "$h" ] || continue
        die "fork/series-new-files: no patch has the subject '$(cat "$h")'"
    done
    signer_name=
    signer_email=
    if [ -n "${SERIES_SIGNOFF:-}" ]; then
        signoff "$work/tree" "$SERIES_SIGNOFF"
    fi
    rm -rf "$out"
    mkdir -p "$out"
    # The cover letter is from the committer: the signer, if any
    git -C "$work/tree" ${signer_name:+-c "user.name=$signer_name"} \
        ${signer_email:+-c "user.email=$signer_email"} \
        format-patch -q --zero-commit --no-signature \
        --cover-letter -o "$out" "$base..HEAD"
    echo "patches: series of $(ls "$out" | grep -vc '^0000-') patches in $out"
}

case "$cmd" in
check) check "$@" ;;
export) export_patches "$@" ;;
series) series "$@" ;;
*) die "unknown command $cmd" ;;
esac
