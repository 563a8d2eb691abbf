"""Drawings of :mod:`dashboard.services.drawings`."""

from __future__ import annotations

import base64

from dashboard.services import drawings


def test_drawings_are_svg_data_uris_with_a_box_for_invalid_smiles():
    uri = drawings.drawing("not a smiles")
    assert uri.startswith("data:image/svg+xml;base64,")
    assert "invalid SMILES" in base64.b64decode(uri.split(",", 1)[1]).decode()
    path = drawings.aligned_drawings(["c1ccccc1CCN", "c1ccccc1CCO", "xx", "C1CCCCC1CO"])
    assert len(path) == 4 and all(u.startswith("data:image/svg+xml;base64,") for u in path)
    assert "invalid SMILES" in base64.b64decode(path[2].split(",", 1)[1]).decode()
