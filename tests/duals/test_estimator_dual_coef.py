"""DualLogisticRegression's dual_coef_ against its coef_: the stated tolerance, not an identity."""
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

from dualgan.duals import DualLogisticRegression


@pytest.mark.parametrize("loss", ["logistic", "hinge"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_coef_and_dual_coef_agree_within_twice_the_certified_bound(loss, fit_intercept):
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)[:120]
    y = y[:120]
    sw = np.random.default_rng(0).uniform(0.5, 2.0, size=len(y))
    C = 0.1
    m = DualLogisticRegression(C=C, loss=loss, fit_intercept=fit_intercept).fit(X, y, sample_weight=sw)
    S = sw.sum()
    bound = 2 * np.sqrt(2 * C * S * m.duality_gap_)
    assert np.linalg.norm(m.coef_ - m.dual_coef_ @ X) <= bound
    # the box of the multipliers: 0 <= alpha_i <= C s_i with sign y_i (classes_[1] positive)
    alpha = np.abs(m.dual_coef_[0])
    assert np.all(alpha <= C * sw * (1 + 1e-12))
    sign = np.where(y == m.classes_[1], 1.0, -1.0)
    assert np.all(m.dual_coef_[0] * sign >= 0)
