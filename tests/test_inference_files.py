"""File separation: lengths and rates, channel handling, and one-line errors naming the file."""

import os

import numpy as np
import pytest
import soundfile as sf
import torch
from _inference_helpers import tiny_model, write_audio

from asteroid_tdanet.inference import AudioError, Separator


@pytest.fixture
def separator():
    return Separator(tiny_model(), chunk_seconds=2.0, overlap_seconds=0.5)


def _outputs(tmp_path, n=2):
    return [str(tmp_path / "out" / f"x_s{i}.wav") for i in range(1, n + 1)]


def _read(paths):
    return torch.stack([torch.from_numpy(sf.read(p, dtype="float32")[0]) for p in paths])


def test_output_equals_model_on_file_at_model_rate(tmp_path, separator):
    """A file at the model's rate, shorter than a chunk: the outputs are the model's output."""
    data = write_audio(tmp_path / "x.wav", 1.5, 8000, subtype="FLOAT")
    result = separator.separate_file(tmp_path / "x.wav", _outputs(tmp_path))
    with torch.inference_mode():
        expected = separator.runner.model(torch.from_numpy(data))
    torch.testing.assert_close(_read(result.outputs), expected, atol=1e-6, rtol=1e-5)
    assert result.info.seconds == pytest.approx(1.5)


@pytest.mark.parametrize("rate,fmt", [(44100, "flac"), (16000, "ogg"), (11025, "wav")])
def test_outputs_have_input_rate_and_length(tmp_path, separator, rate, fmt):
    path = tmp_path / f"x.{fmt}"
    data = write_audio(path, 5.3, rate)  # longer than a chunk: resampling + overlap-add
    result = separator.separate_file(path, _outputs(tmp_path))
    for out in result.outputs:
        info = sf.info(out)
        assert (info.samplerate, info.frames, info.channels) == (rate, len(data), 1)
    rate_out = separator.separate_file(path, _outputs(tmp_path / "m"), output_rate=8000)
    assert sf.info(rate_out.outputs[0]).frames == -(-len(data) * 8000 // rate)


def test_channel_selection_and_mix_down(tmp_path, separator):
    stereo = write_audio(tmp_path / "st.wav", 1.0, 8000, channels=2, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"st\.wav: has 2 channels.*--channel N.*--mix-down"):
        separator.separate_file(tmp_path / "st.wav", _outputs(tmp_path))
    with pytest.raises(AudioError, match="cannot select channel 2"):
        separator.separate_file(tmp_path / "st.wav", _outputs(tmp_path), channel=2)
    model = separator.runner.model
    for kwargs, mono in [(dict(channel=1), stereo[:, 1]), (dict(mix_down=True), stereo.mean(1))]:
        result = separator.separate_file(tmp_path / "st.wav", _outputs(tmp_path / "c"), **kwargs)
        with torch.inference_mode():
            expected = model(torch.from_numpy(np.ascontiguousarray(mono)))
        torch.testing.assert_close(_read(result.outputs), expected, atol=1e-6, rtol=1e-5)


def _bad_files(tmp_path):
    """(file, expected message) for every kind of bad input."""
    (tmp_path / "text.wav").write_text("this is not audio")
    sf.write(str(tmp_path / "empty.wav"), np.zeros(0, np.float32), 8000)
    sf.write(str(tmp_path / "zeros.wav"), np.zeros(4000, np.float32), 8000)
    nan = np.full(4000, 0.1, np.float32)
    nan[1234] = np.nan
    sf.write(str(tmp_path / "nan.wav"), nan, 8000, subtype="FLOAT")
    inf = np.full(4000, 0.1, np.float32)
    inf[-1] = np.inf
    sf.write(str(tmp_path / "inf.wav"), inf, 8000, subtype="FLOAT")
    write_audio(tmp_path / "odd_rate.wav", 0.5, 44101)
    os.mkfifo(tmp_path / "fifo.wav")  # never opened for reading: that would block
    (tmp_path / "folder.wav").mkdir()
    return [
        ("text.wav", "not a readable audio file"),
        ("empty.wav", "is empty"),
        ("zeros.wav", "all samples are zero"),
        ("nan.wav", r"NaN or Inf samples, .* \(first at 0.154 s\)"),
        ("inf.wav", "NaN or Inf"),
        ("odd_rate.wav", "cannot resample 44101 Hz -> 8000 Hz"),
        ("missing.wav", "no such file"),
        ("fifo.wav", "not a regular file"),
        ("folder.wav", "is a folder"),
    ]


def test_bad_inputs_fail_with_one_line_naming_the_file(tmp_path, separator):
    for name, message in _bad_files(tmp_path):
        path = tmp_path / name
        with pytest.raises(AudioError, match=message) as err:
            separator.separate_file(path, _outputs(tmp_path))
        assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_failure_midway_leaves_no_partial_outputs(tmp_path, separator):
    write_audio(tmp_path / "x.wav", 6.0, 8000)
    calls = []
    model = separator.runner.model

    def failing_forward(wav):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("simulated failure")
        return type(model).forward(model, wav)

    model.forward = failing_forward
    with pytest.raises(RuntimeError, match="simulated"):
        separator.separate_file(tmp_path / "x.wav", _outputs(tmp_path))
    assert list((tmp_path / "out").iterdir()) == []


def test_integer_subtype_counts_clipped_samples(tmp_path, separator):
    loud = 30 * np.random.default_rng(0).standard_normal(8000).astype(np.float32)
    sf.write(str(tmp_path / "x.wav"), loud, 8000, subtype="FLOAT")
    loud = separator.separate_file(tmp_path / "x.wav", _outputs(tmp_path), subtype="FLOAT")
    peak = _read(loud.outputs).abs()
    clipped = separator.separate_file(
        tmp_path / "x.wav", _outputs(tmp_path / "p"), subtype="PCM_16"
    )
    assert clipped.clipped == int((peak > 1).sum()) > 0
    assert _read(clipped.outputs).abs().max() <= 1


def test_separate_tensor_keeps_shape_and_rate(separator):
    wav = torch.randn(2, 16000 * 5) * 0.1
    est = separator.separate_tensor(wav, sample_rate=16000)
    assert est.shape == (2, 2, 16000 * 5)
    assert separator.separate_tensor(wav[0]).shape == (2, 16000 * 5)


def test_non_finite_model_output_is_an_error(tmp_path, separator):
    write_audio(tmp_path / "x.wav", 1.0, 8000)
    model = separator.runner.model
    model.forward = lambda wav: torch.full((wav.shape[0], 2, wav.shape[-1]), float("nan"))
    with pytest.raises(RuntimeError, match="NaN/Inf"):
        separator.separate_file(tmp_path / "x.wav", _outputs(tmp_path))
    assert list((tmp_path / "out").iterdir()) == []


def test_default_overlap_is_capped_at_half_a_chunk_an_explicit_one_is_checked():
    """Chunks of 3 s with the default 2 s overlap (not asked for): 1.5 s, half a chunk. An
    overlap the user gave over half a chunk is refused, naming both options."""
    sep = Separator(tiny_model(), chunk_seconds=3.0)
    assert (sep.chunk, sep.overlap) == (24000, 12000)
    assert Separator(tiny_model(), chunk_seconds=5.0).overlap == 16000  # 2 s: no cap needed
    with pytest.raises(ValueError, match=r"overlap_seconds \(2\) must be at most half of "):
        Separator(tiny_model(), chunk_seconds=3.0, overlap_seconds=2.0)
    assert Separator(tiny_model(), chunk_seconds=3.0, overlap_seconds=1.5).overlap == 12000


def test_empty_waveforms_and_invalid_rates_are_refused(separator):
    """An empty waveform has nothing to separate; a rate of 0 (which stood for the model's)
    or a fractional one (which was truncated) is not a sample rate."""
    for wav in (torch.zeros(0), torch.zeros(2, 0), torch.zeros(0, 800)):
        with pytest.raises(ValueError, match=r"wav is empty \(shape"):
            separator.separate_tensor(wav)
    wav = 0.1 * torch.randn(1600)
    for rate in (0, -8000, 8000.5, float("nan"), True):
        with pytest.raises(ValueError, match="sample_rate must be a positive whole number of Hz"):
            separator.separate_tensor(wav, sample_rate=rate)
    # A whole number as a float is a rate: the same result as the int.
    torch.testing.assert_close(
        separator.separate_tensor(wav, sample_rate=16000.0),
        separator.separate_tensor(wav, sample_rate=16000),
    )


def test_separate_file_checks_its_arguments_before_reading(tmp_path, separator, monkeypatch):
    """One output path per output, and a whole output rate, are checked before the file is
    read (its first chunk would otherwise be separated for nothing)."""
    import asteroid_tdanet.inference.separator as module

    write_audio(tmp_path / "x.wav", 0.5, 8000)

    def no_reading(*args, **kwargs):
        raise AssertionError("the file was read")

    monkeypatch.setattr(module, "inspect_audio", no_reading)
    monkeypatch.setattr(module, "read_blocks", no_reading)
    for paths in (_outputs(tmp_path, 1), _outputs(tmp_path, 3), str(tmp_path / "x_s1.wav")):
        with pytest.raises(ValueError, match=r"output_paths: . path\(s\) given .* 2 outputs"):
            separator.separate_file(tmp_path / "x.wav", paths)
    for rate in (0, 22050.5):
        with pytest.raises(ValueError, match="output_rate must be a positive whole number"):
            separator.separate_file(tmp_path / "x.wav", _outputs(tmp_path), output_rate=rate)
    assert not (tmp_path / "out").exists()
