"""Hostile input never takes the CLI down: every bad argument, file, checkpoint or output path gives exit status 2
and exactly one ``error:`` line, no traceback, and nothing half-written."""

import argparse
import errno
import gzip
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from aae_core.cli import main
from aae_core.molecules.generation import MoleculeGenerator
from aae_core.molecules.metrics.cli import _generated
from aae_core.registry import load_model

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "checkpoints" / "digits_aae_gaussian.safetensors"
HUGE = "C" * 20_000  # 20,000 atoms: once a stack overflow (exit 139) in RDKit's SMILES parser
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def one_error(argv: list[str], capsys) -> str:
    """The one ``error:`` line of ``main(argv)``, after checking its exit status is 2 and nothing else went wrong."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and "Traceback" not in err, (code, err)
    return errors[0]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- counts ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv,message", [
    (["sample", "-n", "-5"], "-n: must be between 1 and 1,000,000, got -5"),
    (["sample", "-n", "100000000"], "got 100,000,000"),
    (["sample", "-n", "ten"], "'ten' is not a whole number"),
    (["evaluate", "-n", "-5"], "-n: must be between 1 and 100,000, got -5"),
    (["compare", "a.safetensors", "-n", "0"], "-n/--n: must be between 1"),
    (["interpolate", "CCO", "CCN", "--steps", "1"], "--steps: must be between 2 and 1,000"),
    (["sample", "--temperature", "0"], "--temperature: must be a finite number > 0"),
    (["sample", "--temperature", "nan"], "--temperature: must be a finite number > 0"),
    (["sample", "--batch-size", "0"], "--batch-size: must be between 1"),
    (["sample", "--seed", "-1"], "--seed: must be between 0"),
    (["--threads", "0", "sample"], "--threads: must be between 1"),
    (["train", "--out", "x.safetensors", "--max-molecules", "-5"], "must be >= 1, got -5"),
])
def test_bad_counts(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert message in one_error(argv, capsys)
    assert leftovers(tmp_path) == []


# -- checkpoints of the wrong family ---------------------------------------------------------------
@pytest.mark.parametrize("argv", [
    ["sample", "-n", "5"], ["encode", "CCO"], ["interpolate", "CCO", "CCN"], ["evaluate", "-n", "5"],
])
def test_image_checkpoint_where_a_molecule_model_is_needed(argv, capsys):
    line = one_error([*argv, "--model", str(DIGITS)], capsys)
    assert f"{DIGITS.name} holds an image model; aae-lab {argv[0]} needs a molecule model checkpoint" in line


def test_image_checkpoint_to_compare_resume_and_init_from(capsys, tmp_path):
    assert "holds an image model; compare needs" in one_error(
        ["compare", str(DIGITS), "--out", str(tmp_path / "report")], capsys)
    assert not (tmp_path / "report").exists()
    copy = tmp_path / "digits.safetensors"
    shutil.copy(DIGITS, copy)
    assert "holds an image model; train --resume needs" in one_error(
        ["train", "--resume", "--out", str(copy)], capsys)
    assert "holds an image model; --init-from needs" in one_error(
        ["train", "--init-from", str(DIGITS), "--out", str(tmp_path / "new.safetensors")], capsys)
    assert not (tmp_path / "new.safetensors").exists()


# -- output paths ----------------------------------------------------------------------------------
OUT_COMMANDS = [["sample", "-n", "5"], ["encode", "CCO"], ["interpolate", "CCO", "CCN"],
                ["evaluate", "-n", "5"], ["train"], ["train-images"]]


@pytest.mark.parametrize("argv", OUT_COMMANDS, ids=lambda argv: argv[0])
def test_out_is_a_folder(argv, capsys, tmp_path):
    assert f"--out {tmp_path} is a folder" in one_error([*argv, "--out", str(tmp_path)], capsys)


@pytest.mark.parametrize("argv", OUT_COMMANDS[:4], ids=lambda argv: argv[0])
def test_out_in_a_missing_folder(argv, capsys, tmp_path):
    out = tmp_path / "missing" / "x.csv"
    assert f"the folder {out.parent} does not exist" in one_error([*argv, "--out", str(out)], capsys)
    assert leftovers(tmp_path) == []


def _read_only_folder(tmp_path: Path, kind: str) -> Path:
    if kind == "sysfs":  # the kernel refuses new files there, even to root
        if not Path("/sys/kernel").is_dir():
            pytest.skip("no /sys here")
        return Path("/sys/kernel")
    if IS_ROOT:
        pytest.skip("root writes into read-only folders (chmod does not stop it); the sysfs case covers this")
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    return folder


@pytest.mark.parametrize("kind", ["chmod", "sysfs"])
@pytest.mark.parametrize("argv", OUT_COMMANDS, ids=lambda argv: argv[0])
def test_out_in_a_read_only_folder(argv, kind, capsys, tmp_path):
    out = _read_only_folder(tmp_path, kind) / "x.csv"
    try:
        assert "cannot be written" in one_error([*argv, "--out", str(out)], capsys)
    finally:
        if kind == "chmod":
            out.parent.chmod(0o700)


def test_compare_out_is_a_file_and_evaluate_out_has_no_known_suffix(capsys, tmp_path, trained_checkpoint):
    report = tmp_path / "report"
    report.write_text("not a folder")
    assert "is a file, not a folder" in one_error(["compare", str(trained_checkpoint), "--out", str(report)], capsys)
    assert "--out must end in .json or .csv" in one_error(["evaluate", "--out", str(tmp_path / "m.txt")], capsys)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(capsys, tmp_path, monkeypatch, trained_checkpoint):
    out = tmp_path / "s.csv"
    out.write_text("old\n")
    real = pd.DataFrame.to_csv

    def disk_full(self, handle, *args, **kwargs):
        real(self.head(2), handle, *args, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", disk_full)
    line = one_error(["sample", "--model", str(trained_checkpoint), "-n", "8", "--out", str(out)], capsys)
    assert line == f"error: cannot write {out}: No space left on device; nothing was written"
    assert out.read_text() == "old\n" and leftovers(tmp_path) == ["s.csv"]


# -- SMILES and files --------------------------------------------------------------------------------
def test_long_smiles_arguments(capsys, trained_checkpoint):
    model = ["--model", str(trained_checkpoint)]
    assert "'" + "C" * 80 + "'... (300 characters) has 300 tokens, more than max_len=100" in one_error(
        ["encode", *model, "C" * 300], capsys)  # once "OSError: File name too long": it was tried as a path
    assert "SMILES has 20,000 characters, over the limit of 1,000" in one_error(["encode", *model, HUGE], capsys)
    assert "end SMILES has 20,000 characters" in one_error(["interpolate", *model, "CCO", HUGE], capsys)
    assert "give SMILES or --file, not both" in one_error(["encode", *model, "CCO", "--file", "x.smi"], capsys)
    assert "give one or more SMILES" in one_error(["encode", *model], capsys)


@pytest.mark.parametrize("name,content,message", [
    ("one_line.smi", b"C" * 2**20, "line 1 of one_line.smi has 1,048,576 bytes, over the limit of 100,000"),
    ("random.smi", bytes(range(256)) * 8, "random.smi is binary"),
    ("latin1.smi", "CCO\nC\xe9\n".encode("latin-1"), "latin1.smi is not UTF-8 text (byte 0xe9 on line 2)"),
    ("cut.smi.gz", gzip.compress(b"CCO\n" * 1000)[:-12], "cut.smi.gz is not a complete gzip file"),
    ("empty.smi", b"", "empty.smi is empty"),
])
def test_hostile_files(name, content, message, capsys, tmp_path, trained_checkpoint):
    path = tmp_path / name
    path.write_bytes(content)
    for argv in (["encode", "--model", str(trained_checkpoint), "--file", str(path)],
                 ["train", "--data", str(path), "--out", str(tmp_path / "m.safetensors")]):
        assert message in one_error(argv, capsys)
    assert not (tmp_path / "m.safetensors").exists()


def test_file_rows_are_reported_and_skipped(capsys, tmp_path, trained_checkpoint):
    path = tmp_path / "mols.smi"
    path.write_text(f"CCO\n{HUGE}\nnot_a_smiles\nCCN\n")
    assert main(["encode", "--model", str(trained_checkpoint), str(path)]) == 0
    captured = capsys.readouterr()
    assert "data mols.smi: read 4, kept 2, rejected: unparsable 1, too_long 1" in captured.err
    assert [line.split(",")[0] for line in captured.out.splitlines()] == ["smiles", "CCO", "CCN"]


def test_evaluate_reads_sdf_samples_as_sdf(capsys, tmp_path):
    from rdkit import Chem

    path = tmp_path / "samples.sdf"
    path.write_text("".join(Chem.MolToMolBlock(Chem.MolFromSmiles(s)) + "$$$$\n" for s in ("CCO", "c1ccccc1"))
                    + "broken\n\n\n  9  9  0  0  0  0  0  0  0  0999 V2000\nM  END\n$$$$\n")
    assert _generated(argparse.Namespace(samples=str(path))) == ["CCO", "c1ccccc1"]
    assert "samples samples.sdf: read 3 rows, kept 2; rejected: unparsable 1" in capsys.readouterr().err


# -- output streaming --------------------------------------------------------------------------------
def test_sample_streams_the_same_molecules_as_sample_marked(capsys, tmp_path, trained_checkpoint):
    out = tmp_path / "s.csv"
    argv = ["sample", "--model", str(trained_checkpoint), "-n", "12", "--seed", "3", "--batch-size", "5"]
    assert main([*argv, "--out", str(out)]) == 0
    smiles, valid = MoleculeGenerator(load_model(trained_checkpoint)).sample_marked(12, seed=3, batch_size=5)
    frame = pd.read_csv(out, keep_default_na=False)
    assert frame["smiles"].tolist() == smiles and frame["valid"].tolist() == valid.tolist()
    assert f"{valid.sum()}/12 valid" in capsys.readouterr().err
    assert leftovers(tmp_path) == ["s.csv"]


# -- in a subprocess: crashes, hangs and real write failures ------------------------------------------
def _cli(argv: list[str], limit_bytes: int | None = None) -> subprocess.CompletedProcess:
    def limit_file_size():  # a real "disk full": writes past limit_bytes fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run([sys.executable, "-m", "aae_core.cli", "--threads", "1", *argv], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"},
                          preexec_fn=limit_file_size if limit_bytes else None)


def _assert_one_error(result: subprocess.CompletedProcess, message: str) -> None:
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2 and len(errors) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert message in errors[0]


def test_no_crash_or_hang_on_huge_input(tmp_path, trained_checkpoint):
    _assert_one_error(_cli(["interpolate", "--model", str(trained_checkpoint), "CCO", HUGE]),
                      "end SMILES has 20,000 characters")
    data = tmp_path / "one_line.smi"
    data.write_text(HUGE * 60)
    _assert_one_error(_cli(["train", "--data", str(data), "--out", str(tmp_path / "m.safetensors")]),
                      "line 1 of one_line.smi has 1,200,000 bytes")


def test_full_disk_leaves_no_half_written_csv(tmp_path, trained_checkpoint):
    out = tmp_path / "s.csv"
    out.write_text("old\n")
    result = _cli(["sample", "--model", str(trained_checkpoint), "-n", "400", "--batch-size", "50",
                   "--out", str(out)], limit_bytes=2000)
    _assert_one_error(result, f"cannot write {out}: File too large; nothing was written")
    assert out.read_text() == "old\n" and leftovers(tmp_path) == ["s.csv"]


def test_a_reader_that_goes_away_stops_sample_quietly(trained_checkpoint):
    """`aae-lab sample | head -2`: the writer stops with 128 + SIGPIPE and no error message, as `yes | head` does."""
    argv = [sys.executable, "-m", "aae_core.cli", "--threads", "1", "sample", "--model", str(trained_checkpoint),
            "-n", "20000", "--batch-size", "50"]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}) as process:
        assert process.stdout.readline().strip() == "smiles,valid"
        process.stdout.close()  # the reader goes away
        stderr = process.stderr.read()
        assert process.wait(timeout=120) == 128 + 13  # SIGPIPE
    assert "error" not in stderr and "Traceback" not in stderr, stderr
