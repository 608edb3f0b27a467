"""TDANet (Li, Yang & Hu, ICLR 2023) as an Asteroid encoder-masker-decoder model."""

from typing import Optional

from ..checkpoints.legacy import upgrade_key
from ..masknn.feed_forward import FeedForward
from ..masknn.global_attention import GlobalAttention
from ..masknn.mixers import build_mixer
from .base import constructor_args
from .ublock_model import UBlockModel


def with_n_heads(ga_mixer_args: Optional[dict], n_heads: Optional[int]) -> dict:
    """A copy of ``ga_mixer_args`` with TDANet's ``n_heads`` shortcut (the attention mixers'
    head count; ``None``: not given) folded in. A head count that contradicts
    ``ga_mixer_args['n_heads']`` is a ValueError: neither silently wins."""
    merged = dict(ga_mixer_args or {})
    if n_heads is not None:
        if merged.get("n_heads", n_heads) != n_heads:
            raise ValueError(
                f"n_heads={n_heads} contradicts ga_mixer_args['n_heads']={merged['n_heads']}."
            )
        merged["n_heads"] = n_heads
    return merged


class TDANet(UBlockModel):
    """TDANet: free encoder, :class:`~asteroid_tdanet.masknn.TDANetMasker`, free decoder.

    The U-block's global attention (GA) module is ``x + MIXER(x)``, ``x + FFN(x)`` (paper eq.
    2-3); the mixer is a component chosen by name from
    :data:`asteroid_tdanet.masknn.mixers.MIXERS` (paper: multi-head self-attention).

    Args:
        n_src (int): number of sources.
        sample_rate (float): sample rate of the model's input and outputs.
        kernel_size (int, optional): encoder window ``K`` in samples; default 4 ms.
        stride (int, optional): encoder hop; default ``K // 4``.
        n_filters (int, optional): encoder basis count ``F``; default ``K // 2 + 1``.
        bn_chan, hid_chan, n_blocks, upsampling_depth, norm_type, causal, use_la, mask_act:
            see :class:`~asteroid_tdanet.masknn.TDANetMasker`.
        ga_mixer (str, optional): the GA module's sequence mixer: ``mhsa`` (default),
            ``mhsa-frame-local`` (the released model's), ``s4``, ``fla``, ``wsa``.
        ga_mixer_args (dict, optional): the mixer's own arguments, e.g. ``{"n_heads": 8}``
            for ``mhsa``, ``{"window": 16, "sinks": 4}`` for ``wsa`` (see the mixer classes).
        n_heads (int, optional): shorthand for ``ga_mixer_args={"n_heads": n_heads}``.
        dropout (float): dropout of the GA mixer and FFN.
        drop_path (float): stochastic depth of the GA residual branches.
        use_ga (bool): keep the GA module (paper Table 1 ablation).
        official_compat (bool): reproduce the released look2hear model exactly. Chooses, once
            here, the released components: the ``mhsa-frame-local`` mixer (unless
            ``ga_mixer`` says otherwise), the released top-down wiring, the joint decoder and
            the released waveform padding. Default ``False``: the paper's model (attention
            over time, batch-independent, per-source shared decoder).
        encoder_activation (str, optional): activation after the encoder (none, as released).
        fb_name (str): ``free`` (learned encoder/decoder, as released) or ``stft`` (a fixed
            STFT of window ``kernel_size``, FFT size ``n_filters``; then ``mask_act="sigmoid"``
            suits; see :class:`~asteroid_tdanet.models.free_filterbank.FreeFilterbankModel`).
        mask_domain (str): ``coefficients`` (default: masks on the encoder's outputs) or, with
            ``fb_name="stft"``, ``magnitude``: the masker reads the log-magnitude and gives one
            mask per bin (see :mod:`~asteroid_tdanet.models.mask_domains`); a small model
            learns it faster (``tdanet-mini``).

    Shape: ``(time,)``, ``(batch, time)`` or ``(batch, 1, time)`` ->
    ``(n_src, time)`` for 1D input, else ``(batch, n_src, time)``; output length = input length.
    """

    default_kernel_ms = 4.0
    # Where model cards and comparisons cite the model from.
    paper = dict(
        cite='TDANet (Li, Yang & Hu, "An efficient encoder-decoder architecture with top-down '
        'attention for speech separation", ICLR 2023)',
        arxiv="2209.15200",
        authors="TDANet by Kai Li, Runxuan Yang, Xiaolin Hu",
    )

    def __init__(
        self,
        n_src: int = 2,
        sample_rate: float = 16000,
        kernel_size: Optional[int] = None,
        stride: Optional[int] = None,
        n_filters: Optional[int] = None,
        *,
        bn_chan: int = 128,
        hid_chan: int = 512,
        n_blocks: int = 16,
        upsampling_depth: int = 5,
        ga_mixer: Optional[str] = None,
        ga_mixer_args: Optional[dict] = None,
        n_heads: Optional[int] = None,
        dropout: float = 0.1,
        drop_path: float = 0.1,
        norm_type: str = "gLN",
        causal: bool = False,
        use_ga: bool = True,
        use_la: bool = True,
        official_compat: bool = False,
        mask_act: str = "relu",
        encoder_activation: Optional[str] = None,
        fb_name: str = "free",
        mask_domain: str = "coefficients",
    ):
        args = constructor_args(locals())
        if causal and official_compat:
            raise ValueError("The released models are not causal: official_compat excludes causal.")
        ga_mixer = ga_mixer or ("mhsa-frame-local" if official_compat else "mhsa")
        ga_mixer_args = with_n_heads(ga_mixer_args, args.pop("n_heads"))
        args.update(ga_mixer=ga_mixer, ga_mixer_args=ga_mixer_args)
        global_module = None
        if use_ga:
            mixer = build_mixer(ga_mixer, hid_chan, causal=causal, dropout=dropout, **ga_mixer_args)
            ffn = FeedForward(hid_chan, 2 * hid_chan, dropout, norm_type, causal)
            global_module = GlobalAttention(mixer, ffn, drop_path)
        super().__init__(global_module, args)
        # State dicts of release 0.1.0 (e.g. read by Asteroid's own BaseModel.from_pretrained,
        # which bypasses our converters) load too.
        self._register_load_state_dict_pre_hook(_upgrade_legacy_keys)


def _upgrade_legacy_keys(state_dict, prefix, *args):
    for key in [k for k in state_dict if k.startswith(prefix)]:
        new = upgrade_key(key, prefix)
        if new != key:
            state_dict[new] = state_dict.pop(key)
