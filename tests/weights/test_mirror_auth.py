"""A weights mirror with credentials (``RTPOSE_WEIGHTS_URL=http://user:password@host/…``): sent as HTTP basic
authentication, never shown (issue 29, 4).

A real HTTP server on 127.0.0.1 that answers 401 without the right ``Authorization`` header; the real command
in subprocesses, whose stdout, stderr and JSON output must never hold the password.
"""

from __future__ import annotations

import base64
import functools
import http.server
import os
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from rtpose.errors import WeightsError
from rtpose.utils.hashing import file_sha256
from rtpose.weights.registry import DEFAULT_WEIGHTS, REGISTRY, download_entry
from tests.conftest import BUS, ROOT

ENTRY = REGISTRY[DEFAULT_WEIGHTS]
USER, PASSWORD = "mirror-user", "s3cr3t p@ss:w/rd"
#: The password as it is written in a URL (percent-encoded), and both spellings that must never be shown.
QUOTED = "s3cr3t%20p%40ss%3Aw%2Frd"
SECRETS = (PASSWORD, QUOTED, "s3cr3t")


class _AuthHandler(http.server.SimpleHTTPRequestHandler):
    seen: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        header = self.headers.get("Authorization")
        type(self).seen.append((self.path, header))
        wanted = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if header != wanted:
            self.send_response(401, "Unauthorized")
            self.send_header("WWW-Authenticate", 'Basic realm="mirror"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def auth_mirror(tmp_path, small_weights):
    """Serves the default checkpoint's file name behind basic auth; yields (base URL without credentials, log)."""
    root = tmp_path / "served"
    root.mkdir()
    (root / ENTRY.filename).write_bytes(small_weights.read_bytes())
    handler = type("Handler", (_AuthHandler,), {"seen": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{httpd.server_address[1]}/", handler.seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def _no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, (secret, text)


def test_mirror_credentials_are_sent_as_basic_auth(auth_mirror, tmp_path, monkeypatch, small_weights, caplog):
    hostpath, seen = auth_mirror
    monkeypatch.setitem(REGISTRY, DEFAULT_WEIGHTS, replace(ENTRY, sha256=file_sha256(small_weights)))
    path = download_entry(DEFAULT_WEIGHTS, cache=tmp_path / "cache",
                          base_url=f"http://{USER}:{QUOTED}@{hostpath}", progress=False)
    assert file_sha256(path) == file_sha256(small_weights)
    assert [p for p, _ in seen] == [f"/{ENTRY.filename}"]  # the credentials went in the header, not the path
    _no_secret(caplog.text)


def test_a_wrong_password_is_one_sentence_without_it(auth_mirror, tmp_path):
    hostpath, seen = auth_mirror
    with pytest.raises(WeightsError) as info:
        download_entry(DEFAULT_WEIGHTS, cache=tmp_path / "cache", base_url=f"http://{USER}:wrong-{QUOTED}@{hostpath}",
                       progress=False)
    assert "HTTP 401" in str(info.value) and f"http://{USER}:***@{hostpath}" in str(info.value)
    _no_secret(str(info.value))
    assert not list((tmp_path / "cache").iterdir())  # the partial file went


def _env(tmp_path: Path, mirror: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               RTPOSE_CACHE=str(tmp_path / "cache"), RTPOSE_ENGINES=str(tmp_path / "engines"),
               RTPOSE_WEIGHTS_URL=mirror)
    return env


#: ``rtpose weights download`` in a process whose registry entry has the served file's checksum (no official
#: file can be brought here), as ``tests/cli/test_first_run.py`` does in-process.
WITH_CHECKSUM = """
import sys
from dataclasses import replace
from rtpose.weights.registry import REGISTRY, DEFAULT_WEIGHTS
REGISTRY[DEFAULT_WEIGHTS] = replace(REGISTRY[DEFAULT_WEIGHTS], sha256=sys.argv[1])
from rtpose.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_weights_download_through_an_authenticated_mirror_never_prints_the_password(auth_mirror, tmp_path,
                                                                                     small_weights):
    hostpath, seen = auth_mirror
    env = _env(tmp_path, f"http://{USER}:{QUOTED}@{hostpath}")
    proc = subprocess.run([sys.executable, "-c", WITH_CHECKSUM, file_sha256(small_weights), "weights", "download",
                           DEFAULT_WEIGHTS], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "downloaded and verified" in proc.stdout
    assert (tmp_path / "cache" / "weights" / ENTRY.filename).is_file()
    _no_secret(proc.stdout, proc.stderr)


def test_a_refused_mirror_on_first_run_is_one_sentence_and_no_password_anywhere(auth_mirror, tmp_path):
    hostpath, seen = auth_mirror
    env = _env(tmp_path, f"https://{USER}:{QUOTED}@{hostpath}?token=s3cr3t-token")
    env["RTPOSE_WEIGHTS_URL"] = f"http://{USER}:wrong-{QUOTED}@{hostpath}?token=s3cr3t-token"
    out = tmp_path / "out.jsonl"
    proc = subprocess.run([sys.executable, "-m", "rtpose", "--source", str(BUS), "--no-show", "--json", str(out)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("rtpose: error:")]
    assert len(errors) == 1 and "HTTP 401" in errors[0] and f"{USER}:***@" in errors[0], proc.stderr
    _no_secret(proc.stdout, proc.stderr, out.read_text() if out.exists() else "")
    assert "s3cr3t-token" not in proc.stderr
    assert seen and all(path.startswith(f"/{ENTRY.filename}") for path, _ in seen)


def test_rtpose_weights_list_and_cache_never_show_the_mirror_password(auth_mirror, tmp_path):
    hostpath, _ = auth_mirror
    env = _env(tmp_path, f"http://{USER}:{QUOTED}@{hostpath}")
    for args in (["weights", "list"], ["cache"], ["weights", "download", "no-such-name"]):
        proc = subprocess.run([sys.executable, "-m", "rtpose", *args], capture_output=True, text=True, env=env,
                              timeout=300)
        assert "Traceback" not in proc.stderr, proc.stderr
        _no_secret(proc.stdout, proc.stderr)
