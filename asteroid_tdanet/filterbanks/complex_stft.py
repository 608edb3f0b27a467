"""The complex STFT pair of the STFT-domain models (FLA-TFLocoformer, Mel-Band RoFormer)."""

from typing import Optional

import torch
from torch import nn


class ComplexSTFT(nn.Module):
    """``torch.stft`` / ``torch.istft`` with a periodic Hann window of ``win_length``,
    ``center=True`` (reflect padding), one-sided, complex output, as the references call them.

    No parameters or buffers (the window is made on the input's device and dtype), so a model
    holding one has the same ``state_dict`` as the reference.

    Args:
        n_fft (int): FFT size.
        hop_length (int): hop in samples.
        win_length (int, optional): window length (default ``n_fft``; at most ``n_fft``, which
            the model checks so that its error names its own argument).
        normalized (bool): ``torch.stft``'s ``normalized``.
    """

    # Why a model computing through this cannot be exported (its ``export_refusal``).
    export_refusal = (
        "its STFT is complex-valued (torch's ONNX exporter has no complex tensors) and a "
        "trace fixes its frame count; separate in PyTorch (asteroid-tdanet separate)."
    )

    def __init__(
        self,
        n_fft: int,
        hop_length: int,
        win_length: Optional[int] = None,
        normalized: bool = False,
    ):
        super().__init__()
        self.n_fft, self.hop_length, self.win_length = n_fft, hop_length, win_length or n_fft
        self.normalized = normalized

    def _window(self, like: torch.Tensor) -> torch.Tensor:
        return torch.hann_window(self.win_length, device=like.device, dtype=like.dtype)

    @property
    def min_length(self) -> int:
        """The shortest input :meth:`stft` takes: the centred frames are reflect-padded by
        ``n_fft // 2`` samples, which needs more samples than that."""
        return self.n_fft // 2 + 1

    def check_length(self, length: int) -> None:
        """Raise ``ValueError`` for inputs of ``length`` samples under :attr:`min_length`."""
        if length < self.min_length:
            raise ValueError(
                f"An input of {length} samples is too short for the model's STFT "
                f"(n_fft {self.n_fft}, centred frames with reflect padding): it takes at least "
                f"{self.min_length} samples."
            )

    def stft(self, wav: torch.Tensor) -> torch.Tensor:
        """``(batch, time)`` -> complex ``(batch, n_fft / 2 + 1, 1 + time // hop_length)``
        (:meth:`check_length` first)."""
        self.check_length(wav.shape[-1])
        return torch.stft(
            wav,
            self.n_fft,
            self.hop_length,
            self.win_length,
            window=self._window(wav),
            center=True,
            pad_mode="reflect",
            normalized=self.normalized,
            onesided=True,
            return_complex=True,
        )

    def istft(self, spec: torch.Tensor, length: Optional[int]) -> torch.Tensor:
        """Inverse of :meth:`stft`: complex ``(batch, F, frames)`` -> ``(batch, length)``
        (``length=None``: ``hop_length * (frames - 1)`` samples)."""
        return torch.istft(
            spec,
            self.n_fft,
            self.hop_length,
            self.win_length,
            window=self._window(spec.real),
            center=True,
            normalized=self.normalized,
            onesided=True,
            length=length,
        )
