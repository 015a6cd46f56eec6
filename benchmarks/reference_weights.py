"""HRNet with the reference's deterministic weights, for benchmarks (speed does not depend on training).

Benchmarks run as scripts, so this folder is on ``sys.path`` and they import it as ``reference_weights``.
Uses ``../shared/reference/fill.py`` when present (``$RTPOSE_SHARED`` overrides ``../shared``), else a
fixed random seed.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("RTPOSE_SHARED", ROOT.parent / "shared"))
FILL = SHARED / "reference" / "fill.py"


def deterministic_model(width: int = 32, num_joints: int = 17):
    """HRNet-``width`` with ``num_joints`` heatmaps (eval mode, CPU) and the reference's deterministic weights."""
    import torch

    from rtpose.models import HRNet

    if not FILL.is_file():
        torch.manual_seed(0)
        return HRNet(width=width, num_joints=num_joints).eval()
    spec = importlib.util.spec_from_file_location("reference_fill", FILL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = HRNet(width=width, num_joints=num_joints)
    model.load_state_dict(module.fill_state_dict(model.state_dict()), strict=True)
    return model.eval()


def deterministic_weights(width: int = 32, folder: str | os.PathLike | None = None) -> Path:
    """A checkpoint file (plain state_dict) of :func:`deterministic_model`, written once into ``folder``."""
    import torch

    path = Path(folder or tempfile.gettempdir()) / f"hrnet_w{width}_reference.pth"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(deterministic_model(width).state_dict(), path)
    return path
