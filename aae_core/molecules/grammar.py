"""Syntax-constrained decoding of SMILES: at each step, mask the tokens that cannot continue a valid string.

A decoder trained on SMILES can write strings no parser accepts: a ``)`` with no open branch, ``<eos>`` while a
branch or ring bond is open, a ring-closure digit that closes onto the atom that opened it, a branch right
after a branch opener. :class:`SmilesGrammar` follows each row's string as it is written (open branches, open
ring bonds and the atom that opened each, the kind of the last token) and allows only tokens that keep it
well formed; the decoder's probabilities are renormalised over those. This is the syntactic part of the
grammar constraints of the grammar VAE (Kusner et al. 2017) and SD-VAE (Dai et al. 2018), applied at
decoding time only. It removes syntax errors, not chemistry errors (valence, aromaticity).

Rules, by the kind of the last token:

=============  =========================================================================================
last token     allowed next
=============  =========================================================================================
(start), ``.``  an atom
atom, ring     atom, bond, ``(``, ring digit (not one this atom opened), ``)`` inside a branch,
               ``<eos>`` when no branch and no ring bond is open, ``.`` at depth 0 with no ring bond open
bond           atom or ring digit (as in ``C=1``)
``(``          atom or bond
``)``          atom, bond, ``(``, another ``)`` inside a branch, ``<eos>`` / ``.`` as after an atom
=============  =========================================================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from aae_core.molecules.tokenizers import EOS

BONDS = frozenset("-=#$:/\\")
RING = re.compile(r"^(%\d\d|\d)$")
NEVER = frozenset({"+", "@", "?", ">", "~"})  # only meaningful inside brackets, which are single tokens here

KINDS = ("start", "atom", "bond", "ring", "open", "close", "dot", "eos", "never")
K = {kind: i for i, kind in enumerate(KINDS)}
NEXT = {"start": {"atom"}, "dot": {"atom"}, "bond": {"atom", "ring"}, "open": {"atom", "bond"},
        "close": {"atom", "bond", "open"}, "atom": {"atom", "bond", "open", "ring"},
        "ring": {"atom", "bond", "open", "ring"}}  # before the depth and ring checks of SmilesGrammar.allowed


@dataclass
class GrammarState:
    """Where each row's string stands, as tensors over the batch: ``depth`` (batch,) open branches, ``last``
    (batch,) kind of the last token (index into :data:`KINDS`), ``atoms`` (batch,) atoms written, ``opener``
    (batch, ring_tokens) the atom count when each ring digit was opened, -1 where it is closed."""

    depth: torch.Tensor
    last: torch.Tensor
    atoms: torch.Tensor
    opener: torch.Tensor

    def select(self, rows: torch.Tensor) -> GrammarState:
        """The state of the rows picked by ``rows`` ((batch,) bool or long)."""
        return GrammarState(self.depth[rows], self.last[rows], self.atoms[rows], self.opener[rows])


class SmilesGrammar:
    """Token masks that keep SMILES well formed, for a tokenizer's vocabulary.

    Parameters
    ----------
    vocab : the tokenizer's tokens by id (``tokenizer.vocab_``), special tokens first.
    """

    def __init__(self, vocab: list[str]):
        self.vocab = vocab
        self.kind = torch.tensor([K[self._kind(token)] for token in vocab])
        self.ring_ids = torch.nonzero(self.kind == K["ring"]).flatten()
        self.ring_index = torch.full((len(vocab),), -1, dtype=torch.long)
        self.ring_index[self.ring_ids] = torch.arange(len(self.ring_ids))
        self.next = torch.tensor([[KINDS[k] in NEXT.get(last, ()) for k in self.kind.tolist()] for last in KINDS])
        self.eos_id = vocab.index(EOS)

    @staticmethod
    def _kind(token: str) -> str:
        if token.startswith("<") or token in NEVER:
            return "eos" if token == EOS else "never"
        if token in BONDS:
            return "bond"
        if RING.match(token):
            return "ring"
        return {"(": "open", ")": "close", ".": "dot"}.get(token, "atom")

    def start(self, batch: int) -> GrammarState:
        """A fresh state per row (nothing written yet)."""
        zeros = torch.zeros(batch, dtype=torch.long)
        return GrammarState(zeros, torch.full((batch,), K["start"]), zeros.clone(),
                            torch.full((batch, len(self.ring_ids)), -1))

    def allowed(self, state: GrammarState, steps_left: int | None = None) -> torch.Tensor:
        """(batch, vocab_size) bool: the tokens each row may write next.

        With ``steps_left`` (tokens that may still be written, ``<eos>`` included), a row with too few steps
        left to open one more branch or ring bond and still close everything (two steps each, plus one for
        ``<eos>``) may only close what is open, writing an atom only where nothing can be closed yet, so every
        string ends, balanced, within the length limit."""
        mask = self.next[state.last].clone()
        after_atom = (state.last == K["atom"]) | (state.last == K["ring"]) | (state.last == K["close"])
        closed = (state.depth == 0) & (state.opener < 0).all(1)
        mask[:, self.kind == K["close"]] = (after_atom & (state.depth > 0))[:, None]
        mask[:, (self.kind == K["eos"]) | (self.kind == K["dot"])] = (after_atom & closed)[:, None]
        mask[:, self.ring_ids] &= state.opener != state.atoms[:, None]  # never close onto the opening atom
        if steps_left is not None:
            mask = self._closing(mask, state, steps_left)
        return mask

    def _closing(self, mask: torch.Tensor, state: GrammarState, steps_left: int) -> torch.Tensor:
        open_count = state.depth + (state.opener >= 0).sum(1)
        urgent = steps_left <= 2 * open_count + 3  # two steps per open thing and <eos>, had this step opened one
        closing = mask & (self.closers(state) | (self.kind == K["eos"]))
        atoms_only = mask & (self.kind == K["atom"]) & ~closing.any(1, keepdim=True)
        return torch.where(urgent[:, None], closing | atoms_only, mask)

    def closers(self, state: GrammarState) -> torch.Tensor:
        """(batch, vocab_size) bool: per row, the tokens that close something open (its open ring digits and
        ``)`` inside a branch)."""
        mask = torch.zeros(len(state.depth), len(self.vocab), dtype=torch.bool)
        mask[:, self.ring_ids] = state.opener >= 0
        mask[:, self.kind == K["close"]] = (state.depth > 0)[:, None]
        return mask

    def constrain(self, logits: torch.Tensor, state: GrammarState, steps_left: int | None = None) -> torch.Tensor:
        """Next-token ``logits`` (batch, vocab_size) float with the disallowed tokens at -inf.

        Where a row's decoder wants to end (``<eos>``) but cannot, because a branch or ring bond is still open,
        the probability it gave ``<eos>`` goes, in equal shares, to the tokens that close what is open
        (:meth:`closers`), so the string ends soon instead of running on. ``steps_left``: see :meth:`allowed`.
        """
        allowed = self.allowed(state, steps_left).to(logits.device)
        closers = self.closers(state).to(logits.device) & allowed
        count = closers.sum(1, keepdim=True)
        blocked = ~allowed[:, self.eos_id:self.eos_id + 1] & (count > 0)
        share = logits[:, self.eos_id:self.eos_id + 1] - torch.log(count.clamp(min=1).float())
        logits = torch.where(closers & blocked, torch.logaddexp(logits, share), logits)
        return logits.masked_fill(~allowed, float("-inf"))

    def advance(self, state: GrammarState, tokens: torch.Tensor) -> GrammarState:
        """The state after each row writes its token, ``tokens`` (batch,) long."""
        tokens = tokens.cpu()
        kind = self.kind[tokens]
        atoms = state.atoms + (kind == K["atom"]).long()
        depth = state.depth + (kind == K["open"]).long() - (kind == K["close"]).long()
        opener = state.opener.clone()
        rows = torch.nonzero(kind == K["ring"]).flatten()
        ring = self.ring_index[tokens[rows]]
        opener[rows, ring] = torch.where(opener[rows, ring] >= 0, -1, atoms[rows])
        return GrammarState(depth, kind, atoms, opener)
