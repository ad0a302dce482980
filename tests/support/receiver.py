"""A webhook receiver on loopback, as an integrator would run one: a real HTTP server that records
every request and answers as a test scripts it (200 by default; a status with headers; or no answer
at all, holding the connection open). `verified()` checks each request with the reference
`standardwebhooks` package, exactly as a receiver would."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks.webhooks import Webhook


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # wall clock

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    def json(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False  # accept the request, never answer
    drop: bool = False  # close the connection without an answer, as a server going down does


@dataclass
class Receiver:
    port: int = 0
    received: list[Received] = field(default_factory=list)
    script: list[Reply] = field(default_factory=list)  # answers in order, then `default`
    default: Reply = field(default_factory=Reply)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _hanging: list[asyncio.StreamWriter] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/offhours"

    def reply(self, *replies: Reply) -> None:
        self.script.extend(replies)

    async def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        async with asyncio.timeout(timeout):
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return list(self.received)

    def verified(self, secret: str) -> list[dict[str, Any]]:
        """Every request verified with `secret` by standardwebhooks (raises on any that fails)."""
        hook = Webhook(secret)
        return [dict(hook.verify(r.body, r.headers)) for r in self.received]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        request_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.received.append(Received(request_line.split(" ")[1], headers, body, time.time()))
        self.arrived.set()
        reply = self.script.pop(0) if self.script else self.default
        if reply.hang:
            self._hanging.append(writer)
            return
        if reply.drop:
            writer.transport.abort()
            return
        extra = "".join(f"{k}: {v}\r\n" for k, v in reply.headers.items())
        writer.write(
            f"HTTP/1.1 {reply.status} Status\r\nContent-Length: 2\r\nConnection: close\r\n{extra}\r\nok".encode()
        )
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()


@asynccontextmanager
async def running_receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    receiver.port = server.sockets[0].getsockname()[1]
    try:
        yield receiver
    finally:
        for writer in receiver._hanging:
            writer.close()
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 2)
