"""What the app accepts from users: typed text and uploaded files are bounded before any parser sees them."""

from __future__ import annotations

import gzip
import io
import tomllib
from pathlib import Path

import numpy as np
import pytest

from aae_core.exceptions import DataError
from aae_core.molecules.data import read_table
from dashboard import inputs


def test_typed_smiles_and_text_are_bounded_and_stripped():
    assert inputs.check_smiles("  CCO \n", "your SMILES") == "CCO"
    with pytest.raises(DataError, match="your SMILES has 20,000 characters, over the limit of 1,000"):
        inputs.check_smiles("C" * 20_000, "your SMILES")
    with pytest.raises(DataError, match="the column has 201 characters, over the limit of 200"):
        inputs.check_length("x" * 201, inputs.MAX_TEXT_CHARS, "the column")


@pytest.mark.parametrize(("name", "safe"), [("../../etc/passwd", "passwd"), ("my mols?.smi", "my_mols_.smi"),
                                            ("..", "upload"), (".hidden.csv", "hidden.csv")])
def test_uploaded_names_become_plain_file_names(name, safe):
    assert inputs.safe_name(name) == safe


def test_a_long_upload_name_keeps_its_extension():
    name = inputs.safe_name("m" * 300 + ".smi.gz")
    assert len(name) == 100 and name.endswith(".smi.gz")


def test_a_molecule_upload_is_cut_to_the_rows_read_with_plain_line_ends(monkeypatch):
    monkeypatch.setattr(inputs, "MAX_ROWS", 3)
    name, text = inputs.molecule_upload("mols.csv", b"\xef\xbb\xbfsmiles\r\nCCO\r\nCCN\r\nCCC\r\nCCCl\r\n")
    assert name == "mols.csv" and text.split("\n") == ["smiles", "CCO", "CCN", "CCC"]


def test_a_gzip_upload_is_unpacked_and_loses_its_suffix(tmp_path):
    name, text = inputs.molecule_upload("mols.csv.gz", gzip.compress(b"name,smiles\na,CCO\nb,c1ccccc1\n"))
    assert name == "mols.csv"
    (tmp_path / name).write_text(text)
    frame, column = read_table(tmp_path / name)
    assert column == "smiles" and frame["smiles"].tolist() == ["CCO", "c1ccccc1"]


def test_broken_or_bombing_gzip_uploads_are_refused(monkeypatch):
    packed = gzip.compress(b"C\n" * 10_000)
    with pytest.raises(DataError, match="not a gzip file"):
        inputs.molecule_upload("mols.smi.gz", b"CCO\n")
    with pytest.raises(DataError, match="cut short"):
        inputs.molecule_upload("mols.smi.gz", packed[: len(packed) // 2])
    monkeypatch.setattr(inputs, "MOLECULE_MAX_UNPACKED", 1000)
    with pytest.raises(DataError, match="mols.smi.gz unpacks to more than .* the limit"):
        inputs.molecule_upload("mols.smi.gz", packed)


def test_empty_oversized_and_binary_uploads_are_refused(monkeypatch):
    with pytest.raises(DataError, match="mols.smi is empty"):
        inputs.molecule_upload("mols.smi", b"")
    for binary in (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "café".encode("latin-1")):
        with pytest.raises(DataError, match="mols.smi is not a text file .* upload molecules as UTF-8 text"):
            inputs.molecule_upload("mols.smi", binary)
    monkeypatch.setattr(inputs, "MOLECULE_MAX_BYTES", 10)
    with pytest.raises(DataError, match="the limit is 0 MiB"):
        inputs.molecule_upload("mols.smi", b"CCO\n" * 10)


def test_a_one_line_megabyte_upload_is_refused_by_its_line_length():
    with pytest.raises(DataError, match="line 2 has 1,048,576 characters, over the limit of 10,000"):
        inputs.molecule_upload("mols.smi", b"CCO\n" + b"C" * 2**20 + b"\n")


def v3000_chain(atoms: int) -> bytes:
    """One SDF record of a chain of ``atoms`` carbons in V3000 format (RDKit crashes writing 20,000 of them)."""
    lines = ["", "  chain", "", "  0  0  0     0  0            999 V3000", "M  V30 BEGIN CTAB",
             f"M  V30 COUNTS {atoms} {atoms - 1} 0 0 0", "M  V30 BEGIN ATOM"]
    lines += [f"M  V30 {i} C 0 0 0 0" for i in range(1, atoms + 1)]
    lines += ["M  V30 END ATOM", "M  V30 BEGIN BOND", *[f"M  V30 {i} 1 {i} {i + 1}" for i in range(1, atoms)]]
    return "\n".join([*lines, "M  V30 END BOND", "M  V30 END CTAB", "M  END", "$$$$", ""]).encode()


def test_an_sdf_record_of_a_huge_molecule_is_refused_before_rdkit_reads_it():
    with pytest.raises(DataError, match="the SDF record starting on line 1 has more than 5,000 lines"):
        inputs.molecule_upload("chain.sdf", v3000_chain(20_000))


def test_sdf_uploads_are_cut_after_the_rows_read(monkeypatch, tmp_path):
    monkeypatch.setattr(inputs, "MAX_ROWS", 2)
    name, text = inputs.molecule_upload("chains.sdf", v3000_chain(3) * 5)
    (tmp_path / name).write_text(text)
    frame, _ = read_table(tmp_path / name)
    assert frame["smiles"].tolist() == ["CCC", "CCC"]


def test_header_columns_of_csv_and_tsv_files_only():
    assert inputs.header_columns("a.csv", 'name,"my smiles"\nx,CCO') == ["name", "my smiles"]
    assert inputs.header_columns("a.tsv", "name\tSMILES\n") == ["name", "SMILES"]
    assert inputs.header_columns("a.smi", "CCO\n") is None


def npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def test_image_uploads_are_unpacked_and_bounded(monkeypatch):
    assert inputs.image_upload("train-images-idx3-ubyte.gz", gzip.compress(b"\x00" * 100)) == (
        "train-images-idx3-ubyte", b"\x00" * 100)
    archive = npz(x_train=np.zeros((100, 8, 8), np.uint8))
    assert inputs.image_upload("digits.npz", archive) == ("digits.npz", archive)
    with pytest.raises(DataError, match="bad.npz is not an .npz archive"):
        inputs.image_upload("bad.npz", b"not a zip file")
    monkeypatch.setattr(inputs, "IMAGE_MAX_BYTES", 5000)  # 6,400 bytes of zeros pack into far fewer
    assert len(archive) < 5000
    with pytest.raises(DataError, match="digits.npz unpacks to .* over the limit"):
        inputs.image_upload("digits.npz", archive)



def test_the_servers_upload_limit_admits_what_the_app_accepts():
    config = tomllib.loads((Path(inputs.__file__).parent / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] * 2**20 == inputs.IMAGE_MAX_BYTES >= inputs.MOLECULE_MAX_BYTES
    assert config["browser"]["gatherUsageStats"] is False and config["client"]["toolbarMode"] == "minimal"
