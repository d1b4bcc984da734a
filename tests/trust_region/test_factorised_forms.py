"""Each per-layer form of the factorised Gram (outer, ghost, rows) against the brute-force per-sample Jacobian.

The reference is one ``autograd.grad`` per sample on a float64 copy of the module (rows of J), independent
of the hooks, the unfolded patches and the chosen form. Float64 modules must agree to rounding; float32
modules to float32 rounding of the factors (relative 1e-4 of the largest entry).
"""
import copy

import pytest
import torch
from torch import nn

from dualgan.models import dcgan_discriminator
from dualgan.trust_region import FixedRadius, TrustRegionDiscriminator, score_linearization
from dualgan.trust_region import factorised
from dualgan.trust_region.factorised import _aat, _choose_form, factorised_pass
from tests.trust_region.test_factorised import _brute_force as _rows_and_scores


def _brute_force(module, x):
    """Rows of J and w from a float64 copy of the module, one backward pass per sample (test_factorised's reference)."""
    J, w, _ = _rows_and_scores(copy.deepcopy(module).double(), x.double())
    return J, w


def _close(actual, expected, dtype):
    """float64: rounding; float32: relative 1e-4 of the largest entry (the factors are float32)."""
    actual = actual.double()
    if dtype == torch.float64:
        torch.testing.assert_close(actual, expected, rtol=1e-11, atol=1e-11 * float(expected.abs().max()))
    else:
        torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))


class _Tokens(nn.Module):
    """An nn.Linear over 3 positions of each sample (T = 3), then a flat head."""

    def __init__(self):
        super().__init__()
        self.tokens = nn.Linear(4, 5)
        self.head = nn.Linear(15, 1)

    def forward(self, x):
        return self.head(torch.tanh(self.tokens(x.reshape(-1, 3, 4))).reshape(-1, 15))


def _convs():
    """Conv layers with stride, dilation, rectangular kernels, 'valid' padding, no bias and a frozen bias."""
    torch.manual_seed(11)
    net = nn.Sequential(nn.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2)), nn.Tanh(),
                        nn.Conv2d(3, 4, 2, padding="valid", bias=False), nn.Softplus(),
                        nn.Conv2d(4, 2, 1), nn.Tanh(), nn.Flatten(), nn.Linear(2 * 4 * 4, 1))
    net[4].bias.requires_grad_(False)
    return net, (2, 9, 7), ["0", "2", "4"]


def _tokens():
    torch.manual_seed(12)
    return _Tokens(), (12,), ["tokens"]


def _dcgan():
    """The library's DCGAN-style discriminator, narrow: conv + ReLU + max-pool blocks, two fc layers, a head."""
    return dcgan_discriminator(channels=(3, 4), hidden=(6, 5), image_size=8, seed=3), (1, 8, 8), \
        ["features.convs.0", "features.convs.3"]


MODELS = {"convs": _convs, "tokens": _tokens, "dcgan": _dcgan}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("form", ["auto", "ghost", "rows"])
@pytest.mark.parametrize("model", list(MODELS))
def test_each_form_gives_the_brute_force_gram_jw_and_pullback(model, form, dtype):
    module, shape, multi_position = MODELS[model]()
    module = module.to(dtype)
    x = torch.randn(7, *shape, generator=torch.Generator().manual_seed(5), dtype=dtype)
    J, w = _brute_force(module, x)
    names = [n for n, p in module.named_parameters() if p.requires_grad]
    forms = None if form == "auto" else {name: form for name in multi_position}
    part = factorised_pass(module, names, x, 512.0, forms)
    assert set(part.covered) == set(names)  # every trainable parameter is in a factorised layer
    for name in multi_position:
        assert part.forms[name] == form if form != "auto" else part.forms[name] in ("ghost", "rows")
    _close(part.gram, J @ J.T, dtype)
    _close(part.jw, J @ w, dtype)
    c = torch.randn(x.shape[0], generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    _close(part.pullback(c), J.T @ c, dtype)
    # the result is exactly symmetric (the sub-problem's Cholesky sees one matrix)
    assert torch.equal(part.gram, part.gram.T)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_a_tiny_budget_chunks_the_rows(dtype):
    """A budget below one row forces one-sample blocks of R (recomputed per block, the pullback from the
    unfolded patches)."""
    module, shape, multi_position = _dcgan()
    module = module.to(dtype)
    x = torch.randn(6, *shape, generator=torch.Generator().manual_seed(7), dtype=dtype)
    J, w = _brute_force(module, x)
    names = [n for n, p in module.named_parameters() if p.requires_grad]
    for budget in (512.0, 1e-6):
        part = factorised_pass(module, names, x, budget)
        assert all(part.forms[name] == "rows" for name in multi_position)
        _close(part.gram, J @ J.T, dtype)
        _close(part.jw, J @ w, dtype)
        c = torch.randn(x.shape[0], generator=torch.Generator().manual_seed(8), dtype=torch.float64)
        _close(part.pullback(c), J.T @ c, dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_reused_and_tied_layers_match_the_brute_force_gram(dtype):
    """A conv called twice and a weight tied between two Linear layers go through torch.func; the rest is
    factorised; the sum is the Gram of the whole Jacobian."""

    class Reused(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(13)
            self.conv = nn.Conv2d(1, 1, 3, padding=1)  # called twice
            self.a, self.b = nn.Linear(16, 6), nn.Linear(6, 6)
            self.b.weight = nn.Parameter(self.a.weight[:, :6].detach().clone())
            self.c = nn.Linear(6, 6)
            self.c.weight = self.b.weight  # tied
            self.head = nn.Linear(6, 1)

        def forward(self, x):
            h = torch.tanh(self.conv(torch.tanh(self.conv(x)))).flatten(1)
            h = torch.tanh(self.a(h))
            return self.head(torch.tanh(self.c(torch.tanh(self.b(h)))))

    module = Reused().to(dtype)
    x = torch.randn(6, 1, 4, 4, generator=torch.Generator().manual_seed(9), dtype=dtype)
    J, w = _brute_force(module, x)
    lin = score_linearization(module, x)
    assert lin.method == "factorised+jacobian"
    live = dict(module.named_parameters())
    assert lin.n_factorised == sum(live[n].numel() for n in ("a.weight", "a.bias", "head.weight", "head.bias"))
    _close(lin.gram, J @ J.T, dtype)
    _close(lin.jw, J @ w, dtype)


def test_the_cost_model_picks_rows_for_image_convs_and_ghost_for_few_positions():
    """Multiply-add counts of the two forms, recounted here from their definitions."""
    N = 256
    for T, d_in, d_out in ((784, 9, 32), (196, 288, 64), (49, 576, 64), (4, 48, 48), (4, 8, 16), (2, 512, 512)):
        ghost = N * N * T * T * (d_in + d_out)
        rows = N * T * d_in * d_out + 0.75 * N * N * d_in * d_out
        assert _choose_form(N, T, d_in, d_out) == ("ghost" if ghost < rows else "rows")
    assert _choose_form(N, 196, 288, 64) == "rows"  # a 3x3 conv on 14x14 maps: rows by a factor of ~700
    assert _choose_form(N, 2, 512, 512) == "ghost"
    assert _choose_form(N, 1, 3136, 40) == "outer"
    # the library's 28x28 discriminator: every conv layer by rows, every fully connected layer by outer products
    disc = dcgan_discriminator()
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    part = factorised_pass(disc, [n for n, _ in disc.named_parameters()], x, 512.0)
    assert part.forms == {"features.convs.0": "rows", "features.convs.3": "rows", "features.convs.6": "rows",
                          "features.fc1": "outer", "features.fc2": "outer", "head": "outer"}


@pytest.mark.parametrize("shape", [(5, 40), (200, 300), (257, 260), (128, 1000)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_block_triangular_aat_is_the_symmetric_product(shape, dtype):
    A = torch.randn(*shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    G = _aat(A.to(dtype))
    assert G.dtype == dtype and torch.equal(G, G.T)
    _close(G, A @ A.T, dtype)


def test_bad_forced_form_is_refused():
    module, shape, _ = _dcgan()
    x = torch.randn(3, *shape, generator=torch.Generator().manual_seed(4))
    names = [n for n, _ in module.named_parameters()]
    with pytest.raises(ValueError, match="form must be"):
        factorised_pass(module, names, x, 512.0, {"features.convs.0": "outer"})
    with pytest.raises(ValueError, match="form must be"):
        factorised_pass(module, names, x, 512.0, {"features.convs.0": "dense"})


class _LinearInParameters(nn.Module):
    """Affine in w: a trainable conv on a fixed nonlinear map of x, average-pooled and read out by a frozen
    Linear, so the linearised score is the score and the step's model is the cost itself."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(14)
        self.fixed = nn.Conv2d(1, 3, 3, padding=1)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.readout = nn.Linear(4 * 4 * 4, 1)
        for p in (*self.fixed.parameters(), *self.readout.parameters()):
            p.requires_grad_(False)

    def forward(self, x):
        h = torch.tanh(self.fixed(x))  # nonlinear in x only
        return self.readout(nn.functional.avg_pool2d(self.conv(h), 2).flatten(1))


@pytest.mark.parametrize("form", ["rows", "ghost"])
def test_step_on_a_conv_linear_in_its_parameters_is_exact(form, monkeypatch):
    """rho = 1 to 1e-8 (the linearised score is the score), and the step equals the torch.func step."""
    g = torch.Generator().manual_seed(10)
    real = torch.randn(12, 1, 8, 8, generator=g, dtype=torch.float64) + 0.3
    fake = torch.randn(12, 1, 8, 8, generator=g, dtype=torch.float64)
    original = factorised._choose_form
    monkeypatch.setattr(factorised, "_choose_form", lambda N, T, d_in, d_out: form if T > 1 else original(
        N, T, d_in, d_out))
    steps = {}
    for method in ("auto", "torch.func"):
        module = _LinearInParameters().double()
        tr = TrustRegionDiscriminator(module, model="score", C=1e-2, radius=0.3, policy=FixedRadius(),
                                      linearization=method)
        rec = tr.step(real, fake)
        assert rec.accepted and abs(rec.rho - 1.0) <= 1e-8, (rec.rho, rec.status)
        steps[method] = rec
    assert steps["auto"].linearization == "factorised"
    torch.testing.assert_close(steps["auto"].step, steps["torch.func"].step, rtol=1e-9, atol=1e-12)
    assert steps["auto"].predicted_decrease == pytest.approx(steps["torch.func"].predicted_decrease, rel=1e-9)


def test_grouped_conv_rows_in_several_calls_match_one_call(monkeypatch):
    """The conv rows formed a few samples per convolution call (a small _CHUNK_BYTES) equal the brute force."""
    module, shape, multi_position = _convs()
    module = module.double()
    x = torch.randn(5, *shape, generator=torch.Generator().manual_seed(15), dtype=torch.float64)
    J, w = _brute_force(module, x)
    names = [n for n, p in module.named_parameters() if p.requires_grad]
    monkeypatch.setattr(factorised, "_CHUNK_BYTES", 1)  # one sample per call
    part = factorised_pass(module, names, x, 512.0, {name: "rows" for name in multi_position})
    _close(part.gram, J @ J.T, torch.float64)
    _close(part.jw, J @ w, torch.float64)
