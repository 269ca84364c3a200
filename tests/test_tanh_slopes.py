"""``tanh_d1`` (both of its forms) against mpmath's sech² to a few ulp, saturated units included."""

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from symmle.activations import _tanh_d1_cosh, _tanh_d1_exp, tanh_d1

TINY = 2.2250738585072014e-308  # the smallest normal float64
EPS = 2.0 ** -52


def sech2(z):
    with mpmath.workdps(40):
        return mpmath.sech(mpmath.mpf(z)) ** 2


@pytest.mark.parametrize("form", [_tanh_d1_cosh, _tanh_d1_exp, tanh_d1])
@given(z=st.lists(st.floats(-800.0, 800.0, allow_nan=False), min_size=1, max_size=20))
def test_tanh_d1_within_a_few_ulp(form, z):
    got = np.atleast_1d(form(np.array(z)))
    for zi, gi in zip(z, got):
        truth = sech2(zi)
        if truth >= TINY:
            assert abs(mpmath.mpf(float(gi)) - truth) <= 4 * EPS * truth, zi
        else:  # subnormal or below: the absolute error of one rounding there
            assert abs(mpmath.mpf(float(gi)) - truth) <= 2 * 5e-324, zi


def test_tanh_d1_at_points():
    assert tanh_d1(0.0) == 1.0
    assert tanh_d1(np.array([1e3, -1e3])).tolist() == [0.0, 0.0]
    # where 1 − tanh² is 0 the slope keeps its digits: 4e^{-62} at z = 31
    assert tanh_d1(31.0) == pytest.approx(float(sech2(31.0)), rel=4 * EPS)
    assert np.ndim(tanh_d1(2.0)) == 0
