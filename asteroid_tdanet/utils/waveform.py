"""Waveform sample formats: floats of any precision and integer PCM."""

import functools
import itertools

from typing import Optional

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


def first_non_finite(wav: torch.Tensor) -> Optional[int]:
    """Index along the last (time) axis of the first NaN/Inf sample of any row, or ``None``
    (integer samples are always finite)."""
    if not wav.is_floating_point():
        return None
    finite = torch.isfinite(wav).reshape(-1, wav.shape[-1]).all(0)
    return None if bool(finite.all()) else int(torch.nonzero(~finite)[0])


def output_dtype(wav: torch.Tensor, model_dtype: torch.dtype) -> torch.dtype:
    """Dtype of a model's outputs for input ``wav``: the input's for floats, else the model's."""
    return wav.dtype if wav.is_floating_point() else model_dtype


def model_dtype(model: torch.nn.Module) -> torch.dtype:
    """The dtype ``model`` computes in: that of its first floating-point parameter or buffer
    (the default dtype for a model without any)."""
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.get_default_dtype()


def any_sample_format(forward):
    """Decorator of a separation model's ``forward(wav, ...)``: any sample format in.

    Floats of another precision (float64, float16, bfloat16) are cast to the model's dtype
    (:func:`model_dtype`) and the outputs back to the input's; integer PCM (int16, int32,
    int8, uint8) is scaled to ``[-1, 1)`` (:func:`to_float_waveform`) and the outputs are in
    the model's dtype; ``int64`` / ``bool`` raise ``TypeError``. Every model of the package
    takes its input this way, so ``model(x)`` means the same for all of them.
    """

    @functools.wraps(forward)
    def wrapper(self, wav: torch.Tensor, *args, **kwargs):
        dtype = model_dtype(self)
        out = forward(self, to_float_waveform(wav, dtype), *args, **kwargs)
        return _cast_outputs(out, output_dtype(wav, dtype))

    return wrapper


def _cast_outputs(out, dtype: torch.dtype):
    """``out`` (a tensor, or tuples / lists of them: ``forward_with_aux``) in ``dtype``."""
    if isinstance(out, torch.Tensor):
        return out if out.dtype == dtype else out.to(dtype)
    if isinstance(out, (tuple, list)):
        return type(out)(_cast_outputs(o, dtype) for o in out)
    return out
