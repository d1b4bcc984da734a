"""Feature maps for linear discriminators (SPEC.md section 1): any differentiable ``nn.Module`` works.

* :class:`RBF`: Gaussian RBF features on anchor points (toy data);
* :class:`RandomFourierFeatures`, :class:`RandomCNNFeatures`: random features;
* :class:`ClassifierFeatures`: hidden activations of a trained classifier, e.g.
  :func:`digits_classifier` (a small CNN trained on scikit-learn's 8x8 digits).
"""
from .rbf import RBF
from .random import RandomCNNFeatures, RandomFourierFeatures
from .classifier import ClassifierFeatures, DigitsCNN, default_cache_dir, digits_classifier, digits_features

__all__ = ["RBF", "RandomFourierFeatures", "RandomCNNFeatures", "ClassifierFeatures", "DigitsCNN",
           "digits_classifier", "digits_features", "default_cache_dir"]
