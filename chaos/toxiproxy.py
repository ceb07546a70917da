"""A loopback TCP proxy that speaks enough of the Toxiproxy 2.x HTTP API for `toxiproxy-python` and the
chaos nemeses (slow, lossy and dying links), for hosts where the real Toxiproxy binary cannot be installed.

Everything (API and data path) runs on one asyncio loop in one thread, so proxy and toxic state needs no
locks. Toxic changes apply to live connections, as in Toxiproxy: a nemesis usually degrades a link the
agents already hold open. Set TOXIPROXY_URL to use a real Toxiproxy instead (see `toxiproxy_url`).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ipaddress
import json
import os
import random
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

VERSION = "2.5.0"
_READ_SIZE = 32 * 1024
_MAX_BODY = 1 << 20
_QUEUED_CHUNKS = 16  # per direction; bounded so a blocked (timeout) link pushes back on the sender

# Toxic types with their integer attributes and defaults (Go zero values, like Toxiproxy).
TOXIC_ATTRIBUTES: dict[str, dict[str, int]] = {
    "latency": {"latency": 0, "jitter": 0},
    "bandwidth": {"rate": 0},
    "timeout": {"timeout": 0},
    "reset_peer": {"timeout": 0},
    "slicer": {"average_size": 0, "size_variation": 0, "delay": 0},
    "limit_data": {"bytes": 0},
}
STREAMS = ("upstream", "downstream")


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _parse_hostport(value: object, field_name: str, *, listen: bool) -> tuple[str, int]:
    if not isinstance(value, str) or not value:
        raise ApiError(400, f"missing required field: {field_name}")
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise ApiError(400, f"{field_name}: invalid address {value!r}, expected host:port")
    host = host.strip("[]")
    if listen:
        host = host or "127.0.0.1"
        if not _may_listen(host):
            # This server exists for tests on one machine; never expose a proxy beyond loopback
            # (or the addresses of a test network the operator named with --allow-listen).
            raise ApiError(400, f"listen: {host!r} is not a loopback address")
    elif not host:
        raise ApiError(400, f"{field_name}: missing host in {value!r}")
    return host, int(port_text)


# Non-loopback addresses a standalone server may listen on: a chaos host's address inside its own
# network namespace (see chaos/netns.py), given on the command line.
_ALLOWED_LISTEN_HOSTS: set[str] = set()


def _may_listen(host: str) -> bool:
    return _is_loopback(host) or host in _ALLOWED_LISTEN_HOSTS


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(eq=False)  # identity hashing: live connections keep per-toxic state keyed by the toxic object
class Toxic:
    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": dict(self.attributes),
        }


def _toxicity(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ApiError(400, "toxicity must be a number between 0 and 1")
    return float(value)


def _attributes(toxic_type: str, given: object, base: dict[str, int]) -> dict[str, int]:
    if not isinstance(given, dict):
        raise ApiError(400, "attributes must be an object")
    attrs = dict(base)
    for key, value in given.items():
        if key not in attrs:
            raise ApiError(400, f"unknown attribute {key!r} for toxic type {toxic_type}")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ApiError(400, f"attribute {key!r} must be a non-negative integer")
        attrs[key] = value
    return attrs


def _new_toxic(body: dict[str, Any]) -> Toxic:
    toxic_type = body.get("type")
    if toxic_type not in TOXIC_ATTRIBUTES:
        raise ApiError(400, f"invalid toxic type: {toxic_type!r}")
    stream = body.get("stream", "downstream")
    if stream not in STREAMS:
        raise ApiError(400, "stream was invalid, can be either upstream or downstream")
    name = body.get("name") or f"{toxic_type}_{stream}"
    if not isinstance(name, str):
        raise ApiError(400, "name must be a string")
    return Toxic(
        name=name,
        type=toxic_type,
        stream=stream,
        toxicity=_toxicity(body.get("toxicity", 1.0)),
        attributes=_attributes(toxic_type, body.get("attributes", {}), TOXIC_ATTRIBUTES[toxic_type]),
    )


@dataclass
class _ToxicState:
    applies: bool  # the per-connection toxicity draw
    sent: int = 0  # limit_data: bytes this toxic has let through on this connection
    timer: asyncio.Task[None] | None = None


def _set_rst_on_close(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class _Connection:
    """One accepted client and its upstream connection, with a pump per direction."""

    def __init__(
        self,
        proxy: _Proxy,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    ) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.states: dict[Toxic, _ToxicState] = {}
        self.closed = False
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._eof_done: set[str] = set()

    async def run(self) -> None:
        self.sync_toxics()
        for stream, (reader, _), (_, writer) in (
            ("upstream", self.client, self.upstream),
            ("downstream", self.upstream, self.client),
        ):
            queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(_QUEUED_CHUNKS)
            self._spawn(self._read(reader, queue))
            self._spawn(self._forward(stream, queue, writer))
        # Held open until both directions finish, so the accepted connection has a live owner throughout.
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coro: Any) -> None:
        self._tasks.add(asyncio.get_running_loop().create_task(coro))

    def sync_toxics(self) -> None:
        """Bring per-connection toxic state in line with the proxy's toxics (called on every change)."""
        current = list(self.proxy.toxics.values())
        for toxic in current:
            if toxic in self.states:
                continue
            state = _ToxicState(applies=self.proxy.rng.random() < toxic.toxicity)
            self.states[toxic] = state
            if state.applies and toxic.type in ("timeout", "reset_peer"):
                millis = toxic.attributes["timeout"]
                if toxic.type == "reset_peer" or millis > 0:  # timeout 0 blocks data but never closes
                    reset = toxic.type == "reset_peer"
                    state.timer = asyncio.get_running_loop().create_task(self._close_later(millis / 1000, reset))
        for toxic in [t for t in self.states if t not in current]:
            state = self.states.pop(toxic)
            if state.timer is not None:
                state.timer.cancel()
        # Wake forwarders blocked by a timeout toxic that may just have been removed.
        self._changed.set()
        self._changed = asyncio.Event()

    def _active(self, stream: str, kind: str | None = None) -> list[tuple[Toxic, _ToxicState]]:
        return [
            (t, s)
            for t, s in self.states.items()
            if s.applies and t.stream == stream and (kind is None or t.type == kind)
        ]

    async def _close_later(self, delay: float, reset: bool) -> None:
        await asyncio.sleep(delay)
        self.close(reset=reset)

    async def _read(self, reader: asyncio.StreamReader, queue: asyncio.Queue[tuple[float, bytes]]) -> None:
        # Reading apart from forwarding stamps each chunk with its true arrival time, so latency does not
        # accumulate across chunks (Toxiproxy delays every chunk from when it arrived).
        try:
            while True:
                data = await reader.read(_READ_SIZE)
                await queue.put((time.monotonic(), data))
                if not data:
                    return
        except (OSError, asyncio.IncompleteReadError):
            self.close()

    async def _forward(
        self, stream: str, queue: asyncio.Queue[tuple[float, bytes]], writer: asyncio.StreamWriter
    ) -> None:
        try:
            while True:
                arrival, data = await queue.get()
                while self._active(stream, "timeout"):
                    await self._changed.wait()
                if not data:
                    self._half_close(stream, writer)
                    return
                await self._deliver(stream, arrival, data, writer)
        except OSError:
            self.close()

    def _half_close(self, stream: str, writer: asyncio.StreamWriter) -> None:
        if writer.can_write_eof():
            with contextlib.suppress(OSError):
                writer.write_eof()
        self._eof_done.add(stream)
        if len(self._eof_done) == len(STREAMS):
            self.close()

    async def _deliver(self, stream: str, arrival: float, data: bytes, writer: asyncio.StreamWriter) -> None:
        pieces = [data]
        gap = 0.0
        rate = 0
        for toxic, _ in self._active(stream):
            attrs = toxic.attributes
            if toxic.type == "latency":
                jitter = attrs["jitter"]
                delay = (attrs["latency"] + (self.proxy.rng.uniform(-jitter, jitter) if jitter else 0)) / 1000
                await asyncio.sleep(max(0.0, arrival + delay - time.monotonic()))
            elif toxic.type == "bandwidth" and attrs["rate"] > 0:
                rate = min(rate, attrs["rate"]) if rate else attrs["rate"]
            elif toxic.type == "slicer" and attrs["average_size"] > 0:
                pieces = [s for p in pieces for s in self._slice(p, attrs)]
                gap = attrs["delay"] / 1_000_000
        for index, piece in enumerate(pieces):
            # Bandwidth is paced in 100 ms slices, as Toxiproxy does, so a large chunk does not arrive in one burst.
            step = rate * 100 if rate else len(piece)
            for offset in range(0, len(piece), step):
                part = piece[offset : offset + step]
                if rate:
                    await asyncio.sleep(len(part) / (rate * 1000))
                if not await self._write_limited(stream, part, writer):
                    return
            if gap and index < len(pieces) - 1:
                await asyncio.sleep(gap)

    def _slice(self, data: bytes, attrs: dict[str, int]) -> list[bytes]:
        out: list[bytes] = []
        average, variation = attrs["average_size"], attrs["size_variation"]
        while data:
            size = max(1, average + (self.proxy.rng.randint(-variation, variation) if variation else 0))
            out.append(data[:size])
            data = data[size:]
        return out

    async def _write_limited(self, stream: str, part: bytes, writer: asyncio.StreamWriter) -> bool:
        """Write what the limit_data toxics still allow; close once any limit is reached. False when closed."""
        limits = self._active(stream, "limit_data")
        for toxic, state in limits:
            part = part[: max(0, toxic.attributes["bytes"] - state.sent)]
        if part:
            writer.write(part)
            await writer.drain()
        for _, state in limits:
            state.sent += len(part)
        if any(state.sent >= toxic.attributes["bytes"] for toxic, state in limits):
            self.close()
            return False
        return True

    def close(self, *, reset: bool = False, abort: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        self.proxy.connections.discard(self)
        for state in self.states.values():
            if state.timer is not None and state.timer is not asyncio.current_task():
                state.timer.cancel()
        for _, writer in (self.client, self.upstream):
            if reset:
                _set_rst_on_close(writer)
            if reset or abort:
                writer.transport.abort()
            else:
                writer.close()  # flushes what was already let through, then FIN
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()


@dataclass
class _Proxy:
    name: str
    listen: str
    upstream: str
    enabled: bool
    rng: random.Random
    toxics: dict[str, Toxic] = field(default_factory=dict)  # insertion order is the toxic chain order
    connections: set[_Connection] = field(default_factory=set)
    server: asyncio.Server | None = None

    def to_json(self, *, with_toxics: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
        }
        if with_toxics:
            out["toxics"] = [t.to_json() for t in self.toxics.values()]
        return out

    async def start(self) -> None:
        host, port = _parse_hostport(self.listen, "listen", listen=True)
        try:
            self.server = await asyncio.start_server(self._accept, host, port)
        except OSError as exc:
            raise ApiError(500, f"listen tcp {self.listen}: {exc.strerror or exc}") from exc
        bound = self.server.sockets[0].getsockname()
        # Report the port actually bound, so "127.0.0.1:0" becomes usable and re-enabling reuses it.
        self.listen = f"{host}:{bound[1]}"

    async def stop(self) -> None:
        for conn in list(self.connections):
            conn.close(abort=True)
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    def toxics_changed(self) -> None:
        for conn in list(self.connections):
            conn.sync_toxics()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = _parse_hostport(self.upstream, "upstream", listen=False)
        try:
            upstream = await asyncio.open_connection(host, port)
        except OSError:
            writer.transport.abort()
            return
        if not self.enabled or self.server is None:  # disabled while we were connecting upstream
            writer.transport.abort()
            upstream[1].transport.abort()
            return
        conn = _Connection(self, (reader, writer), upstream)
        self.connections.add(conn)
        # asyncio 3.11 logs an error when a client_connected_cb task ends cancelled (as at shutdown).
        with contextlib.suppress(asyncio.CancelledError):
            await conn.run()


_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    500: "Internal Server Error",
}


class ToxiproxyServer:
    """Toxiproxy-compatible API and proxies on loopback, in a background thread with its own event loop."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, seed: int | None = None) -> None:
        if not _may_listen(host):
            raise ValueError(f"{host!r} is not a loopback address")
        self.host = host
        self.port = port
        self.rng = random.Random(seed)  # seeded runs make toxicity and jitter draws reproducible
        self.proxies: dict[str, _Proxy] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._api: asyncio.Server | None = None
        self._api_writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> ToxiproxyServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> ToxiproxyServer:
        if self._thread is not None:
            raise RuntimeError("already started")
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start_api())
            except BaseException as exc:  # handed to start() in the caller's thread
                errors.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="toxiproxy", daemon=True)
        self._thread.start()
        ready.wait()
        if errors:
            self._thread.join()
            self._thread = self._loop = None
            raise errors[0]
        return self

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        with contextlib.suppress(RuntimeError):
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = self._loop = None

    async def _start_api(self) -> None:
        self._api = await asyncio.start_server(self._serve_api, self.host, self.port)
        self.port = self._api.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        if self._api is not None:
            self._api.close()
        for writer in list(self._api_writers):
            writer.transport.abort()
        for proxy in self.proxies.values():
            await proxy.stop()
        if self._api is not None:
            await self._api.wait_closed()
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # HTTP/1.1, only as much as JSON API clients need: Content-Length bodies and keep-alive.
    async def _serve_api(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._api_writers.add(writer)
        try:
            while True:
                request_line = await reader.readline()
                if not request_line.strip():
                    return
                headers: dict[str, str] = {}
                while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    key, _, value = line.decode("latin-1").partition(":")
                    headers[key.strip().lower()] = value.strip()
                parts = request_line.decode("latin-1").split()
                keep_alive = len(parts) == 3 and parts[2] == "HTTP/1.1" and headers.get("connection") != "close"
                try:
                    if len(parts) != 3:
                        raise ApiError(400, "malformed request line")
                    if "chunked" in headers.get("transfer-encoding", ""):
                        keep_alive = False
                        raise ApiError(400, "chunked request bodies are not supported")
                    length = int(headers.get("content-length", "0") or 0)
                    if length > _MAX_BODY:
                        keep_alive = False
                        raise ApiError(413, "request body too large")
                    body = await reader.readexactly(length) if length else b""
                    status, payload = await self._dispatch(parts[0].upper(), parts[1], body)
                except ApiError as exc:
                    status, payload = exc.status, {"error": exc.message, "status": exc.status}
                except ValueError:
                    status, payload, keep_alive = 400, {"error": "bad Content-Length", "status": 400}, False
                writer.write(self._response(status, payload, keep_alive))
                await writer.drain()
                if not keep_alive:
                    return
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        except asyncio.CancelledError:
            pass  # shutdown; see _Proxy._accept
        finally:
            self._api_writers.discard(writer)
            writer.close()

    @staticmethod
    def _response(status: int, payload: Any, keep_alive: bool) -> bytes:
        if status == 204:
            body, content_type = b"", None
        elif isinstance(payload, str):
            body, content_type = payload.encode(), "text/plain; charset=utf-8"
        else:
            body, content_type = json.dumps(payload).encode() + b"\n", "application/json"
        head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
        if content_type is not None:
            head += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
        head.append("Connection: keep-alive" if keep_alive else "Connection: close")
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body

    async def _dispatch(self, method: str, target: str, raw: bytes) -> tuple[int, Any]:
        path = [unquote(p) for p in urlsplit(target).path.split("/") if p]
        body: Any = None
        if method == "POST" and raw.strip():
            try:
                body = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ApiError(400, f"bad request: invalid JSON: {exc}") from exc
            if not isinstance(body, dict):
                raise ApiError(400, "bad request: expected a JSON object")
        body = body or {}
        route: dict[tuple[str, ...], dict[str, Callable[..., Any]]] = {
            ("version",): {"GET": self._version},
            ("reset",): {"POST": self._reset},
            ("proxies",): {"GET": self._list_proxies, "POST": self._create_proxy},
            ("proxies", "*"): {"GET": self._get_proxy, "POST": self._update_proxy, "DELETE": self._delete_proxy},
            ("proxies", "*", "toxics"): {"GET": self._list_toxics, "POST": self._create_toxic},
            ("proxies", "*", "toxics", "*"): {
                "GET": self._get_toxic,
                "POST": self._update_toxic,
                "DELETE": self._delete_toxic,
            },
        }
        shape = tuple("*" if i % 2 else p for i, p in enumerate(path))
        methods = route.get(shape)
        if methods is None:
            raise ApiError(404, "not found")
        handler = methods.get(method)
        if handler is None:
            raise ApiError(405, f"method {method} not allowed")
        return await handler(*path[1::2], body=body)

    def _proxy(self, name: str) -> _Proxy:
        proxy = self.proxies.get(name)
        if proxy is None:
            raise ApiError(404, "proxy not found")
        return proxy

    def _toxic(self, proxy_name: str, toxic_name: str) -> tuple[_Proxy, Toxic]:
        proxy = self._proxy(proxy_name)
        toxic = proxy.toxics.get(toxic_name)
        if toxic is None:
            raise ApiError(404, "toxic not found")
        return proxy, toxic

    async def _version(self, body: dict[str, Any]) -> tuple[int, Any]:
        return 200, VERSION

    async def _reset(self, body: dict[str, Any]) -> tuple[int, Any]:
        for proxy in self.proxies.values():
            proxy.toxics.clear()
            proxy.toxics_changed()
            if not proxy.enabled:
                await proxy.start()
                proxy.enabled = True
        return 204, None

    async def _list_proxies(self, body: dict[str, Any]) -> tuple[int, Any]:
        return 200, {name: p.to_json() for name, p in self.proxies.items()}

    async def _create_proxy(self, body: dict[str, Any]) -> tuple[int, Any]:
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise ApiError(400, "missing required field: name")
        _parse_hostport(body.get("upstream"), "upstream", listen=False)
        listen = body.get("listen") or "127.0.0.1:0"
        _parse_hostport(listen, "listen", listen=True)
        enabled = body.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ApiError(400, "enabled must be a boolean")
        if name in self.proxies:
            raise ApiError(409, "proxy already exists")
        proxy = _Proxy(name=name, listen=listen, upstream=body["upstream"], enabled=enabled, rng=self.rng)
        if enabled:
            await proxy.start()
        self.proxies[name] = proxy
        return 201, proxy.to_json()

    async def _get_proxy(self, name: str, body: dict[str, Any]) -> tuple[int, Any]:
        return 200, self._proxy(name).to_json()

    async def _update_proxy(self, name: str, body: dict[str, Any]) -> tuple[int, Any]:
        proxy = self._proxy(name)
        listen = body.get("listen", proxy.listen)
        upstream = body.get("upstream", proxy.upstream)
        enabled = body.get("enabled", proxy.enabled)
        _parse_hostport(listen, "listen", listen=True)
        _parse_hostport(upstream, "upstream", listen=False)
        if not isinstance(enabled, bool):
            raise ApiError(400, "enabled must be a boolean")
        if proxy.enabled and (listen != proxy.listen or upstream != proxy.upstream or not enabled):
            await proxy.stop()  # like Toxiproxy: a new address or upstream restarts the proxy
            proxy.enabled = False
        proxy.listen, proxy.upstream = listen, upstream
        if enabled and proxy.server is None:
            await proxy.start()
        proxy.enabled = enabled
        return 200, proxy.to_json()

    async def _delete_proxy(self, name: str, body: dict[str, Any]) -> tuple[int, Any]:
        proxy = self._proxy(name)
        await proxy.stop()
        del self.proxies[name]
        return 204, None

    async def _list_toxics(self, name: str, body: dict[str, Any]) -> tuple[int, Any]:
        return 200, [t.to_json() for t in self._proxy(name).toxics.values()]

    async def _create_toxic(self, name: str, body: dict[str, Any]) -> tuple[int, Any]:
        proxy = self._proxy(name)
        toxic = _new_toxic(body)
        if toxic.name in proxy.toxics:
            raise ApiError(409, "toxic already exists")
        proxy.toxics[toxic.name] = toxic
        proxy.toxics_changed()
        return 200, toxic.to_json()

    async def _get_toxic(self, name: str, toxic_name: str, body: dict[str, Any]) -> tuple[int, Any]:
        return 200, self._toxic(name, toxic_name)[1].to_json()

    async def _update_toxic(self, name: str, toxic_name: str, body: dict[str, Any]) -> tuple[int, Any]:
        proxy, old = self._toxic(name, toxic_name)
        # A new object (same chain position) so live connections re-draw toxicity and restart timers.
        new = Toxic(
            name=old.name,
            type=old.type,
            stream=old.stream,
            toxicity=_toxicity(body.get("toxicity", old.toxicity)),
            attributes=_attributes(old.type, body.get("attributes", {}), old.attributes),
        )
        proxy.toxics[toxic_name] = new
        proxy.toxics_changed()
        return 200, new.to_json()

    async def _delete_toxic(self, name: str, toxic_name: str, body: dict[str, Any]) -> tuple[int, Any]:
        proxy, _ = self._toxic(name, toxic_name)
        del proxy.toxics[toxic_name]
        proxy.toxics_changed()
        return 204, None


_shared: ToxiproxyServer | None = None
_shared_lock = threading.Lock()


def toxiproxy_url() -> str:
    """The Toxiproxy API to use: $TOXIPROXY_URL (a real Toxiproxy) or a process-wide server started here."""
    global _shared
    if url := os.environ.get("TOXIPROXY_URL"):
        return url
    with _shared_lock:
        if _shared is None:
            _shared = ToxiproxyServer().start()
            atexit.unregister(stop_shared_server)  # registered once however often the server is restarted
            atexit.register(stop_shared_server)
        return _shared.url


def stop_shared_server() -> None:
    global _shared
    with _shared_lock:
        server, _shared = _shared, None
    if server is not None:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    """``python -m chaos.toxiproxy --host H --port P``: a standalone server, e.g. inside a chaos namespace."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(prog="python -m chaos.toxiproxy", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="API address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8474, help="API port (default 8474, 0 = any)")
    parser.add_argument("--allow-listen", action="append", default=[], metavar="ADDR",
                        help="a non-loopback address proxies and the API may listen on (repeatable)")
    parser.add_argument("--seed", type=int, default=None, help="seed for toxicity and jitter draws")
    args = parser.parse_args(argv)
    _ALLOWED_LISTEN_HOSTS.update(args.allow_listen)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        server = ToxiproxyServer(args.host, args.port, seed=args.seed).start()
    except (OSError, ValueError) as e:
        print(f"error: {e}", flush=True)
        return 2
    print(f"toxiproxy API on {server.url}", flush=True)
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
