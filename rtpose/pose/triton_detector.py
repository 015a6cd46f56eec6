"""The YOLO detector served by Triton (``--detector triton://host:8001/MODEL``), through Ultralytics' own client.

``rtpose export-triton`` writes the detector as Ultralytics' ONNX export with its export metadata (class names,
stride, dynamic shapes) as the model's ``metadata`` parameter, which is what Ultralytics' ``TritonRemoteModel``
reads: ``YOLO("grpc://host:8001/yolo_detector", task="detect")`` then letterboxes, sends a batch of frames as one
request and runs NMS locally, exactly as for a local ONNX file. :class:`TritonDetector` adds rtpose's detector
semantics (:class:`rtpose.pose.detector.PersonDetector`: classes, ``conf``, ``max_people``) and the faults of
:mod:`rtpose.runtime.triton_runtime`: a server that is down or lacks the model at start is one sentence; later a
failed request gives those frames no people, is counted by cause, and a down server is probed with backoff.

URLs: ``triton://HOST:PORT/MODEL`` and ``grpc://HOST:PORT/MODEL`` (gRPC), ``http://HOST:PORT/MODEL`` (HTTP).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

import numpy as np

from rtpose.errors import EngineError, RtposeError, exception_gist
from rtpose.pose.detector import (
    PERSON_CLASS,
    Detections,
    ModelPool,
    PersonDetector,
    resolve_classes,
    ultralytics_to_debug,
)
from rtpose.runtime.triton_runtime import CAUSES, ServerState, describe_failures, failure_cause

#: URL schemes of a served detector: rtpose's ``triton://`` (gRPC) and Ultralytics' own ``grpc://``/``http://``.
SCHEMES = ("triton", "grpc", "http")


def is_triton_url(text: object) -> bool:
    """Whether ``text`` names a served detector: ``triton://`` or ``grpc://`` with a host, or ``http://`` with a
    host and a path without a file suffix (``http://host/yolov8n.pt`` is a file to download, as for Ultralytics)."""
    parts = urlsplit(str(text))
    if parts.scheme not in SCHEMES or not parts.netloc:
        return False
    return parts.scheme != "http" or "." not in parts.path.rstrip("/").rsplit("/", 1)[-1]


def parse_detector_url(text: str) -> tuple[str, str, str]:
    """``"triton://host:8001/yolo_detector"`` → ``("grpc", "host:8001", "yolo_detector")``; one sentence when
    the port or the model is missing."""
    parts = urlsplit(text)
    model = parts.path.strip("/").split("/", 1)[0]
    if not model or not parts.port:
        raise RtposeError(
            f"detector={text!r} is not a Triton URL; use triton://HOST:PORT/MODEL (gRPC, e.g. "
            "triton://localhost:8001/yolo_detector) or http://HOST:8000/MODEL."
        )
    return ("http" if parts.scheme == "http" else "grpc"), parts.netloc, model


class TritonDetector(PersonDetector):
    """People in BGR images from a YOLO detector served by Triton (the model ``rtpose export-triton`` writes).

    Args:
        url: ``triton://HOST:PORT/MODEL``, ``grpc://HOST:PORT/MODEL`` or ``http://HOST:PORT/MODEL``.
        conf, iou, max_people, imgsz, classes: as for :class:`~rtpose.pose.detector.PersonDetector`.
        timeout_s: deadline of one request; a later answer is dropped and counted.

    Pre-processing (letterbox) and NMS run here on the CPU; the network runs on the server. At most the
    server's ``max_batch_size`` frames go in one request.
    """

    def __init__(self, url: str, conf: float = 0.25, iou: float = 0.6, max_people: int = 32, imgsz: int = 640,
                 classes: Sequence[int | str] = (PERSON_CLASS,), timeout_s: float = 5.0, **_local_only) -> None:
        from rtpose.pose.detector import import_ultralytics

        scheme, netloc, model = parse_detector_url(str(url))
        self.weights, self.model_name, self.timeout_s = str(url), model, float(timeout_s)
        self.conf, self.iou, self.max_people, self.imgsz = conf, iou, max_people, imgsz
        self.device, self.half, self.runtime = "cpu", False, "triton"
        self.note = f"served by Triton at {scheme}://{netloc} (model {model!r})"
        self.failures = dict.fromkeys(CAUSES, 0)
        self.calls = 0
        self._lock = threading.Lock()
        self.max_batch = self._check_server(scheme, netloc, model)
        YOLO = import_ultralytics().YOLO  # noqa: N806 (Ultralytics' class name)
        try:
            with ultralytics_to_debug():
                self.model = YOLO(f"{scheme}://{netloc}/{model}", task="detect")
                # The first prediction sets up Ultralytics' predictor and its TritonRemoteModel (and warms it up).
                self.model.predict(np.zeros((32, 32, 3), np.uint8), device="cpu", imgsz=32, verbose=False)
        except Exception as exc:  # noqa: BLE001 - Ultralytics and tritonclient raise many types
            raise EngineError(
                f"The model {model!r} on {scheme}://{netloc} did not answer Ultralytics' first request "
                f"({exception_gist(exc)}); serve the detector that 'rtpose export-triton' wrote."
            ) from None
        auto = self.model.predictor.model  # Ultralytics' AutoBackend: its TritonRemoteModel is in .backend.model
        remote = getattr(getattr(auto, "backend", None), "model", None) or getattr(auto, "model", None)
        self._give_deadline(remote, scheme, netloc)
        self.server = ServerState(f"{scheme}://{netloc}", remote.triton_client)
        self.classes = resolve_classes(classes, self.model.names or {}, self.weights)
        self.models = ModelPool(self.model)  # one client-side predictor: overlapping calls take turns on it

    def _check_server(self, scheme: str, netloc: str, model: str) -> int:
        """One sentence when the server is unreachable, lacks the model, or serves no Ultralytics export;
        returns the model's ``max_batch_size``."""
        client = self._client(scheme, netloc)
        where = f"The Triton server {scheme}://{netloc}"
        try:
            try:
                ready = client.is_model_ready(model, **self._timeout_kwargs(scheme, 5.0))
            except Exception as exc:  # noqa: BLE001 - tritonclient's and the HTTP client's errors alike
                status = exc.status() if hasattr(exc, "status") else None
                message = exc.message() if hasattr(exc, "message") and callable(exc.message) else str(exc)
                raise EngineError(
                    f"{where} is not reachable ({status or message}); "
                    "start it, or check --detector (triton://HOST:PORT/MODEL, gRPC port 8001 by default)."
                ) from None
            if not ready:
                raise EngineError(
                    f"{where} has no ready model {model!r}; serve the repository that 'rtpose export-triton' wrote "
                    "(its detector is yolo_detector), or check the model name in --detector."
                )
            config = client.get_model_config(model, **self._timeout_kwargs(scheme, 5.0))
            config = config.config if hasattr(config, "config") else config
            params = config.parameters if hasattr(config, "parameters") else config.get("parameters", {})
            if "metadata" not in params:
                raise EngineError(
                    f"The model {model!r} on {scheme}://{netloc} has no Ultralytics export metadata (class names, "
                    "stride), so it is not a detector written by 'rtpose export-triton'; serve that repository."
                )
            batch = config.max_batch_size if hasattr(config, "max_batch_size") else config.get("max_batch_size", 1)
            return max(int(batch), 1)
        finally:
            client.close()

    @staticmethod
    def _client(scheme: str, netloc: str, timeout_s: float | None = None):
        try:
            if scheme == "http":
                import tritonclient.http as httpclient

                kwargs = {} if timeout_s is None else {"connection_timeout": timeout_s, "network_timeout": timeout_s}
                return httpclient.InferenceServerClient(netloc, **kwargs)
            import tritonclient.grpc as grpcclient
        except (ImportError, RuntimeError):  # tritonclient says "does not include http support" as a RuntimeError
            extra = "http" if scheme == "http" else "grpc"
            raise EngineError(
                f"A detector at {scheme}://{netloc} needs tritonclient's {extra} client: pip install "
                f'"tritonclient[{extra}]"' + (", or use triton://HOST:8001/MODEL (gRPC)." if extra == "http" else ".")
            ) from None
        return grpcclient.InferenceServerClient(netloc)

    @staticmethod
    def _timeout_kwargs(scheme: str, timeout_s: float) -> dict:
        return {} if scheme == "http" else {"client_timeout": timeout_s}

    def _give_deadline(self, remote, scheme: str, netloc: str) -> None:
        """Ultralytics' client waits forever: every request of it gets ``timeout_s`` (gRPC: the call's deadline;
        HTTP: a client whose socket times out)."""
        if scheme == "http":
            remote.triton_client.close()
            remote.triton_client = self._client(scheme, netloc, self.timeout_s)
        else:
            remote.triton_client.infer = functools.partial(remote.triton_client.infer, client_timeout=self.timeout_s)

    # -- detection -----------------------------------------------------------------------------------------
    @property
    def failed_calls(self) -> int:
        """Detector calls that gave no boxes (their frames had no people)."""
        return sum(self.failures.values())

    def failure_summary(self) -> str:
        """``"2 detector calls failed (server down: 2)"``, or "" when none failed."""
        return describe_failures(self.failures, "detector call")

    def detect_batch(self, images_bgr: list[np.ndarray]) -> list[Detections]:
        """People in each image, ``max_batch`` frames per request; no people (and a count) where a request fails."""
        found: list[Detections] = []
        for start in range(0, len(images_bgr), self.max_batch):
            found += self._request(list(images_bgr[start:start + self.max_batch]))
        return found

    def _request(self, images: list[np.ndarray]) -> list[Detections]:
        server = self.server
        with self._lock:
            self.calls += 1
            now = time.monotonic()
            if server.down and now < server.next_probe:  # no request to a down server before its probe is due
                self.failures["down"] += 1
                return self._nobody(len(images))
            probing = server.down
        try:
            found = super().detect_batch(images)
        except Exception as exc:  # noqa: BLE001 - tritonclient's and the HTTP client's errors alike
            cause = failure_cause(exc)
            with self._lock:
                self.failures[cause] += 1
                if probing:
                    server.probed(False, now)
                else:
                    server.failed(cause)
            return self._nobody(len(images))
        with self._lock:
            if probing:
                server.probed(True, now)
            server.errors_in_row = 0
        return found

    @staticmethod
    def _nobody(n: int) -> list[Detections]:
        return [Detections(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)) for _ in range(n)]

    def close(self) -> None:
        """Close the client, and say how many detector calls failed (a warning), once; safe to call twice."""
        if getattr(self, "_closed", False):
            return
        self._closed = True
        if self.failed_calls:
            from rtpose.log import warn

            warn(f"{self.failure_summary()}; those frames had no people.")
        import contextlib

        with contextlib.suppress(Exception):  # closing is best effort
            self.server.client.close()


__all__ = ["SCHEMES", "TritonDetector", "is_triton_url", "parse_detector_url"]
