"""The replica's HTTP port (api/http_app.py, on aiohttp) on a real loopback socket: routing, limits
and errors a client can act on.

Protocol-level refusals come from aiohttp's parser and are asserted as aiohttp gives them (still a
4xx, its own plain-text body): a request line that is no HTTP, a header line without a colon, a
negative Content-Length, too many headers and an over-long header line (all 400; the hand-written
server answered 431 for the last two), and an HTTP/1.1 request without a Host header (400, which the
hand-written server accepted)."""

from __future__ import annotations

import asyncio
import json

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families

from wloadctl.api.http import MAX_HEADERS, MAX_LINE_BYTES, HttpRequest, HttpResponse, Route
from wloadctl.api.http_app import HttpServer


async def _echo(request: HttpRequest) -> HttpResponse:
    return HttpResponse(200, {"path": request.path, "body": request.body.decode(), "x": request.header("X-Thing"),
                              "peer": request.peer})


async def _exchange(raw: bytes, server: HttpServer | None = None) -> tuple[int, dict[str, str], bytes]:
    server = server or HttpServer([Route("POST", "/v1/echo/", _echo)], max_body=1024)
    await server.start("127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        # Connection: close on every request we send, so reading to EOF returns one answer.
        writer.write(raw)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
    finally:
        await server.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def run(raw: bytes, server: HttpServer | None = None) -> tuple[int, dict[str, str], dict[str, object]]:
    status, headers, body = asyncio.run(_exchange(raw, server))
    return status, headers, json.loads(body or b"{}")


def status_of(raw: bytes) -> int:
    """The status alone: for refusals aiohttp's parser answers in plain text."""
    return asyncio.run(_exchange(raw))[0]


def test_a_route_gets_the_decoded_path_headers_and_body() -> None:
    status, headers, body = run(b"POST /v1/echo/a%2Fb HTTP/1.1\r\nHost: t\r\nX-Thing: yes\r\nContent-Length: 2\r\n"
                                b"Connection: close\r\n\r\nhi")
    assert status == 200 and body["path"] == "/v1/echo/a/b" and body["body"] == "hi" and body["x"] == "yes"
    assert str(body["peer"]).startswith("127.0.0.1:")
    assert headers["Content-Type"].startswith("application/json") and headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY" and headers["Cache-Control"] == "no-store"


def test_unknown_paths_wrong_methods_and_a_server_still_starting() -> None:
    status, _, body = run(b"POST /elsewhere HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert status == 404 and "/elsewhere" in str(body["error"])
    assert run(b"POST /v1/elsewhere HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")[0] == 404
    status, headers, _ = run(b"GET /v1/echo/x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert status == 405 and headers["Allow"] == "POST"
    status, _, body = run(b"POST /v1/echo/x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", HttpServer([]))
    assert status == 503 and "starting" in str(body["error"])
    status, _, _ = run(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", HttpServer([]))
    assert status == 503


def test_malformed_and_oversized_requests_are_refused_with_the_reason() -> None:
    # aiohttp's parser: 400 for each of these (the hand-written server gave 431 for the last two).
    assert status_of(b"NONSENSE\r\n\r\n") == 400
    assert status_of(b"POST /v1/echo/x HTTP/1.1\r\nConnection: close\r\n\r\n") == 400  # no Host
    assert status_of(b"POST /v1/echo/x HTTP/1.1\r\nHost: t\r\nno colon here\r\n\r\n") == 400
    assert status_of(b"POST /v1/echo/x HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n") == 400
    many = b"".join(b"H%d: v\r\n" % i for i in range(MAX_HEADERS + 100))
    assert status_of(b"POST /v1/echo/x HTTP/1.1\r\nHost: t\r\n" + many + b"\r\n") == 400
    big = b"Big: " + b"v" * (MAX_LINE_BYTES + 10) + b"\r\n"
    assert status_of(b"POST /v1/echo/x HTTP/1.1\r\nHost: t\r\n" + big + b"\r\n") == 400
    # Checked in front of the handlers: the same answers as before, in JSON.
    status, _, body = run(b"POST /v1/echo/x HTTP/1.1\r\nHost: t\r\nA: 1\r\nA: 2\r\nConnection: close\r\n\r\n")
    assert status == 400 and "given twice" in str(body["error"])
    status, _, body = run(b"POST /v1/echo/x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                          b"Connection: close\r\n\r\n0\r\n\r\n")
    assert status == 411 and "Content-Length" in str(body["error"])
    status, _, body = run(b"POST /v1/echo/x HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n"
                          + b"x" * 5000)
    assert status == 413 and "1024 bytes" in str(body["error"])


def test_a_failing_handler_answers_500_without_details() -> None:
    async def boom(_: HttpRequest) -> HttpResponse:
        raise RuntimeError("secret detail")

    status, _, body = run(b"POST /v1/x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                          HttpServer([Route("POST", "/v1/x", boom)]))
    assert status == 500 and "secret detail" not in str(body)


def test_too_many_connections_are_answered_503() -> None:
    async def scenario() -> tuple[int, dict[str, object]]:
        server = HttpServer([Route("POST", "/v1/echo/", _echo)], max_connections=1)
        await server.start("127.0.0.1", 0)
        try:
            _, idle = await asyncio.open_connection("127.0.0.1", server.port)
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"POST /v1/echo/x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            answer = await asyncio.wait_for(reader.read(), 10)
            writer.close()
            idle.close()
        finally:
            await server.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        return int(head.split()[1]), json.loads(body)

    status, body = asyncio.run(scenario())
    assert status == 503 and "too many connections" in str(body["error"])


def test_metrics_are_served_from_the_registry_and_parse() -> None:
    registry = CollectorRegistry()
    Counter("wloadctl_test_things", "things", registry=registry).inc(3)
    server = HttpServer()
    server.activate([], registry)
    scrape = b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    status, headers, body = asyncio.run(_exchange(scrape, server))
    assert status == 200 and headers["Content-Type"] == CONTENT_TYPE_LATEST
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    assert families["wloadctl_test_things"].samples[0].value == 3
