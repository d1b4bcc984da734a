"""``dualgan compare-optimizers``: run game optimisers over seeds on a built-in game; print a table, save curves."""
from __future__ import annotations

from ._args import nonneg_int, positive_float, positive_int

GAMES = ("bilinear", "dirac", "dirac-ns", "dirac-r1", "dirac-wgan", "ring", "grid")
DEFAULT_OPTIMIZERS = "simultaneous,alternating,consensus,extragradient,optimistic,sga,cgd"


def register(sub) -> None:
    p = sub.add_parser("compare-optimizers", help="compare game optimisers (consensus, SGA, CGD, ...) on a game")
    p.add_argument("--game", required=True, choices=GAMES,
                   help="bilinear: x^T A y with a random A; dirac*: Dirac-GAN variants; ring / grid: GAN on Gaussians")
    p.add_argument("--optimizers", default=None,
                   help=f"comma-separated names (default for small games: {DEFAULT_OPTIMIZERS}; "
                        f"for ring/grid: simultaneous,consensus)")
    p.add_argument("--seeds", type=nonneg_int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=positive_int, default=None,
                   help="steps per run (default: 1000 small games, 2000 GANs)")
    p.add_argument("--lr", type=positive_float, default=None, help="step size (default: 0.1 small games, 1e-4 GANs)")
    p.add_argument("--gamma", type=positive_float, default=1.0, help="consensus weight (the paper used 10 on the GANs)")
    p.add_argument("--lam", type=positive_float, default=1.0, help="SGA coefficient")
    p.add_argument("--base", default=None, choices=["sgd", "adam", "rmsprop"],
                   help="base optimiser (default: sgd for small games, rmsprop for GANs)")
    p.add_argument("--size", type=positive_int, default=10, help="bilinear: A is size x size")
    p.add_argument("--hidden", type=positive_int, default=64, help="ring/grid: hidden units per layer")
    p.add_argument("--batch", type=positive_int, default=256, help="ring/grid: batch size")
    p.add_argument("--eval-every", type=positive_int, default=None)
    p.add_argument("--out", default="compare_optimizers.png", help="PNG of the curves")
    p.add_argument("--progress", action="store_true", help="tqdm progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    import torch

    from ..data import grid, ring
    from ..games import BilinearGame, DiracGAN, MixtureGAN, available_optimizers, compare_optimizers, random_matrix
    from ..regularizers import R1

    small = args.game not in ("ring", "grid")
    names = [n.strip() for n in (args.optimizers or (DEFAULT_OPTIMIZERS if small else "simultaneous,consensus"))
             .split(",") if n.strip()]
    unknown = [n for n in names if n not in available_optimizers()]
    if unknown:
        raise SystemExit(f"--optimizers: unknown {unknown}; choose from {available_optimizers()}")
    # "is None", not "or": an explicit value is never replaced by the default
    steps = (1000 if small else 2000) if args.steps is None else args.steps
    lr = (0.1 if small else 1e-4) if args.lr is None else args.lr
    base = ("sgd" if small else "rmsprop") if args.base is None else args.base
    eval_every = ((max(1, steps // 100) if small else max(1, steps // 10)) if args.eval_every is None
                  else args.eval_every)
    if not small:
        torch.set_num_threads(1)

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

    extra = {"consensus": {"gamma": args.gamma}, "sga": {"lam": args.lam}}
    optimizers = {n: (n, dict(extra.get(n, {}), lr=lr, base=base)) for n in names}
    print(f"game {args.game}; optimizers {names}; lr {lr}; base {base}; steps {steps}; seeds {args.seeds}")
    comparison = compare_optimizers(make_game, optimizers, seeds=args.seeds, n_steps=steps, eval_every=eval_every,
                                    diverge_above=1e8, progress=args.progress)
    print(comparison.format())
    print("wrote", comparison.plot(args.out))
    return 0
