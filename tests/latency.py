"""A TCP proxy that delays every byte by a fixed time in each direction: a distant storage account.

On loopback Azurite answers an Append Block in about a millisecond; a real account takes tens.
Each direction of each connection is a delay line: bytes read at time t are sent on at t + delay,
in order, while later bytes keep arriving, so the proxy adds latency without limiting throughput
(as a long network path does). ``delay`` can be changed while it runs. Used by the tests and by
``benchmarks/blob_latency.py``.
"""

from __future__ import annotations

import asyncio
import threading
import time

#: Bytes read per chunk from either side.
_CHUNK = 256 * 1024


class LatencyProxy:
    """Listens on a free loopback port, forwards to ``127.0.0.1:upstream_port`` ``delay`` seconds late."""

    def __init__(self, upstream_port: int, delay: float = 0.015) -> None:
        self.upstream_port = upstream_port
        self.delay = delay
        self.connections = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._serve, name="latency-proxy", daemon=True)

    def __enter__(self) -> LatencyProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the latency proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._connect, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            for writer in self._writers:  # ends every pipe: its reader sees the end of the stream
                writer.close()
            tasks = asyncio.all_tasks(self._loop)
            self._loop.run_until_complete(asyncio.wait(tasks, timeout=5) if tasks else asyncio.sleep(0))
            self._loop.close()

    async def _connect(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            upstream_in, upstream_out = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            client_out.close()
            return
        self._writers.update((client_out, upstream_out))
        try:
            await asyncio.gather(
                self._pipe(client_in, upstream_out),
                self._pipe(upstream_in, client_out),
                return_exceptions=True,
            )
        finally:
            self._writers.difference_update((client_out, upstream_out))

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        """Copy ``source`` to ``sink``, each chunk ``delay`` after it was read; close ``sink`` at the end."""
        line: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        sender = asyncio.ensure_future(self._send(line, sink))
        try:
            while data := await source.read(_CHUNK):
                line.put_nowait((time.monotonic() + self.delay, data))
        except OSError:
            pass
        line.put_nowait((time.monotonic() + self.delay, b""))
        await sender

    @staticmethod
    async def _send(line: asyncio.Queue[tuple[float, bytes]], sink: asyncio.StreamWriter) -> None:
        try:
            while True:
                due, data = await line.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    break
                sink.write(data)
                await sink.drain()
        except OSError:
            pass
        finally:
            sink.close()
