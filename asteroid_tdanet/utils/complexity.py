"""Parameter and multiply-accumulate (MAC) counts of a separation model.

MACs are counted with a standard counter (``ptflops`` by default, ``thop`` optionally) on one
input of ``seconds`` of audio. Both counters only see ``nn.Module`` layers they know; the
layers of this package and of asteroid-filterbanks that compute with functional calls
(depthwise convolutions, free encoder/decoder) are given hooks with the counters' own
conventions for convolutions (``kernel * in_per_group * out_channels`` per output frame).
Every sequence mixer (``masknn.mixers``) counts itself for the length it is called on
(:meth:`~asteroid_tdanet.masknn.mixers.SequenceMixer.macs`), so the counts are right for any
GA mixer. The counters differ on the rest: ``ptflops`` also counts norms and activations and
counts the self-attention mixers (projections and products, its ``nn.MultiheadAttention``
formula); ``thop`` skips self-attention, as it does for ``nn.MultiheadAttention``.
"""

import contextlib
import io

import torch
from torch import nn


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of (trainable) parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _conv_macs(in_per_group: int, out_chan: int, kernel: int, frames: int, batch: int) -> int:
    return int(batch * frames * kernel * in_per_group * out_chan)


def _depthwise_macs(module, inputs, output) -> int:
    batch, chan, frames = output.shape
    macs = _conv_macs(1, chan, module.kernel_size, frames, batch)
    return macs + (output.numel() if module.bias is not None else 0)


def _pointwise_macs(module, inputs, output) -> int:
    batch, out_chan, frames = output.shape
    macs = _conv_macs(module.in_channels, out_chan, 1, frames, batch)
    return macs + (output.numel() if module.bias is not None else 0)


def _encoder_macs(module, inputs, output) -> int:
    filters = module.filterbank.filters()
    frames, batch = output.shape[-1], inputs[0].shape[0]
    n_chan = inputs[0].shape[1] if inputs[0].ndim == 3 else 1
    return _conv_macs(filters.shape[1], filters.shape[0], filters.shape[-1], frames, batch) * n_chan


def _decoder_macs(module, inputs, output) -> int:
    # Transposed convolution: every input frame is multiplied by every filter tap.
    spec, filters = inputs[0], module.filterbank.filters()
    n_frames, batch = spec.shape[-1], spec.shape[0]
    n_groups = spec.numel() // (batch * n_frames * filters.shape[0])  # e.g. per-source decoding
    return _conv_macs(filters.shape[0], filters.shape[1], filters.shape[-1], n_frames, batch) * max(
        n_groups, 1
    )


def _mixer_macs(module, inputs, output) -> int:
    # Every sequence mixer knows its own cost for a given length (masknn.mixers.base).
    batch, _, frames = output.shape
    return int(batch * module.macs(frames))


def _sequence_attention_macs(module, inputs, output) -> int:
    # Attentions over (batch, L, C) sequences that count themselves (e.g. the Locoformer's).
    batch, length = inputs[0].shape[:2]
    return int(batch * module.macs(length))


def _rotary_attention_macs(module, inputs, output) -> int:
    # (Mel-)Band RoFormer attentions over (batch, sinks + frames, dim); an output shorter
    # than the input is a windowed attention asked for its frames only.
    batch, length = inputs[0].shape[:2]
    frames = length - getattr(module, "n_sinks", 0)
    return int(batch * module.macs(frames, frames_only=output.shape[1] < length))


def _custom_counters(counter: str):
    from asteroid_filterbanks import Decoder, Encoder

    from ..masknn.convolutions import DepthwiseConv1d, PointwiseConv1d
    from ..masknn.mixers import MIXERS, MultiHeadSelfAttention

    counters = {
        DepthwiseConv1d: _depthwise_macs,
        PointwiseConv1d: _pointwise_macs,
        Encoder: _encoder_macs,
        Decoder: _decoder_macs,
    }
    from ..masknn.locoformer import RotarySelfAttention
    from ..masknn.sepreformer_blocks import MultiHeadAttention as SepReformerAttention

    from ..masknn.attention import GatedRotaryAttention, WindowedSinkAttention

    if counter != "thop":  # thop's convention: self-attention is not counted
        counters[RotarySelfAttention] = _sequence_attention_macs
        counters[SepReformerAttention] = _sequence_attention_macs
        counters[GatedRotaryAttention] = _rotary_attention_macs
        counters[WindowedSinkAttention] = _rotary_attention_macs
    for cls in MIXERS.values():
        # thop does not count nn.MultiheadAttention; its figures for attention models (such
        # as the 3.64 G quoted for the released TDANet) follow that convention, kept here.
        if counter == "thop" and issubclass(cls, MultiHeadSelfAttention):
            continue
        counters[cls] = _mixer_macs
    return counters


def count_macs(model: nn.Module, seconds: float = 1.0, counter: str = "ptflops") -> int:
    """MACs of one forward pass on ``seconds`` of audio at ``model.sample_rate`` (batch 1).

    Args:
        model: a separation model taking ``(batch, time)`` waveforms (``(batch, channels,
            time)`` when it has ``audio_channels > 1``).
        seconds: input duration.
        counter: ``"ptflops"`` (counts attention projections; what the paper's 4.7 G matches)
            or ``"thop"`` (skips ``nn.MultiheadAttention``).
    """
    n_samples = int(round(seconds * model.sample_rate))
    channels = int(getattr(model, "audio_channels", 1))  # stereo music models: (1, 2, time)
    wav = torch.randn(1, n_samples) if channels == 1 else torch.randn(1, channels, n_samples)
    was_training = model.training
    model.eval()
    try:
        if counter == "ptflops":
            return _count_ptflops(model, wav)
        if counter == "thop":
            return _count_thop(model, wav)
        raise ValueError(f"Unknown counter {counter!r}: use 'ptflops' or 'thop'.")
    finally:
        model.train(was_training)


def _count_ptflops(model, wav) -> int:
    from ptflops import get_model_complexity_info

    def hook_for(fn):
        def hook(module, inputs, output):
            module.__flops__ += fn(module, inputs, output)

        return hook

    hooks = {cls: hook_for(fn) for cls, fn in _custom_counters("ptflops").items()}
    # ptflops prints a batch-size warning on stdout for keyword inputs; keep stdout clean for
    # callers such as ``asteroid-tdanet info --json``.
    with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
        macs, _ = get_model_complexity_info(
            model,
            tuple(wav.shape[1:]),
            input_constructor=lambda _: {"wav": wav},
            as_strings=False,
            print_per_layer_stat=False,
            verbose=False,
            backend="pytorch",
            custom_modules_hooks=hooks,
            backend_specific_config={"count_functional": False},
        )
    return int(macs)


def _count_thop(model, wav) -> int:
    from thop import profile

    def op_for(fn):
        def op(module, inputs, output):
            module.total_ops += torch.tensor([float(fn(module, inputs, output))])

        return op

    ops = {cls: op_for(fn) for cls, fn in _custom_counters("thop").items()}
    with torch.no_grad():
        macs, _ = profile(model, inputs=(wav,), custom_ops=ops, verbose=False)
    # thop leaves its counters on the modules; remove them so the model state stays clean.
    for module in model.modules():
        for name in ("total_ops", "total_params"):
            if name in module._buffers:
                del module._buffers[name]
    return int(macs)
