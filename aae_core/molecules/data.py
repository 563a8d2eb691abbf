"""Load molecules from users' files and the shipped MOSES cut, with a report of what was kept.

Every load returns a :class:`MoleculeSet`: a table with a canonical ``smiles`` column (plus any property
columns the user asked to keep) and a :class:`LoadReport` counting rows read, kept and rejected by
reason. Nothing is dropped silently. Files are bounded before any parser sees them (:func:`read_text`: size,
also once decompressed, line length, UTF-8 text; SDF records by atom count): a hostile file is refused with a
message naming the limit, or its rows rejected, before RDKit, pandas or a tokenizer could crash or stall on it.
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from aae_core.exceptions import DataError, TokenizerError
from aae_core.molecules import chem
from aae_core.molecules.tokenizers import Tokenizer

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "moses"
SHIPPED = {"moses-train": ASSETS / "train.csv.gz", "moses-test": ASSETS / "test.csv.gz"}
#: Largest file read, in bytes, on disk and (for ``.gz``) once decompressed.
MAX_FILE_BYTES = 200 * 1024 * 1024
#: Longest line of a file, in bytes: room for a SMILES of :data:`aae_core.molecules.chem.MAX_SMILES_CHARS` characters
#: (which
#: is then rejected as ``too_long``, not parsed) and many property columns; a longer line refuses the whole file.
MAX_LINE_BYTES = 100_000
#: Most columns of a CSV file, or property names of an SDF file.
MAX_COLUMNS = 1000
SMILES_COLUMN_GUESSES = ("smiles", "SMILES", "Smiles", "canonical_smiles", "smi")
REJECT_REASONS = ("empty", "unparsable", "too_long", "unknown_tokens", "duplicate")
EXAMPLE_CHARS = 80  # longest example kept in a report; longer values are cut and their length given


def _example(value: str) -> str:
    return value if len(value) <= EXAMPLE_CHARS else f"{value[:EXAMPLE_CHARS]}... ({len(value):,} characters)"


@dataclass
class LoadReport:
    """Counts of a load: ``rows_read == kept + sum(rejected.values())``; ``examples`` holds up to
    five offending inputs per reason (long ones cut to :data:`EXAMPLE_CHARS` characters)."""

    source: str
    rows_read: int = 0
    kept: int = 0
    rejected: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REJECT_REASONS, 0))
    examples: dict[str, list[str]] = field(default_factory=dict)

    def reject(self, reason: str, value: str) -> None:
        self.rejected[reason] += 1
        self.examples.setdefault(reason, [])
        if len(self.examples[reason]) < 5:
            self.examples[reason].append(_example(value))

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


@dataclass(frozen=True)
class Unreadable:
    """A row a reader could not turn into a SMILES string, e.g. a broken SDF record: ``reason`` (one of
    :data:`REJECT_REASONS`) and ``where`` (e.g. ``"record 2: RDKit cannot read it"``, its ``str``)."""

    reason: str
    where: str

    def __str__(self) -> str:
        return self.where


# -- reading files: bounded before any parser sees them --------------------------------------------
def read_text(path: str | Path, max_bytes: int = MAX_FILE_BYTES, max_line_bytes: int = MAX_LINE_BYTES) -> str:
    """The text of a UTF-8 file (``.gz`` files decompressed), checked before any parser sees it.

    Raises
    ------
    DataError
        If the file is missing, empty, larger than ``max_bytes`` (on disk or decompressed), a truncated or
        corrupt gzip file, binary (holds NUL bytes), not UTF-8, or has a line longer than ``max_line_bytes``;
        the message names the file, the line and the limit.
    """
    path = _existing_file(path)
    data = _read_bytes(path, max_bytes)
    _check_lines(data, path.name, max_line_bytes)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise DataError(f"{path.name} is not UTF-8 text (byte {data[err.start]:#04x} on line {line}): save it as "
                        "UTF-8") from err


def _existing_file(path: str | Path) -> Path:
    path = Path(path)
    try:
        if path.is_file():
            return path
    except OSError as err:  # e.g. a name too long to be a path
        raise DataError(f"cannot read {str(path)[:EXAMPLE_CHARS]!r}: {err.strerror}") from err
    raise DataError(f"no such file: {path}")


def _read_bytes(path: Path, max_bytes: int) -> bytes:
    size = path.stat().st_size
    if size > max_bytes:
        raise DataError(f"{path.name} is {size / 2**20:.0f} MiB, over the {max_bytes / 2**20:.0f} MiB limit: "
                        "split it or pass a larger max_bytes")
    gzipped = path.name.lower().endswith(".gz")
    try:
        with (gzip.open if gzipped else open)(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except (OSError, EOFError, zlib.error) as err:
        what = "a complete gzip file (truncated or corrupt)" if gzipped else "readable"
        raise DataError(f"{path.name} is not {what}: {err}") from err
    if len(data) > max_bytes:
        raise DataError(f"{path.name} holds over {max_bytes / 2**20:.0f} MiB once decompressed, over the limit: "
                        "split it or pass a larger max_bytes")
    if not data:
        raise DataError(f"{path.name} is empty: give a file with one SMILES per row")
    return data


def _check_lines(data: bytes, name: str, max_line_bytes: int) -> None:
    nul = data.find(b"\0")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise DataError(f"{name} is binary, not text (a NUL byte on line {line}): give a .smi, .csv or .sdf text file")
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n"))
    lengths = np.diff(np.concatenate(([-1], ends, [len(data)]))) - 1
    over = np.flatnonzero(lengths > max_line_bytes)
    if over.size:
        raise DataError(f"line {over[0] + 1} of {name} has {lengths[over[0]]:,} bytes, over the limit of "
                        f"{max_line_bytes:,} per line: give one molecule per line (SMILES up to "
                        f"{chem.MAX_SMILES_CHARS:,} characters)")


def _lines(text: str) -> list[str]:
    """Lines of ``text`` split at ``\\n`` only (``\\r`` stripped; no final empty line)."""
    lines = [line.rstrip("\r") for line in text.split("\n")]
    return lines[:-1] if lines and not lines[-1] else lines


def _file_kind(name: str) -> str:
    kinds = {".sdf": "sdf", ".smi": "smi", ".txt": "smi", ".smi.gz": "smi", ".txt.gz": "smi", ".csv": "csv",
             ".csv.gz": "csv", ".tsv": "tsv", ".tsv.gz": "tsv"}
    for suffix, kind in kinds.items():
        if name.lower().endswith(suffix):
            return kind
    raise DataError(f"{name}: unknown file type; use .smi, .csv, .csv.gz, .tsv or .sdf")


def read_table(path: str | Path, smiles_column: str | None = None, max_bytes: int = MAX_FILE_BYTES,
               ) -> tuple[pd.DataFrame, str]:
    """Read ``.smi``/``.txt``, ``.csv``/``.csv.gz``/``.tsv`` or ``.sdf`` into a table of raw strings.

    Returns the table and the name of its SMILES column. A ``.smi`` file's first line is a header (skipped) if
    its first word is ``smiles`` (any case). SDF records that cannot become a SMILES string hold an
    :class:`Unreadable` (``unparsable`` with their record number; ``too_long`` with more than
    :data:`aae_core.molecules.chem.MAX_MOLBLOCK_ATOMS` atoms) in the SMILES column.

    Raises
    ------
    DataError
        If the file is missing, of an unknown type, fails :func:`read_text`'s checks (size, line length,
        encoding), is not readable as its type, has more than :data:`MAX_COLUMNS` columns, or has no SMILES
        column (the available columns are listed).
    """
    path = _existing_file(path)
    kind = _file_kind(path.name)
    text = read_text(path, max_bytes)
    if kind == "sdf":
        return _read_sdf(text, path.name), "smiles"
    if kind == "smi":
        return _read_smi(text), "smiles"
    frame = _read_csv(text, "\t" if kind == "tsv" else ",", path.name)
    return frame, _smiles_column(frame, smiles_column, path.name)


def _read_smi(text: str) -> pd.DataFrame:
    lines = _lines(text)
    if lines and lines[0].split()[:1] and lines[0].split()[0].lower() == "smiles":
        lines = lines[1:]
    return pd.DataFrame({"smiles": [line.split()[0] if line.strip() else "" for line in lines]})


def _read_csv(text: str, sep: str, name: str) -> pd.DataFrame:
    header = text.split("\n", 1)[0]
    if header.count(sep) >= MAX_COLUMNS:
        raise DataError(f"{name} has {header.count(sep) + 1:,} columns, over the limit of {MAX_COLUMNS:,}")
    try:
        return pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, skip_blank_lines=False)
    except (pd.errors.ParserError, ValueError) as err:
        raise DataError(f"{name} is not a readable CSV file: {' '.join(str(err).split())}") from err


def _smiles_column(frame: pd.DataFrame, wanted: str | None, name: str) -> str:
    if wanted is not None:
        if wanted not in frame.columns:
            raise DataError(f"{name} has no column {wanted!r}; its columns are {list(frame.columns)}")
        return wanted
    for guess in SMILES_COLUMN_GUESSES:
        if guess in frame.columns:
            return guess
    if len(frame.columns) == 1:
        return frame.columns[0]
    raise DataError(f"{name}: no SMILES column found among {list(frame.columns)}; name it with smiles_column=")


# -- SDF -------------------------------------------------------------------------------------------
def _read_sdf(text: str, name: str) -> pd.DataFrame:
    """One row per SDF record (records end with a ``$$$$`` line; text after the last one is a record too)."""
    records = re.split(r"^\$\$\$\$[ \t\r]*$", text, flags=re.MULTILINE)
    records = [records[0], *(r[1:] if r.startswith("\n") else r for r in records[1:])]
    if not records[-1].strip():
        records.pop()
    if not records:
        raise DataError(f"{name} holds no SDF records")
    rows, properties = [], set()
    for number, block in enumerate(records, start=1):
        rows.append(_sdf_row(block, number))
        properties.update(rows[-1])
        if len(properties) > MAX_COLUMNS:
            raise DataError(f"{name} has over {MAX_COLUMNS:,} property names (at record {number}), over the limit")
    return pd.DataFrame(rows)


def _sdf_row(block: str, number: int) -> dict:
    """The SMILES and properties of one SDF record, or an :class:`Unreadable` SMILES saying why not."""
    if not block.strip():
        return {"smiles": Unreadable("empty", f"record {number}: empty")}
    atoms = _molblock_atoms(block)
    if atoms is not None and atoms > chem.MAX_MOLBLOCK_ATOMS:
        return {"smiles": Unreadable("too_long", f"record {number}: {atoms:,} atoms, over the limit of "
                                                 f"{chem.MAX_MOLBLOCK_ATOMS:,}")}
    mol = _parse_record(block)
    if mol is None:
        return {"smiles": Unreadable("unparsable", f"record {number}: RDKit cannot read it")}
    from rdkit import Chem

    return {"smiles": Chem.MolToSmiles(mol), **mol.GetPropsAsDict()}


def _molblock_atoms(block: str) -> int | None:
    """Atom count from the counts line of a V2000 molblock (its 4th line) or a V3000 ``COUNTS`` line."""
    v3000 = re.search(r"^M  V30 COUNTS (\d+)", block, flags=re.MULTILINE)
    if v3000:
        return int(v3000.group(1))
    lines = block.split("\n", 4)
    counts = lines[3][:3].strip() if len(lines) > 3 else ""
    return int(counts) if counts.isdigit() else None


def _parse_record(block: str):
    from rdkit import Chem

    supplier = Chem.SDMolSupplier()
    try:
        supplier.SetData(block + "\n$$$$\n", sanitize=True)
        return next(iter(supplier), None)
    except (RuntimeError, ValueError):
        return None


def clean_molecules(raw: pd.DataFrame, smiles_column: str, source: str, properties: list[str] | None = None,
                    tokenizer: Tokenizer | None = None, max_len: int | None = None) -> MoleculeSet:
    """Canonicalise and validate the SMILES of ``raw``, counting every rejection.

    Rows are rejected, in this order, for the reason of an :class:`Unreadable` value (e.g. a broken SDF record),
    as ``empty``, ``too_long`` (over :data:`aae_core.molecules.chem.MAX_SMILES_CHARS` characters, never parsed),
    ``unparsable`` (RDKit cannot read it), ``too_long`` (more than ``max_len`` tokens, needs ``tokenizer``),
    ``unknown_tokens`` (tokens not in a fitted ``tokenizer``'s vocabulary) and ``duplicate`` (same canonical
    SMILES as an earlier row).

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


def _unread_reason(value) -> str | None:
    """Why a raw value is rejected before any parser sees it: its :class:`Unreadable` reason, ``empty`` or
    ``too_long`` (over :data:`aae_core.molecules.chem.MAX_SMILES_CHARS` characters); ``None`` if it may be parsed."""
    if isinstance(value, Unreadable):
        return value.reason
    if not isinstance(value, str) or not value.strip():
        return "empty"
    return "too_long" if chem.too_long(value.strip()) else None


def _check_one(value, tokenizer: Tokenizer | None, max_len: int | None, seen: set[str]):
    reason = _unread_reason(value)
    if reason:
        return reason, None
    canonical = chem.canonicalize(value.strip())
    if canonical is None:
        return "unparsable", None
    if chem.too_long(canonical):
        return "too_long", None
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
        See :func:`read_table`; also if ``max_rows`` is below 1 or no molecule survives validation.
    """
    if max_rows is not None and max_rows < 1:
        raise DataError(f"the number of molecules to read must be >= 1, got {max_rows}")
    path = SHIPPED.get(str(path), path)
    raw, column = read_table(path, smiles_column)
    if max_rows is not None:
        raw = raw.iloc[:max_rows]
    result = clean_molecules(raw, column, Path(path).name, properties, tokenizer, max_len)
    if result.report.kept == 0:
        raise DataError(f"no valid molecule in {Path(path).name}: {result.report.summary()}")
    return result


def read_smiles_list(path: str | Path, smiles_column: str | None = None) -> tuple[list[str], LoadReport]:
    """The SMILES strings of a file as they are (not canonicalised; unparsable ones and duplicates kept), e.g. a
    model's samples to score, and a report of the rows left out: empty, over-long (``too_long``) and unreadable
    (:class:`Unreadable`, e.g. broken SDF records). See :func:`read_table` for the file types.

    Raises
    ------
    DataError
        See :func:`read_table`; also if no row is left.
    """
    raw, column = read_table(path, smiles_column)
    report = LoadReport(source=Path(path).name, rows_read=len(raw))
    kept = []
    for value in raw[column].tolist():
        reason = _unread_reason(value)
        if reason:
            report.reject(reason, str(value))
        else:
            kept.append(value.strip())
    report.kept = len(kept)
    if not kept:
        raise DataError(f"no SMILES in {Path(path).name}: {report.summary()}")
    return kept, report
