"""The Toxiproxy-compatible server, driven through the real `toxiproxy-python` client over loopback sockets."""

from __future__ import annotations

import contextlib
import os
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import requests
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists
from toxiproxy.proxy import Proxy

from chaos.toxiproxy import ToxiproxyServer, stop_shared_server, toxiproxy_url

WAIT = 5.0  # socket timeout for data that must arrive: a failure, never a synchronisation delay
ABSENT = 0.3  # how long data that must not arrive is watched for


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while True:
            try:
                data = self.request.recv(65536)
                if not data:
                    return
                self.request.sendall(data)
            except OSError:
                return


class _EchoServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = False
    block_on_close = True  # server_close() joins every handler thread


@pytest.fixture
def echo() -> Iterator[str]:
    server = _EchoServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join(WAIT)
    server.server_close()
    assert not thread.is_alive()


@pytest.fixture
def server(echo: str) -> Iterator[ToxiproxyServer]:
    srv = ToxiproxyServer().start()
    thread = srv._thread
    yield srv
    srv.stop()
    assert thread is not None and not thread.is_alive()


@pytest.fixture
def client(server: ToxiproxyServer) -> Iterator[Toxiproxy]:
    saved = APIConsumer.host, APIConsumer.port
    tp = Toxiproxy()
    tp.update_api_consumer(server.host, server.port)
    yield tp
    APIConsumer.host, APIConsumer.port = saved


@pytest.fixture
def proxy(client: Toxiproxy, echo: str) -> Proxy:
    return client.create(upstream=echo, name="echo")


@pytest.fixture
def connect() -> Iterator[Callable[[Proxy], socket.socket]]:
    socks: list[socket.socket] = []

    def make(p: Proxy) -> socket.socket:
        host, port = p.listen.rsplit(":", 1)
        sock = socket.create_connection((host, int(port)), timeout=WAIT)
        socks.append(sock)
        return sock

    yield make
    for sock in socks:
        sock.close()


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def recv_until_eof(sock: socket.socket) -> bytes:
    buf = b""
    while chunk := sock.recv(65536):
        buf += chunk
    return buf


def roundtrip(sock: socket.socket, data: bytes = b"ping") -> bytes:
    sock.sendall(data)
    return recv_exactly(sock, len(data))


def assert_nothing_arrives(sock: socket.socket) -> None:
    sock.settimeout(ABSENT)
    with pytest.raises(TimeoutError):
        sock.recv(1)
    sock.settimeout(WAIT)


def test_version_and_data_passes(client: Toxiproxy, proxy: Proxy, connect: Callable[[Proxy], socket.socket]) -> None:
    assert client.version() == b"2.5.0"
    assert proxy.listen.startswith("127.0.0.1:") and not proxy.listen.endswith(":0")
    assert proxy.enabled is True
    assert set(client.proxies()) == {"echo"}
    sock = connect(proxy)
    assert roundtrip(sock, b"hello" * 1000) == b"hello" * 1000


def test_proxy_json_shape(server: ToxiproxyServer, proxy: Proxy, echo: str) -> None:
    proxy.add_toxic(type="latency", attributes={"latency": 5})
    body = requests.get(f"{server.url}/proxies/echo", timeout=WAIT).json()
    assert body == {
        "name": "echo",
        "listen": proxy.listen,
        "upstream": echo,
        "enabled": True,
        "toxics": [
            {
                "name": "latency_downstream",
                "type": "latency",
                "stream": "downstream",
                "toxicity": 1.0,
                "attributes": {"latency": 5, "jitter": 0},
            }
        ],
    }


def test_latency_applies_to_a_live_connection(proxy: Proxy, connect: Callable[[Proxy], socket.socket]) -> None:
    sock = connect(proxy)
    assert roundtrip(sock) == b"ping"
    proxy.add_toxic(type="latency", attributes={"latency": 200})
    start = time.monotonic()
    assert roundtrip(sock) == b"ping"
    assert time.monotonic() - start >= 0.2


def test_latency_on_both_streams_adds_up(proxy: Proxy, connect: Callable[[Proxy], socket.socket]) -> None:
    proxy.add_toxic(type="latency", stream="upstream", attributes={"latency": 100})
    proxy.add_toxic(type="latency", stream="downstream", attributes={"latency": 100})
    sock = connect(proxy)
    start = time.monotonic()
    assert roundtrip(sock) == b"ping"
    assert time.monotonic() - start >= 0.2


def test_bandwidth_paces_data(proxy: Proxy, connect: Callable[[Proxy], socket.socket]) -> None:
    proxy.add_toxic(type="bandwidth", attributes={"rate": 10})  # 10 KB/s: 3000 bytes take at least 0.3 s
    sock = connect(proxy)
    start = time.monotonic()
    assert roundtrip(sock, b"b" * 3000) == b"b" * 3000
    assert time.monotonic() - start >= 0.3


def test_zero_toxicity_never_applies(proxy: Proxy, connect: Callable[[Proxy], socket.socket]) -> None:
    proxy.add_toxic(type="timeout", toxicity=0.0, attributes={"timeout": 0})
    assert roundtrip(connect(proxy)) == b"ping"


def test_timeout_stops_data_until_removed(proxy: Proxy, connect: Callable[[Proxy], socket.socket]) -> None:
    sock = connect(proxy)
    assert roundtrip(sock) == b"ping"
    proxy.add_toxic(type="timeout", name="stall", attributes={"timeout": 0})
    sock.sendall(b"held")
    assert_nothing_arrives(sock)
    proxy.destroy_toxic("stall")
    assert recv_exactly(sock, 4) == b"held"  # held, not dropped, like Toxiproxy


def test_timeout_closes_after_its_timeout(proxy: Proxy, connect: Callable[[Proxy], socket.socket]) -> None:
    proxy.add_toxic(type="timeout", stream="upstream", attributes={"timeout": 100})
    sock = connect(proxy)
    sock.sendall(b"never echoed")
    assert recv_until_eof(sock) == b""


def test_limit_data_closes_after_n_bytes(proxy: Proxy, connect: Callable[[Proxy], socket.socket]) -> None:
    proxy.add_toxic(type="limit_data", attributes={"bytes": 10})
    sock = connect(proxy)
    data = bytes(range(100))
    sock.sendall(data)
    assert recv_until_eof(sock) == data[:10]


def test_reset_peer_resets(proxy: Proxy, connect: Callable[[Proxy], socket.socket]) -> None:
    proxy.add_toxic(type="reset_peer", attributes={"timeout": 50})
    sock = connect(proxy)
    with pytest.raises(ConnectionResetError):
        while sock.recv(1):
            pass


def test_slicer_delivers_all_bytes_intact(proxy: Proxy, connect: Callable[[Proxy], socket.socket]) -> None:
    proxy.add_toxic(type="slicer", attributes={"average_size": 16, "size_variation": 8, "delay": 10})
    proxy.add_toxic(type="slicer", stream="upstream", attributes={"average_size": 7, "size_variation": 3})
    data = os.urandom(4096)
    assert roundtrip(connect(proxy), data) == data


def test_disable_closes_connections_and_enable_reopens(proxy: Proxy, connect: Callable[[Proxy], socket.socket]) -> None:
    live = connect(proxy)
    assert roundtrip(live) == b"ping"
    with proxy.down():
        with contextlib.suppress(ConnectionResetError):  # closed either way
            assert recv_until_eof(live) == b""
        with pytest.raises(ConnectionRefusedError):
            connect(proxy)
    assert roundtrip(connect(proxy)) == b"ping"


def test_create_disabled_then_enable(client: Toxiproxy, echo: str, connect: Callable[[Proxy], socket.socket]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    p = client.create(upstream=echo, name="later", listen=f"127.0.0.1:{port}", enabled=False)
    assert p.enabled is False
    with pytest.raises(ConnectionRefusedError):
        connect(p)
    p.enable()
    assert client.get_proxy("later").enabled is True
    assert roundtrip(connect(p)) == b"ping"


def test_delete(client: Toxiproxy, proxy: Proxy, connect: Callable[[Proxy], socket.socket]) -> None:
    assert proxy.destroy() is True
    assert client.get_proxy("echo") is None
    with pytest.raises(ConnectionRefusedError):
        connect(proxy)
    with pytest.raises(NotFound):
        proxy.destroy()


def test_errors(server: ToxiproxyServer, proxy: Proxy, echo: str) -> None:
    url = server.url
    dup = requests.post(f"{url}/proxies", json={"name": "echo", "upstream": echo}, timeout=WAIT)
    assert dup.status_code == 409
    assert dup.json()["error"] == "proxy already exists"
    assert requests.get(f"{url}/proxies/nope", timeout=WAIT).status_code == 404
    assert requests.get(f"{url}/proxies/nope/toxics", timeout=WAIT).status_code == 404
    assert requests.get(f"{url}/proxies/echo/toxics/nope", timeout=WAIT).status_code == 404
    assert requests.delete(f"{url}/proxies/echo/toxics/nope", timeout=WAIT).status_code == 404
    bad = requests.post(f"{url}/proxies", data=b"{not json", timeout=WAIT)
    assert bad.status_code == 400 and "invalid JSON" in bad.json()["error"]
    for body in (
        {"upstream": echo},
        {"name": "x"},
        {"name": "x", "upstream": echo, "listen": "10.1.2.3:0"},
        {"name": "x", "upstream": echo, "enabled": "yes"},
    ):
        resp = requests.post(f"{url}/proxies", json=body, timeout=WAIT)
        assert resp.status_code == 400, body
        assert resp.json()["error"]
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="nonsense")
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="latency", stream="sideways")
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="latency", attributes={"latency": -1})
    proxy.add_toxic(type="latency", name="lag")
    with pytest.raises(ProxyExists):
        proxy.add_toxic(type="latency", name="lag")
    with pytest.raises(NotFound):
        proxy.destroy_toxic("missing")


def test_update_toxic_merges_attributes(server: ToxiproxyServer, proxy: Proxy) -> None:
    proxy.add_toxic(type="latency", name="lag", attributes={"latency": 100, "jitter": 10})
    resp = requests.post(f"{server.url}/proxies/echo/toxics/lag", json={"attributes": {"latency": 300}}, timeout=WAIT)
    assert resp.status_code == 200
    toxic = proxy.get_toxic("lag")
    assert toxic is not None and toxic.attributes == {"latency": 300, "jitter": 10}


def test_reset_removes_toxics_and_reenables(
    client: Toxiproxy, proxy: Proxy, connect: Callable[[Proxy], socket.socket]
) -> None:
    proxy.add_toxic(type="timeout", attributes={"timeout": 0})
    proxy.disable()
    assert client.reset() is True
    assert proxy.toxics() == {}
    assert client.get_proxy("echo").enabled is True
    assert roundtrip(connect(proxy)) == b"ping"


def test_toxiproxy_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOXIPROXY_URL", "http://127.0.0.1:8474")
    assert toxiproxy_url() == "http://127.0.0.1:8474"
    monkeypatch.delenv("TOXIPROXY_URL")
    try:
        url = toxiproxy_url()
        assert toxiproxy_url() == url  # one shared server per process
        assert requests.get(f"{url}/version", timeout=WAIT).text == "2.5.0"
    finally:
        stop_shared_server()
