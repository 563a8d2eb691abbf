"""Load molecules from users' files and the shipped MOSES cut, with a report of what was kept.

Every load returns a :class:`MoleculeSet`: a table with a canonical ``smiles`` column (plus any property
columns the user asked to keep) and a :class:`LoadReport` counting rows read, kept and rejected by
reason. Nothing is dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from aae_core import chem
from aae_core.data.tokenizers import Tokenizer
from aae_core.exceptions import DataError, TokenizerError

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "moses"
SHIPPED = {"moses-train": ASSETS / "train.csv.gz", "moses-test": ASSETS / "test.csv.gz"}
MAX_FILE_BYTES = 200 * 1024 * 1024
SMILES_COLUMN_GUESSES = ("smiles", "SMILES", "Smiles", "canonical_smiles", "smi")
REJECT_REASONS = ("empty", "unparsable", "too_long", "unknown_tokens", "duplicate")


@dataclass
class LoadReport:
    """Counts of a load: ``rows_read == kept + sum(rejected.values())``; ``examples`` holds up to
    five offending inputs per reason."""

    source: str
    rows_read: int = 0
    kept: int = 0
    rejected: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REJECT_REASONS, 0))
    examples: dict[str, list[str]] = field(default_factory=dict)

    def reject(self, reason: str, value: str) -> None:
        self.rejected[reason] += 1
        self.examples.setdefault(reason, [])
        if len(self.examples[reason]) < 5:
            self.examples[reason].append(value)

    def summary(self) -> str:
        """One line such as ``read 1000 rows, kept 990; rejected: unparsable 7, duplicate 3``."""
        parts = [f"{reason} {n}" for reason, n in self.rejected.items() if n]
        rejected = "; rejected: " + ", ".join(parts) if parts else "; nothing rejected"
        return f"{self.source}: read {self.rows_read} rows, kept {self.kept}{rejected}"

    def to_dict(self) -> dict:
        return {"source": self.source, "rows_read": self.rows_read, "kept": self.kept,
                "rejected": dict(self.rejected), "examples": self.examples}


@dataclass
class MoleculeSet:
    """Molecules that passed validation: ``frame`` has a ``smiles`` column (RDKit canonical) and the
    kept property columns, one row per unique molecule, in file order."""

    frame: pd.DataFrame
    report: LoadReport

    @property
    def smiles(self) -> list[str]:
        return self.frame["smiles"].tolist()

    def __len__(self) -> int:
        return len(self.frame)


def read_table(path: str | Path, smiles_column: str | None = None, max_bytes: int = MAX_FILE_BYTES,
               ) -> tuple[pd.DataFrame, str]:
    """Read ``.smi``/``.txt``, ``.csv``/``.csv.gz``/``.tsv`` or ``.sdf`` into a table of raw strings.

    Returns the table and the name of its SMILES column.

    Raises
    ------
    DataError
        If the file is missing, empty, larger than ``max_bytes``, of an unknown type, or has no
        SMILES column (the available columns are listed).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such file: {path}")
    size = path.stat().st_size
    if size == 0:
        raise DataError(f"{path.name} is empty: give a file with one SMILES per row")
    if size > max_bytes:
        raise DataError(f"{path.name} is {size / 2**20:.0f} MiB, over the {max_bytes / 2**20:.0f} MiB limit: "
                        "split it or pass a larger max_bytes")
    name = path.name.lower()
    if name.endswith(".sdf"):
        return _read_sdf(path), "smiles"
    if name.endswith((".smi", ".txt", ".smi.gz")):
        frame = pd.read_csv(path, sep=r"\s+", header=None, usecols=[0], names=["smiles"], dtype=str,
                            skip_blank_lines=False, engine="python")
        return frame, "smiles"
    if name.endswith((".csv", ".csv.gz", ".tsv", ".tsv.gz")):
        sep = "\t" if ".tsv" in name else ","
        try:
            frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, skip_blank_lines=False)
        except (pd.errors.ParserError, UnicodeDecodeError, EOFError, OSError) as err:
            raise DataError(f"{path.name} is not a readable CSV file: {err}") from err
        return frame, _smiles_column(frame, smiles_column, path.name)
    raise DataError(f"{path.name}: unknown file type; use .smi, .csv, .csv.gz, .tsv or .sdf")


def _smiles_column(frame: pd.DataFrame, wanted: str | None, name: str) -> str:
    if wanted is not None:
        if wanted not in frame.columns:
            raise DataError(f"{name} has no column {wanted!r}; its columns are {list(frame.columns)}")
        return wanted
    for guess in SMILES_COLUMN_GUESSES:
        if guess in frame.columns:
            return guess
    raise DataError(f"{name}: no SMILES column found among {list(frame.columns)}; name it with smiles_column=")


def _read_sdf(path: Path) -> pd.DataFrame:
    from rdkit import Chem

    rows = []
    for mol in Chem.SDMolSupplier(str(path), sanitize=True):
        if mol is None:
            rows.append({"smiles": ""})
        else:
            rows.append({"smiles": Chem.MolToSmiles(mol), **mol.GetPropsAsDict()})
    if not rows:
        raise DataError(f"{path.name} holds no SDF records")
    return pd.DataFrame(rows)


def clean_molecules(raw: pd.DataFrame, smiles_column: str, source: str, properties: list[str] | None = None,
                    tokenizer: Tokenizer | None = None, max_len: int | None = None) -> MoleculeSet:
    """Canonicalise and validate the SMILES of ``raw``, counting every rejection.

    Rows are rejected, in this order, as ``empty``, ``too_long`` (over :data:`aae_core.chem.MAX_SMILES_CHARS`
    characters, never parsed), ``unparsable`` (RDKit cannot read it), ``too_long`` (more than ``max_len``
    tokens, needs ``tokenizer``), ``unknown_tokens`` (tokens not in a fitted
    ``tokenizer``'s vocabulary) and ``duplicate`` (same canonical SMILES as an earlier row).

    Raises
    ------
    DataError
        If a requested property column is missing.
    """
    missing = [p for p in properties or [] if p not in raw.columns]
    if missing:
        raise DataError(f"{source} has no property column(s) {missing}; its columns are {list(raw.columns)}")
    report = LoadReport(source=source, rows_read=len(raw))
    seen: set[str] = set()
    keep_rows, keep_smiles = [], []
    for row, value in enumerate(raw[smiles_column].tolist()):
        reason, canonical = _check_one(value, tokenizer, max_len, seen)
        if reason:
            report.reject(reason, str(value))
            continue
        seen.add(canonical)
        keep_rows.append(row)
        keep_smiles.append(canonical)
    frame = raw.iloc[keep_rows][list(properties or [])].reset_index(drop=True)
    frame.insert(0, "smiles", keep_smiles)
    report.kept = len(frame)
    return MoleculeSet(frame=frame, report=report)


def _check_one(value, tokenizer: Tokenizer | None, max_len: int | None, seen: set[str]):
    if not isinstance(value, str) or not value.strip():
        return "empty", None
    if chem.too_long(value.strip()):
        return "too_long", None
    canonical = chem.canonicalize(value.strip())
    if canonical is None:
        return "unparsable", None
    if tokenizer is not None:
        try:
            tokens = tokenizer.tokenize(tokenizer.to_text(canonical))
        except TokenizerError:
            return "unknown_tokens", None
        if max_len is not None and len(tokens) > max_len:
            return "too_long", None
        if hasattr(tokenizer, "vocab_") and any(t not in tokenizer.token_to_id_ for t in tokens):
            return "unknown_tokens", None
    if canonical in seen:
        return "duplicate", None
    return None, canonical


def load_molecules(path: str | Path, smiles_column: str | None = None, properties: list[str] | None = None,
                   tokenizer: Tokenizer | None = None, max_len: int | None = None,
                   max_rows: int | None = None) -> MoleculeSet:
    """Load, canonicalise and validate a molecule file (see :func:`read_table`, :func:`clean_molecules`).

    Parameters
    ----------
    path : path to ``.smi``, ``.csv``, ``.csv.gz``, ``.tsv`` or ``.sdf``, or a shipped name
        (``"moses-train"``, ``"moses-test"``).
    max_rows : read at most this many rows (the first ones); the report says how many were read.

    Raises
    ------
    DataError
        See :func:`read_table`; also if no molecule survives validation.
    """
    path = SHIPPED.get(str(path), path)
    raw, column = read_table(path, smiles_column)
    if max_rows is not None:
        raw = raw.iloc[:max_rows]
    result = clean_molecules(raw, column, Path(path).name, properties, tokenizer, max_len)
    if result.report.kept == 0:
        raise DataError(f"no valid molecule in {Path(path).name}: {result.report.summary()}")
    return result
