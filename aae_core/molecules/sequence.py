"""Recurrent encoder and autoregressive decoder for token sequences (SMILES or SELFIES).

The layout follows the MOSES AAE (Polykovskiy et al. 2020; Kadurin et al. 2017): embedding +
bidirectional GRU/LSTM encoder whose last hidden states map linearly to the latent code, and a GRU/LSTM
decoder whose initial state comes from ``z``. With ``latent_input="every_step"`` ``z`` is also
concatenated to every decoder input, which keeps the decoder from ignoring the code but makes it depend on
``z`` at every token; ``"initial_state"`` is the MOSES layout (``z`` only sets the initial state), whose
decoder behaves more like a language model where the prior puts codes the encoder never produced.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from aae_core.molecules.tokenizers import PAD, SPECIAL_TOKENS, UNK

RNNS = {"gru": nn.GRU, "lstm": nn.LSTM}
PAD_ID, UNK_ID = SPECIAL_TOKENS.index(PAD), SPECIAL_TOKENS.index(UNK)  # the same in every vocabulary


class SequenceEncoder(nn.Module):
    """Map a padded batch of token ids to one vector per molecule.

    Parameters
    ----------
    out_dim : size of the output (``latent_dim`` for an AAE, ``2 * latent_dim`` for a VAE).
    """

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_dim: int, num_layers: int, cell: str,
                 bidirectional: bool, dropout: float, out_dim: int):
        super().__init__()
        self.cell = cell
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.rnn = RNNS[cell](embedding_dim, hidden_dim, num_layers, batch_first=True,
                              bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0)
        directions = 2 if bidirectional else 1
        self.directions = directions
        self.output = nn.Linear(hidden_dim * directions, out_dim)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """``batch["tokens"]`` (batch, seq_len) long, ``batch["lengths"]`` (batch,) long
        -> (batch, out_dim) float: a linear map of each direction's last hidden state over the real tokens."""
        lengths = batch["lengths"].to(batch["tokens"].device)
        last = self.last_states(self.embedding(batch["tokens"]), lengths)  # (directions, batch, hidden_dim)
        return self.output(torch.cat(list(last), dim=-1))

    def last_states(self, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Run ``self.rnn``'s own weights one direction at a time on the padded ``inputs`` (batch, seq_len,
        features); the reverse direction reads each row reversed within its length, so padding never enters a
        state that is used. Returns the top layer's states after each row's last real token,
        (directions, batch, hidden_dim); the same numbers as running ``self.rnn`` on a packed sequence.

        Packed sequences are avoided on purpose: PyTorch's CPU backward through them zero-fills the whole
        packed input once per time step, which made a training step 1.7x (GRU 256) to 2.5x (LSTM 512)
        slower here (``bench/bench_training.py``).
        """
        rows = torch.arange(inputs.shape[0], device=inputs.device)
        steps = torch.arange(inputs.shape[1], device=inputs.device)
        reverse = torch.where(steps < lengths[:, None], lengths[:, None] - 1 - steps, steps)  # (batch, seq_len)
        flip = (rows[:, None], reverse)
        x = inputs
        for layer in range(self.rnn.num_layers):
            if layer:
                x = F.dropout(x, self.rnn.dropout, self.training)
            outputs = [self._direction(x, layer, "")]
            if self.directions == 2:
                outputs.append(self._direction(x[flip], layer, "_reverse")[flip])  # back in reading order
            x = torch.cat(outputs, dim=-1)
        forward_last = outputs[0][rows, lengths - 1]  # reverse direction: its last state sits at position 0
        return torch.stack([forward_last, outputs[1][:, 0]] if self.directions == 2 else [forward_last])

    def _direction(self, x: torch.Tensor, layer: int, suffix: str) -> torch.Tensor:
        """Outputs (batch, seq_len, hidden_dim) of one layer and direction of ``self.rnn`` over ``x``."""
        params = [getattr(self.rnn, f"{name}_l{layer}{suffix}") for name in ("weight_ih", "weight_hh", "bias_ih",
                                                                             "bias_hh")]
        h0 = x.new_zeros(1, x.shape[0], self.rnn.hidden_size)
        if self.cell == "lstm":
            return torch.lstm(x, [h0, h0], params, True, 1, 0.0, self.training, False, True)[0]
        return torch.gru(x, h0, params, True, 1, 0.0, self.training, False, True)[0]


class SequenceDecoder(nn.Module):
    """Autoregressive decoder p(x | z): ``z`` sets the initial state; at each step it reads the previous
    token (and ``z`` too when ``latent_input="every_step"``).

    ``word_dropout`` > 0 replaces that share of the teacher-forced input tokens (never ``<bos>``) by ``<unk>``
    while training (Bowman et al. 2016, "Generating sentences from a continuous space", Sec. 3.3), so the
    decoder cannot predict every token from the ones before it and must read ``z``.
    """

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_dim: int, num_layers: int, cell: str,
                 dropout: float, latent_dim: int, latent_input: str = "every_step", word_dropout: float = 0.0):
        super().__init__()
        self.cell, self.num_layers, self.hidden_dim = cell, num_layers, hidden_dim
        self.word_dropout = word_dropout
        self.every_step = latent_input == "every_step"
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.latent_to_hidden = nn.Linear(latent_dim, num_layers * hidden_dim)
        self.rnn = RNNS[cell](embedding_dim + latent_dim * self.every_step, hidden_dim, num_layers,
                              batch_first=True, dropout=dropout if num_layers > 1 else 0.0)
        self.output = nn.Linear(hidden_dim, vocab_size)

    def initial_state(self, z: torch.Tensor):
        """Recurrent state (num_layers, batch, hidden_dim) computed from ``z`` (batch, latent_dim)."""
        h = torch.tanh(self.latent_to_hidden(z)).view(z.shape[0], self.num_layers, self.hidden_dim)
        h = h.transpose(0, 1).contiguous()
        return (h, torch.zeros_like(h)) if self.cell == "lstm" else h

    def forward(self, z: torch.Tensor, tokens: torch.Tensor, state=None):
        """Teacher-forced logits.

        Parameters
        ----------
        z : (batch, latent_dim) float
        tokens : (batch, steps) long, the inputs (``<bos>`` first)

        Returns
        -------
        logits : (batch, steps, vocab_size), and the final recurrent state.
        """
        if state is None:
            state = self.initial_state(z)
        inputs = self.embedding(tokens)
        if self.every_step:
            inputs = torch.cat([inputs, z[:, None, :].expand(-1, tokens.shape[1], -1)], dim=-1)
        out, state = self.rnn(inputs, state)
        return self.output(out), state

    def reconstruction_loss(self, z: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mean cross-entropy per target token in nats (padding excluded), a scalar."""
        tokens = batch["tokens"]
        logits, _ = self(z, self._drop_words(tokens[:, :-1]))
        return F.cross_entropy(logits.float().flatten(0, 1), tokens[:, 1:].flatten(), ignore_index=0)

    def _drop_words(self, inputs: torch.Tensor) -> torch.Tensor:
        """``inputs`` (batch, steps) long with each real token after ``<bos>`` replaced by ``<unk>`` with
        probability ``word_dropout`` while training; unchanged otherwise."""
        if not (self.training and self.word_dropout > 0):
            return inputs
        drop = torch.rand(inputs.shape, device=inputs.device) < self.word_dropout
        drop[:, 0] = False
        return inputs.masked_fill(drop & (inputs != PAD_ID), UNK_ID)

    @torch.no_grad()
    def generate(self, z: torch.Tensor, max_len: int, bos_id: int, eos_id: int, temperature: float = 1.0,
                 greedy: bool = False, generator: torch.Generator | None = None, grammar=None,
                 prefix: torch.Tensor | None = None) -> torch.Tensor:
        """Decode ``z`` (batch, latent_dim) token by token.

        Stops as soon as every row has produced ``<eos>`` (or after ``max_len`` tokens). With a ``grammar``
        (:class:`aae_core.molecules.grammar.SmilesGrammar`), each step draws only among the tokens it allows
        (:meth:`~aae_core.molecules.grammar.SmilesGrammar.constrain`); without one, nothing about decoding changes.
        With a ``prefix`` (k,) long of token ids (no ``<bos>``/``<eos>``, k <= ``max_len``), every row starts with
        those k tokens, read teacher-forced, and the decoder writes only the rest: prefix-constrained decoding, as
        scaffold-constrained SMILES generation does (Langevin et al. 2020, J. Chem. Inf. Model. 60, 5637).

        Returns
        -------
        (batch, steps) long tensor of generated ids, without ``<bos>``; rows are padded with 0
        after their ``<eos>``.
        """
        out = torch.zeros(z.shape[0], max_len + 1, dtype=torch.long, device=z.device)
        active = torch.arange(z.shape[0], device=z.device)  # rows still decoding; finished rows are dropped
        token = torch.full((len(active), 1), bos_id, dtype=torch.long, device=z.device)
        state, steps = None, 0
        rows = grammar.start(len(active)) if grammar is not None else None
        if prefix is not None and len(prefix):
            forced = prefix.to(z.device)[None].expand(len(active), -1)
            _, state = self(z, torch.cat([token, forced[:, :-1]], dim=1))  # read <bos> and all but the last
            out[:, : len(prefix)], token, steps = forced, forced[:, -1:], len(prefix)
            for column in forced.T if grammar is not None else ():
                rows = grammar.advance(rows, column)
        while len(active) and steps <= max_len:
            logits, state = self(z[active], token, state)
            logits = logits[:, -1].float()
            if grammar is not None:
                logits = grammar.constrain(logits, rows, steps_left=max_len + 1 - steps)
            if greedy:
                token = logits.argmax(-1, keepdim=True)
            else:
                token = torch.multinomial(torch.softmax(logits / temperature, dim=-1), 1, generator=generator)
            out[active, steps] = token[:, 0]
            running = token[:, 0] != eos_id
            if grammar is not None:
                rows = grammar.advance(rows, token[:, 0]).select(running.cpu())
            active, token, state = active[running], token[running], _select_rows(state, running)
            steps += 1
        return out[:, :steps]


def _select_rows(state, rows: torch.Tensor):
    """Keep batch ``rows`` of a GRU state (layers, batch, hidden) or an LSTM (h, c) pair."""
    return tuple(part[:, rows] for part in state) if isinstance(state, tuple) else state[:, rows]
