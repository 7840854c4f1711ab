import pytest
import torch

from ganlab.core.seeds import z_from_seeds
from ganlab.io.seedlist import format_seeds, parse_seeds


def test_parse_and_format_round_trip():
    assert parse_seeds("0,3,10-12") == [0, 3, 10, 11, 12]
    assert parse_seeds(" 5 ") == [5]
    assert format_seeds([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"
    assert parse_seeds(format_seeds([4, 9, 10, 11])) == [4, 9, 10, 11]


@pytest.mark.parametrize("bad", ["", "1,,2", "a", "-3", "5-2", "1-x", "0-2000000"])
def test_bad_seed_lists(bad):
    with pytest.raises(ValueError):
        parse_seeds(bad)


@pytest.mark.parametrize("dist", ["uniform", "normal"])
def test_z_depends_only_on_its_seed(dist):
    a = z_from_seeds([17], 100, dist)
    b = z_from_seeds([3, 17, 99], 100, dist)
    torch.testing.assert_close(a[0], b[1], rtol=0, atol=0)
    assert not torch.equal(b[0], b[1])


def test_z_distributions():
    u = z_from_seeds(list(range(200)), 100, "uniform")
    assert u.min() >= -1 and u.max() <= 1 and u.min() < -0.9 and u.max() > 0.9
    n = z_from_seeds(list(range(200)), 100, "normal")
    assert abs(n.mean().item()) < 0.05 and n.std().item() == pytest.approx(1.0, abs=0.05)
    with pytest.raises(ValueError):
        z_from_seeds([0], 10, "cauchy")
