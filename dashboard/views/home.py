"""Home: what the app does, the models it has loaded (with their cards), and a tour for a classroom."""

import pandas as pd
import streamlit as st

from aae_core.exceptions import AAELabError
from dashboard import components
from dashboard.services import models

RESULTS = {"held_out_accuracy": "held-out accuracy", "held_out_cluster_accuracy": "held-out accuracy",
           "conditional_accuracy": "conditional accuracy", "train_cluster_accuracy": "training-set accuracy",
           "reconstruction_bce": "reconstruction BCE"}  # card metric -> column of the digit models' table, in order

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
    results = pd.DataFrame([{RESULTS.get(name, name.replace("_", " ")): value for name, value in metrics.items()}
                            for metrics in digit_models.pop("metrics")], index=digit_models.index)
    order = list(dict.fromkeys(RESULTS.values()))
    results = results[sorted(results, key=lambda c: order.index(c) if c in order else len(order))]
    for column in results:  # one short column per result, "–" where a model has none
        share = "accuracy" in column
        results[column] = [("–" if pd.isna(v) else f"{v:.1%}" if share else f"{v:.3f}") for v in results[column]]
    digit_models = digit_models.join(results)
    digit_models["data"] = digit_models["data"].str.replace("t10k-images-idx3-ubyte.gz", "MNIST (t10k file)")
    digit_models["training time"] = digit_models.pop("training time (s)").map(
        lambda seconds: components.duration(seconds) if pd.notna(seconds) else "n/a")
    st.table(digit_models, hide_index=True)  # a static table wraps its cells: every column stays in view
    st.caption("Fully connected AAEs on scikit-learn's 8x8 digits and on MNIST (Makhzani et al. 2015, Sec. 3-6). "
               "Held-out accuracy: share of held-out images given their true digit, by the class head or by each "
               "cluster's majority digit; conditional accuracy: share of images drawn for a digit that a classifier "
               "reads as that digit; reconstruction BCE: binary cross-entropy per pixel (lower is better). Bench: "
               "`python bench/bench_images.py`.")

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
