"""First run with an empty cache: the default HRNet checkpoint is fetched on first use (as Ultralytics does).

A real HTTP server on 127.0.0.1 stands in for download.openmmlab.com (``RTPOSE_WEIGHTS_URL``). It serves a
real checkpoint (HRNet-W18, deterministic weights) under the default entry's published file name; the
registry entry's checksum is set to that file's, since no official file can be brought here.
"""

from __future__ import annotations

import functools
import http.server
import json
import threading
from dataclasses import replace

import pytest

from rtpose.cli import main
from rtpose.utils.hashing import file_sha256
from rtpose.weights.registry import DEFAULT_WEIGHTS, REGISTRY
from tests.conftest import BUS, DETECTOR_WEIGHTS

ENTRY = REGISTRY[DEFAULT_WEIGHTS]


class _CountingHandler(http.server.SimpleHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        type(self).requests.append(self.path)
        super().do_GET()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def mirror(tmp_path, monkeypatch, small_weights):
    """Serves the default checkpoint's file name; yields (served folder, request log)."""
    root = tmp_path / "served"
    root.mkdir()
    (root / ENTRY.filename).write_bytes(small_weights.read_bytes())
    monkeypatch.setitem(REGISTRY, DEFAULT_WEIGHTS, replace(ENTRY, sha256=file_sha256(small_weights)))
    handler = type("Handler", (_CountingHandler,), {"requests": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("RTPOSE_WEIGHTS_URL", f"http://127.0.0.1:{httpd.server_address[1]}/")
    monkeypatch.setenv("RTPOSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("RTPOSE_ENGINES", str(tmp_path / "engines"))
    try:
        yield root, handler.requests
    finally:
        httpd.shutdown()
        httpd.server_close()


def _errors(err: str) -> list[str]:
    assert "Traceback" not in err
    return [line for line in err.splitlines() if line.startswith("rtpose: error:")]


@pytest.mark.slow
def test_first_run_downloads_the_default_then_uses_the_cache(mirror, tmp_path, capsys):
    _, requests = mirror
    argv = ["--source", str(BUS), "--no-show", "--detector", str(DETECTOR_WEIGHTS), "--device", "cpu",
            "--json", str(tmp_path / "bus.json")]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert f"no --weights given: using the default {DEFAULT_WEIGHTS}" in err
    assert f"downloading {ENTRY.filename} (first use)" in err
    assert requests == [f"/{ENTRY.filename}"]
    cached = tmp_path / "cache" / "weights" / ENTRY.filename
    assert cached.is_file() and file_sha256(cached) == REGISTRY[DEFAULT_WEIGHTS].sha256
    assert not list(cached.parent.glob("*.part"))
    assert len(json.loads((tmp_path / "bus.json").read_text())["people"]) == 4

    assert main(argv) == 0  # second run: from the cache, no request
    err = capsys.readouterr().err
    assert "downloading" not in err and requests == [f"/{ENTRY.filename}"]


def test_corrupt_download_is_refused_and_deleted(mirror, tmp_path, capsys):
    root, requests = mirror
    (root / ENTRY.filename).write_bytes(b"not the checkpoint" * 1000)
    assert main(["--source", str(BUS), "--no-show", "--detector", str(DETECTOR_WEIGHTS)]) == 1
    errors = _errors(capsys.readouterr().err)
    assert len(errors) == 1 and "corrupt" in errors[0] and "--weights" in errors[0]
    assert requests and not any((tmp_path / "cache" / "weights").iterdir())  # nothing kept, no .part left


def test_offline_first_run_is_one_sentence_with_file_url_and_advice(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RTPOSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("RTPOSE_WEIGHTS_URL", "http://127.0.0.1:9/mirror/")  # nothing listens on port 9
    assert main(["--source", str(BUS), "--no-show", "--detector", str(DETECTOR_WEIGHTS)]) == 1
    errors = _errors(capsys.readouterr().err)
    assert len(errors) == 1
    assert ENTRY.filename in errors[0] and f"http://127.0.0.1:9/mirror/{ENTRY.filename}" in errors[0]
    assert f"--weights PATH/{ENTRY.filename}" in errors[0]


@pytest.mark.slow
def test_export_onnx_takes_a_registry_name_and_fetches_it(mirror, tmp_path, capsys):
    out = tmp_path / "exported"
    assert main(["export-onnx", "--weights", DEFAULT_WEIGHTS, "--out", str(out), "--no-verify"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed.endswith(".onnx") and (out / printed.rsplit("/", 1)[-1]).is_file()
