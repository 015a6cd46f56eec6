"""rtpose's settings from the environment and its cache folders: every ``RTPOSE_*`` variable is read here only.

=========================== ==========================================================================
Variable                    Meaning
=========================== ==========================================================================
``RTPOSE_CACHE``            the cache root (default ``~/.cache/rtpose``; ``~`` is expanded)
``RTPOSE_ENGINES``          the engines folder: exported ONNX files, TensorRT engines, the detector's
                            OpenVINO export (default ``<cache>/engines``)
``RTPOSE_WEIGHTS_URL``      a mirror to download the registry's checkpoints from instead of their own
                            URLs (``https://user:password@host/path``: the credentials are sent as HTTP
                            basic authentication and never shown)
``RTPOSE_DOWNLOAD_DEADLINE`` seconds one download may take in all (default 1200)
``RTPOSE_TRUST_DETECTOR``   ``1``: load detector files that need unsafe unpickling (as ``--trust-detector``)
=========================== ==========================================================================

The folders do not depend on the current directory. An ``./engines`` folder that an older rtpose made in
the current directory is still read (:func:`legacy_engines_dir`), with a note; nothing new is written there.
Every value is read when it is asked for (not at import), so a program may set the variables after importing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

CACHE_ENV = "RTPOSE_CACHE"
ENGINES_ENV = "RTPOSE_ENGINES"
WEIGHTS_URL_ENV = "RTPOSE_WEIGHTS_URL"
DOWNLOAD_DEADLINE_ENV = "RTPOSE_DOWNLOAD_DEADLINE"
TRUST_DETECTOR_ENV = "RTPOSE_TRUST_DETECTOR"
SERVE_TOKEN_ENV = "RTPOSE_TOKEN"
MQTT_USERNAME_ENV = "RTPOSE_MQTT_USERNAME"
MQTT_PASSWORD_ENV = "RTPOSE_MQTT_PASSWORD"

#: Default total deadline of one download, in seconds (a 255 MB file at 250 kB/s).
DOWNLOAD_DEADLINE = 1200.0
#: The folder older rtpose versions wrote exports to, in the current directory.
LEGACY_ENGINES = "engines"


def _path(value: str) -> Path:
    return Path(os.path.expandvars(value)).expanduser()


def cache_root() -> Path:
    """``$RTPOSE_CACHE`` (``~`` expanded) or ``~/.cache/rtpose``; not created here."""
    value = os.environ.get(CACHE_ENV, "").strip()
    return _path(value) if value else Path.home() / ".cache" / "rtpose"


def weights_dir() -> Path:
    """Where downloaded checkpoints are kept: ``<cache>/weights``; not created here."""
    return cache_root() / "weights"


def engines_dir() -> Path:
    """Where exported ONNX files, engines and detector exports go: ``$RTPOSE_ENGINES`` or ``<cache>/engines``."""
    value = os.environ.get(ENGINES_ENV, "").strip()
    return _path(value) if value else cache_root() / "engines"


def legacy_engines_dir() -> Path | None:
    """``./engines`` when the current directory has one that is not :func:`engines_dir` and no
    ``$RTPOSE_ENGINES`` is set (older rtpose versions exported there): it is still searched for artefacts."""
    if os.environ.get(ENGINES_ENV, "").strip():
        return None
    folder = Path(LEGACY_ENGINES)
    if not folder.is_dir():
        return None
    try:
        if folder.resolve() == engines_dir().resolve():
            return None
    except OSError:
        return None
    return folder.resolve()


def weights_mirror() -> str | None:
    """``$RTPOSE_WEIGHTS_URL`` (may hold ``user:password@``: shown only through ``redact``)."""
    value = os.environ.get(WEIGHTS_URL_ENV, "").strip()
    return value or None


def download_deadline() -> float:
    """Seconds one download may take in all: ``$RTPOSE_DOWNLOAD_DEADLINE`` or :data:`DOWNLOAD_DEADLINE`."""
    from rtpose.errors import WeightsError

    text = os.environ.get(DOWNLOAD_DEADLINE_ENV, "").strip()
    if not text:
        return DOWNLOAD_DEADLINE
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise WeightsError(f"{DOWNLOAD_DEADLINE_ENV}={text!r} is not a number of seconds above 0.")
    return value


def trust_detector() -> bool:
    """Whether the user said they trust detector files that need unsafe unpickling (``$RTPOSE_TRUST_DETECTOR``)."""
    return os.environ.get(TRUST_DETECTOR_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def serve_token() -> str | None:
    """The token ``rtpose serve`` asks of its clients when ``--token`` is not given (``$RTPOSE_TOKEN``)."""
    return os.environ.get(SERVE_TOKEN_ENV) or None


def mqtt_credentials(environ: Mapping[str, str] | None = None) -> tuple[str | None, str | None]:
    """(user, password) for an MQTT broker whose URL has none (``$RTPOSE_MQTT_USERNAME``, ``$RTPOSE_MQTT_PASSWORD``).

    ``environ``: where to read them (default ``os.environ``).
    """
    env = os.environ if environ is None else environ
    return env.get(MQTT_USERNAME_ENV) or None, env.get(MQTT_PASSWORD_ENV) or None


__all__ = ["CACHE_ENV", "DOWNLOAD_DEADLINE", "DOWNLOAD_DEADLINE_ENV", "ENGINES_ENV", "MQTT_PASSWORD_ENV",
           "MQTT_USERNAME_ENV", "SERVE_TOKEN_ENV", "TRUST_DETECTOR_ENV", "WEIGHTS_URL_ENV", "cache_root",
           "download_deadline", "engines_dir", "legacy_engines_dir", "mqtt_credentials", "serve_token",
           "trust_detector", "weights_dir", "weights_mirror"]
