"""Mel-Band RoFormer: windowed sink attention (WSA) against full softmax attention in time.

Usage::

    python benchmarks/mel_band_roformer.py             # CPU, 1 thread (about 9 min)
    python benchmarks/mel_band_roformer.py --quick     # tiny sizes, a few seconds (smoke check)
    python benchmarks/mel_band_roformer.py --device cuda

The release size (``MelBandRoformer`` defaults: dim 384, depth 6, 60 bands, 8 heads x 64,
44.1 kHz, n_fft 2048, hop 441, ``wsa_window`` 10, 8 sinks): ``samples`` of audio give
``T = 1 + samples // 441`` frames, and every time transformer runs over ``batch * 60``
sequences (stereo is interleaved in frequency, so the sequences are the 60 bands) of
``L = S + T`` positions (``S = 8`` sinks first).

Part ``flops`` (counted, no timing): the attention core of ONE time-transformer attention,
``QK^T`` and ``AV`` (softmax, scale, RoPE, gate left out), per sequence::

    core = 2 * 2 * d * H * pairs      (2 FLOPs per multiply-add, two products, H heads of d)

with ``pairs`` = the (query, key) pairs allowed by the mask, counted exactly on
``windowed_sink_mask`` (the model's mask; checked against the closed form below):

* full: ``pairs = L^2``;
* WSA (non-causal, ``h = window // 2``): a sink query sees all ``L`` keys, a frame query the
  ``S`` sinks and the frames within ``+-h`` (``2h + 1`` of them, fewer at the edges)::

      pairs = S L + T S + T (2h + 1) - h (h + 1)      (T >= 2h + 1)

The ratio full / WSA is reported as the model runs it (sinks as queries and keys in both),
for frame queries only, for the teacher (full attention without sinks, ``T^2``) against the
WSA student, and as the paper's ``T / (w + S)`` (Benetatos, Zang & Leistikow, 2025: "44.5x
fewer attention FLOPs" at 8 s = 801 frames, i.e. 801 / 18). For context the count with the
projections (``qkv``: ``2 L dim 3Hd``, gates: ``2 L dim H``, out: ``2 L Hd dim``) and the whole
layer (plus the feed-forward ``2 * 2 L dim 4dim``) is given too. Per layer = per sequence x 60.

Part ``layer`` (measured): ONE time-transformer layer as the model builds it
(``RoformerTransformer`` with one ``WindowedSinkAttention`` or ``GatedRotaryAttention`` and its
feed-forward, release dims, random weights) on ``(sequences, L, 384)``, forward, eval,
``torch.inference_mode``, in a fresh process per case: peak memory of the first call (VmHWM
reset, see ``mixers.peak_rss_of``) and the best of ``--repeats`` calls. WSA runs the model's
``wsa_backend="auto"``: on CPU exact ``dense`` up to 256 positions and ``blocked`` beyond,
``flex`` on CUDA. On CPU the full-attention
cost at 120 s (60 sequences of 12,009 positions) is minutes per call, so a length whose full
layer exceeds ``--layer-flops-budget`` is timed on the first ``n < 60`` sequences (the same
``n`` for full and WSA) and the time scaled by ``60 / n`` (the sequences are independent;
``sequences_timed`` and ``scaled`` say so in the JSON; memory is the measured one).

Part ``model`` (measured): whole-model seconds of compute per second of audio (stereo,
batch 1, best of ``--repeats``): the small preset (dim 32, depth 2, 16 bands, 4 heads x 8,
n_fft 512, hop 128, 4 sinks, mask MLP x1) at 1, 8, 30 s and the release size at 1 s, each with
``time_attention`` ``wsa`` and ``full``.

``--device cuda``: the same on the GPU (``wsa_backend="auto"``: compiled flex attention),
time = best of ``--repeats`` after a warm-up (``torch.cuda.synchronize`` around it), memory =
peak allocated by torch, all 60 sequences. Writes ``--json`` and ``--png`` (default
``benchmarks/results_mel_band_roformer[_cuda].{json,png}``; ``--quick``: the temp directory).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile

import torch
from fla_twins import _one_case_cuda, _timed  # benchmarks/fla_twins.py
from mixers import _env, peak_rss_of  # benchmarks/mixers.py: 1-thread env, memory measure
from asteroid_tdanet.models.presets import preset_args

RELEASE = dict(
    dim=384,
    depth=6,
    num_bands=60,
    heads=8,
    dim_head=64,
    stft_n_fft=2048,
    stft_hop_length=441,
    wsa_window=10,
    sinks=8,
)
# The mel-band-roformer-mini preset's sizes (the model the musdb18 mini recipe trains).
SMALL = {k: v for k, v in preset_args("mel-band-roformer-mini").items() if k != "sample_rate"}
SAMPLE_RATE = 44100
ATTENTIONS = ("full", "wsa")
PAPER_RATIO_8S = 44.5


def frames_of(seconds: float, hop: int) -> int:
    """STFT frames of ``seconds`` of 44.1 kHz audio (``center=True``)."""
    return 1 + int(seconds * SAMPLE_RATE) // hop


def closed_form_wsa_pairs(sinks: int, frames: int, window: int) -> int:
    """The non-causal WSA pairs of the docstring's closed form (``frames >= window + 1``)."""
    h = window // 2
    return sinks * (sinks + frames) + frames * sinks + frames * (2 * h + 1) - h * (h + 1)


def attention_flops(seconds: float, cfg: dict = RELEASE) -> dict:
    """FLOPs of one time-transformer attention for ``seconds`` of audio (see the docstring)."""
    from asteroid_tdanet.masknn.attention.windowed_sink_attend import windowed_sink_mask

    S, T, w = cfg["sinks"], frames_of(seconds, cfg["stft_hop_length"]), cfg["wsa_window"]
    L, dim, H, d = S + T, cfg["dim"], cfg["heads"], cfg["dim_head"]
    sequences = cfg["num_bands"]  # batch 1
    mask = windowed_sink_mask(S, T, w)
    pairs_wsa, pairs_wsa_frames = int(mask.sum()), int(mask[S:].sum())
    del mask
    if T > 2 * (w // 2) and pairs_wsa != closed_form_wsa_pairs(S, T, w):
        raise AssertionError("mask count and closed form disagree")
    core = 2 * 2 * d * H  # FLOPs per allowed pair
    proj = 2 * L * dim * 3 * H * d + 2 * L * dim * H + 2 * L * H * d * dim
    ff = 2 * 2 * L * dim * 4 * dim
    pairs = dict(full=L * L, wsa=pairs_wsa)
    per_seq = {a: dict(pairs=p, core=core * p, core_proj=core * p + proj) for a, p in pairs.items()}
    for a in per_seq:
        per_seq[a]["layer"] = per_seq[a]["core_proj"] + ff
    return dict(
        audio_seconds=seconds,
        frames=T,
        positions=L,
        sequences=sequences,
        flops_per_sequence=per_seq,
        flops_per_layer={a: {k: v * sequences for k, v in r.items()} for a, r in per_seq.items()},
        ratio_full_over_wsa=dict(
            core_as_run=L * L / pairs_wsa,
            core_frame_queries_only=T * L / pairs_wsa_frames,
            core_teacher_no_sinks_vs_wsa=T * T / pairs_wsa,
            core_teacher_no_sinks_vs_wsa_frame_queries=T * T / pairs_wsa_frames,
            paper_formula_T_over_w_plus_S=T / (w + S),
            core_plus_projections=per_seq["full"]["core_proj"] / per_seq["wsa"]["core_proj"],
            layer_with_feed_forward=per_seq["full"]["layer"] / per_seq["wsa"]["layer"],
        ),
        wsa_keys_per_frame_query=pairs_wsa_frames / T,
    )


def time_layer(cfg: dict) -> torch.nn.Module:
    """One time transformer as ``MelBandRoformer`` builds it (``cfg["attention"]``)."""
    from asteroid_tdanet.masknn.attention import GatedRotaryAttention
    from asteroid_tdanet.masknn.attention.windowed_sink_attention import WindowedSinkAttention
    from asteroid_tdanet.masknn.roformer import RoformerTransformer
    from asteroid_tdanet.masknn.rotary import RotaryEmbedding

    dim, args = cfg["dim"], dict(heads=cfg["heads"], dim_head=cfg["dim_head"], dropout=0.0)
    rope = RotaryEmbedding(cfg["dim_head"])
    if cfg["attention"] == "wsa":
        attn = WindowedSinkAttention(
            dim, window=cfg["wsa_window"], n_sinks=cfg["sinks"], rotary=rope, backend="auto", **args
        )
    else:
        attn = GatedRotaryAttention(dim, rotary=rope, **args)
    return RoformerTransformer(dim, [attn], ff_mult=4)


def measure(module, x, repeats: int, device: str) -> dict:
    """Best time of ``repeats`` forwards and peak memory (CPU: RSS rise of the first call)."""
    from asteroid_tdanet.utils import count_params

    params = count_params(module)
    if device != "cpu":
        return _one_case_cuda(module.to(device), x, repeats, params)
    with torch.inference_mode():
        best, peak = peak_rss_of(lambda: _timed(module, x))
        for _ in range(repeats - 1):
            best = min(best, _timed(module, x))
    return dict(seconds=best, peak_mib=peak / 2**20, params=params)


def one_case(spec: dict) -> dict:
    """Runs in a fresh process: one layer or whole-model case."""
    torch.manual_seed(0)
    device = spec["device"]
    if spec["part"] == "layer":
        module = time_layer(spec).eval().to(device)
        length = spec["sinks"] + spec["frames"]
        x = torch.randn(spec["sequences_timed"], length, spec["dim"], device=device)
    else:
        from asteroid_tdanet.models.mel_band_roformer import MelBandRoformer

        module = MelBandRoformer(
            time_attention=spec["attention"], wsa_backend="auto", **spec["kwargs"]
        ).eval()
        module = module.to(device)
        x = 0.1 * torch.randn(1, 2, int(spec["audio_seconds"] * SAMPLE_RATE), device=device)
    return measure(module, x, spec["repeats"], device)


def wsa_backend(device: str, positions: int) -> str:
    """What ``wsa_backend="auto"`` runs on ``device`` for ``positions`` (sinks + frames)."""
    from asteroid_tdanet.masknn.attention.windowed_sink_attend import auto_backend

    return auto_backend(device.startswith("cuda"), positions)


def _run_case(spec: dict) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--_one", json.dumps(spec)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=_env())
    row = {k: v for k, v in spec.items() if k not in ("device", "part")}
    if out.returncode:
        row["error"] = (out.stderr.strip().splitlines() or ["?"])[-1]
    else:
        row.update(json.loads(out.stdout.strip().splitlines()[-1]))
    return row


def run_layers(seconds_list, repeats, budget, device, max_sequences=None) -> list:
    rows = []
    bands = RELEASE["num_bands"]
    for seconds in seconds_list:
        flops = attention_flops(seconds)
        full_per_seq = flops["flops_per_sequence"]["full"]["layer"]
        n = bands if device != "cpu" else max(1, min(bands, int(budget // full_per_seq)))
        n = min(n, max_sequences or n)
        for attention in ATTENTIONS:
            spec = dict(
                part="layer",
                device=device,
                attention=attention,
                audio_seconds=seconds,
                frames=flops["frames"],
                sequences=bands,
                sequences_timed=n,
                repeats=repeats,
                **{k: RELEASE[k] for k in ("dim", "heads", "dim_head", "wsa_window", "sinks")},
            )
            row = _run_case(spec)
            positions = flops["frames"] + RELEASE["sinks"]
            row["backend"] = wsa_backend(device, positions) if attention == "wsa" else "sdpa"
            if "seconds" in row:
                row["scaled"] = n != bands
                row["seconds_measured"] = row["seconds"]
                row["seconds"] = row["seconds"] * bands / n
                if n != bands:
                    row["peak_mib_note"] = f"measured on {n} of {bands} sequences"
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def run_models(cases, repeats, device) -> list:
    rows = []
    for name, kwargs, seconds_list in cases:
        for seconds in seconds_list:
            for attention in ATTENTIONS:
                spec = dict(
                    part="model",
                    device=device,
                    model=name,
                    kwargs=kwargs,
                    attention=attention,
                    audio_seconds=seconds,
                    repeats=repeats,
                )
                row = _run_case(spec)
                if "seconds" in row:
                    row["seconds_per_audio_second"] = row["seconds"] / seconds
                hop = kwargs.get("stft_hop_length", 441)
                positions = 1 + int(seconds * 44100) // hop + kwargs.get("sinks", 8)
                row["backend"] = wsa_backend(device, positions) if attention == "wsa" else "sdpa"
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def layer_ratios(rows: list) -> dict:
    """full / WSA measured layer time per input length."""
    by = {(r["audio_seconds"], r["attention"]): r for r in rows if "seconds" in r}
    return {
        str(s): by[(s, "full")]["seconds"] / by[(s, "wsa")]["seconds"]
        for s, a in by
        if a == "wsa" and (s, "full") in by
    }


_TEXT = dict(textcoords="offset points", fontsize=8, va="center")


def plot(results: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    flops = results["flops"]
    xs = [f["audio_seconds"] for f in flops]
    for attention, color, marker in zip(ATTENTIONS, ("C0", "C1"), "os"):
        per_layer = [f["flops_per_layer"][attention] for f in flops]
        left.loglog(
            xs,
            [r["core"] for r in per_layer],
            "-" + marker,
            color=color,
            label=f"{attention}: attention core (QK^T, AV)",
        )
        left.loglog(
            xs,
            [r["core_proj"] for r in per_layer],
            "--" + marker,
            color=color,
            alpha=0.5,
            mfc="none",
            label=f"{attention}: + qkv/gate/out projections",
        )
    for f in flops:
        r = f["ratio_full_over_wsa"]
        text = f"{r['core_as_run']:.1f}x (+proj. {r['core_plus_projections']:.1f}x)"
        if f["frames"] == 801:
            text += f"\npaper {PAPER_RATIO_8S}x = T/(w+S)"
        layer = f["flops_per_layer"]
        y = (layer["full"]["core"] * layer["wsa"]["core"]) ** 0.5  # between the two lines
        left.annotate(text, (f["audio_seconds"], y), xytext=(6, 0), **_TEXT)
    left.set(
        xlabel="input length (s, 44.1 kHz)",
        ylabel="FLOPs of one time attention (60 sequences)",
        title="Attention FLOPs; full / WSA (sinks as queries counted)",
    )
    device = results["device"]
    unit = "CPU, 1 thread" if device == "cpu" else device
    rows = [r for r in results["layer"] if "seconds" in r]
    for attention, color, marker in zip(ATTENTIONS, ("C0", "C1"), "os"):
        pts = sorted(
            (r["audio_seconds"], r["seconds"]) for r in rows if r["attention"] == attention
        )
        if pts:
            right.loglog(*zip(*pts), "-" + marker, color=color, label=attention)
    ratios = results["layer_time_ratio_full_over_wsa"]
    for r in rows:
        if r["attention"] == "wsa" and str(r["audio_seconds"]) in ratios:
            ratio = ratios[str(r["audio_seconds"])]
            text = f"{ratio:.2f}x"
            if r.get("scaled"):
                text += f"\n(timed {r['sequences_timed']}/60 seq., scaled)"
            y = r["seconds"] * ratio**0.5  # between the two lines
            right.annotate(text, (r["audio_seconds"], y), xytext=(6, 0), **_TEXT)
    right.set(
        xlabel="input length (s, 44.1 kHz)",
        ylabel=f"seconds per forward ({unit})",
        title="One time-transformer layer (attention + FF, 60 seq.); full / WSA",
    )
    for ax in (left, right):
        ax.set_xticks(xs, [f"{x:g}" for x in xs])
        ax.minorticks_off()
        ax.set_xlim(min(xs) / 1.3, max(xs) * 2.2)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seconds", nargs="+", type=float, default=[8.0, 30.0, 120.0])
    p.add_argument("--model-seconds", nargs="+", type=float, default=[1.0, 8.0, 30.0])
    p.add_argument("--release-seconds", nargs="+", type=float, default=[1.0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument(
        "--layer-flops-budget",
        type=float,
        default=2e12,
        help="CPU: time the full layer on as many of the 60 sequences as fit these FLOPs",
    )
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--quick", action="store_true", help="tiny sizes (smoke check)")
    p.add_argument("--json")
    p.add_argument("--png")
    p.add_argument("--replot", action="store_true", help="only redraw --png from --json")
    p.add_argument("--_one", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    if a._one:
        print(json.dumps(one_case(json.loads(a._one))))
        return 0
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        p.error("--device cuda: CUDA is not available")
    max_sequences = None
    if a.quick:
        a.seconds, a.model_seconds, a.release_seconds = [0.25, 0.5], [0.25], []
        a.repeats, max_sequences = 1, 2
    stem = "results_mel_band_roformer" + ("" if a.device == "cpu" else "_cuda")
    folder = tempfile.gettempdir() if a.quick else os.path.dirname(os.path.abspath(__file__))
    a.json = a.json or os.path.join(folder, stem + ("_quick" if a.quick else "") + ".json")
    a.png = a.png or os.path.splitext(a.json)[0] + ".png"
    if a.replot:
        with open(a.json) as f:
            plot(json.load(f), a.png)
        return 0

    flops = [attention_flops(s) for s in a.seconds]
    for f in flops:
        r = f["ratio_full_over_wsa"]
        print(
            f"{f['audio_seconds']:6g} s, T={f['frames']}: core full/WSA {r['core_as_run']:.1f}x "
            f"(frame queries {r['core_frame_queries_only']:.1f}x, teacher "
            f"{r['core_teacher_no_sinks_vs_wsa_frame_queries']:.1f}x, paper formula "
            f"{r['paper_formula_T_over_w_plus_S']:.1f}x), with projections "
            f"{r['core_plus_projections']:.1f}x, layer {r['layer_with_feed_forward']:.2f}x",
            flush=True,
        )
    layer = run_layers(a.seconds, a.repeats, a.layer_flops_budget, a.device, max_sequences)
    cases = [("small", SMALL, a.model_seconds), ("release", {}, a.release_seconds)]
    models = run_models([c for c in cases if c[2]], a.repeats, a.device)
    results = dict(
        machine=dict(
            platform=platform.platform(),
            processor=platform.processor() or platform.machine(),
            cpus=os.cpu_count(),
            torch=torch.__version__,
            threads=1,
            gpu=torch.cuda.get_device_name() if a.device.startswith("cuda") else None,
        ),
        device=a.device,
        quick=a.quick,
        release=RELEASE,
        small=SMALL,
        paper_ratio_at_8s=PAPER_RATIO_8S,
        flops=flops,
        layer=layer,
        layer_time_ratio_full_over_wsa=layer_ratios(layer),
        model=models,
    )
    with open(a.json, "w") as f:
        json.dump(results, f, indent=1)
    plot(results, a.png)
    print("layer time full / WSA:", json.dumps(results["layer_time_ratio_full_over_wsa"]))
    print(f"Wrote {a.json} and {a.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
