"""Asteroid's ``separate`` API (``separate``, ``torch_separate``, ``numpy_separate``,
``file_separate``) for the package's models, with the checks of the command line.

Asteroid's own functions (``asteroid.separate``) run the whole input at once, rescale the
outputs to the input's loudness (``out *= |x|_1 / |out|_1``: 0 / 0, i.e. NaN, when input and
output are silent) and write ``<name>_est<k>.wav`` with soundfile's default subtype for WAV,
16-bit PCM, which clips silently (the rescale easily takes outputs past 1), after a
resampling that can drop the last samples. Here:

* files go through :class:`~asteroid_tdanet.inference.Separator`, as on the command line: the
  file is checked (silence, NaN/Inf: one error naming it), separated in chunks, written at
  the file's rate and length as float WAV (nothing clipped), all outputs or none;
* speaker models (:class:`SpeakerSeparation`) keep Asteroid's names (``<name>_est1.wav``,
  ...) and, for tensors and arrays, Asteroid's one-pass separation and loudness rescale, with
  non-finite input refused and the rescale skipped where it is 0 / 0;
* stem models (:class:`StemSeparation`: music; ``stems``, ``residual_stem``,
  ``audio_channels``, see :mod:`asteroid_tdanet.inference.layout`) write
  ``<name>_vocals.wav`` / ``<name>_accompaniment.wav`` and separate tensors through the
  Separator too: the stems and the residual (``mixture - stems``), with the model's
  channels, unscaled (a rescale would turn a quiet vocal stem into a loud one).

Keyword arguments other than the ones named go to the ``Separator`` (``chunk_seconds``,
``overlap_seconds``, ``device``, ``precision``, ...), except for a speaker model's tensors,
where they go to ``forward_wav`` as in Asteroid. The model runs where it is (its device and
dtype, unless ``device`` says otherwise), in eval mode under ``torch.inference_mode()``, and
keeps its training flags.
"""

import os
import warnings
from typing import List, Optional, Sequence

import numpy as np
import torch

from ..utils.modes import inference_context
from ..utils.waveform import first_non_finite, to_float_waveform


class SeparatorAPI:
    """What both kinds share: dispatch, the :class:`~asteroid_tdanet.inference.Separator`,
    files. Subclasses name the outputs (:meth:`file_output_names`) and separate tensors."""

    def separate(self, wav, output_dir=None, force_overwrite=False, resample=False, **kwargs):
        """A file (path): :meth:`file_separate` (returns the output paths); a tensor or
        array: the outputs (:meth:`torch_separate`)."""
        if isinstance(wav, (str, os.PathLike)):
            return self.file_separate(wav, output_dir, force_overwrite, resample, **kwargs)
        if isinstance(wav, np.ndarray):
            return self.numpy_separate(wav, **kwargs)
        if isinstance(wav, torch.Tensor):
            return self.torch_separate(wav, **kwargs)
        raise ValueError(  # Asteroid's words
            f"Only support filenames, numpy arrays and torch tensors, received {type(wav)}"
        )

    def numpy_separate(self, wav: np.ndarray, **kwargs) -> np.ndarray:
        """:meth:`separate` of an array."""
        return self.torch_separate(torch.from_numpy(wav), **kwargs).numpy()

    def file_output_names(self) -> Sequence[str]:
        """Suffixes of the files :meth:`file_separate` writes, in output order."""
        raise NotImplementedError

    def _separator(self, **kwargs):
        """A :class:`~asteroid_tdanet.inference.Separator` running the model where it is
        (its device; float16 models in float16; a float64 model as a float32 copy, which
        the Separator makes)."""
        from ..inference import Separator

        param = next(self.parameters())
        kwargs.setdefault("device", str(param.device))
        if param.dtype == torch.float16:
            kwargs.setdefault("precision", "float16")
        return Separator(self, **kwargs)

    def file_separate(
        self, filename, output_dir=None, force_overwrite=False, resample=False, **kwargs
    ) -> Optional[List[str]]:
        """Write ``<name>_<output>.wav`` (:meth:`file_output_names`) next to ``filename`` or
        in ``output_dir``, at the file's rate and length, as float WAV, through the
        Separator (chunked; a silent file or NaN/Inf samples raise one error naming it).

        As Asteroid's: a file at another rate than the model's needs ``resample=True``;
        existing outputs are kept (with a warning) unless ``force_overwrite=True``; a mono
        model separates a multichannel file's first channel (with a warning) unless
        ``channel=`` or ``mix_down=True`` says otherwise. Returns the output paths (``None``
        when nothing was written).
        """
        import soundfile as sf

        from ..inference.audio import sf_path

        filename = os.fspath(filename)
        base = os.path.splitext(filename)[0]
        if output_dir is not None:
            base = os.path.join(os.fspath(output_dir), os.path.basename(base))
        paths = [f"{base}_{name}.wav" for name in self.file_output_names()]
        existing = [p for p in paths if os.path.exists(p)]
        if existing and not force_overwrite:
            warnings.warn(
                f"{existing[0]} already exists; pass force_overwrite=True to overwrite it.",
                UserWarning,
            )
            return None
        info = sf.info(sf_path(filename))  # any file name (not only UTF-8)
        if info.samplerate != self.sample_rate and not resample:
            raise RuntimeError(
                f"{filename}: sampling rate {info.samplerate} Hz, the model's is "
                f"{self.sample_rate} Hz; pass resample=True to resample automatically."
            )
        file_args = {k: kwargs.pop(k) for k in ("channel", "mix_down") if k in kwargs}
        separator = self._separator(**kwargs)
        if info.channels > 1 and separator.layout.channels == 1 and not file_args:
            warnings.warn(  # a mono model: Asteroid's first channel
                f"{filename}: {info.channels} channels; separating the first one only "
                "(pass channel=N or mix_down=True to choose).",
                UserWarning,
            )
            file_args["channel"] = 0
        if output_dir is not None:
            os.makedirs(output_dir, exist_ok=True)
        result = separator.separate_file(filename, paths, overwrite=force_overwrite, **file_args)
        for note in result.notes:  # e.g. a mono file duplicated to the model's channels
            warnings.warn(note, UserWarning)
        return paths


class SpeakerSeparation(SeparatorAPI):
    """Speaker models (TDANet, S4M, FLASepformer, BLSTMNet): Asteroid's output names and, for
    tensors, Asteroid's one-pass separation with its loudness rescale, made safe."""

    def file_output_names(self) -> Sequence[str]:
        from .registry import n_src_of

        return [f"est{k}" for k in range(1, n_src_of(self) + 1)]

    def torch_separate(self, wav: torch.Tensor, **kwargs) -> torch.Tensor:
        """Asteroid's ``torch_separate``: ``(batch, 1, time)`` (or ``(time,)``,
        ``(batch, time)``) -> ``(batch, n_src, time)`` in one pass on the model's device,
        outputs scaled by ``|x|_1 / |out|_1`` and returned on the input's device.

        Raises ``ValueError`` for NaN/Inf input (naming the first bad sample); where both
        sums are zero (a silent input, a silent output) the outputs are left unscaled.
        """
        in_channels = getattr(self, "in_channels", None)
        if in_channels is not None and wav.dim() > 1 and wav.shape[-2] != in_channels:
            raise RuntimeError(
                f"Model supports {in_channels}-channel inputs but found audio with "
                f"{wav.shape[-2]} channels."
            )
        first = first_non_finite(wav)
        if first is not None:
            raise ValueError(
                f"the input holds NaN or Inf samples (first at sample {first}); "
                "separating it would give NaN outputs"
            )
        device = next(self.parameters()).device
        with inference_context(self):
            x = wav.to(device)
            out = self.forward_wav(x, **kwargs)
            # Asteroid's arithmetic; integer PCM counted on the [-1, 1) scale the model reads.
            out_sum = out.abs().sum()
            if out_sum > 0:
                out = out * (to_float_waveform(x, out.dtype).abs().sum() / out_sum)
        return out.to(wav.device)


class StemSeparation(SeparatorAPI):
    """Stem models (music): the stems and the residual through the Separator."""

    def file_output_names(self) -> Sequence[str]:
        from ..inference.layout import output_layout

        return output_layout(self).names

    def torch_separate(self, wav: torch.Tensor, **kwargs) -> torch.Tensor:
        """:meth:`separate` of a tensor, on the model's device (outputs on the input's).

        Shape: ``(channels, time)`` -> ``(n_outputs, channels, time)``, or with a batch axis
        first; outputs in the order of the layout's names (e.g. vocals, accompaniment).
        """
        est = self._separator(**kwargs).separate_tensor(wav.detach().cpu())
        return est.to(wav.device)
