"""The music recipe's pieces: MUSDB18-HQ-layout data (checks, remixing, validation chunks),
the RoFormer objectives (against naive formulas), the distillation student, whole-song
evaluation bookkeeping, and egs/musdb18/run.sh stages 1-4 with distillation."""

import json
import os
import subprocess

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
import yaml
from _recipe_helpers import PYTHON, copy_recipes, env, make_tiny_music_data
from torch import nn

from asteroid_tdanet import MelBandRoformer
from asteroid_tdanet.masknn.roformer_loss import (
    MaskDistillationObjective,
    ReconstructionObjective,
    multi_resolution_stft_loss,
)
from asteroid_tdanet.models import package_model
from asteroid_tdanet.recipes import train
from asteroid_tdanet.recipes import experiment as xp
from asteroid_tdanet.recipes.dataset import BadAudioFileError
from asteroid_tdanet.recipes.evaluate_music import evaluate_songs
from asteroid_tdanet.recipes.music_data import (
    ChunkDataset,
    RemixDataset,
    scan_split,
    split_validation,
)

STEMS = ("vocals", "drums", "bass", "other")
LEVELS = dict(vocals=0.1, drums=0.2, bass=0.3, other=0.4)


def write_song(folder, levels, frames=800, rate=8000, channels=2):
    """A song whose stems are constants (``levels``; song-specific), mixture = their sum."""
    os.makedirs(folder)
    for stem in STEMS:
        data = np.full((frames, channels), levels[stem], np.float32)
        sf.write(os.path.join(folder, f"{stem}.wav"), data, rate, subtype="FLOAT")
    total = np.full((frames, channels), sum(levels.values()), np.float32)
    sf.write(os.path.join(folder, "mixture.wav"), total, rate, subtype="FLOAT")


def test_scan_split_names_every_bad_file(tmp_path):
    write_song(tmp_path / "train" / "a", LEVELS)
    assert [s.name for s in scan_split(str(tmp_path), "train", 8000)] == ["a"]
    with pytest.raises(BadAudioFileError, match="at 8000 Hz, expected 16000"):
        scan_split(str(tmp_path), "train", 16000)
    with pytest.raises(FileNotFoundError, match="MUSDB18-HQ layout"):
        scan_split(str(tmp_path), "test", 8000)
    write_song(tmp_path / "train" / "b", LEVELS, channels=1)
    with pytest.raises(BadAudioFileError, match=r"b/mixture.wav has 1 channel"):
        scan_split(str(tmp_path), "train", 8000)
    write_song(tmp_path / "other" / "c", LEVELS)
    sf.write(tmp_path / "other" / "c" / "bass.wav", np.zeros((700, 2), np.float32), 8000)
    with pytest.raises(BadAudioFileError, match=r"c/bass.wav has 700 frames"):
        scan_split(str(tmp_path), "other", 8000)
    os.remove(tmp_path / "other" / "c" / "drums.wav")
    with pytest.raises(BadAudioFileError, match=r"Missing .*c/drums.wav"):
        scan_split(str(tmp_path), "other", 8000)


def test_remixing_draws_each_stem_from_any_song(tmp_path):
    # Two songs of constant stems: song 2's levels are song 1's times 10.
    write_song(tmp_path / "train" / "one", LEVELS)
    write_song(tmp_path / "train" / "two", {k: 10 * v for k, v in LEVELS.items()})
    songs = scan_split(str(tmp_path), "train", 8000)
    data = RemixDataset(songs, 0.05, items_per_epoch=50, gain_range=(1, 1), swap_channels=False)
    np.random.seed(0)
    seen = set()
    for i in range(len(data)):
        mixture, targets = data[i]
        assert mixture.shape == (2, 400) and targets.shape == (1, 2, 400)
        vocals = float(targets[0, 0, 0])
        assert vocals in (pytest.approx(0.1), pytest.approx(1.0))
        seen.add(round(float(mixture[0, 0]), 3))
    # A mixture is one song's vocals plus each other stem from either song: sums that no
    # single song has (1.0 and 10.0) show the remixing.
    assert len(seen - {1.0, 10.0}) >= 3
    with pytest.raises(ValueError, match="shorter than the 1.0 s segment"):
        RemixDataset(songs, 1.0)
    with pytest.raises(ValueError, match="Unknown target"):
        RemixDataset(songs, 0.05, targets=("voice",))


def test_validation_chunks_and_song_split(tmp_path):
    for k, name in enumerate(("a", "b", "c")):
        write_song(tmp_path / "train" / name, {s: v * (k + 1) for s, v in LEVELS.items()})
    songs = scan_split(str(tmp_path), "train", 8000)
    train_songs, valid = split_validation(songs, 1)
    assert [s.name for s in valid] == ["c"] and len(train_songs) == 2
    with pytest.raises(ValueError, match="none of the MUSDB18 validation songs"):
        split_validation(songs, "musdb")
    chunks = ChunkDataset(valid, 0.03)  # 240 of 800 frames: 3 chunks
    assert len(chunks) == 3
    mixture, targets = chunks[1]
    assert torch.allclose(mixture, torch.full((2, 240), 3.0))
    assert torch.allclose(targets, torch.full((1, 2, 240), 0.3))


def naive_stft(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """DFT of Hann-windowed frames of the reflect-padded signal (torch.stft center=True)."""
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    padded = np.pad(x, n_fft // 2, mode="reflect")
    n_frames = 1 + (len(padded) - n_fft) // hop
    frames = np.stack([padded[i * hop : i * hop + n_fft] * window for i in range(n_frames)])
    k = np.arange(n_fft // 2 + 1)[:, None]
    dft = np.exp(-2j * np.pi * k * np.arange(n_fft)[None] / n_fft)
    return dft @ frames.T


def naive_stft_magnitude(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    return np.abs(naive_stft(x, n_fft, hop))


def naive_mrstft_loss(est, tgt, sizes, hop, transform) -> float:
    """``sum_n mean |transform(est) - transform(tgt)|`` over window sizes ``n``."""
    return sum(
        np.mean(
            np.abs(
                np.stack([transform(e, n, hop) for e in est])
                - np.stack([transform(t, n, hop) for t in tgt])
            )
        )
        for n in sizes
    )


def test_multi_resolution_stft_loss_matches_a_naive_dft():
    rng = np.random.default_rng(0)
    est, tgt = rng.standard_normal((2, 2, 300))
    sizes, hop = (16, 32), 8
    expected = naive_mrstft_loss(est, tgt, sizes, hop, naive_stft_magnitude)
    got = multi_resolution_stft_loss(torch.from_numpy(est), torch.from_numpy(tgt), sizes, hop)
    assert float(got) == pytest.approx(expected, rel=1e-9)
    same = multi_resolution_stft_loss(torch.from_numpy(tgt), torch.from_numpy(tgt), sizes, hop)
    assert float(same) == 0
    # magnitude=False: the mean complex modulus |S(est) - S(tgt)| (F.l1_loss of complex
    # STFTs, lucidrains' form), not the L1 of the real and imaginary parts.
    expected = naive_mrstft_loss(est, tgt, sizes, hop, naive_stft)
    got = multi_resolution_stft_loss(
        torch.from_numpy(est), torch.from_numpy(tgt), sizes, hop, magnitude=False
    )
    assert float(got) == pytest.approx(expected, rel=1e-9)


TINY = dict(
    sample_rate=8000,
    dim=8,
    depth=1,
    num_bands=6,
    heads=2,
    dim_head=4,
    stft_n_fft=128,
    stft_hop_length=32,
    mlp_expansion_factor=1,
)


def test_reconstruction_objective_is_l1_plus_weighted_stft_term():
    torch.manual_seed(0)
    model = MelBandRoformer(**TINY, sinks=2)
    mixture, vocals = torch.randn(2, 2, 1600), torch.randn(2, 1, 2, 1600)
    objective = ReconstructionObjective(mrstft_weight=0.5, window_sizes=(64, 128), hop_length=16)
    est = model(mixture)
    expected = (est - vocals[:, 0]).abs().mean() + 0.5 * multi_resolution_stft_loss(
        est, vocals[:, 0], (64, 128), 16
    )
    torch.testing.assert_close(objective(model, mixture, vocals), expected)


def test_student_starts_from_the_teacher_and_distillation_trains_only_the_student():
    torch.manual_seed(0)
    teacher = MelBandRoformer(**TINY, time_attention="full", sinks=0).eval()
    student = MelBandRoformer.from_teacher(teacher, sinks=3, wsa_window=4)
    assert student.training and student.sinks == 3 and student.get_model_args()["wsa_window"] == 4
    ours, theirs = student.state_dict(), teacher.state_dict()
    assert set(ours) - set(theirs) == {"sink_tokens"}
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)
    # A teacher with sinks of its own: the student's are new, of any number.
    with_sinks = MelBandRoformer(**TINY, sinks=2).eval()
    for count in (2, 5):
        other = MelBandRoformer.from_teacher(with_sinks, sinks=count)
        assert other.sink_tokens.shape[0] == count
        assert not torch.equal(other.sink_tokens[:2], with_sinks.sink_tokens)
        weights = other.state_dict()
        kept = {k: v for k, v in with_sinks.state_dict().items() if k != "sink_tokens"}
        assert all(torch.equal(weights[k], v) for k, v in kept.items())

    small = dict(window_sizes=(64, 128), hop_length=16)
    objective = MaskDistillationObjective(
        teacher, weight=2.0, reconstruction=ReconstructionObjective(**small)
    )
    assert not any(True for _ in objective.parameters())  # the teacher is not trained/saved
    mixture, vocals = torch.randn(1, 2, 1600), torch.randn(1, 1, 2, 1600)
    loss = objective(student, mixture, vocals)
    _, mask_s = student.forward_with_mask(mixture)
    with torch.no_grad():
        _, mask_t = teacher.forward_with_mask(mixture)
    distill = (torch.view_as_real(mask_s) - torch.view_as_real(mask_t)).pow(2).mean()
    recon = objective.reconstruction(student, mixture, vocals)
    torch.testing.assert_close(loss, recon + 2.0 * distill)
    loss.backward()
    assert student.sink_tokens.grad is not None
    assert all(p.grad is None for p in teacher.parameters())
    # The teacher taught itself: no distillation term.
    self_taught = MaskDistillationObjective(
        teacher, weight=2.0, reconstruction=ReconstructionObjective(**small)
    )
    torch.testing.assert_close(
        self_taught(teacher, mixture, vocals), self_taught.reconstruction(teacher, mixture, vocals)
    )
    with pytest.raises(ValueError, match="needs a teacher"):
        MaskDistillationObjective.from_training_conf({})
    with pytest.raises(ValueError, match="too short for the multi-resolution STFT"):
        ReconstructionObjective()(student, mixture, vocals)  # 1600 samples, 4096 window


class HalfTheMixture(nn.Module):
    """A stem model whose vocals estimate is half its input (so the accompaniment estimate,
    mixture - vocals, is the other half)."""

    stems, residual_stem, audio_channels, sample_rate = ("vocals",), "accompaniment", 2, 8000

    def forward(self, wav):
        return 0.5 * wav


def median_frame_snr(reference: np.ndarray, estimate: np.ndarray, frame: int) -> float:
    """MUSDB's SDR of a track written naively: median over frames of the frame SNR."""
    snrs = [
        10
        * np.log10(
            (reference[i : i + frame] ** 2).sum()
            / ((reference[i : i + frame] - estimate[i : i + frame]) ** 2).sum()
        )
        for i in range(0, len(reference) - frame + 1, frame)
    ]
    return float(np.median(snrs))


def test_whole_song_evaluation_against_naive_frame_snrs(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "test" / "song"
    os.makedirs(folder)
    stems = {s: (0.1 * rng.standard_normal((24000, 2))).astype(np.float32) for s in STEMS}
    for stem, data in stems.items():
        sf.write(folder / f"{stem}.wav", data, 8000, subtype="FLOAT")
    mix = sum(stems.values())
    sf.write(folder / "mixture.wav", mix, 8000, subtype="FLOAT")
    songs = scan_split(str(tmp_path), "test", 8000)
    os.makedirs(tmp_path / "e" / "examples" / "a song of an earlier run")
    df, _, _ = evaluate_songs(HalfTheMixture(), songs, ("vocals",), str(tmp_path / "e"), 1)
    assert os.listdir(tmp_path / "e" / "examples") == ["song"]  # no stale example left
    rows = df.set_index("target")
    accompaniment = stems["drums"] + stems["bass"] + stems["other"]
    for name, ref in (("vocals", stems["vocals"]), ("accompaniment", accompaniment)):
        assert rows.loc[name, "SDR"] == pytest.approx(
            median_frame_snr(ref, 0.5 * mix, 8000), abs=1e-4
        )
        assert rows.loc[name, "input_SDR"] == pytest.approx(
            median_frame_snr(ref, mix, 8000), abs=1e-4
        )
        imp = rows.loc[name, "SDR"] - rows.loc[name, "input_SDR"]
        assert rows.loc[name, "SDR_imp"] == pytest.approx(imp)
    assert (tmp_path / "e" / "examples" / "song" / "vocals_estimate.wav").exists()


def test_distillation_through_the_training_stage(tmp_path):
    conf_path, _ = make_tiny_music_data(tmp_path, sample_rate=8000)
    torch.manual_seed(0)
    teacher = MelBandRoformer(**TINY, time_attention="full", sinks=0)
    torch.save(package_model(teacher), tmp_path / "teacher.pth")
    exp = tmp_path / "exp"
    model_args = yaml.safe_dump({k: v for k, v in TINY.items() if k != "sample_rate"}).strip()
    common = ["--conf", conf_path, "--exp_dir", str(exp), "--sample_rate", "8000"]
    args = [
        "--student_of",
        str(tmp_path / "teacher.pth"),
        "--teacher",
        str(tmp_path / "teacher.pth"),
    ]
    args += ["--loss", "distill", "--epochs", "1", "--sinks", "2"]
    assert train.main(common + args) == 0
    package = torch.load(exp / xp.BEST_MODEL, weights_only=True)
    assert package["model_args"]["time_attention"] == "wsa" and package["model_args"]["sinks"] == 2
    assert package["state_dict"]["sink_tokens"].shape[0] == 2
    # Only the student's weights are in the training checkpoints.
    last = torch.load(exp / "checkpoints" / "last.ckpt", weights_only=False)
    assert not any("teacher" in k for k in last["state_dict"])
    assert model_args  # the tiny sizes came from the teacher, not the preset


def test_another_target_stem_names_the_outputs_through_training_and_evaluation(tmp_path):
    from asteroid_tdanet.recipes import evaluate

    conf_path, root = make_tiny_music_data(tmp_path, sample_rate=8000, seconds=1.0)
    exp = tmp_path / "exp"
    model_args = yaml.safe_dump({k: v for k, v in TINY.items() if k != "sample_rate"}).strip()
    common = ["--conf", conf_path, "--exp_dir", str(exp), "--sample_rate", "8000"]
    opts = ["--task", "drums", "--targets", "drums", "--model_args", model_args]
    assert train.main(common + opts + ["--epochs", "1", "--segment", "0.6"]) == 0
    package = torch.load(exp / xp.BEST_MODEL, weights_only=True)
    assert package["model_args"]["target"] == "drums"
    assert evaluate.main(["--exp_dir", str(exp), "--device", "cpu", "--n_save_ex", "1"]) == 0
    rows = pd.read_csv(exp / "eval" / "all_metrics.csv")
    assert sorted(set(rows["target"])) == ["drums", "no_drums"]
    # The references follow the names: no_drums is scored against vocals + bass + other.
    assert (exp / "eval" / "examples" / "song test 0" / "drums_estimate.wav").exists()
    # A model of another stem than the data's targets is refused, not scored under them.
    conf = yaml.safe_load((exp / "conf.yml").read_text())
    conf["data"]["targets"] = "bass"
    (exp / "conf.yml").write_text(yaml.safe_dump(conf))
    args = ["--exp_dir", str(exp), "--device", "cpu", "--force", "true"]
    assert evaluate.main(args) == 2


def test_stage_3_reports_a_bad_test_song_as_a_data_error(tmp_path, capsys):
    from asteroid_tdanet.recipes import evaluate

    conf_path, root = make_tiny_music_data(tmp_path, sample_rate=8000, seconds=1.0)
    exp = tmp_path / "exp"
    os.makedirs(exp)
    torch.save(package_model(MelBandRoformer(**TINY)), exp / xp.BEST_MODEL)
    with open(conf_path) as f:
        (exp / "conf.yml").write_text(f.read())
    os.remove(root / "test" / "song test 0" / "bass.wav")
    assert evaluate.main(["--exp_dir", str(exp), "--device", "cpu"]) == 2
    assert "Data error: Missing" in capsys.readouterr().err


@pytest.mark.slow
def test_run_sh_stages_1_to_4_with_a_teacher(tmp_path):
    recipe = copy_recipes(tmp_path).parent / "musdb18"
    storage = tmp_path / "storage"
    make_tiny_music_data(storage, sample_rate=44100, seconds=1.5, songs=(3, 1))
    torch.manual_seed(0)
    teacher = MelBandRoformer.from_preset(
        "mel-band-roformer-mini", depth=1, dim=8, num_bands=8, time_attention="full", sinks=0
    )
    torch.save(package_model(teacher), tmp_path / "teacher.pth")
    cmd = ["./run.sh", "--dataset", "mini", "--stage", "1", "--storage_dir", str(storage)]
    cmd += ["--python", PYTHON, "--teacher", str(tmp_path / "teacher.pth"), "--epochs", "1"]
    cmd += ["--segment", "0.5", "--train_args", "--items_per_epoch 4 --batch_size 2"]
    run = subprocess.run(cmd, cwd=recipe, env=env(), capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    exp = recipe / "exp" / "melbandroformer_mini_vocals_distilled"
    final = json.loads((exp / "eval" / "final_metrics.json").read_text())
    assert final["n_tracks"] == 1 and "vocals" in final["improvement"]
    assert (exp / "eval" / "metrics.png").stat().st_size > 0
    card = (exp / "publish_dir" / "README.md").read_text()
    assert "vocals SDR" in card and "arxiv.org/abs/2510.25745" in card
    assert "student of `teacher.pth`" in card and "preset `mini`" not in card
    assert json.loads((recipe / "data" / "mini" / "songs.json").read_text())["songs"]["test"]
    conf = yaml.safe_load((exp / "conf.yml").read_text())
    assert conf["training"]["loss"] == "distill" and conf["model"]["student_of"]
    # A finished experiment is never overwritten silently.
    again = subprocess.run(cmd, cwd=recipe, env=env(), capture_output=True, text=True)
    assert again.returncode != 0 and "--force" in again.stderr


def test_ranks_with_the_same_global_seed_draw_other_items(tmp_path):
    # DDP with num_workers 0: every rank's main process has np.random seeded alike by
    # seed_everything; DistributedSampler gives them other indices, which must give other
    # mixtures (a rank is simulated by reseeding and drawing another index).
    write_song(tmp_path / "train" / "one", LEVELS)
    write_song(tmp_path / "train" / "two", {k: 10 * v for k, v in LEVELS.items()})
    data = RemixDataset(scan_split(str(tmp_path), "train", 8000), 0.05, items_per_epoch=8)
    draws = []
    for idx in (0, 1):
        np.random.seed(0)
        draws.append(torch.cat([data[idx][0].flatten() for _ in range(4)]))
    assert not torch.equal(draws[0], draws[1])
    np.random.seed(0)
    again = torch.cat([data[0][0].flatten() for _ in range(4)])
    assert torch.equal(again, draws[0])  # still reproducible from the seed


class Diverged(HalfTheMixture):
    """A stem model whose training diverged: every output is NaN."""

    def forward(self, wav):
        return torch.full_like(wav, float("nan"))


def test_a_model_giving_nan_is_scored_as_undefined_not_a_traceback(tmp_path, capsys):
    write_song(tmp_path / "test" / "song", LEVELS, frames=8000)
    songs = scan_split(str(tmp_path), "test", 8000)
    df, _, _ = evaluate_songs(Diverged(), songs, ("vocals",), str(tmp_path / "e"), 0)
    assert df["SDR"].isna().all() and len(df) == 2
    assert "song: the model produced NaN/Inf samples" in capsys.readouterr().err
