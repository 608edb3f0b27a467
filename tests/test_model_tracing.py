"""TorchScript tracing keeps a dynamic time axis (needed by export and by Asteroid tooling).

``torch.compile`` works with static shapes (one compilation per input length, minutes on CPU,
so it is not run here); ``dynamic=True`` fails inside torch 2.11's CPU build, see the README.
"""

import pytest
import torch

from asteroid_tdanet import TDANet


@pytest.mark.parametrize("variant", [{}, dict(official_compat=True)])
def test_trace_at_one_length_runs_at_others(tiny_args, variant):
    model = TDANet(**tiny_args, **variant).eval()
    with torch.no_grad():
        traced = torch.jit.trace(model, torch.randn(1, 4000), check_trace=False)
        for length in (4000, 5555, 9001):
            x = torch.randn(2, length)
            torch.testing.assert_close(traced(x), model(x))
