"""Stereo stem models (MelBandRoformer) through the chunked separator and the CLI: stereo in,
stereo stems out, mono input duplicated with a note, resampling, and the seam artefact of
cross-faded chunks measured against a one-pass run and against the reference's plain
concatenation of non-overlapping chunks."""

import os

import numpy as np
import pytest
import soundfile as sf
import torch

from asteroid_tdanet import MelBandRoformer
from asteroid_tdanet.cli import main as cli_main
from asteroid_tdanet.inference import Separator
from asteroid_tdanet.inference.layout import output_layout
from asteroid_tdanet.models import package_model

RATE = 16000
# A small Mel-Band RoFormer at 16 kHz (the fixture's STFT): fast on a CPU.
TINY = dict(
    sample_rate=RATE,
    dim=16,
    depth=1,
    num_bands=8,
    heads=2,
    dim_head=8,
    stft_n_fft=256,
    stft_hop_length=64,
    sinks=4,
    mlp_expansion_factor=1,
)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return MelBandRoformer(**TINY).eval()


def music(seconds: float, rate: int = RATE, seed: int = 0) -> torch.Tensor:
    """``(2, time)``: two tones with a slow tremolo, different per channel, plus noise."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * rate)) / rate
    left = 0.3 * torch.sin(2 * np.pi * 220 * t) * (1 + torch.sin(2 * np.pi * 0.5 * t))
    right = 0.2 * torch.sin(2 * np.pi * 330 * t + 1)
    return torch.stack([left, right]) + 0.05 * torch.randn(2, t.numel(), generator=gen)


def test_layout_of_stem_and_speaker_models(model):
    layout = output_layout(model)
    assert layout.names == ("vocals", "accompaniment") and layout.channels == 2
    assert layout.is_stem_model and layout.residual
    from _inference_helpers import tiny_model

    speech = output_layout(tiny_model())
    assert speech.names == ("s1", "s2") and speech.channels == 1 and speech.align


def test_separate_tensor_keeps_stereo_and_sums_to_the_mixture(model):
    x = music(1.0)
    out = Separator(model).separate_tensor(x)
    assert out.shape == (2, 2, x.shape[-1])  # (vocals | accompaniment, channels, time)
    with torch.inference_mode():
        torch.testing.assert_close(out[0], model(x[None])[0], rtol=0, atol=0)
    torch.testing.assert_close(out.sum(0), x, rtol=0, atol=1e-6)
    batch = Separator(model).separate_tensor(torch.stack([x, music(1.0, seed=1)]))
    assert batch.shape == (2, 2, 2, x.shape[-1])
    torch.testing.assert_close(batch[0], out, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match=r"\(2, time\)"):
        Separator(model).separate_tensor(x[0])


def _concatenated_chunks(model, x: torch.Tensor, chunk: int) -> torch.Tensor:
    """The reference's long-input inference (windowed-roformer ``demix``): zero-pad to a
    multiple of ``chunk``, separate non-overlapping chunks, concatenate, crop."""
    padded = torch.nn.functional.pad(x, (0, -x.shape[-1] % chunk))
    with torch.inference_mode():
        outs = [model(padded[None, :, i : i + chunk])[0] for i in range(0, padded.shape[-1], chunk)]
    return torch.cat(outs, dim=-1)[:, : x.shape[-1]]


def test_cross_faded_chunks_stay_close_to_one_pass_unlike_concatenation(model):
    """Seam artefact = deviation from a one-pass run of the whole signal. Cross-faded chunks
    on the STFT grid must beat the reference's concatenation at the seams, by far."""
    x = music(6.0)
    with torch.inference_mode():
        one_pass = model(x[None])[0]
    chunk_s = 1.5
    ours = Separator(model, chunk_seconds=chunk_s, overlap_seconds=0.25).separate_tensor(x)[0]
    concat = _concatenated_chunks(model, x, int(chunk_s * RATE))

    def relative_error(y):
        return float((y - one_pass).pow(2).sum() / one_pass.pow(2).sum())

    seams = [int(chunk_s * RATE) * k for k in (1, 2, 3)]
    width = int(0.02 * RATE)

    def worst_at_seams(y):
        return max(float((y - one_pass)[:, s - width : s + width].abs().max()) for s in seams)

    rms = float(one_pass.pow(2).mean().sqrt())
    # Concatenation jumps at its seams (several times the signal's RMS here) ...
    assert worst_at_seams(concat) > 2 * rms
    # ... cross-fading removes the jumps: nowhere is ours that far from the one-pass run,
    assert float((ours - one_pass).abs().max()) < 0.25 * worst_at_seams(concat)
    # and overall it is closer too.
    assert relative_error(ours) < 0.5 * relative_error(concat)


def test_chunk_hop_is_kept_on_the_stft_grid(model):
    # 0.25 s overlap of 1.5 s chunks at 16 kHz: hop 20,000 samples, not a multiple of 64.
    sep = Separator(model, chunk_seconds=1.5, overlap_seconds=0.25)
    assert (sep.chunk - sep.overlap) % 64 == 0 and abs(sep.overlap - 4000) < 64
    x = music(4.0)
    with torch.inference_mode():
        one_pass = model(x[None])[0]
    # Off the grid (a hop of 20,000 samples) the chunks see other frames: far worse.
    sep.overlap = 4000
    off_grid = sep.separate_tensor(x)[0]
    on_grid = Separator(model, chunk_seconds=1.5, overlap_seconds=0.25).separate_tensor(x)[0]
    assert float((on_grid - one_pass).abs().max()) < 0.5 * float((off_grid - one_pass).abs().max())


def test_an_explicit_overlap_over_half_a_chunk_is_refused_a_default_one_capped(model):
    """As for speaker models: --overlap-seconds 5 with --chunk-seconds 1 is refused (it was
    shrunk to half a chunk on the STFT grid, silently); the model's default 1 s overlap with
    1 s chunks becomes half a chunk, kept on the grid."""
    with pytest.raises(ValueError, match=r"overlap_seconds \(5\) must be at most half of "):
        Separator(model, chunk_seconds=1.0, overlap_seconds=5.0)
    with pytest.raises(ValueError, match=r"overlap_seconds \(0.6\) must be at most half of "):
        Separator(model, chunk_seconds=1.0, overlap_seconds=0.6)
    sep = Separator(model, chunk_seconds=1.0)
    assert sep.chunk == RATE and sep.overlap <= RATE // 2 and (sep.chunk - sep.overlap) % 64 == 0
    assert sep.overlap > RATE // 2 - 64  # half a chunk, within one hop of the grid


def test_default_chunking_is_the_models(model):
    sep = Separator(model)
    assert sep.chunk == 8 * RATE and abs(sep.overlap - RATE) < 64


@pytest.fixture()
def model_file(model, tmp_path):
    path = tmp_path / "mbr.pth"
    torch.save(package_model(model), path)
    return path


def separate(path, model_file):
    """``asteroid-tdanet separate path --model model_file -o <path's folder>/out``; the folder."""
    out = path.parent / "out"
    assert cli_main(["separate", str(path), "--model", str(model_file), "-o", str(out), "-q"]) == 0
    return out


def test_cli_stereo_in_stereo_stems_out(model, model_file, tmp_path):
    x = music(2.0)
    sf.write(tmp_path / "song.wav", x.T.numpy(), RATE, subtype="FLOAT")
    out = separate(tmp_path / "song.wav", model_file)
    vocals, rate = sf.read(out / "song_vocals.wav", dtype="float32")
    rest, _ = sf.read(out / "song_accompaniment.wav", dtype="float32")
    assert rate == RATE and vocals.shape == rest.shape == (x.shape[-1], 2)
    with torch.inference_mode():
        expected = model(x[None])[0].T.numpy()
    np.testing.assert_allclose(vocals, expected, atol=1e-5)
    np.testing.assert_allclose(vocals + rest, x.T.numpy(), atol=1e-5)
    assert not (out / "song_s1.wav").exists()


def test_cli_mono_file_is_duplicated_with_a_note(model, model_file, tmp_path, capsys):
    x = music(1.0)[0]
    sf.write(tmp_path / "mono.wav", x.numpy(), RATE, subtype="FLOAT")
    out = separate(tmp_path / "mono.wav", model_file)
    assert "mono input duplicated to the 2 channels" in capsys.readouterr().err
    vocals, _ = sf.read(out / "mono_vocals.wav", dtype="float32")
    with torch.inference_mode():
        expected = model(torch.stack([x, x])[None])[0].T.numpy()
    np.testing.assert_allclose(vocals, expected, atol=1e-5)


def test_cli_refuses_more_channels_than_the_model_takes(model_file, tmp_path, capsys):
    sf.write(tmp_path / "surround.wav", 0.1 * np.ones((RATE, 6), np.float32), RATE)
    args = ["separate", str(tmp_path / "surround.wav"), "--model", str(model_file), "-q"]
    assert cli_main(args + ["-o", str(tmp_path / "out")]) == 1
    assert "has 6 channels; the model takes 2" in capsys.readouterr().err
    assert cli_main(args + ["-o", str(tmp_path / "out"), "--channel", "3"]) == 0
    assert sf.info(str(tmp_path / "out" / "surround_vocals.wav")).channels == 2


def test_cli_resamples_other_rates_and_back(model, model_file, tmp_path):
    x = music(2.0, rate=22050)
    sf.write(tmp_path / "song.wav", x.T.numpy(), 22050, subtype="FLOAT")
    out = separate(tmp_path / "song.wav", model_file)
    vocals, rate = sf.read(out / "song_vocals.wav", dtype="float32")
    assert rate == 22050 and vocals.shape == (x.shape[-1], 2)
    # The same as the in-memory path, which resamples to the model's rate and back.
    expected = Separator(model).separate_tensor(x, sample_rate=22050)[0]
    np.testing.assert_allclose(vocals, expected.T.numpy(), atol=1e-5)


@pytest.mark.parametrize("length", [16000, 20000, 3001])
def test_a_model_returning_whole_hops_only_is_completed_to_the_input_length(model, length):
    """``official_compat=True`` (what ``from_reference`` builds) returns ``hop * (T // hop)``
    samples, as the reference does; the separator completes the stems with zeros there."""
    compat = MelBandRoformer(**TINY, official_compat=True).eval()
    compat.load_state_dict(model.state_dict())
    x = music(length / RATE)[:, :length]
    kept = 64 * (length // 64)
    with torch.inference_mode():
        one_pass = compat(x[None])[0]  # (channels, kept): vocals
    assert one_pass.shape[-1] == kept
    out = Separator(compat, chunk_seconds=1.0, overlap_seconds=0.25).separate_tensor(x)
    assert out.shape == (2, 2, length)
    vocals, accompaniment = out
    assert torch.count_nonzero(vocals[:, kept:]) == 0
    torch.testing.assert_close(vocals + accompaniment, x, rtol=0, atol=1e-6)
    if length <= RATE:  # one chunk: the same samples as the model's own pass
        torch.testing.assert_close(vocals[:, :kept], one_pass, rtol=1e-5, atol=1e-6)


def test_asteroid_separate_api_of_a_stem_model_gives_the_stems(model, tmp_path):
    """``model.separate`` of a stem model: the Separator's stems and residual (unscaled),
    for tensors, arrays and files, not Asteroid's per-row ``_est<i>`` files rescaled to the
    mixture's loudness."""
    x = music(1.5)
    expected = Separator(model).separate_tensor(x)  # (vocals, accompaniment) x channels
    model.train()
    got = model.separate(x)
    assert model.training and all(m.training for m in model.modules())
    model.eval()
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    torch.testing.assert_close(
        torch.from_numpy(model.separate(x[None].numpy()))[0], expected, rtol=0, atol=0
    )

    song = tmp_path / "song.flac"
    sf.write(song, x.T.numpy(), RATE, subtype="PCM_24")
    paths = model.separate(str(song), output_dir=tmp_path / "out")
    assert [p.rsplit("/", 1)[1] for p in paths] == ["song_vocals.wav", "song_accompaniment.wav"]
    from_file = Separator(model).separate_tensor(torch.from_numpy(sf.read(song)[0].T).float())
    for path, stem in zip(paths, from_file):
        data, rate = sf.read(path, dtype="float32")
        assert rate == RATE and data.shape == (x.shape[1], 2)
        torch.testing.assert_close(torch.from_numpy(data.T), stem, rtol=0, atol=1e-6)
    with pytest.warns(UserWarning, match="already exists"):
        assert model.separate(str(song), output_dir=tmp_path / "out") is None
    assert model.separate(str(song), output_dir=tmp_path / "out", force_overwrite=True) == paths

    double = MelBandRoformer(**TINY).double().eval()
    double.separate(x.double())  # run as a float32 copy: the model keeps its dtype
    assert next(double.parameters()).dtype == torch.float64

    other = tmp_path / "song8k.wav"
    sf.write(other, x.T.numpy()[::2], RATE // 2)
    with pytest.raises(RuntimeError, match="resample=True"):
        model.separate(str(other))
    outs = model.separate(str(other), resample=True)
    assert sf.info(outs[0]).samplerate == RATE // 2


def test_chunking_that_could_end_on_a_chunk_too_short_for_the_stft_is_refused(model, tmp_path):
    """The last chunk of a file can be as short as the overlap plus one sample: an overlap
    under the STFT's minimum input would fail on some file lengths only, so it is refused
    when the separator is built (the CLI: exit 2); an overlap that covers it takes any
    length."""
    assert model.min_input_samples == 256 // 2 + 1
    with pytest.raises(ValueError, match="at least 129 samples.*at least 0.008 s"):
        Separator(model, chunk_seconds=0.5, overlap_seconds=0.001)
    sep = Separator(model, chunk_seconds=0.5, overlap_seconds=0.008)
    for length in (8001, 8064, 8129, 16001):  # last chunks of various lengths
        assert sep.separate_tensor(music(1.1)[:, :length]).shape == (2, 2, length)
    path = tmp_path / "song.wav"
    sf.write(path, music(0.6).T.numpy(), RATE)
    model_path = tmp_path / "mbr.pth"
    torch.save(package_model(model), model_path)
    args = ["separate", str(path), "--model", str(model_path), "-o", str(tmp_path / "o"), "-q"]
    assert cli_main(args + ["--chunk-seconds", "0.5", "--overlap-seconds", "0.001"]) == 2


@pytest.mark.skipif(os.name == "nt", reason="Windows file names are text, not bytes")
def test_asteroid_separate_of_a_file_name_that_is_not_utf8(model, tmp_path):
    """model.separate(path) with a Latin-1 name (b'caf\\xe9.flac'): read, outputs under the
    same bytes."""
    name = os.fsdecode(b"caf\xe9")
    x = music(0.5)
    sf.write(tmp_path / "plain.flac", x.T.numpy(), RATE, subtype="PCM_24")
    try:
        os.rename(tmp_path / "plain.flac", tmp_path / f"{name}.flac")
    except OSError as err:
        pytest.skip(f"this file system refuses a Latin-1 file name: {err}")
    paths = model.separate(str(tmp_path / f"{name}.flac"), output_dir=tmp_path / "out")
    assert sorted(os.listdir(os.fsencode(tmp_path / "out"))) == [
        b"caf\xe9_accompaniment.wav",
        b"caf\xe9_vocals.wav",
    ]
    assert sf.info(os.fsencode(paths[0])).frames == x.shape[1]
