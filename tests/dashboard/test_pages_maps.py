"""AppTest of what the Latent map and Interpolate pages say about the model's latent space: the prior-fit numbers
beside the map, the prior samples drawn above the codes, and how the model reads the user's molecules back
(the reconstruction next to the input, its Tanimoto similarity, and a plain warning when it differs)."""

from __future__ import annotations

import json

from tests.dashboard.conftest import app, assert_clean

KNOWN = "CC1Oc2ccc(Cl)cc2N(CC(O)CO)C1=O"  # the first molecule of the MOSES train cut: in every tiny vocabulary


def texts(elements) -> str:
    return " ".join(str(e.value) for e in elements)


def test_latent_map_prints_the_prior_fit_and_draws_the_prior_above_the_codes():
    at = app("latent_map", map_prior=True)
    assert_clean(at)
    metrics = {m.label: m.value for m in at.metric}
    assert set(metrics) == {"two-sample ROC AUC", "MMD² to the prior"}
    assert 0.0 <= float(metrics["two-sample ROC AUC"]) <= 1.0
    assert "A classifier" in texts(at.markdown) and "0.5 would mean" in texts(at.markdown)
    assert "Two sets of prior samples: MMD²" in texts(at.caption)
    names = [trace.get("name") for trace in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]]
    assert names.index("prior samples z ~ p(z)") > names.index("training molecules, encoded")


def test_latent_map_shows_how_the_model_reads_my_molecule():
    at = app("latent_map")
    at.text_input(key="map_smiles").input(KNOWN).run()
    assert_clean(at)
    captions = [image.captions[0] for image in at.get("image")]
    assert captions[0] == "your molecule (the red star)" and captions[1].startswith("the model's reading · Tanimoto ")
    said = texts(at.warning) + texts(at.success)
    assert said.startswith("The model decodes your molecule")
    assert "back to itself" in said or "neighbours and any path from it start from that" in said


def test_interpolate_shows_each_endpoint_read_back_with_a_plain_warning():
    at = app("interpolate")
    at.text_input(key="interp_start").input(KNOWN)
    at.text_input(key="interp_end").input("CCO").run()  # too small for the tiny model to read back
    assert_clean(at)
    captions = [image.captions[0] for image in at.get("image")]
    assert captions[:4] == ["the start: your molecule", captions[1], "the end: your molecule", captions[3]]
    assert all(captions[i].startswith("the model's reading · Tanimoto ") for i in (1, 3))
    assert sum(c.startswith("t = ") for c in captions) == 8
    end = texts(at.warning) + texts(at.success)
    assert "The model decodes the end's code to a" in end and "the path ends at that" in end
    assert "nearby molecule" not in end
