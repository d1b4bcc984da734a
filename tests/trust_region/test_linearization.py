"""Gram matrix and J w from torch.func against a brute-force full Jacobian (one autograd.grad per sample)."""
import pytest
import torch
from torch import nn

from dualgan.trust_region import ScoreFunction, score_linearization, score_vjp


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 7), nn.Tanh(), nn.Linear(7, 5), nn.Softplus(), nn.Linear(5, 1)).double()


def _conv():
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Conv2d(3, 4, 3, stride=2), nn.Tanh(),
                         nn.Flatten(), nn.Linear(4 * 3 * 3, 1)).double()


def _frozen_body():
    """A frozen feature map with a trainable linear head: only the head's weights are w."""
    torch.manual_seed(2)
    body = nn.Sequential(nn.Linear(3, 6), nn.Tanh())
    for p in body.parameters():
        p.requires_grad_(False)
    return nn.Sequential(body, nn.Linear(6, 1)).double()


def _brute_force(module, x):
    params = [p for p in module.parameters() if p.requires_grad]
    rows = []
    for i in range(x.shape[0]):
        g = torch.autograd.grad(module(x[i:i + 1]).sum(), params)
        rows.append(torch.cat([gi.reshape(-1) for gi in g]))
    J = torch.stack(rows)
    w = torch.cat([p.detach().reshape(-1) for p in params])
    with torch.no_grad():
        scores = module(x).reshape(-1)
    return J, w, scores


CASES = [
    (_mlp, lambda g: torch.randn(11, 3, generator=g, dtype=torch.float64)),
    (_conv, lambda g: torch.randn(9, 1, 8, 8, generator=g, dtype=torch.float64)),
    (_frozen_body, lambda g: torch.randn(10, 3, generator=g, dtype=torch.float64)),
]


@pytest.mark.parametrize("make, data", CASES, ids=["mlp", "conv", "frozen-feature-map"])
@pytest.mark.parametrize("chunk_size", [None, 1, 4])
def test_gram_and_jw_match_full_jacobian(make, data, chunk_size):
    module = make()
    x = data(torch.Generator().manual_seed(3))
    J, w, scores = _brute_force(module, x)
    lin = score_linearization(module, x, method="torch.func", chunk_size=chunk_size)
    assert lin.method == ("jacobian" if chunk_size is None else "jvp")
    assert lin.n_params == J.shape[1]
    torch.testing.assert_close(lin.scores, scores, rtol=0, atol=1e-14)
    torch.testing.assert_close(lin.gram, J @ J.T, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(lin.jw, J @ w, rtol=1e-12, atol=1e-12)


def test_memory_budget_forces_chunks_and_vjp_is_one_backward():
    module = _mlp()
    x = torch.randn(13, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    n_params = ScoreFunction(module).n_params
    # room for exactly two Jacobian rows
    lin = score_linearization(module, x, method="torch.func", memory_mb=2 * n_params * 8 / 2 ** 20)
    assert lin.method == "jvp" and lin.chunk_size == 2
    J, _, _ = _brute_force(module, x)
    torch.testing.assert_close(lin.gram, J @ J.T, rtol=1e-12, atol=1e-12)
    c = torch.randn(13, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    torch.testing.assert_close(score_vjp(module, x, c), J.T @ c, rtol=1e-12, atol=1e-13)


def test_numpy_chunk_size_and_memory_give_the_brute_force_gram():
    module = _mlp()
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    lin = score_linearization(module, x, method="torch.func", chunk_size=np.int64(2), memory_mb=np.float64(1.0))
    J, _, _ = _brute_force(module, x)
    torch.testing.assert_close(lin.gram, J @ J.T, rtol=1e-12, atol=1e-12)


def test_bad_inputs():
    module = _mlp()
    x = torch.randn(4, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="chunk_size"):
        score_linearization(module, x, chunk_size=0)
    with pytest.raises(ValueError, match="memory_mb"):
        score_linearization(module, x, memory_mb=-1)
    for bad in (True, float("nan"), float("inf"), "512"):
        with pytest.raises(ValueError, match="memory_mb"):
            score_linearization(module, x, memory_mb=bad)
    for bad in (True, 2.0):
        with pytest.raises(ValueError, match="chunk_size"):
            score_linearization(module, x, chunk_size=bad)
    with pytest.raises(ValueError, match="method"):
        score_linearization(module, x, method="ghost")
    with pytest.raises(ValueError, match="one score per sample"):
        score_linearization(nn.Linear(3, 2).double(), x)
    frozen = nn.Linear(3, 1).double().requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        ScoreFunction(frozen)


# ---------------------------------------------------------------- batch-dependent or random layers
import numpy as np  # noqa: E402
import pytest as _pytest  # noqa: E402
from torch import nn as _nn  # noqa: E402


def _bn_disc(kind):
    layers = {"bn": _nn.BatchNorm1d(8), "bn_nostats": _nn.BatchNorm1d(8, track_running_stats=False),
              "dropout": _nn.Dropout(0.3), "alpha": _nn.AlphaDropout(0.2)}
    torch.manual_seed(0)
    return _nn.Sequential(_nn.Linear(3, 8), layers[kind], _nn.Tanh(), _nn.Linear(8, 1)).double()


@_pytest.mark.parametrize("kind,match", [("bn", "BatchNorm1d.*training mode"), ("bn_nostats", "BatchNorm1d.*training mode"),
                                         ("dropout", "Dropout.*dropout"), ("alpha", "AlphaDropout")])
@_pytest.mark.parametrize("method", ["auto", "torch.func"])
def test_batch_dependent_layers_are_refused_before_any_forward_pass(kind, match, method):
    from dualgan.trust_region import TrustRegionDiscriminator
    from dualgan.trust_region.linearization import score_linearization, score_vjp

    D = _bn_disc(kind)
    D.train()
    before = {k: v.clone() for k, v in D.state_dict().items()}
    x = torch.randn(10, 3, dtype=torch.float64)
    with _pytest.raises(ValueError, match=match):
        score_linearization(D, x, method=method)
    with _pytest.raises(ValueError, match="eval()"):
        score_vjp(D, x, torch.ones(10, dtype=torch.float64))
    # cost linearisation needs no per-sample gradients: BatchNorm on the batch's statistics is a fixed function of
    # w there and is accepted (tests/test_guard_rails_modules.py); active dropout is refused by both
    for model in ("score", "cost") if kind in ("dropout", "alpha") else ("score",):
        with _pytest.raises(ValueError, match=match):
            TrustRegionDiscriminator(D, model=model).step(x, x + 1)
    after = D.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # running stats and counters unchanged
    # the documented way: eval mode linearises the model as it scores each sample
    D.eval()
    if kind == "bn_nostats":  # batch statistics even in eval mode: still refused
        with _pytest.raises(ValueError, match="no running statistics"):
            score_linearization(D, x, method=method)
        return
    lin = score_linearization(D, x, method=method)
    with torch.no_grad():
        np.testing.assert_allclose(lin.scores.numpy(), D(x).reshape(-1).numpy(), rtol=1e-12)
    assert all(torch.equal(before[k], D.state_dict()[k]) for k in before)
