"""The metrics' one measurement of a fixed function (issue 25: the distances, cross-testing and the classifier score each
wrote the move to the module's dtype, the eval mode and the batching)."""
import pytest
import torch
from torch import nn

from dualgan.metrics import confusion_rates
from dualgan.metrics._evaluate import evaluate_in_batches


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 5), nn.Dropout(0.5), nn.BatchNorm1d(5), nn.Linear(5, 2)).train()


def test_outputs_are_the_eval_mode_network_on_samples_in_its_dtype_and_the_modes_come_back():
    net = _net()
    net[2].train(False)  # a mixed state, put back as it was
    x = torch.randn(7, 3, dtype=torch.float64)
    stats = net[2].running_mean.clone()
    out = torch.cat(evaluate_in_batches(net, x, 3, lambda chunk, y: y))
    modes = [m.training for m in net.modules()]
    reference = net.eval()(x.float()).detach()  # the reference: plain eval-mode evaluation, all at once
    assert out.dtype == torch.float32 and torch.allclose(out, reference, rtol=1e-6, atol=1e-7)
    assert torch.equal(net[2].running_mean, stats)
    assert modes == [True, True, True, False, True]


def test_a_refusal_of_one_chunk_leaves_the_modes_restored():
    net = _net()
    with pytest.raises(ValueError, match="one score per sample"):
        confusion_rates(net, torch.randn(4, 3), torch.randn(4, 3))  # two outputs per sample
    assert all(m.training for m in net.modules())


def test_a_plain_callable_is_called_on_each_chunk_as_it_is():
    seen = []
    out = evaluate_in_batches(lambda c: c.sum(1), torch.arange(10.0).reshape(5, 2), 2,
                              lambda chunk, y: (seen.append(len(chunk)), y)[1])
    assert seen == [2, 2, 1] and torch.equal(torch.cat(out), torch.tensor([1.0, 5.0, 9.0, 13.0, 17.0]))
