"""Train one sweep configuration for a number of steps on dynamic mixtures of the voice bank
and score SI-SNRi on the real-speech dev mixtures at fractions of the run.

Mixing (per batch item): a group drawn in proportion to its voice count, two voices of it
(``--pairing across``: each voice from its own such draw),
a segment of each (KDE voices: random words joined by 30-250 ms pauses, i.e. continuous
talk; Asterisk / eSpeak NG: a crop of one recording), speed perturbation (each source
resampled by k/20, k uniform in 20(1 +- ``--rand_speed``)), unit RMS with +-5 dB gains, a
random peak in [0.3, 0.9]. Optimiser: Adam, gradient clipping at 5, 100 warm-up steps then a
cosine to zero at ``--steps`` (the mini recipe's schedule, counted in steps instead of time),
or, with ``--budget_s``, at that many seconds of wall clock (the recipe's own schedule).
Writes ``<out>/<name>.json`` (scores, steps, arguments) and ``<out>/<name>.pt`` (final weights).
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from asteroid.losses import PITLossWrapper, pairwise_neg_sisdr
from scipy.signal import resample_poly

from asteroid_tdanet.utils.docs import doc_summary

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from models import build  # noqa: E402

SR = 8000


def parse():
    p = argparse.ArgumentParser(description=doc_summary(__doc__))
    p.add_argument("--name", required=True)
    p.add_argument("--cache", required=True, help="folder decode.py wrote")
    p.add_argument("--out", required=True, help="folder for <name>.json and <name>.pt")
    p.add_argument("--model", default="td")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--bs", type=int, default=4)
    p.add_argument("--seg", type=float, default=2.0)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--groups", default="ast,kde,esp")
    p.add_argument("--split", default="train", choices=["train", "all"])
    p.add_argument("--rand_speed", type=float, default=0.15)
    p.add_argument(
        "--pairing",
        default="within",
        choices=["within", "across"],
        help="the two voices of a mixture from one group, or each from any group",
    )
    p.add_argument("--evals", default="0.5,1.0", help="fractions of --steps to score at")
    p.add_argument("--max_s", type=float, default=1e9, help="stop (and score) after this")
    p.add_argument(
        "--budget_s",
        type=float,
        default=0.0,
        help="train for this many seconds of wall clock, the cosine following the clock (the "
        "mini recipe's schedule); --steps and --evals are then ignored",
    )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


PIT = PITLossWrapper(pairwise_neg_sisdr, pit_from="pw_mtx")


def si_snri(model, pair, device="cpu") -> float:
    """SI-SNRi (PIT) of ``model`` on the mixture of ``pair``, sources ``(2, time)``: the
    estimates' SI-SNR under the best permutation less the mixture's, averaged over sources."""
    s = torch.as_tensor(pair)[None].to(device)
    m = s.sum(1)
    with torch.inference_mode():
        return PIT(m[:, None].expand_as(s), s).item() - PIT(model(m), s).item()


def mean_si_snri(model, pairs, device="cpu") -> float:
    """Mean :func:`si_snri` of ``model`` over ``pairs``."""
    return float(np.mean([si_snri(model, s, device) for s in pairs]))


class Mixer:
    def __init__(self, a, rng):
        banks = np.load(os.path.join(a.cache, "banks.npy"), mmap_mode="r")
        with open(os.path.join(a.cache, "banks.json")) as f:
            index = json.load(f)
        self.groups = []
        for g in a.groups.split(","):
            voices = []
            for e in index.values():
                if e["group"] == g and (a.split == "all" or e["split"] == "train"):
                    bounds = e["offset"] + np.cumsum([0] + e["lens"])
                    voices.append(
                        [np.asarray(banks[s:t], np.float32) for s, t in zip(bounds, bounds[1:])]
                    )
            self.groups.append((g, voices))
        weights = np.array([len(v) for _, v in self.groups], float)
        self.weights = weights / weights.sum()
        self.a, self.rng, self.n = a, rng, int(a.seg * SR)

    def segment(self, group, clips, n):
        rng = self.rng
        if group == "kde":
            parts, total = [], 0
            while total < n + SR:
                c = clips[rng.integers(len(clips))]
                gap = np.zeros(int(rng.uniform(0.03, 0.25) * SR), np.float32)
                parts += [c / (np.sqrt(np.mean(c**2)) + 1e-6), gap]
                total += len(c) + len(gap)
            x = np.concatenate(parts)
            s = rng.integers(0, len(x) - n + 1)
            return x[s : s + n]
        c = clips[rng.integers(len(clips))]
        if len(c) >= n:
            s = rng.integers(0, len(c) - n + 1)
            return c[s : s + n]
        out = np.zeros(n, np.float32)
        s = rng.integers(0, n - len(c) + 1)
        out[s : s + len(c)] = c
        return out

    def source(self, group, clips):
        n, r = self.n, self.a.rand_speed
        if not r:
            return self.segment(group, clips, n)
        k = int(self.rng.integers(round(20 * (1 - r)), round(20 * (1 + r)) + 1))
        x = resample_poly(self.segment(group, clips, int(n * k / 20) + 8), 20, k)[:n]
        return np.pad(x, (0, n - len(x))).astype(np.float32)

    def draw_group(self):
        return self.groups[self.rng.choice(len(self.groups), p=self.weights)]

    def pick(self):
        """Two distinct (group, voice clips) of one group, or, with ``--pairing across``, each
        of its own group (drawn independently, so a pair may mix e.g. eSpeak NG with a real
        voice, as the recipe's dynamic mixing of csv rows does)."""
        group, voices = self.draw_group()
        if self.a.pairing == "within":
            return [(group, voices[k]) for k in self.rng.choice(len(voices), 2, replace=False)]
        first = (group, voices[self.rng.integers(len(voices))])
        while True:
            group, voices = self.draw_group()
            second = (group, voices[self.rng.integers(len(voices))])
            if second[1] is not first[1]:
                return [first, second]

    def batch(self):
        mixes, sources = [], []
        for _ in range(self.a.bs):
            pair = []
            for group, clips in self.pick():
                x = self.source(group, clips)
                gain = 10 ** (self.rng.uniform(-10, 10) / 40)
                pair.append(x / (np.sqrt(np.mean(x**2)) + 1e-4) * gain)
            pair = np.stack(pair)
            pair *= self.rng.uniform(0.3, 0.9) / (np.abs(pair.sum(0)).max() + 1e-9)
            sources.append(pair)
            mixes.append(pair.sum(0))
        return torch.tensor(np.stack(mixes)), torch.tensor(np.stack(sources))


def main():
    a = parse()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    mixer = Mixer(a, np.random.default_rng(a.seed))
    print({g: len(v) for g, v in mixer.groups}, flush=True)
    dev_all = np.load(os.path.join(a.cache, "realdev.npy"))
    bounds = np.cumsum([0] + list(np.load(os.path.join(a.cache, "realdev_lens.npy"))))
    dev = [dev_all[:, s:t] for s, t in zip(bounds, bounds[1:])]

    def si_snri(model):
        model.eval()
        score = mean_si_snri(model, dev, a.device)
        model.train()
        return round(score, 3)

    model = build(a.model).to(a.device)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    evals = {int(float(f) * a.steps) for f in a.evals.split(",")}
    hist, losses, t0, step, t_data = [], [], time.time(), 0, 0.0

    def score():
        loss = round(float(np.mean(losses[-200:])), 3)
        hist.append(
            dict(
                step=step, si_snri=si_snri(model), train_loss=loss, seconds=round(time.time() - t0)
            )
        )
        print(a.name, hist[-1], flush=True)

    if a.budget_s:
        evals = set()

    def progress():
        if a.budget_s:
            return (time.time() - t0) / a.budget_s
        return step / a.steps

    while progress() < 1 and time.time() - t0 < a.max_s:
        t = time.time()
        mix, src = mixer.batch()
        t_data += time.time() - t
        for group in opt.param_groups:
            warm = min(1.0, (step + 1) / 100)
            group["lr"] = a.lr * warm * 0.5 * (1 + np.cos(np.pi * min(1.0, progress())))
        loss = PIT(model(mix.to(a.device)), src.to(a.device))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        step += 1
        losses.append(loss.item())
        if step in evals:
            score()
    if not hist or hist[-1]["step"] != step:
        score()
    out = dict(
        name=a.name,
        params=sum(q.numel() for q in model.parameters()),
        steps_done=step,
        seconds=round(time.time() - t0),
        data_seconds=round(t_data),
        hist=hist,
        args=vars(a),
    )
    os.makedirs(a.out, exist_ok=True)
    torch.save(model.state_dict(), os.path.join(a.out, f"{a.name}.pt"))
    with open(os.path.join(a.out, f"{a.name}.json"), "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
