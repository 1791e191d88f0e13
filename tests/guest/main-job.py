#!/usr/bin/env python3
"""The main job ('make run'): boot the Debian guest to a shell prompt on
its serial console, use the shell, power it off, and print a verdict.

Unattended: it types into the guest's console itself and ends by itself.
For a console of your own instead: tests/guest/boot.sh --interactive.
Exit status 0 when every check passed, 1 otherwise.
"""

import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROMPT = re.compile(rb"[/~] # ")
KVM_BROKEN = re.compile(rb"KVM internal error|emulation failure")
BOOT_TIMEOUT = 300
STEP_TIMEOUT = 60

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


class Console:
    """The guest's serial console through boot.sh's stdin and stdout."""

    def __init__(self, accel):
        env = dict(os.environ, GUEST_ACCEL=accel)
        self.proc = subprocess.Popen(
            [os.path.join(HERE, "boot.sh"), "--interactive", "--",
             "-device", "virtio-rng-pci,disable-legacy=on"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, env=env)
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

    def close(self, timeout=30):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.proc.returncode


def run(accel):
    """Returns (verdicts, kvm_broken)."""
    start = time.monotonic()
    console = Console(accel)
    verdicts = []
    prompt = console.expect(PROMPT, BOOT_TIMEOUT)
    if not prompt:
        broken = bool(KVM_BROKEN.search(console.out))
        console.proc.kill()
        console.close()
        return [(False, "the guest reached a shell prompt")], broken
    verdicts.append((True, "the guest reached a shell prompt in %.1f s"
                     % (time.monotonic() - start)))

    pos = prompt.end()
    for command, answer, what in CHECKS:
        console.send(command)
        m = console.expect(re.compile(answer), STEP_TIMEOUT, pos)
        verdicts.append((m is not None, what))
        nxt = console.expect(PROMPT, STEP_TIMEOUT, m.end() if m else pos)
        pos = nxt.end() if nxt else len(console.out)

    console.send("poweroff -f")
    rc = console.close()
    verdicts.append((rc == 0, "the guest powered off and QEMU exited cleanly"))
    return verdicts, False


def main():
    accels = [os.environ["GUEST_ACCEL"]] if "GUEST_ACCEL" in os.environ \
        else ["kvm tcg", "tcg"]
    for accel in accels:
        verdicts, kvm_broken = run(accel)
        if not kvm_broken:
            break
        print("\nmain-job: KVM cannot run this guest here; again with TCG\n")

    print("\nmain-job: accelerator %s" % ("TCG" if accel == "tcg" else
                                          "KVM if usable, else TCG"))
    for ok, what in verdicts:
        print("main-job: %s  %s" % ("PASS" if ok else "FAIL", what))
    failed = sum(not ok for ok, _ in verdicts)
    print("%d passed, %d failed" % (len(verdicts) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
