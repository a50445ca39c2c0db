import math

import pytest

from skysense.bistatic import Grid, OperationCounts, Scenario, hankel_shape, operation_counts


def test_counts_follow_the_formulas():
    s = Scenario()
    c = operation_counts(s, 4)
    assert isinstance(c, OperationCounts)
    big_l, big_p = hankel_shape(s)
    stages = c.paraming_stages
    assert stages["svd"] == 4 * (4 * big_l**2 * big_p + 8 * big_l * big_p**2 + 9 * big_p**3)
    assert set(stages) == {"svd", "pencil", "eig", "cordic", "least_squares"}
    assert c.paraming == sum(stages.values())
    # the paper's ordering: the grid methods cost far more than PARAMING at 1 degree
    assert c.music > c.dml > c.bartlett > c.paraming
    assert len(repr(c).splitlines()) == 7  # short repr: one line per field


def test_grid_costs_scale_with_the_grid():
    s = Scenario()
    fine = Grid.uniform(s, angle_step_rad=math.pi / 180)
    coarse = Grid.uniform(s, angle_step_rad=math.pi / 90)
    ratio = (fine.aoa_rad.size * fine.aod_rad.size) / (coarse.aoa_rad.size * coarse.aod_rad.size)
    a, b = operation_counts(s, 4, grid=fine), operation_counts(s, 4, grid=coarse)
    assert a.bartlett / b.bartlett == pytest.approx(ratio)
    assert a.dml / b.dml == pytest.approx(ratio)
    assert a.paraming == b.paraming and a.paraming_stages == b.paraming_stages
    big_l = hankel_shape(s)[0]  # pencil: 8 (q L P + q^2 P)
    ratio_q = operation_counts(s, 8).paraming_stages["pencil"] / a.paraming_stages["pencil"]
    assert ratio_q == pytest.approx((8 * big_l + 64) / (4 * big_l + 16))


def test_bad_arguments():
    with pytest.raises(TypeError, match="bistatic.Scenario"):
        operation_counts(object(), 4)
    with pytest.raises(ValueError, match="n_paths"):
        operation_counts(Scenario(), 0)
