"""Waveform sample formats: floats of any precision and integer PCM."""

import torch

# Integer PCM: full scale of each signed format (int16: 32768, so samples land in [-1, 1)).
# 8-bit PCM (WAV) is unsigned, centred on 128.
PCM_FULL_SCALE = {torch.int8: 2**7, torch.int16: 2**15, torch.int32: 2**31, torch.uint8: 2**7}
PCM_OFFSET = {torch.uint8: 2**7}


def to_float_waveform(wav: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``wav`` as ``dtype`` samples: floats are cast, integer PCM is scaled to ``[-1, 1)``.

    Raises:
        TypeError: for integer types that are not PCM formats (``int64``, ``bool``): their
            scale is unknown, and dividing them silently by ``2**63`` would give silence.
    """
    if wav.is_floating_point():
        return wav if wav.dtype == dtype else wav.to(dtype)
    if wav.dtype not in PCM_FULL_SCALE:
        raise TypeError(
            f"Cannot read {wav.dtype} samples as audio: pass floats, or integer PCM as int16, "
            f"int32, int8 or uint8 (scaled to [-1, 1))."
        )
    # int32 needs more than float32's 24-bit mantissa only below 2**-24 of full scale.
    work = torch.promote_types(dtype, torch.float32)
    samples = wav.to(work)
    if wav.dtype in PCM_OFFSET:
        samples = samples - PCM_OFFSET[wav.dtype]
    return (samples / PCM_FULL_SCALE[wav.dtype]).to(dtype)


def output_dtype(wav: torch.Tensor, model_dtype: torch.dtype) -> torch.dtype:
    """Dtype of a model's outputs for input ``wav``: the input's for floats, else the model's."""
    return wav.dtype if wav.is_floating_point() else model_dtype
