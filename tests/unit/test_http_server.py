"""The replica's small HTTP server (api/http.py) on a real loopback socket: routing, limits and
errors a client can act on."""

from __future__ import annotations

import asyncio
import json

from wloadctl.api.http import MAX_HEADER_BYTES, HttpRequest, HttpResponse, HttpServer, Route


async def _echo(request: HttpRequest) -> HttpResponse:
    return HttpResponse(200, {"path": request.path, "body": request.body.decode(), "x": request.header("X-Thing")})


async def _exchange(raw: bytes, server: HttpServer | None = None) -> tuple[int, dict[str, str], dict[str, object]]:
    server = server or HttpServer([Route("POST", "/v1/echo/", _echo)], max_body=1024)
    await server.start("127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(raw)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
    finally:
        await server.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, json.loads(body or b"{}")


def run(raw: bytes, server: HttpServer | None = None) -> tuple[int, dict[str, str], dict[str, object]]:
    return asyncio.run(_exchange(raw, server))


def test_a_route_gets_the_decoded_path_headers_and_body() -> None:
    status, headers, body = run(b"POST /v1/echo/a%2Fb HTTP/1.1\r\nX-Thing: yes\r\nContent-Length: 2\r\n\r\nhi")
    assert status == 200 and body == {"path": "/v1/echo/a/b", "body": "hi", "x": "yes"}
    assert headers["Content-Type"] == "application/json" and headers["X-Content-Type-Options"] == "nosniff"


def test_unknown_paths_wrong_methods_and_a_server_still_starting() -> None:
    assert run(b"POST /elsewhere HTTP/1.1\r\n\r\n")[0] == 404
    status, headers, _ = run(b"GET /v1/echo/x HTTP/1.1\r\n\r\n")
    assert status == 405 and headers["Allow"] == "POST"
    assert run(b"POST /v1/echo/x HTTP/1.1\r\n\r\n", HttpServer([]))[0] == 503


def test_malformed_and_oversized_requests_are_refused_with_the_reason() -> None:
    assert run(b"NONSENSE\r\n\r\n")[0] == 400
    assert run(b"POST /v1/echo/x HTTP/1.1\r\nno colon here\r\n\r\n")[0] == 400
    assert run(b"POST /v1/echo/x HTTP/1.1\r\nA: 1\r\nA: 2\r\n\r\n")[0] == 400
    status, _, body = run(b"POST /v1/echo/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert status == 411 and "Content-Length" in str(body["error"])
    status, _, body = run(b"POST /v1/echo/x HTTP/1.1\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000)
    assert status == 413 and "1024 bytes" in str(body["error"])
    assert run(b"POST /v1/echo/x HTTP/1.1\r\nContent-Length: -1\r\n\r\n")[0] == 400
    many = b"".join(b"H%d: v\r\n" % i for i in range(200))
    assert run(b"POST /v1/echo/x HTTP/1.1\r\n" + many + b"\r\n")[0] == 431
    assert run(b"POST /v1/echo/x HTTP/1.1\r\nBig: " + b"v" * (MAX_HEADER_BYTES + 10) + b"\r\n\r\n")[0] == 431


def test_a_failing_handler_answers_500_without_details() -> None:
    async def boom(_: HttpRequest) -> HttpResponse:
        raise RuntimeError("secret detail")

    status, _, body = run(b"POST /x HTTP/1.1\r\n\r\n", HttpServer([Route("POST", "/x", boom)]))
    assert status == 500 and "secret detail" not in str(body)
