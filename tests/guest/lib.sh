# Shared settings for the guest-boot tests; sourced, not run.
#
# Sets GUEST_SRC (this directory), REPO, CACHE_DIR, GUEST_DIR (the guest
# images in the cache), QEMU and GUEST_LOG_DIR.  The environment wins over
# config.mak, which wins over the defaults ./configure would pick.

# Resolve links: the overlay links these files into build/src/tests/guest,
# and config.mak lives next to the real repository.
GUEST_SRC=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
REPO=${REPO:-$(cd "$GUEST_SRC/../.." && pwd)}

# One key of config.mak, empty when absent.
guest_config() {
    [ -f "$REPO/config.mak" ] || return 0
    sed -n "s/^$1=//p" "$REPO/config.mak" | tail -n 1
}

if [ -z "${CACHE_DIR:-}" ]; then
    CACHE_DIR=$(guest_config CACHE_DIR)
    CACHE_DIR=${CACHE_DIR:-${QEMU_FORK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qemu-fork}}
fi
GUEST_DIR=$CACHE_DIR/guest

if [ -z "${BUILD_DIR:-}" ]; then
    BUILD_DIR=$(guest_config BUILD_DIR)
    BUILD_DIR=${BUILD_DIR:-$REPO/build}
fi
QEMU=${QEMU:-$BUILD_DIR/qemu-system-x86_64}
# Serial logs: next to the build when there is one, else in the cache.
if [ -z "${GUEST_LOG_DIR:-}" ]; then
    if [ -d "$BUILD_DIR" ]; then
        GUEST_LOG_DIR=$BUILD_DIR/guest-logs
    else
        GUEST_LOG_DIR=$GUEST_DIR/logs
    fi
fi

# Modules every guest gets (the cloud kernel builds in virtio-pci, NVMe,
# virtio-console and virtiofs, not these): virtio-pmem and what exposes it
# as /dev/pmemN (nd_pmem) or through BTT (nd_btt), and the virtio drivers of
# the devices vhost-user backs.  Their dependencies come along.
GUEST_MODULES_DEFAULT="virtio_pmem nd_pmem nd_btt virtio_blk virtio_net
  virtio_scsi virtio_rng virtio_balloon virtio_input vmw_vsock_virtio_transport"

# Exit codes shared with the runner (fork/check.py).
GUEST_PASS=0
GUEST_FAIL=1
GUEST_SKIP=77

guest_msg() {
    echo "${GUEST_PROG:-guest}: $*"
}

guest_err() {
    echo "${GUEST_PROG:-guest}: $*" >&2
}

# Print why and skip: the test cannot run here (no emulator, no images).
guest_skip() {
    guest_err "SKIP: $*"
    exit $GUEST_SKIP
}

guest_die() {
    guest_err "error: $*"
    exit $GUEST_FAIL
}

# Missing host tools mean this machine cannot run guests: skip, and say
# which package brings them.
guest_need_tools() {
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 || guest_skip "'$t' not found (run fork/deps.sh)"
    done
}

# QMP command $2 (JSON) to the QEMU whose QMP socket is $1; prints the
# reply's "return" as JSON, or the error on stderr and fails
guest_qmp() {
    python3 - "$1" "$2" <<'EOF'
import json
import socket
import sys

sock = socket.socket(socket.AF_UNIX)
sock.settimeout(30)
sock.connect(sys.argv[1])
f = sock.makefile("rw")
json.loads(f.readline())


def command(cmd):
    f.write(json.dumps(cmd) + "\n")
    f.flush()
    while True:
        reply = json.loads(f.readline())
        if "error" in reply:
            sys.exit("QMP error: %s" % reply["error"].get("desc", reply))
        if "return" in reply:
            return reply["return"]


command({"execute": "qmp_capabilities"})
print(json.dumps(command(json.loads(sys.argv[2]))))
EOF
}
