"""Syntax-constrained SMILES decoding (aae_core.molecules.grammar)."""

import re

import pytest
import torch

from aae_core.molecules.generation import MoleculeGenerator
from aae_core.molecules.grammar import SmilesGrammar
from aae_core.registry import load_model

VOCAB = ["<pad>", "<bos>", "<eos>", "<unk>", "C", "c", "(", ")", "1", "2", "=", "N", "[nH]", "%10"]


def well_formed(smiles: str) -> bool:
    """Balanced branches never opened empty or right after another opener, every ring digit closed, never
    onto the atom that opened it, the string starting and ending on an atom, ring digit or ``)``."""
    tokens = re.findall(r"\[[^\]]+]|%\d\d|Cl|Br|.", smiles)
    depth, rings, atoms, last = 0, {}, 0, "start"
    for token in tokens:
        if token == "(":
            if last in ("start", "open", "bond"):
                return False
            depth, last = depth + 1, "open"
        elif token == ")":
            if depth == 0 or last in ("open", "bond"):
                return False
            depth, last = depth - 1, "close"
        elif re.fullmatch(r"%\d\d|\d", token):
            if last in ("start", "open", "close") or rings.get(token) == atoms:
                return False
            rings.pop(token) if token in rings else rings.update({token: atoms})
            last = "ring"
        elif token in "=#-":
            if last in ("start", "bond"):
                return False
            last = "bond"
        else:
            atoms, last = atoms + 1, "atom"
    return depth == 0 and not rings and last in ("atom", "ring", "close")


def test_the_checker_itself():
    assert all(map(well_formed, ["CC(C)C", "c1ccccc1", "C1CC=1", "C(C)(C)C", "C12CC1C2", "C%10CC%10"]))
    assert not any(map(well_formed, ["CC)", "C(", "C1CC", "C11", "C()C", "C((C))", "=C", "C(=)C", "C1(C)1"]))


def test_constrained_decoding_of_an_untrained_model_never_writes_a_malformed_string(trained_checkpoint):
    loaded = load_model(trained_checkpoint)
    loaded.tokenizer.max_len = 24  # a short limit: the closing rule must end every string in time
    torch.manual_seed(0)
    for module in loaded.model.decoder.modules():  # scramble the decoder so it writes syntax soup on its own
        if isinstance(module, torch.nn.Linear):
            torch.nn.init.normal_(module.weight, std=2.0)
    free, _ = MoleculeGenerator(loaded).sample_marked(300, seed=0)
    constrained, _ = MoleculeGenerator(loaded, constrained=True).sample_marked(300, seed=0)
    assert sum(map(well_formed, free)) < 150  # the scrambled decoder alone: mostly malformed
    assert all(map(well_formed, constrained)), [s for s in constrained if not well_formed(s)][:5]


def test_without_the_mask_sampling_is_the_decoders_own(trained_checkpoint):
    loaded = load_model(trained_checkpoint)
    generator = MoleculeGenerator(loaded, constrained=False)
    assert generator.grammar is None
    z = generator.sample_prior(40, seed=3)
    direct = loaded.model.decoder.generate(z, loaded.tokenizer.max_len, loaded.tokenizer.bos_id,
                                           loaded.tokenizer.eos_id, generator=torch.Generator().manual_seed(7))
    stream = loaded.model.decoder.generate(z, loaded.tokenizer.max_len, loaded.tokenizer.bos_id,
                                           loaded.tokenizer.eos_id, generator=torch.Generator().manual_seed(7),
                                           grammar=None)
    assert torch.equal(direct, stream)
    assert generator.sample(50, seed=1) == MoleculeGenerator(loaded).sample(50, seed=1)


def test_a_decoder_that_wants_to_end_with_a_ring_open_closes_it():
    grammar = SmilesGrammar(VOCAB)
    state = grammar.start(1)
    for token in ("C", "1", "C", "C"):  # "C1CC": ring 1 open
        state = grammar.advance(state, torch.tensor([VOCAB.index(token)]))
    logits = torch.full((1, len(VOCAB)), -5.0)
    logits[0, VOCAB.index("<eos>")] = 5.0
    constrained = grammar.constrain(logits, state)
    assert constrained.argmax().item() == VOCAB.index("1")
    assert constrained[0, VOCAB.index("<eos>")] == float("-inf")
    assert constrained[0, VOCAB.index("1")].item() == pytest.approx(torch.logaddexp(torch.tensor(-5.0),
                                                                                  torch.tensor(5.0)).item())


def test_masks_by_last_token():
    grammar = SmilesGrammar(VOCAB)

    def allowed_after(text_tokens):
        state = grammar.start(1)
        for token in text_tokens:
            state = grammar.advance(state, torch.tensor([VOCAB.index(token)]))
        return {VOCAB[i] for i in torch.nonzero(grammar.allowed(state)[0]).flatten().tolist()}

    atoms = {"C", "c", "N", "[nH]"}
    assert allowed_after([]) == atoms
    assert allowed_after(["C"]) == atoms | {"(", "1", "2", "%10", "=", "<eos>"}
    assert allowed_after(["C", "("]) == atoms | {"="}
    assert allowed_after(["C", "(", "C"]) == atoms | {"(", ")", "1", "2", "%10", "="}
    assert allowed_after(["C", "1"]) == atoms | {"(", "2", "%10", "="}  # no "1" onto its own atom, no end
    assert allowed_after(["C", "="]) == atoms | {"1", "2", "%10"}
    assert allowed_after(["C", "(", "C", ")"]) == atoms | {"(", "=", "<eos>"}
