"""Compare constraint handlers on data with known linear constraints (eqs. (4.2)-(4.7) of the theory page, docs/theory.md).

Two examples in R^5 (``dualgan.constraints.examples``):

* ``subspace``: 6 Gaussians (std 0.1) inside a random 3-dimensional affine
  subspace ``A x = b`` (A: 2 x 5);
* ``union``: Gaussians on two random hyperplanes, 2 modes on the first and 4
  on the second (data shares 1/3 and 2/3), every mode 2 away from the other
  hyperplane.

For each, the same MLP generator / MLP discriminator GAN (non-saturating
loss, R1 = 0.1, Adam, same seed) is trained with no constraint, a penalty,
the augmented Lagrangian and the projection layer. Printed per run: the
violation of 2000 held-out samples (mean / max distance to the set and mean
||A x - b||), mode coverage (dualgan.metrics.mode_coverage, 3 std, a mode
counts when it has a fifth of its fair share), the share of samples on each
hyperplane (union), time per iteration, and for the augmented Lagrangian the
final rho, multipliers and how much they moved over the last quarter of
training. Writes ``constraints_compare.png`` (samples) and
``constraints_history.png`` (violation and multipliers over training) to --out.

    python benchmarks/constraints_compare.py            # about 8 runs x 4000 steps
    python benchmarks/constraints_compare.py --steps 500  # quick look
"""
from __future__ import annotations

import argparse

import torch

from dualgan.constraints.compare import compare_handlers


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="constraints_compare_out")
    parser.add_argument("--progress", action="store_true", help="tqdm progress bars")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    compare_handlers(steps=args.steps, batch_size=args.batch_size, hidden=args.hidden, seed=args.seed,
                     out=args.out, progress=args.progress, print_fn=lambda s: print(s, flush=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
