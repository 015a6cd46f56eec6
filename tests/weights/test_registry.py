"""The weights registry and download cache, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
from dataclasses import replace

import pytest

from rtpose.errors import WeightsError
from rtpose.weights.registry import (
    REGISTRY,
    cache_dir,
    cached_path,
    download,
    file_sha256,
    find_entry,
    get_entry,
    resolve_weights,
    verify_file,
)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def server(tmp_path):
    """A real HTTP server on 127.0.0.1 serving the folder it yields (and the base URL)."""
    root = tmp_path / "served"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RTPOSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("RTPOSE_WEIGHTS_URL", raising=False)
    return tmp_path / "cache" / "weights"


def test_registry_knows_the_official_coco_checkpoints():
    for name, width, hw in [("hrnet_w32_coco_256x192", 32, (256, 192)), ("hrnet_w32_coco_384x288", 32, (384, 288)),
                            ("hrnet_w48_coco_256x192", 48, (256, 192)), ("hrnet_w48_coco_384x288", 48, (384, 288))]:
        entry = get_entry(name)
        assert (entry.width, entry.input_hw) == (width, hw)
        assert entry.url.startswith("https://download.openmmlab.com/mmpose/top_down/hrnet/" + name + "-")
        assert entry.filename.split("-")[1].startswith(entry.sha256) and len(entry.sha256) == 8
    assert get_entry("hrnet_w32_coco_256x192").filename == "hrnet_w32_coco_256x192-c78dce93_20200708.pth"
    official = get_entry("pose_hrnet_w48_384x288")
    assert official.url is None and official.filename == "pose_hrnet_w48_384x288.pth"
    assert find_entry("hrnet_w48_coco_384x288-314c8528_20200708.pth") is REGISTRY["hrnet_w48_coco_384x288"]


def test_cache_folder_follows_the_environment(cache):
    assert cache_dir() == cache


def test_download_verifies_and_caches(server, cache, small_weights):
    root, url = server
    data = small_weights.read_bytes()
    entry = replace(REGISTRY["hrnet_w32_coco_256x192"], name="test_w18", filename="test_w18-0000_1.pth",
                    sha256=file_sha256(small_weights), url="https://unused.invalid/test_w18-0000_1.pth")
    (root / entry.filename).write_bytes(data)
    path = download(entry, base_url=url, progress=False)
    assert path == cache / entry.filename and path.read_bytes() == data
    assert sorted(p.name for p in cache.iterdir()) == [entry.filename]  # no temporary file left behind
    # a second call uses the cache: it works with the server gone
    (root / entry.filename).unlink()
    assert download(entry, base_url=url, progress=False) == path
    # and the cached file loads as an HRNet
    from rtpose.weights.pose import load_pose_model

    assert load_pose_model(path).width == 18


def test_corrupt_download_is_rejected_and_deleted(server, cache, monkeypatch):
    root, url = server
    entry = REGISTRY["hrnet_w32_coco_256x192"]
    (root / entry.filename).write_bytes(b"not the checkpoint whose sha256 starts with c78dce93" * 1000)
    monkeypatch.setenv("RTPOSE_WEIGHTS_URL", url)
    with pytest.raises(WeightsError) as err:
        download(entry.name, progress=False)
    assert "corrupt" in str(err.value) and "c78dce93" in str(err.value) and "deleted" in str(err.value)
    assert not cached_path(entry).exists()
    assert list(cache.iterdir()) == []
    with pytest.raises(WeightsError, match="not downloaded yet"):
        resolve_weights(entry.name, download=False)
    with pytest.raises(WeightsError, match="Could not download the HRNet weights .* corrupt .* weights=PATH/"):
        resolve_weights(entry.name, progress=False)  # a first use downloads: refused and deleted again
    assert list(cache.iterdir()) == []


def test_missing_file_on_server_is_one_sentence(server, cache):
    _, url = server
    with pytest.raises(WeightsError, match="HTTP 404"):
        download("hrnet_w48_coco_256x192", base_url=url, progress=False)
    assert list(cache.iterdir()) == []


def test_unreachable_server_is_one_sentence(cache):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(WeightsError) as err:
        download("hrnet_w32_coco_256x192", base_url=f"http://127.0.0.1:{port}", progress=False, timeout=5)
    assert "Cannot reach" in str(err.value) and "\n" not in str(err.value)
    assert not any(cache.iterdir())


def test_manual_only_entries_say_where_to_get_them(cache):
    with pytest.raises(WeightsError, match="download it manually from the official HRNet model zoo"):
        download("pose_hrnet_w32_256x192", progress=False)
    with pytest.raises(WeightsError, match="manually"):
        resolve_weights("pose_hrnet_w32_256x192")


def test_resolve_paths_names_and_unknowns(cache, small_weights):
    assert resolve_weights(small_weights) == small_weights
    entry = REGISTRY["hrnet_w48_coco_256x192"]
    with pytest.raises(WeightsError, match="rtpose weights download hrnet_w48_coco_256x192"):
        resolve_weights(entry.name, download=False)
    cache.mkdir(parents=True)
    cached = cache / entry.filename
    cached.write_bytes(small_weights.read_bytes())
    assert resolve_weights(entry.name) == cached
    assert resolve_weights(entry.filename) == cached
    with pytest.raises(WeightsError, match="not a known weights name"):
        resolve_weights("no_such_weights")


def test_verify_file(tmp_path, small_weights):
    result = verify_file(small_weights)
    assert result.entry is None and result.sha256 == file_sha256(small_weights)
    with_name = verify_file(small_weights, name="hrnet_w32_coco_256x192")
    assert not with_name.ok and with_name.checked_against.name == "hrnet_w32_coco_256x192"
    # a file carrying a registry file name but other bytes is reported as a mismatch
    fake = tmp_path / "hrnet_w32_coco_256x192-c78dce93_20200708.pth"
    fake.write_bytes(small_weights.read_bytes())
    assert not verify_file(fake).ok


def test_cli_list_subprocess(tmp_path):
    env = {**os.environ, "RTPOSE_CACHE": str(tmp_path)}
    listing = subprocess.run([sys.executable, "-m", "rtpose", "weights", "list"], capture_output=True, text=True,
                             env=env, timeout=120)
    assert listing.returncode == 0, listing.stderr
    for name in REGISTRY:
        assert name in listing.stdout
    assert "manual download" in listing.stdout and str(tmp_path / "weights") in listing.stdout


def test_cli_verify_and_errors(small_weights, cache, capsys):
    from rtpose.cli import main

    assert main(["weights", "verify", str(small_weights)]) == 0
    out = capsys.readouterr().out
    assert "HRNet-W18, 17 joints" in out and file_sha256(small_weights) in out
    assert main(["weights", "verify", str(small_weights), "--name", "hrnet_w32_coco_256x192"]) == 1
    assert "MISMATCH" in capsys.readouterr().out
    assert main(["weights", "download", "nope"]) == 1
    assert capsys.readouterr().err.startswith("rtpose: error: Unknown weights name")


def test_an_offline_segmentation_model_names_seg_weights_not_weights(tmp_path, monkeypatch):
    """Issue 29: offline ``--seg person`` told the user to pass ``--weights`` (which replaces the pose model)."""
    from rtpose.cli import build_parser, error_sentence
    from rtpose.seg.segmenter import Segmenter

    monkeypatch.setenv("RTPOSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("RTPOSE_WEIGHTS_URL", "http://127.0.0.1:9/")  # nothing listens there
    with pytest.raises(WeightsError) as info:
        Segmenter("person")
    assert info.value.parameter == "seg_weights" and "seg_weights=PATH/" in str(info.value)
    line = error_sentence(info.value, build_parser("run"))
    assert "--seg-weights PATH/" in line and "--weights PATH/" not in line
