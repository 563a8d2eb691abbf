"""The recurrent encoder: per-direction runs on padded input give what a packed sequence gives."""

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

from aae_core.molecules.sequence import SequenceEncoder


def packed_reference(encoder: SequenceEncoder, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The textbook encoder: ``encoder.rnn`` on a packed sequence, last hidden state of each direction."""
    packed = pack_padded_sequence(encoder.embedding(tokens), lengths, batch_first=True, enforce_sorted=False)
    _, state = encoder.rnn(packed)
    hidden = state[0] if encoder.cell == "lstm" else state
    return encoder.output(torch.cat(list(hidden[-encoder.directions:]), dim=-1))


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_encoder_matches_packed_sequences_in_value_and_gradient(cell, num_layers, bidirectional):
    torch.manual_seed(0)
    encoder = SequenceEncoder(10, 6, 7, num_layers, cell, bidirectional, dropout=0.0, out_dim=5)
    lengths = torch.tensor([5, 2, 7, 1])
    tokens = torch.randint(1, 10, (4, 7))
    tokens[torch.arange(7)[None] >= lengths[:, None]] = 0
    ours = encoder({"tokens": tokens, "lengths": lengths})
    reference = packed_reference(encoder, tokens, lengths)
    assert torch.allclose(ours, reference, atol=1e-6)
    grads = [torch.autograd.grad(out.square().sum(), encoder.rnn.weight_hh_l0)[0] for out in (ours, reference)]
    assert torch.allclose(*grads, atol=1e-5)
    tokens[1, 3] = 9  # a token in the padding of row 1 changes nothing
    assert torch.allclose(encoder({"tokens": tokens, "lengths": lengths})[1], ours[1])
