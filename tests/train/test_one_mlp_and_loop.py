"""One MLP builder and one training loop (issue 25): the builders agree with a network written by hand,
and the constrained-training example runs on ``Trainer.fit``."""
import pytest
import torch
from torch import nn

from dualgan.constraints import examples
from dualgan.status import StatusCode
from dualgan.train import mlp, mlp_generator
from dualgan.train.base import Trainer


def _by_hand(sizes, act):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


def _same(a, b):
    return str(a) == str(b) and all(torch.equal(p, q) for p, q in zip(a.state_dict().values(),
                                                                         b.state_dict().values()))


def test_the_builder_is_a_hand_written_network_under_the_same_seed():
    torch.manual_seed(4)
    ref = _by_hand([3, 7, 5, 2], nn.Tanh)
    torch.manual_seed(4)
    assert _same(mlp([3, 7, 5, 2], nn.Tanh), ref)
    torch.manual_seed(4)
    ref = _by_hand([3, 7, 2], lambda: nn.LeakyReLU(0.2))
    torch.manual_seed(4)
    assert _same(examples.mlp([3, 7, 2]), ref)


def test_the_generator_is_the_builder_with_its_output_layer_scaled():
    torch.manual_seed(0)
    ref = _by_hand([2, 64, 64, 2], nn.ReLU)
    with torch.no_grad():
        ref[-1].weight.mul_(3.0)
        ref[-1].bias.zero_()
    assert _same(mlp_generator(seed=0, output_gain=3.0), ref)


@pytest.mark.parametrize("sizes,match", [([3], "at least two"), ("32", "at least two"), ([3, 0, 2], r"sizes\[1\]"),
                                         ([3, 2.5], r"sizes\[1\]")])
def test_the_builder_refuses_bad_sizes(sizes, match):
    with pytest.raises(ValueError, match=match):
        mlp(sizes)


def test_the_constrained_example_trains_through_trainer_fit(monkeypatch):
    calls = []
    fit = Trainer.fit

    def counted(self, data, iterations, **kw):
        calls.append((type(self).__name__, iterations))
        return fit(self, data, iterations, **kw)

    monkeypatch.setattr(Trainer, "fit", counted)
    data = examples.subspace_mixture()
    run = examples.train_constrained(data, None, steps=6, batch_size=16, hidden=8, n_eval=50, record_every=4)
    assert calls == [("_ConstrainedExample", 6)]
    assert run.status.code is StatusCode.SUCCESS and run.steps == 6 and run.history_steps == (4, 6)
    # the recorded violation is the data constraint's distance of the held-out samples, recomputed here
    x = run.samples.double()
    A, b = data.constraint.A.double(), data.constraint.b.double()
    r = x @ A.T - b
    dist = torch.linalg.vector_norm(torch.linalg.solve(A @ A.T, r.T).T @ A, dim=1)
    assert run.violation.max_distance == pytest.approx(float(dist.max()), rel=1e-5)


# ------------------------------------------------------------------ optimisers passed in (issue 25)
def _gan(opt_of, constraint=None):
    from dualgan.data import ring
    from dualgan.features import RBF
    from dualgan.train import StandardLinearGAN

    data = ring(5, radius=2.0, std=0.3)
    gen = mlp_generator(seed=1, output_gain=3.0, dtype=torch.float64)
    feats = RBF(data.sample(10, generator=torch.Generator().manual_seed(0), dtype=torch.float64), sigma=0.3)
    return StandardLinearGAN(gen, feats, C=1e-3, latent_dim=2, batch_size=8, seed=0, constraint=constraint,
                             generator_optimizer=opt_of(gen)), data


def test_an_optimiser_passed_in_trains_as_the_same_optimiser_built_by_a_factory():
    from dualgan.constraints import AffineSubspace, Projection

    S = AffineSubspace([[1.0, 1.0]], [0.5])
    for constraint in (None, Projection(S)):
        given, data = _gan(lambda g: torch.optim.SGD(g.parameters(), lr=0.05, momentum=0.5),
                           None if constraint is None else Projection(S))
        built, _ = _gan(lambda g: (lambda params: torch.optim.SGD(params, lr=0.05, momentum=0.5)),
                        None if constraint is None else Projection(S))
        given.fit(data, 4)
        built.fit(data, 4)
        assert given.status.success and built.status.success
        for p, q in zip(given.generator.parameters(), built.generator.parameters()):
            assert torch.equal(p, q)
        assert given.history.meta["generator_optimizer"] == built.history.meta["generator_optimizer"]


def test_an_optimiser_over_other_tensors_is_refused():
    with pytest.raises(ValueError, match="not the generator's 6 trainable parameters"):
        _gan(lambda g: torch.optim.SGD(list(g.parameters())[:-1], lr=0.1))
    with pytest.raises(ValueError, match="not the generator's"):
        _gan(lambda g: torch.optim.SGD([torch.zeros(3, requires_grad=True)], lr=0.1))
    with pytest.raises(TypeError, match="generator_optimizer must be a torch.optim.Optimizer"):
        _gan(lambda g: "adam")
