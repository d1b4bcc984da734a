"""DualLogisticRegression: scikit-learn's estimator checks, and agreement with scikit-learn's own solvers
(LogisticRegression, LinearSVC, SVC) on scikit-learn's data sets, in float64."""
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC
from sklearn.utils.estimator_checks import parametrize_with_checks

from dualgan.duals import DualLogisticRegression

RTOL = 1e-6  # the agreement asked of coef_: max |ours - ref| / max |ref|


@parametrize_with_checks([DualLogisticRegression(), DualLogisticRegression(loss="hinge"),
                          DualLogisticRegression(fit_intercept=False)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _data(name):
    """scikit-learn's data sets as binary problems, standardised (the usual pipeline's first step)."""
    if name == "breast_cancer":
        X, y = load_breast_cancer(return_X_y=True)
    elif name == "iris":  # versicolor vs virginica: not separable
        X, y = load_iris(return_X_y=True)
        X, y = X[y > 0], y[y > 0]
    elif name == "wine":
        X, y = load_wine(return_X_y=True)
        X, y = X[y < 2], y[y < 2]
    else:  # digits 3 vs 8, 64 pixels (some constant)
        X, y = load_digits(return_X_y=True)
        keep = (y == 3) | (y == 8)
        X, y = X[keep], y[keep]
    return StandardScaler().fit_transform(X), y


def _weights(n, seed=0):
    return np.random.default_rng(seed).uniform(0.5, 2.0, n)


def _rel(ours, ref):
    return float(np.abs(ours - ref).max() / np.abs(ref).max())


def _sklearn_objective(loss, C, sw, X, y, coef, intercept):
    """scikit-learn's objective 1/2 ||w||^2 + C sum_i s_i loss(y_i (w.x_i + b)), written out here."""
    s = np.where(y == np.unique(y)[1], 1.0, -1.0) * (X @ coef.ravel() + intercept[0])
    losses = np.logaddexp(0.0, -s) if loss == "logistic" else np.maximum(0.0, 1.0 - s)
    return 0.5 * float(coef.ravel() @ coef.ravel()) + C * float(sw @ losses)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("C", [0.1, 1.0])
@pytest.mark.parametrize("name", ["breast_cancer", "iris", "wine", "digits"])
def test_logistic_matches_sklearn_logistic_regression(name, C, fit_intercept):
    X, y = _data(name)
    sw = _weights(len(y))
    ours = DualLogisticRegression(C=C, fit_intercept=fit_intercept, tol=1e-14).fit(X, y, sample_weight=sw)
    # Newton-Cholesky: exact Newton steps, so at tol 1e-14 it is accurate far beyond 1e-6; like every
    # solver of LogisticRegression but liblinear it does not penalise the intercept
    ref = LogisticRegression(C=C, fit_intercept=fit_intercept, solver="newton-cholesky", tol=1e-14,
                             max_iter=1000).fit(X, y, sample_weight=sw)
    assert ours.converged_ and -1e-15 <= ours.duality_gap_ <= 1e-14  # a gap below 0 is rounding
    assert _rel(ours.coef_, ref.coef_) <= RTOL
    assert abs(ours.intercept_[0] - ref.intercept_[0]) <= RTOL * max(1.0, abs(ref.intercept_[0]))
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), rtol=0, atol=1e-6)
    assert np.array_equal(ours.classes_, ref.classes_)
    # the certificate in scikit-learn's units: our objective is within C * S * gap of the optimum,
    # so no reference can beat it by more than that (plus rounding of the sums)
    S = sw.sum()
    p_ours = _sklearn_objective("logistic", C, sw, X, y, ours.coef_, ours.intercept_)
    p_ref = _sklearn_objective("logistic", C, sw, X, y, ref.coef_, ref.intercept_)
    assert p_ours <= p_ref + C * S * max(ours.duality_gap_, 0.0) + 1e-12 * p_ref


@pytest.mark.parametrize("name,C", [("breast_cancer", 0.1), ("iris", 0.1), ("iris", 1.0), ("wine", 0.1)])
def test_hinge_without_intercept_matches_linear_svc(name, C):
    X, y = _data(name)
    sw = _weights(len(y), seed=1)
    ours = DualLogisticRegression(C=C, loss="hinge", fit_intercept=False, tol=1e-11).fit(X, y, sample_weight=sw)
    # liblinear's dual coordinate descent on the same objective (LinearSVC would penalise an intercept,
    # hence the comparison without one); it converges at tol 1e-10 on these in well under its cap
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        ref = LinearSVC(loss="hinge", C=C, fit_intercept=False, dual=True, tol=1e-10,
                        max_iter=10**6).fit(X, y, sample_weight=sw)
    assert ours.converged_ and ours.intercept_[0] == 0.0
    assert _rel(ours.coef_, ref.coef_) <= RTOL


@pytest.mark.parametrize("name,C", [("breast_cancer", 0.1), ("iris", 0.1), ("iris", 1.0), ("wine", 0.1)])
def test_hinge_with_intercept_matches_svc_linear_kernel(name, C):
    X, y = _data(name)
    sw = _weights(len(y), seed=2)
    ours = DualLogisticRegression(C=C, loss="hinge", tol=1e-11).fit(X, y, sample_weight=sw)
    # libsvm: the same objective with an unpenalised intercept; sample_weight rescales C per sample
    ref = SVC(kernel="linear", C=C, tol=1e-12).fit(X, y, sample_weight=sw)
    assert ours.converged_
    assert _rel(ours.coef_, ref.coef_) <= RTOL
    assert np.array_equal(ours.predict(X), ref.predict(X))
    assert not hasattr(ours, "predict_proba")  # a hinge model has no probabilities
    # our objective is at least as good as libsvm's (up to its certificate)
    p_ours = _sklearn_objective("hinge", C, sw, X, y, ours.coef_, ours.intercept_)
    p_ref = _sklearn_objective("hinge", C, sw, X, y, ref.coef_, ref.intercept_)
    assert p_ours <= p_ref + C * sw.sum() * ours.duality_gap_ + 1e-12 * p_ref


def test_dual_coef_is_svc_convention():
    X, y = _data("iris")
    sw = _weights(len(y), seed=3)
    C = 1.0
    ours = DualLogisticRegression(C=C, loss="hinge", tol=1e-12).fit(X, y, sample_weight=sw)
    ref = SVC(kernel="linear", C=C, tol=1e-12).fit(X, y, sample_weight=sw)
    alpha = ours.dual_coef_[0]
    np.testing.assert_allclose(ours.dual_coef_ @ X, ours.coef_, rtol=0, atol=1e-12)
    assert np.all(np.abs(alpha) <= C * sw * (1 + 1e-12))
    assert np.all(np.sign(alpha[np.abs(alpha) > 1e-9]) == np.where(y == 2, 1, -1)[np.abs(alpha) > 1e-9])
    # SVC keeps y_i alpha_i of its support vectors only; ours are ~0 elsewhere
    np.testing.assert_allclose(alpha[ref.support_], ref.dual_coef_[0], rtol=0, atol=1e-5 * np.abs(ref.dual_coef_).max())
    others = np.setdiff1d(np.arange(len(y)), ref.support_)
    assert np.abs(alpha[others]).max() <= 1e-9


def test_sample_weight_zero_drops_and_integer_weight_repeats():
    X, y = _data("wine")
    rng = np.random.default_rng(4)
    sw = rng.integers(0, 3, len(y)).astype(float)
    weighted = DualLogisticRegression(C=0.5, tol=1e-13).fit(X, y, sample_weight=sw)
    reps = sw.astype(int)
    repeated = DualLogisticRegression(C=0.5, tol=1e-13).fit(np.repeat(X, reps, axis=0), np.repeat(y, reps))
    assert _rel(weighted.coef_, repeated.coef_) <= 1e-7
    assert abs(weighted.intercept_[0] - repeated.intercept_[0]) <= 1e-7
    assert np.all(weighted.dual_coef_[0, sw == 0] == 0.0)


@pytest.mark.parametrize("labels", [("cat", "dog"), (False, True), (-1, 1), (7, 3)])
def test_labels_of_any_two_values(labels):
    X, y01 = _data("iris")
    y01 = (y01 == 2).astype(int)
    y = np.array(labels, dtype=object if isinstance(labels[0], str) else None)[y01]
    reference = DualLogisticRegression(C=1.0, tol=1e-13).fit(X, y01)
    est = DualLogisticRegression(C=1.0, tol=1e-13).fit(X, y)
    assert list(est.classes_) == sorted(labels)
    sign = 1.0 if sorted(labels)[1] == labels[1] else -1.0  # classes_[1] is the positive class
    np.testing.assert_allclose(est.coef_, sign * reference.coef_, rtol=1e-9, atol=1e-12)
    assert set(est.predict(X)) <= set(labels)
    assert np.array_equal(est.predict(X) == labels[1], reference.predict(X) == 1)
    proba = est.predict_proba(X)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-15)
    np.testing.assert_allclose(np.exp(est.predict_log_proba(X)), proba, rtol=1e-12)


def test_in_a_pipeline_and_cross_validation():
    X, y = load_breast_cancer(return_X_y=True)
    scores = cross_val_score(make_pipeline(StandardScaler(), DualLogisticRegression(C=0.1)), X, y, cv=3)
    reference = cross_val_score(make_pipeline(StandardScaler(), LogisticRegression(C=0.1, tol=1e-10)), X, y, cv=3)
    np.testing.assert_array_equal(scores, reference)  # the same models, so the same predictions


def test_not_converged_warns_with_the_gap():
    X, y = _data("breast_cancer")
    with pytest.warns(ConvergenceWarning, match="duality gap"):
        est = DualLogisticRegression(max_iter=1).fit(X, y)
    assert not est.converged_ and est.duality_gap_ > est.tol and est.n_iter_[0] == 1


def test_tags_declare_binary_dense_only():
    tags = DualLogisticRegression().__sklearn_tags__()
    assert tags.estimator_type == "classifier"
    assert tags.classifier_tags.multi_class is False and tags.input_tags.sparse is False


@pytest.mark.parametrize("params,match", [
    ({"C": 0.0}, "C must be a finite number > 0"),
    ({"C": np.inf}, "C must be a finite number > 0"),
    ({"C": "1"}, "C must"),
    ({"loss": "squared_hinge"}, "loss must be one of"),
    ({"method": "sgd"}, "method must be one of"),
    ({"method": "lbfgsb"}, "does not support .*fit_intercept=False"),
    ({"tol": -1.0}, "tol must be"),
    ({"max_iter": 0}, "max_iter must be"),
    ({"fit_intercept": "yes"}, "fit_intercept must be"),
])
def test_bad_parameters_are_named(params, match):
    X, y = _data("iris")
    with pytest.raises(ValueError, match=match):
        DualLogisticRegression(**params).fit(X, y)


def test_bad_data_is_named():
    X, y = _data("iris")
    with pytest.raises(ValueError, match="Only binary classification is supported"):
        DualLogisticRegression().fit(*load_iris(return_X_y=True))
    with pytest.raises(ValueError, match="sample_weight must be finite and >= 0"):
        DualLogisticRegression().fit(X, y, sample_weight=-np.ones(len(y)))
    with pytest.raises(ValueError, match="sample_weight must be 1-d of length"):
        DualLogisticRegression().fit(X, y, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="only one class"):
        DualLogisticRegression().fit(X, y, sample_weight=(y == 1).astype(float))
    est = clone(DualLogisticRegression()).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        est.predict(X[:, :2])
