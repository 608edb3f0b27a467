"""What every model of the package shares: safe (de)serialisation, presets, loading by name."""

import functools
import inspect
import re

import torch
from asteroid.models.base_models import BaseEncoderMaskerDecoder, BaseModel

from ..utils.modes import inference_context
from ..version import __version__
from .separate_api import SpeakerSeparation

# Hub-download options accepted by ``from_pretrained`` next to model-argument overrides.
HUB_KWARGS = ("revision", "cache_dir", "local_files_only", "filename")


def package_model(model) -> dict:
    """``model.serialize()`` of any Asteroid model (ours or Asteroid's own), with the versions
    stored as plain strings.

    Asteroid stores ``torch.__version__`` (a ``TorchVersion`` object that a safe load rejects
    unless allow-listed), so its own packages cannot be read back by
    ``asteroid.models.BaseModel.from_pretrained`` under torch >= 2.6 (``weights_only=True``);
    these can, by it and by :meth:`SeparationModel.from_pretrained`.
    """
    return _plain_versions(model.serialize())


def _plain_versions(package: dict) -> dict:
    versions = package["infos"]["software_versions"]
    versions["torch_version"] = str(versions["torch_version"])
    versions["asteroid_tdanet_version"] = __version__
    return package


def constructor_args(frame_locals: dict) -> dict:
    """A constructor's arguments from its ``locals()`` taken on entry (what
    ``get_model_args`` returns, so that ``serialize`` / ``from_pretrained`` round-trip)."""
    return {k: v for k, v in frame_locals.items() if k not in ("self", "__class__")}


def build_loaded(model_cls, state_dict: dict, source: str, *args, **model_args):
    """``model_cls(*args, **model_args)`` with ``state_dict`` loaded strictly (checked first:
    a mismatch is an error naming ``source``), in eval mode."""
    from ..checkpoints import check_state_dict

    model = model_cls(*args, **model_args)
    check_state_dict(model, state_dict, source)
    model.load_state_dict(state_dict)
    return model.eval()


def check_model_args(model_cls, model_args: dict, source: str, infos=None) -> None:
    """Raise :class:`~asteroid_tdanet.checkpoints.CheckpointMismatchError` naming ``source``
    when a package's ``model_args`` hold arguments ``model_cls`` does not take: a file written
    by a newer release, whose version (from ``infos``, when recorded) the message gives. The
    constructor would raise ``TypeError: __init__() got an unexpected keyword argument``,
    naming neither the file nor the releases involved."""
    from ..checkpoints import CheckpointMismatchError

    params = inspect.signature(model_cls.__init__).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return  # takes any keyword: the constructor itself judges them
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    unknown = [k for k in model_args if k not in names]
    if not unknown:
        return
    versions = (infos or {}).get("software_versions") if isinstance(infos, dict) else None
    written = versions.get("asteroid_tdanet_version") if isinstance(versions, dict) else None
    if not written:
        origin = "the file does not record the release that wrote it: a newer release may be needed"
    elif _release(written) > _release(__version__):
        origin = f"the file was written by asteroid_tdanet {written}: a newer release is needed"
    else:  # not a newer release's argument: the file was edited, or written by other code
        origin = f"the file was written by asteroid_tdanet {written}"
    raise CheckpointMismatchError(
        f"{source}: its model_args hold {', '.join(map(repr, unknown))}, which "
        f"{model_cls.__name__} of asteroid_tdanet {__version__} does not take ({origin})."
    )


def _release(version: str) -> tuple:
    """``"0.3.0"`` -> ``(0, 3, 0)``, to order this package's release numbers (a suffix such
    as ``.dev1`` adds a number; enough to tell an older or equal release from a newer one)."""
    return tuple(int(n) for n in re.findall(r"\d+", str(version)))


def _for_inference(method):
    """``method`` run through :func:`~asteroid_tdanet.utils.modes.inference_context`."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with inference_context(self):
            return method(self, *args, **kwargs)

    return wrapper


def _forward_wav_for_inference(method):
    """``forward_wav`` run as :func:`_for_inference` runs it; called outside inference mode it
    returns a normal tensor, since Asteroid's ``torch_separate`` rescales the output in place
    under ``no_grad`` only (an inference tensor would refuse that)."""
    run = _for_inference(method)

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        outer = torch.is_inference_mode_enabled()
        out = run(self, *args, **kwargs)
        return out if outer else out.clone()

    return wrapper


class PackagedModel:
    """What every model of the package gets, whatever its Asteroid base class:

    * :meth:`serialize`: Asteroid's package dict, loadable with ``torch.load(weights_only=True)``;
    * :meth:`from_pretrained`: our packages, released/reference checkpoints (converted by
      :mod:`asteroid_tdanet.checkpoints`), hub ids; on :class:`SeparationModel` itself it
      returns whatever model the file holds;
    * :meth:`from_preset`: the named configurations of :data:`~.presets.PRESETS`.

    Subclasses define ``__init__`` and ``get_model_args`` (constructor arguments that
    re-create the model).
    """

    def serialize(self) -> dict:
        """Asteroid's package dict with plain-string versions (see :func:`package_model`)."""
        return _plain_versions(super().serialize())

    @property
    def min_input_samples(self) -> int:
        """The shortest input (samples per channel) the model separates; a shorter one raises
        ``ValueError``. 1 unless a model's encoder needs more (an STFT's half window, a
        convolution's window). The :class:`~asteroid_tdanet.inference.Separator` checks its
        chunking against it."""
        spectrum = getattr(self, "spectrum", None)
        return spectrum.min_length if spectrum is not None else 1

    def gradient_checkpointing_enable(self, enable: bool = True) -> None:
        """Recompute the repeated blocks in the backward pass instead of keeping their
        activations (a training-memory / time trade-off; the outputs and gradients are the
        same). Sets ``gradient_checkpointing`` on every sub-module that has it (TDANet and
        S4M: the U-block of the masker); a model without such blocks raises ``ValueError``.
        Not a model argument: it is not saved with the model."""
        holders = [m for m in self.modules() if hasattr(m, "gradient_checkpointing")]
        if not holders:
            raise ValueError(f"{type(self).__name__} has no blocks to checkpoint.")
        for module in holders:
            module.gradient_checkpointing = bool(enable)

    @classmethod
    def from_pretrained(cls, pretrained, *args, **kwargs):
        """Load a model from a package dict, a file, or a Hugging Face hub id.

        Args:
            pretrained (str | os.PathLike | dict): one of

                * a dict or file written by :meth:`serialize` (``best_model.pth``,
                  ``pytorch_model.bin`` of our recipes), also by earlier releases;
                * a foreign checkpoint that :func:`asteroid_tdanet.checkpoints.load_package`
                  recognises (released look2hear ``TDANetBest``, reference S4M package);
                * a hub id ``user/repo`` or ``user/repo@revision``, resolved with
                  ``huggingface_hub`` (its cache is used, so it works offline once cached).
            revision, cache_dir, local_files_only, filename: passed to the hub download.
            **kwargs: other keyword arguments override the stored model arguments
                (e.g. ``dropout=0.0``).

        The model is returned in eval mode (dropout and drop-path off), as Hugging Face
        models are; call ``.train()`` to fine-tune it. Files are read with
        ``torch.load(weights_only=True)`` and an explicit allow-list.
        ``TDANet.from_pretrained`` refuses a file holding another model (and names it);
        ``SeparationModel.from_pretrained`` (or :func:`asteroid_tdanet.load_model`) loads
        any model registered with ``asteroid.models``.
        """
        from ..checkpoints import load_package, source_name
        from .registry import get_model_class

        hub_kwargs = {k: kwargs.pop(k) for k in HUB_KWARGS if k in kwargs}
        package = load_package(pretrained, **hub_kwargs)
        source = source_name(pretrained)
        try:
            model_cls = get_model_class(package["model_name"])
        except ValueError as err:  # a model of another package (or release) than this one
            from ..checkpoints import NotACheckpointError

            raise NotACheckpointError(f"{source}: {err}") from err
        if cls not in GENERIC_LOADERS and not issubclass(model_cls, cls):
            raise ValueError(
                f"{source} holds a {package['model_name']} model, not a {cls.__name__}: load "
                f"it with {package['model_name']}.from_pretrained or asteroid_tdanet.load_model."
            )
        check_model_args(model_cls, package["model_args"], source, package.get("infos"))
        return build_loaded(
            model_cls, package["state_dict"], source, *args, **{**package["model_args"], **kwargs}
        )

    @classmethod
    def from_preset(cls, name: str, **overrides):
        """Build the named configuration ``name`` (see ``asteroid_tdanet.PRESETS``).

        ``overrides`` replace preset values; ``sample_rate`` rescales a window given in ms.
        """
        from .presets import preset_args, preset_model
        from .registry import get_model_class

        model_cls = get_model_class(preset_model(name))
        if cls not in GENERIC_LOADERS and not issubclass(model_cls, cls):
            raise ValueError(
                f"Preset {name!r} builds a {model_cls.__name__}, not a {cls.__name__}."
            )
        return model_cls(**preset_args(name, **overrides))


class SeparationModel(SpeakerSeparation, PackagedModel, BaseEncoderMaskerDecoder):
    """Base of the package's Asteroid models (TDANet, S4M).

    Subclasses define ``__init__`` and :meth:`get_model_args` (constructor arguments that
    re-create the model); this class gives them:

    * :meth:`serialize`: Asteroid's package dict, loadable with ``torch.load(weights_only=True)``;
    * :meth:`from_pretrained`: our packages, released/reference checkpoints (converted by
      :mod:`asteroid_tdanet.checkpoints`), hub ids; on ``SeparationModel`` itself it returns
      whatever model the file holds;
    * :meth:`from_preset`: the named configurations of :data:`~.presets.PRESETS`;
    * Asteroid's ``separate`` / ``torch_separate`` / ``numpy_separate`` / ``file_separate``
      (:class:`~.separate_api.SpeakerSeparation`: files through the Separator, checked and
      unclipped) always in eval mode and ``torch.inference_mode()`` (the training flags are
      restored afterwards): separation is deterministic whatever mode the model is in. So is
      ``forward_wav``, the method through which Asteroid's module-level functions
      (``asteroid.separate.torch_separate(model, wav)``, ...) run the model.
    """

    forward_wav = _forward_wav_for_inference(BaseEncoderMaskerDecoder.forward_wav)


class SeparationBaseModel(SpeakerSeparation, PackagedModel, BaseModel):
    """Base of the package's models that are not encoder-masker-decoder (FLA-TFLocoformer's
    STFT mapping, FLA-SepReformer's multi-stage decoder): Asteroid's ``BaseModel`` with the
    same packaging, loading and presets as :class:`SeparationModel`, and the ``separate``
    methods of :class:`~.separate_api.SpeakerSeparation` (stem models mix in
    :class:`~.separate_api.StemSeparation` first), always in eval mode and
    ``torch.inference_mode()``.

    Subclasses define ``forward(wav)`` (``(batch, time)`` -> ``(batch, n_src, time)``), set
    ``sample_rate`` through ``BaseModel.__init__`` and keep ``self._args =
    constructor_args(locals())``.
    """

    forward_wav = _forward_wav_for_inference(BaseModel.forward_wav)

    def get_model_args(self) -> dict:
        """Constructor arguments (``self._args``, taken with :func:`constructor_args`; they
        round-trip through :meth:`serialize` / ``from_pretrained``)."""
        return dict(self._args)


# ``from_pretrained`` / ``from_preset`` on these return whatever model the file or preset holds.
GENERIC_LOADERS = (SeparationModel, SeparationBaseModel)
