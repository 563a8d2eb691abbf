"""``aae-lab optimize``: real small searches with the shipped MOSES AAE write molecules that keep every constraint,
repeat under a seed, and bad input exits with status 2 and one ``error:`` line, leaving no file behind."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from aae_core.cli import build_parser, main
from aae_core.molecules import chem
from aae_core.molecules.latent_quality import fingerprints, tanimoto
from aae_core.molecules.optimization import Objective, SearchConfig, molecule_properties
from aae_core.molecules.optimize_cli import OUTPUT_COLUMNS
from tests.test_hostile_cli import one_error

ROOT = Path(__file__).resolve().parents[2]
DIGITS = ROOT / "checkpoints" / "digits_aae_gaussian.safetensors"
START = "Clc1ccccc1-c1nc(-c2ccncc2)no1"  # a MOSES test molecule whose neighbourhood the shipped AAE decodes well
PYRIDINE = "c1ccncc1"
FAST = ["--threads", "1", "optimize", START, "--budget", "48", "--refine-steps", "0", "--quiet"]


def run(argv: list[str], capsys) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err


def test_found_molecules_keep_every_constraint(tmp_path, capsys):
    out = tmp_path / "found.csv"
    code, err = run([*FAST, "--objective", "qed", "--min-similarity", "0.4", "--smarts", PYRIDINE, "--lipinski", "0",
                     "-n", "5", "--out", str(out)], capsys)
    assert code == 0, err
    found = pd.read_csv(out)
    assert tuple(found.columns) == OUTPUT_COLUMNS
    assert 1 <= len(found) <= 5 and found["smiles"].is_unique and START not in set(found["smiles"])
    assert found["objective"].is_monotonic_decreasing
    similarity = tanimoto(fingerprints([START])[0], fingerprints(found["smiles"].tolist()))
    assert similarity == pytest.approx(found["similarity"].to_numpy(), abs=1e-5)
    assert (similarity >= 0.4).all()
    pyridine = chem.substructure_query(PYRIDINE)
    for smiles, objective in zip(found["smiles"], found["objective"], strict=True):
        mol = chem.mol_from_smiles(smiles)
        assert mol is not None and mol.HasSubstructMatch(pyridine) and chem.lipinski_violations(mol) == 0
        assert objective == pytest.approx(molecule_properties(mol)["QED"], rel=1e-5)
    start = Objective.parse("qed").value(molecule_properties(chem.mol_from_smiles(START)))
    assert f"start {START}: objective {start:.3f}, QED {start:.3f}" in err
    assert "decoded 48 molecules" in err and f"wrote {len(found)} rows to {out}" in err


def test_a_seed_repeats_the_search(tmp_path, capsys):
    first, again = tmp_path / "a.csv", tmp_path / "b.csv"
    argv = [*FAST, "--objective", "plogp", "--min-similarity", "0.3", "--seed", "7"]
    assert run([*argv, "--out", str(first)], capsys)[0] == 0
    assert run([*argv, "--out", str(again)], capsys)[0] == 0
    assert first.read_bytes() == again.read_bytes() and len(pd.read_csv(first))


def test_nothing_found_writes_the_header_and_says_how_close_it_came(capsys):
    assert main([*FAST, "--budget", "16", "--min-similarity", "1"]) == 0  # CSV to standard output
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [",".join(OUTPUT_COLUMNS)]
    assert ("decoded 16 molecules" in captured.err and "0 distinct molecule(s) satisfy the constraints; the closest "
            "valid molecule decoded had similarity" in captured.err and "(threshold 1)" in captured.err)


def test_defaults_are_the_search_defaults():
    args = build_parser().parse_args(["optimize", START])
    config = SearchConfig()
    assert (args.method, args.budget, args.popsize, args.sigma0, args.step, args.refine_steps, args.seed) == (
        config.method, config.budget, config.popsize, config.sigma0, config.step, config.refine_steps, config.seed)
    assert args.temperature is None and config.greedy and args.objective == "plogp"
    assert args.anchors is None and f"default {','.join(f'{a:g}' for a in config.anchors)})" in " ".join(
        build_parser()._subparsers._group_actions[0].choices["optimize"].format_help().split())
    assert build_parser().parse_args(["optimize", START, "--anchors", "0.8,0"]).anchors == (0.8, 0.0)


@pytest.mark.parametrize("extra,message", [
    (["--objective", "potency"], "unknown objective 'potency'; choose from qed, plogp"),
    (["--objective", "logp"], "'logp' needs a window"),
    (["--min-similarity", "1.5"], "similarity threshold must be in [0, 1], got 1.5"),
    (["--min-similarity", "nan"], "similarity threshold must be in [0, 1]"),
    (["--smarts", "[C"], "'[C' is not a valid SMARTS pattern"),
    (["--smarts", "Br"], "the start molecule does not contain the must-keep SMARTS 'Br'"),
    (["--smarts", "C" * 1001], "--smarts has 1,001 characters, over the limit of 1,000"),
    (["--lipinski", "5"], "--lipinski: must be between 0 and 4, got 5"),
    (["--budget", "0"], "--budget: must be between 1 and 100,000, got 0"),
    (["-n", "0"], "-n: must be between 1"),
    (["--popsize", "1"], "--popsize: must be between 2"),
    (["--sigma0", "0"], "--sigma0: must be a finite number > 0"),
    (["--method", "bayes"], "invalid choice: 'bayes'"),
    (["--anchors", "0.5,1"], "--anchors: must be 1 to 10 numbers in [0, 1)"),
    (["--anchors", "half"], "--anchors: 'half' is not a comma-separated list of numbers"),
])
def test_bad_settings(extra, message, capsys, tmp_path):
    out = tmp_path / "found.csv"
    assert message in one_error([*FAST, *extra, "--out", str(out)], capsys)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("smiles,message", [
    ("C1CC(", "start SMILES 'C1CC(' is not a valid molecule"),
    ("C" * 1001, "start SMILES has 1,001 characters, over the limit of 1,000"),
    (" ", "no start molecule given"),
    ("C[Se]C", "the model cannot encode the start molecule"),
])
def test_bad_start_molecules(smiles, message, capsys, tmp_path):
    out = tmp_path / "found.csv"
    assert message in one_error(["optimize", smiles, "--quiet", "--refine-steps", "0", "--out", str(out)], capsys)
    assert list(tmp_path.iterdir()) == []


def test_image_checkpoint_and_bad_out(capsys, tmp_path):
    line = one_error([*FAST, "--model", str(DIGITS)], capsys)
    assert f"{DIGITS.name} holds an image model; aae-lab optimize needs a molecule model checkpoint" in line
    assert f"--out {tmp_path} is a folder" in one_error([*FAST, "--out", str(tmp_path)], capsys)
    missing = tmp_path / "missing" / "found.csv"
    assert f"the folder {missing.parent} does not exist" in one_error([*FAST, "--out", str(missing)], capsys)
    assert list(tmp_path.iterdir()) == []
