"""``dualgan compare-optimizers``: run game optimisers over seeds on a built-in game; print a table, save curves.

On the GAN games (ring, grid) the defaults are the setting of the report's
consensus-optimisation study, the one that separates the methods: RMSProp
with lr 1e-3 for 4000 steps then 1e-4 for 2000 (the same schedule for every
optimiser), consensus gamma 10, simultaneous GD against consensus
optimisation, seeds 0, 1, 2. On the 8-mode ring it ended with 8/8/8 modes
covered by consensus and 1/3/2 by simultaneous GD, about 8 minutes for the
six runs on one core; a short run (e.g. the earlier defaults, lr 1e-4 for
2000 steps) ends with no mode covered by either.
"""
from __future__ import annotations

from ._args import names_of, nonneg_int, output_file, positive_float, positive_int

GAMES = ("bilinear", "dirac", "dirac-ns", "dirac-r1", "dirac-wgan", "ring", "grid")


def register(sub) -> None:
    p = sub.add_parser("compare-optimizers", help="compare game optimisers (consensus, SGA, CGD, ...) on a game")
    p.add_argument("--game", required=True, choices=GAMES,
                   help="bilinear: x^T A y with a random A; dirac*: Dirac-GAN variants; ring / grid: GAN on Gaussians")
    p.add_argument("--optimizers", default=None,
                   help="comma-separated names of dualgan.games.OPTIMIZERS (default for small games: every "
                        "registered optimiser; for ring/grid: simultaneous,consensus)")
    p.add_argument("--seeds", type=nonneg_int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=positive_int, default=None,
                   help="steps per run at --lr (default: 1000 small games, 4000 GANs)")
    p.add_argument("--lr", type=positive_float, default=None, help="step size (default: 0.1 small games, 1e-3 GANs)")
    p.add_argument("--final-steps", type=nonneg_int, default=None,
                   help="further steps at --final-lr, the same schedule for every optimiser (default: 0 small "
                        "games, 2000 GANs)")
    p.add_argument("--final-lr", type=positive_float, default=1e-4,
                   help="step size of the --final-steps (default 1e-4)")
    p.add_argument("--gamma", type=positive_float, default=None,
                   help="option gamma of the optimisers that take it (consensus weight; default: 1 small games, "
                        "10 GANs, as in the paper)")
    p.add_argument("--lam", type=positive_float, default=1.0, help="option lam of the optimisers that take it (SGA)")
    p.add_argument("--base", default=None,
                   help="base optimiser, a name of dualgan.games.optimizers.BASE_OPTIMIZERS "
                        "(default: sgd for small games, rmsprop for GANs)")
    p.add_argument("--size", type=positive_int, default=10, help="bilinear: A is size x size")
    p.add_argument("--hidden", type=positive_int, default=64, help="ring/grid: hidden units per layer")
    p.add_argument("--batch", type=positive_int, default=256, help="ring/grid: batch size")
    p.add_argument("--eval-every", type=positive_int, default=None)
    p.add_argument("--out", default="compare_optimizers.png", help="PNG of the curves")
    p.add_argument("--progress", action="store_true", help="tqdm progress bars")
    p.set_defaults(func=run, _parser=p)


def run(args) -> int:
    out = output_file(args.out)  # a folder, a missing or read-only folder: a usage error before any step
    from matplotlib.backend_bases import FigureCanvasBase

    formats = FigureCanvasBase.get_supported_filetypes()
    if out.suffix and out.suffix[1:].lower() not in formats:  # was refused by matplotlib after every run
        raise ValueError(f"--out {str(out)!r}: the figure cannot be written as {out.suffix!r}; use one of "
                         f"{sorted('.' + f for f in formats)} (e.g. compare_optimizers.png)")
    import torch

    from ..data import grid, ring
    from ..games import OPTIMIZERS, BilinearGame, DiracGAN, MixtureGAN, compare_optimizers, make_optimizer, random_matrix
    from ..games.optimizers import BASE_OPTIMIZERS
    from ..regularizers import R1

    small = args.game not in ("ring", "grid")
    names = names_of(args._parser, args.optimizers or None, OPTIMIZERS.names(), "--optimizers",
                     default=OPTIMIZERS.names() if small else ["simultaneous", "consensus"])
    # "is None", not "or": an explicit value is never replaced by the default
    steps = (1000 if small else 4000) if args.steps is None else args.steps
    lr = (0.1 if small else 1e-3) if args.lr is None else args.lr
    final_steps = (0 if small else 2000) if args.final_steps is None else args.final_steps
    gamma = (1.0 if small else 10.0) if args.gamma is None else args.gamma
    base = ("sgd" if small else "rmsprop") if args.base is None else args.base
    if base.lower() not in BASE_OPTIMIZERS:
        args._parser.error(f"--base: unknown {base!r}; choose from {BASE_OPTIMIZERS.names()}")
    total = steps + final_steps
    eval_every = ((max(1, total // 100) if small else max(1, total // 12)) if args.eval_every is None
                  else args.eval_every)

    def make_game(seed):
        if args.game == "bilinear":
            return BilinearGame(random_matrix(args.size, seed=0, singular_values=(0.5, 1.5)), seed=seed)
        if args.game.startswith("dirac"):
            gen = torch.Generator().manual_seed(seed)
            theta0, psi0 = (torch.rand(2, generator=gen, dtype=torch.float64) + 0.5).tolist()
            loss = {"dirac": "minimax", "dirac-ns": "non_saturating", "dirac-r1": "minimax",
                    "dirac-wgan": "wasserstein"}[args.game]
            regs = (R1(gamma=1.0),) if args.game == "dirac-r1" else ()
            return DiracGAN(loss, theta0=theta0, psi0=psi0, regularizers=regs)
        mixture = ring(8) if args.game == "ring" else grid(4)
        return MixtureGAN(mixture, hidden=args.hidden, batch_size=args.batch, seed=seed)

    coefficients = {"gamma": gamma, "lam": args.lam}  # each to the optimisers that take it

    def options(name):
        own = OPTIMIZERS.options(name)
        return dict({k: v for k, v in coefficients.items() if k in own}, lr=lr, base=base)

    def scheduled(name):
        """A factory of the optimiser whose step size drops to --final-lr after --steps steps."""
        def factory():
            optimizer = make_optimizer(name, **options(name))
            plain_step, taken = optimizer.step, [0]

            def step(game):
                if taken[0] == steps:
                    optimizer.set_lr(args.final_lr)
                taken[0] += 1
                return plain_step(game)

            optimizer.step = step
            return optimizer
        return factory

    optimizers = {n: scheduled(n) if final_steps else (n, options(n)) for n in names}
    schedule = f"lr {lr} for {steps} steps" + (f", then {args.final_lr} for {final_steps}" if final_steps else "")
    print(f"game {args.game}; optimizers {names}; {schedule}; base {base}; gamma {gamma} (to the optimisers that "
          f"take it); seeds {args.seeds}")
    if not small:
        runs = len(names) * len(args.seeds)   # the report's ring study: 459 s for 6 runs of 6000 steps on one core
        print(f"{runs} GAN runs of {total} steps: about {runs * total * 459 / 36000 / 60:.0f} minutes on one core "
              f"(--seeds 0 runs one seed)")
    comparison = compare_optimizers(make_game, optimizers, seeds=args.seeds, n_steps=total, eval_every=eval_every,
                                    diverge_above=1e8, progress=args.progress)
    print(comparison.format())
    print("wrote", comparison.plot(args.out))
    return 0
