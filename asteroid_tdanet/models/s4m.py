"""S4M (Chen et al., Interspeech 2023): TDANet's U-block with an S4 layer on the global feature."""

from typing import Optional

from ..masknn.feed_forward import TransformerFeedForward
from ..masknn.global_attention import GlobalAttention
from ..masknn.mixers import build_mixer
from .base import build_loaded, constructor_args
from .ublock_model import UBlockModel


class S4M(UBlockModel):
    """S4M: free encoder, TDANet masker whose global feature goes through S4, free decoder.

    The masker is :class:`~asteroid_tdanet.masknn.TDANetMasker` (same U-block, applied
    ``n_blocks`` times with shared weights); its global module is

        g <- g + S4(LN(g)),   g <- g + FF(LN(g)),   FF = Linear(H, 2H), GELU, Linear(2H, H),

    with a bidirectional S4 layer (``s4`` mixer: HiPPO-LegS NPLR kernel, ``d_state`` = 16).

    Args:
        n_src (int): number of sources.
        sample_rate (float): sample rate of inputs and outputs.
        kernel_size (int, optional): encoder window in samples; default 21 ms (the
            reference file's default; the paper's S4M-tiny uses 4 ms, preset ``s4m-tiny``).
        stride, n_filters (int, optional): default ``K // 4`` and ``K // 2 + 1``.
        bn_chan, hid_chan, n_blocks, upsampling_depth, norm_type, causal, use_la, mask_act:
            see :class:`~asteroid_tdanet.masknn.TDANetMasker` (reference: 128, 512, 16, 4).
        d_state (int): S4 state size ``N``.
        dropout (float): dropout in the S4 layer and FFN (0 in the reference).
        drop_path (float): stochastic depth of the two global residual branches (0 there).
        official_compat (bool): reproduce the reference implementation exactly: its top-down
            wiring (the coarsest fused scale is computed but unused), its joint decoder (every
            output reads all sources' features) and its padding. Set by :meth:`from_reference`.
            Default ``False``: the paper's wiring and a per-source shared decoder.
        encoder_activation (str, optional): activation after the encoder (none, as released).
        fb_name (str): ``free`` (learned encoder/decoder, as released) or ``stft`` (a fixed
            STFT of window ``kernel_size``, FFT size ``n_filters``; then ``mask_act="sigmoid"``
            suits; see :class:`~asteroid_tdanet.models.free_filterbank.FreeFilterbankModel`).
        mask_domain (str): ``coefficients`` (default: masks on the encoder's outputs) or, with
            ``fb_name="stft"``, ``magnitude``: the masker reads the log-magnitude and gives one
            mask per bin (see :mod:`~asteroid_tdanet.models.mask_domains`); tdanet-mini uses
            it, s4m-mini does not (it did worse for S4M in one 7-minute comparison).

    Shape: ``(time,)``, ``(batch, time)`` or ``(batch, 1, time)`` ->
    ``(n_src, time)`` for 1D input, else ``(batch, n_src, time)``; output length = input length.
    """

    # The reference file's default window (JusperLee/S4M: enc_kernel_size=21 ms at 16 kHz).
    default_kernel_ms = 21.0
    paper = dict(
        cite='S4M (Chen, Yang, Li, Hu, Ku & Chng, "A neural state-space model approach to '
        'efficient speech separation", Interspeech 2023)',
        arxiv="2305.16932",
        authors="S4M by Chen Chen, Chao-Han Huck Yang, Kai Li, Yuchen Hu, Pin-Jui Ku, "
        "Eng Siong Chng",
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
        upsampling_depth: int = 4,
        d_state: int = 16,
        dropout: float = 0.0,
        drop_path: float = 0.0,
        norm_type: str = "gLN",
        causal: bool = False,
        use_la: bool = True,
        official_compat: bool = False,
        mask_act: str = "relu",
        encoder_activation: Optional[str] = None,
        fb_name: str = "free",
        mask_domain: str = "coefficients",
    ):
        args = constructor_args(locals())
        if causal and official_compat:
            raise ValueError("The reference S4M is not causal: official_compat excludes causal.")
        mixer = build_mixer("s4", hid_chan, state_size=d_state, causal=causal, dropout=dropout)
        ffn = TransformerFeedForward(hid_chan, expand=2, dropout=dropout)
        super().__init__(GlobalAttention(mixer, ffn, drop_path), args)

    @classmethod
    def from_reference(cls, state_dict: dict, config: dict) -> "S4M":
        """Build the model from a reference (JusperLee/S4M) ``state_dict`` and the reference
        constructor's keyword arguments ``config`` (``out_channels``, ``in_channels``,
        ``num_blocks``, ``upsampling_depth``, ``enc_kernel_size`` in ms, ``num_sources``,
        ``sample_rate``; missing ones take the reference defaults).

        Sets ``official_compat=True`` and keeps the S4 state (``C~`` and ``L``), so the
        reference's outputs are reproduced. Returned in eval mode, like ``from_pretrained``.
        """
        from ..checkpoints.s4m_reference import reference_to_package

        package = reference_to_package(dict(state_dict=state_dict, model_args=config))
        source = "the reference S4M state_dict"
        return build_loaded(cls, package["state_dict"], source, **package["model_args"])
