"""First use of the metrics: shipped reference statistics, progress reporting, worker processes and the blocked
Tanimoto kernel (same numbers whichever path is taken)."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from aae_core.molecules.metrics import (
    MetricWarning,
    ProgressBar,
    compute_reference,
    evaluate,
    evaluate_cli,
    load_reference,
    moses_smiles,
    sample_with_progress,
)
from aae_core.molecules.metrics import descriptors as desc
from aae_core.molecules.metrics import reference as ref_module
from aae_core.molecules.metrics import similarity as sim
from aae_core.molecules.metrics.parallel import map_chunks, parallel_map
from aae_core.molecules.metrics.progress import tracked

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module", autouse=True)
def _one_thread_and_private_cache(tmp_path_factory):
    import torch

    threads, old = torch.get_num_threads(), os.environ.get("AAE_LAB_CACHE")
    torch.set_num_threads(1)
    os.environ["AAE_LAB_CACHE"] = str(tmp_path_factory.mktemp("aae-lab-cache"))
    yield
    torch.set_num_threads(threads)
    if old is None:
        os.environ.pop("AAE_LAB_CACHE", None)
    else:
        os.environ["AAE_LAB_CACHE"] = old


@pytest.fixture(scope="module")
def test_split() -> list[str]:
    return moses_smiles("test")


class Recorder:
    """A progress callback that keeps every call."""

    def __init__(self):
        self.calls: list[tuple[str, int, int]] = []

    def __call__(self, stage: str, done: int, total: int) -> None:
        self.calls.append((stage, done, total))

    def stages(self) -> list[str]:
        return list(dict.fromkeys(stage for stage, _, _ in self.calls))


def _assert_well_formed(calls: list[tuple[str, int, int]]) -> None:
    """Each stage: starts at 0, never goes back, ends at its total; stages do not interleave."""
    seen: list[str] = []
    for stage, done, total in calls:
        if not seen or seen[-1] != stage:
            assert stage not in seen, f"{stage} reported again after another stage"
            assert done == 0, f"{stage} starts at {done}"
            seen.append(stage)
            last = 0
        assert last <= done <= total, (stage, done, total)
        last = done
    ends = {}
    for stage, done, total in calls:
        ends[stage] = (done, total)
    assert all(done == total for done, total in ends.values()), ends


# ---------------------------------------------------------------------------------------------------
# Progress


def test_evaluate_reports_every_step_in_order(test_split):
    reference = compute_reference(test_split[:60], name="tiny")
    recorder = Recorder()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetricWarning)
        evaluate(test_split[100:140] + ["xx"], reference, train=test_split[:10], progress=recorder)
    _assert_well_formed(recorder.calls)
    assert recorder.stages() == [
        "canonical SMILES", "training set: canonical SMILES", "fingerprints", "SNN", "IntDiv",
        "FCD: ChemNet activations", "properties, fragments, scaffolds, filters", "KL score: descriptors",
        "KL score: descriptors similarity",
    ]
    assert ("canonical SMILES", 41, 41) in recorder.calls


def test_reference_build_reports_its_steps(test_split):
    recorder = Recorder()
    compute_reference(test_split[:30], name="r", progress=recorder)
    _assert_well_formed(recorder.calls)
    assert recorder.stages() == ["r: canonical SMILES", "r: ChemNet activations",
                                 "r: properties, fragments, scaffolds, fingerprints", "r: KL descriptors",
                                 "r: KL descriptors similarity"]


def test_progress_bar_draws_one_bar_per_stage_and_closes_it():
    out = io.StringIO()
    with ProgressBar(file=out) as bar:
        for chunk in tracked(bar, "step one", [[1, 2], [3]], 3):
            assert chunk
        bar("step two", 0, 10)
        bar("step two", 4, 10)
    text = out.getvalue()
    assert "step one" in text and "3/3" in text and "step two" in text and "4/10" in text
    assert bar._bar is None
    silent = io.StringIO()
    ProgressBar(file=silent, disable=True)("x", 0, 1)
    assert silent.getvalue() == ""


def test_sample_with_progress_gives_the_same_molecules(trained_checkpoint):
    from aae_core.molecules.generation import MoleculeGenerator
    from aae_core.registry import load_model

    generator = MoleculeGenerator(load_model(trained_checkpoint))
    recorder = Recorder()
    got = sample_with_progress(generator, 12, 0.9, seed=3, progress=recorder)
    assert got == generator.sample(12, 0.9, seed=3)
    assert recorder.calls[0] == ("sampling", 0, 12) and recorder.calls[-1] == ("sampling", 12, 12)


def test_evaluate_cli_draws_progress_bars_unless_quiet(tmp_path, test_split, capsys):
    samples = tmp_path / "gen.smi"
    samples.write_text("\n".join(test_split[200:230]) + "\n")
    reference = tmp_path / "ref.smi"
    reference.write_text("\n".join(test_split[:50]) + "\n")
    args = dict(samples=str(samples), reference=str(reference), train=str(reference), model=None, out=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetricWarning)
        assert evaluate_cli(argparse.Namespace(**args)) == 0
        err = capsys.readouterr().err
        assert "ref.smi: ChemNet activations" in err and "SNN" in err and "IntDiv" in err
        assert evaluate_cli(argparse.Namespace(**args, quiet=True)) == 0
        err = capsys.readouterr().err
        assert "SNN" not in err and "scoring 30 SMILES" in err


# ---------------------------------------------------------------------------------------------------
# Worker processes


def test_worker_processes_give_the_same_results(test_split):
    smiles = test_split[:300] + ["xx"]
    recorder = Recorder()
    in_process = map_chunks(desc.packed_fingerprints, smiles, 1, chunk=50)
    workers = map_chunks(desc.packed_fingerprints, smiles, 2, chunk=50, progress=recorder, stage="fp")
    for (keep_a, bits_a), (keep_b, bits_b) in zip(in_process, workers, strict=True):
        np.testing.assert_array_equal(keep_a, keep_b)
        np.testing.assert_array_equal(bits_a, bits_b)
    assert [done for _, done, _ in recorder.calls] == [0, 50, 100, 150, 200, 250, 300, 301]
    assert parallel_map(desc.canonical_smiles, smiles, 2) == [desc.canonical_smiles(s) for s in smiles]


def test_worker_modules_do_not_import_torch():
    modules = "aae_core.molecules.metrics.descriptors, aae_core.molecules.metrics.similarity"
    code = f"import sys, {modules}; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert result.stdout.strip() == "False"


def test_lazy_package_exports_every_name():
    import aae_core.molecules.metrics as metrics

    for name in metrics.__all__:
        assert getattr(metrics, name) is not None, name
    with pytest.raises(AttributeError):
        metrics.no_such_name  # noqa: B018


# ---------------------------------------------------------------------------------------------------
# Tanimoto kernel


@pytest.mark.parametrize("bf16", [True, False], ids=["bf16", "float32"])
def test_blocked_kernel_matches_a_dense_reference(test_split, monkeypatch, bf16):
    monkeypatch.setattr(sim, "_bf16_is_fast", lambda: bf16)
    monkeypatch.setattr(sim, "QUERY_BLOCK", 64)
    monkeypatch.setattr(sim, "REFERENCE_BLOCK", 96)
    mols = [desc.chem.mol_from_smiles(s) for s in test_split[:400]]
    bits = sim.morgan_bits(mols)
    bits[3] = 0  # an empty fingerprint: T(empty, empty) = 1
    query, reference = bits[:150], bits[100:]
    a, b = query.sum(1).astype(np.float32), reference.sum(1).astype(np.float32)
    common = (query.astype(np.float32) @ reference.T.astype(np.float32)).astype(np.float32)
    with np.errstate(invalid="ignore"):
        dense = common / ((a[:, None] + b[None, :]) - common)
    dense[np.isnan(dense)] = 1.0
    np.testing.assert_array_equal(sim.tanimoto_max(query, reference), dense.max(axis=1))
    packed = np.packbits(reference, axis=1)
    np.testing.assert_array_equal(sim.tanimoto_max(query, packed, packed_reference=True), dense.max(axis=1))
    self_dense = dense[:, :50].copy()  # query rows 100..149 are reference rows 0..49
    np.testing.assert_array_equal(
        sim.tanimoto_max(bits[100:150], bits[100:], exclude_diagonal=True),
        np.maximum(np.where(np.eye(50, dtype=bool), 0, self_dense[100:150]).max(1), dense[100:150, 50:].max(1)))
    weights = np.arange(1, len(reference) + 1, dtype=np.float64)
    expected = np.stack([dense.astype(np.float64) @ weights, (dense.astype(np.float64) ** 2) @ weights], 1)
    np.testing.assert_allclose(sim.tanimoto_mean_powers(query, reference, weights, (1, 2)),
                               expected / weights.sum(), rtol=1e-12)


def test_kernel_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same number of bits"):
        sim.tanimoto_max(np.zeros((2, 16), np.uint8), np.zeros((2, 8), np.uint8))
    with pytest.raises(ValueError, match="empty"):
        sim.tanimoto_max(np.zeros((2, 16), np.uint8), np.zeros((0, 16), np.uint8))


# ---------------------------------------------------------------------------------------------------
# Shipped statistics


@pytest.fixture
def shipped_small(tmp_path, test_split, monkeypatch):
    """Shipped statistics of 80 test molecules (with a duplicate and an invalid SMILES) in a temporary file."""
    smiles = [*test_split[:80], test_split[0], "xx"]
    path = tmp_path / "small_stats.npz"
    with pytest.warns(UserWarning, match="invalid"):
        computed = ref_module.write_shipped_statistics(smiles, path, "small", provenance={"source": "test"})
    monkeypatch.setattr(ref_module, "SHIPPED_STATS", {"small": path})
    monkeypatch.setenv("AAE_LAB_CACHE", str(tmp_path / "cache"))
    return smiles, path, computed


def _assert_same_statistics(a, b) -> None:
    for field in ("counts", "fingerprints", "fcd_mu", "fcd_sigma", "kl_descriptors", "kl_internal_similarity"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    for name in desc.PROPERTY_COLUMNS:
        for x, y in zip(a.properties[name], b.properties[name], strict=True):
            np.testing.assert_array_equal(x, y)
    assert a.fragments == b.fragments and a.scaffolds == b.scaffolds
    assert (a.n_input, a.n_invalid, a.key) == (b.n_input, b.n_invalid, b.key)


def test_shipped_statistics_rebuild_the_computed_set(shipped_small):
    smiles, path, computed = shipped_small
    with np.load(path, allow_pickle=False) as data:
        assert "fingerprints" not in data.files and "counts" not in data.files
        meta = json.loads(str(data["meta"]))
        fixes = ref_module._canonical_fixes(["xx"], [None])  # only the invalid SMILES is not already canonical
        assert all(np.array_equal(data[name], fixes[name]) for name in fixes)
    assert meta["versions"] == ref_module.versions() and meta["source"] == "test" and meta["n_invalid"] == 1
    with pytest.warns(UserWarning, match="invalid"):
        shipped = load_reference(list(reversed(smiles)))
    assert shipped.origin == "shipped" and not shipped.notes
    _assert_same_statistics(shipped, computed)
    cached = load_reference(smiles)
    assert cached.from_cache
    _assert_same_statistics(cached, computed)


def test_shipped_statistics_from_another_rdkit_are_used_with_a_note(shipped_small, monkeypatch):
    smiles, _, computed = shipped_small
    real = ref_module.versions()
    monkeypatch.setattr(ref_module, "versions", lambda: {**real, "rdkit": "1999.09.1"})
    with pytest.warns(UserWarning, match="made with rdkit .* using them anyway"):
        shipped = load_reference(smiles)
    assert shipped.origin == "shipped" and "this is rdkit 1999.09.1" in shipped.notes[0]
    np.testing.assert_array_equal(shipped.fcd_mu, computed.fcd_mu)
    np.testing.assert_array_equal(shipped.fingerprints, computed.fingerprints)
    rebuilt = load_reference(smiles, shipped=False, use_cache=False)
    assert rebuilt.origin == "computed"


def test_the_shipped_files_match_the_shipped_splits(test_split):
    """The real shipped files: readable without pickle, made from the shipped SMILES, and their canonical
    SMILES agree with this RDKit on the first 2,000 molecules (the whole check is in the benchmark)."""
    for split, name in (("test", "test_stats.npz"), ("test_scaffolds", "test_scaffolds_stats.npz"),
                        ("train", "train_canonical.npz")):
        path = ROOT / "assets" / "moses" / name
        smiles = test_split if split == "test" else moses_smiles(split)
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        meta = json.loads(str(arrays["meta"]))
        assert meta["content_sha256"] == ref_module._content_hash(smiles) and meta["n_input"] == len(smiles)
        assert {"rdkit", "fcd", "cache"} <= set(meta["versions"]) and meta["source"].endswith(f"{split}.csv.gz")
        canonical = ref_module._apply_fixes(smiles, arrays)
        if meta["versions"]["rdkit"] == ref_module.versions()["rdkit"]:
            assert canonical[:2000] == [desc.canonical_smiles(s) for s in smiles[:2000]]
        if split != "train":
            assert arrays["fcd_sigma_triu"].shape == (512 * 513 // 2,)
            assert arrays["property_weights"].sum() == 4 * (meta["n_input"] - meta["n_invalid"])
