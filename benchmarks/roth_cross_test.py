"""Roth et al.'s cross-testing (section 5.5) on the ring models of benchmarks/roth_ring.py.

Loads the latest checkpoints ``<out>/tmp/roth_ring_{unregularized,regularized}_seed<s>.pt``
(written every evaluation by roth_ring.py), draws 10k real test samples and
10k samples from each generator, and prints the four confusion rows:
each discriminator on its own generator's samples, and on the other's.
A sample is classified real when its logit is > 0.

    python benchmarks/roth_cross_test.py --seed 0
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from dualgan.data import ring_on_plane
from dualgan.metrics import cross_test

from roth_ring import mlp


def load(path: Path):
    state = torch.load(path, weights_only=False)
    G, D = mlp(2, 3), mlp(3, 1)
    G.load_state_dict(state["G"])
    D.load_state_dict(state["D"])
    return G.eval(), D.eval(), state["step"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    tmp = args.out / "tmp"
    G_u, D_u, step_u = load(tmp / f"roth_ring_unregularized_seed{args.seed}.pt")
    G_r, D_r, step_r = load(tmp / f"roth_ring_regularized_seed{args.seed}.pt")
    gen = torch.Generator().manual_seed(2024)
    real = ring_on_plane(7, radius=1.0, std=0.01).sample(args.n, generator=gen)
    with torch.no_grad():
        x_u = G_u(torch.randn(args.n, 2, generator=gen))
        x_r = G_r(torch.randn(args.n, 2, generator=gen))
    report = cross_test(D_u, x_u, D_r, x_r, real, name_a="unreg", name_b="reg")
    print(f"seed {args.seed}: unregularised model at iteration {step_u}, regularised at {step_r}; "
          f"{args.n} samples each")
    print(report.table())
    rows = {name: vars(getattr(report, name)) for name in ("own_a", "own_b", "a_on_b", "b_on_a")}
    (args.out / f"roth_cross_test_seed{args.seed}.json").write_text(json.dumps(
        {"seed": args.seed, "iteration_unregularized": step_u, "iteration_regularized": step_r,
         "a": "unregularized", "b": "regularized", "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
