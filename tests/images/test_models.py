"""Every image model family trains (losses move), is deterministic, and reloads to the same decoder."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from aae_core.exceptions import ConfigError, DataError
from aae_core.images.generation import decode, latent_codes, manifold, mosaic, reconstruct, style_grid
from aae_core.images.metrics import cluster_accuracy, conditional_accuracy, majority_mapping
from aae_core.images.models import ImageEncoder, deskew, random_affine, random_shift
from aae_core.images.training import ImageConfig, build_image_model, train_images
from aae_core.latent import prior_match
from aae_core.registry import load_model
from tests.images.conftest import tiny_image_config, tiny_train_config

FAMILIES = {
    "aae-gaussian": dict(model="aae"),
    "aae-swiss-roll": dict(model="aae", prior={"name": "swiss_roll"}),
    "aae-uniform": dict(model="aae", prior={"name": "uniform"}),
    "supervised": dict(model="supervised"),
    "label-prior": dict(model="label-prior", num_labels=20, prior={"name": "mixture", "k": 10}),
    "semi-supervised": dict(model="semi-supervised", num_labels=20, latent_dim=3, holdout=20),
    "clustering": dict(model="clustering", num_classes=4, latent_dim=3, holdout=20, logit_norm=True),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_two_steps_move_every_loss(family, tmp_path):
    history, model, _ = train_images(tiny_image_config(**FAMILIES[family]), tiny_train_config(), tmp_path / "m.st")
    first, second = history.steps[:2]
    terms = [k for k in first if k not in ("step", "epoch", "batch", "batches", "time_s")]
    assert {"reconstruction", "discriminator", "generator"} <= set(terms)
    assert all(first[k] != second[k] for k in terms), (first, second)
    assert ("supervised" in terms) == (family == "semi-supervised")


def test_training_is_deterministic(tmp_path):
    cfg = tiny_image_config(**FAMILIES["semi-supervised"])
    a = train_images(cfg, tiny_train_config(), tmp_path / "a.st")[1]
    b = train_images(cfg, tiny_train_config(), tmp_path / "b.st")[1]
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y), name


@pytest.mark.parametrize("family", ["aae-gaussian", "supervised", "clustering"])
def test_checkpoint_reload_decodes_identically(family, tmp_path):
    path = tmp_path / "m.safetensors"
    _, model, prepared = train_images(tiny_image_config(**FAMILIES[family]), tiny_train_config(epochs=2), path)
    loaded = load_model(path)
    assert loaded.meta["modality"] == "images" and loaded.config.model == FAMILIES[family]["model"]
    z = np.random.default_rng(0).normal(size=(5, model.prior.dim)).astype(np.float32)
    y = np.arange(5) % 4
    np.testing.assert_array_equal(decode(model, z, y), decode(loaded.model, z, y))
    np.testing.assert_array_equal(latent_codes(model, prepared.train.images[:7]),
                                  latent_codes(loaded.model, prepared.train.images[:7]))


def test_generation_shapes(tmp_path):
    _, model, prepared = train_images(tiny_image_config(model="supervised"), tiny_train_config(), tmp_path / "s.st")
    x, y = prepared.train.images[:4], prepared.train.labels[:4]
    assert reconstruct(model, x, y).shape == (4, 64)
    grid, images = manifold(model, n=5, label=3)
    assert grid.shape == (25, 2) and images.shape == (25, 64) and 0 <= images.min() <= images.max() <= 1
    assert style_grid(model, np.zeros((2, 2), np.float32)).shape == (2, 10, 64)
    assert mosaic(images, (8, 8), cols=5).shape == (44, 44)
    with pytest.raises(DataError, match="pass one label"):
        decode(model, np.zeros((1, 2)))
    with pytest.raises(DataError, match=r"shape \(n, 2\)"):
        decode(model, np.zeros((1, 3)), [1])


def test_conditional_accuracy_falls_to_one_in_k_when_the_decoder_ignores_the_class(tmp_path):
    cfg = tiny_image_config(model="semi-supervised", num_labels=20, holdout=20)
    _, model, _ = train_images(cfg, tiny_train_config(), tmp_path / "semi.st")
    assert 0 <= conditional_accuracy(model, styles=30) <= 1
    first = next(layer for layer in model.decoder.modules() if isinstance(layer, nn.Linear))
    with torch.no_grad():
        first.weight[:, : model.num_classes] = 0  # the decoder's class-code inputs: every column decodes alike
    assert conditional_accuracy(model, styles=30) == pytest.approx(1 / model.num_classes)
    _, unconditional, _ = train_images(tiny_image_config(), tiny_train_config(), tmp_path / "aae.st")
    with pytest.raises(DataError, match="needs a class code"):
        conditional_accuracy(unconditional)


def test_cluster_accuracy_hand_made():
    clusters = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    labels = np.array([7, 7, 1, 3, 3, 1, 1, 5])
    assert majority_mapping(clusters, labels, 4).tolist() == [7, 3, 1, -1]
    assert cluster_accuracy(clusters, labels) == pytest.approx(6 / 8)
    assert cluster_accuracy(clusters, labels, np.array([1, 3, 1, 0])) == pytest.approx(5 / 8)
    with pytest.raises(DataError, match="equal-length"):
        cluster_accuracy(clusters, labels[:3])


def test_prior_match_grows_as_the_codes_leave_the_prior():
    """Codes pinned by the encoder's last layer: all at the prior's mean, then far from it."""
    model = build_image_model(ImageConfig(model="aae", hidden_dim=8, prior={"name": "gaussian", "sigma": 1.0}), 64)
    images = np.random.default_rng(0).random((500, 64), dtype=np.float32)
    last = model.encoder.net[-1]
    with torch.no_grad():
        last.weight.zero_()
        at_mean = prior_match(model.prior, latent_codes(model, images))
        last.bias.fill_(10.0)
        far = prior_match(model.prior, latent_codes(model, images))
    assert abs(at_mean["floor"]) < 0.01 and at_mean["floor"] == far["floor"]  # prior vs prior, same seeded draws
    assert 0.1 < at_mean["mmd2"] < far["mmd2"]  # a point mass at the mean is off, codes 14 sigma away more so
    # far away only E k(p, p') over prior pairs is left, plus 1: p - p' ~ N(0, 2 I_2) and the median bandwidth
    # gives h^2 = 4 ln 2, so E k = (1 + 2 / h^2)^-1
    assert far["mmd2"] == pytest.approx(1 + 1 / (1 + 1 / (2 * np.log(2))), abs=0.02)
    assert prior_match(model.prior, latent_codes(model, images)) == far  # seeded
    with pytest.raises(DataError, match="at least 2 images"):
        prior_match(model.prior, latent_codes(model, images[:1]))


def test_config_errors():
    with pytest.raises(ConfigError, match="choose one of"):
        ImageConfig(model="gan").validate()
    with pytest.raises(ConfigError, match="mixture prior with k = num_classes"):
        build_image_model(ImageConfig(model="label-prior"), 64)
    with pytest.raises(ConfigError, match="num_labels applies"):
        ImageConfig(model="aae", num_labels=10).validate()
    with pytest.raises(ConfigError, match="need logit_scale > 0 and consistency >= 0"):
        ImageConfig(model="semi-supervised", logit_scale=0.0).validate()
    with pytest.raises(ConfigError, match="need logit_scale > 0 and consistency >= 0"):
        ImageConfig(model="clustering", consistency=-1.0).validate()
    with pytest.raises(ConfigError, match="consistency applies to semi-supervised and clustering"):
        ImageConfig(model="aae", consistency=1.0).validate()
    with pytest.raises(ConfigError, match="input_shift must be"):
        ImageConfig(input_shift=-1).validate()


def test_logit_scale_multiplies_normalised_logits():
    """With ``logit_norm`` each class logit is centred over the batch, then multiplied by ``logit_scale``."""
    cfg = ImageConfig(model="semi-supervised", latent_dim=3, hidden_dim=16, logit_norm=True, logit_scale=2.0)
    torch.manual_seed(0)
    model, x = build_image_model(cfg, 64).train(), {"x": torch.rand(50, 64)}
    scaled, style = model.split(x)
    model.logit_scale = 1.0
    assert scaled.shape == (50, 10) and style.shape == (50, 3)
    torch.testing.assert_close(scaled, 2 * model.split(x)[0])
    torch.testing.assert_close(scaled.mean(0), torch.zeros(10), atol=1e-5, rtol=0)


def test_input_shift_translates_encoder_input_while_training_only():
    """``input_shift``: each image moves by its own whole-pixel offset within the bound, zero-filled, mass kept
    for a centred blob; in eval mode the encoder sees the image unchanged."""
    blob = torch.zeros(8, 8)
    blob[3:5, 2:5] = torch.tensor([[0.5, 1.0, 0.25], [0.75, 1.0, 0.5]])
    x = blob.flatten().repeat(200, 1)
    torch.manual_seed(0)
    shifted = random_shift(x, (8, 8), 2).view(200, 8, 8)
    offsets = set()
    for image in shifted:
        (dy, dx), = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                     if torch.equal(image, blob.roll((dy, dx), dims=(0, 1)))]
        offsets.add((dy, dx))
    assert len(offsets) == 25  # every offset in [-2, 2]^2 drawn
    torch.testing.assert_close(shifted.sum((1, 2)), x.sum(1))
    ones = random_shift(torch.ones(200, 64), (8, 8), 2).sum(1)  # zero fill, no wrap-round: (8-|dy|) (8-|dx|)
    assert set(ones.tolist()) == {float((8 - abs(dy)) * (8 - abs(dx))) for dy in range(3) for dx in range(3)}
    encoder = ImageEncoder(64, 16, 1, 4, input_shift=2, shape=(8, 8)).eval()
    torch.testing.assert_close(encoder({"x": x[:3]}), encoder.net(x[:3]))
    encoder.train()
    torch.manual_seed(1)
    out = encoder({"x": x})
    torch.manual_seed(1)
    torch.testing.assert_close(out, encoder.net(random_shift(x, (8, 8), 2)))
    with pytest.raises(ValueError, match="need the image shape"):
        ImageEncoder(64, 16, 1, 4, input_shift=1)


def _moments(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mass, centroid (x, y) in pixels from the centre and orientation (degrees) of (batch, size, size) images."""
    size = images.shape[-1]
    rows, cols = torch.meshgrid(torch.arange(size) - size // 2, torch.arange(size) - size // 2, indexing="ij")
    mass = images.sum((1, 2))
    cx, cy = (images * cols).sum((1, 2)) / mass, (images * rows).sum((1, 2)) / mass
    dx, dy = cols - cx[:, None, None], rows - cy[:, None, None]
    mu20, mu02, mu11 = ((images * m).sum((1, 2)) for m in (dx * dx, dy * dy, dx * dy))
    return mass, torch.stack([cx, cy], 1), torch.rad2deg(0.5 * torch.atan2(2 * mu11, mu20 - mu02))


def test_random_affine_rotates_zooms_and_shifts_within_bounds():
    """Measured on the warped images' moments: a centred horizontal bar turns by at most ``max_rotation`` degrees
    (both ways), a centred disk's mass scales by the zoom squared, a blob's centroid moves by at most
    ``max_shift`` pixels (not only whole ones); zero bounds give the image back."""
    size, n = 21, 300
    rows, cols = torch.meshgrid(torch.arange(size) - 10, torch.arange(size) - 10, indexing="ij")
    bar = ((rows.abs() <= 1) & (cols.abs() <= 7)).float()
    disk = ((rows**2 + cols**2) <= 25).float()
    torch.manual_seed(0)

    def warp(image: torch.Tensor, *bounds: float) -> torch.Tensor:
        return random_affine(image.flatten().repeat(n, 1), (size, size), *bounds).view(n, size, size)

    torch.testing.assert_close(warp(bar, 0, 0, 0), bar.expand(n, size, size), atol=1e-6, rtol=0)
    _, centre, angle = _moments(warp(bar, 0, 30, 0))
    assert angle.abs().max() <= 31 and angle.min() < -20 and angle.max() > 20
    assert centre.abs().max() < 0.05
    mass, _, _ = _moments(warp(disk, 0, 0, 0.2))
    ratio = mass / disk.sum()
    assert ratio.min() > 0.8**2 - 0.05 and ratio.max() < 1.2**2 + 0.05 and ratio.min() < 0.75 and ratio.max() > 1.3
    _, centre, _ = _moments(warp(disk, 2, 0, 0))
    assert centre.abs().max() <= 2.01 and centre.abs().max() > 1.8
    assert ((centre - centre.round()).abs() > 0.1).any()  # not only whole pixels


def test_deskew_centres_and_straightens_a_leaning_stroke():
    """A stroke leaning by 0.5 pixel per row, off centre, comes back upright (row-column covariance near 0) and
    centred; an upright centred bar and a blank image come back as they were."""
    size = 21
    rows, cols = torch.meshgrid(torch.arange(size) - 10, torch.arange(size) - 10, indexing="ij")
    leaning = (((cols - 3 - 0.5 * rows).abs() <= 1) & (rows.abs() <= 7)).float()
    upright = ((cols.abs() <= 1) & (rows.abs() <= 7)).float()

    def lean(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _, centre, _ = _moments(images)
        dx, dy = cols - centre[:, :1, None], rows - centre[:, 1:, None]
        return centre, (images * dx * dy).sum((1, 2)) / (images * dy * dy).sum((1, 2))

    before, after = (images.view(1, size, size) for images in (leaning, deskew(leaning.view(1, -1), (size, size))))
    assert lean(before)[1].item() == pytest.approx(0.5, abs=0.05) and lean(before)[0][0, 0] > 2.5
    centre, slope = lean(after)
    assert slope.abs().item() < 0.03 and centre.abs().max() < 0.1
    torch.testing.assert_close(deskew(upright.view(1, -1), (size, size)), upright.view(1, -1), atol=1e-5, rtol=0)
    assert deskew(torch.zeros(2, 64), (8, 8)).abs().max() == 0


def test_encoder_deskews_in_training_and_in_use():
    x = torch.rand(6, 64)
    encoder = ImageEncoder(64, 16, 1, 4, shape=(8, 8), deskew=True).eval()
    torch.testing.assert_close(encoder({"x": x}), encoder.net(deskew(x, (8, 8))))
    with pytest.raises(ValueError, match="need the image shape"):
        ImageEncoder(64, 16, 1, 4, deskew=True)


def test_encoder_warps_its_input_only_while_training():
    x = torch.rand(6, 64)
    encoder = ImageEncoder(64, 16, 1, 4, input_shift=1, shape=(8, 8), input_rotation=10, input_zoom=0.1).eval()
    torch.testing.assert_close(encoder({"x": x}), encoder.net(x))
    encoder.train()
    torch.manual_seed(3)
    out = encoder({"x": x})
    torch.manual_seed(3)
    torch.testing.assert_close(out, encoder.net(random_affine(x, (8, 8), 1, 10, 0.1)))
    with pytest.raises(ValueError, match="need the image shape"):
        ImageEncoder(64, 16, 1, 4, input_rotation=10)
    for bad in ({"input_rotation": -1.0}, {"input_rotation": 181.0}, {"input_zoom": 1.0}):
        with pytest.raises(ConfigError, match="input_rotation <= 180"):
            ImageConfig(model="clustering", **bad).validate()


def test_input_shift_model_trains_and_reloads(tmp_path):
    cfg = tiny_image_config(model="semi-supervised", num_labels=20, latent_dim=3, holdout=20, input_shift=1,
                            input_rotation=10.0, input_zoom=0.1)
    _, model, _ = train_images(cfg, tiny_train_config(), tmp_path / "m.safetensors")
    loaded = load_model(tmp_path / "m.safetensors")
    assert loaded.config.input_shift == 1 and loaded.model.encoder.shape == (8, 8)
    assert (loaded.model.encoder.input_rotation, loaded.model.encoder.input_zoom) == (10.0, 0.1)
    x = {"x": torch.rand(5, 64)}
    torch.testing.assert_close(loaded.model.encoder(x), model.eval().encoder(x))


def test_consistency_phase_is_kl_between_two_augmented_passes():
    """The consistency phase is KL(q1 || q2) of q(y|x) over two training-mode passes, q1 fixed: positive with
    augmentation, zero in eval mode (the passes agree), and its gradient reaches only the encoder."""
    cfg = ImageConfig(model="clustering", num_classes=4, latent_dim=2, hidden_dim=16, input_noise=0.5, consistency=2.0)
    torch.manual_seed(0)
    model, batch = build_image_model(cfg, 64).train(), {"x": torch.rand(30, 64)}
    assert model.phases(False)[-1] == "consistency" and "consistency" in model.parameter_groups()
    torch.manual_seed(1)
    out = model(batch, "consistency")
    torch.manual_seed(1)
    q1, q2 = model.classify(batch), model.classify(batch)
    expected = (q1 * (q1.log() - q2.log())).sum(-1).mean()
    torch.testing.assert_close(out["consistency"], expected)
    assert out["consistency"] > 0 and out["loss"] == 2.0 * out["consistency"]
    out["loss"].backward()
    assert all(p.grad is None for p in model.decoder.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())
    assert model.eval()(batch, "consistency")["consistency"].abs() < 1e-6
    assert "consistency" not in build_image_model(ImageConfig(model="clustering", hidden_dim=16), 64).phases(False)


def test_consistency_phase_reads_the_pair_when_the_batch_has_one():
    """With ``x_pair`` the second pass reads it: in eval mode (no augmentation) the loss is KL(q(x) || q(pair)),
    zero when each image is its own pair."""
    cfg = ImageConfig(model="clustering", num_classes=4, latent_dim=2, hidden_dim=16, consistency=1.0)
    torch.manual_seed(0)
    model, x, pair = build_image_model(cfg, 64).eval(), torch.rand(30, 64), torch.rand(30, 64)
    q1, q2 = model.classify({"x": x}), model.classify({"x": pair})
    expected = (q1 * (q1.log() - q2.log())).sum(-1).mean()
    torch.testing.assert_close(model({"x": x, "x_pair": pair}, "consistency")["consistency"], expected)
    assert expected > 1e-4
    assert model({"x": x, "x_pair": x.clone()}, "consistency")["consistency"].abs() < 1e-6


def test_neighbour_pairs_need_consistency_and_train(tmp_path):
    with pytest.raises(ConfigError, match="also set consistency > 0"):
        ImageConfig(model="clustering", neighbours=5).validate()
    with pytest.raises(ConfigError, match="neighbours must be a whole number >= 0"):
        ImageConfig(model="clustering", neighbours=-1, consistency=1.0).validate()
    cfg = tiny_image_config(model="clustering", num_classes=4, holdout=20, consistency=1.0, neighbours=3)
    history, _, prepared = train_images(cfg, tiny_train_config(epochs=2), tmp_path / "m.safetensors")
    assert all(np.isfinite(record["consistency"]) for record in history.steps)
    batch = prepared.dataset(cfg).batch(torch.arange(10))
    assert batch["x_pair"].shape == batch["x"].shape
    assert load_model(tmp_path / "m.safetensors").config.neighbours == 3
    deskewed = tiny_image_config(model="clustering", num_classes=4, consistency=1.0, neighbours=3, deskew=True)
    _, model, _ = train_images(deskewed, tiny_train_config(), tmp_path / "d.safetensors")
    assert model.encoder.deskew and load_model(tmp_path / "d.safetensors").model.encoder.deskew


def test_consistency_model_trains_and_reloads(tmp_path):
    cfg = tiny_image_config(model="semi-supervised", num_labels=20, latent_dim=3, holdout=20, input_noise=0.2,
                            consistency=1.0)
    history, _, _ = train_images(cfg, tiny_train_config(epochs=2), tmp_path / "m.safetensors")
    assert all(np.isfinite(record["consistency"]) for record in history.steps)
    assert load_model(tmp_path / "m.safetensors").config.consistency == 1.0


def test_restarts_continue_the_lowest_loss_candidate_as_if_trained_alone(tmp_path):
    cfg = tiny_image_config(model="clustering", num_classes=4, holdout=20, consistency=1.0, restarts=3,
                            restart_epochs=1)
    history, _, _ = train_images(cfg, tiny_train_config(epochs=3, seed=3), tmp_path / "m.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]  # the other candidates are gone
    meta = load_model(tmp_path / "m.safetensors").meta
    candidates = {c["seed"]: c["objective"] for c in meta["card"]["restarts"]}
    assert list(candidates) == [3, 1003, 2003] and len(set(candidates.values())) == 3
    chosen = meta["train_config"]["seed"]
    assert candidates[chosen] == min(candidates.values()) and chosen != 3  # seed 3 happens to lose here
    assert [c["seed"] for c in meta["card"]["restarts"] if c["kept"]] == [chosen]
    alone, _, _ = train_images(replace(cfg, restarts=1), tiny_train_config(epochs=3, seed=chosen),
                               tmp_path / "alone.safetensors")
    without_time = [[{k: v for k, v in r.items() if k != "time_s"} for r in h.epochs] for h in (history, alone)]
    assert len(history.epochs) == 3 and without_time[0] == without_time[1]
    with pytest.raises(ConfigError, match="restart_epochs=3 leaves nothing to continue"):
        train_images(replace(cfg, restart_epochs=3), tiny_train_config(epochs=3), tmp_path / "x.safetensors")
