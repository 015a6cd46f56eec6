"""The options shared by the library, the commands and the viewer: one :class:`~rtpose.options.schema.Option`
record each.

Each record's ``group`` places it in ``--help`` (``rtpose run`` shows every record of these tables; ``rtpose gui``
the model and tracking ones). ``MODEL`` are :class:`rtpose.PoseModel`'s keyword arguments
(:class:`~rtpose.options.ModelOptions`), ``STREAM``
those of :meth:`rtpose.PoseModel.stream` (:class:`~rtpose.options.StreamOptions`), ``RUN`` the ones only
``rtpose run`` has. A command's own options are records next to its ``configure`` (``rtpose eval --labels``).

Adding an option is adding a record here: its check, flag, help and (for ``MODEL``/``STREAM``) the dataclass
field come from it; ``tests/test_options.py`` then asks for a Python keyword of the same name and default, and
tests a bad value through ``PoseModel`` and the ``rtpose`` command alike.
"""

from __future__ import annotations

from rtpose.options.schema import (
    INPUT_FILE,
    OUTPUT_FILE,
    OUTPUT_FOLDER,
    SOURCE,
    SOURCE_LIST,
    Option,
)

PRECISIONS = ("auto", "fp32", "bf16")
#: The ``--help`` group of the segmentation options.
SEG_GROUP = "segmentation (HRNetV2 next to pose)"
SEG_MODES = ("person", "parts")


def _backends() -> tuple:
    from rtpose.runtime.select import backend_names

    return tuple(backend_names())


def _keypoint_sets() -> tuple:
    from rtpose.pose.keypoint_sets import KEYPOINT_SETS

    return tuple(KEYPOINT_SETS)


def _seg_backends() -> tuple:
    from rtpose.runtime.select import SEG_BACKENDS

    return tuple(SEG_BACKENDS)


MODEL = (
    Option("weights", "path", role=INPUT_FILE, metavar="PATH|NAME", scope="model", group="model",
           help="HRNet checkpoint (official, mmpose or rtpose training file), an exported .onnx, a TensorRT .engine, "
                "or a downloaded registry name such as hrnet_w32_coco_256x192"),
    Option("backend", "str", "auto", choices=_backends, scope="model", group="model",
           help="pose inference backend; auto picks the fastest available"),
    Option("device", "device", "auto", scope="model", group="model", help="cpu, cuda or cuda:N"),
    Option("server", "str", metavar="HOST:PORT[,HOST:PORT]", scope="model", group="model",
           help="with --backend triton: the Triton servers' gRPC addresses (e.g. gpu1:8001,gpu2:8001)"),
    Option("input_size", "size", metavar="HxW", scope="model", group="model",
           help="model input height x width (default: what the weights were trained for, else 256x192)"),
    Option("flip", "bool", False, scope="model", group="model",
           help="flip test: average with the mirrored crop (slower)"),
    Option("keypoints", "str", choices=_keypoint_sets, metavar="NAME", scope="model", group="model",
           help="keypoint set of the weights when the file cannot say (e.g. ap10k for 17 animal keypoints): "
                "{choices} (default: from the registry entry or the number of heatmaps)"),
    Option("seg", "str", choices=SEG_MODES, scope="model", group=SEG_GROUP,
           help="person: each person's mask from whole-frame segmentation (default weights: VOC HRNetV2-W18, "
                "downloaded once); parts: body-part parsing of each person (LIP classes; --seg-weights needed: the "
                "official LIP file has no published checksum, so it is never fetched)"),
    Option("seg_weights", "path", role=INPUT_FILE, metavar="PATH|NAME", scope="model", group=SEG_GROUP,
           help="segmentation checkpoint (official HRNet-Semantic-Segmentation, mmsegmentation or rtpose file) or "
                "registry name (rtpose weights list)"),
    Option("seg_backend", "str", choices=_seg_backends, scope="model", group=SEG_GROUP,
           help="segmentation runtime (default: --backend's when segmentation has it, else auto: a built TensorRT "
                "engine or PyTorch FP16 on CUDA, OpenVINO or ONNX Runtime on the CPU); onnxruntime and openvino "
                "export the model once into the engines folder, tensorrt builds an engine there once (minutes)"),
    Option("seg_classes", "str", metavar="NAME", scope="model", group=SEG_GROUP,
           help="the file's class set where its class count is ambiguous: voc, lip, cityscapes, ade20k, "
                "pascal_context, pascal_context60"),
    Option("precision", "str", "auto", choices=PRECISIONS, scope="model", group="model",
           help="inference precision: auto runs OpenVINO in bf16 where the CPU has native BF16 (AVX-512 BF16/AMX; "
                "keypoints checked against FP32), fp32 keeps every backend in float32"),
    Option("classes", "classes", metavar="IDS|NAMES", scope="model", group="model",
           help="comma-separated detector classes to pose, ids or names (default: person; COCO's animal classes "
                "14-23 for AP-10K models)"),
    Option("detector", "path", role=INPUT_FILE, metavar="PATH|NAME|URL", scope="model", group="model",
           help="Ultralytics YOLO detector weights or model name, or one served by Triton: "
                "triton://HOST:8001/yolo_detector (default: yolov8n.pt)"),
    Option("trust_detector", "bool", False, scope="model", group="model",
           help="load a --detector file even when it needs unsafe unpickling, which can run any code it contains "
                "(default: such files are refused; also RTPOSE_TRUST_DETECTOR=1)"),
    Option("conf", "float", 0.25, low=0.0, high=1.0, scope="model", group="model",
           help="person detection confidence, 0 to 1"),
    Option("max_people", "int", 32, low=1, scope="model", group="model", help="most people per frame"),
)

STREAM = (
    Option("det_every", "int", 1, low=1, metavar="N", scope="stream",
           help="run the detector on one frame in N; between, each person's box comes from their previous "
                "keypoints (1: every frame)"),
    Option("budget_ms", "float", None, low=0, above=True, flags=("--budget",), metavar="MS", scope="stream",
           help="keep each frame's model work near MS milliseconds: new people and the people who moved most get a "
                "fresh pose, the others' keypoints move with their box, the detector runs when the tracks need it "
                "(none: everyone every frame)"),
    Option("max_age", "int", 10, low=1, metavar="N", scope="stream",
           help="with --budget, the most frames a person's keypoints are carried before a fresh pose"),
    Option("track", "bool", True, negatable=True, scope="stream", group="tracking",
           help="give people identities across frames"),
    Option("smooth", "bool", True, negatable=True, scope="stream", group="tracking",
           help="smooth tracked keypoints over time (with --track)"),
    Option("track_buffer", "int", 30, low=0, metavar="N", scope="stream", group="tracking",
           help="frames a lost track is kept before its id is retired"),
    Option("kpt_thr", "float", 0.3, low=0.0, high=1.0, metavar="T", scope="stream", group="output",
           help="keypoints below this score are hidden and neither count for tracking nor update the smoothing, "
                "0 to 1"),
    Option("realtime", "bool", False, scope="stream", group="source",
           help="play files at their frame rate, dropping frames when inference is slower"),
    Option("max_frames", "int", None, low=1, metavar="N", scope="stream", group="output",
           help="stop after N processed frames"),
    Option("timeout", "float", 10.0, low=0.0, above=True, metavar="S", scope="stream", group="source",
           help="seconds to wait for a stream to connect"),
    Option("reconnect_timeout", "float", 30.0, low=0.0, metavar="S", scope="stream", group="source",
           help="seconds a stream that stopped may take to come back before the run ends with exit code 1 "
                "(0 ends at once)"),
)

def _mqtt_url(text: str) -> str:
    """argparse ``type=`` of ``--mqtt`` (imported when used: ``rtpose --help`` loads no MQTT client)."""
    from rtpose.io.mqtt import mqtt_url_arg

    return mqtt_url_arg(text)


RUN = (
    Option("camera", "int", low=0, metavar="N", scope="run", group="source",
           help="camera index (0 is the first camera)"),
    Option("source", "path", role=SOURCE, metavar="SPEC", scope="run", group="source", extra={"action": "append"},
           help="video file, image, folder of images (name order), rtsp:// or http(s):// stream, or a camera "
                "index; give it several times to run several streams in one process (one pose call for all "
                "their people)"),
    Option("sources", "path", role=SOURCE_LIST, metavar="FILE", scope="run", group="source",
           help="a text file of sources, one per line (# starts a comment), added to any --source"),
    Option("save", "path", role=OUTPUT_FILE, metavar="PATH", scope="run", group="output",
           help="write the annotated video (.mp4/.avi), or an image file when the source is one image; where "
                "frames are dropped (live sources, --realtime) the previous frame fills the gap, so the video lasts "
                "as long as the source did; with several sources a folder (DIR/): one video per stream, named after "
                "it"),
    Option("json", "path", role=OUTPUT_FILE, metavar="PATH", scope="run", group="output",
           help="write JSON Lines (.jsonl): a header line per stream, then one line per frame (for one image: a "
                "JSON file unless the name ends in .jsonl); - is standard output; schema in the README"),
    Option("mqtt", "str", metavar="URL", scope="run", group="output", extra={"type": _mqtt_url},
           help="publish every frame's record and events (tracks, outages) to an MQTT broker: "
                "mqtt://[USER:PASSWORD@]HOST[:PORT]/TOPIC or mqtts://; the user and password may come from "
                "RTPOSE_MQTT_USERNAME and RTPOSE_MQTT_PASSWORD instead"),
    Option("privacy", "str", choices=("faces", "skeleton"), metavar="{faces,skeleton}", scope="run", group="output",
           help="in every picture written or shown: faces blurs each face, skeleton draws the skeletons on a plain "
                "background"),
    Option("save_masks", "path", role=OUTPUT_FOLDER, metavar="DIR", scope="run", group="output",
           writes=("frame_*.png", "s*_frame_*.png"),
           help="with --seg: one indexed-colour PNG per frame (person i+1, or the body-part class)"),
    Option("background", "path", role=INPUT_FILE, metavar="blur|COLOR|IMAGE", scope="run", group="output",
           help="with --seg: blur or replace everything that is not a person in the video and window (a colour: "
                "green, #00ff00 or 0,255,0; or an image file)"),
    Option("show", "bool", None, negatable=True, scope="run", group="output",
           help="show a window with the overlay (default: when a display exists); q or Esc quits"),
    Option("quiet", "bool", False, scope="run", group="output",
           help="print nothing but warnings and errors (no progress, no summary)"),
    Option("verbose", "bool", False, scope="run", group="output", help="also print debugging details"),
)

#: Every shared option by name.
OPTIONS: dict[str, Option] = {o.name: o for o in (*MODEL, *STREAM, *RUN)}


def option(name: str, **changes) -> Option:
    """The shared record ``name``, or a command's variant of it (``option("input_size", default=(256, 192))``)."""
    import dataclasses

    return dataclasses.replace(OPTIONS[name], **changes) if changes else OPTIONS[name]


__all__ = ["MODEL", "OPTIONS", "PRECISIONS", "RUN", "SEG_GROUP", "SEG_MODES", "STREAM", "option"]
