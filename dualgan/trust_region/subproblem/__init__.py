r"""The score-linearisation trust-region sub-problem, solved through its dual (eqs. (2.4)-(2.10) of the theory page).

Primal (model of the discriminator cost around :math:`w`, :math:`\delta \in \mathbb R^P`):

.. math::

    \min_{\|\delta\| \le \Delta}\; m(\delta) = \tfrac{C}{2}\|w+\delta\|^2
        + \sum_i a_i\,\ell\big(y_i(F_i + g_i^\top\delta)\big).

Dual, with :math:`s = C + \mu`, :math:`K = \mathrm{diag}(y)\,G\,\mathrm{diag}(y)`,
:math:`b = y \odot Jw` and :math:`q(\lambda) = \|u(\lambda) - Cw\|^2 =
\lambda^\top K\lambda - 2C\lambda^\top b + C^2\|w\|^2`:

.. math::

    D(\lambda, \mu) = \tfrac{C}{2}\|w\|^2 - \frac{q(\lambda)}{2s} - \lambda^\top(y\odot F)
        + \sum_i a_i H(\lambda_i/a_i) - \frac{\mu\Delta^2}{2},
    \qquad \delta^* = \frac{u(\lambda^*) - Cw}{s^*}.

For fixed :math:`\mu` the problem in :math:`\lambda` is
:func:`dualgan.duals.maximize_entropy_dual` with ``scale = s``, ``K`` and the
linear term :math:`c = C b/s - y\odot F` (the constant
:math:`C\|w\|^2/2 - C^2\|w\|^2/(2s) - \mu\Delta^2/2` aside). The outer function
:math:`\varphi(\mu) = \max_\lambda D` is concave with
:math:`\varphi'(\mu) = (\|\delta(\mu)\|^2 - \Delta^2)/2`: :math:`\mu = 0` when the
unconstrained model step fits, otherwise :math:`\mu` solves the secular
equation :math:`\|\delta(\mu)\| = \Delta`. We solve it by safeguarded Newton on
:math:`h(s) = s/\sqrt{q(\lambda(s))} - 1/\Delta` (nearly linear in s, as in
Moré-Sorensen), with the derivative from the implicit function theorem,

.. math::

    \lambda'(s) = (K/s + \mathrm{diag}(h))^{-1} r / s^2,\quad r = K\lambda - Cb,
    \qquad q'(s) = 2 r^\top\lambda'(s),

and every inner solve warm-started at the previous :math:`\lambda`.

Certificate: the recovered step is scaled by :math:`t \le 1` so that
:math:`\|\delta\| \le \Delta` holds exactly; then :math:`m(\delta) \ge D(\lambda,\mu)`
(weak duality) and ``gap = m(delta) - D`` bounds the step's suboptimality.
Only N x N and N-vector arithmetic happens here, all in float64.

Laid out like :mod:`dualgan.duals`, one idea a module:

* ``problem.py``: :class:`ScoreSubproblem`, the validated, frozen sub-problem; it
  owns the dual (2.7), its derivatives, the recovered step and its certificate
  (:meth:`ScoreSubproblem.certificate`), and the start point;
* ``result.py``: :class:`ScoreCertificate` (the certificate of a point) and
  :class:`ScoreDualResult`, the one result every solver returns, certified
  from the returned multipliers by :func:`certified_result`;
* ``registry.py``: :data:`SUBPROBLEM_SOLVERS` (a
  :class:`~dualgan.registry.Registry`) and the one entry point
  :func:`solve` (:func:`solve_score_dual` under :mod:`dualgan.trust_region`);
* one file per solver, each with the one signature
  ``fn(problem, tol, lam, slack, mu0, *, option=default) -> ScoreDualResult``:
  ``newton.py`` (:func:`secular_newton`, ``"newton"``, the default: our interior
  Newton inside the secular iteration), ``ipopt.py`` (:func:`joint_cyipopt`,
  ``"ipopt"``) and ``casadi_ipopt.py`` (:func:`joint_casadi`, ``"casadi"``), the
  last two on the joint problem in :math:`(\lambda, \mu)`.

Adding a solver is adding one file that registers one function with
``@SUBPROBLEM_SOLVERS.register(name, requires=..., default_tol=...)``, optionally
with ``check_options=`` a function that validates its option values
(``SUBPROBLEM_SOLVERS.check_options`` runs it before any solve).

References
----------
Yujia Li, Alexander Schwing, Kuan-Chieh Wang, Richard Zemel. "Dualing GANs."
NeurIPS 2017 (section 4 and appendix C). Jorge J. Moré, Danny C. Sorensen.
"Computing a Trust Region Step." SIAM Journal on Scientific and Statistical
Computing 4(3), 1983.
"""
from .problem import ScoreSubproblem
from .result import ScoreCertificate, ScoreDualResult, SubproblemSolution, certified_result
from .registry import SUBPROBLEM_SOLVERS, solve, solve_score_dual
from .newton import secular_newton
from .ipopt import joint_cyipopt
from .casadi_ipopt import joint_casadi, symbolic_score_dual

__all__ = ["ScoreSubproblem", "ScoreCertificate", "ScoreDualResult", "SubproblemSolution", "certified_result",
           "solve", "solve_score_dual", "SUBPROBLEM_SOLVERS", "secular_newton", "joint_cyipopt", "joint_casadi",
           "symbolic_score_dual"]
