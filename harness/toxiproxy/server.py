"""The proxy server: Toxiproxy's HTTP API and the proxies it manages, on one asyncio event loop.

Run it as its own process (``python -m harness.toxiproxy --host 127.0.0.1 --port 0``; it prints
``listening HOST:PORT`` once it serves) or, in tests, on a thread of the calling process
(``ToxiproxyServer().start_in_thread()``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from concurrent.futures import Future

from harness.toxiproxy.api import ToxiproxyApi, serve_http

log = logging.getLogger("harness.toxiproxy")


class ToxiproxyServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, seed: int | None = None) -> None:
        self.host = host
        self.port = port
        self.api = ToxiproxyApi(seed)
        self._http: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._http = await asyncio.start_server(
            lambda r, w: serve_http(self.api, r, w), self.host, self.port, reuse_address=True
        )
        self.port = int(self._http.sockets[0].getsockname()[1])
        log.info("toxiproxy API on %s", self.url)

    async def close(self) -> None:
        if self._http is not None:
            self._http.close()
        await self.api.close()

    async def serve_forever(self) -> None:
        await self.start()
        print(f"listening {self.host}:{self.port}", flush=True)
        assert self._http is not None
        await self._http.serve_forever()

    # -- on a thread of this process (tests) ----------------------------------------------------
    def start_in_thread(self) -> ToxiproxyServer:
        started: Future[None] = Future()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:
                started.set_exception(exc)
                return
            started.set_result(None)
            loop.run_forever()
            loop.run_until_complete(self.close())
            # Connections still open (API clients, links) end here rather than at interpreter exit.
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

        self._thread = threading.Thread(target=run, name="toxiproxy", daemon=True)
        self._thread.start()
        started.result(timeout=10)
        return self

    def stop_thread(self) -> None:
        if self._loop is not None and self._thread is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)

    def __enter__(self) -> ToxiproxyServer:
        return self.start_in_thread()

    def __exit__(self, *exc: object) -> None:
        self.stop_thread()
