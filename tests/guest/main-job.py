#!/usr/bin/env python3
"""The main job ('make run'): boot the Debian guest to a shell prompt on
its serial console, use the shell, power it off, and print a verdict.

The guest has a virtio-pmem device served by contrib/vhost-user-pmem
through vhost-user-test-device-pci (virtio id 27): the back-end maps a
file the job filled into the device's VIRTIO Shared Memory Region 0, the
guest's own virtio_pmem driver finds it there and makes /dev/pmem0.  The
guest shows and checks the back-end's content, writes to it, and after
the guest is gone the job finds the write in the back-end's file.

Unattended: it types into the guest's console itself and ends by itself.
For a console of your own instead: tests/guest/boot.sh --interactive.
Exit status 0 when every check passed, 1 otherwise.

Environment: VHOST_USER_PMEM (the back-end), GUEST_ACCEL, and boot.sh's.
"""

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PROMPT = re.compile(rb"[/~] # ")
KVM_BROKEN = re.compile(rb"KVM internal error|emulation failure")
BOOT_TIMEOUT = 300
STEP_TIMEOUT = 60

# Guest RAM, shared with the back-end: boot.sh's -m and the memfd agree
GUEST_MEM = "512M"

# The pmem file: a banner line, then random data; mapped in 4 chunks
MiB = 1024 * 1024
PMEM_SIZE = 16 * MiB
PMEM_CHUNK = 4 * MiB
BANNER = b"Hello from vhost-user-pmem: this line is in the back-end's file.\n"
# Where the guest writes, and what (one 4 KiB block, zero padded)
WRITE_BLOCK = 256                   # 4 KiB blocks: at 1 MiB
GUEST_TEXT = "Hello, back-end: the guest wrote this to /dev/pmem0."

# What the guest is asked, and what its answer must contain
CHECKS = [
    ("echo main-job-$((6 * 7))", rb"main-job-42",
     "the shell runs commands"),
    ("cat /sys/bus/pci/devices/*/vendor /sys/bus/pci/devices/*/device"
     " | tr '\\n' ' '; echo", rb"0x1af4 .*0x1044",
     "the guest sees the virtio-rng-pci device (1af4:1044)"),
    ("uname -r", rb"\d+\.\d+\.\d+.*-cloud-amd64",
     "the Debian cloud kernel runs"),
]


def pmem_checks(md5):
    """The virtio-pmem checks: (command, answer, what)"""
    direct = "dd if=/dev/pmem0 bs=4096 iflag=direct 2>/dev/null"
    return [
        ("for d in /sys/bus/virtio/devices/*; do echo \"pmem-dev"
         " $(cat $d/device) $(basename $(readlink $d/driver))"
         " $(cut -c1 $d/features)\"; done",
         rb"pmem-dev 0x001b virtio_pmem 1",
         "the guest's virtio_pmem driver took the virtio-pmem device (id 27)"
         " and accepted VIRTIO_PMEM_F_SHMEM_REGION"),
        ("for i in $(seq 100); do [ -b /dev/pmem0 ] && break; sleep 0.1;"
         " done; echo pmem0-size $(($(cat /sys/block/pmem0/size) * 512))",
         rb"pmem0-size %d" % PMEM_SIZE,
         "/dev/pmem0 appeared, %d MiB" % (PMEM_SIZE // MiB)),
        ("for d in /sys/bus/virtio/devices/*; do [ $(cat $d/device) ="
         " 0x001b ] && p=$(readlink -f $d/..); done; echo \"region"
         " $(($(cat /sys/bus/nd/devices/region0/resource))) bar2"
         " $(($(sed -n 3p $p/resource | cut -d' ' -f1)))\"",
         rb"region (\d+) bar2 \1\b",
         "the pmem region is shared memory region 0, in BAR 2 of the"
         " PCI function"),
        ("dmesg | grep -i -E 'pmem|nvdimm'", rb"nd_pmem",
         "the kernel log mentions nd_pmem"),
        ("%s count=1 | head -n 1 | tr a-z A-Z" % direct,
         re.escape(BANNER.strip().upper()),
         "the guest shows the back-end's first line"),
        ("%s | md5sum" % direct, md5.encode(),
         "the guest reads the back-end's file (md5 %s)" % md5),
        ("printf '%s\\n' | dd of=/dev/pmem0 bs=4096 seek=%d conv=sync,"
         "notrunc,fsync 2>/dev/null && sync && echo write-status-$?"
         % (GUEST_TEXT, WRITE_BLOCK), rb"write-status-0",
         "the guest writes a line to /dev/pmem0 and syncs"),
        ("%s skip=%d count=1 | head -n 1 | tr a-z A-Z"
         % (direct, WRITE_BLOCK),
         re.escape(GUEST_TEXT.upper().encode()),
         "the guest reads its line back"),
    ]


def find_backend():
    if "VHOST_USER_PMEM" in os.environ:
        return os.environ["VHOST_USER_PMEM"]
    obj = os.path.join(REPO, "build", "obj")
    try:
        with open(os.path.join(REPO, "config.mak")) as f:
            for line in f:
                if line.startswith("OBJ_DIR="):
                    obj = line.split("=", 1)[1].strip()
    except OSError:
        pass
    return os.path.join(obj, "contrib", "vhost-user-pmem", "vhost-user-pmem")


class PmemBackend:
    """contrib/vhost-user-pmem on a file of its own, for one boot."""

    def __init__(self, workdir):
        self.dir = workdir
        self.file = os.path.join(workdir, "pmem.img")
        self.socket = os.path.join(workdir, "pmem.sock")
        self.logfile = os.path.join(workdir, "backend.log")
        self.orig = BANNER + os.urandom(PMEM_SIZE - len(BANNER))
        with open(self.file, "wb") as f:
            f.write(self.orig)
        self.md5 = hashlib.md5(self.orig).hexdigest()
        self.proc = None
        binary = find_backend()
        if not os.access(binary, os.X_OK):
            self.error = "no vhost-user-pmem at %s" % binary
            return
        self.error = None
        with open(self.logfile, "wb") as log:
            self.proc = subprocess.Popen(
                [binary, "--socket-path=" + self.socket,
                 "--file=" + self.file, "--chunk-size=%d" % PMEM_CHUNK],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while "waiting for the front-end" not in self.log():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.error = "vhost-user-pmem did not start: " + self.log()
                return
            time.sleep(0.05)

    def log(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def qemu_args(self):
        return ["-object", "memory-backend-memfd,id=mem,size=%s,share=on"
                % GUEST_MEM,
                "-machine", "memory-backend=mem",
                "-chardev", "socket,id=pmem,path=" + self.socket,
                "-device", "vhost-user-test-device-pci,chardev=pmem,"
                "virtio-id=27,num_vqs=1,config_size=16"]

    def wait(self, timeout=15):
        """The back-end's exit status, or None if it does not end."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def verdicts(self):
        """Judges the back-end and its file once QEMU is gone."""
        out = []
        rc = self.wait()
        log = self.log()
        out.append((rc == 0, "the back-end exited with status 0 when QEMU"
                    " disconnected (status %s)" % rc))
        nchunks = PMEM_SIZE // PMEM_CHUNK
        out.append(("region 0: %d of %d chunks" % (nchunks, nchunks) in log,
                    "the back-end mapped its file into region 0 (%d chunks"
                    " of %d MiB)" % (nchunks, PMEM_CHUNK // MiB)))
        m = re.search(r"served (\d+) flush requests", log)
        flushes = int(m.group(1)) if m else 0
        out.append((flushes > 0, "the back-end served the guest's flush"
                    " requests (%d)" % flushes))
        with open(self.file, "rb") as f:
            data = f.read()
        off = WRITE_BLOCK * 4096
        block = (GUEST_TEXT + "\n").encode().ljust(4096, b"\0")
        out.append((data[off:off + 4096] == block,
                    "after the guest exited, the back-end's file has the"
                    " guest's line at %d MiB" % (off // MiB)))
        out.append((data[:off] == self.orig[:off] and
                    data[off + 4096:] == self.orig[off + 4096:],
                    "the rest of the file is as the job filled it"))
        return out


class Console:
    """The guest's serial console through boot.sh's stdin and stdout."""

    def __init__(self, accel, qemu_args):
        env = dict(os.environ, GUEST_ACCEL=accel, GUEST_MEM=GUEST_MEM)
        # A session of its own: killing it must not leave QEMU behind
        self.proc = subprocess.Popen(
            [os.path.join(HERE, "boot.sh"), "--interactive", "--",
             "-device", "virtio-rng-pci,disable-legacy=on"] + qemu_args,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, env=env, start_new_session=True)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.out = b""

    def expect(self, pattern, timeout, start=0):
        """Wait for pattern in the output after start; return the match."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = pattern.search(self.out, start)
            if m:
                return m
            if KVM_BROKEN.search(self.out):
                return None
            chunk = self.proc.stdout.read()
            if chunk:
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
                self.out += chunk
            elif self.proc.poll() is not None:
                return None
            else:
                time.sleep(0.05)
        return None

    def send(self, line):
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def kill(self):
        """boot.sh and the QEMU it started, whatever their process group"""
        for pid in os.listdir("/proc"):
            try:
                with open("/proc/%s/stat" % pid) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[3]) == self.proc.pid:
                    os.kill(int(pid), signal.SIGKILL)
            except (OSError, IndexError, ValueError):
                pass

    def close(self, timeout=30):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.proc.wait()
        return self.proc.returncode


def run(accel, workdir):
    """Returns (verdicts, kvm_broken)."""
    start = time.monotonic()
    backend = PmemBackend(workdir)
    if backend.error:
        return [(False, "the vhost-user-pmem back-end runs: "
                 + backend.error)], False
    console = Console(accel, backend.qemu_args())
    verdicts = []
    prompt = console.expect(PROMPT, BOOT_TIMEOUT)
    if not prompt:
        broken = bool(KVM_BROKEN.search(console.out))
        console.kill()
        console.close()
        backend.stop()
        return [(False, "the guest reached a shell prompt")], broken
    verdicts.append((True, "the guest reached a shell prompt in %.1f s"
                     % (time.monotonic() - start)))

    pos = prompt.end()
    for command, answer, what in CHECKS + pmem_checks(backend.md5):
        console.send(command)
        m = console.expect(re.compile(answer), STEP_TIMEOUT, pos)
        verdicts.append((m is not None, what))
        nxt = console.expect(PROMPT, STEP_TIMEOUT, m.end() if m else pos)
        pos = nxt.end() if nxt else len(console.out)

    console.send("poweroff -f")
    rc = console.close()
    verdicts.append((rc == 0, "the guest powered off and QEMU exited cleanly"))
    verdicts += backend.verdicts()
    sys.stdout.write("\n--- vhost-user-pmem log ---\n" + backend.log())
    return verdicts, False


def main():
    accels = [os.environ["GUEST_ACCEL"]] if "GUEST_ACCEL" in os.environ \
        else ["kvm tcg", "tcg"]
    workdir = tempfile.mkdtemp(prefix="main-job-")
    try:
        for accel in accels:
            verdicts, kvm_broken = run(accel, workdir)
            if not kvm_broken:
                break
            print("\nmain-job: KVM cannot run this guest here; again with"
                  " TCG\n")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print("\nmain-job: accelerator %s" % ("TCG" if accel == "tcg" else
                                          "KVM if usable, else TCG"))
    for ok, what in verdicts:
        print("main-job: %s  %s" % ("PASS" if ok else "FAIL", what))
    failed = sum(not ok for ok, _ in verdicts)
    print("%d passed, %d failed" % (len(verdicts) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
