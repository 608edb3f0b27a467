"""TorchScript tracing keeps a dynamic time axis (needed by export and by Asteroid tooling).

``torch.compile`` works with static shapes (one compilation per input length, minutes on CPU,
so it is not run here); ``dynamic=True`` fails inside torch 2.11's CPU build, see the README.
"""

import warnings

import pytest
import torch

from asteroid_tdanet import TDANet
from asteroid_tdanet.models import SeparationModel


@pytest.mark.parametrize("variant", [{}, dict(official_compat=True)])
def test_trace_at_one_length_runs_at_others(tiny_args, variant):
    model = TDANet(**tiny_args, **variant).eval()
    with torch.no_grad():
        traced = torch.jit.trace(model, torch.randn(1, 4000), check_trace=False)
        for length in (4000, 5555, 9001):
            x = torch.randn(2, length)
            torch.testing.assert_close(traced(x), model(x))


# Tiny models: the default and causal TDANet, S4M, and TDANet with each other mixer.
TINY_SIZES = dict(sample_rate=8000, bn_chan=16, hid_chan=32, n_blocks=2, upsampling_depth=3)
TRACE_VARIANTS = [("preset", name, {}) for name in ("tdanet", "tdanet-causal", "s4m")] + [
    ("mixer", mixer, dict(causal=causal))
    for mixer in ("mhsa-frame-local", "fla", "wsa", "s4")
    for causal in ((False, True) if mixer in ("fla", "s4") else (False,))
]


def _variant_model(kind, name, extra):
    if kind == "preset":
        return SeparationModel.from_preset(name, **TINY_SIZES)
    causal = dict(causal=True, norm_type="cLN") if extra["causal"] else {}
    return TDANet(**TINY_SIZES, ga_mixer=name, **causal)


@pytest.mark.parametrize("kind,name,extra", TRACE_VARIANTS, ids=lambda v: str(v))
def test_trace_with_default_checks(kind, name, extra):
    """``torch.jit.trace(model, x)`` with its default check, which re-traces the model under
    ``no_grad`` and compares the graphs: a graph must depend neither on the autograd mode
    nor on state left by an earlier call (caches, one-time set-ups)."""
    torch.manual_seed(0)
    model = _variant_model(kind, name, extra).eval()  # fresh: no state from earlier calls
    x = torch.randn(1, 2001)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(model, x)
    with torch.no_grad():
        first, second = traced(x), traced(x)
        expected = model(x)
    # Running the graph changes nothing (S4: its state is set up once, outside the graph).
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    torch.testing.assert_close(first, expected)
