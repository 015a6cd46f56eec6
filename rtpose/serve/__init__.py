"""``rtpose serve``: one process runs the streams and serves them over HTTP.

- :mod:`rtpose.serve.app`: the aiohttp server (its own thread and event loop): ``/`` (a page with every stream's
  live view and figures), ``/streams`` (the figures, JSON), ``/streams/N/video`` (MJPEG), ``/streams/N/poses``
  (Server-Sent Events of ``rtpose.poses`` records), ``/metrics`` (Prometheus), ``/healthz``, ``/readyz``; a token
  where the address is not this machine's.
- :mod:`rtpose.serve.sink`: the run loop's sink that hands each result to the server.
- :mod:`rtpose.serve.channels`: newest-item hand-over, so that a slow viewer never slows inference nor others.
- :mod:`rtpose.serve.metrics`: the Prometheus collector.
- :mod:`rtpose.serve.page`: the page's HTML and JavaScript (no build step).

Needs the ``serve`` extra (aiohttp, prometheus-client; paho-mqtt for ``--mqtt``).
"""
