"""Every family on a device against the same float64 run on the CPU, then the image-scale timings there.

Each check builds the same float64 inputs (seeded on the CPU, then moved), runs once with its
tensors and models on ``--device`` and once on the CPU, and compares every output:
``max |a - b| / max |b|`` over each array must be at most ``--rtol`` (default 1e-10). Families:

* features: ``RBF``, ``RandomFourierFeatures``, ``RandomCNNFeatures``, the DCGAN discriminator's
  features (values and input gradients);
* ``LinearDual`` built from device tensors and ``solve`` (multipliers, w, the certified gap);
  ``dual_objective`` (value and gradient in the generated features);
* trust-region steps: ``TrustRegionDiscriminator`` with ``model="score"`` and ``"cost"`` on a
  small conv discriminator (step, predicted and actual decrease);
* game optimisers: every name of ``dualgan.games.OPTIMIZERS`` on a bilinear game on the device;
* trainers following their models' device: ``DualLinearGAN``, ``StandardLinearGAN``,
  ``TrustRegionGAN`` (score), ``GameTrainer`` (a few iterations; the objective column and the
  generator's parameters).

With ``--device cpu`` (no GPU) it compares a CPU run with a CPU run: what it then shows is that
the script and every family run, and that they are deterministic; the device path itself is only
exercised on a GPU. Then (``--timings``, default on a GPU) ``benchmarks/image_scale.py --quick``
on the device.

    python benchmarks/gpu_check.py --device cuda
    python benchmarks/gpu_check.py --device cpu
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import traceback

import numpy as np
import torch
from torch import nn

F64 = torch.float64


def _np(x):
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", F64).numpy()
    return np.asarray(x, dtype=np.float64)


def compare(a: dict, b: dict) -> tuple[float, str]:
    """Largest relative difference over the arrays of ``a`` and ``b`` (same keys) and the key where it is."""
    worst, where = 0.0, ""
    for k in b:
        x, y = _np(a[k]), _np(b[k])
        if x.shape != y.shape:
            return float("inf"), f"{k}: shape {x.shape} vs {y.shape}"
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            same = np.array_equal(x, y, equal_nan=True)
            if not same:
                return float("inf"), f"{k}: non-finite values differ"
            continue
        scale = float(np.abs(y).max()) if y.size else 0.0
        err = float(np.abs(x - y).max()) / scale if scale > 0 else float(np.abs(x - y).max() if x.size else 0.0)
        if err > worst:
            worst, where = err, k
    return worst, where


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------ checks: each f(device) -> {name: array}
def check_features(dev):
    from dualgan.features import RBF, RandomCNNFeatures, RandomFourierFeatures
    from dualgan.models import dcgan_discriminator

    g = _gen()
    out = {}
    pts = torch.randn(32, 2, generator=g, dtype=F64)
    anchors = torch.randn(10, 2, generator=g, dtype=F64)
    img = torch.rand(6, 1, 28, 28, generator=g, dtype=F64)
    for name, feat, x in (("rbf", RBF(anchors.to(dev), sigma=0.5), pts),
                          ("rff", RandomFourierFeatures(2, 64, sigma=0.7, seed=1).to(dev), pts),
                          ("random_cnn", RandomCNNFeatures(channels=(4, 8), seed=2).to(dev, F64), img),
                          ("dcgan_features", dcgan_discriminator(channels=(4, 8, 8), hidden=(16, 8), seed=3,
                                                                 dtype=F64, device=dev).features, img)):
        xd = x.to(dev).requires_grad_(True)
        phi = feat(xd)
        (grad,) = torch.autograd.grad((phi ** 2).sum(), xd)
        out[name], out[name + "_grad"] = phi, grad
    return out


def check_linear_dual(dev):
    from dualgan.duals import LinearDual, dual_objective, solve

    g = _gen(1)
    real = (torch.randn(40, 12, generator=g, dtype=F64) + 0.3).to(dev)
    fake = torch.randn(50, 12, generator=g, dtype=F64).to(dev).requires_grad_(True)
    res = solve(LinearDual(real, fake.detach(), C=1e-2), tol=1e-12)
    value = dual_objective(real, fake, res.lam_real, res.lam_fake, 1e-2)
    (grad,) = torch.autograd.grad(value, fake)
    if not res.status.ok:
        raise RuntimeError(f"solve did not certify: {res.status}")
    return {"lam_real": res.lam_real, "lam_fake": res.lam_fake, "w": res.w, "dual_value": [res.dual_value],
            "primal_value": [res.primal_value], "dual_objective": value, "dual_objective_grad": grad}


def _small_conv(dev, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Tanh(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 4 * 4, 8), nn.Tanh(), nn.Linear(8, 1)).to(dev, F64)


def check_trust_region(dev):
    from dualgan.trust_region import TrustRegionDiscriminator

    g = _gen(2)
    real = torch.rand(16, 1, 8, 8, generator=g, dtype=F64).to(dev)
    fake = torch.rand(16, 1, 8, 8, generator=g, dtype=F64).to(dev)
    out = {}
    for model in ("score", "cost"):
        disc = _small_conv(dev)
        tr = TrustRegionDiscriminator(disc, model=model, C=1e-3, radius=0.05, policy="fixed", inner_tol=1e-12)
        rec = tr.step(real, fake)
        out[f"{model}_step"] = rec.step
        out[f"{model}_decreases"] = [rec.predicted_decrease, rec.actual_decrease, rec.cost_before]
        out[f"{model}_params"] = torch.cat([p.detach().reshape(-1) for p in disc.parameters()])
    return out


def check_game_optimizers(dev):
    from dualgan.games import BilinearGame, OPTIMIZERS, make_optimizer, random_matrix

    A = random_matrix(3, seed=0, singular_values=(0.5, 1.5))
    out = {}
    for name in OPTIMIZERS.names():
        game = BilinearGame(A, seed=1, device=dev)
        opt = make_optimizer(name, lr=0.1)
        for _ in range(20):
            opt.step(game)
        out[name] = torch.cat([game.x.detach(), game.y.detach()])
    return out


def check_trainers(dev):
    from dualgan.features import RandomCNNFeatures
    from dualgan.games import GameTrainer
    from dualgan.models import dcgan_discriminator, dcgan_generator
    from dualgan.train import DualLinearGAN, StandardLinearGAN
    from dualgan.trust_region import TrustRegionGAN

    data = torch.rand(64, 1, 8, 8, generator=_gen(3), dtype=F64).to(dev)

    def gen():
        return dcgan_generator(latent_dim=4, hidden=8, channels=(4, 2), image_size=8, seed=0, dtype=F64, device=dev)

    def disc():
        return dcgan_discriminator(channels=(2, 2), hidden=(6, 3), image_size=8, seed=0, dtype=F64, device=dev)

    out = {}
    common = dict(latent_dim=4, batch_size=16, seed=0)
    feats = RandomCNNFeatures(channels=(2, 2), seed=0).to(dev, F64)
    trainers = {"dual": lambda: DualLinearGAN(gen(), feats, tol=1e-10, **common),
                "standard": lambda: StandardLinearGAN(gen(), feats, **common),
                "trust_region": lambda: TrustRegionGAN(gen(), disc(), model="score", **common),
                "game": lambda: GameTrainer(gen(), disc(), optimizer="simultaneous", **common)}
    for name, make in trainers.items():
        t = make()
        hist = t.fit(data, 3)
        if not t.status.ok:
            raise RuntimeError(f"{name}: {t.status}")
        out[f"{name}_objective"] = hist["objective"]
        out[f"{name}_generator"] = torch.cat([p.detach().reshape(-1) for p in t.generator.parameters()])
    return out


CHECKS = {"features": check_features, "linear_dual": check_linear_dual, "trust_region": check_trust_region,
          "game_optimizers": check_game_optimizers, "trainers": check_trainers}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--rtol", type=float, default=1e-10)
    p.add_argument("--checks", default=",".join(CHECKS))
    p.add_argument("--timings", choices=("auto", "yes", "no"), default="auto",
                   help="run benchmarks/image_scale.py --quick on the device (auto: only on a GPU)")
    args = p.parse_args(argv)
    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        print("CUDA is not available here; pass --device cpu", file=sys.stderr)
        return 2
    desc = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU (device run compared with a CPU run)"
    print(f"device {args.device}: {desc}; torch {torch.__version__}; tolerance {args.rtol:g} (relative, max-norm)")
    print(f"| family | max relative difference | where | result | seconds (device, cpu) |")
    print("|---|---:|---|---|---|")
    failed = 0
    for name in args.checks.split(","):
        try:
            t0 = time.perf_counter()
            on_dev = CHECKS[name](dev)
            t1 = time.perf_counter()
            on_cpu = CHECKS[name](torch.device("cpu"))
            t2 = time.perf_counter()
            err, where = compare(on_dev, on_cpu)
            ok = err <= args.rtol
            print(f"| {name} | {err:.2e} | {where} | {'ok' if ok else 'FAIL'} | {t1 - t0:.1f}, {t2 - t1:.1f} |",
                  flush=True)
        except Exception as exc:  # report every family, then fail
            ok = False
            last = traceback.extract_tb(exc.__traceback__)[-1]
            print(f"| {name} | - | {os.path.basename(last.filename)}:{last.lineno} | ERROR "
                  f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]} | - |", flush=True)
        failed += not ok
    if args.timings == "yes" or (args.timings == "auto" and dev.type == "cuda"):
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import image_scale

        print()
        image_scale.main(["--quick", "--device", args.device, "--busy", "no", "--settings", "default"])
    print(f"\n{len(args.checks.split(',')) - failed} of {len(args.checks.split(','))} families agree")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
