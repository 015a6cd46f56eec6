"""Triton: ``rtpose export-triton`` and ``--backend triton`` against a real ``tritonserver`` on 127.0.0.1.

The server is the ``nvidia-pytriton`` wheel's (Python backend only), in ``.triton-venv`` (``.ci/run`` makes
it); it serves the repository ``rtpose export-triton --python-backend`` writes. Without that venv the tests
that need a server skip and say why, except in CI, where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import BUS, DETECTOR_WEIGHTS, ROOT, VIDEO_MULTI
from tests.support.triton_server import TritonServer, free_port, why_no_server

pytest.importorskip("tritonclient.grpc")

#: People in bus.jpg (x1, y1, x2, y2), so that the tests need no detector where boxes suffice.
BOXES = np.array([[50, 400, 250, 900], [220, 380, 350, 870], [660, 380, 810, 880]], np.float32)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _need_server() -> None:
    reason = why_no_server()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the Triton tests: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def repo(tmp_path_factory, small_weights) -> Path:
    """The repository ``rtpose export-triton --python-backend`` writes for the W18 test weights and the shared
    YOLO detector (a queue timeout of 5 s: one execution takes about half a second on two CPU cores)."""
    out = tmp_path_factory.mktemp("triton") / "repo"
    done = subprocess.run(
        [sys.executable, "-m", "rtpose", "export-triton", "--weights", str(small_weights), "--repo", str(out),
         "--python-backend", "--queue-timeout-ms", "5000", "--detector", str(DETECTOR_WEIGHTS)],
        capture_output=True, text=True, env=_env(), timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(out / "hrnet_pose"), str(out / "yolo_detector")]
    # The batcher waits up to 100 ms (not 2) for more requests: one execution takes about half a second on two
    # shared cores, so a client's next request may come a few ms after the other client's waiting one.
    config = out / "hrnet_pose" / "config.pbtxt"
    text = config.read_text()
    assert "max_queue_delay_microseconds: 2000" in text
    config.write_text(text.replace("max_queue_delay_microseconds: 2000", "max_queue_delay_microseconds: 100000"))
    return out


@pytest.fixture(scope="module")
def server(repo, tmp_path_factory):
    _need_server()
    running = TritonServer(repo, tmp_path_factory.mktemp("server"), models=("hrnet_pose", "yolo_detector")).start()
    yield running
    running.stop()


def _model_config(path: Path):
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


def _onnx_io(path: Path):
    import onnx

    graph = onnx.load(str(path)).graph

    def describe(value):
        dims = [d.dim_value or d.dim_param for d in value.type.tensor_type.shape.dim]
        return value.name, onnx.TensorProto.DataType.Name(value.type.tensor_type.elem_type), dims

    return [describe(v) for v in graph.input], [describe(v) for v in graph.output]


@pytest.mark.parametrize("variant", ["python", "onnxruntime"])
def test_config_agrees_with_the_onnx_file(repo, tmp_path, small_weights, variant):
    """config.pbtxt parses as Triton's ModelConfig and agrees with the ONNX file (names, dtypes, shapes)."""
    from rtpose.export.triton import export_repository
    from rtpose.utils.hashing import file_sha256

    folder = repo / "hrnet_pose" if variant == "python" else export_repository(small_weights, tmp_path / "repo")
    config = _model_config(folder / "config.pbtxt")
    (in_name, in_type, in_dims), = _onnx_io(folder / "1" / "model.onnx")[0]
    (out_name, out_type, out_dims), = _onnx_io(folder / "1" / "model.onnx")[1]
    assert (in_name, in_type, out_name, out_type) == ("crops", "UINT8", "heatmaps", "FLOAT16")
    assert isinstance(in_dims[0], str) and isinstance(out_dims[0], str)  # the dynamic batch axis
    assert config.name == "hrnet_pose" and config.max_batch_size == 64
    assert [config.input[0].name, config.output[0].name] == [in_name, out_name]
    assert list(config.input[0].dims) == in_dims[1:] == [3, 256, 192]
    assert list(config.output[0].dims) == out_dims[1:] == [17, 64, 48]
    from tritonclient.grpc import model_config_pb2 as pb

    assert config.input[0].data_type == pb.TYPE_UINT8 and config.output[0].data_type == pb.TYPE_FP16
    policy = config.dynamic_batching.default_queue_policy
    assert policy.timeout_action == pb.ModelQueuePolicy.REJECT
    assert policy.default_timeout_microseconds == (5_000_000 if variant == "python" else 200_000)
    assert list(config.dynamic_batching.preferred_batch_size) == [8, 16, 32]
    params = {k: v.string_value for k, v in config.parameters.items()}
    assert params["weights_sha256"] == file_sha256(small_weights)
    assert (params["keypoints"], params["input_size"], params["num_joints"]) == ("coco", "256x192", "17")
    if variant == "python":
        assert config.backend == "python" and (folder / "1" / "model.py").is_file()
        assert config.instance_group[0].kind == pb.ModelInstanceGroup.KIND_CPU
    else:
        assert config.platform == "onnxruntime_onnx"
        assert config.instance_group[0].kind == pb.ModelInstanceGroup.KIND_GPU
        accel = config.optimization.execution_accelerators.gpu_execution_accelerator[0]
        assert accel.name == "tensorrt" and accel.parameters["precision_mode"] == "FP16"


def test_uint8_graph_equals_the_float_graph(repo, small_weights, tmp_path):
    """The served graph (normalisation inside, fp16 out) gives the local ONNX Runtime backend's heatmaps."""
    import cv2
    import onnxruntime as ort

    from rtpose.pose.crops import make_input_batch
    from rtpose.runtime import create_backend
    from rtpose.runtime.triton_runtime import TritonBackend

    batch, _, _ = make_input_batch(cv2.imread(str(BUS)), BOXES, (256, 192))
    crops = TritonBackend.to_uint8(batch)
    served = ort.InferenceSession(str(repo / "hrnet_pose" / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    (heatmaps,) = served.run(["heatmaps"], {"crops": crops})
    local = create_backend("onnxruntime", weights=str(small_weights), engines_dir=str(tmp_path))
    expected = local.infer(batch)
    assert heatmaps.dtype == np.float16
    assert np.allclose(heatmaps.astype(np.float32), expected, rtol=2e-3, atol=2e-2)


def test_keypoints_equal_the_local_backend(server, small_weights, tmp_path, monkeypatch):
    """PoseModel(backend="triton") on bus.jpg: the local ONNX Runtime keypoints, within fp16 rounding."""
    import rtpose

    kwargs = {"weights": str(small_weights), "detector": str(DETECTOR_WEIGHTS), "device": "cpu"}
    monkeypatch.setenv("RTPOSE_ENGINES", str(tmp_path))
    with rtpose.PoseModel(backend="onnxruntime", **kwargs) as local:
        expected = local(str(BUS))
    with rtpose.PoseModel(backend="triton", server=server.url, **kwargs) as remote:
        assert remote.info.backend.name == "triton"
        got = remote(str(BUS))
    assert len(expected) == len(got) > 0
    np.testing.assert_allclose(got.boxes, expected.boxes)
    # fp16 heatmaps: a keypoint whose heatmap has two near-equal peaks (these test weights have many) may pick
    # the other one; every other keypoint lands within half a pixel
    close = np.abs(got.keypoints[..., :2] - expected.keypoints[..., :2]).max(axis=-1) <= 0.5
    assert close.mean() >= 0.95, f"{(~close).sum()} of {close.size} keypoints moved"
    np.testing.assert_allclose(got.keypoints[..., 2], expected.keypoints[..., 2], rtol=5e-3, atol=2e-2)
    assert got.keypoint_set.name == "coco"


CLIENT = textwrap.dedent("""
    import sys, numpy as np
    from rtpose.runtime.triton_runtime import TritonBackend
    backend = TritonBackend(sys.argv[1], timeout_s=60)
    crops = np.random.default_rng(int(sys.argv[2])).integers(0, 255, (3, 3, 256, 192), dtype=np.uint8)
    sys.stdin.readline()  # start together
    for _ in range(int(sys.argv[3])):  # one request in flight per process
        assert backend.infer_uint8(crops).any(), backend.failures
    print(backend.failed_calls)
""")


def test_two_processes_are_batched_together(server):
    """Two rtpose client processes, each with one request in flight: Triton runs fewer executions than requests,
    so requests of both processes shared executions."""
    before_exec = server.metric("nv_inference_exec_count")
    before_req = server.metric("nv_inference_request_success")
    clients = [subprocess.Popen([sys.executable, "-c", CLIENT, server.url, str(i), "8"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
               for i in range(2)]
    time.sleep(3)  # both connected and waiting
    for client in clients:
        client.stdin.write("go\n")
        client.stdin.flush()
    for client in clients:
        out, err = client.communicate(timeout=300)
        assert client.returncode == 0, err
        assert out.strip() == "0"
    executions = server.metric("nv_inference_exec_count") - before_exec
    requests = server.metric("nv_inference_request_success") - before_req
    assert requests == 16
    assert executions < requests


def test_wrong_model_size_or_server_is_one_sentence(server, reference_weights):
    from rtpose.errors import RtposeError
    from rtpose.runtime.triton_runtime import TritonBackend

    with pytest.raises(RtposeError) as error:
        TritonBackend(server.url, input_hw=(384, 288))
    assert "exported for 256x192 inputs, not input_size=(384, 288)" in str(error.value)
    with pytest.raises(RtposeError) as error:
        TritonBackend(server.url, model="yolo")
    assert "has no ready model 'yolo'" in str(error.value)
    from rtpose.runtime import create_backend

    with pytest.raises(RtposeError) as error:  # W32 weights given, W18 served
        create_backend("triton", weights=str(reference_weights), server=server.url)
    assert "serves other weights" in str(error.value)
    with pytest.raises(RtposeError) as error:
        TritonBackend(f"127.0.0.1:{free_port()}")
    assert "is not reachable" in str(error.value)
    for message in [str(error.value)]:
        assert message.count(". ") == 0 and "\n" not in message
    with pytest.raises(RtposeError, match="is not HOST:PORT"):
        TritonBackend("localhost")


def test_cli_with_the_server_down_says_one_sentence(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "rtpose", "--source", str(BUS), "--backend", "triton", "--server",
         f"127.0.0.1:{free_port()}", "--no-show", "--detector", str(DETECTOR_WEIGHTS)],
        capture_output=True, text=True, env=_env(), timeout=300, cwd=tmp_path,
    )
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "is not reachable" in lines[0], done.stderr


def test_server_killed_mid_run_then_restarted(repo, tmp_path, small_weights):
    """A run goes on while its server is down (boxes kept, keypoint scores 0, counted) and resumes once it is back."""
    import cv2

    from rtpose.pose.estimator import TopDownEstimator
    from rtpose.runtime import create_backend

    _need_server()
    own = TritonServer(repo, tmp_path / "server").start()
    try:
        estimator = TopDownEstimator(create_backend("triton", weights=str(small_weights), server=own.url))
        backend = estimator.backend
        image = cv2.imread(str(BUS))
        assert estimator.estimate_boxes(image, BOXES).keypoints[..., 2].max() > 0
        own.stop()
        for _ in range(3):
            result = estimator.estimate_boxes(image, BOXES)
            np.testing.assert_array_equal(result.boxes, BOXES)
            assert result.keypoints[..., 2].max() == 0
        assert backend.failures["down"] == 3 and backend.failed_calls == 3
        assert backend.failure_summary() == "3 pose calls failed (server down: 3)"
        own.start()  # same ports
        deadline = time.monotonic() + 60
        while estimator.estimate_boxes(image, BOXES).keypoints[..., 2].max() == 0:
            assert time.monotonic() < deadline, "pose did not resume after the restart"
            time.sleep(0.1)
        assert backend.failures["deadline"] == backend.failures["rejected"] == backend.failures["error"] == 0
    finally:
        own.stop()


def test_full_queue_rejects_and_deadline_drops(repo, tmp_path, server):
    """A request past the queue policy's timeout is rejected, one past the client's deadline dropped; both counted."""
    from rtpose.runtime.triton_runtime import TritonBackend

    _need_server()
    crops = np.random.default_rng(0).integers(0, 255, (4, 3, 256, 192), dtype=np.uint8)
    late = TritonBackend(server.url, timeout_s=0.001)
    assert not late.infer_uint8(crops).any()
    assert late.failures["deadline"] == 1 and late.failed_calls == 1

    tight = tmp_path / "repo"
    shutil.copytree(repo, tight)
    config = tight / "hrnet_pose" / "config.pbtxt"
    text = config.read_text().replace("default_timeout_microseconds: 5000000", "default_timeout_microseconds: 1000")
    text = text.replace("max_batch_size: 64", "max_batch_size: 4")
    text = text.replace("  preferred_batch_size: [ 8, 16, 32 ]\n", "")
    config.write_text(text)  # one request per execution: the others wait longer than 1 ms
    own = TritonServer(tight, tmp_path / "server").start()
    try:
        backend = TritonBackend(own.url, timeout_s=30)
        outs = []
        threads = [threading.Thread(target=lambda: outs.append(backend.infer_uint8(crops))) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert len(outs) == 8
        assert backend.failures["rejected"] > 0
        assert backend.failures["down"] == backend.failures["error"] == 0
        assert sum(1 for out in outs if out.any()) == 8 - backend.failures["rejected"]
    finally:
        own.stop()


def test_dead_python_backend_counts_as_down(repo, tmp_path):
    """A killed Python-backend stub leaves the model "ready" while every request fails: after 3 internal errors
    the server counts as down (no more requests, only probes), and once the model is reloaded pose resumes."""
    import tritonclient.grpc as grpcclient

    from rtpose.runtime.triton_runtime import ERRORS_AS_DOWN, TritonBackend

    _need_server()
    own = TritonServer(repo, tmp_path / "server").start()
    try:
        backend = TritonBackend(own.url, timeout_s=30)
        crops = np.random.default_rng(1).integers(0, 255, (2, 3, 256, 192), dtype=np.uint8)
        assert backend.infer_uint8(crops).any()
        stubs = [pid for pid in subprocess.run(["pgrep", "-P", str(own.process.pid)], capture_output=True,
                                               text=True).stdout.split()
                 if Path(f"/proc/{pid}/comm").read_text().startswith("triton_python")]
        assert stubs
        for pid in stubs:
            os.kill(int(pid), 9)
        for _ in range(ERRORS_AS_DOWN + 2):
            assert not backend.infer_uint8(crops).any()
        assert backend.failures["error"] == ERRORS_AS_DOWN
        assert backend.failures["down"] == 2 and backend.servers[0].down
        assert grpcclient.InferenceServerClient(own.url).is_model_ready("hrnet_pose")  # what made this hard to see
        control = grpcclient.InferenceServerClient(own.url)
        control.unload_model("hrnet_pose", unload_dependents=False)  # (load_model alone keeps an unchanged model)
        control.load_model("hrnet_pose")  # a fresh stub
        deadline = time.monotonic() + 60
        while not backend.infer_uint8(crops).any():
            assert time.monotonic() < deadline, "pose did not resume after the model was reloaded"
            time.sleep(0.1)
    finally:
        own.stop()


def test_a_stream_goes_on_through_a_server_restart(repo, tmp_path, small_weights, monkeypatch, capfd):
    """model.stream(...) with the server killed mid-run: every frame comes out, with boxes; frames while it is
    down have keypoint scores 0 and are counted; after the restart pose resumes."""
    import cv2

    import rtpose

    _need_server()
    monkeypatch.setenv("RTPOSE_ENGINES", str(tmp_path / "engines"))
    own = TritonServer(repo, tmp_path / "server").start()
    image = cv2.imread(str(BUS))
    try:
        with rtpose.PoseModel(backend="triton", server=own.url, detector=str(DETECTOR_WEIGHTS), device="cpu",
                              weights=str(small_weights)) as model:
            backend = model.estimator.backend
            scores, state = [], {"restarted": False, "resumed": 0}

            def frames():  # until pose has come back (at most 2 minutes)
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline and not (state["resumed"] and len(scores) > state["resumed"] + 3):
                    yield image

            stream = model.stream(frames(), track=False, smooth=False)
            for result in stream:
                assert len(result) > 0  # the detector's boxes, server or not
                scores.append(float(result.keypoints[..., 2].max()))
                if len(scores) == 3:
                    own.stop()
                if len(scores) == 12:
                    own.start()
                    state["restarted"] = True
                if state["restarted"] and scores[-1] > 0 and not state["resumed"]:
                    state["resumed"] = len(scores)
        assert state["resumed"], "pose did not resume after the restart"
        assert scores[0] > 0 and scores[-1] > 0
        dark = sum(1 for s in scores if s == 0)
        assert dark > 0 and backend.failures["down"] == dark == backend.failed_calls
        assert backend.failure_summary().startswith(f"{dark} pose call")
        stats = stream.stats()  # the run's summary counts them, by cause
        assert stats.failures == {"pose": {"calls": backend.calls, "down": dark, "deadline": 0, "rejected": 0,
                                           "error": 0}}
        assert stats.to_dict()["failures"]["pose"]["down"] == dark
        assert (f"triton pose: {dark} of {backend.calls} calls failed (server down {dark}, past deadline 0, "
                "rejected (queue full) 0, server error 0)") in stats.format().splitlines()
        said = capfd.readouterr().err  # when the model closed
        assert f"rtpose: warning: {dark} pose call" in said and "those frames' people have keypoint scores 0." in said
    finally:
        own.stop()


def test_detector_model_agrees_with_its_onnx_file(tmp_path, small_weights):
    """--detector adds Ultralytics' ONNX export of the YOLO detector, with a config.pbtxt that fits the file."""
    done = subprocess.run(
        [sys.executable, "-m", "rtpose", "export-triton", "--weights", str(small_weights), "--repo",
         str(tmp_path / "repo"), "--detector", str(DETECTOR_WEIGHTS)],
        capture_output=True, text=True, env=_env(), timeout=600, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "repo" / "yolo_detector"
    assert done.stdout.split() == [str(tmp_path / "repo" / "hrnet_pose"), str(folder)]
    config = _model_config(folder / "config.pbtxt")
    (in_name, in_type, in_dims), = _onnx_io(folder / "1" / "model.onnx")[0]
    (out_name, out_type, out_dims), = _onnx_io(folder / "1" / "model.onnx")[1]
    assert (config.input[0].name, config.output[0].name) == (in_name, out_name) == ("images", "output0")
    assert in_type == out_type == "FLOAT" and config.platform == "onnxruntime_onnx"
    assert in_dims[1] == 3 and list(config.input[0].dims) == [3, -1, -1] and len(config.output[0].dims) == 2
    assert all(isinstance(d, str) for d in (in_dims[0], in_dims[2], in_dims[3], out_dims[0]))  # dynamic
    assert list(config.output[0].dims) == [-1 if isinstance(d, str) else d for d in out_dims[1:]]
    import ast

    from rtpose.utils.hashing import file_sha256

    params = {k: v.string_value for k, v in config.parameters.items()}
    assert params["detector_sha256"] == file_sha256(DETECTOR_WEIGHTS)
    metadata = ast.literal_eval(params["metadata"])  # what Ultralytics' TritonRemoteModel reads
    assert ast.literal_eval(metadata["names"])[0] == "person" and metadata["task"] == "detect"
    assert ast.literal_eval(metadata["args"])["dynamic"] is True
    assert not (tmp_path / "yolov8n-person.onnx").exists() and not (DETECTOR_WEIGHTS.with_suffix(".onnx")).exists()


def test_two_servers_share_the_work_and_cover_for_each_other(repo, tmp_path, server):
    """--server a,b: concurrent frames go to both (fewest in flight); with one killed, the other takes every
    frame and nothing fails."""
    from rtpose.runtime.triton_runtime import TritonBackend

    other = TritonServer(repo, tmp_path / "other").start()
    try:
        backend = TritonBackend(f"{server.url},{other.url}", timeout_s=60)
        before = [s.metric("nv_inference_request_success") for s in (server, other)]
        crops = np.random.default_rng(2).integers(0, 255, (2, 3, 256, 192), dtype=np.uint8)
        outs = []
        threads = [threading.Thread(target=lambda: outs.append(backend.infer_uint8(crops))) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        assert len(outs) == 6 and all(out.any() for out in outs) and backend.failed_calls == 0
        deadline = time.monotonic() + 20  # a loaded machine's Triton updates its counters a little after replying
        while True:
            served = [s.metric("nv_inference_request_success") - b for s, b in zip((server, other), before)]
            if sum(served) >= 6 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert sum(served) == 6 and min(served) >= 2
        other.stop()
        for _ in range(3):
            assert backend.infer_uint8(crops).any()
        assert backend.failed_calls == 0 and backend.servers[1].down
    finally:
        other.stop()


def _video_frames(n: int) -> list[np.ndarray]:
    import cv2

    capture = cv2.VideoCapture(str(VIDEO_MULTI))
    frames = []
    while len(frames) < n:
        ok, frame = capture.read()
        assert ok, VIDEO_MULTI
        frames.append(frame)
    capture.release()
    return frames


def test_python_backend_detector_config(repo):
    """--python-backend writes the detector for Triton's Python backend too: model.py beside the same ONNX file."""
    config = _model_config(repo / "yolo_detector" / "config.pbtxt")
    from tritonclient.grpc import model_config_pb2 as pb

    assert config.backend == "python" and config.instance_group[0].kind == pb.ModelInstanceGroup.KIND_CPU
    model_py = repo / "yolo_detector" / "1" / "model.py"
    assert model_py.read_text() == (repo / "hrnet_pose" / "1" / "model.py").read_text()
    assert config.max_batch_size == 16 and [i.name for i in config.input] == ["images"]


def test_served_detector_equals_the_local_one(server):
    """--detector triton://…: the people of bus.jpg and of video frames are the local detector's (same ONNX
    graph, Ultralytics' pre- and post-processing on both sides); a batch of frames is one request."""
    import cv2

    from rtpose.pose.detector import PersonDetector
    from rtpose.pose.factory import make_detector

    images = [cv2.imread(str(BUS)), *_video_frames(3)]
    remote = make_detector(f"triton://{server.url}/yolo_detector", conf=0.3, max_people=3)
    local = PersonDetector(str(DETECTOR_WEIGHTS), conf=0.3, max_people=3, device="cpu", runtime="torch")
    before = server.metric("nv_inference_request_success", "yolo_detector")
    got, expected = remote.detect_batch(images), local.detect_batch(images)
    assert server.metric("nv_inference_request_success", "yolo_detector") - before == 1
    assert remote.calls == 1 and remote.failed_calls == 0
    assert [len(g) for g in got] == [len(e) for e in expected] and len(got[0]) == 3  # max_people
    assert sum(len(g) for g in got[1:]) > 0
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g.boxes, e.boxes, atol=1.0)
        np.testing.assert_allclose(g.scores, e.scores, atol=2e-3)
        assert (g.scores >= 0.3).all()
    remote.close()
    from rtpose.pose.triton_detector import TritonDetector, is_triton_url

    late = TritonDetector(f"grpc://{server.url}/yolo_detector", timeout_s=0.001)  # Ultralytics' own URL form
    assert [len(d) for d in late.detect_batch(images[:2])] == [0, 0]  # frames go on, with nobody
    assert late.failures["deadline"] == 1 and late.failure_summary() == "1 detector call failed (past deadline: 1)"
    assert not late.server.down
    late.close()
    assert is_triton_url("http://gpu1:8000/yolo_detector") and not is_triton_url("http://host/models/yolov8n.pt")


def test_served_detector_wrong_model_or_url_is_one_sentence(server):
    from rtpose.errors import RtposeError
    from rtpose.pose.factory import make_detector

    cases = {f"triton://{server.url}/yolo": "has no ready model 'yolo'",
             f"grpc://127.0.0.1:{free_port()}/yolo_detector": "is not reachable",
             "triton://localhost/yolo_detector": "is not a Triton URL",
             f"triton://{server.url}/hrnet_pose": "has no Ultralytics export metadata"}
    for url, words in cases.items():
        with pytest.raises(RtposeError) as error:
            make_detector(url)
        assert words in str(error.value) and "\n" not in str(error.value)


def test_cli_with_both_models_served(server, small_weights, tmp_path):
    """``rtpose --backend triton --detector triton://…`` on video frames: people found and posed by the server; the
    summary has a row per served part, whose failures are the frames without keypoints; a wrong detector model
    name is one sentence and a non-zero exit."""
    import json
    import re

    from rtpose.runtime.triton_runtime import TritonBackend

    warm = TritonBackend(server.url, timeout_s=120)  # the first execution of a fresh Python backend model is slow
    assert warm.infer_uint8(np.zeros((1, 3, 256, 192), np.uint8)).shape == (1, 17, 64, 48)
    warm.close()
    base = [sys.executable, "-m", "rtpose", "--source", str(VIDEO_MULTI), "--max-frames", "3", "--backend", "triton",
            "--server", server.url, "--no-show", "--weights", str(small_weights), "--json", str(tmp_path / "o.jsonl")]
    done = subprocess.run([*base, "--detector", f"triton://{server.url}/yolo_detector"], capture_output=True,
                          text=True, env=_env(), timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "detector yolo_detector on cpu: served by Triton at grpc://" in done.stderr
    # one call per frame, and the model's warm-up call when it loaded
    assert re.search(r"triton detector: 0 of 4 calls failed \(server down 0, past deadline 0", done.stderr)
    pose = re.search(r"triton pose: (\d+) of 4 calls failed", done.stderr)
    frames = [r for r in map(json.loads, (tmp_path / "o.jsonl").read_text().splitlines()) if "people" in r]
    assert len(frames) == 3 and all(f["people"] for f in frames) and pose, done.stderr
    dark = sum(1 for f in frames if max(k[2] for p in f["people"] for k in p["keypoints"]) == 0)
    # a failed pose call is a frame whose people have no keypoints (or the warm-up call)
    assert dark <= int(pose.group(1)) <= dark + 1
    done = subprocess.run([*base, "--detector", f"triton://{server.url}/nope"], capture_output=True, text=True,
                          env=_env(), timeout=300, cwd=tmp_path)
    last = done.stderr.strip().splitlines()[-1]  # after the pose backend's line: one sentence, no traceback
    assert done.returncode != 0 and last.startswith("rtpose: error: ") and "has no ready model 'nope'" in last
    assert "Traceback" not in done.stderr and done.stderr.count("error") == 1, done.stderr


def test_detector_server_killed_mid_stream(repo, tmp_path, small_weights, monkeypatch):
    """The detector's server killed mid-run: frames keep coming, with no people, each counted in the run's summary;
    after the restart people come back."""
    import rtpose

    _need_server()
    monkeypatch.setenv("RTPOSE_ENGINES", str(tmp_path / "engines"))
    own = TritonServer(repo, tmp_path / "server", models=("yolo_detector",)).start()
    image = __import__("cv2").imread(str(BUS))
    try:
        with rtpose.PoseModel(backend="onnxruntime", detector=f"triton://{own.url}/yolo_detector", device="cpu",
                              weights=str(small_weights)) as model:
            detector = model.estimator.detector
            people, state = [], {"restarted": False}

            def frames():  # until people come back after the restart (at most 2 minutes)
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline and not (state["restarted"] and people[-1] > 0):
                    yield image

            stream = model.stream(frames(), track=False, smooth=False)
            for result in stream:
                people.append(len(result))
                if len(people) == 2:
                    own.stop()
                if len(people) == 6:
                    own.start()
                    state["restarted"] = True
            stats = stream.stats()
        assert people[0] == 4 and people[-1] == 4 and state["restarted"]
        empty = people.count(0)
        assert empty >= 4 and detector.failures["down"] == empty == detector.failed_calls
        row = stats.failures["detector"]
        assert row["down"] == empty and row["calls"] == detector.calls >= len(people)
        assert f"triton detector: {empty} of {detector.calls} calls failed (server down {empty}," in stats.format()
    finally:
        own.stop()
