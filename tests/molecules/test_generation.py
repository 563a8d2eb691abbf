import pytest
import torch

from aae_core.config import ModelConfig
from aae_core.exceptions import ConfigError, DataError, TokenizerError
from aae_core.molecules import chem
from aae_core.molecules.generation import LatentIndex, MoleculeGenerator, interpolate_codes
from aae_core.molecules.sequence import SequenceDecoder
from aae_core.registry import load_model
from aae_core.training import use_bf16


@pytest.fixture(scope="module")
def generator(trained_checkpoint):
    return MoleculeGenerator(load_model(trained_checkpoint))


def test_sample_contract(generator):
    smiles = generator.sample(30, seed=1)
    assert len(smiles) == 30 and all(isinstance(s, str) for s in smiles)
    assert generator.sample(30, seed=1) == smiles
    assert generator.sample(30, seed=2) != smiles
    for s in smiles:
        assert chem.mol_from_smiles(s) is None or chem.canonicalize(s) == s


def test_sample_marked_marks_what_rdkit_parses(generator):
    smiles, valid = generator.sample_marked(60, seed=1, batch_size=16, temperature=1.5)
    assert smiles == generator.sample(60, seed=1, batch_size=16, temperature=1.5)
    assert valid.dtype == bool and valid.tolist() == [chem.mol_from_smiles(s) is not None for s in smiles]
    assert 0 < valid.sum() < len(valid)  # the tiny test model makes both kinds at this temperature


def test_chunks_decoded_in_threads_give_the_same_samples(generator):
    one = generator.sample(50, seed=3, batch_size=8)
    assert generator.sample(50, seed=3, batch_size=8, workers=3) == one  # each chunk has its own stream
    assert len(set(one)) > 10
    with pytest.raises(ValueError, match="workers"):
        generator.sample(5, seed=3, workers=0)


def test_autocast_runs_the_decoder_in_bf16_only_when_asked(trained_checkpoint):
    """"auto" follows use_bf16 (fp32 on CPUs without AVX-512-BF16); "bf16" runs the decoder's products in bf16,
    and still returns one string per code."""
    loaded = load_model(trained_checkpoint)
    assert MoleculeGenerator(loaded).bf16 == use_bf16("auto", torch.device("cpu"))
    for setting, dtype in (("off", torch.float32), ("bf16", torch.bfloat16)):
        generator = MoleculeGenerator(loaded, autocast=setting)
        seen: set[torch.dtype] = set()
        hook = generator.model.decoder.output.register_forward_hook(lambda _m, _i, out, seen=seen: seen.add(out.dtype))
        try:
            smiles = generator.sample(12, seed=4)
        finally:
            hook.remove()
        assert len(smiles) == 12 and seen == {dtype}

def test_generate_stops_when_every_row_ended():
    decoder = SequenceDecoder(vocab_size=5, embedding_dim=4, hidden_dim=8, num_layers=1, cell="gru", dropout=0,
                              latent_dim=2)
    with torch.no_grad():
        decoder.output.bias.fill_(-10)
        decoder.output.bias[2] = 10  # always <eos>
    ids = decoder.generate(torch.zeros(3, 2), max_len=50, bos_id=1, eos_id=2)
    assert ids.shape == (3, 1) and (ids == 2).all()


@pytest.mark.parametrize("grammar", [False, True])
def test_prefix_decoding_continues_where_the_prefix_ends(generator, grammar):
    """Forcing the first k tokens of a greedy decode gives back that decode (the state after the prefix is the
    one free decoding reached); any other prefix starts every row."""
    decoder, tokenizer = generator.model.decoder, generator.tokenizer
    grammar = MoleculeGenerator(generator.loaded, constrained=True).grammar if grammar else None
    z = generator.sample_prior(6, seed=5)
    with torch.no_grad():
        free = decoder.generate(z, tokenizer.max_len, tokenizer.bos_id, tokenizer.eos_id, greedy=True, grammar=grammar)
        shared = free[0, :3]
        forced = decoder.generate(z[:1], tokenizer.max_len, tokenizer.bos_id, tokenizer.eos_id, greedy=True,
                                  grammar=grammar, prefix=shared)
        assert torch.equal(forced[0], free[0, : forced.shape[1]])
        other = torch.tensor(tokenizer.encode_one("c1ccccc1")[1:4])
        rows = decoder.generate(z, tokenizer.max_len, tokenizer.bos_id, tokenizer.eos_id, greedy=True,
                                grammar=grammar, prefix=other)
    assert (rows[:, :3] == other).all()
    fp32 = MoleculeGenerator(generator.loaded, autocast="off", constrained=grammar is not None)
    assert fp32.decode_marked(z, greedy=True, prefix=other.tolist())[0] == [
        chem.canonicalize(s) or s for s in tokenizer.decode(rows)]


@pytest.mark.parametrize("latent_input", ["every_step", "initial_state"])
def test_decoder_latent_input_layouts_both_depend_on_z(latent_input):
    torch.manual_seed(0)
    decoder = SequenceDecoder(vocab_size=6, embedding_dim=4, hidden_dim=8, num_layers=2, cell="lstm", dropout=0,
                              latent_dim=3, latent_input=latent_input)
    assert decoder.rnn.input_size == 4 + 3 * (latent_input == "every_step")
    tokens = torch.tensor([[1, 3, 4, 2]])
    logits, _ = decoder(torch.zeros(1, 3), tokens)
    assert logits.shape == (1, 4, 6)
    # initial_state: z changes the first step through the state; every_step: also directly at each input
    assert not torch.allclose(logits, decoder(torch.ones(1, 3), tokens)[0])


def test_unknown_latent_input_is_a_config_error():
    with pytest.raises(ConfigError, match="latent_input='sideways' is not allowed"):
        ModelConfig(latent_input="sideways").validate()


def test_encode_and_errors(generator):
    z = generator.encode(["CCO", "c1ccccc1"])
    assert z.shape == (2, generator.latent_dim)
    assert torch.allclose(generator.encode(["OCC"])[0], z[0])  # canonicalised first
    with pytest.raises(DataError, match="'C1CC' is not a valid SMILES"):
        generator.encode(["CCO", "C1CC"])
    with pytest.raises(TokenizerError, match="not in the vocabulary"):
        generator.encode(["[Xe]"])
    with pytest.raises(ValueError, match="temperature"):
        generator.decode(z, temperature=0)


def test_interpolation_paths(generator):
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    t = torch.linspace(0, 1, 3)
    assert torch.allclose(interpolate_codes(a, b, t)[1], torch.tensor([0.5, 0.5]))
    middle = interpolate_codes(a, b, t, "spherical")[1]
    assert middle.norm().item() == pytest.approx(1.0) and torch.allclose(middle[0], middle[1])
    with pytest.raises(ValueError, match="unknown interpolation"):
        interpolate_codes(a, b, t, "cubic")
    path = generator.interpolate("CCO", "c1ccccc1", steps=4, method="spherical")
    assert list(path.columns) == ["t", "smiles", "valid"] and len(path) == 4


def test_latent_index_neighbours():
    index = LatentIndex(["A", "B", "C"], torch.tensor([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0]]))
    hits = index.query(torch.tensor([0.9, 0.0]), k=2)
    assert hits["smiles"].tolist() == ["B", "A"]
    assert hits["distance"].iloc[0] == pytest.approx(0.1, abs=1e-6)
