"""Shared fixtures: paths to the real data and models in ../shared, and deterministic HRNet weights."""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RTPOSE_SHARED", ROOT.parent / "shared"))
DATA = SHARED / "data"
MODELS = SHARED / "models"
REFERENCE = SHARED / "reference"

DETECTOR_WEIGHTS = MODELS / "yolov8n-person.pt"
BASELINE_POSE_WEIGHTS = MODELS / "yolov8n-pose-baseline.pt"
VAL_DEV = DATA / "coco_val_dev"
VAL_DEV_ANN = VAL_DEV / "person_keypoints_val2017.json"
TRAIN_MINI = DATA / "coco_train_mini"
TRAIN_MINI_ANN = TRAIN_MINI / "person_keypoints_train2017.json"
VIDEO_MULTI = DATA / "videos" / "vtest-480x360.avi"
VIDEO_ONE_BY_ONE = DATA / "videos" / "one-by-one-person.mp4"
BUS = DATA / "images" / "bus.jpg"


@pytest.fixture(scope="session", autouse=True)
def library_messages_on_stderr():
    """Show the library's messages on stderr, as the command line and the viewer do (the library alone has
    only a NullHandler), so that tests of library functions can read what a user of the apps would see."""
    from rtpose.log import attach_stderr

    attach_stderr()


def _load_fill():
    spec = importlib.util.spec_from_file_location("reference_fill", REFERENCE / "fill.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.fill_state_dict


@pytest.fixture(scope="session")
def fill_state_dict():
    """The reference ``fill_state_dict`` (deterministic weights from names and shapes)."""
    return _load_fill()


@pytest.fixture(scope="session")
def seg_weights(tmp_path_factory, fill_state_dict) -> dict[str, Path]:
    """Deterministic HRNetV2-W18 segmentation checkpoints: ``{"voc": 21 classes, "lip": 20 classes}``."""
    from rtpose.models import HRNetSeg
    from rtpose.weights.seg import save_seg_checkpoint

    folder = tmp_path_factory.mktemp("seg")
    paths = {}
    for classes, name in ((21, "voc"), (20, "lip")):
        net = HRNetSeg(width=18, num_classes=classes)
        net.load_state_dict(fill_state_dict(net.state_dict()), strict=True)
        paths[name] = save_seg_checkpoint(net, folder / f"hrnetv2_w18_{name}.pth", seg_classes=name)
    return paths


@pytest.fixture(scope="session")
def reference_model(fill_state_dict):
    """HRNet-W32 with the reference's deterministic weights, in eval mode on the CPU."""
    from rtpose.models import HRNet

    model = HRNet(width=32)
    model.load_state_dict(fill_state_dict(model.state_dict()), strict=True)
    return model.eval()


@pytest.fixture(scope="session")
def reference_weights(tmp_path_factory, reference_model) -> Path:
    """An official-layout checkpoint file (plain state_dict) of the reference W32 weights."""
    import torch

    path = tmp_path_factory.mktemp("weights") / "pose_hrnet_w32_256x192_reference.pth"
    torch.save(reference_model.state_dict(), path)
    return path


@pytest.fixture(scope="session")
def small_weights(tmp_path_factory, fill_state_dict) -> Path:
    """A fast HRNet-W18 checkpoint (deterministic weights) for CLI and pipeline tests."""
    import torch

    from rtpose.models import HRNet

    model = HRNet(width=18)
    model.load_state_dict(fill_state_dict(model.state_dict()), strict=True)
    path = tmp_path_factory.mktemp("weights") / "pose_hrnet_w18_reference.pth"
    torch.save(model.state_dict(), path)
    return path


# ---- test tiers ------------------------------------------------------------------------------------------------
# ``python -m pytest -q -m "not slow"`` is the fast tier (a developer's minutes); ``python -m pytest -q`` runs all.
# The kinds below are applied here, in one place, from where a test lives and what it needs (a test may also
# say its kind itself with ``@pytest.mark.server``):
#   server: starts a real server (Triton, an RTSP/HTTP stream server, rtpose serve, an MQTT broker);
#   x11:    starts a real X server (Xvfb) and the viewer;
#   train:  trains a model;
#   gpu:    needs a CUDA GPU or TensorRT (skipped, with its reason, on machines without one).
# Each of them is also ``slow``; so is every test in SLOW (measured over 3 s on two CPU cores, with the durations
# of ``python -m pytest -q --durations=0``).
KIND_BY_PATH = {
    "server": ("tests/runtime/test_triton.py", "tests/io/test_stream_sources.py"),
    "x11": ("tests/gui/test_gui_x11.py",),
    "train": ("tests/train/test_fit.py", "tests/train/test_seg.py"),
}
_GPU_REASON = re.compile(r"needs?\b.*\b(GPU|CUDA)\b|\b(GPU|CUDA)\b.*\bneeded\b")
SLOW: set[str] = {
    "tests/runtime/test_openvino_precision.py::test_openvino_bf16_keypoints_match_fp32_on_real_crops",
    "tests/runtime/test_sharing.py::test_a_segmentation_runtime_called_by_four_threads_at_once",
    "tests/cli/test_export_triton.py::test_a_complete_export_replaces_the_models_and_keeps_the_others",
    "tests/cli/test_one_run_path.py::test_a_full_disk_under_a_single_image_save_says_so",
    "tests/train/test_fit_errors.py::test_a_malformed_person_mask_is_one_sentence_naming_the_annotation",
    "tests/cli/test_path_roles.py::test_an_output_pointed_at_an_input_is_refused_and_the_input_kept",
    "tests/cli/test_check.py::test_check_bad_input_is_one_sentence",
    "tests/cli/test_check.py::test_check_fails_with_one_sentence_when_a_backend_disagrees",
    "tests/cli/test_check.py::test_check_runs_every_backend_against_torch_fp32",
    "tests/cli/test_check.py::test_check_seg_fails_with_one_sentence_when_a_runtime_disagrees",
    "tests/cli/test_check.py::test_check_seg_person_adds_a_row_per_segmentation_runtime",
    "tests/cli/test_first_run.py::test_export_onnx_takes_a_registry_name_and_fetches_it",
    "tests/cli/test_first_run.py::test_first_run_downloads_the_default_then_uses_the_cache",
    "tests/cli/test_hostile_inputs.py::test_a_detector_pickle_that_runs_code_is_refused_and_nothing_runs",
    "tests/cli/test_hostile_inputs.py::test_a_full_disk_stops_json_lines_with_a_sentence_and_valid_lines",
    "tests/cli/test_hostile_inputs.py::test_a_full_disk_stops_the_video_with_a_sentence_and_a_playable_file",
    "tests/cli/test_hostile_inputs.py::test_a_stop_signal_during_the_detector_export_stops_it_and_leaves_nothing",
    "tests/cli/test_hostile_inputs.py::test_a_training_override_of_the_wrong_kind_is_one_sentence",
    "tests/cli/test_hostile_inputs.py::test_a_trickling_download_has_a_deadline_and_leaves_nothing",
    "tests/cli/test_hostile_inputs.py::test_json_dash_writes_standard_output",
    "tests/cli/test_hostile_inputs.py::test_processes_started_together_on_an_empty_engines_folder_all_run_and_export_once",
    "tests/cli/test_keypoint_sets.py::test_wholebody_video_end_to_end",
    "tests/engine/test_streams.py::test_a_stalled_or_ended_stream_never_holds_the_others",
    "tests/engine/test_streams.py::test_cli_several_sources_one_json_file_and_a_video_each",
    "tests/engine/test_streams.py::test_people_per_pose_call_grow_with_the_streams",
    "tests/engine/test_streams.py::test_the_two_inference_stages_give_what_one_thread_gives",
    "tests/engine/test_streams.py::test_two_streams_in_one_process_keep_their_own_frames",
    "tests/eval/test_keypoints.py::test_predict_with_a_real_detection_file",
    "tests/eval/test_parts.py::test_a_real_parts_run_scores_the_same_from_json_and_from_save_masks",
    "tests/eval/test_parts.py::test_bad_inputs_give_one_sentence",
    "tests/export/test_detector_openvino.py::test_export_is_cached_by_sha256_with_a_sidecar",
    "tests/export/test_seg_onnx.py::test_dynamic_batch_and_size",
    "tests/export/test_seg_onnx.py::test_fixed_size_graph",
    "tests/export/test_sidecar.py::test_cli_build_engine_without_tensorrt_says_how_to_install",
    "tests/gui/test_gui.py::test_person_segmentation_is_chosen_in_the_model_panel_and_blurs_the_background",
    "tests/gui/test_gui.py::test_two_videos_play_in_a_grid_with_a_readout_per_stream",
    "tests/gui/test_gui.py::test_video_frames_overlays_pause_resume_stop_close",
    "tests/io/test_camera.py::test_stop_signals_finalise_outputs_and_exit_128_plus_n",
    "tests/io/test_sources.py::test_stream_that_never_answers_times_out",
    "tests/models/test_hrnet_seg.py::test_cost_is_the_published_one",
    "tests/models/test_hrnet_seg.py::test_logits_match_official",
    "tests/models/test_hrnet_seg.py::test_shapes_at_other_widths_classes_and_sizes",
    "tests/models/test_keypoint_heads.py::test_set_loads_strict_and_matches_reference_in_shared_channels",
    "tests/pose/test_det_every.py::test_keypoint_boxes_of_a_trained_pose_model_overlap_the_next_detections",
    "tests/runtime/test_backends.py::test_auto_exports_onnx_once_and_says_so",
    "tests/runtime/test_backends.py::test_onnxruntime_cpu_fp16_graph",
    "tests/runtime/test_backends.py::test_onnxruntime_cpu_fp32",
    "tests/runtime/test_gpu_proof.py::test_dry_run_writes_both_reports_with_every_section",
    "tests/runtime/test_gpu_proof.py::test_the_proof_keeps_its_budget_and_says_what_it_cut",
    "tests/runtime/test_seg_runtimes.py::test_an_export_is_reused_until_the_weights_change_then_rebuilt",
    "tests/runtime/test_seg_runtimes.py::test_auto_on_the_cpu_picks_openvino_else_onnxruntime_and_says_why",
    "tests/runtime/test_seg_runtimes.py::test_openvino_precision_follows_the_cpu_and_bf16_labels_mostly_agree",
    "tests/runtime/test_seg_runtimes.py::test_parts_export_is_a_fixed_square_and_person_export_has_dynamic_hw",
    "tests/runtime/test_seg_runtimes.py::test_parts_mode_agrees_with_pytorch_on_the_people_crops",
    "tests/runtime/test_seg_runtimes.py::test_person_mode_agrees_with_pytorch_on_frames_of_any_shape",
    "tests/runtime/test_seg_runtimes.py::test_pose_model_reports_the_segmentation_runtime",
    "tests/seg/test_seg_api.py::test_body_parts_of_each_person_in_one_batch",
    "tests/seg/test_seg_api.py::test_person_masks_are_disjoint_inside_the_person_probability_and_round_trip_as_rle",
    "tests/test_model.py::test_one_image_from_a_path_or_an_array",
    "tests/tracking/test_tracker.py::test_real_video_one_id_per_person",
    "tests/weights/test_registry.py::test_download_verifies_and_caches",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        where = Path(str(item.fspath)).resolve().relative_to(ROOT).as_posix()
        kinds = {kind for kind, paths in KIND_BY_PATH.items() if where.startswith(paths)}
        kinds |= {m.name for m in item.iter_markers() if m.name in KIND_BY_PATH or m.name == "gpu"}
        if any(_GPU_REASON.search(str(m.kwargs.get("reason", ""))) for m in item.iter_markers("skipif")):
            kinds.add("gpu")
        if kinds or f"{where}::{item.originalname}" in SLOW:
            kinds.add("slow")
        for kind in sorted(kinds):
            item.add_marker(kind)
