"""Factorised (ghost) Gram and J w against a brute-force full Jacobian, and the step it gives against torch.func.

The reference is one ``autograd.grad`` per sample on the ordinary module (rows of J),
independent of both the hooks of the factorised path and of ``torch.func``.
"""
import pytest
import torch
from torch import nn

from dualgan.trust_region import TrustRegionDiscriminator, score_linearization
from dualgan.trust_region.factorised import factorised_pass


def _brute_force(module, x):
    params = [p for p in module.parameters() if p.requires_grad]
    rows = []
    for i in range(x.shape[0]):
        g = torch.autograd.grad(module(x[i:i + 1]).sum(), params, allow_unused=True)
        rows.append(torch.cat([(torch.zeros_like(p) if gi is None else gi).reshape(-1) for gi, p in zip(g, params)]))
    J = torch.stack(rows)
    w = torch.cat([p.detach().reshape(-1) for p in params])
    with torch.no_grad():
        scores = module(x).reshape(-1)
    return J, w, scores


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 7), nn.Tanh(), nn.Linear(7, 5), nn.LeakyReLU(0.2, inplace=True),
                         nn.Linear(5, 1)).double()


def _conv():
    """Mixed: conv layers (one ghost, one materialised), a Linear head, and a PReLU that only torch.func covers."""
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(3, 4, 3, stride=2),
                         nn.PReLU(4), nn.Flatten(), nn.Linear(4 * 3 * 3, 1)).double()


def _conv_ghost():
    """Small channels on a large image: T^2 (d_in + d_out) < d_in d_out fails, so the ghost form is forced below."""
    torch.manual_seed(5)
    return nn.Sequential(nn.Conv2d(1, 2, 2, stride=2, bias=False), nn.Tanh(), nn.Flatten(), nn.Linear(8, 1)).double()


class _Tied(nn.Module):
    """A layer called twice, a weight read outside its module, and a per-token Linear (T > 1)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.inp = nn.Linear(4, 6)
        self.shared = nn.Linear(6, 6)
        self.tokens = nn.Linear(3, 2)
        self.head = nn.Linear(6 + 4, 1)

    def forward(self, x):
        h = torch.tanh(self.inp(x))
        h = torch.tanh(self.shared(torch.tanh(self.shared(h))))  # reused layer
        h = h + 0.5 * torch.tanh(x[:, :1] * self.inp.weight[0, 0])  # weight read outside its module
        t = self.tokens(x.reshape(-1, 2, 2).repeat(1, 1, 2)[..., :3])  # (N, 2 tokens, 3) -> (N, 2, 2)
        return self.head(torch.cat([h, torch.sin(t).reshape(-1, 4)], 1))


def _tied_weights():
    torch.manual_seed(4)
    a, b = nn.Linear(4, 4), nn.Linear(4, 4)
    b.weight = a.weight  # tied weight shared by two modules
    return nn.Sequential(a, nn.Tanh(), b, nn.Tanh(), nn.Linear(4, 1)).double()


def _frozen_body():
    torch.manual_seed(2)
    body = nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 6), nn.Tanh())
    for p in body.parameters():
        p.requires_grad_(False)
    head = nn.Linear(6, 1)
    head.bias.requires_grad_(False)  # a frozen bias inside a factorised layer
    return nn.Sequential(body, head).double()


def _g():
    return torch.Generator().manual_seed(7)


CASES = {
    "mlp": (_mlp, lambda: torch.randn(11, 3, generator=_g(), dtype=torch.float64), "factorised", None),
    "conv-mixed": (_conv, lambda: torch.randn(9, 2, 8, 8, generator=_g(), dtype=torch.float64),
                   "factorised+jacobian", ["0.weight", "0.bias", "2.weight", "2.bias", "5.weight", "5.bias"]),
    "conv-ghost": (_conv_ghost, lambda: torch.randn(6, 1, 4, 4, generator=_g(), dtype=torch.float64), "factorised",
                   None),
    "shared-layer": (lambda: _Tied().double(), lambda: torch.randn(10, 4, generator=_g(), dtype=torch.float64),
                     "factorised+jacobian", ["tokens.weight", "tokens.bias", "head.weight", "head.bias"]),
    "tied-weights": (_tied_weights, lambda: torch.randn(8, 4, generator=_g(), dtype=torch.float64),
                     "factorised+jacobian", ["4.weight", "4.bias"]),
    "frozen-feature-map": (_frozen_body, lambda: torch.randn(10, 3, generator=_g(), dtype=torch.float64),
                           "factorised", None),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("memory_mb", [512.0, 1e-4])
def test_factorised_gram_and_jw_match_full_jacobian(case, memory_mb):
    make, data, method, covered = CASES[case]
    module = make()
    x = data()
    J, w, scores = _brute_force(module, x)
    # a tiny budget forces one-sample blocks in the materialised and ghost conv forms (and chunked
    # forward-mode columns on the torch.func part)
    lin = score_linearization(module, x, memory_mb=memory_mb)
    assert lin.method == (method if memory_mb > 1 else method.replace("jacobian", "jvp"))
    names = [n for n, p in module.named_parameters() if p.requires_grad]
    live = dict(module.named_parameters())
    expected_cover = names if covered is None else covered
    assert lin.n_factorised == sum(live[n].numel() for n in expected_cover)
    assert lin.n_params == J.shape[1]
    torch.testing.assert_close(lin.scores, scores, rtol=0, atol=1e-14)
    torch.testing.assert_close(lin.gram, J @ J.T, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(lin.jw, J @ w, rtol=1e-12, atol=1e-12)
    c = torch.randn(x.shape[0], generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    torch.testing.assert_close(lin.pullback(c), J.T @ c, rtol=1e-12, atol=1e-12)
    # and the pullback can be used again (rejected steps re-solve with the same linearisation)
    torch.testing.assert_close(lin.pullback(2 * c), 2 * (J.T @ c), rtol=1e-12, atol=1e-12)


def test_ghost_and_materialised_conv_forms():
    """1x1 convs on 2x2 images (T = 4): 16 (d_in + d_out) against d_in d_out picks the materialised
    per-sample gradients for 8 -> 16 channels and the ghost form for 48 -> 48; both checked, whole and in blocks."""
    torch.manual_seed(6)
    for c_in, c_out in ((8, 16), (48, 48)):
        m = nn.Sequential(nn.Conv2d(c_in, c_out, 1), nn.Tanh(), nn.Flatten(), nn.Linear(c_out * 4, 1)).double()
        x = torch.randn(5, c_in, 2, 2, generator=_g(), dtype=torch.float64)
        J, w, _ = _brute_force(m, x)
        for budget in (512.0, 1e-4):
            lin = score_linearization(m, x, memory_mb=budget)
            assert lin.method == "factorised"
            torch.testing.assert_close(lin.gram, J @ J.T, rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(lin.jw, J @ w, rtol=1e-12, atol=1e-12)


def test_batch_coupled_models_go_to_torch_func():
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 1)).double().eval()
    x = torch.randn(6, 3, generator=_g(), dtype=torch.float64)
    J, w, _ = _brute_force(module, x)
    lin = score_linearization(module, x)
    # BatchNorm in eval mode is per-sample: the Linear layers are factorised, its affine parameters are not
    assert lin.method == "factorised+jacobian"
    assert lin.n_factorised == sum(p.numel() for p in (*module[0].parameters(), *module[3].parameters()))
    torch.testing.assert_close(lin.gram, J @ J.T, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(lin.jw, J @ w, rtol=1e-12, atol=1e-12)
    # in training mode the batch couples the samples: nothing is factorised
    module.train()
    assert factorised_pass(module, [n for n, _ in module.named_parameters()], x, 512.0) is None
    module.eval()
    drop = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.Linear(4, 1)).double()
    assert factorised_pass(drop, [n for n, _ in drop.named_parameters()], x, 512.0) is None


@pytest.mark.parametrize("case", ["mlp", "conv-mixed", "shared-layer"])
def test_score_step_from_factorised_path_equals_torch_func(case):
    make, data, _, _ = CASES[case]
    x = data()
    n = x.shape[0] // 2
    real, fake = x[:n] + 0.5, x[n:2 * n]
    records = {}
    for method in ("auto", "torch.func"):
        module = make()
        tr = TrustRegionDiscriminator(module, model="score", C=1e-2, radius=0.05, linearization=method)
        recs = [tr.step(real, fake) for _ in range(3)]
        records[method] = (recs, torch.cat([p.detach().reshape(-1) for p in module.parameters()]))
    (auto, w_auto), (ref, w_ref) = records["auto"], records["torch.func"]
    for ra, rr in zip(auto, ref):
        assert ra.linearization.startswith("factorised") and rr.linearization in ("jacobian", "jvp")
        assert ra.accepted == rr.accepted and ra.status.code is rr.status.code
        torch.testing.assert_close(ra.step, rr.step, rtol=1e-9, atol=1e-11)
        assert ra.rho == pytest.approx(rr.rho, rel=1e-7, abs=1e-9)
        assert ra.predicted_decrease == pytest.approx(rr.predicted_decrease, rel=1e-9, abs=1e-14)
    torch.testing.assert_close(w_auto, w_ref, rtol=1e-9, atol=1e-11)
