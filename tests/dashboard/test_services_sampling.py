"""Batch quality and filters of :mod:`dashboard.services.sampling`."""

from __future__ import annotations

import pytest

from dashboard.services import sampling


def test_describe_and_batch_stats():
    frame = sampling.describe(["CCO", "CCO", "not a smiles", "c1ccccc1"], known=frozenset({"CCO"}))
    assert frame["valid"].tolist() == [True, True, False, True]
    assert frame["unique"].tolist() == [True, False, True, True]
    assert frame["novel"].tolist() == [False, False, False, True]
    assert "QED" not in frame  # properties are computed lazily, for the rows that need them
    stats = sampling.batch_stats(frame)
    assert stats == {"validity": 0.75, "uniqueness": pytest.approx(2 / 3), "novelty": 0.5}


def test_filters_ranges_lipinski_and_smarts():
    frame = sampling.describe(["CCO", "c1ccccc1O", "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC(=O)O", "xx"], frozenset())
    everything = sampling.Filters(ranges=dict(sampling.PROPERTY_RANGES), valid_only=False, unique_only=False)
    unfiltered = sampling.apply_filters(frame, everything)
    assert len(unfiltered) == 4 and "QED" not in unfiltered  # sliders at their ends: no limits, no properties
    heavy = sampling.Filters(ranges={"MW": (100.0, 800.0)})
    assert sampling.apply_filters(frame, heavy)["smiles"].tolist() == [frame.loc[2, "smiles"]]
    phenol = sampling.apply_filters(frame, sampling.Filters(ranges={}, smarts="c1ccccc1[OH]"))
    assert phenol["smiles"].tolist() == ["c1ccccc1O"]
    with pytest.raises(ValueError, match="SMARTS"):
        sampling.apply_filters(frame, sampling.Filters(ranges={}, smarts="[C"))


def test_lipinski_filter_keeps_at_most_one_violation():
    smiles = ["CCO", "C" * 30, "C" * 40]  # 0 violations; logP > 5; logP > 5 and MW > 500
    kept = sampling.apply_filters(sampling.describe(smiles, frozenset()), sampling.Filters(ranges={}, lipinski=True))
    assert kept["smiles"].tolist() == smiles[:2] and kept["lipinski"].tolist() == [0, 1]
