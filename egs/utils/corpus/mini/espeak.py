"""Synthetic multi-voice speech from eSpeak NG, through the PyPI package ``espeakng-loader``.

``espeakng-loader`` ships ``libespeak-ng.so`` and its ``espeak-ng-data`` (voices, variants,
dictionaries). We drive the C API with ctypes in synchronous mode: every call to
:func:`EspeakSynth.synthesize` returns the whole utterance as a float32 array at
:attr:`EspeakSynth.sample_rate` (22050 Hz).
"""

import ctypes
import threading
from typing import List, Optional

import numpy as np

# espeak_AUDIO_OUTPUT / espeak_PARAMETER / espeak_POSITION_TYPE values from speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_ESPEAK_RATE, _ESPEAK_VOLUME, _ESPEAK_PITCH, _ESPEAK_RANGE = 1, 2, 3, 4
_POS_CHARACTER = 1
_ESPEAK_CHARS_UTF8 = 1
_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class EspeakUnavailable(RuntimeError):
    """Raised when eSpeak NG (``espeakng-loader``) cannot be loaded."""


class EspeakSynth:
    """Process-wide eSpeak NG synthesizer (the C library keeps global state).

    Use :meth:`get` rather than the constructor. Not thread-safe across calls; a lock
    serialises :meth:`synthesize`.
    """

    _instance: Optional["EspeakSynth"] = None

    def __init__(self):
        try:
            import espeakng_loader
        except ImportError as err:
            raise EspeakUnavailable(
                "eSpeak NG is unavailable: `pip install espeakng-loader==0.2.4`."
            ) from err
        try:
            self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
            data_path = espeakng_loader.get_data_path()
        except (OSError, RuntimeError) as err:
            raise EspeakUnavailable(f"Cannot load eSpeak NG: {err}") from err
        self._lib.espeak_Initialize.restype = ctypes.c_int
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self._lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self._lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        # The espeak-ng-data directory's parent is what espeak_Initialize expects.
        rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, str(data_path).encode(), 0)
        if rate <= 0:
            raise EspeakUnavailable(f"espeak_Initialize failed (returned {rate}).")
        self.sample_rate = int(rate)
        self.data_path = data_path
        self._frames: List[np.ndarray] = []
        # Keep a reference so the callback is not garbage collected while C holds it.
        self._callback = _CALLBACK(self._collect)
        self._lib.espeak_SetSynthCallback(self._callback)
        self._lock = threading.Lock()

    @classmethod
    def get(cls) -> "EspeakSynth":
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def _collect(self, wav, n_samples, events):
        if n_samples > 0:
            self._frames.append(np.ctypeslib.as_array(wav, shape=(n_samples,)).copy())
        return 0  # 0 = continue synthesis

    def synthesize(
        self, text: str, voice: str, rate: int = 175, pitch: int = 50, pitch_range: int = 50
    ) -> np.ndarray:
        """Speak ``text`` with ``voice`` (e.g. ``"en-us+Annie"``).

        Args:
            rate: words per minute (80-450). pitch, pitch_range: 0-100.

        Returns:
            float32 array ``(time,)`` in [-1, 1] at :attr:`sample_rate`.
        """
        with self._lock:
            if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ValueError(f"eSpeak NG has no voice {voice!r}.")
            for param, value in (
                (_ESPEAK_RATE, rate),
                (_ESPEAK_PITCH, pitch),
                (_ESPEAK_RANGE, pitch_range),
                (_ESPEAK_VOLUME, 100),
            ):
                self._lib.espeak_SetParameter(param, int(value), 0)
            self._frames = []
            data = text.encode("utf-8") + b"\0"
            self._lib.espeak_Synth(
                data, len(data), 0, _POS_CHARACTER, 0, _ESPEAK_CHARS_UTF8, None, None
            )
            self._lib.espeak_Synchronize()
            frames, self._frames = self._frames, []
        if not frames:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(frames).astype(np.float32) / 32768.0

    def variants(self) -> List[str]:
        """Names of the voice variants shipped in ``espeak-ng-data/voices/!v``."""
        import os

        vdir = os.path.join(self.data_path, "voices", "!v")
        return sorted(f for f in os.listdir(vdir) if not f.startswith("."))
