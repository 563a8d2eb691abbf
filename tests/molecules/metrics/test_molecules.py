"""Tests of aae_core.molecules.metrics: hand-computed values on tiny sets, sanity anchors on ~300 molecules of the
shipped MOSES test split, a cross-check against a literal port of the molsets 0.3.1 code, and the cache."""

from __future__ import annotations

import argparse
import json
import math
import os
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem, DataStructs, RDConfig
from rdkit.Chem import AllChem, Crippen, rdFingerprintGenerator
from rdkit.Chem.Scaffolds import MurckoScaffold
from scipy.stats import wasserstein_distance

from aae_core.exceptions import DataError
from aae_core.molecules import chem
from aae_core.molecules.metrics import (
    METRIC_COLUMNS,
    MOSES_PAPER,
    MetricWarning,
    ReferenceSet,
    cache_dir,
    canonical_training_set,
    compute_reference,
    evaluate,
    evaluate_cli,
    fcd,
    fcd_score,
    format_table,
    fraction_passes_filters,
    fraction_unique,
    fraction_valid,
    fragment_similarity,
    internal_diversity,
    kl_divergence_score,
    load_reference,
    moses_smiles,
    novelty,
    passes_filters,
    property_distances,
    read_smiles,
    scaffold_similarity,
    snn,
    to_frame,
)
from aae_core.molecules.metrics import descriptors as desc
from aae_core.molecules.metrics.similarity import (
    cosine_similarity_counts,
    morgan_bits,
    tanimoto_max,
    tanimoto_mean_powers,
)

RHODANINE = "O=C1C(=Cc2ccccc2)SC(=S)N1"  # 5-benzylidene rhodanine: PAINS ene_rhod
N_SMALL = 300


@pytest.fixture(scope="module", autouse=True)
def _single_thread_and_private_cache(tmp_path_factory):
    """One CPU thread (torch and BLAS) and a throw-away metrics cache for this module."""
    import torch
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    old_cache = os.environ.get("AAE_LAB_CACHE")
    os.environ["AAE_LAB_CACHE"] = str(tmp_path_factory.mktemp("aae-lab-cache"))
    with threadpool_limits(1):
        yield
    torch.set_num_threads(threads)
    if old_cache is None:
        os.environ.pop("AAE_LAB_CACHE", None)
    else:
        os.environ["AAE_LAB_CACHE"] = old_cache


@pytest.fixture(scope="module")
def test_split() -> list[str]:
    return moses_smiles("test")


@pytest.fixture(scope="module")
def small(test_split) -> list[str]:
    return test_split[:N_SMALL]


@pytest.fixture(scope="module")
def small_ref(small) -> ReferenceSet:
    return load_reference(small, name="small")


def _fp(smiles: str, n_bits: int = 1024):
    return rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=n_bits).GetFingerprint(Chem.MolFromSmiles(smiles))


def _tanimoto(a: str, b: str) -> float:
    return DataStructs.TanimotoSimilarity(_fp(a), _fp(b))


# ---------------------------------------------------------------------------------------------------
# Valid, Unique, Novelty


def test_fraction_valid_counts_unparsable_and_empty():
    assert fraction_valid(["CCO", "xx", "", "c1ccccc1"]) == 0.5
    assert fraction_valid(["CCO", None]) == 0.5
    assert fraction_valid(["C1CC", "((", "c1cccc1"]) == 0.0
    with pytest.warns(MetricWarning):
        assert math.isnan(fraction_valid([]))


def test_fraction_unique_uses_the_first_k_valid_canonical_smiles():
    generated = ["CCO", "OCC", "xx", "C", "C"]  # valid canonical: CCO, CCO, C, C
    assert fraction_unique(generated) == 0.5
    assert fraction_unique(generated, k=3) == pytest.approx(2 / 3)
    with pytest.warns(MetricWarning, match="unique@10"):
        assert fraction_unique(generated, k=10) == 0.5
    assert math.isnan(fraction_unique(["xx"]))


def test_novelty_compares_canonical_smiles():
    generated = ["CCO", "OCC", "c1ccccc1", "CC", "xx"]  # distinct valid: CCO, c1ccccc1, CC
    assert novelty(generated, ["OCC"]) == pytest.approx(2 / 3)
    assert novelty(["C(C)O"], ["CCO"]) == 0.0
    assert novelty(["OCC"], ["CCO"], train_is_canonical=True) == 0.0
    assert novelty(["CCO"], ["OCC"], train_is_canonical=True) == 1.0  # taken as given: "OCC" != "CCO"
    assert novelty(["CCO"], []) == 1.0


# ---------------------------------------------------------------------------------------------------
# Tanimoto kernels, IntDiv, SNN


def test_tanimoto_kernels_match_rdkit(small):
    query_smiles, ref_smiles = small[:40], small[40:240]
    query = morgan_bits([Chem.MolFromSmiles(s) for s in query_smiles])
    ref = morgan_bits([Chem.MolFromSmiles(s) for s in ref_smiles])
    ref_fps = [_fp(s) for s in ref_smiles]
    expected = np.array([DataStructs.BulkTanimotoSimilarity(_fp(s), ref_fps) for s in query_smiles])
    weights = np.arange(1, len(ref_smiles) + 1, dtype=float)

    np.testing.assert_allclose(tanimoto_max(query, ref), expected.max(axis=1), rtol=1e-6)
    means = tanimoto_mean_powers(query, ref, weights, powers=(1, 2))
    np.testing.assert_allclose(means[:, 0], expected @ weights / weights.sum(), rtol=1e-6)
    np.testing.assert_allclose(means[:, 1], expected**2 @ weights / weights.sum(), rtol=1e-6)

    self_sim = np.array([DataStructs.BulkTanimotoSimilarity(_fp(s), ref_fps) for s in ref_smiles])
    np.fill_diagonal(self_sim, 0)
    np.testing.assert_allclose(tanimoto_max(ref, ref, exclude_diagonal=True), self_sim.max(axis=1), rtol=1e-6)


def test_tanimoto_of_empty_fingerprints_is_one_as_in_moses():
    bits = np.zeros((2, 8), dtype=np.uint8)
    bits[1, :3] = 1
    np.testing.assert_allclose(tanimoto_mean_powers(bits, bits), [[0.5], [0.5]])  # T(0,0)=1, T(0,b)=0
    np.testing.assert_allclose(tanimoto_max(bits[:1], bits[1:]), [0.0])


def test_internal_diversity_of_identical_molecules_is_zero():
    assert internal_diversity(["CCO", "OCC", "CCO"]) == pytest.approx(0.0, abs=1e-12)
    assert internal_diversity(["CCO", "OCC"], p=2) == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(internal_diversity(["xx"]))


def test_internal_diversity_on_two_molecules_includes_self_pairs():
    t = _tanimoto("CCO", "CCN")
    assert 0 < t < 1
    # All four ordered pairs, self-pairs included: mean T = (1 + t + t + 1) / 4.
    assert internal_diversity(["CCO", "CCN"]) == pytest.approx((1 - t) / 2)
    # MOSES p=2: 1 - mean_i sqrt(mean_j T_ij^2), each molecule has sqrt((1 + t^2) / 2).
    assert internal_diversity(["CCO", "CCN"], p=2) == pytest.approx(1 - math.sqrt((1 + t * t) / 2))
    # Duplicates count: for CCO mean_j T = (2 + t) / 3 (twice), for CCN (2t + 1) / 3.
    assert internal_diversity(["CCO", "CCO", "CCN"]) == pytest.approx(1 - (5 + 4 * t) / 9)


def test_snn_is_mean_nearest_neighbour_similarity():
    reference = compute_reference(["CCN", "c1ccccc1", "CCCCO"], name="tiny")
    expected_cco = max(_tanimoto("CCO", s) for s in ["CCN", "c1ccccc1", "CCCCO"])
    assert snn(["CCO"], reference) == pytest.approx(expected_cco)
    # Duplicates and invalid input: mean over the valid molecules (CCO twice, benzene once = 1).
    assert snn(["CCO", "OCC", "c1ccccc1", "xx"], reference) == pytest.approx((2 * expected_cco + 1) / 3)


# ---------------------------------------------------------------------------------------------------
# Frag, Scaf


def test_cosine_similarity_counts():
    assert cosine_similarity_counts({"a": 1, "b": 1}, {"a": 1}) == pytest.approx(1 / math.sqrt(2))
    assert cosine_similarity_counts({"a": 2}, {"a": 5}) == pytest.approx(1.0)
    assert cosine_similarity_counts({"a": 1}, {"b": 1}) == pytest.approx(0.0)
    assert math.isnan(cosine_similarity_counts({}, {"a": 1}))


def test_fragments_and_scaffolds_on_hand_built_sets():
    naphthalene, cyclohexylbenzene = "c1ccc2ccccc2c1", "C1CCC(CC1)c1ccccc1"
    assert sorted(desc.brics_fragments(Chem.MolFromSmiles(cyclohexylbenzene))) == [
        "[15*]C1CCCCC1",
        "[16*]c1ccccc1",
    ]
    assert desc.murcko_scaffold(Chem.MolFromSmiles("Cc1ccc2ccccc2c1")) == naphthalene
    assert desc.murcko_scaffold(Chem.MolFromSmiles("Cc1ccccc1")) is None  # one ring: not counted

    reference = compute_reference([naphthalene, cyclohexylbenzene], name="two")
    assert reference.fragments == {naphthalene: 1, "[15*]C1CCCCC1": 1, "[16*]c1ccccc1": 1}
    assert reference.scaffolds == {naphthalene: 1, "c1ccc(C2CCCCC2)cc1": 1}
    # Fragment vectors (naph, cyclohexyl, phenyl): reference (1, 1, 1), generated (1, 0, 0).
    assert fragment_similarity([naphthalene], reference) == pytest.approx(1 / math.sqrt(3))
    # Scaffold vectors: reference (1, 1), generated (2, 0) (methylnaphthalene has the same scaffold).
    assert scaffold_similarity([naphthalene, "Cc1ccc2ccccc2c1"], reference) == pytest.approx(1 / math.sqrt(2))
    assert fragment_similarity([naphthalene, cyclohexylbenzene], reference) == pytest.approx(1.0)
    with pytest.warns(MetricWarning, match="scaffold"):
        assert math.isnan(scaffold_similarity(["Cc1ccccc1"], reference))


# ---------------------------------------------------------------------------------------------------
# Filters


def test_filters_reject_pains_charges_atoms_and_large_rings():
    assert passes_filters(Chem.MolFromSmiles("CCO"))
    assert passes_filters(Chem.MolFromSmiles("Cc1ccc2ccccc2c1"))
    assert not passes_filters(Chem.MolFromSmiles(RHODANINE))  # PAINS ene_rhod
    assert not passes_filters(Chem.MolFromSmiles("C[N+](C)(C)C"))  # charged
    assert not passes_filters(Chem.MolFromSmiles("CCP"))  # P is not an allowed atom
    assert not passes_filters(Chem.MolFromSmiles("C1CCCCCCC1"))  # ring of 8 atoms
    assert not passes_filters(None)
    assert fraction_passes_filters(["CCO", "c1ccccc1", RHODANINE, "C[N+](C)(C)C", "xx"]) == 0.5


def test_filter_screen_gives_the_same_answers():
    with open(Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi") as handle:
        smiles = [line.split()[0] for line, _ in zip(handle, range(300), strict=False)]
    mols = [m for s in smiles if (m := chem.mol_from_smiles(s)) is not None]
    screened = [passes_filters(m) for m in mols]
    assert screened == [passes_filters(m, screen=False) for m in mols]
    assert 0 < sum(screened) < len(mols)


# ---------------------------------------------------------------------------------------------------
# Property distances, KL score, FCD


def test_property_distances():
    reference = compute_reference(["CCO", "CCCO"], name="alcohols")
    same = property_distances(["OCC", "CCCO"], reference)
    assert list(same) == ["logP", "SA", "QED", "weight"]
    assert all(v == pytest.approx(0.0, abs=1e-12) for v in same.values())
    x, y = (Crippen.MolLogP(Chem.MolFromSmiles(s)) for s in ("CCO", "CCCO"))
    # W1 of {x} and {x, y}: half of the mass moves |y - x|; of {x, x, y} and {x, y}: a sixth.
    assert property_distances(["CCO"], reference)["logP"] == pytest.approx(abs(y - x) / 2)
    assert property_distances(["CCO", "CCO", "CCCO"], reference)["logP"] == pytest.approx(
        wasserstein_distance([x, x, y], [x, y])
    )


def test_kl_score_is_one_for_the_reference_itself_and_lower_for_a_shifted_set(small, small_ref):
    assert kl_divergence_score(small, small_ref) == pytest.approx(1.0)
    small_and_simple = ["CCO", "CCCO", "CCN", "CC(C)O", "CCOC", "CCCCO", "CCCN", "OCCO"]
    assert kl_divergence_score(small_and_simple, small_ref) < 0.5
    with pytest.warns(MetricWarning):
        assert math.isnan(kl_divergence_score(["CCO"], small_ref))


def test_fcd_matches_the_fcd_package(test_split, small_ref):
    import fcd as fcd_package

    generated = test_split[N_SMALL : 2 * N_SMALL]
    ours = fcd(generated, small_ref, device="cpu")
    canonical = [desc.canonical_smiles(s) for s in generated]
    reference = [desc.canonical_smiles(s) for s in test_split[:N_SMALL]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # np.row_stack, scipy's sqrtm(disp=)
        theirs = fcd_package.get_fcd(canonical, reference, device="cpu")
    assert ours > 1.0  # two 300-molecule samples: FCD is dominated by small-sample bias
    assert ours == pytest.approx(theirs, rel=1e-4)
    assert fcd_score(ours) == pytest.approx(math.exp(-0.2 * ours))
    assert fcd_score(-1e-7) == 1.0  # round-off below zero is clamped


# ---------------------------------------------------------------------------------------------------
# evaluate


def test_evaluate_against_itself_gives_the_anchor_values(small, small_ref):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetricWarning)  # fewer than 1000 molecules for unique@k
        metrics = evaluate(small, small_ref, train=small)
    assert list(metrics) == list(METRIC_COLUMNS)
    assert metrics["valid"] == 1.0
    assert metrics["unique@1000"] == metrics["unique@10000"] == 1.0
    assert abs(metrics["FCD/Test"]) < 1e-3
    assert metrics["FCD score"] == pytest.approx(1.0, abs=1e-3)
    for name in ("SNN/Test", "Frag/Test", "Scaf/Test", "Filters", "KL score"):
        assert metrics[name] == pytest.approx(1.0), name
    assert metrics["Novelty"] == 0.0
    for name in ("logP", "SA", "QED", "weight"):
        assert metrics[name] == pytest.approx(0.0, abs=1e-9), name
    assert 0.8 < metrics["IntDiv2"] < metrics["IntDiv"] < 0.9  # MOSES molecules: about 0.85


def test_evaluate_garbled_input_does_not_crash(small_ref):
    with pytest.warns(MetricWarning, match="no valid"):
        metrics = evaluate(["xx", "((", "", None, "C1CC"], small_ref, train=[])
    assert list(metrics) == list(METRIC_COLUMNS)
    assert metrics["valid"] == 0.0
    assert all(math.isnan(v) for name, v in metrics.items() if name != "valid")
    with pytest.warns(MetricWarning):
        empty = evaluate([], small_ref, train=[])
    assert all(math.isnan(v) for v in empty.values())


def test_evaluate_matches_a_literal_port_of_molsets(test_split, small, small_ref):
    """SNN, IntDiv, IntDiv2, Frag, Scaf, Filters, Novelty and the W1 distances against the molsets 0.3.1
    code transcribed below (numpy in place of torch, no parallelism)."""
    generated = test_split[1000:1150] + small[:20] + [RHODANINE, "C[N+](C)(C)C", "CCP", "CCO", "OCC", "xx", ""]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetricWarning)
        ours = evaluate(generated, small_ref, train=small, label="Test")

    gen = [Chem.MolToSmiles(m) for s in generated if (m := chem.mol_from_smiles(s)) is not None]
    mols = [Chem.MolFromSmiles(s) for s in gen]
    ref_mols = [Chem.MolFromSmiles(s) for s in small]
    expected = {
        "SNN/Test": _moses_average_agg_tanimoto(_moses_fps(ref_mols), _moses_fps(mols), "max"),
        "IntDiv": 1 - _moses_average_agg_tanimoto(_moses_fps(mols), _moses_fps(mols), "mean"),
        "IntDiv2": 1 - _moses_average_agg_tanimoto(_moses_fps(mols), _moses_fps(mols), "mean", p=2),
        "Frag/Test": cosine_similarity_counts(_moses_fragments(ref_mols), _moses_fragments(mols)),
        "Scaf/Test": cosine_similarity_counts(_moses_scaffolds(ref_mols), _moses_scaffolds(mols)),
        "Filters": float(np.mean([_moses_mol_passes_filters(m) for m in mols])),
        "Novelty": len(set(gen) - set(small)) / len(set(gen)),
        "logP": wasserstein_distance([Crippen.MolLogP(m) for m in ref_mols], [Crippen.MolLogP(m) for m in mols]),
        "weight": wasserstein_distance(
            [chem.properties(m)["MW"] for m in ref_mols], [chem.properties(m)["MW"] for m in mols]
        ),
    }
    assert ours["valid"] == pytest.approx(len(gen) / len(generated))
    assert ours["Filters"] < 1.0
    for name, value in expected.items():
        assert ours[name] == pytest.approx(value, rel=1e-6, abs=1e-9), name


# molsets 0.3.1, moses/metrics/utils.py, transcribed -------------------------------------------------


def _moses_fps(mols):
    return np.vstack([np.asarray(AllChem.GetMorganFingerprintAsBitVect(m, 2, nBits=1024), dtype="uint8") for m in mols])


def _moses_average_agg_tanimoto(stock_vecs, gen_vecs, agg, p=1, batch_size=64):
    agg_tanimoto = np.zeros(len(gen_vecs))
    total = np.zeros(len(gen_vecs))
    for j in range(0, stock_vecs.shape[0], batch_size):
        x_stock = stock_vecs[j : j + batch_size].astype(np.float32)
        for i in range(0, gen_vecs.shape[0], batch_size):
            y_gen = gen_vecs[i : i + batch_size].astype(np.float32).T
            tp = x_stock @ y_gen
            with np.errstate(invalid="ignore"):
                jac = tp / (x_stock.sum(1, keepdims=True) + y_gen.sum(0, keepdims=True) - tp)
            jac[np.isnan(jac)] = 1
            if p != 1:
                jac = jac**p
            if agg == "max":
                agg_tanimoto[i : i + y_gen.shape[1]] = np.maximum(agg_tanimoto[i : i + y_gen.shape[1]], jac.max(0))
            else:
                agg_tanimoto[i : i + y_gen.shape[1]] += jac.sum(0)
                total[i : i + y_gen.shape[1]] += jac.shape[0]
    if agg == "mean":
        agg_tanimoto /= total
    if p != 1:
        agg_tanimoto = agg_tanimoto ** (1 / p)
    return np.mean(agg_tanimoto)


def _moses_fragments(mols):
    fragments = Counter()
    for mol in mols:
        fragments.update(Chem.MolToSmiles(AllChem.FragmentOnBRICSBonds(mol)).split("."))
    return fragments


def _moses_scaffolds(mols, min_rings=2):
    scaffolds = Counter()
    for mol in mols:
        scaffold = MurckoScaffold.GetScaffoldForMol(mol)
        smiles = Chem.MolToSmiles(scaffold)
        if smiles != "" and scaffold.GetRingInfo().NumRings() >= min_rings:
            scaffolds[smiles] += 1
    return scaffolds


_ASSETS = Path(__file__).resolve().parents[3] / "assets" / "moses"
_MOSES_FILTERS = [
    Chem.MolFromSmarts(x)
    for x in pd.concat(
        [
            pd.read_csv(_ASSETS / "mcf.csv"),
            pd.read_csv(_ASSETS / "wehi_pains.csv", names=["smarts", "names"]),
        ],
        sort=True,
    )["smarts"].values
]


def _moses_mol_passes_filters(mol, allowed=None, isomericSmiles=False):  # noqa: N803 - molsets name
    allowed = allowed or {"C", "N", "S", "O", "F", "Cl", "Br", "H"}
    ring_info = mol.GetRingInfo()
    if ring_info.NumRings() != 0 and any(len(x) >= 8 for x in ring_info.AtomRings()):
        return False
    h_mol = Chem.AddHs(mol)
    if any(atom.GetFormalCharge() != 0 for atom in mol.GetAtoms()):
        return False
    if any(atom.GetSymbol() not in allowed for atom in mol.GetAtoms()):
        return False
    if any(h_mol.HasSubstructMatch(smarts) for smarts in _MOSES_FILTERS):
        return False
    smiles = Chem.MolToSmiles(mol, isomericSmiles=isomericSmiles)
    if smiles is None or len(smiles) == 0:
        return False
    return Chem.MolFromSmiles(smiles) is not None


# ---------------------------------------------------------------------------------------------------
# Reference sets and the cache


def test_reference_cache_round_trip(small, small_ref):
    path = next(cache_dir().glob(f"reference-{small_ref.key[:32]}.npz"))
    assert not list(cache_dir().glob("*.tmp"))
    with np.load(path, allow_pickle=False) as data:  # no pickled objects in the file
        assert data["fingerprints"].dtype == np.uint8

    again = load_reference(small, name="small again")
    assert again.from_cache and again.name == "small again"
    assert again.key == small_ref.key
    for field in ("counts", "fingerprints", "fcd_mu", "fcd_sigma", "kl_descriptors", "kl_internal_similarity"):
        np.testing.assert_array_equal(getattr(again, field), getattr(small_ref, field))
    for name, (values, weights) in small_ref.properties.items():
        np.testing.assert_array_equal(again.properties[name][0], values)
        np.testing.assert_array_equal(again.properties[name][1], weights)
        assert weights.sum() == small_ref.n_molecules
    assert again.fragments == small_ref.fragments and again.scaffolds == small_ref.scaffolds
    generated = small[100:160] + ["CCO", "xx"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetricWarning)
        first, second = evaluate(generated, small_ref, train=[]), evaluate(generated, again, train=[])
    assert first == second
    # Order does not change the key; a corrupt file is recomputed.
    assert load_reference(list(reversed(small))).from_cache
    path.write_bytes(b"not a zip file")
    rebuilt = load_reference(small)
    assert not rebuilt.from_cache and load_reference(small).from_cache


def test_reference_counts_duplicates_and_invalid_smiles():
    with pytest.warns(UserWarning, match="invalid"):
        reference = compute_reference(["CCO", "OCC", "c1ccccc1", "xx"], name="dups")
    assert reference.n_input == 4 and reference.n_invalid == 1
    assert reference.n_molecules == 3 and reference.n_unique == 2
    assert sorted(reference.counts.tolist()) == [1, 2]
    with pytest.raises(DataError):
        compute_reference(["xx", ""])


def test_canonical_training_set_is_cached():
    train = ["OCC", "c1ccccc1", "xx"]
    assert canonical_training_set(train) == {"CCO", "c1ccccc1"}
    assert list(cache_dir().glob("train-*.npz"))
    assert canonical_training_set(train) == {"CCO", "c1ccccc1"}


def test_read_smiles(tmp_path, test_split):
    assert len(test_split) == 176_074
    csv = tmp_path / "gen.csv"
    pd.DataFrame({"id": [1, 2], "smiles": ["CCO", "c1ccccc1"]}).to_csv(csv, index=False)
    assert read_smiles(csv) == ["CCO", "c1ccccc1"]
    smi = tmp_path / "gen.smi"
    smi.write_text("SMILES\nCCO name1\n\nc1ccccc1\n")
    assert read_smiles(smi) == ["CCO", "c1ccccc1"]
    with pytest.raises(DataError, match="not found"):
        read_smiles(tmp_path / "missing.csv")
    with pytest.raises(DataError, match="no column"):
        read_smiles(csv, column="SMILES")
    with pytest.raises(DataError):
        moses_smiles("validation")


# ---------------------------------------------------------------------------------------------------
# Published numbers and formatting


def test_moses_paper_rows():
    assert set(MOSES_PAPER) == {"AAE", "VAE"}
    # The paper's table rounded to three decimals (half up: 0.5555 -> 0.556).
    aae = [0.937, 1.0, 0.997, 0.556, 0.608, 0.991, 0.902, 0.856, 0.850, 0.996, 0.793]
    vae = [0.977, 1.0, 0.998, 0.099, 0.626, 0.999, 0.939, 0.856, 0.850, 0.997, 0.695]
    for model, expected in (("AAE", aae), ("VAE", vae)):
        np.testing.assert_allclose(list(MOSES_PAPER[model].values()), expected, atol=0.0005 + 1e-9)
    assert list(MOSES_PAPER["AAE"]) == list(METRIC_COLUMNS[:11])


def test_format_table_and_to_frame():
    metrics = {"Novelty": 0.5, "valid": 0.9, "FCD/Test": float("nan"), "custom": 1.0}
    lines = format_table(metrics).splitlines()
    assert lines[0].split() == ["metric", "value", "better"]
    assert [line.split()[0] for line in lines[1:]] == ["valid", "FCD/Test", "Novelty", "custom"]
    assert lines[1].split() == ["valid", "0.9000", "higher"]
    assert lines[2].split() == ["FCD/Test", "nan", "lower"]

    frame = to_frame({"ours": metrics, **MOSES_PAPER})
    assert list(frame.index) == ["ours", "AAE", "VAE"]
    assert list(frame.columns[:3]) == ["valid", "unique@1000", "unique@10000"]
    assert frame.loc["AAE", "Novelty"] == 0.7931 and np.isnan(frame.loc["AAE", "custom"])


def test_evaluate_cli_writes_json_and_csv(tmp_path, small, small_ref, capsys):
    samples, reference, train = tmp_path / "gen.smi", tmp_path / "ref.smi", tmp_path / "train.csv"
    samples.write_text("\n".join(small[:40] + ["xx"]) + "\n")
    reference.write_text("\n".join(small) + "\n")  # same SMILES as small_ref: read from its cache
    pd.DataFrame({"SMILES": small[:10]}).to_csv(train, index=False)
    args = argparse.Namespace(samples=str(samples), reference=str(reference), train=str(train), model=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetricWarning)
        for out in ("m.json", "m.csv"):
            assert evaluate_cli(argparse.Namespace(**vars(args), out=str(tmp_path / out))) == 0
    assert "FCD/Test" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert list(metrics) == list(METRIC_COLUMNS)
    assert metrics["valid"] == pytest.approx(40 / 41) and metrics["Novelty"] == pytest.approx(30 / 40)
    frame = pd.read_csv(tmp_path / "m.csv", index_col=0)
    assert frame.loc["generated", "SNN/Test"] == pytest.approx(1.0)
    with pytest.raises(DataError, match="json"):
        evaluate_cli(argparse.Namespace(**vars(args), out=str(tmp_path / "m.txt")))
