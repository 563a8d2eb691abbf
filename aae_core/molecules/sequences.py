"""A dataset of tokenized molecules for the trainer: ``batch(indices)`` pads rows on demand."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from aae_core.molecules.tokenizers import Tokenizer, pad_rows


class SequenceDataset:
    """Token-id rows of molecules, each ``<bos> ... <eos>``.

    Parameters
    ----------
    smiles : canonical SMILES already validated against ``tokenizer`` (see
        :func:`aae_core.molecules.data.load_molecules`).
    """

    def __init__(self, smiles: Sequence[str], tokenizer: Tokenizer):
        self.rows = [tokenizer.encode_one(s) for s in smiles]
        self.lengths = torch.tensor([len(row) for row in self.rows], dtype=torch.long)  # (n,) tokens per row

    def __len__(self) -> int:
        return len(self.rows)

    def batch(self, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"tokens": (batch, seq_len) long, "lengths": (batch,) long}`` for the given row indices."""
        tokens, lengths = pad_rows([self.rows[i] for i in indices.tolist()])
        return {"tokens": tokens, "lengths": lengths}
