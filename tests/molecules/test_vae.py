"""AE, VAE and property-VAE baselines: dry-run training, the closed-form KL, annealing, the property head."""

import math
import threading

import pytest
import torch

from aae_core.checkpoints import load_checkpoint
from aae_core.config import ModelConfig, TrainConfig
from aae_core.exceptions import ConfigError
from aae_core.molecules.families import build_model
from aae_core.molecules.generation import MoleculeGenerator
from aae_core.molecules.pipeline import prepare_data, train_molecules
from aae_core.molecules.vae import PropertyHead, free_bits_kl, gaussian_kl
from aae_core.registry import load_model

torch.set_num_threads(1)

MODELS = {"ae": {}, "vae": {"kl_anneal_steps": 4}, "vae-property": {"properties": ["QED", "logP"]}}


def tiny(model: str, **overrides) -> ModelConfig:
    return ModelConfig(model=model, hidden_dim=64, decoder_hidden_dim=128, latent_dim=16, discriminator_dims=[64],
                       **{**MODELS.get(model, {}), **overrides})


def tiny_train(**overrides) -> TrainConfig:
    return TrainConfig(**{"max_molecules": 200, "batch_size": 32, "epochs": 1, "monitor_samples": 10, "log_every": 1,
                          **overrides})


def train_two_steps(model: str, path):
    """Train until the second step, then stop (the stop event writes the checkpoint)."""
    stop = threading.Event()
    records = []

    def after_step(event, record):
        if event == "step":
            records.append(record)
            if record["step"] == 2:
                stop.set()

    train_molecules(tiny(model), tiny_train(), path, callbacks=[after_step], stop_event=stop)
    return records


@pytest.mark.parametrize("model", sorted(MODELS))
def test_each_model_trains_two_steps_and_reloads(tmp_path, model):
    path = tmp_path / f"{model}.safetensors"
    records = train_two_steps(model, path)
    assert [r["step"] for r in records] == [1, 2]
    assert all(math.isfinite(v) for r in records for k, v in r.items() if isinstance(v, float))
    assert records[0]["reconstruction"] != records[1]["reconstruction"]
    expected = {"ae": {"reconstruction"}, "vae": {"reconstruction", "kl", "kl_weight"},
                "vae-property": {"reconstruction", "kl", "kl_weight", "property"}}[model]
    assert expected <= set(records[-1]) and "discriminator" not in records[-1]
    loaded = load_model(path)
    generator = MoleculeGenerator(loaded)
    assert generator.encode(["CCO", "c1ccccc1"]).shape == (2, 16)
    assert len(generator.sample(3, seed=0)) == 3
    assert load_checkpoint(path).meta["state"]["step"] == 2


def test_vae_anneals_kl_weight_and_saves_its_step(tmp_path):
    records = train_two_steps("vae", tmp_path / "vae.safetensors")
    assert [r["kl_weight"] for r in records] == [0.0, 0.25]  # linear over kl_anneal_steps=4
    model = load_model(tmp_path / "vae.safetensors").model
    assert int(model.step) == 2 and model.current_kl_weight() == 0.5


def test_gaussian_kl_matches_closed_form():
    mu, sigma = torch.tensor([[1.0, 0.0, -0.5]]), torch.tensor([[1.0, 2.0, 0.3]])
    normal = torch.distributions.Normal
    expected = torch.distributions.kl_divergence(normal(mu, sigma), normal(0.0, 1.0))
    kl = gaussian_kl(mu, 2 * sigma.log())
    torch.testing.assert_close(kl, expected)
    # hand-computed: 0.5 (mu^2 + s^2 - 1 - ln s^2) per dimension
    assert kl[0, 0].item() == pytest.approx(0.5)
    assert kl[0, 1].item() == pytest.approx(0.5 * (4 - 1 - math.log(4)))
    assert gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3)).abs().max() == 0


def test_free_bits_clamp_each_dimension_batch_mean():
    kl = torch.tensor([[0.0, 1.0], [0.2, 3.0]])  # batch means: 0.1, 2.0
    assert free_bits_kl(kl, 0.0).item() == pytest.approx(2.1)
    assert free_bits_kl(kl, 0.5).item() == pytest.approx(2.5)


def test_vae_loss_is_reconstruction_plus_weighted_kl_per_token():
    torch.manual_seed(0)
    cfg = tiny("vae", kl_weight=0.5, kl_anneal_steps=0)
    dataset, tokenizer, _ = prepare_data(cfg, tiny_train(max_molecules=32))
    model = build_model(cfg, tokenizer.vocab_size).eval()
    batch = dataset.batch(torch.arange(8))
    torch.manual_seed(1)
    out = model(batch)
    tokens = (batch["tokens"][:, 1:] != 0).sum().item() / 8
    expected = out["reconstruction"].item() + 0.5 * out["kl"].item() / tokens
    assert out["kl"].item() > 0 and out["loss"].item() == pytest.approx(expected, rel=1e-5)
    mu, _ = model.posterior(batch)
    torch.testing.assert_close(model.encode(batch), mu)
    assert int(model.step) == 0  # eval mode does not advance annealing


def test_property_head_learns_a_synthetic_property():
    """Trained jointly with the VAE, the head learns a synthetic property (each molecule's token count)."""
    torch.manual_seed(0)
    cfg = tiny("vae-property", properties=["MW"])
    dataset, tokenizer, _ = prepare_data(cfg, tiny_train(max_molecules=32))
    batch = dataset.dataset.batch(torch.arange(len(dataset)))
    batch["properties"] = lengths = batch["lengths"].float()[:, None]
    model = build_model(cfg, tokenizer.vocab_size)
    model.property_head.fit_scaling(lengths)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        out = model(batch)
        out["loss"].backward()
        optimizer.step()
        losses.append(out["property"].item())
    model.eval()
    predicted = model.property_head(model.encode(batch))
    r2 = 1 - ((predicted - lengths) ** 2).sum() / ((lengths - lengths.mean()) ** 2).sum()
    assert losses[-1] < 0.2 * losses[0] and r2 > 0.8


def test_property_head_scaling_round_trip():
    head = PropertyHead(4, 2, 8)
    values = torch.tensor([[1.0, 10.0], [3.0, 30.0], [5.0, 50.0]])
    head.fit_scaling(values)
    torch.testing.assert_close(head.mean, torch.tensor([3.0, 30.0]))
    z = torch.zeros(3, 4)
    torch.testing.assert_close(head(z), head.net(z) * head.std + head.mean)
    assert head.loss(z, values).item() == pytest.approx(((head.net(z) - (values - 3 * torch.tensor([1.0, 10.0]))
                                                          / head.std) ** 2).mean().item(), rel=1e-5)


@pytest.mark.parametrize("overrides, match", [
    ({"model": "vae-property", "properties": []}, "needs properties"),
    ({"model": "vae", "properties": ["QED"]}, "needs properties"),
    ({"model": "vae-property", "properties": ["toxicity"]}, "toxicity"),
    ({"model": "vae-property", "properties": ["QED", "QED"]}, "twice"),
    ({"model": "vae", "kl_weight": -1.0}, "kl_weight"),
])
def test_bad_vae_configs_raise(overrides, match):
    with pytest.raises(ConfigError, match=match):
        ModelConfig(**overrides).validate()


def test_vae_rejects_a_prior_other_than_standard_normal():
    with pytest.raises(ConfigError, match="N\\(0, I\\)"):
        build_model(tiny("vae", prior={"name": "gaussian", "sigma": 2.0}).validate(), 20)
    assert build_model(tiny("vae", prior={"name": "gaussian"}).validate(), 20).prior.sigma == 1.0


def test_vae_training_is_deterministic(tmp_path):
    runs = [train_two_steps("vae", tmp_path / f"{i}.safetensors") for i in range(2)]
    assert [{k: v for k, v in r.items() if k != "time_s"} for r in runs[0]] == [
        {k: v for k, v in r.items() if k != "time_s"} for r in runs[1]]


def test_cli_parses_property_names():
    from aae_core.cli import _config_from_args, build_parser

    args = build_parser().parse_args(["train", "--out", "x.safetensors", "--model", "vae-property",
                                      "--properties", "QED,logP", "--free-bits", "0.1"])
    cfg = _config_from_args(ModelConfig, args)
    assert cfg.properties == ["QED", "logP"] and cfg.free_bits == 0.1
