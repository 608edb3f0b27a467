"""FLA-TFLocoformer (FLASepformer, Wang et al., Interspeech 2025): TF-Locoformer whose time
path attends with gated focused linear attention."""

import re
from typing import Dict

import torch
from torch import nn

from ..masknn.locoformer import (
    LocoformerBlock,
    MixerAttention,
    RotarySelfAttention,
    SwiGLUConvDeconv1d,
    TFLocoformerLayer,
)
from ..masknn.mixers import build_mixer
from ..masknn.norms import GlobalLayerNorm
from ..masknn.rotary import RotaryEmbedding
from ..masknn.token_norms import RMSGroupNorm
from ..checkpoints.modelscope import without_modelscope_keys
from ..filterbanks import ComplexSTFT
from ..utils.waveform import any_sample_format
from .base import SeparationBaseModel, build_loaded, constructor_args

ATTENTIONS = ("fla", "softmax")
# Smallest std the input is divided by when ``official_compat=False`` (silent inputs).
STD_FLOOR = 1e-8


class FLATFLocoformer(SeparationBaseModel):
    """FLA-TFLocoformer: STFT, ``n_layers`` TF-Locoformer layers, inverse STFT (mapping, no
    mask). With ``attention="softmax"`` it is the original TF-Locoformer (Saijo et al., 2024).

    1. ``x <- x / std(x)`` (unbiased, per item) if ``normalize_variance``.
    2. ``X = STFT(x)`` (``n_fft``, ``hop_length``, periodic Hann window of ``n_fft``,
       ``center=True`` with reflect padding): ``(batch, frames, F = n_fft / 2 + 1)`` complex,
       ``frames = 1 + floor(T / hop_length)``.
    3. ``h = GroupNorm_1(Conv2d_3x3([Re X, Im X]))``: ``(batch, frames, F, D)``.
    4. ``n_layers`` times: a frequency block along the ``F`` bins of each frame, then a time
       block along the frames of each bin, both Macaron
       :class:`~asteroid_tdanet.masknn.locoformer.LocoformerBlock`\\ s::

           x1 = x  + FFN_pre(N_pre(x))
           x2 = x1 + ATTN(x1)
           y  = x2 + FFN_post(N_post(x2))

       with RMSGroupNorms ``N`` (``num_groups``, ``eps``), SwiGLU conv/deconv FFNs (hidden
       ``ffn_hidden_dim``, kernel ``conv1d_kernel``, stride ``conv1d_shift``) and

       * frequency: ``ATTN(x) = MHSA_RoPE(N_attn(x))`` (softmax, RoPE over the bins);
       * time, ``attention="fla"``: ``ATTN(x) = sigmoid(W_g N'(x) + b_g) * FLA(N(x))`` (the
         ``fla`` mixer: gated focused linear attention, DWC ``fla_kernel_size``, norms
         ``fla_norm_type``); with ``official_compat=True`` ``ATTN(x) = x + ...``, the
         reference's doubled residual (``x2 = 2 x1 + gate * FLA``);
       * time, ``attention="softmax"``: ``MHSA_RoPE(N_attn(x))`` over the frames.

    5. ``ConvTranspose2d_3x3(D -> 2 n_src)`` (real and imaginary part of each source), inverse
       STFT to length ``T``, times ``std(x)``.

    Args:
        n_src (int): number of sources.
        sample_rate (float): sample rate of inputs and outputs (8 kHz in the paper).
        n_layers (int): TF layers (one frequency and one time block each); 6 for -M, 9 for -L.
        emb_dim (int): ``D``.
        attention_dim (int): ``A`` of every attention (head width ``A / n_heads``).
        n_heads (int): heads of every attention.
        num_groups (int): groups of the RMSGroupNorms (``D`` divisible by it).
        ffn_hidden_dim (int): hidden size of every FFN.
        conv1d_kernel, conv1d_shift (int): kernel and stride of the FFNs' conv / deconv.
        eps (float): eps of the RMSGroupNorms and of the input GroupNorm.
        n_fft, hop_length (int): STFT size and hop (window = ``n_fft``).
        normalize_variance (bool): divide the input by its std and multiply the outputs back.
        attention (str): time-path attention: ``fla`` (FLA-TFLocoformer) or ``softmax``
            (TF-Locoformer).
        fla_kernel_size (int): odd DWC kernel of the FLA (5 in the reference code).
        fla_norm_type (str): norms of the FLA and its gate (``RMSGroupNorm_<G>`` or
            ``layernorm``; eps 1e-5).
        gated (bool): the FLA's sigmoid gate.
        dropout (float): dropout in the FFNs and attentions (0 in the references).
        official_compat (bool): reproduce the reference port exactly: the doubled residual of
            the FLA time blocks and an unfloored std (a constant input, where the reference
            gives NaN, gives silence). Set by
            :meth:`from_reference`. Default ``False``: a single residual and a std floored at
            ``1e-8``.

    Shape: ``(time,)``, ``(batch, time)`` or ``(batch, 1, time)`` -> ``(n_src, time)`` for 1D
    input, else ``(batch, n_src, time)``; output length = input length. Items of a batch are
    independent.
    """

    paper = dict(
        cite='FLA-TFLocoformer (Wang et al., "FLASepformer: Efficient Speech Separation with '
        'Gated Focused Linear Attention Transformer", Interspeech 2025); TF-Locoformer (Saijo, '
        'Wichern, Germain, Pan & Le Roux, "TF-Locoformer: Transformer with Local Modeling by '
        'Convolution for Speech Separation and Enhancement", IWAENC 2024)',
        arxiv="2508.19528",
        authors="FLASepformer by Wang et al.; TF-Locoformer by Kohei Saijo, Gordon Wichern, "
        "François G. Germain, Zexu Pan, Jonathan Le Roux",
    )

    def __init__(
        self,
        n_src: int = 2,
        sample_rate: float = 8000,
        *,
        n_layers: int = 6,
        emb_dim: int = 128,
        attention_dim: int = 128,
        n_heads: int = 4,
        num_groups: int = 4,
        ffn_hidden_dim: int = 384,
        conv1d_kernel: int = 4,
        conv1d_shift: int = 1,
        eps: float = 1e-5,
        n_fft: int = 128,
        hop_length: int = 64,
        normalize_variance: bool = True,
        attention: str = "fla",
        fla_kernel_size: int = 5,
        fla_norm_type: str = "RMSGroupNorm_4",
        gated: bool = True,
        dropout: float = 0.0,
        official_compat: bool = False,
    ):
        super().__init__(sample_rate=sample_rate)
        self._args = constructor_args(locals())
        if attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}, not {attention!r}.")
        if attention_dim % n_heads:
            raise ValueError(
                f"attention_dim ({attention_dim}) must be divisible by n_heads ({n_heads})."
            )
        self.n_src = n_src
        self.spectrum = ComplexSTFT(n_fft, hop_length)
        self.normalize_variance, self.official_compat = normalize_variance, official_compat
        head_dim = attention_dim // n_heads

        def block(attn, attn_norm=None):
            def ffn():
                return SwiGLUConvDeconv1d(
                    emb_dim, ffn_hidden_dim, conv1d_kernel, conv1d_shift, dropout
                )

            def norm():
                return RMSGroupNorm(num_groups, emb_dim, eps)

            return LocoformerBlock(attn, ffn(), ffn(), norm(), norm(), attn_norm)

        # One rotary embedding per axis, shared by its layers (as in the references).
        rope_freq = RotaryEmbedding(head_dim)
        rope_time = RotaryEmbedding(head_dim) if attention == "softmax" else None

        def time_block():
            if attention == "softmax":
                attn = RotarySelfAttention(emb_dim, attention_dim, n_heads, rope_time, dropout)
                return block(attn, RMSGroupNorm(num_groups, emb_dim, eps))
            mixer = build_mixer(
                "fla",
                emb_dim,
                n_heads=n_heads,
                attention_dim=attention_dim,
                kernel_size=fla_kernel_size,
                norm_type=fla_norm_type,
                gated=gated,
                dropout=dropout,
            )
            return block(MixerAttention(mixer, keep_input=official_compat))

        self.conv = nn.Sequential(
            nn.Conv2d(2, emb_dim, 3, padding=1), GlobalLayerNorm(emb_dim, eps=eps)
        )
        self.blocks = nn.ModuleList(
            TFLocoformerLayer(
                block(
                    RotarySelfAttention(emb_dim, attention_dim, n_heads, rope_freq, dropout),
                    RMSGroupNorm(num_groups, emb_dim, eps),
                ),
                time_block(),
            )
            for _ in range(n_layers)
        )
        self.deconv = nn.ConvTranspose2d(emb_dim, 2 * n_src, 3, padding=1)

    @any_sample_format
    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        ndim = wav.ndim
        if ndim == 1:
            wav = wav[None]
        elif ndim == 3:
            if wav.shape[1] != 1:
                raise ValueError(f"Expected one input channel, got {wav.shape[1]}.")
            wav = wav[:, 0]
        elif ndim != 2:
            raise ValueError(f"Expected (time,), (batch, time) or (batch, 1, time), got {ndim}D.")
        batch, length = wav.shape
        self.spectrum.check_length(length)  # before the std of a one-sample input warns
        if self.normalize_variance:
            std = wav.std(dim=-1, keepdim=True)
            if not self.official_compat:
                std = std.clamp_min(STD_FLOOR)
                wav = wav / std
            else:
                # The reference divides by the bare std: NaN for a constant input (a chunk of
                # digital silence in a long file). Only there is it divided by 1 instead, and
                # its outputs, multiplied by that zero std, are silent; every input the
                # reference separates gives the reference's outputs.
                wav = wav / torch.where(std == 0, torch.ones_like(std), std)
        spec = self.spectrum.stft(wav)  # (batch, F, frames)
        x = torch.stack((spec.real, spec.imag), dim=1).transpose(2, 3)  # (batch, 2, frames, F)
        x = self.conv(x).permute(0, 2, 3, 1)  # (batch, frames, F, D)
        for layer in self.blocks:
            x = layer(x)
        x = self.deconv(x.permute(0, 3, 1, 2)).unflatten(1, (self.n_src, 2))
        if x.dtype == torch.bfloat16:  # under autocast: there is no complex bfloat16
            x = x.float()
        spec = torch.complex(x[:, :, 0], x[:, :, 1]).transpose(-1, -2)  # (batch, n_src, F, frames)
        out = self.spectrum.istft(spec.flatten(0, 1), length).unflatten(0, (batch, self.n_src))
        if self.normalize_variance:
            out = out * std[:, :, None]
        return out[0] if ndim == 1 else out

    # Checked by ``asteroid-tdanet export`` before tracing.
    export_formats = ()
    export_refusal = ComplexSTFT.export_refusal

    # Presets are named ``fla-tflocoformer-<size>``; the recipes' default is -M.
    preset_prefix = "fla-tflocoformer"
    default_preset = "fla-tflocoformer-m"

    @staticmethod
    def reference_model_args(config: dict) -> dict:
        """Our arguments for the reference constructor's ``config`` (ModelScope loader)."""
        return reference_config_to_args(config)

    @staticmethod
    def reference_state_dict(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """The reference ``state_dict`` under our key names (ModelScope loader)."""
        return reference_state_dict_to_ours(state_dict)

    @classmethod
    def from_reference(cls, state_dict: Dict[str, torch.Tensor], config: dict) -> "FLATFLocoformer":
        """Build the model from the reference port's (ModelScope ``FLATFLocoformer``)
        ``state_dict`` and constructor keyword arguments ``config`` (``separator_conf``,
        ``n_fft``, ``hop_length``, ``normalize_variance``; see
        :func:`reference_config_to_args`), with ``official_compat=True``: the reference's
        outputs are reproduced. The keys are renamed by :func:`reference_state_dict_to_ours`
        and loaded strictly. Returned in eval mode, like ``from_pretrained``.
        """
        ours = reference_state_dict_to_ours(state_dict)
        source = "the reference FLA-TFLocoformer state_dict"
        return build_loaded(cls, ours, source, **reference_config_to_args(config))


# Reference separator defaults (ModelScope ``FLATFLocoformerSeparator``).
_SEPARATOR_DEFAULTS = dict(
    num_spk=2,
    n_layers=12,
    emb_dim=128,
    norm_type="rmsgroupnorm",
    num_groups=4,
    n_heads=4,
    attention_dim=128,
    ffn_type=("swiglu_conv1d_layerchange", "swiglu_conv1d_layerchange"),
    ffn_hidden_dim=(384, 384),
    conv1d_kernel=4,
    conv1d_shift=1,
    dropout=0.0,
    eps=1e-5,
    use_rope=True,
    attn_addition_conf=None,
)
_REQUIRED_SEPARATOR = ("layers_type", "attn_types")
_TOP_LEVEL = ("separator_conf", "n_fft", "hop_length", "normalize_variance", "model_dir", "type")
# ``Linear_Attn_Template`` keyword defaults (``ega_addition_conf``).
_EGA_DEFAULTS = dict(
    linear_attn_type=None, norm_type="layernorm", gated=False, kernel_size=5, focusing_factor=3
)
_MHSA, _FLA = "LocoformerMHSA", "LocoformerLinearAttnMHSA"


def reference_config_to_args(config: dict) -> dict:
    """:class:`FLATFLocoformer` arguments (``official_compat=True``) from the reference
    constructor's keyword arguments: ``{"separator_conf": {...}, "n_fft", "hop_length",
    "normalize_variance"}`` (missing ones take the reference defaults; ``model_dir`` and
    ModelScope's own keys next to them, ``framework``, ``task``, ``pipeline``, ... (see
    :data:`~asteroid_tdanet.checkpoints.modelscope.MODELSCOPE_KEYS`), are ignored).

    ``layers_type`` must alternate ``f, t`` (``n_layers`` entries = ``n_layers / 2`` of our
    TF layers); ``attn_types`` (cycled by global layer index) must give every ``f`` layer
    ``LocoformerMHSA`` and every ``t`` layer the same one of ``LocoformerLinearAttnMHSA``
    (-> ``attention="fla"``, configured by ``attn_addition_conf.ega_addition_conf``) or
    ``LocoformerMHSA`` (-> ``"softmax"``). Anything else raises a ``ValueError`` naming the key.
    """
    config = without_modelscope_keys(config)  # a whole configuration.json: see MODELSCOPE_KEYS
    _unknown(config, _TOP_LEVEL, "the reference config")
    if "type" in config and "locoformer" not in str(config["type"]).lower():
        raise ValueError(f"Reference config key 'type' = {config['type']!r}: not a Locoformer.")
    sep = dict(config.get("separator_conf") or {})
    _unknown(sep, tuple(_SEPARATOR_DEFAULTS) + _REQUIRED_SEPARATOR, "separator_conf")
    for key in _REQUIRED_SEPARATOR:
        if key not in sep:
            raise ValueError(f"separator_conf.{key} is required by the reference separator.")
    sep = {**_SEPARATOR_DEFAULTS, **sep}

    layers_type = list(sep["layers_type"])
    if len(layers_type) != sep["n_layers"]:
        raise ValueError(
            f"separator_conf.n_layers ({sep['n_layers']}) != len(layers_type) "
            f"({len(layers_type)})."
        )
    if not layers_type or layers_type != ["f", "t"] * (len(layers_type) // 2):
        raise ValueError(f"separator_conf.layers_type must alternate 'f', 't' (got {layers_type}).")
    attn_types = list(sep["attn_types"])
    if not attn_types:
        raise ValueError("separator_conf.attn_types is empty.")
    per_layer = [attn_types[i % len(attn_types)] for i in range(len(layers_type))]
    freq_types, time_types = set(per_layer[0::2]), set(per_layer[1::2])
    if freq_types != {_MHSA}:
        raise ValueError(
            f"separator_conf.attn_types: 'f' layers must use {_MHSA!r} (got {sorted(freq_types)})."
        )
    if time_types not in ({_FLA}, {_MHSA}):
        raise ValueError(
            f"separator_conf.attn_types: all 't' layers must use {_FLA!r} or all {_MHSA!r} "
            f"(got {sorted(time_types)})."
        )
    attention = "fla" if time_types == {_FLA} else "softmax"

    if str(sep["norm_type"]).lower() != "rmsgroupnorm":
        raise ValueError(
            f"separator_conf.norm_type {sep['norm_type']!r} is not supported (only "
            "'rmsgroupnorm')."
        )
    ffn_type = sep["ffn_type"]
    ffn_type = [ffn_type] * 2 if isinstance(ffn_type, str) else list(ffn_type)
    if ffn_type != ["swiglu_conv1d_layerchange"] * 2:
        raise ValueError(
            f"separator_conf.ffn_type {sep['ffn_type']!r} is not supported (only two "
            "'swiglu_conv1d_layerchange')."
        )
    hidden = sep["ffn_hidden_dim"]
    hidden = [hidden] * 2 if isinstance(hidden, int) else list(hidden)
    if len(hidden) != 2 or hidden[0] != hidden[1]:
        raise ValueError(
            f"separator_conf.ffn_hidden_dim {sep['ffn_hidden_dim']!r} is not supported (two "
            "equal sizes)."
        )
    if not sep["use_rope"]:
        raise ValueError("separator_conf.use_rope=False is not supported.")

    args = dict(
        n_src=sep["num_spk"],
        n_layers=len(layers_type) // 2,
        emb_dim=sep["emb_dim"],
        attention_dim=sep["attention_dim"],
        n_heads=sep["n_heads"],
        num_groups=sep["num_groups"],
        ffn_hidden_dim=hidden[0],
        conv1d_kernel=sep["conv1d_kernel"],
        conv1d_shift=sep["conv1d_shift"],
        eps=sep["eps"],
        n_fft=config.get("n_fft", 128),
        hop_length=config.get("hop_length", 64),
        normalize_variance=config.get("normalize_variance", True),
        attention=attention,
        dropout=sep["dropout"],
        official_compat=True,
    )
    addition = dict(sep["attn_addition_conf"] or {})
    _unknown(addition, ("ega_addition_conf",), "separator_conf.attn_addition_conf")
    if attention == "fla":
        ega = dict(addition.get("ega_addition_conf") or {})
        where = "separator_conf.attn_addition_conf.ega_addition_conf"
        _unknown(ega, tuple(_EGA_DEFAULTS) + ("mode",), where)
        ega = {**_EGA_DEFAULTS, **ega}
        if ega["linear_attn_type"] != "FocusedLinearAttention":
            raise ValueError(
                f"{where}.linear_attn_type must be 'FocusedLinearAttention' (got "
                f"{ega['linear_attn_type']!r})."
            )
        if ega["focusing_factor"] != 3:
            raise ValueError(f"{where}.focusing_factor {ega['focusing_factor']!r} != 3.")
        if ega.get("mode", "torch") != "torch":
            raise ValueError(f"{where}.mode {ega['mode']!r} is not supported (only 'torch').")
        args.update(
            fla_kernel_size=ega["kernel_size"], fla_norm_type=ega["norm_type"], gated=ega["gated"]
        )
    return args


def _unknown(conf: dict, known, where: str) -> None:
    for key in conf:
        if key not in known:
            raise ValueError(f"{where}: unsupported key {key!r} (known: {sorted(known)}).")


# Reference key -> ours, applied in order to every key (after the prefix rules).
_BLOCK_RENAMES = (
    ("ffn_norm.1.", "norm_pre."),
    ("ffn_norm.0.", "norm_post."),
    ("ffn.1.branchs.0.", "ffn_pre."),
    ("ffn.0.branchs.0.", "ffn_post."),
    ("attn.attns.0.rope.", "attn.rope."),
    ("attn.aggregate_heads.0.", "attn.out_proj."),
    ("attn.ega.", "attn.mixer."),
)
_PREFIX = re.compile(r"^separator\.(?:(f|t)_blocks\.(\d+)\.block\.)?")


def reference_state_dict_to_ours(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Rename a reference (ModelScope ``FLATFLocoformer``) state_dict to
    :class:`FLATFLocoformer`'s keys:

    * ``separator.{conv, deconv}.*`` -> ``{conv, deconv}.*``;
    * ``separator.f_blocks.<k>.block.`` -> ``blocks.<k>.freq.`` and ``t_blocks`` -> ``.time.``
      (``layers_type`` alternates ``f, t``: the k-th of each make our layer k);
    * in the blocks (the reference builds its FFN lists reversed: ``ffn.1`` runs first):
      ``ffn_norm.1`` / ``ffn.1.branchs.0`` -> ``norm_pre`` / ``ffn_pre``, ``ffn_norm.0`` /
      ``ffn.0.branchs.0`` -> ``norm_post`` / ``ffn_post``, ``attn.attns.0.rope`` ->
      ``attn.rope``, ``attn.aggregate_heads.0`` -> ``attn.out_proj``, ``attn.ega`` ->
      ``attn.mixer`` (the gated FLA mixer's own keys are the reference's).
    """
    out = {}
    for key, value in state_dict.items():
        match = _PREFIX.match(key)
        if match is None:
            raise ValueError(f"Unexpected reference key {key!r} (expected 'separator.*').")
        rest = key[match.end() :]
        if match.group(1):
            path = "freq" if match.group(1) == "f" else "time"
            for old, new in _BLOCK_RENAMES:
                if rest.startswith(old):
                    rest = new + rest[len(old) :]
                    break
            rest = f"blocks.{match.group(2)}.{path}.{rest}"
        out[rest] = value
    return out
