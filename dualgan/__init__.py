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
