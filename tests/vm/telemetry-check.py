#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# telemetry-check.py [--links] SOCKET: asks a running testpmd over its DPDK telemetry socket whether every
# port has link up and forwards: RX and TX counters non-zero and growing. Exit 0 if so.
import json
import socket
import sys
import time


def query(sock, cmd):
    sock.send(cmd.encode())
    return json.loads(sock.recv(16384).decode())


def main():
    links_only = sys.argv[1] == "--links"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(sys.argv[-1])
    print("greeting:", s.recv(1024).decode())
    ports = query(s, "/ethdev/list")["/ethdev/list"]
    print("ports:", ports)
    ok = len(ports) >= 2
    if not ok:
        print("FAIL: expected two ports")
    link_up = {}
    for p in ports:
        link = query(s, "/ethdev/link_status,%d" % p)["/ethdev/link_status"]
        print("port %d link:" % p, link)
        link_up[p] = link.get("status") == "UP"
    if links_only:
        return 0

    def counters():
        r = {}
        for p in ports:
            st = query(s, "/ethdev/stats,%d" % p)["/ethdev/stats"]
            r[p] = (st["ipackets"], st["opackets"], st.get("imissed", 0), st.get("oerrors", 0))
        return r

    first = counters()
    print("stats:", first)
    # Wait for the counters to move (a state, not a duration); bounded so a stuck dataplane fails.
    deadline = time.monotonic() + 120
    while True:
        later = counters()
        grown = all(later[p][0] > first[p][0] and later[p][1] > first[p][1] for p in ports)
        if grown or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    print("stats later:", later)
    for p in ports:
        rx, tx = later[p][0], later[p][1]
        if rx == 0 or tx == 0 or not grown:
            print("FAIL: port %d does not forward (rx %d, tx %d)" % (p, rx, tx))
            ok = False
        else:
            print("ok: port %d forwards: rx %d tx %d packets" % (p, rx, tx))
        # /ethdev/link_status is rte_eth_link_get_nowait(): the e1000 (em) PMD only refreshes it
        # from link-state interrupts, which fail here ("Error enabling MSI-X interrupts": the
        # 82540EM has none), so it can say DOWN on a wire that carries traffic both ways. A port
        # whose RX and TX both keep growing has a working link; a port that does not forward
        # fails above whatever the flag says.
        if not link_up[p]:
            if rx > 0 and tx > 0 and grown:
                print("note: port %d: telemetry's cached link flag says DOWN, but the port receives "
                      "and transmits: link up by traffic" % p)
            else:
                print("FAIL: port %d link is not up" % p)
                ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
