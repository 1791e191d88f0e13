#!/bin/sh
# 'make series' writes a series that applies with git am to a pristine base
# and passes checkpatch (fork/series-check.sh checks both).
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
make -s -C "$repo" series
ls "${BUILD_DIR:-$repo/build}"/series/*.patch
