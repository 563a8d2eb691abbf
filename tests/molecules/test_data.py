import gzip

import pandas as pd
import pytest
from rdkit import Chem

from aae_core.exceptions import DataError
from aae_core.molecules.data import load_molecules
from aae_core.molecules.tokenizers import SmilesTokenizer


def test_smi_report_counts_every_rejection(tmp_path):
    path = tmp_path / "mols.smi"
    path.write_text("CCO ethanol\nnot_a_smiles\n\nOCC\nc1ccccc1\nC1CC\n")
    result = load_molecules(path)
    report = result.report
    assert result.smiles == ["CCO", "c1ccccc1"]
    assert report.rows_read == 6
    assert report.rejected == {"empty": 1, "unparsable": 2, "too_long": 0, "unknown_tokens": 0, "duplicate": 1}
    assert report.kept + sum(report.rejected.values()) == report.rows_read
    assert "duplicate 1" in report.summary()


def test_csv_gz_with_named_column_keeps_properties(tmp_path):
    path = tmp_path / "mols.csv.gz"
    with gzip.open(path, "wt") as handle:
        pd.DataFrame({"id": [1, 2, 3], "mol": ["CCO", "CCN", "xx"], "pIC50": ["5.1", "6.2", "7"]}).to_csv(
            handle, index=False)
    result = load_molecules(path, smiles_column="mol", properties=["pIC50"])
    assert result.frame.to_dict("list") == {"smiles": ["CCO", "CCN"], "pIC50": ["5.1", "6.2"]}
    assert result.report.rejected["unparsable"] == 1


def test_wrong_column_and_missing_property_are_named(tmp_path):
    path = tmp_path / "mols.csv"
    path.write_text("name,structure\na,CCO\n")
    with pytest.raises(DataError, match="no SMILES column found among \\['name', 'structure'\\]"):
        load_molecules(path)
    with pytest.raises(DataError, match="no column 'smiles_x'"):
        load_molecules(path, smiles_column="smiles_x")
    with pytest.raises(DataError, match="property column"):
        load_molecules(path, smiles_column="structure", properties=["logS"])


def test_sdf_records(tmp_path):
    path = tmp_path / "mols.sdf"
    writer = Chem.SDWriter(str(path))
    for smiles in ("CCO", "c1ccncc1"):
        mol = Chem.MolFromSmiles(smiles)
        mol.SetProp("activity", "1.5")
        writer.write(mol)
    writer.close()
    result = load_molecules(path, properties=["activity"])
    assert result.smiles == ["CCO", "c1ccncc1"]
    assert result.frame["activity"].tolist() == [1.5, 1.5]


def test_tokenizer_checks_length_and_vocabulary(tmp_path):
    path = tmp_path / "mols.smi"
    path.write_text("CCO\nCCCCCCCCCC\nCCBr\n")
    tokenizer = SmilesTokenizer(max_len=5).fit(["CCO"])
    report = load_molecules(path, tokenizer=tokenizer, max_len=5).report
    assert report.rejected["too_long"] == 1 and report.rejected["unknown_tokens"] == 1
    assert report.examples["unknown_tokens"] == ["CCBr"]


@pytest.mark.parametrize("content,message", [(b"", "is empty"), (b"\x00\x01", "unknown file type")])
def test_bad_files(tmp_path, content, message):
    path = tmp_path / ("empty.smi" if not content else "mols.bin")
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        load_molecules(path)


def test_missing_huge_and_all_invalid(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_molecules(tmp_path / "nope.smi")
    path = tmp_path / "bad.smi"
    path.write_text("xx\nyy\n")
    with pytest.raises(DataError, match="no valid molecule.*unparsable 2"):
        load_molecules(path)
    from aae_core.molecules.data import read_table

    with pytest.raises(DataError, match="over the"):
        read_table(path, max_bytes=2)


def test_shipped_moses_cut_loads():
    result = load_molecules("moses-train", max_rows=50)
    assert result.report.rows_read == 50 and len(result) == 50
