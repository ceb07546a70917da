"""The chaos network: hosts in namespaces behind a router, partitions that are silent drops."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from chaos import netns

pytestmark = pytest.mark.integration

OK, WHY = netns.available()

PROBE = """
import socket, sys
kind, host, port, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
if kind == "tcp":
    s = socket.socket(); s.settimeout(timeout)
    try:
        s.connect((host, port)); print("connected")
    except socket.timeout:
        print("timeout")
    except OSError as e:
        print("error", e.errno)
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(timeout)
    s.bind((sys.argv[5], port))
    try:
        s.recvfrom(100); print("received")
    except socket.timeout:
        print("timeout")
"""


@pytest.fixture()
def net() -> Iterator[netns.Network]:
    if not OK:
        pytest.skip(f"network namespaces unavailable: {WHY}")
    n = netns.Network(tag=f"t{os.getpid() % 100000}").create()
    try:
        n.add_host("a")
        n.add_host("b")
        yield n
    finally:
        n.destroy()


def _in(net: netns.Network, host: str, *argv: str, timeout: float = 20) -> str:
    return subprocess.run([*netns.exec_prefix(net.hosts[host].ns), sys.executable, "-c", PROBE, *argv],
                          capture_output=True, text=True, timeout=timeout).stdout.strip()


def _listen(net: netns.Network, host: str, port: int) -> subprocess.Popen[bytes]:
    code = ("import socket,sys,time; s=socket.socket(); s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(); "
            "print('up', flush=True); time.sleep(60)")
    proc = subprocess.Popen([*netns.exec_prefix(net.hosts[host].ns), sys.executable, "-c", code,
                             net.hosts[host].ip, str(port)], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"up"
    return proc


def test_hosts_reach_each_other_and_the_runner_reaches_them(net: netns.Network) -> None:
    server = _listen(net, "b", 9000)
    try:
        assert _in(net, "a", "tcp", net.hosts["b"].ip, "9000", "5") == "connected"
        # the runner's own namespace is routed through the router too
        out = subprocess.run([sys.executable, "-c", PROBE, "tcp", net.hosts["b"].ip, "9000", "5"],
                             capture_output=True, text=True, timeout=20).stdout.strip()
        assert out == "connected"
    finally:
        server.kill()
        server.wait()


def test_a_partition_is_a_silent_drop_and_heals(net: netns.Network) -> None:
    server = _listen(net, "b", 9000)
    try:
        net.cut("a", "b")
        # no RST, no ICMP error, no EINVAL: the connect just never completes
        assert _in(net, "a", "tcp", net.hosts["b"].ip, "9000", "1.5") == "timeout"
        net.heal()
        assert net.dropped() == []
        assert _in(net, "a", "tcp", net.hosts["b"].ip, "9000", "5") == "connected"
    finally:
        server.kill()
        server.wait()


def test_one_way_drop_keeps_the_other_direction(net: netns.Network) -> None:
    net.drop("a", "b")
    send = ("import socket,sys,time\nfor _ in range(40):\n"
            "    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', (sys.argv[1], 9100)); time.sleep(0.05)")

    def deliver(src: str, dst: str) -> str:
        rx = subprocess.Popen([*netns.exec_prefix(net.hosts[dst].ns), sys.executable, "-c", PROBE, "udp",
                               net.hosts[dst].ip, "9100", "3", net.hosts[dst].ip], stdout=subprocess.PIPE, text=True)
        try:
            subprocess.run([*netns.exec_prefix(net.hosts[src].ns), sys.executable, "-c", send, net.hosts[dst].ip],
                           timeout=20, check=True)
            out, _ = rx.communicate(timeout=20)
            return out.strip()
        finally:
            if rx.poll() is None:
                rx.kill()
                rx.wait()

    assert deliver("a", "b") == "timeout"
    assert deliver("b", "a") == "received"
