r"""The certified dual solver behind scikit-learn's estimator API.

:class:`DualLogisticRegression` fits an L2-regularised linear classifier,
logistic (as :class:`sklearn.linear_model.LogisticRegression`) or hinge (as
:class:`sklearn.svm.SVC` with ``kernel="linear"``), by solving its concave dual
with :func:`dualgan.duals.solve` and reports the duality gap that certifies
the answer. Its parameters mean what scikit-learn's mean; in particular ``C``
is scikit-learn's *inverse* regularisation strength, not the L2 weight of
:class:`~dualgan.duals.LinearDual`.

The objective, with sample weights :math:`s_i \ge 0` (1 by default) and
:math:`y_i = \pm 1` (``+1`` for ``classes_[1]``), is scikit-learn's

.. math::

    \min_{w,b}\; \tfrac12\|w\|^2 + C\sum_i s_i\,\ell\big(y_i(w^\top x_i + b)\big),
    \qquad \ell(z) = \log(1 + e^{-z}) \text{ or } \max(0, 1 - z),

with :math:`b` free (not penalised) when ``fit_intercept=True`` and
:math:`b = 0` otherwise. Divided by :math:`CS`, :math:`S = \sum_i s_i`, it is
the :class:`~dualgan.duals.LinearDual` problem with L2 weight
:math:`1/(CS)` and per-sample weights :math:`a_i = s_i/S`:

.. math::

    J(w, b) = \frac{1}{2CS}\|w\|^2 + \frac1S\sum_i s_i\,\ell\big(y_i(w^\top x_i + b)\big),

the weighted mean loss plus the penalty, whose value does not grow with the
number of samples. ``tol`` and ``duality_gap_`` are measured on :math:`J`
(multiply by :math:`CS` for the gap of scikit-learn's objective).
"""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model._base import LinearClassifierMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import validate_data

from .._checks import check_bool
from .._threads import with_thread_policy
from .problem import DISCRIMINATOR_LOSSES, LinearDual
from .registry import SOLVERS, solve
from .result import DualSolverWarning

__all__ = ["DualLogisticRegression"]


def _is_logistic(estimator) -> bool:
    return estimator.loss == "logistic"


class DualLogisticRegression(LinearClassifierMixin, BaseEstimator):
    r"""Binary L2-regularised logistic regression (or linear SVM) solved through its certified dual.

    A scikit-learn classifier: ``fit``, ``decision_function``, ``predict``,
    ``predict_proba`` (logistic loss only), ``score``; it works in pipelines,
    grid searches and ``clone``. Binary only, with labels of any two values
    (``classes_[1]`` is the positive class).

    Parameters
    ----------
    C : float, default=1.0
        Inverse regularisation strength, > 0 and finite, exactly as in
        :class:`sklearn.linear_model.LogisticRegression` and
        :class:`sklearn.svm.SVC`: the objective is
        :math:`\tfrac12\|w\|^2 + C\sum_i s_i\ell(y_i(w^\top x_i + b))`; smaller
        values regularise more. (:class:`~dualgan.duals.LinearDual` is
        built with L2 weight ``1 / (C * sum(sample_weight))``.)
    loss : {"logistic", "hinge"}, default="logistic"
        ``"logistic"``: :math:`\log(1 + e^{-z})`, the model of
        ``LogisticRegression(l1_ratio=0)``. ``"hinge"``: :math:`\max(0, 1 - z)`,
        the model of ``SVC(kernel="linear")`` (or of
        ``LinearSVC(loss="hinge")`` with ``fit_intercept=False``); it has no
        ``predict_proba``.
    fit_intercept : bool, default=True
        Fit an unpenalised bias ``b`` (the dual gains the constraint
        :math:`\sum_i\lambda_i y_i = 0`). ``LogisticRegression`` does not
        penalise its intercept either; ``LinearSVC`` does, so it matches only
        with ``fit_intercept=False``.
    method : str, default="newton"
        Dual solver of :func:`dualgan.duals.solve` (a name of :data:`dualgan.duals.SOLVERS`): ``"newton"`` (ours),
        ``"casadi"`` or ``"ipopt"`` (Ipopt), ``"lbfgsb"`` (scipy; no intercept).
    tol : float, default=1e-10
        Target duality gap of the normalised objective :math:`J` (module
        docstring), > 0. The fit stops once the gap is certified below it.
    max_iter : int or None, default=None
        Iteration cap of the solver (its own default when None).

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The two class labels, sorted; ``classes_[1]`` is the positive class.
    coef_ : ndarray of shape (1, n_features), float64
        The weight vector :math:`w`.
    intercept_ : ndarray of shape (1,), float64
        The bias :math:`b` (0.0 when ``fit_intercept=False``).
    dual_coef_ : ndarray of shape (1, n_samples), float64
        :math:`y_i\alpha_i` for every training sample in the order given,
        with :math:`0 \le \alpha_i \le C s_i` (scikit-learn's SVC convention,
        there kept for the support vectors only); 0 for samples of weight 0.
        ``dual_coef_ @ X`` is the weight vector of the multipliers and
        ``coef_`` the solver's: both are within the certified bound of
        :math:`w^*`, so they agree to
        :math:`2\sqrt{2\,CS\cdot\text{duality\_gap\_}}`, not bit for bit.
    n_iter_ : ndarray of shape (1,), int
        Iterations of the dual solver.
    duality_gap_ : float
        Certified duality gap :math:`J(w, b) - D(\lambda) \ge 0` of the
        normalised objective at the returned solution. As :math:`J` is
        :math:`1/(CS)`-strongly convex in :math:`w`,
        :math:`\|w - w^*\| \le \sqrt{2\,CS\cdot\text{duality\_gap\_}}`.
    converged_ : bool
        True when ``duality_gap_ <= tol`` was certified (otherwise a
        :class:`~sklearn.exceptions.ConvergenceWarning` was emitted).
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when ``X`` had string column names.

    Raises
    ------
    ValueError
        From ``fit``: a parameter out of range, more or fewer than two classes
        (after dropping samples of weight 0), negative or non-finite sample
        weights, or input scikit-learn's validation refuses (NaN, inf,
        complex, empty, sparse).

    See Also
    --------
    dualgan.duals.LinearDual : the dual problem it builds.
    sklearn.linear_model.LogisticRegression, sklearn.svm.SVC : the references it matches.

    References
    ----------
    .. [1] Y. Li, A. Schwing, K.-C. Wang, R. Zemel, "Dualing GANs", Advances in
       Neural Information Processing Systems (NeurIPS), 2017.
    .. [2] H.-F. Yu, F.-L. Huang, C.-J. Lin, "Dual coordinate descent methods for
       logistic regression and maximum entropy models", Machine Learning 85, 2011.
    .. [3] C. Cortes, V. Vapnik, "Support-vector networks", Machine Learning 20, 1995.
    .. [4] L. Buitinck et al., "API design for machine learning software:
       experiences from the scikit-learn project", ECML PKDD Workshop on
       Languages for Data Mining and Machine Learning, 2013.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from dualgan.duals import DualLogisticRegression
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = make_pipeline(StandardScaler(), DualLogisticRegression(C=0.1)).fit(X, y)
    >>> est = clf[-1]
    >>> bool(est.converged_ and est.duality_gap_ <= 1e-10), round(clf.score(X, y), 3)
    (True, 0.988)
    """

    def __init__(self, C: float = 1.0, *, loss: str = "logistic", fit_intercept: bool = True,
                 method: str = "newton", tol: float = 1e-10, max_iter: int | None = None):
        self.C = C
        self.loss = loss
        self.fit_intercept = fit_intercept
        self.method = method
        self.tol = tol
        self.max_iter = max_iter

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False  # binary only: a GAN discriminator's problem
        tags.input_tags.sparse = False            # the dual solvers take dense features
        return tags

    # ------------------------------------------------------------------ fit
    @with_thread_policy  # torch and BLAS threads: the library's one policy (dualgan/_threads.py)
    def fit(self, X, y, sample_weight=None):
        """Fit the classifier by solving its dual to a certified gap.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training features (converted to float64; dense only).
        y : array-like of shape (n_samples,)
            Labels of exactly two distinct values (any type scikit-learn accepts
            as class labels: ints, strings, bools).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative finite weights :math:`s_i` multiplying each sample's
            loss (1 when None). Samples of weight 0 are left out of the problem.

        Returns
        -------
        self : DualLogisticRegression
            The fitted estimator.

        Raises
        ------
        ValueError
            See the class docstring.
        """
        C, tol, max_iter = self._check_params()
        X, y = validate_data(self, X, y, accept_sparse=False, dtype=np.float64, y_numeric=False)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if self.classes_.shape[0] > 2:
            raise ValueError(f"Only binary classification is supported. The type of the target is "
                             f"{type_of_target(y, input_name='y')} ({self.classes_.shape[0]} classes); fit one "
                             f"estimator per pair of classes, e.g. "
                             f"sklearn.multiclass.OneVsRestClassifier(DualLogisticRegression())")
        n = X.shape[0]
        sw = self._check_sample_weight(sample_weight, n)
        keep = sw > 0
        pos = keep & (y == self.classes_[-1])
        neg = keep & (y == self.classes_[0]) & (self.classes_.shape[0] == 2)
        if not pos.any() or not neg.any():
            present = np.unique(y[keep])
            raise ValueError(f"DualLogisticRegression needs samples of 2 classes with positive sample_weight, but "
                             f"the data contains only one class: {present.tolist()}; give y two classes")
        S = float(sw.sum())
        problem = LinearDual(X[pos], X[neg], 1.0 / (C * S), loss=self.loss, bias=bool(self.fit_intercept),
                             weights=(sw[pos] / S, sw[neg] / S))
        lam0 = None
        if self.fit_intercept:
            # with a bias the dual needs sum_i y_i lambda_i = 0; the solvers' cold start a/2 meets it only
            # when both classes carry the same total weight (LinearDual's default 1/n, 1/m), so start at
            # lambda_i = a_i t / A_class, t = min(A_pos, A_neg) / 2: feasible and inside the box
            a_pos, a_neg = sw[pos] / S, sw[neg] / S
            t = 0.5 * min(a_pos.sum(), a_neg.sum())
            lam0 = (a_pos * (t / a_pos.sum()), a_neg * (t / a_neg.sum()))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DualSolverWarning)
            res = solve(problem, method=self.method, tol=tol, max_iter=max_iter, lam0=lam0, warn=False)
        w = np.asarray(res.w, dtype=np.float64).reshape(-1)
        self.coef_ = w.reshape(1, -1)
        self.intercept_ = np.array([float(res.b) if res.b is not None else 0.0])
        dual = np.zeros(n)
        dual[pos] = C * S * np.asarray(res.lam_real, dtype=np.float64)
        dual[neg] = -C * S * np.asarray(res.lam_fake, dtype=np.float64)
        self.dual_coef_ = dual.reshape(1, -1)
        self.n_iter_ = np.array([int(res.iterations)])
        self.duality_gap_ = float(res.gap)
        # the estimator's promise is the gap alone (solve's status also asks sqrt(2 gap / C) <= w_rtol ||w||,
        # which a weight vector near 0 cannot meet however small the gap)
        self.converged_ = bool(res.gap <= tol)
        if not self.converged_:
            warnings.warn(f"DualLogisticRegression: the {self.method!r} dual solver stopped with duality gap "
                          f"{res.gap:.3g} > tol={tol:.3g} after {res.iterations} iterations ({res.status}); "
                          f"raise max_iter, loosen tol, or scale the features (e.g. StandardScaler)",
                          ConvergenceWarning, stacklevel=2)
        return self

    # ------------------------------------------------------------------ probabilities
    @available_if(_is_logistic)
    def predict_proba(self, X):
        r"""Class probabilities :math:`\sigma(\pm(w^\top x + b))` (logistic loss only).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, 2)
            Column ``k`` is the probability of ``classes_[k]``.
        """
        z = self.decision_function(X)  # scikit-learn's: it checks that the model is fitted, and X
        return np.column_stack([expit(-z), expit(z)])

    @available_if(_is_logistic)
    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`, computed without underflow (logistic loss only).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, 2)
            Column ``k`` is the log-probability of ``classes_[k]``; finite where
            :meth:`predict_proba` rounds a probability to 0 (a score of -800 gives -800).
        """
        z = self.decision_function(X)
        return np.column_stack([-np.logaddexp(0.0, z), -np.logaddexp(0.0, -z)])

    # ------------------------------------------------------------------ validation
    def _check_params(self):
        C = self.C
        if isinstance(C, bool) or not isinstance(C, numbers.Real) or not (math.isfinite(C) and C > 0):
            raise ValueError(f"C must be a finite number > 0 (scikit-learn's inverse regularisation strength), "
                             f"got {C!r}; for a weaker penalty pass a larger finite C")
        if self.loss not in DISCRIMINATOR_LOSSES:
            raise ValueError(f"loss must be one of {list(DISCRIMINATOR_LOSSES)}, got {self.loss!r}")
        check_bool(self.fit_intercept, "fit_intercept")
        methods = SOLVERS.names()
        if self.method not in methods:
            raise ValueError(f"method must be one of {methods}, got {self.method!r}")
        able = SOLVERS.names(losses=self.loss, **({"bias": True} if self.fit_intercept else {}))
        if self.method not in able:
            raise ValueError(f"method={self.method!r} does not support loss={self.loss!r} with "
                             f"fit_intercept={bool(self.fit_intercept)}; choose one of {able} or set "
                             f"fit_intercept=False")
        tol = self.tol
        if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not (math.isfinite(tol) and tol > 0):
            raise ValueError(f"tol must be a finite number > 0 (the target duality gap), got {tol!r}")
        max_iter = self.max_iter
        if max_iter is not None and (isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral)
                                     or max_iter < 1):
            raise ValueError(f"max_iter must be a positive integer or None (the solver's default), got {max_iter!r}")
        return float(C), float(tol), None if max_iter is None else int(max_iter)

    @staticmethod
    def _check_sample_weight(sample_weight, n: int) -> np.ndarray:
        if sample_weight is None:
            return np.ones(n)
        if isinstance(sample_weight, numbers.Number) and not isinstance(sample_weight, bool):
            sw = np.full(n, float(sample_weight))
        else:
            try:
                sw = np.asarray(sample_weight, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"sample_weight must be numbers, got {sample_weight!r} ({exc})") from exc
        if sw.ndim != 1 or sw.shape[0] != n:
            raise ValueError(f"sample_weight must be 1-d of length n_samples={n}, got shape {sw.shape}; "
                             f"pass one weight per row of X")
        if not np.isfinite(sw).all() or (sw < 0).any():
            raise ValueError("sample_weight must be finite and >= 0; drop or zero-weight the samples to ignore")
        if not (sw > 0).any():
            raise ValueError("sample_weight is zero for every sample; give at least one sample of each class a "
                             "positive weight")
        return sw
