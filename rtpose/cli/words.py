"""Library sentences in the command line's words: each option named by its flag, from the options schema.

An :class:`~rtpose.errors.OptionError` carries its parameter, so it is rendered again with the flag
(``conf=1.5: must be …`` → ``--conf 1.5: must be …``). Other library messages that mention a parameter in the
library's own spelling (``device='cuda' asks for an NVIDIA GPU…`` from :mod:`rtpose.runtime.devices`) get
their ``name=value`` replaced by the flag of the schema's record of that name.
"""

from __future__ import annotations

import functools
import re

from rtpose.errors import NO_VALUE, OptionError


@functools.cache
def _flags() -> dict[str, str]:
    from rtpose.options.table import OPTIONS

    return {name: record.flag for name, record in OPTIONS.items()}


def _value_text(value) -> str:
    if isinstance(value, (tuple, list)) and value and all(isinstance(v, int) for v in value):
        return "x".join(map(str, value))  # input_size=(256, 192) → 256x192
    return str(value)


def flag_words(parameter: str, value=NO_VALUE) -> str:
    """An option as a command-line user typed it: ``--conf 1.5``, ``--seg-weights``, ``--backend triton``."""
    flag = _flags().get(parameter, "--" + parameter.replace("_", "-"))
    if value is NO_VALUE or value is True:
        return flag
    return f"{flag} {_value_text(value)}"


@functools.cache
def _parameter_pattern() -> re.Pattern:
    names = "|".join(sorted(_flags(), key=len, reverse=True))
    return re.compile(rf"\b({names})=('[^']*'|\"[^\"]*\"|\([^)]*\)|\[[^\]]*\]|[\w.:/-]+)?")


def cli_words(message) -> str:
    """A library error or message in the command line's words.

    ``message``: an exception (an :class:`~rtpose.errors.OptionError` is rendered with its flags) or a text,
    whose ``name=value`` mentions of the schema's parameters become flags (``backend='openvino'`` →
    ``--backend openvino``).
    """
    if isinstance(message, OptionError):
        return message.render_with(flag_words)
    text = str(message)

    def flag(match: re.Match) -> str:
        name, value = match.group(1), match.group(2)
        if not value or value == "True":
            return flag_words(name)
        value = value.strip("'\"")
        if value.startswith("("):
            value = "x".join(v.strip() for v in value.strip("()").split(",") if v.strip())
        return flag_words(name, value)

    return _parameter_pattern().sub(flag, text)


__all__ = ["cli_words", "flag_words"]
