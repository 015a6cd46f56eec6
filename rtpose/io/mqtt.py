"""Poses and events to an MQTT broker: :class:`MqttSink` (``rtpose run --mqtt``, ``rtpose serve --mqtt``).

``mqtt://[USER:PASSWORD@]HOST[:PORT]/TOPIC`` (``mqtts://`` for TLS; ports 1883 and 8883 by default). The user
and password come from the URL or from ``RTPOSE_MQTT_USERNAME`` / ``RTPOSE_MQTT_PASSWORD``; they are never
shown (messages name the broker as ``mqtt://HOST:PORT/TOPIC``). Topics, with ``N`` the stream's index:

- ``TOPIC/N/poses``: every frame's record of the ``rtpose.poses`` schema (:func:`rtpose.io.sinks.frame_record`).
- ``TOPIC/N/header``: the stream's header (retained).
- ``TOPIC/N/events``: ``{"event", "stream", "time", ...}`` with ``event`` ``track_appeared`` / ``track_left``
  (``track_id``, ``frame``) and ``stream_lost`` / ``stream_back`` / ``stream_ended``.
- ``TOPIC/status``: ``{"state": "online"}`` (retained); the broker publishes ``{"state": "offline"}`` (the last
  will) if rtpose goes away without a word, and rtpose does when it closes.

The run loop never waits on the broker: :meth:`MqttSink.write` appends to a bounded queue that a thread of
the sink empties. While the broker is down or gone the client reconnects with backoff (1 s up to 16 s), the
queue keeps the newest messages, and what did not fit is dropped, counted (:attr:`MqttSink.dropped`) and said
once per outage.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from rtpose.errors import RtposeError
from rtpose.io.sinks import Sink, frame_record
from rtpose.log import debug, warn
from rtpose.settings import mqtt_credentials
from rtpose.utils.redact import redact_url

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
#: Messages the sink holds while the broker is away (the newest are kept).
QUEUE_SIZE = 1000
#: Messages handed to the MQTT client and not yet acknowledged (QoS 1), at most.
IN_FLIGHT = 50


@dataclass(frozen=True)
class MqttTarget:
    """A parsed ``--mqtt`` URL. ``password`` is never part of :attr:`display` nor of ``repr``."""

    scheme: str
    host: str
    port: int
    topic: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def tls(self) -> bool:
        return self.scheme == "mqtts"

    @property
    def display(self) -> str:
        """The broker and topic, fit to be shown: ``mqtt://HOST:PORT/TOPIC``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}/{self.topic}"


def parse_mqtt_url(url: str, environ: dict | None = None) -> MqttTarget:
    """``mqtt://[USER:PASSWORD@]HOST[:PORT]/TOPIC`` or ``mqtts://…`` as a :class:`MqttTarget`.

    ``environ`` (default ``os.environ``) supplies ``RTPOSE_MQTT_USERNAME`` / ``RTPOSE_MQTT_PASSWORD`` where the
    URL has none. A malformed URL raises :class:`~rtpose.errors.RtposeError` (one sentence, secrets hidden).
    """
    env_user, env_password = mqtt_credentials(environ)
    shown = redact_url(str(url))
    try:
        parts = urlsplit(str(url))
        port = parts.port
        host = parts.hostname
    except ValueError as exc:
        raise RtposeError(f"mqtt={shown!r} is not a valid URL ({exc}); give mqtt://HOST:PORT/TOPIC.") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise RtposeError(f"mqtt={shown!r}: the URL must start with mqtt:// or mqtts:// "
                          "(mqtt://HOST:PORT/TOPIC).")
    if not host:
        raise RtposeError(f"mqtt={shown!r} names no broker host (mqtt://HOST:PORT/TOPIC).")
    topic = unquote(parts.path).strip("/")
    if not topic:
        raise RtposeError(f"mqtt={shown!r} names no topic: add one after the address, e.g. mqtt://{host}:1883/rtpose.")
    if any(c in topic for c in "+#\0") or "//" in topic:
        raise RtposeError(f"mqtt={shown!r}: the topic {topic!r} may not hold +, # or empty levels.")
    if parts.query or parts.fragment:
        raise RtposeError(f"mqtt={shown!r}: the URL takes no ?query or #fragment.")
    username = unquote(parts.username) if parts.username else env_user
    password = unquote(parts.password) if parts.password else env_password
    if password and not username:
        raise RtposeError(f"mqtt={shown!r}: a password needs a user name (in the URL or RTPOSE_MQTT_USERNAME).")
    return MqttTarget(scheme, host, port or DEFAULT_PORTS[scheme], topic, username, password)


def mqtt_url_arg(text: str) -> str:
    """argparse ``type=`` of ``--mqtt``: the URL, checked (the sink parses it again when it opens)."""
    import importlib.util

    try:
        parse_mqtt_url(text)
    except RtposeError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("mqtt=")) from None
    if importlib.util.find_spec("paho") is None:
        raise argparse.ArgumentTypeError("MQTT needs the paho-mqtt package: pip install 'rtpose[serve]'")
    return text


class MqttSink(Sink):
    """Publishes every result's record and the run's events to an MQTT broker (see the module doc).

    Args:
        url: ``mqtt://[USER:PASSWORD@]HOST[:PORT]/TOPIC`` or ``mqtts://…``.
        stream: the :class:`~rtpose.engine.stream.PoseStream` being run (its headers are published, and its
            sources are watched for outages); or give ``headers`` and ``sources``.
        headers: the streams' ``rtpose.poses`` headers, in stream order.
        sources: the streams' sources (``outages``, ``reconnects``, ``end_reason`` are watched).
        queue_size: messages held while the broker is away (the oldest are dropped first).
        left_after: frames a track may stay unseen before ``track_left`` is sent (the tracker's buffer).
        client_id: the MQTT client id (default: ``rtpose-`` and a random suffix).

    The connection is made in the background: a broker that is down when the run starts is retried like one
    that goes away later. :meth:`close` sends what is queued (for up to ``flush_timeout`` seconds), then the
    offline status, and disconnects.
    """

    def __init__(self, url: str, *, stream=None, headers: list[dict] | None = None, sources=None,
                 queue_size: int = QUEUE_SIZE, left_after: int = 30, client_id: str | None = None,
                 flush_timeout: float = 5.0) -> None:
        self.target = parse_mqtt_url(url)
        try:
            import paho.mqtt.client as mqtt
        except ImportError:
            raise RtposeError("MQTT needs the paho-mqtt package: pip install 'rtpose[serve]'.") from None
        self.path = self.target.display  # what the command line names as written
        if stream is not None:
            headers = stream.headers() if headers is None else headers
            sources = stream.sources if sources is None else sources
            left_after = getattr(stream.options, "track_buffer", left_after) or left_after
        self.headers = list(headers or [])
        self.sources = list(sources or [])
        self.left_after = int(left_after)
        self.flush_timeout = float(flush_timeout)
        self.published = 0  # handed to the client (QoS 1: it resends them after a reconnect)
        self.acked = 0  # acknowledged by the broker
        self.dropped = 0
        self.count = 0
        self._queue: deque[tuple[str, str, bool]] = deque()
        self._queue_size = max(int(queue_size), 1)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._connected = threading.Event()
        self._closing = False
        self._said_drop = False
        self._was_connected = False
        self._tracks: dict[int, dict[int, int]] = {}
        self._frames: dict[int, int] = {}
        self._watched = [(int(getattr(s, "outages", 0)), int(getattr(s, "reconnects", 0)), False)
                         for s in self.sources]
        topic = self.target.topic
        self._status_topic = f"{topic}/status"
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or f"rtpose-{uuid.uuid4().hex[:10]}",
                             protocol=mqtt.MQTTv311)
        if self.target.username:
            client.username_pw_set(self.target.username, self.target.password)
        if self.target.tls:
            client.tls_set()
        client.will_set(self._status_topic, json.dumps({"state": "offline", "reason": "connection lost"}), qos=1,
                        retain=True)
        client.reconnect_delay_set(1, 16)
        client.max_inflight_messages_set(IN_FLIGHT)
        client.max_queued_messages_set(IN_FLIGHT)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.enable_logger(None)  # paho's own messages stay out of the user's terminal
        client.suppress_exceptions = True
        self._client = client
        self._mqtt = mqtt
        client.connect_async(self.target.host, self.target.port, keepalive=15)
        client.loop_start()
        self._sender = threading.Thread(target=self._send, name="rtpose-mqtt", daemon=True)
        self._sender.start()

    # ------------------------------------------------------------------ the run loop's side
    def write(self, result, annotated=None) -> None:
        """Queue the record of ``result`` and its track events (never waits on the broker)."""
        if self._closing:
            return
        i = int(result.stream)
        topic = self.target.topic
        self._put(f"{topic}/{i}/poses", json.dumps(frame_record(result), separators=(",", ":")))
        frame = self._frames[i] = self._frames.get(i, 0) + 1
        if result.track_ids is not None:
            seen = self._tracks.setdefault(i, {})
            for track_id in (int(t) for t in result.track_ids if t >= 0):
                if track_id not in seen:
                    self.event(i, "track_appeared", track_id=track_id, frame=result.index)
                seen[track_id] = frame
            for track_id, last in list(seen.items()):
                if frame - last > self.left_after:
                    del seen[track_id]
                    self.event(i, "track_left", track_id=track_id, frame=result.index)
        self.count += 1

    def event(self, stream: int, name: str, **fields) -> None:
        """Queue an event of ``stream`` on ``TOPIC/N/events``."""
        record = {"event": name, "stream": int(stream), "time": round(time.time(), 3), **fields}
        self._put(f"{self.target.topic}/{int(stream)}/events", json.dumps(record, separators=(",", ":")))

    def _put(self, topic: str, payload: str, retain: bool = False) -> None:
        with self._lock:
            if len(self._queue) >= self._queue_size:
                self._queue.popleft()
                self.dropped += 1
                if not self._said_drop:
                    self._said_drop = True
                    warn(f"MQTT broker {self.target.display} is not taking messages: keeping the newest "
                         f"{self._queue_size}, dropping older ones (counted)")
            self._queue.append((topic, payload, retain))
        self._wake.set()

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # ------------------------------------------------------------------ the sender thread
    def _on_connect(self, client, userdata, flags, reason_code, properties=None) -> None:
        if reason_code.is_failure:
            debug(f"MQTT broker {self.target.display} refused the connection ({reason_code})")
            return
        client.publish(self._status_topic, json.dumps({"state": "online"}), qos=1, retain=True)
        for header in self.headers:
            client.publish(f"{self.target.topic}/{int(header['stream'])}/header", json.dumps(header), qos=1,
                           retain=True)
        with self._lock:
            self.published += 1 + len(self.headers)
        if self._was_connected:
            warn(f"MQTT broker {self.target.display} is back; sending the queued messages")
        self._was_connected = True
        self._said_drop = False
        self._connected.set()
        self._wake.set()

    def _on_publish(self, client, userdata, mid, reason_code=None, properties=None) -> None:
        with self._lock:
            self.acked += 1

    def _on_disconnect(self, client, userdata, flags, reason_code, properties=None) -> None:
        self._connected.clear()
        if not self._closing:
            warn(f"MQTT broker {self.target.display} went away; reconnecting (messages are queued, up to "
                 f"{self._queue_size})")

    def _send(self) -> None:
        while True:
            self._watch_sources()
            if not self._connected.is_set():
                if self._closing:
                    return
                self._connected.wait(0.25)
                continue
            with self._lock:
                item = self._queue.popleft() if self._queue else None
            if item is None:
                if self._closing:
                    return
                self._wake.wait(0.25)
                self._wake.clear()
                continue
            info = self._client.publish(item[0], item[1], qos=1, retain=item[2])
            if info.rc == self._mqtt.MQTT_ERR_QUEUE_SIZE:
                with self._lock:  # the client's window is full (the broker is slow or gone): try again soon
                    self._queue.appendleft(item)
                time.sleep(0.02)
                continue
            with self._lock:
                self.published += 1

    def _watch_sources(self) -> None:
        for i, source in enumerate(self.sources):
            outages, reconnects, ended = self._watched[i]
            now_out, now_back = int(getattr(source, "outages", 0)), int(getattr(source, "reconnects", 0))
            if now_out > outages:
                self.event(i, "stream_lost", source=source.name)
            if now_back > reconnects:
                self.event(i, "stream_back", source=source.name)
            reason = getattr(source, "end_reason", None)
            if reason and not ended:
                self.event(i, "stream_ended", source=source.name, reason=reason)
                ended = True
            self._watched[i] = (now_out, now_back, ended)

    # ------------------------------------------------------------------ the end
    def close(self) -> None:
        """Send what is queued (for up to ``flush_timeout`` s), then the offline status; disconnect."""
        if self._closing:
            return
        self._watch_sources()
        self._closing = True
        self._wake.set()
        deadline = time.monotonic() + self.flush_timeout
        self._sender.join(max(deadline - time.monotonic(), 0.0))
        while self.acked < self.published and time.monotonic() < deadline:
            time.sleep(0.02)  # acknowledgements of the last messages
        with self._lock:
            left = len(self._queue) + max(self.published - self.acked, 0)
            self._queue.clear()
        self.dropped += left
        if self._connected.is_set():
            info = self._client.publish(self._status_topic, json.dumps({"state": "offline", "reason": "stopped"}),
                                        qos=1, retain=True)
            with contextlib.suppress(Exception):
                info.wait_for_publish(timeout=max(deadline - time.monotonic(), 1.0))
        with contextlib.suppress(Exception):
            self._client.disconnect()
        self._client.loop_stop()
        if self.dropped:
            warn(f"MQTT: {self.dropped} of {self.published + self.dropped} messages to {self.target.display} were "
                 "dropped while the broker was away")

    def figures(self) -> list[tuple]:
        """The sink's figures for ``/metrics``: ``(name, help, kind, labels, value)`` rows."""
        labels = {"broker": self.target.display}
        return [("rtpose_mqtt_published", "Messages handed to the MQTT broker", "counter", labels, self.published),
                ("rtpose_mqtt_dropped", "Messages dropped while the broker was away", "counter", labels, self.dropped),
                ("rtpose_mqtt_queued", "Messages waiting for the broker", "gauge", labels, self.queued),
                ("rtpose_mqtt_connected", "1 while connected to the broker", "gauge", labels, int(self.connected))]


__all__ = ["MqttSink", "MqttTarget", "mqtt_url_arg", "parse_mqtt_url"]
