"""Tokenizers that turn SMILES or SELFIES strings into integer tensors and back.

``SmilesTokenizer`` splits atom-wise with the regular expression of Schwaller et al. 2018
("Found in Translation", Chem. Sci. 9, 6091; bracket atoms, ``Cl``, ``Br`` and ``%nn`` ring bonds are one
token each). ``SelfiesTokenizer`` splits SELFIES strings (Krenn et al. 2020) into their bracket tokens.
Both follow scikit-learn's conventions: ``fit`` returns ``self``, learned attributes end in ``_``, and
using an unfitted tokenizer raises :class:`~aae_core.exceptions.TokenizerError`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import selfies as sf
import torch

from aae_core.exceptions import TokenizerError

#: Longest SMILES a tokenizer reads, in characters, and largest ``max_len`` in tokens: the value of
#: :data:`aae_core.molecules.chem.MAX_SMILES_CHARS` (not imported from there, so that loading a model needs no RDKit;
#: a test
#: checks they agree). Longer strings are refused before the regular expression or ``selfies`` sees them.
MAX_SMILES_CHARS = 1000
#: Longest SELFIES string a tokenizer reads or decodes (a SMILES of MAX_SMILES_CHARS gives up to ~5x as many
#: characters as SELFIES; ``selfies.decoder`` takes time growing with the square of the length).
MAX_SELFIES_CHARS = 10 * MAX_SMILES_CHARS
PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)
SMILES_REGEX = re.compile(
    r"(\[[^\]]+]|Br?|Cl?|N|O|S|P|F|I|b|c|n|o|s|p|\(|\)|\.|=|#|-|\+|\\|\/|:|~|@|\?|>|\*|\$|%[0-9]{2}|[0-9])"
)


class Tokenizer:
    """Shared vocabulary logic; subclasses define how a string is split into tokens and joined back.

    Parameters
    ----------
    max_len : int
        Longest accepted molecule in tokens, without ``<bos>``/``<eos>``; at most :data:`MAX_SMILES_CHARS`.
    """

    kind = "base"

    def __init__(self, max_len: int = 100):
        if not 1 <= max_len <= MAX_SMILES_CHARS:
            raise TokenizerError(f"max_len must be between 1 and {MAX_SMILES_CHARS:,} tokens, got {max_len}")
        self.max_len = max_len

    # -- to be defined by subclasses -------------------------------------------------------------
    def tokenize(self, text: str) -> list[str]:
        raise NotImplementedError

    def join(self, tokens: Sequence[str]) -> str:
        raise NotImplementedError

    def to_text(self, smiles: str) -> str:
        """The string this tokenizer splits for a SMILES (identity for SMILES, the SELFIES otherwise)."""
        return smiles

    def to_smiles(self, text: str) -> str:
        """Inverse of :meth:`to_text`."""
        return text

    # -- vocabulary --------------------------------------------------------------------------------
    def fit(self, smiles: Iterable[str]) -> Tokenizer:
        """Build the vocabulary: the four special tokens, then every token seen, most frequent first."""
        counts = Counter(tok for s in smiles for tok in self.tokenize(self.to_text(s)))
        if not counts:
            raise TokenizerError("cannot fit a tokenizer on an empty list of molecules")
        ordered = sorted(counts, key=lambda t: (-counts[t], t))
        self._set_vocab(list(SPECIAL_TOKENS) + ordered)
        return self

    def _set_vocab(self, vocab: list[str]) -> None:
        if tuple(vocab[:4]) != SPECIAL_TOKENS:
            raise TokenizerError(f"vocabulary must start with {SPECIAL_TOKENS}, got {vocab[:4]}")
        self.vocab_ = vocab
        self.token_to_id_ = {t: i for i, t in enumerate(vocab)}

    def _check_fitted(self) -> None:
        if not hasattr(self, "vocab_"):
            raise TokenizerError(f"{type(self).__name__} is not fitted yet: call fit(smiles) first")

    @property
    def vocab_size(self) -> int:
        self._check_fitted()
        return len(self.vocab_)

    @property
    def pad_id(self) -> int:
        return 0

    @property
    def bos_id(self) -> int:
        return 1

    @property
    def eos_id(self) -> int:
        return 2

    @property
    def unk_id(self) -> int:
        return 3

    def unknown_tokens(self, smiles: str) -> list[str]:
        """Tokens of ``smiles`` that are not in the vocabulary (empty list if all are known)."""
        self._check_fitted()
        return [t for t in self.tokenize(self.to_text(smiles)) if t not in self.token_to_id_]

    # -- encode / decode ---------------------------------------------------------------------------
    def encode_one(self, smiles: str, allow_unknown: bool = False) -> list[int]:
        """Token ids of one molecule with ``<bos>`` and ``<eos>``.

        Raises
        ------
        TokenizerError
            If the molecule has unknown tokens (named in the message) and ``allow_unknown`` is false,
            or is longer than ``max_len`` tokens.
        """
        self._check_fitted()
        tokens = self.tokenize(self.to_text(smiles))
        if len(tokens) > self.max_len:
            raise TokenizerError(f"{_quote(smiles)} has {len(tokens)} tokens, more than max_len={self.max_len}")
        unknown = [t for t in tokens if t not in self.token_to_id_]
        if unknown and not allow_unknown:
            raise TokenizerError(
                f"{_quote(smiles)} has tokens not in the vocabulary: {sorted(set(unknown))}; "
                "fit the tokenizer on data that contains them or remove the molecule"
            )
        ids = [self.token_to_id_.get(t, self.unk_id) for t in tokens]
        return [self.bos_id, *ids, self.eos_id]

    def encode(self, smiles: Sequence[str], allow_unknown: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode a batch.

        Returns
        -------
        tokens : torch.LongTensor, shape (batch, seq_len)
            ``<bos> ... <eos>`` padded with ``<pad>`` (id 0) to the longest molecule in the batch.
        lengths : torch.LongTensor, shape (batch,)
            Number of tokens of each row including ``<bos>`` and ``<eos>``.
        """
        rows = [self.encode_one(s, allow_unknown) for s in smiles]
        return pad_rows(rows)

    def decode_ids(self, ids: Iterable[int]) -> str:
        """Join the tokens of one id sequence up to the first ``<eos>``, skipping specials; returns
        SMILES (SELFIES are decoded to SMILES)."""
        self._check_fitted()
        tokens = []
        for i in ids:
            if i == self.eos_id:
                break
            if i > self.unk_id and i < len(self.vocab_):
                tokens.append(self.vocab_[i])
        return self.to_smiles(self.join(tokens))

    def decode(self, ids: torch.Tensor) -> list[str]:
        """Decode a (batch, seq_len) tensor of ids to a list of strings."""
        return [self.decode_ids(row) for row in ids.tolist()]

    # -- serialisation -----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        self._check_fitted()
        return {"kind": self.kind, "max_len": self.max_len, "vocab": self.vocab_}

    @staticmethod
    def from_dict(data: dict) -> Tokenizer:
        """Rebuild a fitted tokenizer from :meth:`to_dict` output.

        Raises
        ------
        TokenizerError
            If the kind is unknown or the vocabulary malformed.
        """
        kinds = {cls.kind: cls for cls in (SmilesTokenizer, SelfiesTokenizer)}
        if data.get("kind") not in kinds:
            raise TokenizerError(f"unknown tokenizer kind {data.get('kind')!r}; expected one of {sorted(kinds)}")
        tokenizer = kinds[data["kind"]](max_len=int(data["max_len"]))
        tokenizer._set_vocab(list(data["vocab"]))
        return tokenizer


def _bounded(text: str, limit: int, what: str) -> str:
    """``text`` itself if it has at most ``limit`` characters; raises :class:`TokenizerError` otherwise."""
    if len(text) > limit:
        raise TokenizerError(f"{what} has {len(text):,} characters, over the limit of {limit:,}")
    return text


def _quote(text: str, limit: int = 80) -> str:
    """``repr(text)`` for messages, cut to ``limit`` characters with the full length given."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text):,} characters)"


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())


def pad_rows(rows: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id rows with 0 into a (batch, max_len) LongTensor; also return the (batch,) lengths."""
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
    tokens = torch.zeros(len(rows), int(lengths.max()) if rows else 0, dtype=torch.long)
    for i, row in enumerate(rows):
        tokens[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return tokens, lengths


class SmilesTokenizer(Tokenizer):
    """Atom-level SMILES tokenizer (Schwaller et al. 2018 regular expression)."""

    kind = "smiles"

    def tokenize(self, text: str) -> list[str]:
        """Split a SMILES string into tokens.

        Raises
        ------
        TokenizerError
            If part of the string matches no SMILES token (the offending characters are named), or it is
            longer than :data:`MAX_SMILES_CHARS`.
        """
        tokens = SMILES_REGEX.findall(_bounded(text, MAX_SMILES_CHARS, "SMILES"))
        if "".join(tokens) != text:
            leftover = SMILES_REGEX.sub("", text)
            raise TokenizerError(f"{_quote(text)} contains characters that are not SMILES tokens: {_quote(leftover)}")
        return tokens

    def join(self, tokens: Sequence[str]) -> str:
        return "".join(tokens)


class SelfiesTokenizer(Tokenizer):
    """SELFIES tokenizer (Krenn et al. 2020, Mach. Learn.: Sci. Technol. 1, 045024) over the ``selfies``
    package: molecules are converted SMILES -> SELFIES before splitting and back after joining."""

    kind = "selfies"

    def tokenize(self, text: str) -> list[str]:
        """Split a SELFIES string into its bracket tokens.

        Raises
        ------
        TokenizerError
            If it is longer than :data:`MAX_SELFIES_CHARS` or not a SELFIES string.
        """
        try:
            return list(sf.split_selfies(_bounded(text, MAX_SELFIES_CHARS, "SELFIES string")))
        except ValueError as err:
            raise TokenizerError(f"{_quote(text)} is not a SELFIES string: {_one_line(err)}") from err

    def join(self, tokens: Sequence[str]) -> str:
        return "".join(tokens)

    def to_text(self, smiles: str) -> str:
        """The SELFIES string of ``smiles``; raises :class:`TokenizerError` if it has none or is longer than
        :data:`MAX_SMILES_CHARS`."""
        try:
            return sf.encoder(_bounded(smiles, MAX_SMILES_CHARS, "SMILES"), strict=False)
        except (sf.EncoderError, RecursionError) as err:
            raise TokenizerError(f"{_quote(smiles)} cannot be written as SELFIES: {_one_line(err)}") from err

    def to_smiles(self, text: str) -> str:
        """The SMILES of a SELFIES string; ``""`` if it does not decode or is longer than :data:`MAX_SELFIES_CHARS`."""
        if len(text) > MAX_SELFIES_CHARS:
            return ""
        try:
            return sf.decoder(text) or ""
        except (sf.DecoderError, RecursionError):
            return ""


def make_tokenizer(kind: str, max_len: int = 100) -> Tokenizer:
    """New unfitted tokenizer for ``kind`` in {"smiles", "selfies"}.

    Raises
    ------
    TokenizerError
        For any other kind.
    """
    kinds = {"smiles": SmilesTokenizer, "selfies": SelfiesTokenizer}
    if kind not in kinds:
        raise TokenizerError(f"unknown representation {kind!r}; choose one of {sorted(kinds)}")
    return kinds[kind](max_len=max_len)
