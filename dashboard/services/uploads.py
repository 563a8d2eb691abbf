"""Files the user uploads: molecule files to train on and MNIST-format images, checked by
:mod:`dashboard.inputs` before anything parses them, and kept in the session's folder."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from aae_core.exceptions import DataError
from aae_core.molecules.data import SMILES_COLUMN_GUESSES, load_molecules
from dashboard import inputs


@st.cache_data(show_spinner=False, max_entries=8)
def read_upload(name: str, data: bytes, smiles_column: str, folder: str) -> tuple[str, dict, int]:
    """Validate an uploaded molecule file and keep it in ``folder``: returns (its path, the loader's report
    as a dict, the number of molecules kept). The file is checked and cut to :data:`inputs.MAX_ROWS` rows
    (:func:`inputs.molecule_upload`) before anything parses it.

    Raises
    ------
    DataError
        If the file is empty, too large, not text, has an over-long line, is of an unknown type, lacks the SMILES
        column or holds no valid molecule.
    """
    smiles_column = inputs.check_length(smiles_column, inputs.MAX_TEXT_CHARS, "the SMILES column name")
    name, text = inputs.molecule_upload(name, data)
    _check_smiles_column(name, inputs.header_columns(name, text), smiles_column)
    path = Path(folder) / name
    path.write_text(text, encoding="utf-8")
    molecules = load_molecules(path, smiles_column or None, max_rows=inputs.MAX_ROWS)
    return str(path), molecules.report.to_dict(), len(molecules)


def _check_smiles_column(name: str, columns: list[str] | None, wanted: str) -> None:
    """Raise a :class:`DataError` pointing at the page's column box when a CSV/TSV file's header ``columns``
    lack ``wanted`` or, with no column named, every usual SMILES column name."""
    if columns is None:
        return
    if (wanted in columns) if wanted else any(guess in columns for guess in SMILES_COLUMN_GUESSES):
        return
    shown = ", ".join(repr(c[:40]) for c in columns[:10]) + (", ..." if len(columns) > 10 else "")
    problem = f"no column {wanted!r}" if wanted else "no SMILES column found"
    raise DataError(f"{name} has {problem} among its columns ({shown}): name the column in the box **SMILES "
                    "column** (the one that holds the SMILES)")


def save_image_uploads(files, folder: Path) -> tuple[str, str | None]:
    """Check uploaded image files (:func:`inputs.image_upload`) and save them in ``folder``: returns (the path of
    the images file, of the labels file or ``None``).

    Raises
    ------
    DataError
        If a file is refused, or there is not exactly one images file (.npz, or *-idx3-ubyte[.gz]).
    """
    paths = []
    for upload in files:
        name, data = inputs.image_upload(upload.name, upload.getvalue())
        paths.append(folder / name)
        paths[-1].write_bytes(data)
    images = [p for p in paths if p.suffix == ".npz" or "idx3" in p.name]
    labels = [p for p in paths if "idx1" in p.name]
    if len(images) != 1:
        raise DataError("upload one images file (.npz, or *-idx3-ubyte[.gz]) and optionally its *-idx1-ubyte labels")
    return str(images[0]), str(labels[0]) if labels else None
