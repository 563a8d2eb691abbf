import pytest
import torch

from aae_core.exceptions import TokenizerError
from aae_core.molecules.tokenizers import SelfiesTokenizer, SmilesTokenizer, Tokenizer, make_tokenizer

MOLECULES = ["CCO", "c1ccccc1Cl", "C[C@@H](Br)C(=O)O", "CC1CC%10CC1%10", "[NH4+].[Cl-]"]


def test_schwaller_regex_keeps_multi_character_tokens():
    tokens = SmilesTokenizer().tokenize("C[C@@H](Br)c1ccc(Cl)cc1C%12")
    assert tokens == ["C", "[C@@H]", "(", "Br", ")", "c", "1", "c", "c", "c", "(", "Cl", ")", "c", "c", "1",
                      "C", "%12"]


def test_fit_puts_special_tokens_first():
    tokenizer = SmilesTokenizer().fit(MOLECULES)
    assert tokenizer.vocab_[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert tokenizer.vocab_size == len(set(tokenizer.vocab_))


@pytest.mark.parametrize("cls", [SmilesTokenizer, SelfiesTokenizer])
def test_round_trip(cls):
    tokenizer = cls().fit(MOLECULES)
    tokens, lengths = tokenizer.encode(MOLECULES)
    assert tokens.shape[0] == len(MOLECULES) and tokens.dtype == torch.long
    assert (tokens[:, 0] == tokenizer.bos_id).all()
    assert lengths.tolist() == [int((row != 0).sum()) for row in tokens]
    from aae_core.molecules.chem import canonicalize

    decoded = tokenizer.decode(tokens[:, 1:])
    assert [canonicalize(s) for s in decoded] == [canonicalize(s) for s in MOLECULES]


def test_unknown_tokens_are_named():
    tokenizer = SmilesTokenizer().fit(["CCO"])
    assert tokenizer.unknown_tokens("CCNBr") == ["N", "Br"]
    with pytest.raises(TokenizerError, match=r"\['Br', 'N'\]"):
        tokenizer.encode(["CCNBr"])
    ids = tokenizer.encode_one("CCN", allow_unknown=True)
    assert tokenizer.unk_id in ids


def test_errors_for_unfitted_bad_characters_and_length():
    with pytest.raises(TokenizerError, match="not fitted"):
        SmilesTokenizer().encode(["CCO"])
    with pytest.raises(TokenizerError, match="not SMILES tokens"):
        SmilesTokenizer().tokenize("CC&O")
    with pytest.raises(TokenizerError, match="max_len=3"):
        SmilesTokenizer(max_len=3).fit(["CCCC"]).encode(["CCCC"])
    with pytest.raises(TokenizerError, match="empty"):
        SmilesTokenizer().fit([])
    with pytest.raises(TokenizerError, match="unknown representation"):
        make_tokenizer("inchi")


def test_serialisation_round_trip():
    tokenizer = SelfiesTokenizer(max_len=50).fit(MOLECULES)
    again = Tokenizer.from_dict(tokenizer.to_dict())
    assert isinstance(again, SelfiesTokenizer) and again.vocab_ == tokenizer.vocab_ and again.max_len == 50
    with pytest.raises(TokenizerError, match="unknown tokenizer kind"):
        Tokenizer.from_dict({"kind": "bpe", "max_len": 5, "vocab": []})
