#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Integration: "mhtest testpmd JOB" supervising a real dpdk-testpmd on virtual devices.

    test-supervisor.py null|kill|vhost|console|watchdog|bad-input
"""

import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testpmd_helpers import Job, Peer, mhtest_bin, require_testpmd, telemetry, telemetry_or_none, wait_for  # noqa: E402


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print(f"ok: {what}")


def test_null():
    """Two net_null ports forwarding; READY only once both ports are started; STATUS and
    mhtest status show rates; SIGTERM stops cleanly with final statistics."""
    job = Job("tpnull", "[Testpmd]\nPorts=null:a null:b\nStatsIntervalSec=1\n")
    try:
        job.start()
        job.wait_ready()
        _, (lst, i0, i1) = telemetry(job.prefix, "/ethdev/list", "/ethdev/info,0", "/ethdev/info,1")
        check(lst == [0, 1] and i0["dev_started"] == 1 and i1["dev_started"] == 1,
              "at READY=1 both ports exist and are started")
        check({i0["name"], i1["name"]} == {"net_null_a", "net_null_b"}, "ports are the configured vdevs")
        wait_for("STATUS with rates", lambda: any("STATUS=null:a: rx" in m and " 0 pps" not in m.split(";")[0]
                                                   for m in (job.poll_notify() or job.messages)))

        def forwarding():
            st = json.loads(subprocess.run([mhtest_bin(), f"--root={job.root}", "status", job.name, "--json"],
                                           check=True, capture_output=True, text=True).stdout)
            t = st.get("testpmd")
            return t and t["state"] == "running" and all(p["link"] == "up" and p["rx_pps"] > 0 and p["tx_pps"] > 0
                                                          for p in t["ports"]) and t
        t = wait_for("mhtest status --json shows forwarding rates", forwarding)
        check([p["port"] for p in t["ports"]] == ["null:a", "null:b"], "status lists the ports in order")
        text = subprocess.run([mhtest_bin(), f"--root={job.root}", "status", job.name],
                              check=True, capture_output=True, text=True).stdout
        check("null:a" in text and "link up" in text and "pps" in text, "mhtest status prints ports, link, rates")
        wait_for("a stats journal entry", lambda: "Port null:b: rx" in job.output())

        rc = job.stop(signal.SIGTERM)
        out = job.output()
        check(rc == 0, f"SIGTERM: supervisor exits 0 (got {rc})")
        check("Final statistics of null:a" in out and "Final statistics of null:b" in out,
              "final statistics of every port are logged")
        check("stopped on request" in out, "the stop is logged")
        check(job.has_message("STOPPING=1"), "STOPPING=1 was sent")
        check(not os.path.exists(f"/var/run/dpdk/{job.prefix}"), "DPDK runtime directory removed")
        check(not os.path.exists(f"{job.run_dir}/testpmd.json"), "status file removed")
    finally:
        job.cleanup()


def test_kill():
    """SIGKILL of testpmd: the supervisor exits non-zero with its status so systemd restarts it."""
    job = Job("tpkill", "[Testpmd]\nPorts=null:a\n")
    try:
        job.start()
        job.wait_ready()
        os.kill(job.testpmd_pid(), signal.SIGKILL)
        rc = job.proc.wait(60)
        check(rc == 128 + 9, f"supervisor exits with testpmd's status 137 (got {rc})")
        check("was killed by signal 9" in job.output(), "the exit is logged")
    finally:
        job.cleanup()


def test_vhost():
    """net_vhost port (server) with a net_virtio_user peer: exactly the 32 packets of the peer's
    tx_first burst come back (macswap), counted on both sides through telemetry."""
    job = Job("tpvh", "[Testpmd]\nPorts=vhost-user:vp\nForwardMode=macswap\nStatsIntervalSec=1\n")
    peer = None
    try:
        job.start()
        sock = f"{job.run_dir}/vp.sock"
        job.wait_ready()
        check(os.path.exists(sock), "the vhost-user socket is under /run/mhtest/JOB/")
        st = os.stat(sock)
        check(st.st_mode & 0o060 == 0o060 and st.st_gid != 0 or st.st_mode & 0o006 == 0o006,
              "QEMU may connect to the socket (group or world read-write)")
        peer = Peer("vu", ["--vdev", f"net_virtio_user0,path={sock},queues=1", "--",
                           "--forward-mode=rxonly", "--tx-first", "--stats-period=1"]).start()

        def counts():
            ours = telemetry_or_none(job.prefix, "/ethdev/stats,0")
            theirs = telemetry_or_none(peer.prefix, "/ethdev/stats,0")
            if not ours or not theirs:
                return None
            return ours[0], theirs[0]
        wait_for("32 packets through the vhost port", lambda: (c := counts()) and c[0]["ipackets"] >= 32
                 and c[1]["ipackets"] >= 32 and c)
        ours, theirs = counts()
        check(theirs["opackets"] == 32, f"peer sent 32 (sent {theirs['opackets']})")
        check(ours["ipackets"] == 32 and ours["opackets"] == 32,
              f"supervised vhost port received and sent 32 ({ours['ipackets']}/{ours['opackets']})")
        check(theirs["ipackets"] == 32, f"peer got 32 back ({theirs['ipackets']})")
        _, (link,) = telemetry(job.prefix, "/ethdev/link_status,0")
        check(link["status"] == "UP", "vhost link is up with a peer")
        wait_for("status file shows link up", lambda: job.status()["ports"][0]["link"] == "up")
        peer.stop()
        check(job.stop() == 0, "clean stop")
        check(not os.path.exists(sock), "the vhost-user socket is gone after stop")
    finally:
        if peer:
            peer.cleanup()
        job.cleanup()


def test_console():
    """testpmd-console attaches to the prompt, runs a command, detaches with Ctrl-] and testpmd
    keeps forwarding."""
    job = Job("tpcon", "[Testpmd]\nPorts=null:a null:b\n")
    con = None
    try:
        job.start()
        job.wait_ready()
        pid = job.testpmd_pid()
        con = subprocess.Popen([mhtest_bin(), f"--root={job.root}", "testpmd-console", job.name],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        os.set_blocking(con.stdout.fileno(), False)
        con.stdin.write(b"show port summary all\r")
        con.stdin.flush()
        seen = bytearray()

        def output():
            try:
                chunk = con.stdout.read()
            except BlockingIOError:
                chunk = None
            if chunk:
                seen.extend(chunk)
            return b"net_null_b" in seen
        wait_for("the prompt's answer on the console", output)
        check(b"Number of available ports: 2" in seen, "console shows testpmd's answer")
        con.stdin.write(b"\x1d")
        con.stdin.flush()
        rc = con.wait(30)
        check(rc == 0, "Ctrl-] detaches with status 0")
        check(job.proc.poll() is None, "supervisor still runs")
        os.kill(pid, 0)

        def opackets():
            return sum(s["opackets"] for s in telemetry(job.prefix, "/ethdev/stats,0", "/ethdev/stats,1")[1])
        before = opackets()
        after = wait_for("forwarding continues", lambda: (n := opackets()) > before and n)
        check(after > before and job.testpmd_pid() == pid and os.path.exists(f"/proc/{pid}"),
              f"testpmd (pid {pid}, not restarted) keeps forwarding after detach: opackets {before} -> {after}")
        check(job.stop() == 0, "clean stop")
    finally:
        if con and con.poll() is None:
            con.kill()
            con.wait()
        job.cleanup()


def test_watchdog():
    """WATCHDOG=1 only while telemetry answers: none while testpmd is frozen (SIGSTOP), again after."""
    job = Job("tpwd", "[Testpmd]\nPorts=null:a\nWatchdogSec=2\n")
    pid = None
    try:
        job.start({"WATCHDOG_USEC": "30000000"})
        job.wait_ready()
        check(job.has_message("WATCHDOG_USEC=2000000"), "WatchdogSec= is handed to systemd")
        wait_for("a watchdog ping", lambda: job.has_message("WATCHDOG=1"))
        pid = job.testpmd_pid()
        os.kill(pid, signal.SIGSTOP)
        wait_for("the supervisor noticing", lambda: "telemetry does not answer" in job.output())
        job.poll_notify()
        job.messages.clear()
        # a frozen testpmd must not be reported alive for a whole watchdog period
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            job.poll_notify()
            time.sleep(0.1)
        check(not any("WATCHDOG=1" in m for m in job.messages), "no WATCHDOG=1 while telemetry is dead")
        resumed = len(job.messages)
        os.kill(pid, signal.SIGCONT)
        pid = None
        wait_for("pings again", lambda: any("WATCHDOG=1" in m for m in job.messages[resumed:]))
        after = job.messages[resumed:]
        ping = next(i for i, m in enumerate(after) if "WATCHDOG=1" in m)
        # STATUS= with rates is sent only after a telemetry round succeeded: the first ping after
        # SIGCONT must come after one, i.e. it was earned by an answer, not by a timer
        check(any(m.startswith("STATUS=null:a: rx") for m in after[:ping]),
              "the first WATCHDOG=1 after SIGCONT follows a STATUS= with rates from a telemetry answer")
        check(telemetry_or_none(job.prefix, "/ethdev/list") == [[0]], "telemetry answers us again too")
        check(job.stop() == 0, "clean stop")
    finally:
        if pid:
            os.kill(pid, signal.SIGCONT)
        job.cleanup()


def test_bad_input():
    """Errors before anything starts: nothing spawned, no DPDK runtime directory."""
    cases = [
        ("unknown port kind", "[Testpmd]\nPorts=tap:x\n", "Ports="),
        ("CPU that does not exist", "[Testpmd]\nPorts=null:a\nCores=0,4095\n", "CPU 4095 does not exist"),
        ("binary missing", "[Testpmd]\nPorts=null:a\nBinary=/nonexistent/dpdk-testpmd\n", "not found"),
        ("vfio port not in [VFIO]", "[Testpmd]\nPorts=vfio:0000:01:00.0\n", "not a device of [VFIO] Devices="),
        ("vfio step not applied", "[VFIO]\nDevices=0000:01:00.0\n[Testpmd]\nPorts=vfio:0000:01:00.0\n",
         "is not bound to vfio-pci"),
        ("guest pinned on the cores", "[Testpmd]\nPorts=null:a\nCores=0-1\n[Guest g]\nKernel=/k\nVCPUPinning=1\n",
         "reserved for something else"),
        ("no free hugepages", "[HugePages]\nPages=2M:4\n[Testpmd]\nPorts=null:a\n", "hugepages, only 0M are free"),
    ]
    for what, conf, expect in cases:
        job = Job("tpbad", conf)
        try:
            job.start()
            rc = job.proc.wait(60)
            out = job.output()
            check(rc != 0 and expect in out, f"{what}: refused with \"{expect}\" (rc {rc})")
            check("Starting " not in out and not os.path.exists(f"/var/run/dpdk/{job.prefix}"),
                  f"{what}: testpmd was not started")
            check(not job.has_message("READY=1"), f"{what}: no READY")
        except AssertionError:
            print(job.output())
            raise
        finally:
            job.cleanup()


TESTS = {
    "null": test_null,
    "kill": test_kill,
    "vhost": test_vhost,
    "console": test_console,
    "watchdog": test_watchdog,
    "bad-input": test_bad_input,
}

if __name__ == "__main__":
    require_testpmd()
    try:
        TESTS[sys.argv[1]]()
    except AssertionError:
        for j in Job.instances:
            print(f"--- output of the supervisor of {j.name}:\n{j.output()}")
        raise
    finally:
        for j in Job.instances:
            if os.path.exists(j.log_path):
                os.unlink(j.log_path)
