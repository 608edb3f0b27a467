"""STFT mask domains: what the masker reads and what its masks do, for TDANet and S4M."""

import math

import pytest
import torch
from torch import nn

from asteroid_tdanet import S4M, TDANet
from asteroid_tdanet.models.mask_domains import MASK_DOMAINS

STFT = dict(kernel_size=64, stride=16, fb_name="stft")


class FixedMasks(nn.Module):
    """A masker stand-in: records its input, returns ``masks(features)``."""

    def __init__(self, masks):
        super().__init__()
        self.masks, self.seen = masks, None

    def forward(self, feats):
        self.seen = feats
        return self.masks(feats)


def _with_masker(model, masks):
    model.masker = FixedMasks(masks)
    return model.eval()


@pytest.mark.parametrize("cls", [TDANet, S4M])
def test_magnitude_masker_reads_log_magnitude_of_each_bin(tiny_args, cls):
    if cls is S4M:
        tiny_args.pop("n_heads")  # TDANet's attention heads; S4M's mixer is an S4 layer
    model = cls(**{**tiny_args, **STFT}, mask_domain="magnitude")
    assert model.masker.in_chan == 33  # bins of a 64-point FFT, not their 66 real/imag parts
    assert cls.from_pretrained(model.serialize()).get_model_args()["mask_domain"] == "magnitude"
    # A tone of amplitude a at bin 5: the masker's feature there is log of a windowed
    # DFT's magnitude, so doubling the input adds log 2 to every non-silent bin.
    model = _with_masker(model.double(), lambda f: torch.ones(f.shape[0], 2, *f.shape[1:]))
    t = torch.arange(2000, dtype=torch.float64)
    tone = torch.cos(2 * math.pi * 5 * t / 64)[None]
    with torch.no_grad():
        model(tone)
        one = model.masker.seen[0, :, 10:-10]
        model(2 * tone)
        two = model.masker.seen[0, :, 10:-10]
    assert one.shape[0] == 33 and one.mean(-1).argmax() == 5
    loud = one > one.max() - 5  # bins far above the floor under the log
    torch.testing.assert_close((two - one)[loud], torch.full_like(one[loud], math.log(2)))


@pytest.mark.parametrize("domain", sorted(MASK_DOMAINS))
def test_unit_masks_reconstruct_and_complementary_masks_sum_to_mixture(tiny_args, domain):
    torch.manual_seed(0)
    mix = torch.randn(2, 1000, dtype=torch.float64)
    model = TDANet(**{**tiny_args, **STFT}, mask_domain=domain).double()
    with torch.no_grad():
        out = _with_masker(model, lambda f: torch.ones(f.shape[0], 2, *f.shape[1:]).double())(mix)
        torch.testing.assert_close(out, mix[:, None].expand_as(out))

        def complementary(f):
            m = torch.sigmoid(torch.randn_like(f))
            return torch.stack([m, 1 - m], dim=1)

        out = _with_masker(model, complementary)(mix)
    torch.testing.assert_close(out.sum(1), mix)


def test_magnitude_masks_keep_the_mixture_phase(tiny_args):
    """One mask per bin scales its real and imaginary parts alike: every masked STFT
    coefficient is the mixture's times a real number (the mixture's phase)."""
    model = TDANet(**{**tiny_args, **STFT}, mask_domain="magnitude")
    tf_rep = model.forward_encoder(torch.randn(1, 1, 800))
    masks = torch.rand(1, 2, 33, tf_rep.shape[-1])
    masked = model.apply_masks(tf_rep, masks)
    assert masked.shape == (1, 2, 66, tf_rep.shape[-1])
    mixture = torch.complex(tf_rep[:, None, :33], tf_rep[:, None, 33:])
    sources = torch.complex(masked[:, :, :33], masked[:, :, 33:])
    torch.testing.assert_close(sources, masks * mixture)


def test_coefficient_masks_are_the_default_and_magnitude_needs_the_stft(tiny_args):
    assert TDANet(**tiny_args).get_model_args()["mask_domain"] == "coefficients"
    with pytest.raises(ValueError, match="mask_domain='magnitude' needs an STFT encoder"):
        TDANet(**tiny_args, mask_domain="magnitude")
    with pytest.raises(ValueError, match=r"Unknown mask_domain 'phase'; choose one of"):
        TDANet(**{**tiny_args, **STFT}, mask_domain="phase")
