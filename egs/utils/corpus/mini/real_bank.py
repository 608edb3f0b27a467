"""Real human speech from Debian's Asterisk voice-prompt packages.

Each package holds several hundred studio prompts (8 kHz, 16-bit wav) of ONE professional
speaker. They are fetched without root with ``apt-get download`` (or from the mirror's pool
for components apt's sources lack or without apt-get, :mod:`.debian_pool`) + ``dpkg-deb -x``
(Debian's registry is the only network this needs). Speakers are identified by their folder
name (``en_US_f_Allison`` -> ``Allison``), so the same voice in two languages is one speaker.
"""

import glob
import logging
import os
import re
import shutil
import subprocess
from typing import Dict, List, Sequence

import numpy as np
import soundfile as sf

from ..generate import Utterance, resample
from . import debian_pool

logger = logging.getLogger(__name__)

# Package -> licence (from each package's debian/copyright).
PACKAGES: Dict[str, str] = {
    "asterisk-core-sounds-en-wav": "CC-BY-SA-3.0 (Allison Smith)",
    "asterisk-core-sounds-es-wav": "CC-BY-SA-3.0 (Allison Smith)",
    "asterisk-core-sounds-fr-wav": "CC-BY-SA-3.0 (June Wallack)",
    "asterisk-core-sounds-it-wav": "CC-BY-3.0 (Carlo Flora)",
    "asterisk-core-sounds-ru-wav": "CC-BY-3.0 (ivrvoice.ru)",
    "asterisk-prompt-it-menardi-wav": "CC-BY-SA-3.0 IT (Marco Menardi, Paola Dal Zot)",
    "asterisk-prompt-es-co": "GPL-2 (Colombian Spanish prompts, Indigen Solutions)",
    "asterisk-prompt-fr-armelle": "GPL-2+ (Armelle Desjardins)",
}
# Packages whose prompts sit in a plain language folder (``sounds/<lang>/``) rather than a
# ``<lang>_<COUNTRY>_<gender>_<Name>`` one: package -> (gender, speaker name). Their prompts
# are raw GSM 6.10 (``.gsm``), which libsndfile decodes.
PLAIN_VOICES: Dict[str, tuple] = {
    "asterisk-prompt-es-co": ("m", "EsCO"),
    "asterisk-prompt-fr-armelle": ("f", "Armelle"),
}
PROMPT_EXTENSIONS = (".wav", ".gsm")
# <lang>_<COUNTRY>_<gender>_<Name>, e.g. en_US_f_Allison.
_VOICE_DIR = re.compile(r"^[a-z]{2}_[A-Z]{2}_(?P<gender>[mf])_(?P<name>\w+)$")


class RealSpeechUnavailable(RuntimeError):
    """The Debian packages could not be fetched or unpacked."""


def fetch_packages(dest: str, packages=tuple(PACKAGES)) -> List[str]:
    """Download and unpack ``packages`` under ``dest``; return the unpacked package dirs.

    Packages already unpacked (a ``.done`` marker) are reused. Packages that fail are
    logged and left out; :class:`RealSpeechUnavailable` if none could be had. apt-get is
    optional (:func:`download_deb` reads the mirror's pool without it); ``dpkg-deb``, which
    unpacks the archives, is not.
    """
    if shutil.which("dpkg-deb") is None:
        raise RealSpeechUnavailable(
            "dpkg-deb not found: it unpacks the Debian packages (install Debian's `dpkg`)."
        )
    debs = os.path.join(dest, "debs")
    os.makedirs(debs, exist_ok=True)
    unpacked = []
    for pkg in packages:
        target = os.path.join(dest, pkg)
        if not os.path.exists(os.path.join(target, ".done")):
            try:
                deb = download_deb(pkg, debs)
                subprocess.run(
                    ["dpkg-deb", "-x", deb, target], check=True, capture_output=True, text=True
                )
            except (subprocess.SubprocessError, ValueError, OSError) as err:
                detail = getattr(err, "stderr", "") or err
                logger.warning("Could not fetch %s: %s", pkg, str(detail).strip()[:300])
                continue
            open(os.path.join(target, ".done"), "w").close()
            os.remove(deb)
        unpacked.append(target)
    if not unpacked:
        raise RealSpeechUnavailable(
            f"None of the packages {', '.join(packages)} could be downloaded, neither with "
            f"apt-get nor from the mirror's pool ({debian_pool.mirror()}; `apt-get update` once, "
            "as root, if apt's package lists are missing; $DEBIAN_MIRROR for another mirror)."
        )
    return unpacked


def download_deb(pkg: str, debs: str, arch: str = "all") -> str:
    """Download ``pkg``'s ``.deb`` into ``debs``; return its path.

    ``apt-get download`` (the host's architecture), or, for a package apt's sources do not
    list (Debian's ``contrib`` / ``non-free``), the mirror's pool (:mod:`.debian_pool`), read
    from its ``binary-<arch>`` index: ``all`` for architecture-independent packages (voices,
    prompts), e.g. ``amd64`` for programs and libraries. Without apt-get, the pool only."""
    try:
        if shutil.which("apt-get") is None:
            raise ValueError("apt-get not found")
        subprocess.run(
            ["apt-get", "download", pkg],
            cwd=debs,
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        )
        (deb,) = glob.glob(os.path.join(debs, f"{pkg}_*.deb"))
        return deb
    except (subprocess.SubprocessError, ValueError) as apt_err:
        try:
            return debian_pool.download(pkg, debs, arch=arch)
        except debian_pool.PoolError as pool_err:
            apt_detail = (getattr(apt_err, "stderr", "") or str(apt_err)).strip()[:200]
            raise OSError(f"apt-get download: {apt_detail}; mirror pool: {pool_err}") from None


def index_speakers(package_dirs: List[str], min_seconds: float = 1.5) -> Dict[str, dict]:
    """``{speaker: {"files": [...], "gender", "packages": [...]}}`` from unpacked packages.

    Only prompts of at least ``min_seconds`` are kept (short digits/words make poor
    mixtures).
    """
    speakers: Dict[str, dict] = {}
    for pkg_dir in package_dirs:
        package = os.path.basename(pkg_dir)
        for voice_dir in sorted(glob.glob(os.path.join(pkg_dir, "usr/share/asterisk/sounds/*"))):
            match = _VOICE_DIR.match(os.path.basename(voice_dir))
            if match:
                gender, name = match["gender"], match["name"]
            elif package in PLAIN_VOICES and os.path.isdir(voice_dir):
                gender, name = PLAIN_VOICES[package]
            else:
                continue
            entry = speakers.setdefault(name, dict(files=[], gender=gender, packages=[]))
            entry["packages"].append(package)
            for path in sorted(glob.glob(os.path.join(voice_dir, "**", "*"), recursive=True)):
                if not path.endswith(PROMPT_EXTENSIONS):
                    continue
                try:
                    audio, _ = read_prompt(path)
                except RuntimeError:
                    logger.warning("Skipping unreadable prompt %s", path)
                    continue
                if audio.ndim == 1 and len(audio) >= min_seconds * PROMPT_RATE:
                    entry["files"].append(path)
    return {k: v for k, v in speakers.items() if v["files"]}


# Asterisk prompts are 8 kHz; raw GSM files carry no header to say so.
PROMPT_RATE = 8000


def read_prompt(path: str):
    """``(samples (time,), sample_rate)`` of a ``.wav`` or raw GSM 6.10 ``.gsm`` prompt."""
    if path.endswith(".gsm"):
        return sf.read(
            path,
            dtype="float32",
            format="RAW",
            subtype="GSM610",
            samplerate=PROMPT_RATE,
            channels=1,
        )
    return sf.read(path, dtype="float32")


def real_utterances(
    speakers: Dict[str, dict],
    names: List[str],
    utts_per_speaker: int,
    rng: np.random.Generator,
    speed_factors: Sequence[float] = (),
) -> List[Utterance]:
    """``utts_per_speaker`` random prompts (0: all) of each speaker in ``names``.

    Each factor ``f`` of ``speed_factors`` adds a virtual speaker ``<name>@f`` whose prompts
    are played ``f`` times faster (pitch and formants scale by ``f``: a different vocal
    tract, not just a different tempo), drawn from the same prompts.
    """
    utterances = []
    for name in names:
        files = speakers[name]["files"]
        count = len(files) if utts_per_speaker <= 0 else min(utts_per_speaker, len(files))
        for factor in (1.0, *speed_factors):
            picks = rng.choice(len(files), size=count, replace=False)
            speaker = f"real_{name}" if factor == 1.0 else f"real_{name}@{factor:g}"
            for k in sorted(picks):
                path = files[k]
                stem = os.path.splitext(os.path.basename(path))[0].replace("_", "-")
                utterances.append(
                    Utterance(
                        f"{speaker.replace('_', '-')}-{stem}",
                        speaker,
                        lambda p=path, f=factor: load_trimmed(p, f),
                    )
                )
    return utterances


def load_trimmed(path: str, speed: float = 1.0):
    """Prompt samples (mono: stereo files are averaged) without leading/trailing silence
    (prompts have long pauses), played ``speed`` times faster."""
    audio, sr = read_prompt(path)
    audio = mono_trimmed(audio)
    if speed != 1.0:
        # Resampling from sr * speed to sr keeps the rate and shortens the signal by speed.
        audio = resample(audio, int(round(sr * speed)), sr)
    return audio, sr


def mono_trimmed(audio: np.ndarray) -> np.ndarray:
    """``audio`` as mono (stereo channels averaged) without its leading and trailing samples
    under 1 % of the peak: recordings' pauses around a prompt or a game line."""
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    if not audio.size:  # an empty file (two of Fish Fillets NG's Dutch lines)
        return audio
    active = np.flatnonzero(np.abs(audio) > 0.01 * max(np.abs(audio).max(), 1e-6))
    if len(active):
        audio = audio[active[0] : active[-1] + 1]
    return audio
