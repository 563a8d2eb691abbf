"""What the app accepts from users, checked before any parser (pandas, RDKit, NumPy) sees it.

Uploaded bytes are bounded, unpacked with a bound (a small ``.gz`` can unpack to gigabytes), decoded as UTF-8
text, cut to the rows that are read, and checked line by line: RDKit overflows its stack (and kills the
server) on one huge molecule, and a long line holds the server's interpreter for seconds. Typed SMILES and
SMARTS are bounded by :func:`check_length`. Every refusal is a :class:`~aae_core.exceptions.DataError` that
names the limit, which the pages show.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
import zlib
from pathlib import Path

from aae_core.exceptions import DataError
from aae_core.molecules import chem

MOLECULE_MAX_BYTES = 20 * 2**20  # a molecule file as uploaded (Streamlit's own cap is in .streamlit/config.toml)
MOLECULE_MAX_UNPACKED = 50 * 2**20  # ... and once unpacked (.gz)
MOLECULE_TYPES = ("smi", "txt", "csv", "tsv", "sdf", "gz")
MAX_ROWS = 100_000  # rows (SDF records) of an uploaded molecule file that are read
MAX_LINE_CHARS = 10_000  # a SMILES of chem.MAX_SMILES_CHARS with room for other CSV columns
MAX_RECORD_LINES = 5_000  # lines of one SDF record: at most about as many atoms (RDKit dies near 20,000)
IMAGE_MAX_BYTES = 64 * 2**20  # an image file (IDX, .npz) as uploaded and unpacked: MNIST's 47 MB fits
MAX_TEXT_CHARS = 200  # a column name or other short text typed into a box
MAX_SMARTS_CHARS = chem.MAX_SMILES_CHARS
TEXT_TYPES = "text (.smi, .txt, .csv, .tsv or .sdf, optionally .gz)"


def check_length(text: str, limit: int, what: str) -> str:
    """``text`` without surrounding blanks if it has at most ``limit`` characters.

    Raises
    ------
    DataError
        If it is longer; the message names ``what``, its length and the limit.
    """
    text = text.strip()
    if len(text) > limit:
        raise DataError(f"{what} has {len(text):,} characters, over the limit of {limit:,}")
    return text


def check_smiles(text: str, what: str) -> str:
    """A typed SMILES without surrounding blanks (see :func:`aae_core.molecules.chem.check_smiles_length`)."""
    return chem.check_smiles_length(text.strip(), what)


def safe_name(name: str) -> str:
    """``name`` as a plain file name for the session folder: no folders, letters, digits, ``._-`` only, no
    leading dot, at most 100 characters (keeping the end, which holds the extension)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", Path(name).name).lstrip(".")[-100:]
    return cleaned or "upload"


def check_size(name: str, data: bytes, limit: int) -> None:
    """Raise a :class:`DataError` if the upload ``data`` is empty or larger than ``limit`` bytes."""
    if not data:
        raise DataError(f"{name} is empty (0 bytes)")
    if len(data) > limit:
        raise DataError(f"{name} is {len(data) / 2**20:.1f} MiB; the limit is {limit / 2**20:.0f} MiB")


def unpack(name: str, data: bytes, limit: int) -> tuple[str, bytes]:
    """(name, bytes) of an upload, gunzipped when ``name`` ends in ``.gz`` (the name then loses it).

    Raises
    ------
    DataError
        If a ``.gz`` file is not gzip, is cut short, or unpacks to more than ``limit`` bytes.
    """
    if not name.lower().endswith(".gz"):
        return name, data
    unzip = zlib.decompressobj(wbits=31)  # gzip header and trailer
    try:
        plain = unzip.decompress(data, limit + 1)
    except zlib.error as err:
        raise DataError(f"{name} is not a gzip file ({err})") from err
    if len(plain) > limit:
        raise DataError(f"{name} unpacks to more than {limit / 2**20:.0f} MiB, the limit: upload fewer rows")
    if not unzip.eof:
        raise DataError(f"{name} is cut short: the gzip stream ends early")
    return name[:-3], plain


def decode(name: str, data: bytes) -> str:
    """``data`` as text with ``\\n`` line ends.

    Raises
    ------
    DataError
        If it is not UTF-8 text (a NUL byte, or bytes that are not UTF-8).
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        raise DataError(f"{name} is not a text file (it is not UTF-8 text): upload molecules as UTF-8 {TEXT_TYPES}")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def molecule_upload(name: str, data: bytes) -> tuple[str, str]:
    """Check an uploaded molecule file; returns (a safe file name without ``.gz``, its text cut to the rows that
    are read: a header and :data:`MAX_ROWS` lines, or :data:`MAX_ROWS` SDF records).

    Raises
    ------
    DataError
        If the file is empty, too large (packed or unpacked), not text, has a line longer than
        :data:`MAX_LINE_CHARS` or an SDF record longer than :data:`MAX_RECORD_LINES` lines.
    """
    check_size(name, data, MOLECULE_MAX_BYTES)
    name, data = unpack(safe_name(name), data, MOLECULE_MAX_UNPACKED)
    lines = decode(name, data).split("\n")
    sdf = name.lower().endswith(".sdf")
    lines = _first_records(name, lines) if sdf else lines[:MAX_ROWS + 1]  # a header line and MAX_ROWS rows
    longest = max(range(len(lines)), key=lambda i: len(lines[i]))
    if len(lines[longest]) > MAX_LINE_CHARS:
        raise DataError(f"{name}: line {longest + 1:,} has {len(lines[longest]):,} characters, over the limit of "
                        f"{MAX_LINE_CHARS:,}: one molecule per line, SMILES of at most {chem.MAX_SMILES_CHARS:,} "
                        "characters")
    return name, "\n".join(lines)


def _first_records(name: str, lines: list[str]) -> list[str]:
    """The lines of the first :data:`MAX_ROWS` SDF records; raises a :class:`DataError` for a record of more
    than :data:`MAX_RECORD_LINES` lines."""
    records, start = 0, 0
    for end, line in enumerate(lines):
        if end - start > MAX_RECORD_LINES:
            raise DataError(f"{name}: the SDF record starting on line {start + 1:,} has more than "
                            f"{MAX_RECORD_LINES:,} lines, over the limit for one molecule")
        if line.startswith("$$$$"):
            records, start = records + 1, end + 1
            if records == MAX_ROWS:
                return lines[:end + 1]
    return lines


def header_columns(name: str, text: str) -> list[str] | None:
    """The column names in the first line of a CSV or TSV file's ``text``; ``None`` for other file types."""
    lower = name.lower()
    if not lower.endswith((".csv", ".tsv")):
        return None
    return next(csv.reader([text.partition("\n")[0]], delimiter="\t" if lower.endswith(".tsv") else ","), [])


def image_upload(name: str, data: bytes) -> tuple[str, bytes]:
    """Check an uploaded image file (IDX, optionally ``.gz``, or ``.npz``); returns (a safe file name without
    ``.gz``, its unpacked bytes).

    Raises
    ------
    DataError
        If it is empty, larger than :data:`IMAGE_MAX_BYTES` packed or unpacked, or a broken ``.npz``.
    """
    check_size(name, data, IMAGE_MAX_BYTES)
    name, data = unpack(safe_name(name), data, IMAGE_MAX_BYTES)
    if name.lower().endswith(".npz"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                unpacked = sum(member.file_size for member in archive.infolist())
        except zipfile.BadZipFile as err:
            raise DataError(f"{name} is not an .npz archive ({err})") from err
        if unpacked > IMAGE_MAX_BYTES:
            raise DataError(f"{name} unpacks to {unpacked / 2**20:.0f} MiB, over the limit of "
                            f"{IMAGE_MAX_BYTES / 2**20:.0f} MiB")
    return name, data
