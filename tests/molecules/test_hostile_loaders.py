"""Hostile input to the loaders and tokenizers: every file either loads with a consistent report or raises
DataError naming what is wrong; tokenizers raise only TokenizerError; nothing unbounded reaches RDKit or selfies."""

import gzip
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rdkit import Chem

from aae_core.exceptions import DataError, TokenizerError
from aae_core.molecules import chem, tokenizers
from aae_core.molecules.data import (
    MAX_LINE_BYTES,
    LoadReport,
    load_molecules,
    read_smiles_list,
    read_table,
)
from aae_core.molecules.metrics.reference import read_smiles
from aae_core.molecules.tokenizers import SelfiesTokenizer, SmilesTokenizer

FUZZ = settings(derandomize=True, max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
HUGE = "C" * 20_000  # 20,000 atoms: RDKit's recursive parser overflows the stack on strings like it
SMILES_ALPHABET = "CNOSPFIBrcnos()[]=#@+-\\/%0123456789.*: H"


def _consistent(report: LoadReport) -> bool:
    return report.rows_read == report.kept + sum(report.rejected.values())


def _load_or_data_error(path):
    """The report of loading ``path``, or None if it raised DataError (any other exception fails the test)."""
    try:
        return load_molecules(path).report
    except DataError as err:
        assert "\n" not in str(err)
        return None


@FUZZ
@given(content=st.binary(max_size=400), suffix=st.sampled_from([".smi", ".csv", ".tsv", ".sdf", ".txt"]))
def test_fuzzed_bytes_load_or_raise_data_error(tmp_path, content, suffix):
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(content)
    report = _load_or_data_error(path)
    assert report is None or _consistent(report)


@FUZZ
@given(lines=st.lists(st.text(SMILES_ALPHABET, max_size=40), max_size=12),
       suffix=st.sampled_from([".smi", ".csv", ".smi.gz", ".csv.gz"]))
def test_fuzzed_smiles_lines_are_counted(tmp_path, lines, suffix):
    text = "\n".join(lines) + "\n"
    if ".csv" in suffix:
        text = "smiles\n" + "\n".join(f'"{line}"' for line in lines) + "\n"
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(gzip.compress(text.encode()) if suffix.endswith(".gz") else text.encode())
    report = _load_or_data_error(path)
    assert report is None or (_consistent(report) and report.rows_read == len(lines))


@FUZZ
@given(text=st.text(max_size=200))
def test_fuzzed_text_tokenizes_or_raises_tokenizer_error(text):
    smiles = SmilesTokenizer(max_len=50).fit(["CCO", "c1ccccc1", "C[N+](C)(C)C"])
    selfies = SelfiesTokenizer(max_len=50).fit(["CCO", "c1ccccc1"])
    for call in (smiles.tokenize, selfies.tokenize, selfies.to_text, smiles.encode_one, selfies.encode_one):
        try:
            result = call(text)
        except TokenizerError as err:
            assert "\n" not in str(err)
            continue
        if call == smiles.tokenize:
            assert "".join(result) == text
    assert isinstance(selfies.to_smiles(text), str)


@FUZZ
@given(ids=st.lists(st.integers(-5, 50), max_size=60))
def test_fuzzed_ids_decode_to_strings(ids):
    for tokenizer in (SmilesTokenizer().fit(["CCO", "c1ccccc1"]), SelfiesTokenizer().fit(["CCO", "c1ccccc1"])):
        assert isinstance(tokenizer.decode_ids(ids), str)


def test_limits_agree():
    assert tokenizers.MAX_SMILES_CHARS == chem.MAX_SMILES_CHARS


@pytest.mark.parametrize("tokenizer", [SmilesTokenizer().fit(["CCO"]), SelfiesTokenizer().fit(["CCO"])])
def test_tokenizers_refuse_unbounded_strings_fast(tokenizer):
    started = time.perf_counter()
    for call in (tokenizer.tokenize, tokenizer.encode_one, SelfiesTokenizer().to_text):
        with pytest.raises(TokenizerError, match="over the limit"):
            call(HUGE * 5)
    assert SelfiesTokenizer().to_smiles("[C]" * 50_000) == ""  # selfies' decoder is quadratic: never handed this
    with pytest.raises(TokenizerError, match="max_len must be between 1 and 1,000"):
        type(tokenizer)(max_len=10**9)
    assert time.perf_counter() - started < 2


def test_huge_smiles_is_never_parsed():
    assert chem.mol_from_smiles(HUGE) is None and chem.canonicalize(HUGE) is None
    with pytest.raises(DataError, match="20,000 characters, over the limit of 1,000"):
        chem.check_smiles_length(HUGE)


def test_long_smiles_in_a_file_is_reported_and_skipped(tmp_path):
    path = tmp_path / "mols.smi"
    path.write_text(f"CCO\n{HUGE}\nc1ccccc1\n")
    result = load_molecules(path)
    assert result.smiles == ["CCO", "c1ccccc1"] and result.report.rejected["too_long"] == 1
    assert result.report.examples["too_long"] == ["C" * 80 + "... (20,000 characters)"]
    smiles, report = read_smiles_list(path)
    assert smiles == ["CCO", "c1ccccc1"] and report.rejected["too_long"] == 1 and _consistent(report)


def test_megabyte_single_line_names_file_line_and_limit(tmp_path):
    path = tmp_path / "one_line.smi"
    path.write_text("CCO\n" + "C" * 2**20)
    started = time.perf_counter()
    with pytest.raises(DataError, match=f"line 2 of one_line.smi has 1,048,576 bytes, over the limit of "
                                        f"{MAX_LINE_BYTES:,} per line"):
        load_molecules(path)
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize("name,content,message", [
    ("random.smi", bytes(range(256)) * 4, "binary, not text \\(a NUL byte on line 1\\)"),
    ("latin1.csv", "smiles\nCCO\nC\xe9\n".encode("latin-1"), "not UTF-8 text \\(byte 0xe9 on line 3\\)"),
    ("cut.csv.gz", gzip.compress(b"smiles\n" + b"CCO\n" * 5000)[:-10], "not a complete gzip file"),
    ("garbage.csv.gz", b"not gzip at all", "not a complete gzip file"),
    ("blank.smi", b"", "is empty"),
    ("wide.csv", ",".join(f"c{i}" for i in range(5000)).encode() + b"\n", "5,000 columns, over the limit"),
])
def test_unreadable_files_raise_data_error(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        load_molecules(path)


def test_decompressed_size_is_bounded(tmp_path):
    path = tmp_path / "bomb.smi.gz"
    path.write_bytes(gzip.compress(b"CCO\n" * 100_000))  # 400 kB once decompressed, a few kB on disk
    with pytest.raises(DataError, match="once decompressed, over the limit"):
        read_table(path, max_bytes=100_000)


def test_path_too_long_for_the_file_system(tmp_path):
    with pytest.raises(DataError, match="cannot read|no such file"):
        load_molecules("C" * 300 + ".smi")
    with pytest.raises(DataError, match="not found"):
        read_smiles("C" * 300)


def _sdf(tmp_path, blocks: list[str]) -> str:
    path = tmp_path / "mols.sdf"
    path.write_text("".join(blocks))
    return path


def _record(smiles: str) -> str:
    return Chem.MolToMolBlock(Chem.MolFromSmiles(smiles)) + "$$$$\n"


BROKEN = "broken\n  test\n\n  3  2  0  0  0  0  0  0  0  0999 V2000\n    0.0 0.0 C\nM  END\n$$$$\n"


def test_sdf_broken_records_are_unparsable_with_their_number(tmp_path):
    path = _sdf(tmp_path, [BROKEN, _record("CCO"), "trailing garbage without terminator\n"])
    result = load_molecules(path)
    report = result.report
    assert result.smiles == ["CCO"] and report.rows_read == 3 and _consistent(report)
    assert report.rejected["unparsable"] == 2
    assert report.examples["unparsable"] == ["record 1: RDKit cannot read it", "record 3: RDKit cannot read it"]


def test_sdf_giant_record_is_refused_before_rdkit(tmp_path):
    giant = "giant\n  test\n\n  0  0  0  0  0  0            999 V3000\nM  V30 BEGIN CTAB\nM  V30 COUNTS 50000 0 0 0 0\n"
    path = _sdf(tmp_path, [_record("CCN"), giant + "M  END\n$$$$\n"])
    result = load_molecules(path)
    assert result.smiles == ["CCN"]
    assert result.report.examples["too_long"] == ["record 2: 50,000 atoms, over the limit of 2,000"]


def test_sdf_samples_are_read_as_sdf(tmp_path):
    path = _sdf(tmp_path, [_record("CCO"), BROKEN, _record("CCO")])
    smiles, report = read_smiles_list(path)
    assert smiles == ["CCO", "CCO"]  # samples keep duplicates
    assert report.rows_read == 3 and report.rejected["unparsable"] == 1
    with pytest.warns(UserWarning, match="unparsable 1"):
        assert read_smiles(path) == ["CCO", "CCO"]


def test_smi_header_is_not_a_row(tmp_path):
    path = tmp_path / "mols.smi"
    path.write_text("SMILES name\nCCO a\n")
    assert load_molecules(path).report.rows_read == 1
