"""``dualgan constraints-demo``: none / penalty / augmented Lagrangian / projection on data with known hyperplanes."""
from __future__ import annotations

from ._args import nonneg_int, output_folder, positive_int


def register(sub) -> None:
    p = sub.add_parser("constraints-demo",
                       help="compare the constraint handlers on a subspace mixture and two hyperplanes of R^5")
    p.add_argument("--steps", type=positive_int, default=1000,
                   help="generator steps per run (the benchmark uses 4000)")
    p.add_argument("--batch-size", type=positive_int, default=256)
    p.add_argument("--hidden", type=positive_int, default=64)
    p.add_argument("--seed", type=nonneg_int, default=0)
    p.add_argument("--out", default="constraints_demo", help="folder for the PNG figures")
    p.add_argument("--threads", type=positive_int, default=1,
                   help="torch CPU threads (networks this small run fastest on one)")
    p.add_argument("--progress", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    import torch

    from ..constraints.compare import compare_handlers

    output_folder(args.out)  # a file, an uncreatable or read-only folder: a usage error before training
    torch.set_num_threads(args.threads)
    compare_handlers(steps=args.steps, batch_size=args.batch_size, hidden=args.hidden, seed=args.seed,
                     out=args.out, progress=args.progress, print_fn=lambda s: print(s, flush=True))
    return 0
