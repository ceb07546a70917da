"""A TCP proxy on loopback whose link can be cut silently (bytes dropped, connections kept),
which is what a network partition looks like to both ends."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading


class BlackholeProxy:
    def __init__(self, target: tuple[str, int], listen_port: int = 0) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", listen_port))
        self._listener.setblocking(False)
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._cut = threading.Event()
        self._stop = threading.Event()
        self._pairs: dict[socket.socket, socket.socket] = {}
        self._held: list[socket.socket] = []
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._listener, selectors.EVENT_READ)
        self._thread = threading.Thread(target=self._run, daemon=True, name="blackhole-proxy")
        self._thread.start()

    def cut(self) -> None:
        self._cut.set()

    def heal(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for s in [*self._pairs, *self._held]:
            s.close()
        self._listener.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._sel.select(timeout=0.1):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self._listener:
                    self._accept()
                    continue
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    self._drop(sock)
                    continue
                if not self._cut.is_set():  # while cut, bytes vanish silently
                    with contextlib.suppress(OSError):
                        self._pairs[sock].sendall(data)

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        if self._cut.is_set():
            self._held.append(client)  # not closed: a partition does not refuse, it just never answers
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        for a, b in ((client, upstream), (upstream, client)):
            a.setblocking(True)
            self._pairs[a] = b
            self._sel.register(a, selectors.EVENT_READ)

    def _drop(self, sock: socket.socket) -> None:
        other = self._pairs.pop(sock, None)
        for s in (sock, other):
            if s is None:
                continue
            with contextlib.suppress(KeyError, ValueError):
                self._sel.unregister(s)
            self._pairs.pop(s, None)
            s.close()
