r"""Trust-region discriminator steps for non-linear discriminators (eqs. (2.1)-(2.13) of the theory page, docs/theory.md).

* :class:`TrustRegionDiscriminator`: one trust-region step per call with cost
  linearisation (closed form) or score linearisation (dual with the
  trust-region multiplier), returning a :class:`TrustRegionStep` record;
* :func:`score_linearization`: scores, tangent Gram matrix and :math:`Jw`,
  factorised for ``nn.Linear`` / ``nn.Conv2d`` layers (one backward pass) and from
  ``torch.func`` in chunks for the other parameters (no full N x P Jacobian);
* :class:`ScoreSubproblem` and :func:`solve_score_dual`: the validated
  score-linearisation sub-problem and its dual, solved by a solver of
  :data:`SUBPROBLEM_SOLVERS` (Newton + secular equation by default; Ipopt via
  cyipopt or casadi) into a certified :class:`ScoreDualResult`; the package
  :mod:`dualgan.trust_region.subproblem` is laid out like :mod:`dualgan.duals`
  (problem, result, registry with the one ``solve``, one file per solver);
  the linearisations are the entries of :data:`LINEARIZATIONS`;
* radius policies :class:`StandardRadius`, :class:`SymmetricRadius`, :class:`FixedRadius`;
* :class:`TrustRegionGAN`: generator steps alternating with trust-region
  discriminator steps, recorded in a :class:`dualgan.train.History`.
"""
from .linearization import LINEARIZATIONS, ScoreFunction, ScoreLinearization, score_linearization, score_vjp
from .radius import POLICIES, FixedRadius, RadiusDecision, RadiusPolicy, StandardRadius, SymmetricRadius, get_policy
from .subproblem import SUBPROBLEM_SOLVERS, ScoreDualResult, ScoreSubproblem, solve_score_dual
from .step import MODELS, TrustRegionDiscriminator, TrustRegionStep, discriminator_cost
from .trainer import TRAINER_MODELS, TrustRegionGAN

__all__ = ["ScoreFunction", "ScoreLinearization", "score_linearization", "score_vjp", "LINEARIZATIONS",
           "RadiusDecision", "RadiusPolicy", "StandardRadius", "SymmetricRadius", "FixedRadius", "get_policy",
           "ScoreSubproblem", "ScoreDualResult", "solve_score_dual", "SUBPROBLEM_SOLVERS",
           "TrustRegionDiscriminator", "TrustRegionStep", "discriminator_cost", "MODELS",
           "TrustRegionGAN", "TRAINER_MODELS", "POLICIES"]
