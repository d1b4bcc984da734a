"""A game optimiser's state: the base optimisers' pure rules against torch.optim, in torch's state_dict layout.

An object game's base optimiser used to be torch's own, and ``state_dict()["base"]`` its state_dict; the pure
rule writes the same layout (its flat moments per parameter, under torch's names), so a state written by either
loads into the other and the run continues as torch's would. Reference: torch.optim stepped on the closed-form
field of the bilinear game.
"""
import pytest
import torch

from dualgan.games import BilinearGame, bilinear_jacobian, make_optimizer, random_matrix
from dualgan.train import CheckpointError

A = random_matrix(3, 2, seed=5, singular_values=(0.5, 1.5))
BASES = [("sgd", torch.optim.SGD, {"momentum": 0.6, "nesterov": True}),
         ("adam", torch.optim.Adam, {"betas": (0.5, 0.9), "amsgrad": True}),
         ("rmsprop", torch.optim.RMSprop, {"alpha": 0.9, "centered": True, "momentum": 0.3})]


def _torch_steps(z, opt, steps):
    """``steps`` of simultaneous GD on v = J z with the torch optimiser ``opt`` of the tensor ``z``."""
    J = torch.tensor(bilinear_jacobian(A))
    for _ in range(steps):
        with torch.no_grad():
            z.grad = J @ z
        opt.step()
    return z


@pytest.mark.parametrize("base, torch_cls, kwargs", BASES, ids=[b[0] for b in BASES])
def test_a_state_written_with_torchs_optimiser_loads_and_the_run_continues_as_torchs(base, torch_cls, kwargs):
    lr, game = 0.05, BilinearGame(A, seed=2)
    z = game.get_flat().clone().requires_grad_(True)
    ref = torch_cls([z], lr=lr, **kwargs)
    _torch_steps(z, ref, 4)
    # what an earlier version wrote: torch's state_dict as "base", one tensor per game parameter (the bilinear
    # game holds x and y, so the flat z of the reference is split the same way)
    x, y = (t.detach().clone().requires_grad_(True) for t in (z[:3], z[3:]))
    per_tensor = torch_cls([x, y], lr=lr, **kwargs)
    flat = ref.state_dict()["state"][0]
    per_tensor.load_state_dict({"state": {k: {f: (v if v.ndim == 0 else v[sl]) for f, v in flat.items()}
                                          for k, sl in ((0, slice(0, 3)), (1, slice(3, 5)))},
                                "param_groups": [dict(ref.state_dict()["param_groups"][0], params=[0, 1])]})
    old = {"iteration": 4, "lr": lr, "base": per_tensor.state_dict(), "extra": None}
    game.set_flat(z.detach())
    opt = make_optimizer("simultaneous", lr=lr, base=base, base_kwargs=kwargs)
    opt.check_state_dict(old, game.parameters)
    opt.load_state_dict(old, game)
    for _ in range(6):
        assert opt.step(game).ok
    _torch_steps(z, ref, 6)
    assert torch.allclose(game.get_flat(), z.detach(), rtol=1e-12, atol=1e-14) and opt.iteration == 10
    # and the pure rule writes torch's layout: the reference's state, split per parameter, field by field
    saved, flat = opt.state_dict()["base"], ref.state_dict()["state"][0]
    assert saved["param_groups"][0]["params"] == [0, 1] and set(saved["state"][0]) == set(flat)
    for k, sl in ((0, slice(0, 3)), (1, slice(3, 5))):
        for field, value in flat.items():
            want = value if value.ndim == 0 else value[sl]
            assert torch.allclose(saved["state"][k][field].double(), want.double(), rtol=1e-12, atol=1e-14), field


def test_a_state_of_the_wrong_shape_or_kind_is_refused_naming_it():
    game = BilinearGame(A, seed=1)
    opt = make_optimizer("simultaneous", lr=0.1, base="adam")
    opt.step(game)
    state = opt.state_dict()
    smaller = BilinearGame(random_matrix(2, 2, seed=0), seed=0)
    with pytest.raises(CheckpointError, match=r"'exp_avg' of parameter 0 has shape \(3,\)"):
        make_optimizer("simultaneous", lr=0.1, base="adam").check_state_dict(state, smaller.parameters)
    with pytest.raises(ValueError, match="not a SimultaneousGD state"):
        make_optimizer("simultaneous", lr=0.1, base="adam").load_state_dict({"lr": 0.1}, game)


def test_a_callable_base_is_torchs_optimiser_and_steps_as_the_named_pure_rule():
    """Reference: the same SGD with Nesterov momentum as torch's optimiser (a callable) and as the pure rule."""
    games = BilinearGame(A, seed=3), BilinearGame(A, seed=3)
    named = make_optimizer("alternating", lr=0.1, base="sgd", base_kwargs={"momentum": 0.5, "nesterov": True})
    given = make_optimizer("alternating", lr=0.1,
                           base=lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.5, nesterov=True))
    for _ in range(15):
        records = named.step(games[0]), given.step(games[1])
        assert all(r.ok for r in records) and records[0].update_norm == pytest.approx(records[1].update_norm, 1e-12)
    assert isinstance(given._optimizer.torch, torch.optim.SGD) and named._optimizer.torch is None
    assert torch.allclose(games[0].get_flat(), games[1].get_flat(), rtol=1e-12, atol=1e-14)


def test_the_batched_form_of_a_base_refuses_a_value_as_the_object_form_does():
    """One validation for both: the message names the option, the value and the valid ranges."""
    from dualgan.games import functional_base

    for build in (lambda: functional_base("adam", {"betas": (2.0, 0.9)}),
                  lambda: make_optimizer("simultaneous", base="adam", base_kwargs={"betas": (2.0, 0.9)})):
        with pytest.raises(ValueError, match=r"betas.*2\.0.*refused.*0 <= beta1, beta2 < 1"):
            build()
