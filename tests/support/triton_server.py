"""A real ``tritonserver`` (Triton 2.51, Python backend only) from the ``nvidia-pytriton`` wheel, for the tests.

The wheel pins ``numpy<2``, so it lives in its own virtual environment, ``.triton-venv`` next to this
checkout (``$RTPOSE_TRITON_VENV``), which ``.ci/run`` creates with onnxruntime in it. The server binary is
run directly from a copy of the wheel's ``tritonserver`` folder with the Python backend stub for the
venv's Python put into ``backends/python/`` (as PyTriton does), and ``LD_LIBRARY_PATH`` holding that
Python's ``LIBDIR`` (else the stub fails with "'_thread.RLock' object has no attribute '_recursion_count'").
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("RTPOSE_TRITON_VENV", ROOT / ".triton-venv"))


def why_no_server() -> str | None:
    """None when a server can be started here, else the reason."""
    libc, version = platform.libc_ver()
    if libc == "glibc" and tuple(int(v) for v in version.split(".")[:2]) < (2, 35):
        return f"the nvidia-pytriton wheel's tritonserver needs glibc 2.35 or later; this machine has {version}"
    if not (VENV / "bin" / "python").exists():
        return f"no Triton virtual environment at {VENV} (.ci/run creates it)"
    return None


def _venv_facts() -> tuple[Path, str, str, str]:
    """(tritonserver folder, Python X.Y, LIBDIR, site-packages) of the venv."""
    code = ("import sysconfig, pytriton, pathlib, sys; "
            "print(pathlib.Path(pytriton.__file__).parent / 'tritonserver'); "
            "print(f'{sys.version_info[0]}.{sys.version_info[1]}'); "
            "print(sysconfig.get_config_var('LIBDIR')); print(sysconfig.get_paths()['purelib'])")
    out = subprocess.run([str(VENV / "bin" / "python"), "-c", code], capture_output=True, text=True, check=True)
    server, version, libdir, site = out.stdout.split("\n")[:4]
    return Path(server), version, libdir, site


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TritonServer:
    """One ``tritonserver`` process on 127.0.0.1 serving ``repo`` (explicit model control, ``models`` loaded)."""

    def __init__(self, repo: Path, workdir: Path, models: tuple[str, ...] = ("hrnet_pose",)) -> None:
        self.repo, self.workdir, self.models = Path(repo), Path(workdir), models
        self.http, self.grpc, self.metrics = free_port(), free_port(), free_port()
        self.process: subprocess.Popen | None = None
        self.log = self.workdir / "tritonserver.log"

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.grpc}"

    def _server_dir(self) -> tuple[Path, dict[str, str]]:
        source, version, libdir, site = _venv_facts()
        copy = self.workdir / "tritonserver"
        if not copy.exists():
            shutil.copytree(source, copy, symlinks=True)
            stub = copy / "python_backend_stubs" / version / "triton_python_backend_stub"
            shutil.copy2(stub, copy / "backends" / "python" / "triton_python_backend_stub")
        env = dict(os.environ)
        # the wheel's own libraries (auditwheel's folder, found through a relative RPATH the copy loses)
        libs = str(Path(site) / "nvidia_pytriton.libs")
        env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (libdir, libs, env.get("LD_LIBRARY_PATH", "")) if p)
        env["PYTHONPATH"] = site
        env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env.pop("PYTHONHOME", None)
        return copy, env

    def start(self, timeout: float = 120.0) -> TritonServer:
        """Start the server and wait until its models are ready."""
        copy, env = self._server_dir()
        command = [
            str(copy / "bin" / "tritonserver"), f"--model-repository={self.repo}",
            f"--backend-directory={copy / 'backends'}", "--model-control-mode=explicit",
            *(f"--load-model={m}" for m in self.models),
            f"--http-port={self.http}", f"--grpc-port={self.grpc}", f"--metrics-port={self.metrics}",
            "--http-address=127.0.0.1", "--grpc-address=127.0.0.1", "--metrics-address=127.0.0.1",
            "--allow-metrics=true", "--log-verbose=0",
        ]
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                raise RuntimeError(f"tritonserver exited with {code}: {self.log.read_text()[-3000:]}")
            if all(self._ready(m) for m in self.models):
                return self
            time.sleep(0.2)
        raise RuntimeError(f"tritonserver not ready in {timeout} s: {self.log.read_text()[-3000:]}")

    def _ready(self, model: str) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/v2/models/{model}/ready", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def metric(self, name: str, model: str = "hrnet_pose") -> float:
        """A counter of Triton's Prometheus metrics for ``model`` (e.g. nv_inference_exec_count)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics}/metrics", timeout=5) as r:
            text = r.read().decode()
        for line in text.splitlines():
            if line.startswith(name + "{") and f'model="{model}"' in line:
                return float(line.rsplit(" ", 1)[1])
        raise KeyError(name)

    def stop(self) -> None:
        """Kill the server (SIGKILL to its process group: the Python backend stubs go with it)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None
