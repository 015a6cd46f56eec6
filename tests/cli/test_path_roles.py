"""Every command declares what it reads and writes, and never writes over what it reads.

The cases are made from the commands' parsers: each path option carries its role (input file, input folder,
output file, output folder, source, source list) from the options schema. For every command, every pair
(output option, input option) is run as a real process with the output pointed at the input (the same path,
a ``..`` spelling, a symlink or a hard link, in turn): it must exit non-zero with one sentence naming both
options, before anything loads, and leave the input byte for byte as it was. An option that takes text and
declares no role fails :func:`test_every_option_that_takes_text_declares_what_it_is`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rtpose.cli.common import PATHS_DEST
from rtpose.options.schema import (
    INPUT_FOLDER,
    INPUT_ROLES,
    OUTPUT_FOLDER,
    OUTPUT_ROLES,
    ROLES,
    SOURCE_LIST,
)
from tests.conftest import BUS, ROOT


def _parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    """Every command's parser (subcommands' too), and train.fit's."""
    from rtpose.cli import build_parser, commands
    from train.fit import build_parser as fit_parser

    found = []
    for name in commands():
        stack = [(name, build_parser(name))]
        while stack:
            label, parser = stack.pop()
            found.append((label, parser))
            for action in parser._actions:
                if isinstance(action, argparse._SubParsersAction):
                    stack += [(f"{label} {sub}", p) for sub, p in action.choices.items()]
    found.append(("train.fit", fit_parser()))
    return found


PARSERS = _parsers()


def _takes_text(action: argparse.Action) -> bool:
    """An argument whose value is free text (no conversion, no fixed choices): it may be a path."""
    if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
        return False
    if action.nargs == 0 or action.choices is not None:
        return False
    return action.type in (None, str) or hasattr(action, "option")


def test_every_option_that_takes_text_declares_what_it_is():
    undeclared = [f"{label} {action.option_strings[0] if action.option_strings else action.dest}"
                  for label, parser in PARSERS for action in parser._actions
                  if _takes_text(action) and getattr(action, "option", None) is None]
    assert not undeclared, f"options without a declared kind or path role: {undeclared}"
    for label, parser in PARSERS:
        for action in parser._actions:
            record = getattr(action, "option", None)
            if record is not None and record.kind == "path":
                assert record.role in ROLES, (label, action.dest)
                assert record in (parser.get_default(PATHS_DEST) or ()), (label, action.dest)


def test_every_command_that_writes_has_its_outputs_declared():
    writers = {label for label, parser in PARSERS
               if any(r.role in OUTPUT_ROLES for r in parser.get_default(PATHS_DEST) or ())}
    assert {"run", "eval", "export-onnx", "build-engine", "export-triton", "train.fit"} <= writers


def _pairs() -> list[tuple[str, object, object]]:
    pairs = []
    for label, parser in PARSERS:
        records = parser.get_default(PATHS_DEST) or ()
        outputs = [r for r in records if r.role in OUTPUT_ROLES]
        inputs = [r for r in records if r.role in INPUT_ROLES]
        pairs += [(label, out, inp) for out in outputs for inp in inputs]
    return pairs


PAIRS = _pairs()
SPELLINGS = ("same", "dotdot", "symlink", "hardlink")


def _digest(path: Path) -> str:
    if path.is_dir():
        return ",".join(f"{p.name}:{_digest(p)}" for p in sorted(path.iterdir()))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _command(label: str) -> list[str]:
    if label == "train.fit":
        return [sys.executable, "-m", "train.fit"]
    return [sys.executable, "-m", "rtpose", *label.split()]


def _base(label: str, inp, tmp: Path) -> list[str]:
    """What a command needs besides the pair to get to its checks (a source for run, a mode for eval)."""
    other = tmp / "other.jpg"
    shutil.copy(BUS, other)
    if label == "run":
        return ["--no-show"] + ([] if inp.name in ("source", "sources") else ["--source", str(other)])
    if label == "eval" and inp.name not in ("results", "images"):
        return ["--results", str(other)]
    return []


def _input(inp, tmp: Path) -> tuple[Path, Path]:
    """Make the input: (the path given to the input option, the path the output is pointed at)."""
    if inp.role == INPUT_FOLDER:
        folder = tmp / "in_folder"
        folder.mkdir()
        shutil.copy(BUS, folder / "frame_000000.png")
        return folder, folder
    if inp.role == SOURCE_LIST:
        listed = tmp / "listed.jpg"
        shutil.copy(BUS, listed)
        path = tmp / "sources.txt"
        path.write_text(f"{listed}\n")
        return path, path
    path = tmp / "in_file.jpg"
    shutil.copy(BUS, path)
    return path, path


def _aimed(target: Path, out, spelling: str, tmp: Path) -> str:
    """A way of writing ``target``: itself, through ``..``, a symlink, a hard link (files only)."""
    if out.role != OUTPUT_FOLDER and target.is_dir():
        target = next(target.iterdir())  # an output file onto a file the folder holds
    links = tmp / "links"
    links.mkdir(exist_ok=True)
    if spelling == "dotdot":
        return str(target.parent / "links" / ".." / target.name)
    if spelling == "symlink":
        alias = links / ("alias" + target.suffix)
        alias.symlink_to(target)
        return str(alias)
    if spelling == "hardlink" and target.is_file():
        alias = links / ("hard" + target.suffix)
        os.link(target, alias)
        return str(alias)
    return str(target)


@pytest.mark.parametrize("index", range(len(PAIRS)),
                         ids=[f"{label} {out.flag} onto {inp.flag}" for label, out, inp in PAIRS])
def test_an_output_pointed_at_an_input_is_refused_and_the_input_kept(index, tmp_path):
    label, out, inp = PAIRS[index]
    spelling = SPELLINGS[index % len(SPELLINGS)]
    given, target = _input(inp, tmp_path)
    before = _digest(given)
    argv = [*_base(label, inp, tmp_path), inp.flag, str(given), out.flag, _aimed(target, out, spelling, tmp_path)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RTPOSE_CACHE": str(tmp_path / "cache"),
           "RTPOSE_WEIGHTS_URL": "http://127.0.0.1:9/"}
    proc = subprocess.run([*_command(label), *argv], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=120)
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    assert len(errors) == 1 and out.flag in errors[0] and inp.flag in errors[0], (argv, proc.stderr)
    assert "download" not in proc.stderr  # refused before anything loads
    assert _digest(given) == before


@pytest.fixture()
def env(tmp_path):
    return {**os.environ, "PYTHONPATH": str(ROOT), "RTPOSE_CACHE": str(tmp_path / "cache"),
            "RTPOSE_WEIGHTS_URL": "http://127.0.0.1:9/"}


def _rtpose(env, *argv) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rtpose", *map(str, argv)], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120)


def test_save_masks_into_the_folder_of_frames_being_read_is_refused(tmp_path, env):
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        shutil.copy(BUS, frames / f"frame_{i:06d}.png")
    before = _digest(frames)
    proc = _rtpose(env, "--source", frames, "--no-show", "--seg", "person", "--save-masks", frames)
    assert proc.returncode == 1 and "--save-masks" in proc.stderr and "--source folder" in proc.stderr, proc.stderr
    assert _digest(frames) == before
    # a folder of other files that holds one with a name the masks take: refused too
    weights = tmp_path / "models" / "frame_000000.png"
    weights.parent.mkdir()
    shutil.copy(BUS, weights)
    proc = _rtpose(env, "--source", BUS, "--no-show", "--seg", "person", "--seg-weights", weights,
                   "--save-masks", weights.parent)
    assert proc.returncode == 1 and "would write over frame_000000.png, the --seg-weights file" in proc.stderr


def test_an_output_onto_an_entry_of_a_sources_list_or_a_folder_source_is_refused(tmp_path, env):
    video = tmp_path / "clip.jpg"
    shutil.copy(BUS, video)
    listing = tmp_path / "list.txt"
    listing.write_text(f"# cameras\n{video}\nrtsp://127.0.0.1:9/live\n")
    proc = _rtpose(env, "--sources", listing, "--no-show", "--json", video)
    assert proc.returncode == 1 and "is the file clip.jpg that --sources reads" in proc.stderr, proc.stderr
    proc = _rtpose(env, "--source", tmp_path, "--no-show", "--save", video)
    assert proc.returncode == 1 and "that --source reads" in proc.stderr, proc.stderr
    assert _digest(video) == hashlib.sha256(BUS.read_bytes()).hexdigest()


def test_two_outputs_on_one_file_through_a_hard_link_are_refused(tmp_path, env):
    out = tmp_path / "out.jsonl"
    out.write_text("")
    os.link(out, tmp_path / "same.mp4")
    proc = _rtpose(env, "--source", BUS, "--no-show", "--json", out, "--save", tmp_path / "same.mp4")
    assert proc.returncode == 1 and "--save and --json both name" in proc.stderr or \
        "--json and --save both name" in proc.stderr, proc.stderr


def test_train_output_onto_a_file_or_a_read_only_folder_is_one_sentence(tmp_path, env):
    existing = tmp_path / "notes.txt"
    existing.write_text("keep me")
    for output, words in ((existing, "is a file; give a folder"), (Path("/proc/run"), "cannot write there")):
        proc = subprocess.run([sys.executable, "-m", "train.fit", "--output", str(output)], capture_output=True,
                              text=True, cwd=tmp_path, env=env, timeout=120)
        assert proc.returncode == 1 and proc.stderr.count("error:") == 1 and words in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
    assert existing.read_text() == "keep me"


def test_save_masks_that_cannot_be_a_folder_is_said_before_models_load(tmp_path, env):
    proc = _rtpose(env, "--source", BUS, "--no-show", "--seg", "person", "--save-masks", "/proc/masks")
    assert proc.returncode == 1 and "--save-masks folder" in proc.stderr and "download" not in proc.stderr
    missing = tmp_path / "no-such-seg.pth"
    proc = _rtpose(env, "--source", BUS, "--no-show", "--weights", tmp_path / "no-pose.pth", "--seg", "parts",
                   "--seg-weights", missing)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.count("error:") == 1, proc.stderr


def test_a_commands_declared_roles_are_not_taken_for_options_the_user_gave(tmp_path, env):
    """``train.fit --resume`` refuses options that cannot change; the parser's own record of roles is none."""
    proc = subprocess.run([sys.executable, "-m", "train.fit", "--resume", str(tmp_path / "last.pth")],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode == 1 and "last.pth" in proc.stderr and "--_" not in proc.stderr, proc.stderr
