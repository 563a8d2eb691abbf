"""Loss curves of :mod:`dashboard.services.training`."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard.services import training


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
    assert list(table.columns) == ["run", "step", "epoch", "time_s", "term", "value", "smoothed"]
    assert sorted(set(table["term"])) == ["discriminator", "kl", "reconstruction"]
    recon = table[table["term"] == "reconstruction"]
    assert recon["epoch"].tolist() == [0.5, 1.0]
    assert recon["smoothed"].iloc[1] == pytest.approx((0.25 * 3 + 0.5 * 1) / 0.75)
    assert training.loss_table({"empty": {"steps": []}}).empty
