"""The Ur-Quan Masters voices of the mini set, and fetching a package from a Debian mirror's
pool (the package is in ``non-free``, which apt's sources usually lack).

No network: a fake package (a zip of Ogg lines, as ``uqm-voice`` ships) and a fake mirror on
``file://`` with an xz package index and a ``.deb`` built here.
"""

import io
import lzma
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from corpus.mini import debian_pool, real_bank
from corpus.mini.uqm_bank import index_voices, uqm_utterances

SR = 8000
GAME_SR = 11025


def ogg_line(hz, seconds, lead=0.3, sr=GAME_SR):
    """``lead`` s of silence, then a tone of ``seconds``, then silence: one Ogg Vorbis line."""
    audio = np.zeros(int((2 * lead + seconds) * sr), np.float32)
    t = np.arange(int(seconds * sr)) / sr
    audio[int(lead * sr) : int(lead * sr) + len(t)] = 0.5 * np.sin(2 * np.pi * hz * t)
    buf = io.BytesIO()
    sf.write(buf, audio, sr, format="OGG", subtype="VORBIS")
    return buf.getvalue()


def fake_uqm_package(root, races, n_lines=12, seconds=2.0):
    """``<root>/uqm-voice`` laid out as Debian's package: one zip ``.uqm`` archive holding
    ``3dovoice/<race>/<race>-NNN.ogg`` lines (race -> tone frequency) and other files."""
    archive = root / "uqm-voice/usr/share/games/uqm/content/addons/uqm-0.8.0-voice.uqm"
    archive.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive, "w") as z:
        for race, (hz, n) in races.items():
            for k in range(n if n is not None else n_lines):
                z.writestr(f"3dovoice/{race}/{race}-{k:03d}.ogg", ogg_line(hz, seconds))
            z.writestr(f"3dovoice/{race}/{race}.txt", "transcript")
    return str(root / "uqm-voice")


def dominant_hz(x, sr=SR):
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.fft.rfftfreq(len(x), 1 / sr)[spectrum.argmax()]


def test_a_race_is_a_voice_and_races_of_few_lines_are_left_out(tmp_path):
    pkg = fake_uqm_package(tmp_path, {"syreen": (300, None), "spathi": (500, None), "pr": (700, 4)})
    voices = index_voices([pkg], min_lines=10)
    assert sorted(voices) == ["spathi", "syreen"]
    assert len(voices["syreen"]["members"]) == 12
    assert all(m.endswith(".ogg") and "/syreen/" in m for m in voices["syreen"]["members"])


def test_utterances_are_trimmed_resampled_windows_of_one_voice(tmp_path):
    pkg = fake_uqm_package(tmp_path, {"syreen": (300, None), "spathi": (500, None)}, seconds=5.0)
    voices = index_voices([pkg])
    rng = np.random.default_rng(0)
    utts = uqm_utterances(voices, ["spathi"], 3, rng, sample_rate=SR, max_seconds=2.0)
    assert len(utts) == 3 and {u.speaker for u in utts} == {"uqm_spathi"}
    assert len({u.utt_id for u in utts}) == 3
    for u in utts:
        audio, sr = u.load()
        assert sr == SR
        # a 2 s window of the 5 s tone: no silence kept (it was trimmed before the window)
        assert len(audio) == 2 * SR
        assert np.abs(audio[:80]).max() > 0.1 and np.abs(audio[-80:]).max() > 0.1
        assert abs(dominant_hz(audio) - 500) < 5  # 11,025 Hz -> 8 kHz keeps the pitch
        assert np.array_equal(audio, u.load()[0])  # the window is fixed at creation
    short = uqm_utterances(voices, ["syreen"], 50, rng, sample_rate=SR, max_seconds=8.0)
    assert len(short) == 12  # every line when fewer than asked
    audio, _ = short[0].load()
    # whole line; its 2 x 0.3 s of silence trimmed (up to tens of ms of codec pre-echo kept)
    assert abs(len(audio) - 5 * SR) < 0.05 * SR


def _fake_mirror(tmp_path, package, component="non-free", arch="all"):
    """A Debian mirror on disk holding ``package`` (a real .deb with one file) in
    ``component``'s ``binary-<arch>`` index; the other components' indexes list other
    packages."""
    build = tmp_path / "build" / package
    (build / "DEBIAN").mkdir(parents=True)
    (build / "DEBIAN/control").write_text(
        f"Package: {package}\nVersion: 1.0\nArchitecture: {arch}\n"
        "Maintainer: Tests <t@example.org>\nDescription: test package\n"
    )
    (build / "usr/share/doc").mkdir(parents=True)
    (build / "usr/share/doc/hello.txt").write_text("hello")
    mirror = tmp_path / "mirror"
    pool = f"pool/{component}/{package[0]}/{package}/{package}_1.0_{arch}.deb"
    (mirror / pool).parent.mkdir(parents=True)
    subprocess.run(
        ["dpkg-deb", "--build", str(build), str(mirror / pool)], check=True, capture_output=True
    )
    for comp in debian_pool.COMPONENTS:
        text = f"Package: {package}\nFilename: {pool}\n" if comp == component else ""
        index = mirror / f"dists/bookworm/{comp}/binary-{arch}/Packages.xz"
        index.parent.mkdir(parents=True, exist_ok=True)
        index.write_bytes(lzma.compress(f"Package: other\nFilename: x.deb\n\n{text}".encode()))
    return mirror


@pytest.mark.skipif(not shutil.which("dpkg-deb"), reason="needs dpkg-deb")
def test_a_package_apt_does_not_list_comes_from_the_mirror_pool(tmp_path, monkeypatch):
    mirror = _fake_mirror(tmp_path, "asteroid-tdanet-test-voices")
    monkeypatch.setenv("DEBIAN_MIRROR", mirror.as_uri())
    monkeypatch.setattr(debian_pool, "release", lambda: "bookworm")
    assert debian_pool.pool_path("asteroid-tdanet-test-voices").startswith("pool/non-free/")
    if shutil.which("apt-get"):  # apt-get does not know the package: the pool is used
        (unpacked,) = real_bank.fetch_packages(
            str(tmp_path / "dest"), packages=("asteroid-tdanet-test-voices",)
        )
        assert (Path(unpacked) / "usr/share/doc/hello.txt").read_text() == "hello"
        assert (Path(unpacked) / ".done").exists()
        assert not list((tmp_path / "dest/debs").glob("*.deb"))  # the .deb is removed
    with pytest.raises(debian_pool.PoolError, match="no-such-package is not in .*non-free"):
        debian_pool.pool_path("no-such-package")


@pytest.mark.skipif(not shutil.which("dpkg-deb"), reason="needs dpkg-deb")
def test_without_apt_get_packages_come_from_the_mirror_pool(tmp_path, monkeypatch):
    mirror = _fake_mirror(tmp_path, "asteroid-tdanet-test-voices", component="main")
    monkeypatch.setenv("DEBIAN_MIRROR", mirror.as_uri())
    monkeypatch.setattr(debian_pool, "release", lambda: "bookworm")
    which = shutil.which
    # A system without apt-get (dpkg-deb alone, e.g. dpkg installed on another distribution).
    monkeypatch.setattr(shutil, "which", lambda tool: None if tool == "apt-get" else which(tool))
    (unpacked,) = real_bank.fetch_packages(
        str(tmp_path / "dest"), packages=("asteroid-tdanet-test-voices", "no-such-package")
    )
    assert (Path(unpacked) / "usr/share/doc/hello.txt").read_text() == "hello"
    with pytest.raises(real_bank.RealSpeechUnavailable, match="mirror's pool .*file://"):
        real_bank.fetch_packages(str(tmp_path / "dest"), packages=("no-such-package",))
    monkeypatch.setattr(shutil, "which", lambda tool: None)
    with pytest.raises(real_bank.RealSpeechUnavailable, match="dpkg-deb not found"):
        real_bank.fetch_packages(str(tmp_path / "dest2"))


@pytest.mark.skipif(not shutil.which("dpkg-deb"), reason="needs dpkg-deb")
def test_download_deb_reads_the_index_of_the_architecture_asked_for(tmp_path, monkeypatch):
    # An amd64 package (a library, a program) is listed in binary-amd64, not in binary-all.
    mirror = _fake_mirror(tmp_path, "asteroid-tdanet-test-lib", component="contrib", arch="amd64")
    monkeypatch.setenv("DEBIAN_MIRROR", mirror.as_uri())
    monkeypatch.setattr(debian_pool, "release", lambda: "bookworm")
    debs = tmp_path / "debs"
    debs.mkdir()
    with pytest.raises(OSError, match="binary-all"):  # absent from binary-all (no index there)
        real_bank.download_deb("asteroid-tdanet-test-lib", str(debs))
    deb = real_bank.download_deb("asteroid-tdanet-test-lib", str(debs), arch="amd64")
    assert os.path.basename(deb) == "asteroid-tdanet-test-lib_1.0_amd64.deb"
    info = subprocess.run(["dpkg-deb", "-f", deb, "Architecture"], capture_output=True, text=True)
    assert info.stdout.strip() == "amd64"


def test_release_is_read_from_os_release(tmp_path):
    f = tmp_path / "os-release"
    f.write_text('PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nVERSION_CODENAME=trixie\n')
    assert debian_pool.release(str(f)) == "trixie"
    assert debian_pool.release(str(tmp_path / "absent")) == debian_pool.DEFAULT_RELEASE
