"""One model shared by several threads and several streams gives what it gives one call at a time, on every backend.

Real images (bus, zidane, COCO val) through a real :class:`rtpose.PoseModel` (the YOLO person detector and the
deterministic HRNet-W18 of ``small_weights``) on PyTorch, ONNX Runtime and OpenVINO: four threads calling the model
at once, and two ``model.stream(...)`` iterated at once, must give exactly the sequential results. Before the
runtimes kept one OpenVINO infer request per concurrent call, OpenVINO failed here with "Infer Request is busy".
The runtimes themselves (pose and segmentation) are also hammered by four threads released together.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from rtpose.runtime.openvino_runtime import openvino_available
from tests.conftest import BUS, DATA, DETECTOR_WEIGHTS, VAL_DEV, VIDEO_MULTI

pytest.importorskip("onnxruntime")

BACKENDS = ["torch", "onnxruntime", pytest.param("openvino", marks=pytest.mark.skipif(
    not openvino_available(), reason="OpenVINO is not installed"))]
THREADS = 4


def _images() -> list[np.ndarray]:
    paths = [BUS, DATA / "images" / "zidane.jpg", *sorted((VAL_DEV / "val2017").glob("*.jpg"))[:4]]
    images = [cv2.imread(str(p)) for p in paths]
    assert all(image is not None for image in images)
    return images


def _same(got, want) -> None:
    """Two PoseResults of the same frame: the same people, boxes, scores and keypoints, bit for bit."""
    assert len(got) == len(want)
    np.testing.assert_array_equal(got.boxes, want.boxes)
    np.testing.assert_array_equal(got.scores, want.scores)
    np.testing.assert_array_equal(got.keypoints, want.keypoints)


def _together(work, args_per_thread):
    """``work(*args)`` on one thread per item of ``args_per_thread``, all released at once; their results."""
    barrier = threading.Barrier(len(args_per_thread))

    def run(args):
        barrier.wait(timeout=60)
        return work(*args)

    with ThreadPoolExecutor(len(args_per_thread)) as pool:
        return list(pool.map(run, args_per_thread))


@pytest.fixture(scope="module", params=BACKENDS)
def model(request, small_weights, tmp_path_factory):
    import rtpose

    engines = tmp_path_factory.mktemp("engines")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RTPOSE_ENGINES", str(engines))
        with rtpose.PoseModel(small_weights, backend=request.param, device="cpu", detector=str(DETECTOR_WEIGHTS),
                              input_size=(128, 96)) as built:
            assert built.info.backend.name == request.param
            yield built


@pytest.mark.slow
def test_four_threads_on_one_model_give_the_sequential_results(model):
    images = _images()
    sequential = [model(image) for image in images]
    assert sum(len(r) for r in sequential) >= 6  # real people in these images

    def one_thread(offset):  # each thread goes through every image, starting at a different one
        order = [(offset + i) % len(images) for i in range(len(images))]
        return [(i, model(images[i])) for i in order]

    for per_thread in _together(one_thread, [(t,) for t in range(THREADS)]):
        assert len(per_thread) == len(images)
        for i, result in per_thread:
            _same(result, sequential[i])


@pytest.mark.slow
def test_two_streams_on_one_model_give_the_sequential_results(model):
    frames = 8
    still = str(VAL_DEV / "val2017")  # a folder of COCO images

    def run(source):
        with model.stream(source, track=False, smooth=False, max_frames=frames) as stream:
            return [(r.frame.index, r) for r in stream]

    alone = [run(str(VIDEO_MULTI)), run(still)]
    together = _together(run, [(str(VIDEO_MULTI),), (still,)])
    assert sum(len(r) for _, r in alone[1]) >= 4  # real people in these frames
    for got, want in zip(together, alone):
        assert [i for i, _ in got] == [i for i, _ in want] and len(want) == frames
        for (_, a), (_, b) in zip(got, want):
            _same(a, b)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_pose_runtime_called_by_four_threads_at_once(backend, small_weights, tmp_path):
    from rtpose.runtime.select import create_backend

    rng = np.random.default_rng(0)
    batches = [rng.standard_normal((n, 3, 128, 96)).astype(np.float32) for n in (1, 3, 5, 2)]
    with create_backend(backend, weights=str(small_weights), device="cpu", input_hw=(128, 96),
                        engines_dir=str(tmp_path)) as runtime:
        expected = [runtime.infer(b) for b in batches]
        results = _together(lambda t: [runtime.infer(batches[(t + k) % 4]) for k in range(8)],
                            [(t,) for t in range(THREADS)])
    for t, outputs in enumerate(results):
        for k, out in enumerate(outputs):
            np.testing.assert_array_equal(out, expected[(t + k) % 4])


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_segmentation_runtime_called_by_four_threads_at_once(backend, seg_weights, tmp_path):
    """Whole frames of different shapes (the person mode's dynamic H and W) from four threads at once."""
    from rtpose.runtime.select import create_seg_runtime

    rng = np.random.default_rng(1)
    frames = [rng.standard_normal((1, 3, h, w)).astype(np.float32) for h, w in ((96, 128), (128, 96), (96, 96))]
    with create_seg_runtime(backend, seg_weights["voc"], "person", 96, device="cpu", engines_dir=tmp_path) as runtime:
        expected = [runtime.infer(f) for f in frames]
        results = _together(lambda t: [runtime.infer(frames[(t + k) % 3]) for k in range(6)],
                            [(t,) for t in range(THREADS)])
    for t, outputs in enumerate(results):
        for k, out in enumerate(outputs):
            np.testing.assert_array_equal(out, expected[(t + k) % 3])


def test_the_detector_called_by_four_threads_at_once():
    """Each overlapping call borrows an Ultralytics model of its own (one model's predictor runs one call at a time),
    and every thread gets the sequential detections."""
    from rtpose.pose.detector import PersonDetector

    images = _images()
    detector = PersonDetector(str(DETECTOR_WEIGHTS), device="cpu", runtime="torch")
    sequential = detector.detect_batch(images)
    results = _together(lambda t: detector.detect_batch(images[t:] + images[:t]), [(t,) for t in range(THREADS)])
    for t, found in enumerate(results):
        for got, want in zip(found, sequential[t:] + sequential[:t]):
            np.testing.assert_array_equal(got.boxes, want.boxes)
            np.testing.assert_array_equal(got.scores, want.scores)
    assert 1 <= detector.models.size <= THREADS
