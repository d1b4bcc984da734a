r"""Games as vector fields: consensus optimisation and its peers behind one optimiser protocol (eqs. (3.1)-(3.13) of the theory page, docs/theory.md).

* :class:`Game`, :class:`Player`: players with parameters and losses; the simultaneous field :math:`v`,
  :math:`J u`, :math:`J^\top u` and :math:`A^\top u` by double backward.
* Optimisers (:mod:`dualgan.games.optimizers`, one file each, one ``step(game) -> StepRecord`` protocol, any base
  torch optimiser): ``simultaneous``, ``alternating``, ``consensus``, ``extragradient``, ``optimistic``, ``sga``,
  ``cgd``.
* Games: :class:`BilinearGame`, :class:`DiracGAN`, :class:`GANGame`, :class:`MixtureGAN`.
* Analysis: :func:`jacobian`, :func:`eigenvalues`, :func:`leading_eigenvalues`, :func:`plot_vector_field`;
  ``make_optimizer(name, lr=h).bilinear_update_map(A)`` (closed-form update maps on the bilinear game).
* Harness: :func:`run_optimizer`, :func:`compare_optimizers`.
* Training a GAN with a game optimiser: :class:`GameTrainer` (a :mod:`dualgan.train` trainer).
* Batched runs and stability maps: :class:`FunctionalGame` (:func:`bilinear_functional`, :func:`dirac_functional`,
  :func:`as_functional`), :func:`batched_run`, :func:`stability_map`, :func:`local_update_map`, :func:`local_rate`.

Examples
--------
>>> from dualgan.games import BilinearGame, random_matrix, make_optimizer
>>> game = BilinearGame(random_matrix(4, seed=0, singular_values=(0.5, 1.5)), seed=1)
>>> opt = make_optimizer("consensus", lr=0.3, gamma=1.0)
>>> for _ in range(300):
...     record = opt.step(game)
>>> game.distance_to_equilibrium() < 1e-6
True
"""
from .analysis import SpectrumReport, eigenvalues, jacobian, leading_eigenvalues, plot_vector_field
from .bilinear import BilinearGame, bilinear_jacobian, random_matrix
from .game import FieldEvaluation, Game, Player
from .gan import DiracGAN, GANGame, MixtureGAN, mlp
from .harness import Comparison, ComparisonRow, RunResult, compare_optimizers, default_metric, run_optimizer
from .functional import FunctionalGame
from .catalogue import ClippedDiracGAN, as_functional, bilinear_functional, dirac_functional, mixture_functional
from .batched import BatchedRun, batched_run
from .optimizers._base_optimizers import functional_base
from .stability import StabilityMap, local_rate, local_update_map, stability_map
from .trainer import GameTrainer
from .optimizers import (
    BASE_OPTIMIZERS,
    OPTIMIZERS,
    AlternatingGD,
    CompetitiveGD,
    ConsensusOptimization,
    Extragradient,
    GameOptimizer,
    NotBatchableError,
    OptimisticGD,
    SimultaneousGD,
    StepRecord,
    SymplecticGradientAdjustment,
    make_optimizer,
)

__all__ = [
    "Game", "Player", "FieldEvaluation",
    "GameOptimizer", "StepRecord", "OPTIMIZERS", "BASE_OPTIMIZERS", "make_optimizer",
    "SimultaneousGD", "AlternatingGD", "ConsensusOptimization", "Extragradient", "OptimisticGD",
    "SymplecticGradientAdjustment", "CompetitiveGD",
    "BilinearGame", "random_matrix", "bilinear_jacobian",
    "GANGame", "DiracGAN", "MixtureGAN", "mlp",
    "jacobian", "eigenvalues", "leading_eigenvalues", "SpectrumReport", "plot_vector_field",
    "run_optimizer", "compare_optimizers", "RunResult", "ComparisonRow", "Comparison", "default_metric",
    "GameTrainer",
    "FunctionalGame", "NotBatchableError", "as_functional", "bilinear_functional", "dirac_functional",
    "mixture_functional",
    "functional_base", "batched_run", "BatchedRun", "ClippedDiracGAN",
    "stability_map", "StabilityMap", "local_update_map", "local_rate",
]
