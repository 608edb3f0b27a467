"""Mel-Band RoFormer with windowed sink attention in time (Benetatos, Zang & Leistikow, 2025,
"Efficient Vocal Source Separation Through Windowed Sink Attention"; reference
smulelabs/windowed-roformer ``MelBandRoformerWSA``, MIT), and with full time attention the
Mel-Band RoFormer it is fine-tuned from (Wang, Lu & Won, 2023; lucidrains' BS-RoFormer)."""

from typing import Dict, Mapping, Optional

import torch
from torch import nn

from ..masknn.attention.windowed_sink_attention import WindowedSinkAttention
from ..masknn.mel_bands import (
    band_freq_indices,
    band_ranges,
    bands_per_freq,
    freqs_per_band,
    mel_band_membership,
)
from ..masknn.attention import GatedRotaryAttention
from ..masknn.roformer import BandSplit, MaskEstimator, RoformerTransformer
from ..masknn.rotary import RotaryEmbedding
from ..filterbanks import ComplexSTFT
from ..utils.waveform import any_sample_format
from .base import SeparationBaseModel, build_loaded, constructor_args
from .separate_api import StemSeparation

TIME_ATTENTIONS = ("wsa", "full")


class MelBandRoformer(StemSeparation, SeparationBaseModel):
    """Mel-Band RoFormer (one stem, stereo) whose time attention is windowed sink attention
    (``time_attention="wsa"``, the windowed-roformer ``MelBandRoformerWSA``) or full softmax
    attention (``"full"``, the Mel-Band RoFormer teacher).

    1. Per channel ``X = STFT(x)`` (``stft_n_fft``, ``stft_hop_length``, periodic Hann window
       of ``stft_win_length``, ``center=True`` reflect): ``F = n_fft / 2 + 1`` bins,
       ``T' = 1 + T // hop`` frames. The channels are interleaved into the frequency axis
       (row ``2 f + c``).
    2. ``num_bands`` overlapping mel bands (librosa's Slaney mel filterbank supports, see
       :mod:`~asteroid_tdanet.masknn.mel_bands`); per band the (bin, channel, re/im) values,
       ``d_b = 4 bins_b``, go through ``RMSNorm(d_b)`` and ``Linear(d_b, dim)``:
       ``(batch, T', bands, dim)``.
    3. ``sinks`` learned tokens per band (``sink_tokens``, ``(sinks, bands, dim)``) are
       prepended on the time axis.
    4. ``depth`` times: a time transformer over the ``sinks + T'`` positions of each band,
       then a frequency transformer over the bands of each position (sink rows included).
       Each is ``x = attn(x) + x; x = FF(x) + x`` (``*_transformer_depth`` times) and a final
       RMSNorm; attention = RMSNorm, qkv, RoPE (time: the sinks at positions ``0..S-1``, the
       frames at ``S..``; frequency: band index), softmax, per-head sigmoid gate, output
       projection. Time attention ``wsa``: a frame attends to the sinks and the frames within
       ``+-wsa_window/2``, a sink to everything; ``full``: everything. Frequency: full.
    5. The sink rows are dropped; per band an MLP (``mask_estimator_depth`` hidden layers of
       ``4 dim``, Tanh) and a GLU give a complex mask per (bin, channel); masks of bins in two
       bands are averaged.
    6. ``STFT * mask``, DC bin zeroed, inverse STFT.

    Args:
        n_src (int): number of stems; only 1 (the reference's vocals model).
        sample_rate (float): sample rate (44.1 kHz as released); sets the mel bands.
        dim (int): model width.
        depth (int): number of (time, frequency) transformer pairs.
        num_bands (int): mel bands.
        heads (int), dim_head (int): attention heads and head width (every attention).
        stft_n_fft, stft_hop_length (int): STFT size and hop.
        stft_win_length (int, optional): Hann window length (default ``stft_n_fft``).
        stft_normalized (bool): ``normalized`` of ``torch.stft`` / ``torch.istft``.
        time_attention (str): ``wsa`` or ``full``.
        wsa_window (int): ``w`` of the windowed sink attention (10: +-5 frames).
        sinks (int): sink tokens per band (0: none, and no ``sink_tokens`` parameter: with
            ``time_attention="full"`` this is the plain Mel-Band RoFormer, the teacher; its
            keys are the student's less ``sink_tokens``).
        attn_dropout, ff_dropout (float): dropout of the attentions and feed-forwards.
        ff_mult (float): feed-forward expansion (4).
        time_transformer_depth, freq_transformer_depth (int): attention + FF pairs per
            transformer (1).
        mask_estimator_depth (int): hidden layers of the mask MLPs (2).
        mlp_expansion_factor (int): hidden width of the mask MLPs in units of ``dim`` (4).
        stereo (bool): two input channels (the reference is stereo-only); ``False``: mono.
        wsa_backend (str): computation of the windowed sink attention (``auto``: ``flex`` on
            CUDA, exact ``blocked`` elsewhere; ``dense``); no effect on results.
        official_compat (bool): return what the reference returns: the inverse STFT without
            a target length, ``hop * (T // hop)`` samples (shorter than the input unless its
            length is a multiple of the hop). Set by :meth:`from_reference`. Default
            ``False``: output length = input length.
        target (str): name of the separated stem (``vocals``; the MUSDB recipe's ``--task``
            sets it); it names the outputs (:attr:`stems`) and the rest of the mixture,
            :attr:`residual_stem`: ``accompaniment`` for vocals, else ``no_<target>``.

    Shape: stereo models take ``(batch, 2, time)`` or ``(2, time)`` (a 2D input is one stereo
    signal, not a batch) and return the **single separated stem in stereo**, ``(batch, 2,
    time)`` or ``(2, time)``: the channel axis is the audio channels, not sources
    (``n_src = 1``), as in the reference. Mono models (``stereo=False``) take ``(time,)``,
    ``(batch, time)`` or ``(batch, 1, time)`` and return ``(1, time)`` or ``(batch, 1, time)``
    (``= (batch, n_src, time)``). Items of a batch are independent.
    """

    paper = dict(
        cite="Mel-Band RoFormer with windowed sink attention (Benetatos, Zang & Leistikow, "
        '"Efficient Vocal Source Separation Through Windowed Sink Attention", 2025), '
        "fine-tuned from Mel-Band RoFormer (Wang, Lu & Won, 2023)",
        arxiv="2510.25745",
        authors="Windowed sink attention by Christodoulos Benetatos, Yongyi Zang and Randal "
        "Leistikow (Smule); Mel-Band RoFormer by Ju-Chiang Wang, Wei-Tsung Lu and Minz Won; "
        "implementation after lucidrains' BS-RoFormer",
    )

    def __init__(
        self,
        n_src: int = 1,
        sample_rate: float = 44100,
        *,
        dim: int = 384,
        depth: int = 6,
        num_bands: int = 60,
        heads: int = 8,
        dim_head: int = 64,
        stft_n_fft: int = 2048,
        stft_hop_length: int = 441,
        stft_win_length: Optional[int] = None,
        stft_normalized: bool = False,
        time_attention: str = "wsa",
        wsa_window: int = 10,
        sinks: int = 8,
        attn_dropout: float = 0.0,
        ff_dropout: float = 0.0,
        ff_mult: float = 4,
        time_transformer_depth: int = 1,
        freq_transformer_depth: int = 1,
        mask_estimator_depth: int = 2,
        mlp_expansion_factor: int = 4,
        stereo: bool = True,
        wsa_backend: str = "auto",
        official_compat: bool = False,
        target: str = "vocals",
    ):
        super().__init__(sample_rate=sample_rate, in_channels=2 if stereo else 1)
        self._args = constructor_args(locals())
        self.audio_channels = 2 if stereo else 1
        if not isinstance(target, str) or not target.isidentifier():
            raise ValueError(f"target must be a stem name such as 'vocals', got {target!r}.")
        self.stems = (target,)
        self.residual_stem = residual_stem_of(target)
        if n_src != 1:
            raise ValueError(f"MelBandRoformer separates one stem (n_src=1), got n_src={n_src}.")
        if time_attention not in TIME_ATTENTIONS:
            raise ValueError(
                f"time_attention must be one of {TIME_ATTENTIONS}, not {time_attention!r}."
            )
        if sinks < 0 or wsa_window < 0:
            raise ValueError(f"sinks and wsa_window must be >= 0, got {sinks}, {wsa_window}.")
        self.n_src, self.sinks, self.official_compat = 1, sinks, official_compat
        win_length = stft_win_length or stft_n_fft
        if win_length > stft_n_fft:
            raise ValueError(
                f"stft_win_length ({win_length}) must not exceed stft_n_fft ({stft_n_fft})."
            )
        self.spectrum = ComplexSTFT(stft_n_fft, stft_hop_length, win_length, stft_normalized)

        member = mel_band_membership(sample_rate, stft_n_fft, num_bands)
        self.band_ranges = band_ranges(member)
        self.n_freqs = member.shape[1]
        channels = self.audio_channels
        self.register_buffer("freq_indices", band_freq_indices(member, channels), persistent=False)
        self.register_buffer(
            "num_bands_per_freq",
            bands_per_freq(member).repeat_interleave(channels),  # 'f -> (f r)'
            persistent=False,
        )

        # One RoPE per axis, shared by the layers (as in the reference).
        time_rope, freq_rope = RotaryEmbedding(dim_head), RotaryEmbedding(dim_head)
        attn_args = dict(heads=heads, dim_head=dim_head, dropout=attn_dropout)

        def time_attention_module():
            if time_attention == "wsa":
                return WindowedSinkAttention(
                    dim,
                    window=wsa_window,
                    n_sinks=sinks,
                    rotary=time_rope,
                    backend=wsa_backend,
                    **attn_args,
                )
            return GatedRotaryAttention(dim, rotary=time_rope, **attn_args)

        def transformer(attentions):
            return RoformerTransformer(dim, attentions, ff_mult=ff_mult, ff_dropout=ff_dropout)

        self.layers = nn.ModuleList(
            nn.ModuleList(
                [
                    transformer([time_attention_module() for _ in range(time_transformer_depth)]),
                    transformer(
                        [
                            GatedRotaryAttention(dim, rotary=freq_rope, **attn_args)
                            for _ in range(freq_transformer_depth)
                        ]
                    ),
                ]
            )
            for _ in range(depth)
        )
        dim_inputs = [2 * channels * n for n in freqs_per_band(member)]
        self.band_split = BandSplit(dim, dim_inputs)
        self.mask_estimators = nn.ModuleList(
            [MaskEstimator(dim, dim_inputs, mask_estimator_depth, mlp_expansion_factor)]
        )
        if sinks > 0:
            self.sink_tokens = nn.Parameter(torch.randn(sinks, num_bands, dim))
        self.apply(_init_weights)

    @any_sample_format
    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return self.forward_with_mask(wav)[0]

    def forward_with_mask(self, wav: torch.Tensor):
        """``(stem, mask)``: the forward output and the complex mask it applied,
        ``(batch, F * channels, T')`` (rows ``2 f + c``; the mask of mask-level distillation).
        ``wav``: as :meth:`forward` takes it; the mask is always batched."""
        wav, unbatched = self._batched(wav)
        batch, channels, length = wav.shape
        spec = self.spectrum.stft(wav.reshape(batch * channels, length))  # (b s, F, T') complex
        frames = spec.shape[-1]
        spec = spec.reshape(batch, channels, self.n_freqs, frames).transpose(1, 2)
        spec = spec.reshape(batch, self.n_freqs * channels, frames)  # 'b s f t -> b (f s) t'

        x = torch.view_as_real(spec[:, self.freq_indices])  # (b, K, T', 2)
        x = self.band_split(x.transpose(1, 2).flatten(2))  # 'b f t c -> b t (f c)' -> bands
        n_bands, dim = x.shape[-2:]
        if self.sinks > 0:
            sinks = self.sink_tokens.to(x.dtype).expand(batch, -1, -1, -1)
            x = torch.cat([sinks, x], dim=1)
        for time_transformer, freq_transformer in self.layers:
            x = x.transpose(1, 2).reshape(batch * n_bands, -1, dim)  # (b f) t d
            x = time_transformer(x).reshape(batch, n_bands, -1, dim).transpose(1, 2)
            x = freq_transformer(x.reshape(-1, n_bands, dim)).reshape(batch, -1, n_bands, dim)
        x = x[:, self.sinks :]

        mask = self.mask_estimators[0](x).to(spec.real.dtype)  # (b, T', K * 2), real
        mask = mask.reshape(batch, frames, -1, 2).transpose(1, 2)  # (b, K, T', 2)
        summed = mask.new_zeros(batch, self.n_freqs * channels, frames, 2)
        summed = summed.index_add(1, self.freq_indices, mask.contiguous())
        denom = self.num_bands_per_freq.to(mask.dtype).clamp(min=1e-8)
        mask = torch.view_as_complex((summed / denom[:, None, None]).contiguous())
        masked = (spec * mask).reshape(batch, self.n_freqs, channels, frames)
        masked = masked.transpose(1, 2).reshape(batch * channels, self.n_freqs, frames)
        masked = masked.index_fill(1, torch.tensor(0, device=masked.device), 0.0)  # DC bin
        out = self.spectrum.istft(masked, None if self.official_compat else length)
        out = out.reshape(batch, channels, -1)
        return (out[0] if unbatched else out), mask

    def _batched(self, wav: torch.Tensor):
        """``(batch, channels, time)`` and whether the input was unbatched."""
        channels = self.audio_channels
        if wav.ndim == 3 and wav.shape[1] == channels:
            return wav, False
        if channels == 2 and wav.ndim == 2 and wav.shape[0] == 2:
            return wav[None], True
        if channels == 1 and wav.ndim in (1, 2):
            return (wav[None, None], True) if wav.ndim == 1 else (wav[:, None], False)
        expected = (
            "(batch, 2, time) or (2, time)"
            if channels == 2
            else "(time,), (batch, time) or (batch, 1, time)"
        )
        kind = "stereo" if channels == 2 else "mono"
        raise ValueError(
            f"This {kind} MelBandRoformer expects {expected}, got shape {tuple(wav.shape)}."
        )

    # Outputs as files (``asteroid_tdanet.inference.layout``): a stereo stem model whose
    # second output is the rest of the mixture (instances name them after ``target``).
    stems = ("vocals",)
    residual_stem = "accompaniment"

    # Training objectives the recipes add for this model (asteroid_tdanet.recipes.objectives).
    default_recipe_loss = "l1_mrstft"

    @classmethod
    def recipe_objectives(cls) -> dict:
        """``l1_mrstft``: L1 on the waveform plus the multi-resolution STFT loss (the RoFormer
        papers' training loss); ``distill``: that plus mask-level distillation against the
        frozen teacher named by ``training.teacher`` (weight ``training.distill_weight``).
        See :mod:`asteroid_tdanet.masknn.roformer_loss`."""
        from ..masknn.roformer_loss import MaskDistillationObjective, ReconstructionObjective

        return {
            "l1_mrstft": ReconstructionObjective.from_training_conf,
            "distill": MaskDistillationObjective.from_training_conf,
        }

    # Chunked inference (``Separator``, the CLI): the reference separates 8 s chunks (what
    # the model was trained on); ours overlap by 1 s and are cross-faded.
    inference_chunk_seconds = 8.0
    inference_overlap_seconds = 1.0

    @property
    def chunk_step_multiple(self) -> int:
        """Chunk starts are kept on the STFT frame grid of the whole input (chunk hops a
        multiple of the STFT hop): a chunk then sees the frames a one-pass run sees."""
        return self.spectrum.hop_length

    # Checked by ``asteroid-tdanet export`` before tracing.
    export_formats = ()
    export_refusal = ComplexSTFT.export_refusal

    preset_prefix = "mel-band-roformer"
    default_preset = "mel-band-roformer-wsa"

    @staticmethod
    def reference_model_args(config: dict) -> dict:
        """Our arguments for the reference constructor's ``config``."""
        return reference_config_to_args(config)

    @staticmethod
    def reference_state_dict(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """The reference ``state_dict`` under our key names (the same)."""
        return reference_state_dict_to_ours(state_dict)

    @classmethod
    def from_teacher(
        cls, teacher: "MelBandRoformer", *, sinks: int = 8, wsa_window: int = 10, **overrides
    ) -> "MelBandRoformer":
        """The windowed-sink-attention student of a full-attention ``teacher`` (the paper's
        fine-tuning start): the teacher's architecture with ``time_attention="wsa"``,
        ``sinks`` new sink tokens (the reference's init, ``randn``) and ``wsa_window``; every
        other weight copied from the teacher. ``overrides`` replace other arguments (e.g.
        dropout). A teacher that has sink tokens itself gives none of them to the student (its
        sinks are new whatever their number). Returned in training mode."""
        args = {**teacher.get_model_args(), **overrides}
        args.update(time_attention="wsa", sinks=sinks, wsa_window=wsa_window)
        student = cls(**args)
        weights = {k: v for k, v in teacher.state_dict().items() if k != "sink_tokens"}
        missing, unexpected = student.load_state_dict(weights, strict=False)
        if unexpected or set(missing) - {"sink_tokens"}:
            raise ValueError(
                f"The teacher's weights do not fit the student: missing {sorted(missing)}, "
                f"unexpected {sorted(unexpected)}."
            )
        return student.train()

    @classmethod
    def from_reference(
        cls, state_dict: Dict[str, torch.Tensor], config: Optional[dict] = None
    ) -> "MelBandRoformer":
        """Build the model from a reference ``MelBandRoformerWSA`` ``state_dict`` and its
        constructor keyword arguments ``config`` (``None``: the defaults, i.e. the released
        ``mbr-win10-sink8``), with ``official_compat=True``; the keys are checked and loaded
        strictly. Returned in eval mode, like ``from_pretrained``."""
        ours = reference_state_dict_to_ours(state_dict)
        source = "the reference MelBandRoformerWSA state_dict"
        return build_loaded(cls, ours, source, **reference_config_to_args(config or {}))


def residual_stem_of(target: str) -> str:
    """Name of the rest of the mixture beside ``target``: MUSDB18's ``accompaniment`` for
    vocals, Demucs' two-stem ``no_<target>`` for the other stems."""
    return "accompaniment" if target == "vocals" else f"no_{target}"


def _init_weights(module: nn.Module) -> None:
    """The reference's init: Linear weights kaiming-normal (fan_out, relu), biases zero."""
    if isinstance(module, (nn.Linear, nn.Conv1d)):
        nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        if module.bias is not None:
            nn.init.zeros_(module.bias)


# Reference ``MelBandRoformerWSA`` keyword -> ours (official copy; defaults = the release).
_REFERENCE_ARGS = dict(
    dim=("dim", 384),
    depth=("depth", 6),
    num_bands=("num_bands", 60),
    dim_head=("dim_head", 64),
    heads=("heads", 8),
    attn_dropout=("attn_dropout", 0.0),
    ff_dropout=("ff_dropout", 0.0),
    sample_rate=("sample_rate", 44100),
    stft_n_fft=("stft_n_fft", 2048),
    stft_hop_length=("stft_hop_length", 441),
    stft_win_length=("stft_win_length", 2048),
    stft_normalized=("stft_normalized", False),
    wsa_window_len=("wsa_window", 10),
    n_wsa_sinks=("sinks", 8),
)
# Keywords of a second vendored copy of the reference that its arithmetic ignores (the model
# is always one stem, stereo, depth-1 transformers, mask MLP depth 2); ``num_sink_tokens``
# sizes its ``sink_tokens`` and must equal ``n_wsa_sinks``.
_IGNORED_REFERENCE_ARGS = (
    "num_stems",
    "dim_freqs_in",
    "flash_attn",
    "use_flex_attention",
    "freq_transformer_depth",
    "mask_estimator_depth",
    "multi_stft_resolution_loss_weight",
    "multi_stft_resolutions_window_sizes",
    "multi_stft_hop_size",
    "multi_stft_normalized",
    "multi_stft_window_fn",
    "match_input_audio_length",
    "stereo",
    "time_transformer_depth",
    "window_size",
)


def reference_config_to_args(config: Mapping) -> dict:
    """:class:`MelBandRoformer` arguments (``official_compat=True``) from the reference
    ``MelBandRoformerWSA`` keyword arguments (missing ones take the reference defaults, which
    are the release's). ``wsa_window_len`` -> ``wsa_window``, ``n_wsa_sinks`` -> ``sinks``;
    ``n_wsa_sinks=0`` (or ``wsa_window_len=None``) is the reference's full time attention
    (``time_attention="full"``). The keywords a second vendored copy accepts and ignores are
    ignored; ``num_sink_tokens`` must equal ``n_wsa_sinks``. Unknown keys raise a
    ``ValueError`` naming them.
    """
    unknown = [k for k in config if k not in _REFERENCE_ARGS and k not in _IGNORED_REFERENCE_ARGS]
    if "num_sink_tokens" in config:
        unknown.remove("num_sink_tokens")
        if config["num_sink_tokens"] != config.get("n_wsa_sinks", 8):
            raise ValueError(
                f"Reference config: num_sink_tokens ({config['num_sink_tokens']}) != "
                f"n_wsa_sinks ({config.get('n_wsa_sinks', 8)}): the reference's sink tokens "
                "would not match its attention mask."
            )
    if unknown:
        raise ValueError(f"Reference config: unsupported key(s) {sorted(unknown)}.")
    args = {ours: config.get(ref, default) for ref, (ours, default) in _REFERENCE_ARGS.items()}
    # The reference's ``Attend`` uses windowed sink attention iff the window is set and
    # there are sinks; its ``sink_tokens`` exist iff there are sinks.
    sinks = args["sinks"] or 0
    args["time_attention"] = "wsa" if args["wsa_window"] is not None and sinks > 0 else "full"
    window = 10 if args["wsa_window"] is None else args["wsa_window"]
    args.update(sinks=max(sinks, 0), wsa_window=window)
    return dict(n_src=1, **args, official_compat=True)


def reference_state_dict_to_ours(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """The reference ``MelBandRoformerWSA`` state_dict under our keys: the same keys (a copy
    of the mapping; a ``module.`` prefix of a DataParallel save is removed)."""
    return {
        (k[len("module.") :] if k.startswith("module.") else k): v for k, v in state_dict.items()
    }


_RELEASE_KEYS = (
    "layers.0.0.layers.0.0.to_qkv.weight",
    "layers.0.0.layers.0.0.to_gates.weight",
    "layers.0.1.layers.0.0.to_qkv.weight",
    "band_split.to_features.0.0.gamma",
    "mask_estimators.0.to_freqs.0.0.0.weight",
)


def is_release_state_dict(state_dict) -> bool:
    """Whether ``state_dict`` is a raw ``MelBandRoformerWSA`` state_dict (the layout of the
    released ``mbr-win10-sink8.ckpt``: sink tokens, time/frequency transformers, band split,
    mask estimator; after :func:`reference_state_dict_to_ours`), or the same layout without
    ``sink_tokens`` (a full-attention Mel-Band RoFormer: the distillation teacher)."""
    if not isinstance(state_dict, Mapping):
        return False
    keys = reference_state_dict_to_ours(state_dict)
    return all(isinstance(keys.get(k), torch.Tensor) for k in _RELEASE_KEYS)


def release_model_args(state_dict: Mapping[str, torch.Tensor]) -> dict:
    """:func:`reference_config_to_args` for a raw reference state_dict, with
    ``official_compat=False`` (output length = input length; the samples the reference
    returns are the same): ``dim``, ``depth``,
    ``num_bands``, ``heads``, ``dim_head`` and ``sinks`` read from its shapes, the STFT
    settings the release's (44.1 kHz, n_fft 2048, hop 441; the band sizes, checked when
    loading, depend on them). Without ``sink_tokens``: full time attention, no sinks."""
    sd = reference_state_dict_to_ours(state_dict)
    if "sink_tokens" in sd:
        sinks, num_bands, dim = sd["sink_tokens"].shape
    else:
        sinks, num_bands = 0, len({k.split(".")[2] for k in sd if k.startswith("band_split.")})
        dim = sd["layers.0.0.layers.0.0.to_qkv.weight"].shape[1]
    heads = sd["layers.0.0.layers.0.0.to_gates.weight"].shape[0]
    dim_head = sd["layers.0.0.layers.0.0.to_qkv.weight"].shape[0] // (3 * heads)
    depth = len({k.split(".")[1] for k in sd if k.startswith("layers.")})
    config = dict(
        dim=dim, depth=depth, num_bands=num_bands, heads=heads, dim_head=dim_head, n_wsa_sinks=sinks
    )
    # The reference's arithmetic, but outputs as long as the inputs (its iSTFT drops the
    # last partial hop), which chunked inference and the recipes need.
    return {**reference_config_to_args(config), "official_compat": False}


def release_to_package(state_dict: Mapping[str, torch.Tensor]) -> dict:
    """A model package (``model_name``, ``model_args``, ``state_dict``, ``infos``) for a raw
    reference state_dict such as the released ``mbr-win10-sink8.ckpt`` (see
    :func:`is_release_state_dict`): arguments from
    :func:`release_model_args`, keys from :func:`reference_state_dict_to_ours`."""
    return dict(
        model_name="MelBandRoformer",
        model_args=release_model_args(state_dict),
        state_dict=reference_state_dict_to_ours(state_dict),
        infos=dict(
            software_versions={},
            converted_from="windowed-roformer MelBandRoformerWSA state_dict "
            "(smulelabs/windowed-roformer)",
        ),
    )
