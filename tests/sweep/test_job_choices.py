"""The sweep jobs' choices are the trainers' own (issue 25: no list repeated in the sweep)."""
import pytest

from dualgan.duals import DISCRIMINATOR_LOSSES
from dualgan.sweep.jobs import DTYPES, PARAM_CHECKS
from dualgan.train import GENERATOR_SIZES, MODES
from dualgan.train.linear import GAN_LOSSES
from dualgan.trust_region import TRAINER_MODELS


@pytest.mark.parametrize("name,choices", [("size", list(GENERATOR_SIZES)), ("mode", MODES),
                                          ("loss", DISCRIMINATOR_LOSSES), ("gan_loss", GAN_LOSSES),
                                          ("model", TRAINER_MODELS), ("dtype", DTYPES)])
def test_every_choice_of_the_trainers_is_accepted_and_nothing_else(name, choices, monkeypatch):
    for value in choices:
        PARAM_CHECKS[name](name, value)
    with pytest.raises(ValueError, match=f"{name} must be one of {list(choices)!r}".replace("[", r"\[").replace("]", r"\]")):
        PARAM_CHECKS[name](name, "no-such-choice")


def test_a_choice_added_to_a_trainer_is_accepted_by_the_sweep(monkeypatch):
    import dualgan.train.generators as generators

    monkeypatch.setitem(generators.GENERATOR_SIZES, "tiny", (8,))
    PARAM_CHECKS["size"]("size", "tiny")  # read from the trainer's table, not a copy
