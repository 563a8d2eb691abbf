"""Home: what the app does, the models it has loaded (with their cards), and a tour for a classroom."""

import pandas as pd
import streamlit as st

from aae_core.exceptions import AAELabError
from dashboard import components
from dashboard.services import models

st.title("aae-lab: adversarial autoencoders for molecules and digits")
st.markdown(
    "An **adversarial autoencoder** (Makhzani et al. 2015) squeezes each molecule, written as a SMILES string, "
    "into a short vector of numbers, its *latent code*, and learns to rebuild the molecule from it. "
    "A second network, the *discriminator*, keeps the cloud of codes shaped like a simple distribution we "
    "choose, the *prior*, so that any point drawn from the prior decodes into a plausible new molecule. "
    "Here you can look at that latent space, sample and filter new molecules, walk between two molecules, "
    "and train your own model. The Digits pages run the paper's own experiments on handwritten digits.")

st.subheader("Models")
refs, problems = models.shipped_models()
for message in problems:
    st.warning(f"A checkpoint was skipped: {message}")
for ref in models.model_choices().values():
    try:
        components.model_card(ref, models.load(ref))
    except AAELabError as err:
        st.warning(f"{ref.label} cannot be loaded: {err}")
if not refs:
    st.info(f"No shipped model in `{models.checkpoint_dir()}`: train one on the Train page.")

st.subheader("Digit models")
digit_models = models.digit_models_table()
if digit_models.empty:
    st.info("No shipped digit model: train one on the Digits Training page, or run `aae-lab train-images`.")
else:
    digit_models["training time"] = digit_models.pop("training time (s)").map(
        lambda seconds: components.duration(seconds) if pd.notna(seconds) else "n/a")
    digit_models["result"] = digit_models.pop("metrics").map(components.metrics_text)
    st.dataframe(digit_models, hide_index=True)
    st.caption("Fully connected AAEs on scikit-learn's 8x8 digits and on MNIST (Makhzani et al. 2015, Sec. 3-6); "
               "accuracies are on held-out images. Bench: `python bench/bench_images.py`.")

st.subheader("A 40-minute tour for a classroom")
tour = [
    ("views/divergences.py", "1. Divergences: why match distributions adversarially?",
     "Move one distribution away from another: KL explodes, Jensen-Shannon stops changing, Wasserstein keeps "
     "growing. The AAE's discriminator plays the Jensen-Shannon game."),
    ("views/latent_map.py", "2. Latent map: does the cloud of codes fill the prior?",
     "Blue dots are training molecules, the orange rings the prior. Colour by QED or logP: do similar "
     "molecules sit together? Paste a molecule you know and find its neighbours."),
    ("views/sample.py", "3. Sample & draw: new molecules from the prior",
     "Sample 1,000 molecules; compare validity at temperature 0.5, 1.0 and 1.5. Filter to drug-like, "
     "novel ones and put your favourites in the basket."),
    ("views/interpolate.py", "4. Interpolate: walk between two molecules",
     "Pick two molecules from your basket; does a straight line in latent space give a smooth chemical path?"),
    ("views/train.py", "5. Train: make your own (tiny) model",
     "Train with latent_dim = 2 for a minute: the latent map then shows the raw codes, with no projection."),
    ("views/compare.py", "6. Compare runs: what did training look like?",
     "Overlay the loss curves of your model and the shipped one; smooth them; set them beside the MOSES paper."),
]
tour += [
    ("views/digits_explore.py", "7. Digits Explore: the paper's pictures",
     "Pick digits_aae_swissroll: the codes follow the roll, and the decoder manifold turns one digit into "
     "another along it. Pick digits_supervised: in the style grid each row keeps one handwriting across all ten "
     "digits."),
    ("views/digits_accuracy.py", "8. Digits Accuracy: how far do 100 labels go?",
     "Compare the semi-supervised AAE with logistic regression on the same few labels."),
]
for page, label, task in tour:
    st.page_link(page, label=label)
    st.caption(task)
