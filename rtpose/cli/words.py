"""Library sentences in the command line's words (a leaf module: only ``re``, so it is safe to import first)."""

from __future__ import annotations

import re

#: Python parameters whose mention in a library message the command line turns into its flag.
_PARAMETER = re.compile(
    r"\b(weights|backend|device|precision|input_size|keypoints|detector|conf|max_people|classes|det_every|"
    r"track_buffer|kpt_thr|max_frames|timeout|reconnect_timeout|trust_detector|seg|seg_weights|seg_classes|seg_backend|"
    r"background|server|budget_ms|max_age)=('[^']*'|\"[^\"]*\"|\([^)]*\)|\[[^\]]*\]|[\w.:/-]+)?"
)

#: Parameters whose flag is not their name.
_FLAGS = {"budget_ms": "budget"}


def cli_words(text: str) -> str:
    """A library sentence in the command line's words: ``backend='openvino'`` → ``--backend openvino``.

    Library errors and messages name the Python parameter (``input_size=(256, 192)``, ``precision='bf16'``);
    a user of the command line typed a flag, so the CLI shows that instead (``--input-size 256x192``).
    """

    def flag(match: re.Match) -> str:
        name, value = match.group(1), match.group(2)
        text = f"--{_FLAGS.get(name, name).replace('_', '-')}"
        if not value or value == "True":
            return text
        value = value.strip("'\"")
        if value.startswith("("):
            value = "x".join(v.strip() for v in value.strip("()").split(",") if v.strip())
        return f"{text} {value}"

    return _PARAMETER.sub(flag, text)


__all__ = ["cli_words"]
