"""Loss curves, presets, warm starts and the Compare defaults of :mod:`dashboard.services.training`."""

from __future__ import annotations

import shutil
import time

import numpy as np
import pytest
import torch

from aae_core.checkpoints import load_checkpoint
from aae_core.exceptions import CheckpointError, ConfigError
from aae_core.registry import load_model
from dashboard import jobs
from dashboard.services import training
from dashboard.services.models import ModelRef


def test_smooth_is_a_debiased_ema():
    values = np.array([4.0, 2.0, 6.0])
    np.testing.assert_allclose(training.smooth(values, 0.0), values)
    np.testing.assert_allclose(training.smooth(np.full(5, 3.0), 0.9), 3.0)  # no pull towards 0 at the start
    s1 = 0.5 * 4.0
    s2 = 0.5 * s1 + 0.5 * 2.0
    np.testing.assert_allclose(training.smooth(values, 0.5)[:2], [s1 / 0.5, s2 / 0.75])


def test_loss_table_is_long_with_fractional_epochs_and_smoothing():
    history = {"steps": [{"step": 2, "epoch": 0, "batch": 2, "batches": 4, "time_s": 1.0, "reconstruction": 3.0,
                          "discriminator": 0.7},
                         {"step": 4, "epoch": 1, "batch": 0, "batches": 4, "time_s": 2.0, "reconstruction": 1.0,
                          "discriminator": 0.6, "kl": 5.0}]}
    table = training.loss_table({"run": history}, weight=0.5)
    assert list(table.columns) == ["run", "step", "epoch", "fraction", "time_s", "term", "value", "smoothed"]
    assert sorted(set(table["term"])) == ["discriminator", "kl", "reconstruction"]
    recon = table[table["term"] == "reconstruction"]
    assert recon["epoch"].tolist() == [0.5, 1.0]
    assert recon["smoothed"].iloc[1] == pytest.approx((0.25 * 3 + 0.5 * 1) / 0.75)
    assert training.loss_table({"empty": {"steps": []}}).empty


def test_loss_table_aligns_runs_of_any_length_on_the_fraction_of_training():
    short = {"steps": [{"step": s, "epoch": 0, "batch": s, "batches": 4, "reconstruction": 1.0} for s in (2, 4)]}
    long = {"steps": [{"step": s, "epoch": 0, "batch": s, "batches": 6000, "reconstruction": 1.0}
                      for s in (10, 3000, 5859)]}
    table = training.loss_table({"short": short, "long": long})
    assert set(training.ALIGNMENTS) <= set(table.columns)
    fractions = table.groupby("run")["fraction"].agg(["min", "max"])
    assert fractions.loc["short"].tolist() == [0.5, 1.0] and fractions.loc["long", "max"] == 1.0
    assert table.loc[table["run"] == "long", "fraction"].iloc[0] == pytest.approx(10 / 5859)


def test_compare_preselects_the_shipped_aae_and_vae_pair_then_this_sessions_models():
    def ref(name: str, shipped: bool = True) -> ModelRef:
        key = f"{'shipped' if shipped else 'session'}:{name}"
        return ModelRef(key, name, f"/models/{name}.safetensors", shipped)

    refs = [ref("aae_moses"), ref("aae_small_moses"), ref("ae_small_moses"), ref("vae_small_moses"),
            ref("mine", shipped=False)]
    choices = {r.key: r for r in refs}
    assert training.compare_defaults(choices) == ["shipped:aae_small_moses", "shipped:vae_small_moses", "session:mine"]
    without_pair = {r.key: r for r in refs if "small" not in r.key}
    assert training.compare_defaults(without_pair) == ["shipped:aae_moses", "session:mine"]


def test_presets_fall_back_to_selfies_from_scratch_without_the_shipped_model():
    assert training.preset_values("classroom", warm_start=True)["train_start_from"] == "shipped"
    scratch = training.preset_values("classroom", warm_start=False)
    assert scratch["train_start_from"] == "scratch" and scratch["train_representation"] == "selfies"
    assert scratch["train_latent_dim"] == 2
    assert training.PRESETS["classroom"]["train_start_from"] == "shipped"  # the preset itself is left as it was
    assert set(training.PRESETS) == set(training.PRESET_LABELS)


def test_epochs_table_rounds_losses_and_time():
    table = training.epochs_table([{"epoch": 1, "step": 31, "time_s": 12.3456, "reconstruction": 1.234567891,
                                    "lr": 0.00070000001, "validity": 0.25}])
    assert table.iloc[0].to_dict() == {"epoch": 1, "step": 31, "time_s": 12.3, "reconstruction": 1.235,
                                       "lr": 0.0007, "validity": 0.25}


def test_a_warm_start_keeps_the_network_and_cuts_its_code_to_latent_dim(checkpoint_dir, tmp_path):
    source = checkpoint_dir / "tiny.safetensors"  # an AAE with latent_dim 16
    cfg = training.warm_start_config(source, 2)
    shipped_cfg = load_checkpoint(source).meta["model_config"]
    assert cfg.latent_dim == 2 and shipped_cfg["latent_dim"] == 16
    assert cfg.hidden_dim == shipped_cfg["hidden_dim"] and cfg.discriminator_dims == shipped_cfg["discriminator_dims"]
    out = training.warm_start_checkpoint(source, cfg, tmp_path / "init.safetensors")
    before, after = load_checkpoint(source).model_state, load_checkpoint(out).model_state
    for name in ("decoder.latent_to_hidden.weight", "discriminator.net.0.weight"):  # the layers reading the code
        assert torch.equal(after[name], before[name][:, :2]), name
    assert torch.equal(after["encoder.output.weight"], before["encoder.output.weight"][:2])
    assert torch.equal(after["encoder.output.bias"], before["encoder.output.bias"][:2])
    for name in ("decoder.rnn.weight_hh_l0", "decoder.output.weight", "decoder.latent_to_hidden.bias",
                 "encoder.rnn.weight_ih_l0", "discriminator.net.0.bias", "discriminator.net.2.weight"):
        assert torch.equal(after[name], before[name]), name
    with pytest.raises(CheckpointError, match="larger than the code"):
        training.warm_start_checkpoint(source, training.warm_start_config(source, 32), tmp_path / "x.safetensors")


@pytest.mark.parametrize("latent_input", ["every_step", "initial_state"])
def test_a_standardised_warm_start_puts_the_codes_on_the_prior_and_changes_nothing_else(tmp_path, latent_input):
    """Standardised on the run's molecules, their 2-D codes have mean 0 and covariance I, and the decoder and the
    discriminator give for each molecule's new code what they gave for its code on the plain cut."""
    from aae_core.config import TrainConfig
    from aae_core.molecules.pipeline import train_molecules
    from tests.dashboard.conftest import tiny_configs

    model_cfg, train_cfg = tiny_configs(max_molecules=200, epochs=1, latent_input=latent_input)
    source = tmp_path / "source.safetensors"
    train_molecules(model_cfg, train_cfg, source)
    cfg = training.warm_start_config(source, 2)
    molecules = training.run_molecules(source, TrainConfig(max_molecules=300))
    assert len(molecules) == 300
    cut = load_model(training.warm_start_checkpoint(source, cfg, tmp_path / "cut.safetensors"))
    standard = load_model(training.warm_start_checkpoint(source, cfg, tmp_path / "std.safetensors", molecules))
    codes = training.encode_all(standard.model, standard.tokenizer, molecules)
    np.testing.assert_allclose(codes.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(torch.cov(codes.T), np.eye(2), atol=1e-4)
    before = training.encode_all(cut.model, cut.tokenizer, molecules)
    tokenizer = cut.tokenizer
    with torch.no_grad():
        decoded = [loaded.model.decoder.generate(z[:50], tokenizer.max_len, tokenizer.bos_id, tokenizer.eos_id,
                                                 greedy=True) for loaded, z in ((cut, before), (standard, codes))]
        assert torch.equal(*decoded)
        np.testing.assert_allclose(standard.model.discriminator(codes), cut.model.discriminator(before), atol=1e-4)
    with pytest.raises(CheckpointError, match="singular"):
        training.warm_start_checkpoint(source, cfg, tmp_path / "x.safetensors", molecules[:2])


def test_a_warm_started_2d_run_keeps_a_live_map_and_ends_with_samples(checkpoint_dir, tmp_path, monkeypatch):
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    shutil.copy(checkpoint_dir / "tiny.safetensors", shipped / training.WARM_START)
    monkeypatch.setenv("AAE_LAB_CHECKPOINTS", str(shipped))
    job = training.training_job(tmp_path, 1, "moses-train", None, 200, "vae", "selfies", "small", 2, "mixture", 2,
                                60.0, start_from="shipped")
    assert job.model_cfg.model == "aae" and job.model_cfg.representation == "smiles"  # the shipped model's
    assert job.train_cfg.init_from and job.train_cfg.lr == training.WARM_START_RATES["lr"] and job.live_map
    job.start()
    first = None
    while job.running:
        first = first or job.snapshot
        time.sleep(0.05)
    assert job.status == "finished", job.error
    assert first is not None and first.step < job.steps[-1]["step"]  # drawn while it trained
    snapshot = job.snapshot
    assert snapshot is not None and job.map_error is None and snapshot.step == job.steps[-1]["step"]
    assert snapshot.codes.shape == (len(snapshot.smiles), 2) and snapshot.prior.shape == (jobs.MAP_PRIOR, 2)
    assert 0.0 <= snapshot.auc <= 1.0
    assert job.summary.n == training.SAMPLES and 0.0 <= job.summary.validity <= 1.0
    assert load_model(job.path).config.latent_dim == 2


def test_without_the_shipped_model_a_warm_start_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("AAE_LAB_CHECKPOINTS", str(tmp_path))
    assert training.warm_start_source() is None
    with pytest.raises(ConfigError, match="no shipped aae_moses.safetensors"):
        training.training_job(tmp_path, 1, "moses-train", None, 100, "aae", "smiles", "tiny", 2, "gaussian", 1, 10.0,
                              start_from="shipped")
