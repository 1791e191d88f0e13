#!/usr/bin/env python3
"""Run the fork's tests and print one summary line CI can read.

Suites, in order:
  qtest   the repo's own qtests (tests/qtest/*-test.c), one TAP line a case
  qos     upstream qos-test, restricted to its vhost-user and virtio paths
  guest   tests/guest/test-*.sh: boot a Debian guest (exit 0, 1 or 77=skip)
  tree    fork/tests/test-*.sh: the overlay, the patch queue and the series

Each case prints PASS, FAIL or SKIP; the run ends with
'N passed, N failed, N skipped' and exits non-zero if anything failed.
Logs go to BUILD_DIR/check-logs/.
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import time

QOS_PATHS = re.compile(r"vhost-user|virtio")
TAP_LINE = re.compile(r"^(not ok|ok)\b\s*\d*\s*-?\s*(.*?)(\s+#\s*(SKIP|TODO).*)?$",
                      re.IGNORECASE)


class Results:
    def __init__(self):
        self.passed = 0
        self.failed = []
        self.skipped = 0

    def add(self, status, name, detail=""):
        print(f"{status:4} {name}{'  (' + detail + ')' if detail else ''}",
              flush=True)
        if status == "PASS":
            self.passed += 1
        elif status == "SKIP":
            self.skipped += 1
        else:
            self.failed.append(name)


def kill_session(sid):
    """SIGKILL every process of session sid (a test's own process groups,
    such as timeout(1)'s, included)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid:
                os.kill(int(pid), signal.SIGKILL)
        except (OSError, IndexError, ValueError):
            pass


def run_logged(cmd, log_path, cwd, env, timeout):
    """Run cmd, tee-free: output to log_path.  Returns (rc, output)."""
    start = time.monotonic()
    with open(log_path, "w") as log:
        log.write(f"$ {' '.join(cmd)}\n")
        log.flush()
        # A session of its own, so that a timeout kills what it started too
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            stdout, _ = proc.communicate(timeout=timeout)
            out = stdout.decode(errors="replace")
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            kill_session(proc.pid)
            stdout, _ = proc.communicate()
            out = stdout.decode(errors="replace")
            out += f"\nTIMEOUT after {timeout} s\n"
            rc = -1
        log.write(out)
        log.write(f"\n# rc={rc} in {time.monotonic() - start:.1f} s\n")
    return rc, out


def tap_results(results, suite, binary, rc, out, log_path):
    """Turn a TAP run into results; a crash without a verdict is a failure."""
    seen = 0
    for line in out.splitlines():
        m = TAP_LINE.match(line.strip())
        if not m:
            continue
        seen += 1
        name = f"{suite}: {binary}: {m.group(2)}"
        if m.group(4) and m.group(4).upper() == "SKIP":
            results.add("SKIP", name)
        elif m.group(1) == "ok":
            results.add("PASS", name)
        else:
            results.add("FAIL", name, f"see {log_path}")
    if rc == 77 and "not ok" not in out:
        # Automake's exit status for a test that cannot run here
        results.add("SKIP", f"{suite}: {binary}", f"exit 77, see {log_path}")
    elif rc != 0 and (seen == 0 or "not ok" not in out):
        results.add("FAIL", f"{suite}: {binary}", f"exit {rc}, see {log_path}")
    elif seen == 0:
        results.add("FAIL", f"{suite}: {binary}", f"no test ran, see {log_path}")


def qtest_env(obj_dir):
    env = dict(os.environ)
    env["QTEST_QEMU_BINARY"] = "./qemu-system-x86_64"
    env["PYTHON"] = sys.executable
    env.setdefault("MALLOC_PERTURB_", "93")
    return env


def run_qtests(args, results, only):
    obj = os.path.join(args.build_dir, "obj")
    own = sorted(f[:-2] for f in os.listdir(os.path.join(args.repo, "tests/qtest"))
                 if f.endswith("-test.c"))
    env = qtest_env(obj)
    for binary in own:
        if only and not only.search(f"qtest: {binary}"):
            continue
        log = os.path.join(args.logs, f"qtest-{binary}.log")
        rc, out = run_logged([f"./tests/qtest/{binary}", "--tap", "-k"], log,
                             obj, env, args.timeout)
        tap_results(results, "qtest", binary, rc, out, log)

    if only and not only.search("qos: qos-test"):
        return
    qos = "./tests/qtest/qos-test"
    listing = subprocess.run([qos, "-l"], cwd=obj, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
    paths = [p for p in listing.stdout.decode().split()
             if p.startswith("/") and QOS_PATHS.search(p)]
    if listing.returncode != 0 or not paths:
        results.add("FAIL", "qos: qos-test", "cannot list its vhost-user/virtio paths")
        return
    cmd = [qos, "--tap", "-k"]
    for p in paths:
        cmd += ["-p", p]
    log = os.path.join(args.logs, "qos-test.log")
    rc, out = run_logged(cmd, log, obj, env, args.timeout)
    tap_results(results, "qos", "qos-test", rc, out, log)


def run_scripts(args, results, only, suite, directory):
    path = os.path.join(args.repo, directory)
    if not os.path.isdir(path):
        return
    env = dict(os.environ)
    env["QEMU"] = os.path.join(args.build_dir, "qemu-system-x86_64")
    env["BUILD_DIR"] = args.build_dir
    env["REPO"] = args.repo
    for script in sorted(os.listdir(path)):
        if not (script.startswith("test-") and script.endswith(".sh")):
            continue
        name = f"{suite}: {script[:-3]}"
        if only and not only.search(name):
            continue
        log = os.path.join(args.logs, f"{suite}-{script[:-3]}.log")
        rc, _ = run_logged([os.path.join(path, script)], log, args.repo, env,
                           args.timeout)
        if rc == 0:
            results.add("PASS", name)
        elif rc == 77:
            results.add("SKIP", name, f"see {log}")
        else:
            results.add("FAIL", name, f"exit {rc}, see {log}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", required=True)
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--only", help="regex on test names, e.g. 'guest:'")
    parser.add_argument("--timeout", type=int, default=900,
                        help="seconds for one test binary or script")
    args = parser.parse_args()
    args.repo = os.path.abspath(args.repo)
    args.build_dir = os.path.abspath(args.build_dir)
    args.logs = os.path.join(args.build_dir, "check-logs")
    os.makedirs(args.logs, exist_ok=True)
    only = re.compile(args.only) if args.only else None

    start = time.monotonic()
    results = Results()
    run_qtests(args, results, only)
    run_scripts(args, results, only, "guest", "tests/guest")
    run_scripts(args, results, only, "tree", "fork/tests")

    print(f"\nRan in {time.monotonic() - start:.0f} s; logs in {args.logs}")
    for name in results.failed:
        print(f"failed: {name}")
    print(f"{results.passed} passed, {len(results.failed)} failed, "
          f"{results.skipped} skipped")
    return 1 if results.failed or results.passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
