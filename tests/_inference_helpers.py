"""Helpers for the inference, CLI and export tests: tiny checkpoints, audio files, SI-SNR."""

import numpy as np
import soundfile as sf
import torch

from asteroid_tdanet import TDANet

# Same sizes as conftest.TINY (8 kHz, a few thousand parameters).
TINY = dict(sample_rate=8000, bn_chan=16, hid_chan=32, n_blocks=2, upsampling_depth=3, n_heads=2)


def tiny_model(**overrides) -> TDANet:
    torch.manual_seed(0)
    return TDANet(**{**TINY, **overrides}).eval()


def save_tiny_model(path, **overrides) -> TDANet:
    """Save a tiny TDANet with ``serialize()`` (what users get from our recipes)."""
    model = tiny_model(**overrides)
    torch.save(model.serialize(), path)
    return model


def write_audio(path, seconds: float, sample_rate: int, channels: int = 1, seed: int = 0, **kw):
    """Random speech-band-ish noise, ``(frames,)`` or ``(frames, channels)``; returns it."""
    rng = np.random.default_rng(seed)
    shape = (int(seconds * sample_rate),) + ((channels,) if channels > 1 else ())
    data = (0.1 * rng.standard_normal(shape)).astype(np.float32)
    sf.write(str(path), data, sample_rate, **kw)
    return data


def si_snr(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Scale-invariant SNR in dB over the last axis (Le Roux et al., 2019)."""
    est = est - est.mean(-1, keepdim=True)
    ref = ref - ref.mean(-1, keepdim=True)
    target = (est * ref).sum(-1, keepdim=True) / (ref * ref).sum(-1, keepdim=True) * ref
    return 10 * torch.log10(target.pow(2).sum(-1) / (est - target).pow(2).sum(-1))
