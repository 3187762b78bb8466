"""A fast local webhook receiver for the benchmarks (the idea of tests/receiver.py, on asyncio).

One process, one event loop: every request is answered after `--delay` seconds without
holding a thread, so 2,000 concurrent 100-ms requests cost nothing but sockets. It records
each request's arrival time (time.time(), when its headers were read), its
`Idempotency-Key` and the item it carries (the webhook payload's `timeslot_id`, or the
bench tasks' `item`), and serves them as JSON:

    POST /hook     record, wait --delay, answer 200
    GET  /records  [[key, arrival, item], ...]
    POST /reset    forget everything recorded

Run: python -m bench.receiver --delay 0.1   (prints "PORT <n>" once listening)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

RECORDS: list[tuple[str, float, object]] = []


def _response(status: str, body: bytes, *, close: bool) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: {'close' if close else 'keep-alive'}\r\n\r\n"
    )
    return head.encode() + body


def _item(body: bytes) -> object:
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    if isinstance(payload, dict):
        return payload.get("timeslot_id", payload.get("item"))
    return None


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            arrived = time.time()
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name:
                    headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length") or 0)
            body = await reader.readexactly(length) if length else b""
            close = headers.get("connection", "").lower() == "close"
            if method == "GET" and path == "/records":
                out = json.dumps(RECORDS).encode()
            elif method == "POST" and path == "/reset":
                RECORDS.clear()
                out = b"{}"
            else:
                RECORDS.append((headers.get("idempotency-key", ""), arrived, _item(body)))
                await asyncio.sleep(delay)
                out = b'{"ok": true}'
            writer.write(_response("200 OK", out, close=close))
            await writer.drain()
            if close:
                break
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def _main(port: int, delay: float) -> None:
    server = await asyncio.start_server(
        lambda r, w: _handle(r, w, delay), "127.0.0.1", port, backlog=4096
    )
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.1)
    args = parser.parse_args()
    try:
        asyncio.run(_main(args.port, args.delay))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
