"""FLA-SepReformer (Wang et al., Interspeech 2025): SepReformer (Shin et al., NeurIPS 2024) with
gated focused linear attention in its global blocks; ``attention="softmax"`` is SepReformer."""

from typing import List, Tuple

import torch
from asteroid.models.base_models import _shape_reconstructed, _unsqueeze_to_3d
from asteroid.utils.torch_utils import jitable_shape
from torch import nn

from ..masknn.mixers import build_mixer
from ..masknn.nearest import upsample_nearest
from ..masknn.sepreformer import SepReformerSeparator
from ..masknn.sepreformer_blocks import OutputLayer, SoftmaxEGA
from ..masknn.sepreformer_loss import aux_loss_weight, multi_stage_loss
from ..utils.waveform import any_sample_format
from .base import SeparationBaseModel, build_loaded, constructor_args

ATTENTIONS = ("fla", "softmax")


class AudioEncoder(nn.Module):
    """``GELU(Conv1d(1 -> E, K, stride S, bias=False))`` (``conv1d``).
    Shape: ``(batch, 1, L)`` -> ``(batch, E, T0 = floor((L - K) / S) + 1)``."""

    def __init__(self, enc_channels: int, kernel_size: int, stride: int):
        super().__init__()
        self.conv1d = nn.Conv1d(1, enc_channels, kernel_size, stride=stride, bias=False)
        self.gelu = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gelu(self.conv1d(x))


class FeatureProjector(nn.Module):
    """``Conv1x1(E -> F, bias=False)(GroupNorm(1, E, eps=1e-8)(x))`` (``norm``, ``conv1d``).
    Shape: ``(batch, E, T)`` -> ``(batch, F, T)``."""

    def __init__(self, enc_channels: int, feature_dim: int):
        super().__init__()
        self.norm = nn.GroupNorm(1, enc_channels, eps=1e-8)
        self.conv1d = nn.Conv1d(enc_channels, feature_dim, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv1d(self.norm(x))


def _fit_length(x: torch.Tensor, length: int) -> torch.Tensor:
    """Crop or zero-pad the last axis to ``length``."""
    return torch.nn.functional.pad(x, (0, length - x.shape[-1]))


class FLASepReformer(SeparationBaseModel):
    """FLA-SepReformer: SepReformer's asymmetric encoder-decoder with gated focused linear
    attention (FLA) as the global mixer.

    For a mixture ``x`` of ``L`` samples:

    1. ``e = GELU(Conv1d_{1->E}(x))`` (kernel ``K``, stride ``S``; ``T0`` frames), features
       ``h = Conv1x1_{E->F}(GN(e))``;
    2. the U-shaped separator (:class:`~asteroid_tdanet.masknn.sepreformer.SepReformerSeparator`):
       ``R`` encoder stages ``[Global, Local] x 2`` + downsampling, a bottleneck, speaker split
       of every skip, ``R`` decoder stages ``[Global, Local, SpkAttention] x 3`` on the
       ``batch * n_src`` streams. A global block is ``x <- x + mixer(x)`` then GCFN, with

           FLA:      mixer(x) = sigmoid(W_g LN'(x) + b_g) * FLA(LN(x))   (full resolution)
           softmax:  mixer(x) = sigmoid(W_g LN'(x) + b_g) * Up(MHSA_rel(Pool_{T/2^R}(x)));

    3. per stream, ``Linear(F, 4F)``, GLU, ``Linear(2F, E)`` (no mask on the main path), and
       ``ConvTranspose1d_{E->1}`` (kernel ``K``, stride ``S``), cropped / zero-padded to ``L``.

    Training adds the aux heads (``aux_heads``): every decoder stage's input, upsampled to
    ``T0``, through its own output layer with ``ReLU(.) * e`` masking and its own decoder
    (:meth:`forward_with_aux`), for :func:`multi_stage_loss`.

    Args:
        n_src (int): number of sources ``S``.
        sample_rate (float): sample rate of inputs and outputs (8 kHz for the released model).
        enc_channels (int): encoder filters ``E`` (256).
        kernel_size, stride (int): encoder / decoder window and hop in samples (16, 4).
        feature_dim (int): separator features ``F`` (128 in B; 64 in T, 256 in L).
        n_stages (int): U-Net stages ``R`` (4).
        n_heads (int): heads of the global mixer and of the speaker attention (8).
        cla_kernel (int): depthwise kernel of the local blocks' CLA (65).
        down_kernel (int): depthwise kernel of the stride-2 downsampling (5).
        fla_kernel_size (int): odd kernel of the FLA's depthwise ``DWC`` term (5).
        fla_gated (bool): gate the FLA (FLASepformer's released model) or not.
        dropout (float): dropout of GCFN / CLA / softmax attention (0.05; none inside FLA).
        attention (str): ``"fla"`` (FLA-SepReformer) or ``"softmax"`` (SepReformer's EGA:
            pooled softmax MHSA with relative positions).
        pos_maxlen (int): relative-position range of the softmax EGA (2000).
        aux_heads (bool): build the training-only aux heads ``out_layer_bn`` / ``decoder_bn``.
        normalize_variance (bool): divide the input by its (unbiased) std and multiply the
            outputs back.
        official_compat (bool): keep the reference's unused relative-position embedding
            ``separator.pos_emb`` with the FLA mixer, so the reference state_dict loads 1:1 and
            parameter counts match it; outputs are unaffected. Set by :meth:`from_reference`.

    Shape: ``(time,)``, ``(batch, time)`` or ``(batch, 1, time)`` ->
    ``(n_src, time)`` for 1D input, else ``(batch, n_src, time)``; output length = input length.
    """

    paper = dict(
        cite="FLA-SepReformer (Wang et al., FLASepformer, Interspeech 2025), built on "
        'SepReformer (Shin, Lee, Kim & Park, "Separate and Reconstruct: asymmetric '
        'encoder-decoder for speech separation", NeurIPS 2024)',
        arxiv="2508.19528",
        authors="FLASepformer by Wang et al.; SepReformer by Ui-Hyeop Shin, Sangyoun Lee, "
        "Taehan Kim, Hyung-Min Park",
    )

    def __init__(
        self,
        n_src: int = 2,
        sample_rate: float = 8000,
        *,
        enc_channels: int = 256,
        kernel_size: int = 16,
        stride: int = 4,
        feature_dim: int = 128,
        n_stages: int = 4,
        n_heads: int = 8,
        cla_kernel: int = 65,
        down_kernel: int = 5,
        fla_kernel_size: int = 5,
        fla_gated: bool = True,
        dropout: float = 0.05,
        attention: str = "fla",
        pos_maxlen: int = 2000,
        aux_heads: bool = True,
        normalize_variance: bool = False,
        official_compat: bool = False,
    ):
        args = constructor_args(locals())
        super().__init__(sample_rate=sample_rate)
        if attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}, got {attention!r}.")
        if feature_dim % n_heads:
            raise ValueError(f"feature_dim ({feature_dim}) must be divisible by n_heads.")
        self._args = args
        self.n_src, self.kernel_size, self.stride = n_src, kernel_size, stride
        self.normalize_variance, self.official_compat = normalize_variance, official_compat

        if attention == "fla":

            def make_mixer():
                # The reference FLA has no dropout (attn_drop = proj_drop = 0).
                return build_mixer(
                    "fla",
                    feature_dim,
                    n_heads=n_heads,
                    kernel_size=fla_kernel_size,
                    norm_type="layernorm",
                    gated=fla_gated,
                )

        else:

            def make_mixer():
                return SoftmaxEGA(feature_dim, n_heads=n_heads, dropout=dropout)

        keep_pos = attention == "softmax" or official_compat
        self.audio_encoder = AudioEncoder(enc_channels, kernel_size, stride)
        self.feature_projector = FeatureProjector(enc_channels, feature_dim)
        self.separator = SepReformerSeparator(
            make_mixer,
            feature_dim,
            n_src,
            n_stages,
            n_heads,
            cla_kernel=cla_kernel,
            down_kernel=down_kernel,
            dropout=dropout,
            pos_maxlen=pos_maxlen if keep_pos else None,
        )
        if keep_pos and attention != "softmax":
            # Kept for the reference's keys, computed and never read by the fla mixers: it
            # never gets a gradient, which plain DDP (several GPUs) refuses at the next step.
            self.separator.pos_emb.requires_grad_(False)
        self.out_layer = OutputLayer(enc_channels, feature_dim, n_src)
        self.audio_decoder = nn.ConvTranspose1d(
            enc_channels, 1, kernel_size, stride=stride, bias=False
        )
        if aux_heads:
            self.out_layer_bn = nn.ModuleList(
                OutputLayer(enc_channels, feature_dim, n_src, masking=True) for _ in range(n_stages)
            )
            self.decoder_bn = nn.ModuleList(
                nn.ConvTranspose1d(enc_channels, 1, kernel_size, stride=stride, bias=False)
                for _ in range(n_stages)
            )
        else:
            self.out_layer_bn = self.decoder_bn = None

    def _decode(self, decoder: nn.Module, x: torch.Tensor, length: int) -> torch.Tensor:
        """``(batch * S, E, T0)`` -> ``(batch, S, length)``."""
        wav = decoder(x)
        return _fit_length(wav.view(-1, self.n_src, wav.shape[-1]), length)

    def _separate(self, wav: torch.Tensor, with_aux: bool):
        shape = jitable_shape(wav)
        wav = _unsqueeze_to_3d(wav)
        if wav.shape[1] != 1:
            raise ValueError(f"Expected a single-channel input, got shape {tuple(shape)}.")
        length = wav.shape[-1]
        if length < self.min_input_samples:
            raise ValueError(
                f"{type(self).__name__} takes at least {self.min_input_samples} samples (its "
                f"encoder window, kernel_size), got {length}."
            )
        if self.normalize_variance:
            std = wav.std(dim=-1, keepdim=True)
            if not self.official_compat:  # the reference divides a silent input by 0
                std = std.clamp_min(1e-8)
            wav = wav / std
        enc = self.audio_encoder(wav)
        last, stage_inputs = self.separator(self.feature_projector(enc))
        est = self._decode(self.audio_decoder, self.out_layer(last, enc), length)
        aux = []
        if with_aux:
            if self.out_layer_bn is None:
                raise RuntimeError("This model has no aux heads (built with aux_heads=False).")
            frames = enc.shape[-1]
            for x, out_layer, decoder in zip(stage_inputs, self.out_layer_bn, self.decoder_bn):
                x = upsample_nearest(x, frames)
                aux.append(self._decode(decoder, out_layer(x, enc), length))
        if self.normalize_variance:
            est = est * std
            aux = [a * std for a in aux]
        return (
            _shape_reconstructed(est, shape),
            [_shape_reconstructed(a, shape) for a in aux],
        )

    @property
    def min_input_samples(self) -> int:
        """One encoder window (``kernel_size``)."""
        return self.kernel_size

    @any_sample_format
    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        """Separate ``wav``: ``(time,)``, ``(batch, time)`` or ``(batch, 1, time)`` ->
        ``(n_src, time)`` / ``(batch, n_src, time)``."""
        return self._separate(wav, with_aux=False)[0]

    @any_sample_format
    def forward_with_aux(self, wav: torch.Tensor) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        """The estimates and the aux heads' estimates (training): ``(estimates, aux)``, with
        ``aux[i]`` from the input of decoder stage ``i`` (``i = 0``: the bottleneck), each of
        the estimates' shape. Feed both to :func:`multi_stage_loss`."""
        return self._separate(wav, with_aux=True)

    # Presets are named ``fla-sepreformer-<size>``; the recipes' default is -B.
    preset_prefix = "fla-sepreformer"
    default_preset = "fla-sepreformer-b"
    # The recipes train it with SepReformer's multi-stage loss unless ``--loss`` says otherwise.
    default_recipe_loss = "multistage"

    @classmethod
    def recipe_objectives(cls) -> dict:
        """The training objective the recipes add for this model (see
        ``asteroid_tdanet.recipes.objectives``): ``multistage`` = :func:`multi_stage_loss` on
        :meth:`forward_with_aux`, its auxiliary weight decaying with the epoch."""
        return {"multistage": lambda training: MultiStageObjective()}

    @staticmethod
    def reference_model_args(config: dict) -> dict:
        """Our arguments for the reference constructor's ``config`` (ModelScope loader)."""
        return reference_config_to_args(config)

    @staticmethod
    def reference_state_dict(state_dict: dict) -> dict:
        """The reference ``state_dict`` under our key names (ModelScope loader)."""
        return reference_state_dict(state_dict)

    @classmethod
    def from_reference(
        cls, state_dict: dict, config: dict, sample_rate: float = 8000
    ) -> "FLASepReformer":
        """Build the model from the ModelScope port's ``state_dict`` (keys ``separator.*``) and
        its constructor kwargs ``config`` (``{"separator_conf": ..., "normalize_variance":
        ...}``, see :func:`reference_config_to_args`), with ``official_compat=True``, and load
        every weight strictly (aux heads and the unused ``pos_emb`` included). Returned in eval
        mode, like ``from_pretrained``."""
        args = reference_config_to_args(config, sample_rate=sample_rate)
        source = "the reference FLA-SepReformer state_dict"
        return build_loaded(cls, reference_state_dict(state_dict), source, **args)


class MultiStageObjective(nn.Module):
    """``objective(model, mixture, sources, epoch)``: :func:`multi_stage_loss` of the model's
    estimates and auxiliary estimates (time term alone for a model built without aux heads).
    ``epoch`` is the recipes' 0-based epoch; the schedule counts from 1, as the reference's
    training loop. Validation reports the time term alone (:meth:`validation_loss`), as the
    reference's validation does: the aux weight decays after epoch 100, and a ``val_loss``
    that moved with it would compare other things before and after."""

    def forward(self, model, mixture, sources, epoch: int = 0):
        if getattr(model, "out_layer_bn", None) is not None:
            estimates, aux = model.forward_with_aux(mixture)
        else:
            estimates, aux = model(mixture), []
        return multi_stage_loss(estimates, aux, sources, epoch + 1)

    def validation_loss(self, model, mixture, sources):
        return multi_stage_loss(model(mixture), [], sources, epoch=1)


def reference_state_dict(state_dict: dict) -> dict:
    """The port's state_dict with the wrapper's ``separator.`` prefix removed (so ``separator.
    separator.*`` -> ``separator.*``, ``separator.out_layer.*`` -> ``out_layer.*``); keys
    without the prefix (a bare ``TSepReformerSeparator`` / SepReformer ``Model``) are kept."""
    prefix = "separator."
    if all(k.startswith(prefix) for k in state_dict) and any(
        k.startswith(prefix + "audio_encoder.") for k in state_dict
    ):
        return {k[len(prefix) :]: v for k, v in state_dict.items()}
    return dict(state_dict)


# Reference keys that only restate a value taken elsewhere, or have one supported value.
_SUPPORTED_FLAGS = {
    "first_layer_static": False,
    "use_rope_pos": False,
    "use_share_spk_split": True,
}


def _take(conf: dict, where: str, key: str, default=None, required=True):
    if key not in conf:
        if required:
            raise ValueError(f"Reference config: {where}.{key} is missing.")
        return default
    return conf[key]


def _expect(conf: dict, where: str, key: str, expected, required=False):
    value = _take(conf, where, key, expected, required)
    if value != expected:
        raise ValueError(
            f"Reference config: {where}.{key} = {value!r} is not supported (expected "
            f"{expected!r})."
        )


def _check_keys(conf: dict, where: str, known) -> None:
    unknown = sorted(set(conf) - set(known) - set(_SUPPORTED_FLAGS) - {"linear_layers_flag"})
    if unknown:
        raise ValueError(f"Reference config: unsupported key {where}.{unknown[0]} ({unknown}).")
    for key, value in _SUPPORTED_FLAGS.items():
        if key in conf and bool(conf[key]) != value:
            raise ValueError(
                f"Reference config: {where}.{key} = {conf[key]!r} is not supported (the port "
                f"asserts {value})."
            )
    flags = conf.get("linear_layers_flag")
    if flags is not None and not all(int(f) == 1 for f in flags):
        raise ValueError(
            f"Reference config: {where}.linear_layers_flag = {flags!r} is not supported (the "
            "port asserts all ones)."
        )


def _ega_args(conf: dict, where: str) -> dict:
    ega = conf.get("addition_conf", {}).get("ega_addition_conf")
    where = f"{where}.addition_conf.ega_addition_conf"
    if ega is None:
        raise ValueError(f"Reference config: {where} is missing (softmax EGA is not the port).")
    _check_keys(
        ega,
        where,
        ("linear_attn_type", "gated", "norm_type", "kernel_size", "focusing_factor", "ropeEmb"),
    )
    _expect(ega, where, "linear_attn_type", "FocusedLinearAttention", required=True)
    _expect(ega, where, "norm_type", "layernorm")
    _expect(ega, where, "focusing_factor", 3)
    if ega.get("ropeEmb") is not None:
        raise ValueError(f"Reference config: {where}.ropeEmb is not supported.")
    return dict(
        fla_gated=bool(ega.get("gated", False)), fla_kernel_size=int(ega.get("kernel_size", 5))
    )


def reference_config_to_args(config: dict, sample_rate: float = 8000) -> dict:
    """Constructor arguments of :class:`FLASepReformer` for the ModelScope port's kwargs.

    ``config`` is ``TSepReformer``'s kwargs (``{"separator_conf": {...},
    "normalize_variance": bool}``, the fixture's ``config.json``) or ``separator_conf``
    itself. Every value the port cannot take differently from our model is checked:
    unsupported values or unknown keys (e.g. ``use_rope_pos=True``, ``embed_v=True``,
    ``linear_layers_flag`` not all ones, a softmax EGA) raise a ``ValueError`` naming the key.
    The result has ``official_compat=True``.
    """
    normalize_variance = bool(config.get("normalize_variance", False))
    sep = config["separator_conf"] if "separator_conf" in config else config
    _check_keys(
        sep,
        "separator_conf",
        (
            "num_stages",
            "num_spks",
            "module_audio_enc",
            "module_feature_projector",
            "module_separator",
            "module_output_layer",
            "module_audio_dec",
            "aux_part",
        ),
    )
    n_stages = int(_take(sep, "separator_conf", "num_stages"))
    n_src = int(_take(sep, "separator_conf", "num_spks"))

    enc = _take(sep, "separator_conf", "module_audio_enc")
    where = "separator_conf.module_audio_enc"
    _check_keys(
        enc, where, ("in_channels", "out_channels", "kernel_size", "stride", "groups", "bias")
    )
    _expect(enc, where, "in_channels", 1)
    _expect(enc, where, "groups", 1)
    _expect(enc, where, "bias", False)
    e = int(_take(enc, where, "out_channels"))
    kernel_size, stride = int(_take(enc, where, "kernel_size")), int(_take(enc, where, "stride"))

    proj = _take(sep, "separator_conf", "module_feature_projector")
    where = "separator_conf.module_feature_projector"
    _check_keys(proj, where, ("num_channels", "in_channels", "out_channels", "kernel_size", "bias"))
    _expect(proj, where, "num_channels", e)
    _expect(proj, where, "in_channels", e)
    _expect(proj, where, "kernel_size", 1)
    _expect(proj, where, "bias", False)
    f = int(_take(proj, where, "out_channels"))

    ms = _take(sep, "separator_conf", "module_separator")
    where = "separator_conf.module_separator"
    _check_keys(
        ms,
        where,
        (
            "num_stages",
            "relative_positional_encoding",
            "enc_stage",
            "spk_split_stage",
            "simple_fusion",
            "dec_stage",
        ),
    )
    _expect(ms, where, "num_stages", n_stages)
    rpe = _take(ms, where, "relative_positional_encoding")
    w = where + ".relative_positional_encoding"
    _check_keys(rpe, w, ("in_channels", "num_heads", "maxlen", "embed_v"))
    _expect(rpe, w, "in_channels", f)
    _expect(rpe, w, "embed_v", False)
    pos_maxlen = int(_take(rpe, w, "maxlen"))
    n_heads = int(_take(rpe, w, "num_heads"))

    stage_args = {}
    for stage_name in ("enc_stage", "dec_stage"):
        stage = _take(ms, where, stage_name)
        w = f"{where}.{stage_name}"
        blocks = ["global_blocks", "local_blocks", "addition_conf"]
        blocks += ["down_conv_layer"] if stage_name == "enc_stage" else ["spk_attention"]
        _check_keys(stage, w, blocks + (["num_spks"] if stage_name == "dec_stage" else []))
        if stage_name == "dec_stage":
            _expect(stage, w, "num_spks", n_src)
        g = _take(stage, w, "global_blocks")
        _check_keys(g, w + ".global_blocks", ("in_channels", "num_mha_heads", "dropout_rate"))
        _expect(g, w + ".global_blocks", "in_channels", f)
        _expect(g, w + ".global_blocks", "num_mha_heads", n_heads, required=True)
        loc = _take(stage, w, "local_blocks")
        _check_keys(loc, w + ".local_blocks", ("in_channels", "kernel_size", "dropout_rate"))
        _expect(loc, w + ".local_blocks", "in_channels", f)
        args = dict(
            dropout=float(_take(g, w + ".global_blocks", "dropout_rate")),
            cla_kernel=int(_take(loc, w + ".local_blocks", "kernel_size")),
        )
        _expect(loc, w + ".local_blocks", "dropout_rate", args["dropout"], required=True)
        if stage_name == "enc_stage":
            down = _take(stage, w, "down_conv_layer")
            _check_keys(down, w + ".down_conv_layer", ("in_channels", "samp_kernel_size"))
            _expect(down, w + ".down_conv_layer", "in_channels", f)
            args["down_kernel"] = int(_take(down, w + ".down_conv_layer", "samp_kernel_size"))
        else:
            spk = _take(stage, w, "spk_attention")
            ws = w + ".spk_attention"
            _check_keys(spk, ws, ("in_channels", "num_mha_heads", "dropout_rate"))
            _expect(spk, ws, "in_channels", f)
            _expect(spk, ws, "num_mha_heads", n_heads, required=True)
            _expect(spk, ws, "dropout_rate", args["dropout"], required=True)
        args.update(_ega_args(stage, w))
        stage_args[stage_name] = args
    enc_args, dec_args = stage_args["enc_stage"], stage_args["dec_stage"]
    for key, value in dec_args.items():
        if enc_args.get(key, value) != value:
            raise ValueError(
                f"Reference config: {where}.dec_stage sets {key} = {value!r} but enc_stage "
                f"{enc_args[key]!r}; both stages must agree."
            )
    split = _take(ms, where, "spk_split_stage")
    _check_keys(split, where + ".spk_split_stage", ("in_channels", "num_spks"))
    _expect(split, where + ".spk_split_stage", "in_channels", f)
    _expect(split, where + ".spk_split_stage", "num_spks", n_src)
    fusion = _take(ms, where, "simple_fusion")
    _check_keys(fusion, where + ".simple_fusion", ("out_channels",))
    _expect(fusion, where + ".simple_fusion", "out_channels", f)

    out = _take(sep, "separator_conf", "module_output_layer")
    w = "separator_conf.module_output_layer"
    _check_keys(out, w, ("in_channels", "out_channels", "num_spks"))
    _expect(out, w, "in_channels", e, required=True)
    _expect(out, w, "out_channels", f, required=True)
    _expect(out, w, "num_spks", n_src)
    dec = _take(sep, "separator_conf", "module_audio_dec")
    w = "separator_conf.module_audio_dec"
    _check_keys(dec, w, ("in_channels", "out_channels", "kernel_size", "stride", "bias"))
    _expect(dec, w, "in_channels", e, required=True)
    _expect(dec, w, "out_channels", 1)
    _expect(dec, w, "kernel_size", kernel_size, required=True)
    _expect(dec, w, "stride", stride, required=True)
    _expect(dec, w, "bias", False)

    return dict(
        n_src=n_src,
        sample_rate=sample_rate,
        enc_channels=e,
        kernel_size=kernel_size,
        stride=stride,
        feature_dim=f,
        n_stages=n_stages,
        n_heads=n_heads,
        attention="fla",
        pos_maxlen=pos_maxlen,
        aux_heads=bool(sep.get("aux_part", True)),
        normalize_variance=normalize_variance,
        official_compat=True,
        **{**enc_args, **dec_args},
    )


__all__ = [
    "FLASepReformer",
    "reference_config_to_args",
    "reference_state_dict",
    "multi_stage_loss",
    "aux_loss_weight",
]
