r"""Hard constraints: a projection layer as the generator's last layer (eqs. (4.2) and (4.3) of the theory page, docs/theory.md).

For a subspace, :math:`P(x) = x - A^\top(AA^\top)^{-1}(Ax - b)` is affine with
Jacobian :math:`I - Q Q^\top` (an orthogonal projector), so it is
differentiable and idempotent (non-finite samples propagate: NaN in, NaN
out, never a finite point), and generated samples satisfy the equations
to rounding: about 1e-15 relative in float64, and the final float32 rounding
(:math:`\approx 6\cdot 10^{-8}\,\|x\|`) in float32, because the layer computes
in float64. For a union, each sample is moved onto its nearest hyperplane;
the map is piecewise affine (differentiable away from ties).

>>> import torch
>>> from dualgan.constraints import AffineSubspace, Projection
>>> handler = Projection(AffineSubspace([[1.0, -1.0, 0.0]], [0.5]))
>>> G = handler.wrap_generator(torch.nn.Linear(2, 3))
>>> x = G(torch.randn(4, 2))            # every row has x1 - x2 = 0.5
"""
from __future__ import annotations

import torch
from torch import nn

from .base import _SetHandler, flatten_samples, state_of  # noqa: F401 (flatten_samples, state_of: their old home)
from .sets import AffineSubspace, HyperplaneUnion, as_constraint_set

__all__ = ["ProjectedGenerator", "Projection"]


class ProjectedGenerator(nn.Module):
    r"""``generator`` followed by the projection onto ``constraint``, eqs. (4.2) and (4.3) of the theory page.

    Outputs of shape (n, D) are projected row by row; outputs of shape
    (n, *shape) with ``prod(shape) == D`` (images, sequences) are flattened,
    projected and reshaped back. The wrapped module stays reachable as
    ``.generator`` (its parameters are this module's parameters).

    Parameters
    ----------
    generator : torch.nn.Module or callable
        The generator; its output is a float tensor of shape ``(n, D)`` or
        ``(n, *shape)`` with ``D`` values per sample, any dtype and device.
    constraint : AffineSubspace or HyperplaneUnion
        The set the outputs are projected onto, of ambient dimension ``D``.

    Raises
    ------
    ValueError
        If ``generator`` is not callable or ``constraint`` is not a constraint set.

    References
    ----------
    Jorge Nocedal, Stephen J. Wright. *Numerical Optimization*, 2nd ed.
    Springer, 2006 (orthogonal projection onto linear constraints).
    """

    def __init__(self, generator: nn.Module, constraint: AffineSubspace | HyperplaneUnion):
        super().__init__()
        if not callable(generator):
            raise ValueError(f"generator must be an nn.Module (or callable), got {type(generator).__name__}")
        self.generator = generator
        self.constraint = as_constraint_set(constraint)

    def forward(self, *args, **kwargs) -> torch.Tensor:
        """The generator's output, projected onto the constraint set.

        Parameters
        ----------
        *args : Any
            Positional arguments of the wrapped generator (e.g. latent codes ``z`` of shape ``(n, d_z)``).
        **kwargs : Any
            Keyword arguments of the wrapped generator.

        Returns
        -------
        torch.Tensor
            The projected samples, same shape and dtype as the generator's output.

        Raises
        ------
        ValueError
            If the generator does not return a tensor with ``D`` values per sample.
        """
        return project_output(self.constraint, self.generator(*args, **kwargs))


class Projection(_SetHandler):
    r"""Handler: wrap the generator so that its samples lie on the constraint set exactly.

    The generator's last layer becomes the orthogonal projection, eq. (4.2) of
    the theory page for a subspace and eq. (4.3) for a union of hyperplanes.
    ``penalty`` is zero and ``update`` does nothing; ``state`` reports the
    (rounding-level) violation of the samples it is given, and for a union the
    share of samples on each hyperplane.

    Parameters
    ----------
    constraint : AffineSubspace or HyperplaneUnion
        The set the generated samples must lie on.

    Raises
    ------
    ValueError
        If ``constraint`` is not an :class:`~dualgan.constraints.AffineSubspace`
        or a :class:`~dualgan.constraints.HyperplaneUnion`.

    References
    ----------
    Jorge Nocedal, Stephen J. Wright. *Numerical Optimization*, 2nd ed.
    Springer, 2006 (orthogonal projection onto linear constraints).
    """

    def __init__(self, constraint: AffineSubspace | HyperplaneUnion):
        super().__init__(constraint)

    def __repr__(self) -> str:
        return f"Projection({self.constraint!r})"

    def wrap_generator(self, generator: nn.Module) -> nn.Module:
        """The generator followed by the projection (a :class:`ProjectedGenerator`).

        Parameters
        ----------
        generator : torch.nn.Module or callable
            The generator; its output has ``D`` values per sample.

        Returns
        -------
        torch.nn.Module
            A :class:`ProjectedGenerator`; ``generator`` itself when it already
            projects onto this handler's constraint (wrapping twice would
            only cost a second, idempotent projection).

        Raises
        ------
        ValueError
            If ``generator`` is not callable.
        """
        if isinstance(generator, ProjectedGenerator) and generator.constraint is self.constraint:
            return generator  # wrapping twice changes nothing (idempotent) but would cost a second projection
        return ProjectedGenerator(generator, self.constraint)

    def project(self, samples: torch.Tensor) -> torch.Tensor:
        """The projection itself (eq. (4.2) or (4.3) of the theory page), for samples produced elsewhere.

        Parameters
        ----------
        samples : torch.Tensor
            Shape ``(n, D)`` or ``(n, *shape)`` with ``D`` values per sample, float, any device.

        Returns
        -------
        torch.Tensor
            The projected samples, same shape and dtype (computed in float64).

        Raises
        ------
        ValueError
            If ``samples`` is not a tensor with ``D`` values per sample.
        """
        return project_output(self.constraint, samples)


def project_output(constraint, out: torch.Tensor) -> torch.Tensor:
    """Project a generator output of shape (n, D) or (n, *shape) with prod(shape) = D."""
    if not isinstance(out, torch.Tensor):
        raise ValueError(f"the generator must return a tensor, got {type(out).__name__}")
    D = constraint.dim
    if out.ndim == 2:
        return constraint.project(out)
    if out.ndim >= 2 and out[0].numel() == D:
        return constraint.project(out.reshape(out.shape[0], D)).reshape(out.shape)
    raise ValueError(f"generator output of shape {tuple(out.shape)} does not match the constraint's dimension "
                     f"{D}; the constraint needs (n, {D}) samples or (n, ...) with {D} values per sample")
