"""Feature maps for linear discriminators (eqs. (1.1)-(1.3) and (6.2) of the theory page, docs/theory.md): any differentiable ``nn.Module`` works.

* :class:`RBF`: Gaussian RBF features on anchor points (toy data);
* :class:`RBFWithCoordinates`: RBF features plus the scaled coordinates and
  squared norm (a score gradient that does not vanish far from the anchors);
  :func:`rbf_sigma` converts bandwidth conventions;
* :class:`RandomFourierFeatures`, :class:`RandomCNNFeatures`: random features;
* :class:`ClassifierFeatures`: hidden activations of a trained classifier, e.g.
  :func:`digits_classifier` (a small CNN trained on scikit-learn's 8x8 digits).
"""
from .rbf import RBF
from .rbf_coords import RBF_CONVENTIONS, RBFWithCoordinates, escaped_fraction, rbf_sigma
from .random import RandomCNNFeatures, RandomFourierFeatures
from .classifier import ClassifierFeatures, DigitsCNN, default_cache_dir, digits_classifier, digits_features

__all__ = ["RBF", "RBFWithCoordinates", "rbf_sigma", "escaped_fraction", "RBF_CONVENTIONS",
           "RandomFourierFeatures", "RandomCNNFeatures", "ClassifierFeatures", "DigitsCNN",
           "digits_classifier", "digits_features", "default_cache_dir"]
