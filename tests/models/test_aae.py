"""The sequence AAE's phases and its optional Gaussian posterior (Makhzani et al. 2015, Sec. 2)."""

import pytest
import torch

from aae_core.exceptions import ConfigError
from aae_core.molecules.families import build_model
from tests.conftest import tiny_model_config


def tiny_batch() -> dict[str, torch.Tensor]:
    tokens = torch.tensor([[1, 5, 6, 2, 0], [1, 7, 5, 6, 2]])
    return {"tokens": tokens, "lengths": torch.tensor([4, 5])}


def test_gaussian_posterior_adds_noise_only_while_training():
    torch.manual_seed(0)
    model = build_model(tiny_model_config(posterior_noise=0.5), vocab_size=8)
    batch = tiny_batch()
    model.eval()
    means = model.encode(batch)
    assert torch.equal(means, model.encode(batch))
    model.train()
    noisy = model.encode(batch)
    assert not torch.allclose(noisy, means)
    assert (noisy - means).std().item() == pytest.approx(0.5, abs=0.2)  # 16 draws of N(0, 0.5^2)
    for phase in ("autoencoder", "discriminator", "generator"):
        assert torch.isfinite(model(batch, phase)["loss"])


def test_zero_posterior_noise_is_the_deterministic_encoder():
    model = build_model(tiny_model_config(posterior_noise=0.0), vocab_size=8).train()
    assert torch.equal(model.encode(tiny_batch()), model.encode(tiny_batch()))


def test_negative_posterior_noise_is_a_config_error():
    with pytest.raises(ConfigError, match="posterior_noise must be >= 0"):
        tiny_model_config(posterior_noise=-0.1).validate()


def test_joint_update_trains_reconstruction_and_generator_in_one_phase(tmp_path):
    from aae_core.molecules.pipeline import train_molecules
    from tests.conftest import tiny_train_config

    records = []
    history = train_molecules(tiny_model_config(adversarial_update="joint"), tiny_train_config(),
                              tmp_path / "joint.safetensors", callbacks=[lambda event, r: records.append((event, r))])
    steps = [r for event, r in records if event == "step"]
    assert [r["step"] for r in steps] == [1, 2] and history.steps
    assert {"reconstruction", "generator", "discriminator"} <= set(steps[-1])
    assert steps[0]["reconstruction"] != steps[1]["reconstruction"]
    model = build_model(tiny_model_config(adversarial_update="joint"), vocab_size=8)
    assert model.phases(pretraining=False) == ["autoencoder+generator", "discriminator"]
    assert model.phases(pretraining=True) == ["autoencoder"]
    out = model.train()(tiny_batch(), "autoencoder+generator")
    assert out["loss"].item() == pytest.approx((out["reconstruction"] + out["generator"]).item())


def test_posterior_noise_anneals_linearly_and_its_step_is_saved():
    model = build_model(tiny_model_config(posterior_noise=0.5, posterior_noise_final=0.1,
                                          posterior_noise_anneal_steps=4), vocab_size=8).train()
    seen = [model(tiny_batch(), "autoencoder")["posterior_noise"].item() for _ in range(6)]
    assert seen == pytest.approx([0.5, 0.4, 0.3, 0.2, 0.1, 0.1])
    model.eval()(tiny_batch(), "autoencoder")  # evaluation does not advance the schedule
    assert int(model.state_dict()["step"]) == 6
    assert "step" not in build_model(tiny_model_config(), vocab_size=8).state_dict()  # old checkpoints still load


def test_posterior_noise_schedule_needs_both_fields():
    with pytest.raises(ConfigError, match="go together"):
        tiny_model_config(posterior_noise_final=0.1).validate()


def test_word_dropout_replaces_only_real_tokens_after_bos_and_only_while_training():
    torch.manual_seed(0)
    decoder = build_model(tiny_model_config(word_dropout=0.5), vocab_size=8).decoder
    inputs = torch.tensor([[1, 5, 6, 7, 5, 6, 2, 0, 0]] * 50)
    dropped = decoder.train()._drop_words(inputs)
    assert (dropped[:, 0] == 1).all() and (dropped[:, 7:] == 0).all()
    assert set(dropped[:, 1:7].unique().tolist()) == {3, 2, 5, 6, 7}
    assert (dropped == 3).float().sum().item() / (50 * 6) == pytest.approx(0.5, abs=0.07)
    assert torch.equal(decoder.eval()._drop_words(inputs), inputs)
