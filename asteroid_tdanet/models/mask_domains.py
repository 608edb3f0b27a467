"""What the masker of an STFT front end sees, and what its masks multiply.

An STFT encoder (asteroid-filterbanks' ``STFTFB``) gives ``2F`` channels per frame: the real
parts of the ``F = n_fft // 2 + 1`` bins, then their imaginary parts. Two ways to mask them,
one class each with the same three methods (``n_features``, ``features``, ``apply``), chosen
by name from :data:`MASK_DOMAINS`:

* ``coefficients`` -- the masker reads the ``2F`` coefficients and gives one mask per
  coefficient (Asteroid's ``fb_name="stft"`` models; the real and imaginary parts of a bin
  are scaled independently). The only choice for a learned (``free``) filterbank.
* ``magnitude`` -- the masker reads the log-magnitude ``log |X(f, t)|`` (``F`` channels) and
  gives one mask per bin, applied to its real and imaginary parts alike:
  ``S_i(f, t) = M_i(f, t) X(f, t)`` with the mixture's phase, the time-frequency masking of
  uPIT (Kolbaek et al. 2017). A small model learns it much faster: the log compresses
  speech's 60 dB range, which coefficient inputs leave to the network.
"""

import torch
from asteroid_filterbanks.transforms import apply_mag_mask

# Floor of the power under the log (a silent bin reads log(1e-5)).
LOG_POWER_FLOOR = 1e-10


class CoefficientMasks:
    """Masks on every filterbank coefficient (the masker sees the coefficients)."""

    @staticmethod
    def n_features(n_feats_out: int) -> int:
        """Masker channels for an encoder of ``n_feats_out`` channels."""
        return n_feats_out

    @staticmethod
    def features(tf_rep: torch.Tensor) -> torch.Tensor:
        """``(batch, C, frames)`` -> the same tensor."""
        return tf_rep

    @staticmethod
    def apply(tf_rep: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """``(batch, C, frames)`` and ``(batch, n_src, C, frames)`` -> their product."""
        return masks * tf_rep.unsqueeze(1)


class MagnitudeMasks:
    """Log-magnitude in, one mask per STFT bin out (see the module docstring)."""

    @staticmethod
    def n_features(n_feats_out: int) -> int:
        return n_feats_out // 2

    @staticmethod
    def features(tf_rep: torch.Tensor) -> torch.Tensor:
        """``(batch, 2F, frames)`` -> ``log |X|``, ``(batch, F, frames)``."""
        if tf_rep.dtype == torch.float16:  # the floor rounds to 0 there: log(0) = -inf
            return MagnitudeMasks.features(tf_rep.float()).half()
        real, imag = tf_rep.chunk(2, dim=1)
        return 0.5 * torch.log(real * real + imag * imag + LOG_POWER_FLOOR)

    @staticmethod
    def apply(tf_rep: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """``(batch, 2F, frames)`` and ``(batch, n_src, F, frames)`` -> ``(batch, n_src, 2F,
        frames)``: each bin's real and imaginary parts scaled by its mask."""
        return apply_mag_mask(tf_rep.unsqueeze(1), masks, dim=2)


MASK_DOMAINS = {"coefficients": CoefficientMasks, "magnitude": MagnitudeMasks}


def get_mask_domain(name: str, fb_name: str):
    """The ``name`` class of :data:`MASK_DOMAINS`; ``magnitude`` needs ``fb_name="stft"``."""
    if name not in MASK_DOMAINS:
        raise ValueError(f"Unknown mask_domain {name!r}; choose one of {sorted(MASK_DOMAINS)}.")
    if name != "coefficients" and fb_name != "stft":
        raise ValueError(
            f"mask_domain={name!r} needs an STFT encoder (fb_name='stft'), got fb_name={fb_name!r}."
        )
    return MASK_DOMAINS[name]
