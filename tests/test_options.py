"""One options schema: every option's bad value gets one verdict from ``PoseModel(...)`` and from ``rtpose``.

The cases are made from the schema's records (:mod:`rtpose.options.table`), so an option added there is
tested here the day it is added: its Python keyword must exist with the schema's default, a value outside its
bounds or choices must be refused by the library (:class:`rtpose.errors.OptionError` naming the parameter)
and by a real ``rtpose`` process (exit 2, one sentence naming the flag, the same problem words), before any
model loads.
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys

import pytest

import rtpose
from rtpose.errors import OptionError, RtposeError
from rtpose.options import MODEL, STREAM, ModelOptions, StreamOptions, check
from rtpose.options.schema import MAX_INPUT_SIDE
from tests.conftest import BUS, ROOT


def bad_values(record) -> list[tuple[object, str | None]]:
    """Values the schema refuses for ``record``: (the Python value, the text a command-line user would type or
    None where a command line cannot say it, a switch's or a path's wrong type)."""
    cases: list[tuple[object, str | None]] = []
    if record.kind in ("int", "float"):
        cases.append(("x", "x"))
        if record.low is not None:
            below = record.low if record.above else record.low - 1
            cases.append((below, f"{below:g}"))
        if record.high is not None:
            cases.append((record.high + 1, f"{record.high + 1:g}"))
        if record.kind == "float":
            cases.append((float("nan"), "nan"))
    elif record.allowed():
        cases.append(("no-such-choice", "no-such-choice"))
    elif record.kind == "size":
        side = 2 * MAX_INPUT_SIDE
        cases += [((side, side), f"{side}x{side}"), ((250, 192), "250x192"), ("big", "big")]
    elif record.kind == "device":
        cases.append(("tpu", "tpu"))
    elif record.kind == "classes":
        cases.append((",", ","))
    elif record.kind == "bool":
        cases.append(("yes", None))
    elif record.kind in ("path", "str"):
        cases.append((123, None))
    return cases


MODEL_CASES = [(r, v, t) for r in MODEL for v, t in bad_values(r)]
STREAM_CASES = [(r, v, t) for r in STREAM for v, t in bad_values(r)]


def _id(case) -> str:
    record, value, _ = case
    return f"{record.name}={value!r}"


def test_every_shared_option_has_a_bad_value_to_test():
    assert all(bad_values(r) for r in (*MODEL, *STREAM))


def test_pose_model_keywords_are_the_schema():
    """The keyword arguments of PoseModel and of PoseModel.stream are the schema's, with its defaults."""
    init = inspect.signature(rtpose.PoseModel.__init__).parameters
    keywords = {n: p.default for n, p in init.items() if p.kind is p.KEYWORD_ONLY}
    # the stream options a model also takes, as its streams' defaults
    per_model = {r.name: r.default for r in STREAM if r.name in ("det_every", "budget_ms", "max_age")}
    assert keywords == {r.name: r.default for r in MODEL if r.name != "weights"} | per_model
    assert init["weights"].default is None
    stream = inspect.signature(rtpose.PoseModel.stream).parameters
    keywords = {n: p.default for n, p in stream.items() if p.kind is p.KEYWORD_ONLY}
    assert keywords == {r.name: r.default for r in STREAM if r.name not in per_model} | dict.fromkeys(per_model)


def test_the_cli_defaults_are_the_schema():
    from rtpose.cli import build_parser

    args = build_parser("run").parse_args([])
    for record in (*MODEL, *STREAM):
        assert getattr(args, record.name) == record.default, record.name
    assert ModelOptions.from_args(args) == ModelOptions() and StreamOptions.from_args(args) == StreamOptions()


@pytest.mark.parametrize("case", MODEL_CASES, ids=[_id(c) for c in MODEL_CASES])
def test_a_bad_model_option_is_the_librarys_own_error_naming_the_parameter(case):
    record, value, _ = case
    with pytest.raises(OptionError) as info:
        rtpose.PoseModel(**{record.name: value})  # refused before anything loads (no weights are downloaded)
    assert info.value.parameter == record.name
    text = str(info.value)
    assert f"{record.name}=" in text and "\n" not in text and len(text) < 300


@pytest.mark.parametrize("case", STREAM_CASES, ids=[_id(c) for c in STREAM_CASES])
def test_a_bad_stream_option_is_the_librarys_own_error_naming_the_parameter(case):
    record, value, _ = case
    model = rtpose.PoseModel.from_estimator(estimator=None)  # the stream's options are checked first
    with pytest.raises(OptionError) as info:
        model.stream(str(BUS), **{record.name: value})
    assert info.value.parameter == record.name and f"{record.name}=" in str(info.value)


def _rtpose(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RTPOSE_WEIGHTS_URL": "http://127.0.0.1:9/"}
    return subprocess.run([sys.executable, "-m", "rtpose", *argv], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=60)


CLI_CASES = {}
for _record, _value, _text in MODEL_CASES + STREAM_CASES:
    if _text is not None and _record.name not in CLI_CASES:  # one process per option
        CLI_CASES[_record.name] = (_record, _value, _text)


@pytest.mark.parametrize("case", list(CLI_CASES.values()), ids=list(CLI_CASES))
def test_a_bad_value_gets_the_same_verdict_from_the_library_and_the_command(case):
    record, value, text = case
    with pytest.raises(OptionError) as info:
        check(record, value)
    library = info.value
    proc = _rtpose("--source", str(BUS), "--no-show", f"{record.flag}={text}")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"argument {record.flag}" in lines[0] and library.problem in lines[0]


def test_rules_between_options_get_one_verdict_too(tmp_path):
    """Options that need another: the library names parameters, the command its flags, before models load."""
    for kwargs, argv, flags in (
        ({"seg_weights": "w.pth"}, ["--seg-weights", "w.pth"], ["--seg-weights", "--seg person"]),
        ({"server": "localhost:8001"}, ["--server", "localhost:8001"], ["--server", "--backend triton"]),
    ):
        with pytest.raises(OptionError) as info:
            rtpose.PoseModel(**kwargs)
        assert info.value.parameter == next(iter(kwargs))
        proc = _rtpose("--source", str(BUS), "--no-show", *argv)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        line = proc.stderr.strip().splitlines()[-1]
        assert line.startswith("rtpose: error:") and all(flag in line for flag in flags), line
        assert "download" not in proc.stderr  # nothing loaded


def test_the_library_never_raises_a_bare_value_error_for_an_option():
    for kwargs in ({"conf": "x"}, {"max_people": 2.5}, {"input_size": "256"}, {"classes": 5},
                   {"weights": object()}, {"det_every": "often"}):
        with pytest.raises(RtposeError) as info:
            rtpose.PoseModel(**kwargs)
        assert isinstance(info.value, OptionError) and not isinstance(info.value, ValueError)
    model = rtpose.PoseModel.from_estimator(estimator=None)
    with pytest.raises(OptionError, match="timeout='abc'"):
        model.stream(str(BUS), timeout="abc")


def test_a_large_value_is_never_printed_whole():
    import numpy as np

    with pytest.raises(OptionError) as info:
        rtpose.PoseModel(conf=np.zeros((2000, 2000)))
    assert len(str(info.value)) < 200 and "(2000, 2000)" in str(info.value)


def test_values_are_normalised_the_same_way_for_both():
    from rtpose.options import option

    assert check(option("input_size"), "256x192") == check(option("input_size"), [256, 192]) == (256, 192)
    assert check(option("device"), "CUDA:1") == "cuda:1"
    assert check(option("classes"), "person, 2") == check(option("classes"), ["person", 2]) == ["person", 2]
    assert check(option("conf"), "0.5") == 0.5


def test_the_command_line_shows_an_option_error_with_its_flag():
    from rtpose.cli.words import cli_words

    with pytest.raises(OptionError) as info:
        rtpose.PoseModel(input_size=(2048, 2048))
    assert cli_words(info.value).startswith("--input-size 2048x2048: is too large")
    with pytest.raises(OptionError) as info:
        rtpose.PoseModel(seg_backend="torch")
    assert cli_words(info.value) == "--seg-weights, --seg-classes and --seg-backend need --seg person or --seg parts."


def test_the_viewer_reads_its_ranges_and_choices_from_the_schema():
    pytest.importorskip("PyQt5")
    from gui.layout import SEG_CHOICES
    from rtpose.options import option

    assert SEG_CHOICES[1:] == option("seg").allowed()


def test_a_new_record_reaches_the_commands_by_its_group():
    """``rtpose run`` shows every shared record; ``rtpose gui`` the model ones and the tracking group's."""
    from rtpose.cli import build_parser
    from rtpose.options import RUN

    def dests(parser):
        return {a.dest for a in parser._actions if getattr(a, "option", None) is not None}

    assert {r.name for r in (*MODEL, *STREAM, *RUN)} <= dests(build_parser("run"))
    viewer = {r.name for r in MODEL if r.name != "precision"} | {r.name for r in STREAM if r.group in ("", "tracking")}
    assert viewer <= dests(build_parser("gui"))
