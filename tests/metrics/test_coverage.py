"""mode_coverage against a brute-force loop over samples and centres."""
import math

import numpy as np
import pytest
import torch

from dualgan.data import grid, ring, ring_on_plane
from dualgan.metrics import mode_coverage


def _brute(x, c, std, n_std, min_count):
    counts = [0] * len(c)
    good = 0
    for xi in x:
        d = [math.dist(xi, cj) for cj in c]
        j = int(np.argmin(d))
        if d[j] <= n_std * std:
            counts[j] += 1
            good += 1
    return sum(k >= min_count for k in counts), good / len(x), tuple(counts)


@pytest.mark.parametrize("n_std, min_count", [(3.0, None), (1.0, 5), (2.0, 1)])
def test_matches_brute_force(rng, n_std, min_count):
    data = ring(5, std=0.1)
    x = np.concatenate([data.sample(300, generator=torch.Generator().manual_seed(0), dtype=torch.float64).numpy(),
                        rng.uniform(-3, 3, size=(100, 2))])
    rep = mode_coverage(x, data.centers, data.std, n_std=n_std, min_count=min_count)
    threshold = min_count if min_count is not None else max(1, round(0.2 * 400 / 5))
    covered, frac, counts = _brute(x.tolist(), data.centers.tolist(), 0.1, n_std, threshold)
    assert (rep.modes_covered, rep.counts, rep.threshold) == (covered, counts, threshold)
    assert rep.high_quality_fraction == pytest.approx(frac, abs=1e-15)


def test_collapse_and_full_coverage():
    data = ring(8, std=0.02)
    full = mode_coverage(data.sample(4000, generator=torch.Generator().manual_seed(1)), data.centers, data.std)
    assert full.all_covered and full.high_quality_fraction > 0.98  # 3 std in 2-D holds ~98.9%
    one = data.centers[:1].repeat(100, 1)
    collapsed = mode_coverage(one, data.centers, data.std)
    assert collapsed.modes_covered == 1 and collapsed.high_quality_fraction == 1.0


def test_toy_data_geometry():
    r = ring(5, radius=2.0, std=0.1)
    np.testing.assert_allclose(r.centers.norm(dim=1).numpy(), 2.0, rtol=1e-15)
    g = grid(4, spacing=2.0)
    assert g.n_modes == 16 and float(g.centers.mean()) == pytest.approx(0.0, abs=1e-15)
    p = ring_on_plane(7)
    c = p.centers - p.centers.mean(0)
    assert torch.linalg.matrix_rank(c).item() == 2  # the seven centres span a plane in 3-D
    np.testing.assert_allclose(c.norm(dim=1).numpy(), 1.0, rtol=1e-12)


def test_bad_input():
    with pytest.raises(ValueError, match="std"):
        mode_coverage(np.zeros((3, 2)), np.zeros((2, 2)), std=0.0)
    with pytest.raises(ValueError, match="dimensions"):
        mode_coverage(np.zeros((3, 3)), np.zeros((2, 2)), std=1.0)
