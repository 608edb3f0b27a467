"""Model card (``README.md`` with Hugging Face front matter) for a published recipe model."""

import os
from typing import Optional

import yaml

from .music_data import is_music_data, targets_of

# What a card says about each model: citation and paper link (others: the class name only).
# Asteroid's models carry no citation of their own; ours have a ``paper`` class attribute.
ASTEROID_PAPERS = {
    "ConvTasNet": dict(
        cite='Conv-TasNet (Luo & Mesgarani, "Conv-TasNet: surpassing ideal time-frequency '
        'magnitude masking for speech separation", IEEE/ACM TASLP 2019)',
        arxiv="1809.07454",
        authors="Conv-TasNet by Yi Luo, Nima Mesgarani",
    ),
    "SuDORMRFNet": dict(
        cite='SuDoRM-RF (Tzinis, Wang & Smaragdis, "Sudo rm -rf: efficient networks for '
        'universal audio source separation", MLSP 2020)',
        arxiv="2007.06833",
        authors="SuDoRM-RF by Efthymios Tzinis, Zhepei Wang, Paris Smaragdis",
    ),
    "DPRNNTasNet": dict(
        cite='DPRNN (Luo, Chen & Yoshioka, "Dual-path RNN: efficient long sequence modeling '
        'for time-domain single-channel speech separation", ICASSP 2020)',
        arxiv="1910.06379",
        authors="DPRNN by Yi Luo, Zhuo Chen, Takuya Yoshioka",
    ),
}


def paper_of(model_name: str) -> dict:
    """``cite`` / ``arxiv`` / ``authors`` of a model: its class's ``paper`` attribute, else
    :data:`ASTEROID_PAPERS`, else the bare name."""
    from ..models import get_model_class

    try:
        paper = getattr(get_model_class(model_name), "paper", None)
    except ValueError:
        paper = None
    return paper or ASTEROID_PAPERS.get(
        model_name, dict(cite=model_name, arxiv=None, authors=model_name)
    )


def tags(model_name: str) -> list:
    return ["asteroid", "audio", model_name, "audio-to-audio"]


DATASET_NAMES = {
    "libri2mix": "Libri2Mix",
    "wham": "wham",
    "lrs2mix": "LRS2-2Mix",
    "mini": "MiniLibri2Mix",
    "musdb18hq": "musdb18-hq",
    "music_mini": "MiniMUSDB (embedded)",
}


def results_rows(conf: dict, metrics: dict) -> str:
    """The card's results table rows: speech headline metrics, or per output the MUSDB SDR,
    its improvement over the mixture and the uSDR."""
    if not is_music_data(conf["data"]):
        return "\n".join(
            f"| {label} | {metrics[key]:.3f} |"
            for key, label in HEADLINE
            if metrics.get(key) is not None
        )
    rows = []
    for name, values in metrics["targets"].items():
        imp = metrics.get("improvement", {}).get(name, {})
        for label, value in (
            (f"{name} SDR (dB, median over songs of the median over 1 s frames)", values["SDR"]),
            (f"{name} SDR improvement over the mixture (dB)", imp.get("SDR")),
            (f"{name} uSDR (dB, mean over songs)", values["uSDR_mean"]),
        ):
            if value is not None:
                rows.append(f"| {label} | {value:.3f} |")
    return "\n".join(rows)


HEADLINE = [
    ("si_snr_i", "SI-SNRi (dB)"),
    ("sdr_i", "SDRi (dB)"),
    ("stoi", "STOI"),
    ("pesq", "PESQ"),
    ("input_si_sdr", "input SI-SNR (dB)"),
]


def model_card(
    repo_id: Optional[str],
    conf: dict,
    metrics: dict,
    license_id: str,
    dataset_info: Optional[dict] = None,
    model_name: str = "TDANet",
    model_stats: Optional[dict] = None,
    recipe_infos: Optional[dict] = None,
    init_licence: Optional[str] = None,
) -> str:
    """Markdown text of the card; ``metrics`` is stage 3's final_metrics.json,
    ``model_stats`` optional ``params`` / ``macs_per_second`` of the model, ``recipe_infos``
    what training recorded (``best_model.pth``'s ``infos["recipe"]``: the licence of the
    ``init_from`` weights). ``init_licence``: that licence as the caller already has it
    (:func:`initial_licence`; ``""``: none), so that it is not looked up again (for
    experiments trained before training recorded it, the lookup reads the ``init_from``
    package); ``None``: looked up here."""
    data = conf["data"]
    if init_licence is None:
        init_licence = initial_licence(conf["model"], recipe_infos or {})
    license_id = published_licence(license_id, init_licence)
    paper = paper_of(model_name)
    dataset = DATASET_NAMES.get(data.get("dataset", ""), data.get("dataset", "unknown"))
    front = dict(
        tags=tags(model_name),
        library_name="asteroid",
        license=license_id,
        datasets=[dataset, data["task"]],
        metrics=["si_snr_improvement", "sdr_improvement", "stoi", "pesq"],
        pipeline_tag="audio-to-audio",
    )
    rows = results_rows(conf, metrics)
    name = repo_id or "<user>/<repo>"  # the card is written before any upload
    if paper["arxiv"]:
        front["arxiv"] = paper["arxiv"]
    size = ""
    if model_stats:
        size = f"\n\n{model_stats['params']:,} parameters"
        if model_stats.get("macs_per_second"):
            size += f", {model_stats['macs_per_second'] / 1e9:.2f} GMACs per second of audio"
        size += "."
    link = (
        f" ([arXiv:{paper['arxiv']}](https://arxiv.org/abs/{paper['arxiv']}))"
        if paper["arxiv"]
        else ""
    )
    if is_music_data(conf["data"]):
        front["metrics"] = ["sdr"]
        what = (
            f"stereo, target {', '.join(targets_of(data))} (second output: the rest of the mixture)"
        )
        usage = (
            "stem = model(song)  # (batch, 2, time) stereo -> (batch, 2, time): the first target\n"
            "# songs of any length, in bounded memory (8 s cross-faded chunks):\n"
            "from asteroid_tdanet.inference import Separator\n"
            "outputs = Separator(model).separate_tensor(song[0])  # (n_outputs, 2, time)"
        )
        cli = (
            f"\nOn files: `asteroid-tdanet separate song.flac --model {name} -o out/` writes "
            "`out/song_vocals.wav` and `out/song_accompaniment.wav` (stereo)."
        )
        tested = f"{metrics.get('n_tracks', '?')} test songs, whole songs in chunks"
    else:
        what = f"{data['n_src']} sources"
        usage = f"estimates = model(mixture)  # (batch, time) -> (batch, {data['n_src']}, time)"
        cli = ""
        tested = f"{metrics.get('n_utterances', '?')} test utterances"
    text = f"""---
{yaml.safe_dump(front, sort_keys=False).strip()}
---

# {repo_id or model_name}

{paper['cite']}{link} trained with the `asteroid-tdanet` recipe on
**{dataset}**, task `{data['task']}`, {data['sample_rate']} Hz, {what}.{size}

## Use

```python
import asteroid_tdanet  # registers {model_name} with asteroid
from asteroid_tdanet import load_model

model = load_model("{name}").eval()
{usage}
```

`asteroid.models.BaseModel.from_pretrained("{name}")` works too once `asteroid_tdanet` is
imported.{cli}

## Results (stage 3, {tested})

| metric | value |
| --- | --- |
{rows}

## Training

Configuration in `conf.yml` (model `{model_name}`, {_architecture_of(conf['model'])}, loss
`{_loss_of(conf, model_name)}`, Adam lr {conf['optim']['lr']}, batch size
{conf['training']['batch_size']}, segment {data['segment']} s).
"""
    if dataset_info is not None:
        text += mini_data_section(dataset_info)
    text += f"""
## Licence

{license_id}. Attribution: {paper['authors']}; Asteroid toolkit.
"""
    init_from = conf["model"].get("init_from")
    if init_from:
        licence = init_licence or "not recorded in that checkpoint"
        text += f"""
Fine-tuned from `{init_from}`, whose weights are under: **{licence}**. The published weights
derive from them: their licence terms apply to this model too.
"""
    return text


def initial_licence(model_conf: dict, recipe_infos: dict) -> str:
    """Licence of the ``init_from`` weights: as training recorded it, else read now ("" when
    there are none or none is recorded)."""
    if not model_conf.get("init_from"):
        return ""
    if recipe_infos.get("init_licence"):
        return str(recipe_infos["init_licence"])
    from .model_factory import initial_weights_licence

    return initial_weights_licence(model_conf)


def published_licence(license_id: str, init_licence: str) -> str:
    """The licence the card and the package state: ``license_id``, or ``cc-by-nc-4.0`` for
    weights derived from non-commercial ones (the hub's licence filter reads this field)."""
    if init_licence and is_non_commercial(init_licence) and not is_non_commercial(license_id):
        return "cc-by-nc-4.0"
    return license_id


def is_non_commercial(licence: str) -> bool:
    """``CC BY-NC 4.0 (...)``, ``cc-by-nc-sa-4.0``, ...: a non-commercial licence."""
    return "-nc" in licence.lower().replace(" ", "-")


def _architecture_of(model_conf: dict) -> str:
    """Where the model's sizes came from: its preset, or the checkpoint it started from
    (``init_from`` / ``student_of`` take the architecture from there, not the preset)."""
    for key, words in (("student_of", "student of"), ("init_from", "fine-tuned from")):
        if model_conf.get(key):
            return f"{words} `{os.path.basename(str(model_conf[key]))}`"
    return f"preset `{model_conf.get('preset')}`"


def _loss_of(conf: dict, model_name: str) -> str:
    """The objective the training used (the conf's ``loss`` or the model's default)."""
    from ..models import get_model_class
    from .objectives import loss_name

    try:
        model_cls = get_model_class(model_name)
    except ValueError:
        model_cls = None
    return loss_name(conf["training"], model_cls)


SOURCE_WORDS = {
    "real": "real human recordings (Debian's Asterisk voice-prompt packages)",
    "kde": "real human word recordings joined into talk (Debian's KDE game sound packages)",
    "uqm": "real acted English dialogue (Debian's non-free uqm-voice package, non-commercial)",
    "fillets": "real dubbed Czech and Dutch dialogue (Debian's Fish Fillets NG packages)",
    "espeak": "synthetic speech from eSpeak NG (PyPI espeakng-loader)",
}
# dataset.json groups counted as real recorded speakers in the card's table.
REAL_GROUPS = ("real", "kde", "uqm", "fillets")


def music_mini_data_section(info: dict) -> str:
    """What the embedded music set was made of (its dataset.json, ``corpus.music.build``)."""
    splits = info["splits"]
    licences = "\n".join(
        f"- {group}: {pkg}{': ' if pkg else ''}{lic}"
        for group, entries in info["licences"].items()
        for pkg, lic in (entries.items() if isinstance(entries, dict) else [("", entries)])
    )
    notes = "".join(f"\n- {n}" for n in info.get("notes", []))
    return f"""
## Data

Trained on the embedded **mini** music set generated by the recipe's stage 0, NOT on
MUSDB18: {len(splits['train'])} training and {len(splits['test'])} test songs of
{info['seconds']:g} s, {info['sample_rate']} Hz stereo, in the MUSDB18-HQ layout. Test
voices are not heard in training (speakers {', '.join(info['speakers']['test'])}).

Notes:{notes}

Source licences:
{licences}

It is a demonstration model, not comparable with models trained on real music.
"""


def mini_data_section(info: dict) -> str:
    """Plain statement of what the mini dataset was made of (from its dataset.json)."""
    if info.get("layout") == "MUSDB18-HQ":
        return music_mini_data_section(info)
    sources = " and ".join(SOURCE_WORDS.get(s, s) for s in info["sources_used"])
    counts = {split: info["n_speakers"][split] for split in ("train", "dev", "test")}
    rows = "\n".join(
        f"| {split} | {sum(n.get(g, 0) for g in REAL_GROUPS)} | {n.get('espeak', 0)} "
        f"| {info['mixtures'][split]} |"
        for split, n in counts.items()
    )
    licences = [
        f"- {pkg}: {lic}"
        for group in REAL_GROUPS
        for pkg, lic in info["licences"].get(group, {}).items()
    ]
    if info["licences"].get("espeak"):
        licences.append(f"- {info['licences']['espeak']}")
    notes = "".join(f"\n- {n}" for n in info["notes"])
    return f"""
## Data

Trained on the embedded **mini** dataset generated by the recipe's stage 0, NOT on a real
corpus: two-speaker 8 kHz mixtures in the Libri2Mix layout, made from {sources}.
Speakers are split by speaker (no test speaker is heard in training):

| split | real speakers | synthetic speakers | mixtures |
| --- | --- | --- | --- |
{rows}

Notes:{notes}

Source licences:
{chr(10).join(licences)}

It is a demonstration model, not comparable with models trained on real corpora.
"""
