"""Every shipped checkpoint loads with today's code and configuration defaults, and generates; the unsupervised
digit models' codes fill their prior; the classifiers score as their cards say."""

from pathlib import Path

import pytest
import torch

from aae_core.checkpoints import load_checkpoint
from aae_core.images.accuracy_table import read_accuracy_table
from aae_core.images.generation import latent_codes
from aae_core.images.metrics import cluster_accuracy, conditional_accuracy, predict
from aae_core.images.training import ACCURACY_TABLE, images_to_show
from aae_core.latent import prior_match
from aae_core.molecules import chem
from aae_core.molecules.generation import MoleculeGenerator
from aae_core.registry import load_model

SHIPPED_DIR = Path(__file__).resolve().parents[1] / "checkpoints"
SHIPPED = sorted(SHIPPED_DIR.glob("*.safetensors"))


def test_checkpoints_are_shipped():
    assert any(path.name == "aae_moses.safetensors" for path in SHIPPED)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.stem)
def test_shipped_checkpoint_loads_and_generates(path):
    loaded = load_model(path)
    card = loaded.meta["card"]
    assert card["command"].startswith("aae-lab") and "/work/" not in card["command"].split(" --data ")[0]
    assert not load_checkpoint(path).optimizer_states  # shipped files are inference-only
    if loaded.meta.get("modality") == "images":
        return
    smiles = MoleculeGenerator(loaded).sample(100, seed=0)
    assert len(smiles) == 100 and smiles == MoleculeGenerator(loaded).sample(100, seed=0)
    assert any(chem.mol_from_smiles(s) is not None for s in smiles)  # even the weakest (AE, 4% valid)
    codes = MoleculeGenerator(loaded).encode(["CCO", "c1ccccc1O"])
    assert codes.shape == (2, loaded.config.latent_dim) and torch.isfinite(codes).all()


@pytest.mark.parametrize("name", ["digits_aae_gaussian", "digits_aae_swissroll", "digits_supervised"])
def test_shipped_digit_codes_fill_their_prior(name):
    """Held-out 8x8 digits encode onto the prior (the 150-epoch swiss-roll model, codes beside the roll, had
    MMD² 0.024 here)."""
    loaded = load_model(SHIPPED_DIR / f"{name}.safetensors")
    rows, _ = images_to_show(loaded.config, tuple(loaded.meta["image_shape"]))
    match = prior_match(loaded.model.prior, latent_codes(loaded.model, rows.images))
    assert match["mmd2"] < 0.01 and abs(match["floor"]) < 0.01


@pytest.mark.parametrize("name", ["digits_mnist_semisupervised", "digits_mnist_clustering", "digits_semisupervised"])
def test_shipped_classifiers_score_as_their_card_says(name):
    """Rebuilt from the checkpoint alone (encoder options such as deskew included), each model classifies its
    held-out images as well as its card reports. A clustering model's card maps clusters with the training images,
    not shipped, so here the held-out images map them (which can only match or beat the card, up to noise)."""
    loaded = load_model(SHIPPED_DIR / f"{name}.safetensors")
    rows, _ = images_to_show(loaded.config, tuple(loaded.meta["image_shape"]))
    predicted, metrics = predict(loaded.model, rows.images), loaded.meta["card"]["metrics"]
    if loaded.config.model == "clustering":
        assert cluster_accuracy(predicted, rows.labels) >= metrics["held_out_cluster_accuracy"] - 0.005
    else:
        assert float((predicted == rows.labels).mean()) == pytest.approx(metrics["held_out_accuracy"], abs=1e-9)


@pytest.mark.parametrize("name", ["digits_mnist_semisupervised", "digits_semisupervised"])
def test_shipped_semi_supervised_decoders_draw_the_class_asked_for(name):
    """The style grid separates class from style: the model's own classifier reads at least 90% of the images
    decoded with class c as c (a 10-D style code gave 38% / 50%: the style carried the class)."""
    loaded = load_model(SHIPPED_DIR / f"{name}.safetensors")
    accuracy = conditional_accuracy(loaded.model)
    assert accuracy >= 0.9 and accuracy == pytest.approx(loaded.meta["card"]["metrics"]["conditional_accuracy"])


@pytest.mark.parametrize("name, dataset", [("digits_semisupervised", "digits"),
                                           ("digits_mnist_semisupervised", "mnist-8k")])
def test_shipped_accuracy_table_holds_the_shipped_models_as_seed_0(name, dataset):
    """The Accuracy page's seed-0 row with 100 labels is the shipped model (bench/bench_images.py --ship)."""
    table = read_accuracy_table(ACCURACY_TABLE).query("dataset == @dataset and labels == 100 and seed == 0")
    card = load_model(SHIPPED_DIR / f"{name}.safetensors").meta["card"]
    assert table["accuracy"].tolist() == [pytest.approx(card["metrics"]["held_out_accuracy"])]
