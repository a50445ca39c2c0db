"""MappingParams validation: lengths whose cube would overflow name the parameter."""

import pytest

from skysense.mapping import MappingParams


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"roi_radius_m": 1e300, "birth_height_m": 15.0}, r"roi_radius_m must be <= 1e\+100 m"),
        ({"range_max_m": 1e200}, r"range_max_m must be <= 1e\+100 m"),
        ({"roi_center_m": (0.0, 0.0, 1e200)}, r"roi_center_m must lie within"),
    ],
)
def test_lengths_whose_cube_overflows_name_the_parameter(kwargs, match):
    # roi_radius_m = 1e300 used to raise OverflowError (34, 'Numerical result out of range')
    with pytest.raises(ValueError, match=match):
        MappingParams(**kwargs)
