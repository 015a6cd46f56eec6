"""The HTTP side of ``rtpose serve``: an aiohttp server on its own thread and event loop.

Endpoints (see :mod:`rtpose.serve`): ``/`` (the page), ``/streams`` (figures, JSON), ``/streams/N/video``
(MJPEG), ``/streams/N/poses`` (Server-Sent Events, ``rtpose.poses`` records), ``/metrics`` (Prometheus),
``/healthz`` and ``/readyz``. With a token every endpoint but ``/healthz`` and ``/readyz`` wants it, as
``Authorization: Bearer TOKEN`` or ``?token=TOKEN`` (compared in constant time).

The server binds before anything slow starts (a busy port is one sentence, before the model loads); the
streams are attached once their sources are open (:meth:`HttpServer.attach`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import hmac
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from rtpose.errors import RtposeError
from rtpose.serve.channels import Channel
from rtpose.serve.metrics import RunMetrics
from rtpose.serve.page import page_html

logger = logging.getLogger("rtpose")

#: Paths anyone may read (a load balancer's probes carry no token).
OPEN_PATHS = frozenset({"/healthz", "/readyz"})
#: Seconds connections get to end when the server stops (a client that never reads is cut then).
SHUTDOWN_S = 1.0


@dataclass
class StreamView:
    """One stream as served: its header (``rtpose.poses``), newest picture (JPEG bytes) and newest record
    (JSON text), and the figures of the page."""

    index: int
    header: dict
    video: Channel
    poses: Channel
    figures: dict = field(default_factory=dict)


class HttpServer:
    """aiohttp on a thread of its own. :meth:`start` binds (or raises one sentence), :meth:`stop` closes every
    connection.

    Args:
        host: address to listen on (127.0.0.1 unless the user says otherwise).
        port: TCP port (0: a free one; :attr:`port` says which).
        token: the secret clients must send, or None (only for loopback addresses; the CLI checks).
    """

    def __init__(self, host: str, port: int, token: str | None = None) -> None:
        self.host, self.port = host, int(port)
        self._token = token.encode("utf-8") if token else None
        self.streams: list[StreamView] = []
        self.metrics: RunMetrics | None = None
        self.readiness: Callable[[], str | None] = lambda: "the model is loading"
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stopped: asyncio.Event | None = None

    # ------------------------------------------------------------------ life
    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self) -> None:
        """Listen on ``host:port``; an address that cannot be bound raises :class:`RtposeError` (one sentence)."""
        bound: concurrent.futures.Future = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._serve, args=(bound,), name="rtpose-http", daemon=True)
        self._thread.start()
        try:
            self.port = bound.result(timeout=30)
        except OSError as exc:
            self._thread.join(5)
            raise RtposeError(_bind_error(self.host, self.port, exc)) from None

    def _serve(self, bound: concurrent.futures.Future) -> None:
        loop = self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main(bound))
        except BaseException as exc:  # a bind error: said by start()
            if not bound.done():
                bound.set_exception(exc)
        finally:
            loop.close()

    async def _main(self, bound: concurrent.futures.Future) -> None:
        self._stopped = asyncio.Event()
        app = web.Application(middlewares=[self._auth])
        app.add_routes([
            web.get("/", self._page), web.get("/streams", self._figures), web.get("/streams/{n}/video", self._video),
            web.get("/streams/{n}/poses", self._poses), web.get("/metrics", self._metrics),
            web.get("/healthz", self._healthz), web.get("/readyz", self._readyz),
        ])
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=SHUTDOWN_S)
        await self._runner.setup()
        try:
            site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
            await site.start()
        except BaseException:
            await self._runner.cleanup()
            raise
        port = self._runner.addresses[0][1] if self._runner.addresses else self.port
        bound.set_result(port)
        await self._stopped.wait()
        for view in self.streams:
            view.video.close()
            view.poses.close()
        await self._runner.cleanup()

    def attach(self, headers: list[dict], metrics: RunMetrics) -> list[StreamView]:
        """Serve these streams (``rtpose.poses`` headers, in stream order) and figures; returns their views."""
        assert self.loop is not None
        self.streams = [StreamView(i, header, Channel(self.loop), Channel(self.loop))
                        for i, header in enumerate(headers)]
        self.metrics = metrics
        return self.streams

    def stop(self, timeout: float = 10.0) -> None:
        """Close every connection and the listening socket (safe to call twice)."""
        if self.loop is None or self._thread is None or not self._thread.is_alive():
            return
        try:
            self.loop.call_soon_threadsafe(self._stopped.set)
        except RuntimeError:
            return
        self._thread.join(timeout)

    # ------------------------------------------------------------------ access
    @web.middleware
    async def _auth(self, request: web.Request, handler):
        if self._token is not None and request.path not in OPEN_PATHS:
            header = request.headers.get("Authorization", "")
            given = header[7:].strip() if header[:7].lower() == "bearer " else request.query.get("token", "")
            if not hmac.compare_digest(given.encode("utf-8"), self._token):
                raise web.HTTPUnauthorized(text="a token is needed: Authorization: Bearer TOKEN, or ?token=TOKEN\n",
                                           headers={"WWW-Authenticate": 'Bearer realm="rtpose"'})
        return await handler(request)

    def _view(self, request: web.Request) -> StreamView:
        text = request.match_info["n"]
        if not text.isdigit() or int(text) >= len(self.streams):
            raise web.HTTPNotFound(text=f"no stream {text} (there are {len(self.streams)})\n")
        return self.streams[int(text)]

    # ------------------------------------------------------------------ endpoints
    async def _page(self, request: web.Request) -> web.Response:
        return web.Response(text=page_html([v.header for v in self.streams]), content_type="text/html")

    async def _figures(self, request: web.Request) -> web.Response:
        body = [{"stream": v.index, "source": v.header["source"], **v.figures,
                 "missed": v.video.missed + v.poses.missed} for v in self.streams]
        return web.json_response({"ready": self.readiness() is None, "streams": body})

    async def _video(self, request: web.Request) -> web.StreamResponse:
        view = self._view(request)
        response = web.StreamResponse(headers={
            "Content-Type": "multipart/x-mixed-replace; boundary=frame", "Cache-Control": "no-store"})
        await response.prepare(request)
        sub = view.video.subscribe()
        try:
            while (jpeg := await view.video.next(sub)) is not None:
                head = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpeg)
                await response.write(head + jpeg + b"\r\n")
        except ConnectionResetError:  # the client went away
            pass
        finally:
            view.video.unsubscribe(sub)
        return response

    async def _poses(self, request: web.Request) -> web.StreamResponse:
        view = self._view(request)
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-store"})
        await response.prepare(request)
        sub = view.poses.subscribe()
        try:
            await response.write(f"event: header\ndata: {json.dumps(view.header)}\n\n".encode())
            while (record := await view.poses.next(sub)) is not None:
                await response.write(f"data: {record}\n\n".encode())
        except ConnectionResetError:  # the client went away
            pass
        finally:
            view.poses.unsubscribe(sub)
        return response

    async def _metrics(self, request: web.Request) -> web.Response:
        if self.metrics is None:
            raise web.HTTPServiceUnavailable(text="the model is loading\n")
        body, content_type = self.metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, request: web.Request) -> web.Response:
        reason = self.readiness()
        if reason is None:
            return web.Response(text="ready\n")
        raise web.HTTPServiceUnavailable(text=f"not ready: {reason}\n")

    def clients(self) -> list[tuple]:
        """The HTTP clients' figures for ``/metrics`` (see :class:`~rtpose.serve.metrics.RunMetrics`)."""
        rows = []
        for v in self.streams:
            for kind, channel in (("video", v.video), ("poses", v.poses)):
                labels = {"stream": str(v.index), "source": v.header["source"], "kind": kind}
                rows.append(("rtpose_http_clients", "Connected viewers", "gauge", labels, channel.subscribers))
                rows.append(("rtpose_http_missed", "Pictures or records viewers missed (slow clients get the newest)",
                             "counter", labels, channel.missed))
        return rows


def _bind_error(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"--port {port}: {host}:{port} is busy (another program listens there); pick another port."
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"--port {port}: not allowed to listen on {host}:{port} (ports below 1024 need privileges)."
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"--host {host}: no network interface of this machine has that address."
    cause = exc.strerror or str(exc)
    return f"--host {host} --port {port}: cannot listen there ({cause})."


__all__ = ["HttpServer", "OPEN_PATHS", "StreamView"]
