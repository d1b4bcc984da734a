"""dualgan: GAN training treated as the optimisation problem it is.

Families (one subpackage each): :mod:`dualgan.duals` (certified dual solvers
for linear discriminators), :mod:`dualgan.features`, :mod:`dualgan.train`,
:mod:`dualgan.trust_region`, :mod:`dualgan.games`, :mod:`dualgan.constraints`,
:mod:`dualgan.losses`, :mod:`dualgan.regularizers`, :mod:`dualgan.conditional`
(conditional generators and discriminators), :mod:`dualgan.data`,
:mod:`dualgan.metrics`, :mod:`dualgan.sweep` (resumable sweeps, local or Ray)
and the command line :mod:`dualgan.cli`.
"""
__version__ = "0.1.0"

#: the families, imported on first use: ``import dualgan`` stays light, and ``dualgan.data.ring(8)`` works as the
#: pages write it (it raised AttributeError unless something had imported dualgan.data before)
_SUBPACKAGES = frozenset({"cli", "conditional", "constraints", "data", "duals", "features", "games", "kernels",
                          "losses", "metrics", "models", "regularizers", "sweep", "train", "trust_region"})


def __getattr__(name):
    if name in _SUBPACKAGES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
