r"""Trust-region discriminator steps for non-linear discriminators (eqs. (2.1)-(2.13) of the theory page, docs/theory.md).

* :class:`TrustRegionDiscriminator`: one trust-region step per call with cost
  linearisation (closed form) or score linearisation (dual with the
  trust-region multiplier), returning a :class:`TrustRegionStep` record;
* :func:`score_linearization`: scores, tangent Gram matrix and :math:`Jw`,
  factorised for ``nn.Linear`` / ``nn.Conv2d`` layers (one backward pass) and from
  ``torch.func`` in chunks for the other parameters (no full N x P Jacobian);
* :func:`solve_score_dual`: the score-linearisation dual (Newton + secular
  equation by default; Ipopt via cyipopt or casadi as options);
* radius policies :class:`StandardRadius`, :class:`SymmetricRadius`, :class:`FixedRadius`;
* :class:`TrustRegionGAN`: generator steps alternating with trust-region
  discriminator steps, recorded in a :class:`dualgan.train.History`.
"""
from .linearization import LINEARIZATION_METHODS, ScoreFunction, ScoreLinearization, score_linearization, score_vjp
from .radius import FixedRadius, RadiusDecision, RadiusPolicy, StandardRadius, SymmetricRadius, get_policy
from .subproblem import SUBPROBLEM_METHODS, ScoreDualResult, solve_score_dual
from .step import MODELS, TrustRegionDiscriminator, TrustRegionStep, discriminator_cost
from .trainer import TRAINER_MODELS, TrustRegionGAN, TrustRegionResult

__all__ = ["ScoreFunction", "ScoreLinearization", "score_linearization", "score_vjp", "LINEARIZATION_METHODS",
           "RadiusDecision", "RadiusPolicy", "StandardRadius", "SymmetricRadius", "FixedRadius", "get_policy",
           "ScoreDualResult", "solve_score_dual", "SUBPROBLEM_METHODS",
           "TrustRegionDiscriminator", "TrustRegionStep", "discriminator_cost", "MODELS",
           "TrustRegionGAN", "TrustRegionResult", "TRAINER_MODELS"]
