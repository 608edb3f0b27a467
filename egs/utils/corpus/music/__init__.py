"""The embedded mini music set: short songs in the MUSDB18-HQ layout (44.1 kHz stereo
``mixture``, ``vocals``, ``drums``, ``bass``, ``other``), built from registry packages only.

* vocals (:mod:`.vocals`): real recorded voices, the Asterisk voice prompts of Debian
  (:mod:`corpus.mini.real_bank`; CC-BY-3.0, CC-BY-SA-3.0 or GPL-2 per package);
* drums, bass, other (:mod:`.accompaniment`): note events generated here, rendered with a
  General MIDI SoundFont from Debian (``timgm6mb-soundfont``, GPL-2, by default) by the PyPI
  package ``tinysoundfont`` (MIT).

``python -m corpus.music.build --out_dir DIR`` builds it (:mod:`.build`).
"""


class MusicUnavailable(RuntimeError):
    """A package the music set is made from (PyPI or Debian) could not be had."""
