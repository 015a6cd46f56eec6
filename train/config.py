"""Training configuration: YAML files in ``train/configs/`` plus command-line overrides."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from rtpose.errors import ConfigError, exception_gist

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
DEFAULT_CONFIG = "hrnet_w32_256x192"


def _yaml():
    try:
        import yaml
    except ImportError:  # pragma: no cover - pyyaml is in the train extra
        raise ConfigError("Training needs PyYAML: pip install 'rtpose[train]'.") from None
    return yaml


def resolve_config_path(name_or_path: str | Path) -> Path:
    """A config file path, or the name of one in ``train/configs`` (with or without ``.yaml``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    for candidate in (CONFIG_DIR / f"{name_or_path}.yaml", CONFIG_DIR / str(name_or_path)):
        if candidate.is_file():
            return candidate
    names = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")))
    raise ConfigError(f"Config {name_or_path} is neither a file nor one of the bundled configs ({names}).")


def load_config(name_or_path: str | Path = DEFAULT_CONFIG) -> dict:
    """Read a YAML config into a nested dict."""
    path = resolve_config_path(name_or_path)
    try:
        data = _yaml().safe_load(path.read_text())
    except Exception as exc:  # yaml.YAMLError and decoding errors
        raise ConfigError(f"Config {path} is not valid YAML ({exception_gist(exc)}).") from None
    if not isinstance(data, dict):
        raise ConfigError(f"Config {path} does not hold a mapping of settings.")
    return data


def set_value(config: dict, dotted_key: str, value: Any) -> None:
    """``set_value(cfg, "train.lr", 5e-4)``: set a nested key that must already exist."""
    keys = dotted_key.split(".")
    node = config
    for key in keys[:-1]:
        if not isinstance(node.get(key), dict):
            raise ConfigError(f"Unknown config key {dotted_key!r}.")
        node = node[key]
    if keys[-1] not in node:
        raise ConfigError(f"Unknown config key {dotted_key!r}.")
    node[keys[-1]] = _of_the_same_kind(dotted_key, node[keys[-1]], value)


def _of_the_same_kind(key: str, current: Any, value: Any) -> Any:
    """``value`` for a setting that holds ``current``: a number stays a number, a flag a flag, a list a list.

    Strings that are numbers become numbers (YAML reads ``5e-4`` as a string); anything else that does not
    fit raises :class:`ConfigError` with one sentence, instead of a ``ValueError`` deep inside training.
    """
    if current is None or value is None:
        return value
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key} is true or false, not {value!r}.")
    if isinstance(current, (int, float)):
        number = value
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                raise ConfigError(f"{key} is a number (now {current}), not {value!r}.") from None
        if isinstance(number, bool) or not isinstance(number, (int, float)) or number != number \
                or number in (float("inf"), float("-inf")):
            raise ConfigError(f"{key} is a number (now {current}), not {value!r}.")
        if isinstance(current, int) and float(number).is_integer():
            return int(number)
        return float(number)
    if isinstance(current, list) and not isinstance(value, list):
        raise ConfigError(f"{key} is a list such as {current}, not {value!r}.")
    if isinstance(current, dict) and not isinstance(value, dict):
        raise ConfigError(f"{key} is a group of settings, not {value!r}.")
    return value


def parse_override(text: str) -> tuple[str, Any]:
    """``"train.lr=5e-4"`` → ``("train.lr", 0.0005)``; the value is parsed as YAML."""
    if "=" not in text:
        raise ConfigError(f"Override {text!r} is not KEY=VALUE (for example train.lr=5e-4).")
    key, raw = text.split("=", 1)
    try:
        value = _yaml().safe_load(raw)
    except Exception:
        value = raw
    return key.strip(), value


def merged(config: dict, overrides: dict[str, Any]) -> dict:
    """A copy of ``config`` with dotted-key ``overrides`` applied (None values are skipped)."""
    out = copy.deepcopy(config)
    for key, value in overrides.items():
        if value is not None:
            set_value(out, key, value)
    return out


def data_path(config: dict, key: str) -> Path | None:
    """``data.<key>`` as a path: absolute as given, else relative to ``data.root``; None when unset."""
    value = config["data"].get(key)
    if value in (None, ""):
        return None
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else Path(str(config["data"]["root"])).expanduser() / path


def train_data(config: dict) -> tuple[Path, Path]:
    """``(data.train_ann, data.train_images)`` as paths, after checking that the data folder exists."""
    from rtpose.errors import DatasetError

    root = Path(str(config["data"]["root"])).expanduser()
    ann, images = data_path(config, "train_ann"), data_path(config, "train_images")
    if not root.exists() and not (ann and ann.is_absolute() and ann.exists()):
        raise DatasetError(f"Data folder {root} does not exist (set --data-root).")
    if ann is None or images is None:
        raise ConfigError("data.train_ann and data.train_images must be set.")
    return ann, images


def dump_config(config: dict) -> str:
    """The config as YAML text."""
    return _yaml().safe_dump(config, sort_keys=False)
