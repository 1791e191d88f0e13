#!/bin/sh
# Guest test: test-fs-data.sh with a 64 MiB DAX window and the guest
# mounting with -o dax=always: /proc/mounts shows it, files read through
# mmap() have the host's bytes, a write through a shared mapping and
# msync() reaches the host file, a file that grows after its first page was
# mapped reads right, and QMP x-query-virtio-shmem counts mappings in the
# window while the guest holds a file mapped.
#
# Environment: as test-fs-data.sh.  Exit: 0 pass, 1 fail, 77 skip.
GUEST_PROG=test-fs-dax FS_DAX=1 exec "$(dirname "$(readlink -f "$0")")/test-fs-data.sh"
