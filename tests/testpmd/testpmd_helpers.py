# SPDX-License-Identifier: LGPL-2.1-or-later
"""Shared by the testpmd integration tests and the benchmark: a --root tree with a job, the
supervisor (mhtest testpmd JOB) with a notify socket we read, DPDK telemetry queries, and cleanup
of everything a run leaves (processes we started, /var/run/dpdk/<prefix>, sockets)."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77


def skip(reason):
    print(f"SKIP: {reason}")
    sys.exit(SKIP)


def require_testpmd():
    if os.geteuid() != 0:
        skip("needs root (DPDK runtime directory, vhost sockets)")
    if not shutil.which("dpdk-testpmd"):
        skip("dpdk-testpmd is not installed (Debian package dpdk-dev)")


def mhtest_bin():
    b = os.environ.get("MHTEST_BIN")
    if not b:
        skip("MHTEST_BIN not set (run through meson test)")
    return b


def wait_for(what, predicate, timeout=60.0, interval=0.1):
    """Wait on a state; the timeout only bounds a hang, it asserts nothing about speed."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def telemetry(prefix, *commands):
    path = f"/var/run/dpdk/{prefix}/dpdk_telemetry.v2"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(2)
    try:
        s.connect(path)
        greeting = json.loads(s.recv(65536))
        out = []
        for c in commands:
            s.send(c.encode())
            reply = json.loads(s.recv(1 << 20))
            out.append(reply[c.split(",")[0]])
        return greeting, out
    finally:
        s.close()


def telemetry_or_none(prefix, *commands):
    try:
        return telemetry(prefix, *commands)[1]
    except (OSError, ValueError):
        return None


class Job:
    """A --root tree holding jobs.d/NAME.conf, and the supervisor running it."""

    instances = []

    def __init__(self, name, conf):
        self.name = f"{name}{os.getpid()}"
        self.prefix = f"mhtest-{self.name}"
        self.root = tempfile.mkdtemp(prefix="mhtest-tp-")
        os.makedirs(f"{self.root}/etc/mhtest/jobs.d")
        with open(f"{self.root}/etc/mhtest/jobs.d/{self.name}.conf", "w") as f:
            f.write(conf)
        self.run_dir = f"{self.root}/run/mhtest/{self.name}"
        self.proc = None
        self.notify = None
        self.messages = []
        self.log_path = tempfile.mktemp(prefix="mhtest-tp-", suffix=".log")
        Job.instances.append(self)

    def start(self, extra_env=None):
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(f"{self.root}/notify")
        # Read every message as it comes, as systemd does: a full datagram queue
        # (net.unix.max_dgram_qlen, 10 by default) would block the supervisor in sd_notify().
        threading.Thread(target=self._read_notify, daemon=True).start()
        env = dict(os.environ)
        env["NOTIFY_SOCKET"] = f"{self.root}/notify"
        env["SYSTEMD_LOG_TARGET"] = "console"
        env.pop("JOURNAL_STREAM", None)
        env.update(extra_env or {})
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([mhtest_bin(), f"--root={self.root}", "testpmd", self.name],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        return self

    def _read_notify(self):
        while True:
            try:
                m = self.notify.recv(65536).decode()
            except OSError:
                return
            self.messages.append(m)

    def poll_notify(self):
        """Messages are collected by a thread; kept for readability of the tests."""

    def has_message(self, needle):
        self.poll_notify()
        return any(needle in m for m in self.messages)

    def wait_ready(self, timeout=90):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"supervisor exited with {self.proc.returncode} before READY:\n{self.output()}")
            return self.has_message("READY=1")
        wait_for("READY=1", ready, timeout)

    def output(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def status(self):
        with open(f"{self.run_dir}/testpmd.json") as f:
            return json.load(f)

    def testpmd_pid(self):
        return self.status()["testpmd_pid"]

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def cleanup(self):
        # only what this test started: our supervisor (it kills its testpmd) and our files
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        try:
            pid = self.status()["testpmd_pid"]
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError, KeyError):
            pass
        if self.notify:
            self.notify.close()
        shutil.rmtree(f"/var/run/dpdk/{self.prefix}", ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)


class Peer:
    """A bare dpdk-testpmd (e.g. the net_virtio_user side of a vhost-user port)."""

    def __init__(self, name, args, cores="0,1"):
        self.prefix = f"mhtest-peer-{name}{os.getpid()}"
        self.log_path = tempfile.mktemp(prefix="mhtest-peer-", suffix=".log")
        self.argv = ["dpdk-testpmd", "-l", cores, "--no-huge", "-m", "1024", "--no-pci",
                     f"--file-prefix={self.prefix}"] + args
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        return self

    def output(self):
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def cleanup(self):
        self.stop()
        shutil.rmtree(f"/var/run/dpdk/{self.prefix}", ignore_errors=True)
        try:
            os.unlink(self.log_path)
        except OSError:
            pass
