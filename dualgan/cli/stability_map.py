"""``dualgan stability-map``: every game optimiser over step size x coefficient x seeds, batched, with exact local rates.

Writes ``<out>/stability_map.png`` (per optimiser: the measured median rate
and the exact spectral radius of the linearised update map side by side) and
``<out>/stability_map.txt`` (the table), and prints the table.
"""
from __future__ import annotations

import math

from .._checks import check_int, check_number
from ._args import checked, names_of, output_folder

GAMES = ("bilinear", "dirac", "dirac-ns", "dirac-r1", "dirac-r2", "dirac-gp", "dirac-wgan", "dirac-wgan-clip")


def _grid_spec(text: str, name: str, parser, log: bool):
    """``A:B:K`` -> K values from A to B (log-spaced if ``log``), or a single number."""
    import numpy as np

    parts = text.split(":")
    try:
        if len(parts) == 1:
            values = [float(parts[0])]
        elif len(parts) == 3:
            a, b, k = float(parts[0]), float(parts[1]), int(parts[2])
            if k < 1 or not (math.isfinite(a) and math.isfinite(b)) or b < a:
                raise ValueError
            if log and a <= 0:
                raise ValueError
            values = list(np.geomspace(a, b, k) if log else np.linspace(a, b, k))
        else:
            raise ValueError
    except ValueError:
        parser.error(f"{name} must be a number or A:B:K (K {'log' if log else 'linearly'}-spaced values from A to "
                     f"B, A <= B{', A > 0' if log else ''}, K >= 1 an integer), got {text!r}")
    if not all(math.isfinite(v) for v in values):
        parser.error(f"{name} must be finite, got {text!r}")
    return values


def register(sub) -> None:
    p = sub.add_parser("stability-map", help="stability maps of game optimisers over step size x coefficient "
                                             "(batched runs + exact local rates)")
    p.add_argument("--game", required=True, choices=GAMES,
                   help="bilinear: x^T A y, A size x size with singular values in [0.5, 1.5]; dirac*: Dirac-GAN "
                        "(minimax; -ns non-saturating; -r1/-r2 with R1/R2; -gp WGAN-GP; -wgan Wasserstein; "
                        "-wgan-clip with clipping at --clip)")
    p.add_argument("--optimizers", default=None,
                   help="comma-separated (default: every optimiser the batched runner knows, "
                        "dualgan.games.OPTIMIZERS.names(batchable=True))")
    p.add_argument("--lr", default="0.01:2:20", help="step sizes: A:B:K log-spaced, or one number (default 0.01:2:20)")
    p.add_argument("--gamma", default="0.1:4:8",
                   help="the methods' coefficient axis (consensus gamma, SGA lambda, extragradient extrapolation): "
                        "A:B:K linearly spaced, or one number (default 0.1:4:8)")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds (initial points), seeds 0..S-1 (default 3)")
    p.add_argument("--steps", type=int, default=1000, help="steps per run (default 1000)")
    p.add_argument("--base", default="sgd",
                   help="base optimiser, a name of dualgan.games.BASE_OPTIMIZERS.names(batchable=True) "
                        "(sgd, adam, rmsprop; default sgd)")
    p.add_argument("--reg-weight", type=float, default=1.0, help="R1/R2 gamma or WGAN-GP lambda (default 1)")
    p.add_argument("--clip", type=float, default=1.0, help="dirac-wgan-clip: clipping bound (default 1)")
    p.add_argument("--size", type=int, default=4, help="bilinear: A is size x size (default 4)")
    p.add_argument("--init", default=None,
                   help="dirac: initial points uniform in [A, B]^2 as A:B (default 0.5:1.5, compare-optimizers' starts)")
    p.add_argument("--out", default="stability_map", help="output folder (default ./stability_map)")
    p.add_argument("--workers", type=int, default=1, help="processes running optimisers in parallel (default 1)")
    p.add_argument("--progress", action="store_true", help="tqdm progress bar over optimisers")
    p.set_defaults(func=run, _parser=p)


def run(args) -> int:
    import os

    parser = args._parser
    from ..games import OPTIMIZERS

    batchable = OPTIMIZERS.names(batchable=True)
    names = names_of(parser, args.optimizers, batchable, "--optimizers", default=batchable)
    from ..games import BASE_OPTIMIZERS

    if args.base.lower() not in BASE_OPTIMIZERS.names(batchable=True):
        parser.error(f"--base: unknown {args.base!r}; choose from {BASE_OPTIMIZERS.names(batchable=True)}")
    lrs = _grid_spec(args.lr, "--lr", parser, log=True)
    coefs = _grid_spec(args.gamma, "--gamma", parser, log=False)
    for option, value in (("--seeds", args.seeds), ("--steps", args.steps), ("--workers", args.workers),
                          ("--size", args.size)):
        checked(parser, value, option, check_int, low=1)
    checked(parser, args.reg_weight, "--reg-weight", check_number, low=0.0)
    checked(parser, args.clip, "--clip", check_number, low=0.0, low_open=True)
    init = (0.5, 1.5)
    if args.init is not None:
        try:
            init = tuple(float(v) for v in args.init.split(":"))
            if len(init) != 2 or not all(math.isfinite(v) for v in init) or init[0] > init[1]:
                raise ValueError
        except ValueError:
            parser.error(f"--init must be A:B with finite A <= B, got {args.init!r}")

    output_folder(args.out)  # a file, an uncreatable or read-only folder: a usage error before the runs
    from ..games import bilinear_functional, dirac_functional, random_matrix, stability_map
    from ..regularizers import R1, R2, CoupledGradientPenalty

    w = args.reg_weight
    if args.game == "bilinear":
        game = bilinear_functional(random_matrix(args.size, seed=0, singular_values=(0.5, 1.5)))
    else:
        loss = {"dirac-ns": "non_saturating", "dirac-wgan": "wasserstein", "dirac-wgan-clip": "wasserstein",
                "dirac-gp": "wasserstein"}.get(args.game, "minimax")
        regs = {"dirac-r1": [R1(w)], "dirac-r2": [R2(w)], "dirac-gp": [CoupledGradientPenalty(w)]}.get(args.game, [])
        game = dirac_functional(loss, regs, clip=args.clip if args.game == "dirac-wgan-clip" else None,
                                init_low=init[0], init_high=init[1])
    print(f"stability map: {game.name}; optimizers {names}; {len(lrs)} step sizes x {len(coefs)} coefficients x "
          f"{args.seeds} seeds x {args.steps} steps; base {args.base}")
    result = stability_map(game, names, lrs, coefs, range(args.seeds), args.steps, base=args.base,
                           progress=args.progress, workers=args.workers)
    os.makedirs(args.out, exist_ok=True)
    table = result.format()
    print(table)
    from .._io import atomic_write_text

    atomic_write_text(os.path.join(args.out, "stability_map.txt"), table + "\n")
    print("wrote", result.plot(os.path.join(args.out, "stability_map.png")))
    print("wrote", os.path.join(args.out, "stability_map.txt"))
    return 0
