"""Tests of the dashboard's figure builders (plain plotly figures, no Streamlit session needed)."""

from __future__ import annotations

import numpy as np

from aae_core.latent import prior_overlay, project
from aae_core.priors import make_prior
from dashboard import components


def test_digits_latent_figure_colours_each_digit_and_keeps_the_rings_round():
    rng = np.random.default_rng(0)
    z, labels = rng.normal(0, 5, (300, 2)), np.repeat(np.arange(10), 30)
    prior = make_prior({"name": "gaussian", "sigma": 5.0, "dim": 2})
    fig = components.digits_latent_figure(z, labels, prior_overlay(prior, project(z, "raw")))
    points = [trace for trace in fig.data[1:] if trace.mode == "markers"]
    assert [trace.name for trace in points] == [str(d) for d in range(10)]
    assert len({trace.marker.color for trace in points}) == 10  # no two digits share a colour
    assert sum(len(trace.x) for trace in points) == 300
    rings = [trace for trace in fig.data[1:] if trace.mode == "lines"]
    assert len(rings) == 3 and fig.data[0].type == "contour"  # the density under the points, 1-3 sigma over them
    radius = np.hypot(rings[0].x, rings[0].y)
    np.testing.assert_allclose(radius, radius[0], rtol=1e-6)  # centred circles in data units...
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis.scaleratio == 1  # ...drawn with equal units


def test_digits_latent_figure_without_labels_has_one_series():
    z = np.random.default_rng(1).normal(size=(50, 2))
    prior = make_prior({"name": "gaussian", "sigma": 1.0, "dim": 2})
    fig = components.digits_latent_figure(z, None, prior_overlay(prior, project(z, "raw")))
    assert [trace.name for trace in fig.data[1:] if trace.mode == "markers"] == ["images"]


def test_class_table_counts_images_by_cluster_and_digit_and_keeps_empty_rows():
    predicted, labels = np.array([0, 0, 0, 2, 2, 3]), np.array([4, 4, 9, 1, 1, 1])
    heatmap = components.class_table_figure(predicted, labels, num_classes=5, clustering=True).data[0]
    assert list(heatmap.x) == [str(d) for d in range(10)]
    assert list(heatmap.y) == ["cluster 0 → 4", "cluster 1", "cluster 2 → 1", "cluster 3 → 1", "cluster 4"]
    counts = np.asarray(heatmap.z)
    assert counts.shape == (5, 10) and counts.sum() == 6
    assert counts[0, 4] == 2 and counts[0, 9] == 1 and counts[2, 1] == 2 and counts[3, 1] == 1


def test_class_table_of_a_classifier_names_the_predicted_class():
    heatmap = components.class_table_figure(np.array([1, 0]), np.array([1, 1]), num_classes=2, clustering=False).data[0]
    assert list(heatmap.y) == ["predicted 0", "predicted 1"] and np.asarray(heatmap.z).tolist() == [[0, 1], [0, 1]]
