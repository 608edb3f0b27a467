"""Asteroid's ``separate`` API for stem models (music: vocals and accompaniment).

Asteroid's ``separate`` / ``file_separate`` are written for speaker models: they rescale the
outputs to the input's loudness (``out *= |x|_1 / |out|_1``, which would turn a quiet vocal
stem into a loud one) and write one file per row of the output, ``<name>_est1.wav``, ... (for
a stereo stem model: the left and the right channel of the vocals). A stem model's methods
instead go through :class:`~asteroid_tdanet.inference.Separator`, as the command line does:
the stems and the residual (``mixture - stems``), with the model's channels, unscaled,
chunked and cross-faded for long inputs.
"""

import os
import warnings

import numpy as np
import torch


class StemSeparation:
    """Mixin of stem models (``stems``, ``residual_stem``, ``audio_channels``; see
    :mod:`asteroid_tdanet.inference.layout`): ``separate`` and its variants through the
    :class:`~asteroid_tdanet.inference.Separator`.

    Keyword arguments other than the ones named go to the ``Separator`` (``chunk_seconds``,
    ``overlap_seconds``, ``device``, ``precision``, ...). The model runs where it is (its
    device and dtype, unless ``device`` says otherwise), in eval mode under
    ``torch.inference_mode()``, and keeps its training flags.
    """

    def separate(self, wav, output_dir=None, force_overwrite=False, resample=False, **kwargs):
        """A file (path): :meth:`file_separate`; a tensor or array: the outputs.

        Shape: ``(channels, time)`` -> ``(n_outputs, channels, time)``, or with a batch axis
        first; outputs in the order of the layout's names (e.g. vocals, accompaniment).
        """
        if isinstance(wav, (str, os.PathLike)):
            return self.file_separate(wav, output_dir, force_overwrite, resample, **kwargs)
        if isinstance(wav, np.ndarray):
            return self.numpy_separate(wav, **kwargs)
        return self.torch_separate(wav, **kwargs)

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

    def torch_separate(self, wav: torch.Tensor, **kwargs) -> torch.Tensor:
        """:meth:`separate` of a tensor, on the model's device (outputs on the input's)."""
        est = self._separator(**kwargs).separate_tensor(wav.detach().cpu())
        return est.to(wav.device)

    def numpy_separate(self, wav: np.ndarray, **kwargs) -> np.ndarray:
        """:meth:`separate` of an array."""
        return self.torch_separate(torch.from_numpy(wav), **kwargs).numpy()

    def file_separate(
        self, filename, output_dir=None, force_overwrite=False, resample=False, **kwargs
    ):
        """Write ``<name>_<output>.wav`` (``<name>_vocals.wav``, ``<name>_accompaniment.wav``)
        next to ``filename`` or in ``output_dir``, with the model's channels (a mono file is
        duplicated), at the file's rate, as float WAV.

        As Asteroid's: a file at another rate than the model's needs ``resample=True``;
        existing outputs are kept (with a warning) unless ``force_overwrite=True``.
        Returns the output paths (``None`` when nothing was written).
        """
        import soundfile as sf

        from ..inference.audio import sf_path
        from ..inference.layout import output_layout

        filename = os.fspath(filename)
        base = os.path.splitext(filename)[0]
        if output_dir is not None:
            base = os.path.join(os.fspath(output_dir), os.path.basename(base))
        paths = [f"{base}_{name}.wav" for name in output_layout(self).names]
        existing = [p for p in paths if os.path.exists(p)]
        if existing and not force_overwrite:
            warnings.warn(
                f"{existing[0]} already exists; pass force_overwrite=True to overwrite it.",
                UserWarning,
            )
            return None
        rate = sf.info(sf_path(filename)).samplerate  # any file name (not only UTF-8)
        if rate != self.sample_rate and not resample:
            raise RuntimeError(
                f"{filename}: sampling rate {rate} Hz, the model's is {self.sample_rate} Hz; "
                "pass resample=True to resample automatically."
            )
        if output_dir is not None:
            os.makedirs(output_dir, exist_ok=True)
        result = self._separator(**kwargs).separate_file(filename, paths)
        for note in result.notes:  # e.g. a mono file duplicated to the model's channels
            warnings.warn(note, UserWarning)
        return paths
