"""Lead optimisation in latent space: objectives, constraints, repeatability and errors
(aae_core.molecules.optimization)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from rdkit.Chem import QED, Crippen, Descriptors
from rdkit.Contrib.SA_Score import sascorer

from aae_core.exceptions import ConfigError, DataError
from aae_core.molecules import chem
from aae_core.molecules.generation import MoleculeGenerator
from aae_core.molecules.latent_quality import fingerprints, tanimoto
from aae_core.molecules.optimization import (
    PROPERTY_COLUMNS,
    Constraints,
    Objective,
    SearchConfig,
    fit_property_predictor,
    molecule_properties,
    optimize,
    penalized_logp,
    property_predictor,
    refine_code,
    ring_penalty,
)
from aae_core.registry import load_model

CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints"
START = "Clc1ccccc1-c1nc(-c2ccncc2)no1"  # a MOSES test molecule whose neighbourhood the shipped AAE decodes well
CYCLOOCTYL = "OC(=O)C1CCCCCCC1"  # largest ring 8: ring penalty 2
FAST = {"refine_steps": 0}  # searches from the encoder's code: fitting it to the decoder is tested on its own


@pytest.fixture(scope="module")
def generator() -> MoleculeGenerator:
    return MoleculeGenerator(load_model(CHECKPOINTS / "aae_moses.safetensors"))


def test_penalized_logp_by_hand():
    mol = chem.mol_from_smiles(CYCLOOCTYL)
    assert ring_penalty(mol) == 2
    expected = Crippen.MolLogP(mol) - sascorer.calculateScore(mol) - 2
    assert penalized_logp(mol) == pytest.approx(expected)
    assert molecule_properties(mol)["penalized_logP"] == pytest.approx(expected)
    assert ring_penalty(chem.mol_from_smiles("c1ccccc1CC1CC1")) == 0
    assert ring_penalty(chem.mol_from_smiles("CCO")) == 0


def test_plain_objectives_by_hand():
    mol = chem.mol_from_smiles(CYCLOOCTYL)
    props = molecule_properties(mol)
    assert set(props) == set(PROPERTY_COLUMNS)
    assert Objective.parse("qed").value(props) == pytest.approx(QED.qed(mol))
    assert Objective.parse("sa").value(props) == pytest.approx(-sascorer.calculateScore(mol))
    assert Objective.parse("plogp").value(props) == pytest.approx(penalized_logp(mol))
    both = Objective.parse("qed:1, plogp:0.5")
    assert both.value(props) == pytest.approx(QED.qed(mol) + 0.5 * penalized_logp(mol))
    assert both.needs == {"QED", "penalized_logP"}


@pytest.mark.parametrize(("spec", "value", "expected"), [
    ("logp[1,3]", 2.0, 0.0), ("logp[1,3]", 1.0, 0.0), ("logp[1,3]", 0.25, -0.75), ("logp[1,3]", 4.5, -1.5),
    ("mw[300,450]", 500.0, -50.0), ("mw[300,450]:0.1", 250.0, -5.0), ("logp[2,2]", 2.0, 0.0),
])
def test_window_objectives(spec, value, expected):
    prop = "logP" if spec.startswith("logp") else "MW"
    assert Objective.parse(spec).value({prop: value}) == pytest.approx(expected)


def test_window_objective_of_a_molecule():
    mol = chem.mol_from_smiles(CYCLOOCTYL)
    mw = Descriptors.MolWt(mol)
    assert Objective.parse(f"mw[{mw + 10},{mw + 100}]").value(molecule_properties(mol)) == pytest.approx(-10)


def test_objective_is_differentiable_on_tensors():
    logp = torch.tensor([0.0, 2.0, 5.0], requires_grad=True)
    value = Objective.parse("logp[1,3]").value({"logP": logp})
    value.sum().backward()
    assert value.tolist() == pytest.approx([-1.0, 0.0, -2.0])
    assert logp.grad.tolist() == pytest.approx([1.0, 0.0, -1.0])


@pytest.mark.parametrize(("spec", "message"), [
    ("potency", "choose from qed, plogp"), ("", "empty objective"), ("logp", "needs a window"),
    ("qed[0,1]", "takes no window"), ("logp[3,1]", "low end above"), ("qed:heavy", "not a number"),
    ("mw[a,5]", "not a number"), ("qed:nan", "not a finite number"),
])
def test_bad_objective(spec, message):
    with pytest.raises(ConfigError, match=message):
        Objective.parse(spec)


def test_constraints_hold_in_the_output(generator):
    constraints = Constraints(min_similarity=0.4, keep_smarts=("c1ccccc1", "[Cl]"), max_lipinski=0)
    result = optimize(generator, START, "qed", constraints, SearchConfig(budget=48, seed=0, refine_steps=10))
    assert len(result.found) > 0
    assert list(result.found.columns) == ["smiles", "similarity", "objective", *PROPERTY_COLUMNS]
    mols = [chem.mol_from_smiles(s) for s in result.found["smiles"]]
    similarity = tanimoto(fingerprints([START])[0], fingerprints(result.found["smiles"]))
    np.testing.assert_allclose(result.found["similarity"], similarity)
    assert (similarity >= 0.4).all()
    for smarts in constraints.keep_smarts:
        assert all(m.HasSubstructMatch(chem.substructure_query(smarts)) for m in mols)
    assert all(chem.lipinski_violations(m) == 0 for m in mols)
    assert result.found["objective"].is_monotonic_decreasing and result.found["smiles"].is_unique
    assert result.start["smiles"] not in set(result.found["smiles"])
    np.testing.assert_allclose(result.found["objective"], result.found["QED"])


def test_result_and_progress(generator):
    seen = []
    config = SearchConfig(budget=40, popsize=16, anchors=(0.0,), **FAST)
    result = optimize(generator, START, "plogp", config=config, progress=seen.append)
    assert result.evaluations == 40 and result.path.shape == (40, 64) and result.path.dtype == np.float32
    assert result.start_code.shape == (64,)
    assert [h["evaluations"] for h in result.history] == [16, 32, 40]
    assert seen == result.history
    assert result.start["similarity"] == 1.0
    assert result.start["objective"] == pytest.approx(penalized_logp(chem.mol_from_smiles(START)))
    best = result.history[-1]["best_objective"]
    assert best == pytest.approx(result.found["objective"].max())
    assert result.improvement() == pytest.approx(max(0.0, best - result.start["objective"]))
    assert result.improvement(min_similarity=1.01) == 0.0


def test_anchored_search_splits_the_budget_and_keeps_the_prefix(generator):
    """Anchors (0.6, 0.0): the first half of the budget decodes strings that start with the first 60% of the start's
    tokens, the second half decodes freely; the history counts on across both."""
    prefixes = []
    original = generator.decode_marked

    def spy(*args, **kwargs):
        prefixes.append(list(kwargs.get("prefix", ())))
        return original(*args, **kwargs)

    generator.decode_marked = spy
    try:
        result = optimize(generator, START, "qed", config=SearchConfig(budget=40, anchors=(0.6, 0.0), **FAST))
    finally:
        del generator.decode_marked
    tokens = generator.tokenizer.encode_one(chem.canonicalize(START))[1:-1]
    assert [h["evaluations"] for h in result.history] == [16, 20, 36, 40]
    assert prefixes == [tokens[: round(0.6 * len(tokens))]] * 2 + [[]] * 2
    assert result.evaluations == 40 and len(result.path) == 40


def test_a_given_start_code_is_searched_from_as_is(generator):
    first = optimize(generator, START, "qed", config=SearchConfig(budget=32, **FAST))
    again = optimize(generator, START, "qed", config=SearchConfig(budget=32, refine_steps=500),
                     start_code=first.start_code)
    np.testing.assert_array_equal(again.start_code, first.start_code)  # not refined again
    pd.testing.assert_frame_equal(again.found, first.found)


def test_refined_code_fits_the_decoder_better(generator):
    tokens, lengths = generator.tokenizer.encode([START])
    batch = {"tokens": tokens, "lengths": lengths}
    z0 = generator.encode([START])[0].double().numpy()
    weights = [p.clone() for p in generator.model.parameters()]
    z = refine_code(generator, START, z0, steps=20)
    assert z.shape == (64,) and z.dtype == np.float64
    with torch.no_grad():
        loss = [float(generator.model.decoder.reconstruction_loss(torch.tensor(c, dtype=torch.float32)[None], batch))
                for c in (z0, z)]
    assert loss[1] < loss[0]
    assert all(torch.equal(p, w) and p.grad is None for p, w in zip(generator.model.parameters(), weights, strict=True))
    np.testing.assert_array_equal(z0, refine_code(generator, START, z0, steps=0))


def test_seeded_search_is_repeatable(generator):
    config = SearchConfig(budget=32, seed=3, **FAST)
    np.random.seed(0)
    first = optimize(generator, START, "qed", Constraints(0.3), config)
    np.random.seed(1)  # the search has its own random stream: the global one does not matter
    again = optimize(generator, START, "qed", Constraints(0.3), config)
    other = optimize(generator, START, "qed", Constraints(0.3), SearchConfig(budget=32, seed=4, **FAST))
    pd.testing.assert_frame_equal(first.found, again.found)
    np.testing.assert_array_equal(first.path, again.path)
    assert not np.array_equal(first.path, other.path)


def test_sampled_decoding_is_repeatable(generator):
    config = SearchConfig(budget=16, greedy=False, temperature=0.7, seed=1, **FAST)
    first, again = (optimize(generator, START, "qed", config=config) for _ in range(2))
    pd.testing.assert_frame_equal(first.found, again.found)


def test_gradient_search_with_the_property_head():
    generator = MoleculeGenerator(load_model(CHECKPOINTS / "vae_property_small_moses.safetensors"))
    predictor = property_predictor(generator, Objective.parse("qed:1,sa:0.2"))
    assert predictor.head is generator.model.property_head and predictor.names == ("QED", "logP", "SA")
    config = SearchConfig(method="gradient", budget=32, popsize=8, seed=0, anchors=(0.0,), **FAST)
    first, again = (optimize(generator, START, "qed:1,sa:0.2", config=config, predictor=predictor) for _ in range(2))
    assert first.evaluations == 32 and len(first.history) == 4
    np.testing.assert_array_equal(first.path, again.path)


def test_fitted_property_predictor(generator):
    predictor = fit_property_predictor(generator, n_train=200, epochs=2, seed=0)
    assert predictor.names == PROPERTY_COLUMNS
    out = predictor(generator.encode([START, CYCLOOCTYL]))
    assert set(out) == set(PROPERTY_COLUMNS) and out["MW"].shape == (2,)
    config = SearchConfig(method="gradient", budget=16, **FAST)
    result = optimize(generator, START, "plogp", config=config, predictor=predictor)
    assert result.evaluations == 16


@pytest.mark.parametrize(("start", "message"), [
    ("C1CC", "not a valid molecule"), ("", "no start molecule"), ("C" * 5000, "over the limit"),
    ("C[Si](C)(C)C", "cannot encode"),
])
def test_bad_start_molecule(generator, start, message):
    with pytest.raises(DataError, match=message):
        optimize(generator, start, "qed", config=SearchConfig(budget=16, **FAST))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"objective": "potency"}, "choose from"),
    ({"constraints": Constraints(min_similarity=1.5)}, r"in \[0, 1\]"),
    ({"constraints": Constraints(min_similarity=-0.1)}, r"in \[0, 1\]"),
    ({"constraints": Constraints(keep_smarts=("[C",))}, "not a valid SMARTS"),
    ({"constraints": Constraints(keep_smarts=("C(=O)O",))}, "does not contain"),
    ({"constraints": Constraints(max_lipinski=5)}, "0-4"),
    ({"config": SearchConfig(method="annealing")}, "cmaes, gradient"),
    ({"config": SearchConfig(budget=0)}, "budget"),
    ({"config": SearchConfig(sigma0=0)}, "sigma0"),
    ({"config": SearchConfig(refine_steps=-1)}, "refine_steps"),
    ({"config": SearchConfig(anchors=())}, "anchors"),
    ({"config": SearchConfig(anchors=(0.5, 1.0))}, "anchors"),
])
def test_impossible_settings(generator, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        optimize(generator, START, **{"objective": "qed", **kwargs})
