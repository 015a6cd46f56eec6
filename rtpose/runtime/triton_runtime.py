"""Triton Inference Server backend: rtpose as a client of one or more servers (``--backend triton --server``).

The served model is the one ``rtpose export-triton`` writes (:mod:`rtpose.export.triton`): uint8
RGB crops in, float16 heatmaps out. The estimator hands backends normalised float32 crops; those come
from uint8 pixels (:func:`rtpose.pose.crops.make_input_batch` warps the uint8 image, then normalises), so
de-normalising and rounding gives back exactly those uint8 crops.

Faults never end a run. A call that fails returns heatmaps of zeros, so that frame's people keep their
boxes with keypoint scores 0, and it is counted in :attr:`TritonBackend.failures` (by cause) and
:attr:`TritonBackend.failed_calls`:

- ``down``: the server refused the connection or is unreachable (gRPC UNAVAILABLE), or gave internal
  errors :data:`ERRORS_AS_DOWN` times in a row (a dead Python-backend stub leaves ``/v2/health`` at 200
  while every request fails). A down server gets no requests; it is probed with backoff (:data:`BACKOFF_S`):
  once its model is ready and a one-crop request passes, it is used again.
- ``deadline``: no answer within ``timeout_s`` (gRPC DEADLINE_EXCEEDED): the frame is dropped, never retried.
- ``rejected``: the request waited in Triton's queue past its queue policy's timeout (stale work is
  rejected, not queued).
- ``error``: any other error of the server.

Requests go to the ready server with the fewest requests in flight. One gRPC client per server is
shared by all threads (gRPC channels are thread-safe; ``tritonclient.http`` is not).
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rtpose.engine.stats import FAILURE_WORDS
from rtpose.errors import EngineError, RtposeError
from rtpose.runtime.base import Runtime

DEFAULT_MODEL = "hrnet_pose"
#: Readiness probes of a down server: first after this many seconds, doubling up to the last.
BACKOFF_S = (0.25, 0.5, 1.0, 2.0, 4.0)
#: Internal errors in a row after which a server counts as down.
ERRORS_AS_DOWN = 3
#: Failure causes, in the order the summary names them (:data:`rtpose.engine.stats.FAILURE_WORDS`).
CAUSES = tuple(FAILURE_WORDS)


def parse_servers(text: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """``"host:8001,host2:8001"`` → ``["host:8001", "host2:8001"]`` (one sentence when malformed)."""
    if text is None or (isinstance(text, str) and not text.strip()):
        raise RtposeError("backend='triton' needs a server: pass --server HOST:PORT (gRPC, e.g. localhost:8001).")
    items = text.split(",") if isinstance(text, str) else list(text)
    servers = []
    for item in (i.strip() for i in items):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise RtposeError(f"server={item!r} is not HOST:PORT (Triton's gRPC port, e.g. localhost:8001).")
        servers.append(item)
    return servers


@dataclass
class ServerState:
    """One server's client and health, shared by the pose backend and the detector (callers hold a lock)."""

    url: str
    client: object
    in_flight: int = 0
    down: bool = False
    errors_in_row: int = 0
    probes: int = 0
    next_probe: float = 0.0
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def mark_down(self) -> None:
        """Down: no requests until a probe passes, the first one :data:`BACKOFF_S` ``[0]`` from now."""
        if not self.down:
            self.down, self.probes = True, 0
            self.next_probe = time.monotonic() + BACKOFF_S[0]

    def probed(self, ok: bool, now: float) -> None:
        """A probe's outcome: up again, or the next probe later (backoff)."""
        if ok:
            self.down, self.errors_in_row, self.probes = False, 0, 0
        else:
            self.probes += 1
            self.next_probe = now + BACKOFF_S[min(self.probes, len(BACKOFF_S) - 1)]

    def failed(self, cause: str) -> None:
        """A request failed with ``cause``: down marks it down; :data:`ERRORS_AS_DOWN` errors in a row too."""
        if cause == "down":
            self.mark_down()
        elif cause == "error":
            self.errors_in_row += 1
            if self.errors_in_row >= ERRORS_AS_DOWN:
                self.mark_down()


def _status(exc: Exception) -> str:
    status = exc.status() if hasattr(exc, "status") else None
    return str(status or "")


def failure_cause(exc: BaseException) -> str:
    """The cause (one of :data:`CAUSES`) of a failed Triton request, from tritonclient's gRPC or HTTP exception
    (or the socket error of the HTTP client)."""
    status = _status(exc)
    message = (exc.message() if hasattr(exc, "message") and callable(exc.message) else str(exc)) or ""
    lower = message.lower()
    if "DEADLINE_EXCEEDED" in status or "deadline exceeded" in lower or isinstance(exc, TimeoutError) \
            or "timed out" in lower:
        return "deadline"
    if "timeout expired" in lower or "exceeds maximum queue size" in lower:
        return "rejected"
    if "UNAVAILABLE" in status or isinstance(exc, ConnectionError) or "connection refused" in lower:
        return "down"
    return "error"


def describe_failures(failures: dict[str, int], what: str) -> str:
    """``"3 pose calls failed (server down: 2, past deadline: 1)"`` for ``what="pose call"``; "" when none."""
    total = sum(failures.values())
    if not total:
        return ""
    parts = ", ".join(f"{FAILURE_WORDS[c]}: {n}" for c, n in failures.items() if n)
    return f"{total} {what}{'s' if total != 1 else ''} failed ({parts})"


class TritonBackend(Runtime):
    """Pose heatmaps from the Triton servers ``servers`` (gRPC), model ``model`` made by ``rtpose export-triton``.

    Args:
        servers: ``"host:8001[,host2:8001]"`` or a list of them.
        model: the served model's name.
        input_hw: the input size the caller wants (None: the server's); a mismatch is one sentence.
        weights_sha256: the sha256 of the weights the caller wants (None: any); a mismatch is one sentence.
        timeout_s: deadline of one request; a later answer is dropped and counted.
    """

    name = "triton"

    def __init__(
        self, servers: str | list[str], model: str = DEFAULT_MODEL, input_hw: tuple[int, int] | None = None,
        weights_sha256: str | None = None, timeout_s: float = 2.0,
    ) -> None:
        try:
            import tritonclient.grpc as grpcclient
        except ImportError:
            raise EngineError('backend=\'triton\' needs tritonclient: pip install "rtpose[triton]".') from None
        self._grpc = grpcclient
        self.model_name = model
        self.timeout_s = float(timeout_s)
        self.servers = [ServerState(url, grpcclient.InferenceServerClient(url)) for url in parse_servers(servers)]
        self._lock = threading.Lock()
        self.failures = dict.fromkeys(CAUSES, 0)
        self.calls = 0
        config = None
        for server in self.servers:
            server_config = self._check_server(server)
            config = config or server_config
        self._configure(config, input_hw, weights_sha256)
        self.reason = ""
        self.note = ""
        self.artifact: Path | None = None
        self.precision = "fp16"
        self.device = f"triton {','.join(s.url for s in self.servers)} ({self.model_name})"

    # -- start-up checks ---------------------------------------------------------------------------------------
    def _check_server(self, server: ServerState):
        from tritonclient.utils import InferenceServerException

        try:
            ready = server.client.is_model_ready(self.model_name, client_timeout=5.0)
        except InferenceServerException as exc:
            raise EngineError(
                f"The Triton server {server.url} is not reachable ({_status(exc) or exc.message()}); start it, or "
                "check --server (its gRPC port, 8001 by default)."
            ) from None
        if not ready:
            raise EngineError(
                f"The Triton server {server.url} has no ready model {self.model_name!r}; serve the repository that "
                "'rtpose export-triton' wrote (tritonserver --model-repository=DIR)."
            )
        return server.client.get_model_config(self.model_name, client_timeout=5.0).config

    def _configure(self, config, input_hw, weights_sha256) -> None:
        from rtpose.export.triton import INPUT, OUTPUT

        where = f"model {self.model_name!r} on {self.servers[0].url}"
        params = {key: value.string_value for key, value in config.parameters.items()}
        inputs = {i.name: i for i in config.input}
        outputs = {o.name: o for o in config.output}
        if INPUT not in inputs or OUTPUT not in outputs or "input_size" not in params:
            raise EngineError(
                f"The {where} is not an rtpose pose model (it takes {', '.join(inputs) or 'nothing'} and gives "
                f"{', '.join(outputs) or 'nothing'}); serve a repository written by 'rtpose export-triton'."
            )
        spec, out = inputs[INPUT], outputs[OUTPUT]
        dtype = self._grpc.model_config_pb2.DataType.Name(spec.data_type)
        h, w = (int(v) for v in params["input_size"].split("x"))
        if dtype != "TYPE_UINT8" or list(spec.dims) != [3, h, w] or len(out.dims) != 3:
            raise EngineError(
                f"The {where} takes {INPUT} {dtype} {list(spec.dims)}, where rtpose sends TYPE_UINT8 [3, {h}, {w}]; "
                "export the repository again with 'rtpose export-triton'."
            )
        if input_hw is not None and tuple(input_hw) != (h, w):
            raise RtposeError(
                f"The {where} was exported for {h}x{w} inputs, not input_size={tuple(input_hw)}; leave out "
                "input_size=, or export the repository again at that size."
            )
        if weights_sha256 and params.get("weights_sha256") and params["weights_sha256"] != weights_sha256:
            raise RtposeError(
                f"The {where} serves other weights (sha256 {params['weights_sha256'][:12]}…) than the ones given "
                f"({weights_sha256[:12]}…); leave out --weights, or serve a repository exported from them."
            )
        self.input_hw = (h, w)
        self.num_joints = int(out.dims[0])
        self.output_hw = (int(out.dims[1]), int(out.dims[2]))
        self.keypoint_set = params.get("keypoints") or None
        self.max_batch = int(config.max_batch_size) or 1
        self.served_weights_sha256 = params.get("weights_sha256", "")

    # -- calls ---------------------------------------------------------------------------------------------
    @property
    def failed_calls(self) -> int:
        """Pose calls that gave no heatmaps (their people got keypoint scores 0)."""
        return sum(self.failures.values())

    def failure_summary(self) -> str:
        """``"3 pose calls failed (server down: 2, past deadline: 1)"``, or "" when none failed."""
        return describe_failures(self.failures, "pose call")

    def _pick(self) -> ServerState | None:
        """The ready server with the fewest requests in flight (probing down ones whose time has come)."""
        now = time.monotonic()
        for server in self.servers:
            if server.down and now >= server.next_probe:
                self._probe(server, now)
        with self._lock:
            up = [s for s in self.servers if not s.down]
            if not up:
                return None
            server = min(up, key=lambda s: (s.in_flight, s.calls))
            server.in_flight += 1
            server.calls += 1
            return server

    def _probe(self, server: ServerState, now: float) -> None:
        if not server.lock.acquire(blocking=False):  # another thread probes it
            return
        try:
            ready = server.client.is_model_ready(self.model_name, client_timeout=min(1.0, self.timeout_s))
            if ready:  # ready is not enough: a dead Python-backend stub leaves the model "ready"; one crop must pass
                ready = self._canary(server)
        except Exception:  # noqa: BLE001 - any failure: still down
            ready = False
        finally:
            server.lock.release()
        with self._lock:
            server.probed(ready, now)

    def _canary(self, server: ServerState) -> bool:
        """Whether the server answers a one-crop request within the deadline."""
        from rtpose.export.triton import INPUT, OUTPUT

        tensor = self._grpc.InferInput(INPUT, [1, 3, *self.input_hw], "UINT8")
        tensor.set_data_from_numpy(np.zeros((1, 3, *self.input_hw), np.uint8))
        result = server.client.infer(self.model_name, [tensor], outputs=[self._grpc.InferRequestedOutput(OUTPUT)],
                                     client_timeout=self.timeout_s)
        return result.as_numpy(OUTPUT) is not None

    def _count(self, cause: str) -> None:
        with self._lock:
            self.failures[cause] += 1

    @staticmethod
    def to_uint8(batch: np.ndarray) -> np.ndarray:
        """Normalised float32 crops ``(N, 3, H, W)`` → the uint8 RGB crops they were made from."""
        from rtpose.pose.crops import MEAN_RGB, STD_RGB

        pixels = (batch * STD_RGB[:, None, None] + MEAN_RGB[:, None, None]) * np.float32(255.0)
        return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """float32 ``(N, 3, H, W)`` → float32 heatmaps; zeros (and a count) when the call fails."""
        return self.infer_uint8(self.to_uint8(np.asarray(batch, dtype=np.float32)))

    def infer_uint8(self, crops: np.ndarray) -> np.ndarray:
        """uint8 RGB crops ``(N, 3, H, W)`` → float32 heatmaps ``(N, K, H/4, W/4)`` (one request)."""
        from tritonclient.utils import InferenceServerException

        from rtpose.export.triton import INPUT, OUTPUT

        crops = np.ascontiguousarray(crops, dtype=np.uint8)
        with self._lock:
            self.calls += 1
        for _ in range(len(self.servers)):
            server = self._pick()
            if server is None:
                break
            tensor = self._grpc.InferInput(INPUT, list(crops.shape), "UINT8")
            tensor.set_data_from_numpy(crops)
            try:
                result = server.client.infer(
                    self.model_name, [tensor], outputs=[self._grpc.InferRequestedOutput(OUTPUT)],
                    client_timeout=self.timeout_s,
                )
                heatmaps = result.as_numpy(OUTPUT)
                if heatmaps is None or len(heatmaps) != len(crops):
                    raise InferenceServerException("the server's answer has no heatmaps for these crops")
            except InferenceServerException as exc:
                cause = self._cause(server, exc)
                if cause == "down":
                    continue  # the next ready server, if any, takes this frame
                self._count(cause)
                return self._zeros(len(crops))
            finally:
                with self._lock:
                    server.in_flight -= 1
            with self._lock:
                server.errors_in_row = 0
            return heatmaps.astype(np.float32)
        self._count("down")
        return self._zeros(len(crops))

    def _cause(self, server: ServerState, exc: Exception) -> str:
        cause = failure_cause(exc)
        with self._lock:
            server.failed(cause)
        return cause

    def _zeros(self, n: int) -> np.ndarray:
        return np.zeros((n, self.num_joints, *self.output_hw), np.float32)

    def close(self) -> None:
        """Close the gRPC channels, and say how many pose calls failed (a warning), once; safe to call twice."""
        if getattr(self, "_closed", False):
            return
        self._closed = True
        if self.failed_calls:
            from rtpose.log import warn

            warn(f"{self.failure_summary()}; those frames' people have keypoint scores 0.")
        for server in self.servers:
            with contextlib.suppress(Exception):  # closing is best effort
                server.client.close()


__all__ = ["CAUSES", "ServerState", "TritonBackend", "describe_failures", "failure_cause", "parse_servers"]
