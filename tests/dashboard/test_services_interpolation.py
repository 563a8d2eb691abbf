"""How the model reads a molecule back (:mod:`dashboard.services.interpolation`), and the sentence that says so."""

from __future__ import annotations

import pytest

from dashboard.services import interpolation


def test_reading_of_an_exact_a_different_and_an_invalid_decoding():
    same = interpolation.reading("OCC", "CCO")
    assert same.exact and same.smiles == "CCO" and same.tanimoto == 1.0
    other = interpolation.reading("c1ccccc1O", "Nc1ccc(Br)cc1")
    assert other.valid and not other.exact and 0 < other.tanimoto < 0.5
    broken = interpolation.reading("CCO", "C1CC(")
    assert not broken.valid and not broken.exact and broken.decoded == "C1CC(" and broken.tanimoto == 0.0
    with pytest.raises(ValueError, match="not a valid SMILES"):
        interpolation.reading("C1CC(", "CCO")


def test_reading_text_says_plainly_where_paths_start():
    said = interpolation.reading_text("the start", interpolation.reading("c1ccccc1O", "Nc1ccc(Br)cc1"),
                                      "the path starts from")
    assert said.startswith("The model decodes the start's code to a different molecule (Tanimoto 0.")
    assert said.endswith("to yours): the path starts from that molecule, not yours.")
    assert "not a valid molecule: the path ends at that string" in interpolation.reading_text(
        "the end", interpolation.reading("CCO", "C1CC("), "the path ends at")
    assert interpolation.reading_text("the end", interpolation.reading("CCO", "OCC"), "x") == (
        "The model decodes the end back to itself (Tanimoto 1.00).")
