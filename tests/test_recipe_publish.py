"""Stage 4: the publish folder, its model card, and reloading it through the HF hub cache."""

import json
import os
import shutil

import pytest
import torch
import yaml

from asteroid_tdanet import TDANet
from asteroid_tdanet.recipes import experiment as xp
from asteroid_tdanet.recipes import publish
from _recipe_helpers import CONF_MINI

TINY = dict(sample_rate=8000, bn_chan=16, hid_chan=32, n_blocks=2, upsampling_depth=3, n_heads=2)
METRICS = {
    "si_snr_i": 7.25,
    "sdr_i": 7.75,
    "stoi": 0.81,
    "pesq": 2.1,
    "input_si_sdr": 0.1,
    "n_utterances": 10,
    "n_undefined": {},
}


@pytest.fixture
def exp_dir(tmp_path):
    exp = tmp_path / "exp"
    (exp / xp.EVAL_DIR).mkdir(parents=True)
    model = TDANet(**TINY).eval()
    torch.save(model.serialize(), exp / xp.BEST_MODEL)
    shutil.copy(CONF_MINI, exp / xp.CONF)
    (exp / xp.EVAL_DIR / xp.FINAL_METRICS).write_text(json.dumps(METRICS))
    return exp, model


def test_publish_folder_and_card(exp_dir, capsys):
    exp, _ = exp_dir
    assert publish.main(["--exp_dir", str(exp), "--license", "cc-by-sa-3.0"]) == 0
    assert "skipping the upload" in capsys.readouterr().out
    pub = exp / xp.PUBLISH_DIR
    assert {p.name for p in pub.iterdir()} >= {
        "pytorch_model.bin",
        "README.md",
        "conf.yml",
        "final_metrics.json",
    }
    card = (pub / "README.md").read_text()
    front = yaml.safe_load(card.split("---")[1])
    assert front["tags"] == ["asteroid", "audio", "TDANet", "audio-to-audio"]
    assert front["license"] == "cc-by-sa-3.0" and "MiniLibri2Mix" in front["datasets"]
    assert "| SI-SNRi (dB) | 7.250 |" in card
    # Refuses a second time, unless forced.
    assert publish.main(["--exp_dir", str(exp)]) == xp.REFUSED
    assert publish.main(["--exp_dir", str(exp), "--force", "true"]) == 0


def test_old_experiment_fine_tuned_from_nc_weights_looks_their_licence_up_once(
    exp_dir, tmp_path, monkeypatch
):
    """Trained before training recorded ``init_licence``: the licence of the ``init_from``
    weights is read from them once (package and card), and the card states it."""
    from asteroid_tdanet.recipes import model_factory
    from asteroid_tdanet.recipes.model_card import model_card

    exp, model = exp_dir
    start = model.serialize()
    start["infos"]["licence"] = "CC BY-NC 4.0 (test)"
    torch.save(start, tmp_path / "start.pth")
    conf = yaml.safe_load((exp / xp.CONF).read_text())
    conf["model"]["init_from"] = str(tmp_path / "start.pth")
    (exp / xp.CONF).write_text(yaml.safe_dump(conf))
    best = torch.load(exp / xp.BEST_MODEL, weights_only=True)
    assert "init_licence" not in best["infos"].get("recipe", {})  # the old kind
    lookups = []

    def counted(model_conf):
        lookups.append(model_conf["init_from"])
        return lookup(model_conf)

    lookup = model_factory.initial_weights_licence
    monkeypatch.setattr(model_factory, "initial_weights_licence", counted)
    assert publish.main(["--exp_dir", str(exp), "--license", "cc-by-sa-4.0"]) == 0
    assert lookups == [str(tmp_path / "start.pth")]
    pub = exp / xp.PUBLISH_DIR
    package = torch.load(pub / "pytorch_model.bin", weights_only=True)
    card = (pub / "README.md").read_text()
    assert package["infos"]["license"] == "cc-by-nc-4.0"
    assert yaml.safe_load(card.split("---")[1])["license"] == "cc-by-nc-4.0"
    assert f"Fine-tuned from `{tmp_path / 'start.pth'}`, whose weights are under: " in card
    assert "**CC BY-NC 4.0 (test)**" in card and "| SI-SNRi (dB) | 7.250 |" in card
    # The experiment's model card, as model_card writes it from the experiment's files.
    monkeypatch.undo()
    stats = publish.model_stats(package)
    assert card == model_card(
        None, conf, METRICS, "cc-by-sa-4.0", model_name="TDANet", model_stats=stats
    )


def fake_hub_cache(cache, repo_id, files):
    """The layout huggingface_hub's cache uses for a downloaded model repo."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    for f in files:
        shutil.copy(f, snap / os.path.basename(f))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return snap


def test_reload_through_hub_cache_and_asteroid(exp_dir, tmp_path):
    exp, model = exp_dir
    assert publish.main(["--exp_dir", str(exp)]) == 0
    pub = exp / xp.PUBLISH_DIR
    fake_hub_cache(
        tmp_path / "hf", "someone/TDANet_mini", [pub / "pytorch_model.bin", pub / "README.md"]
    )
    mix = torch.randn(2, 8000)
    with torch.no_grad():
        expected = model(mix)
        loaded = TDANet.from_pretrained(
            "someone/TDANet_mini", cache_dir=str(tmp_path / "hf"), local_files_only=True
        ).eval()
        torch.testing.assert_close(loaded(mix), expected)
        from asteroid.models import BaseModel

        via_asteroid = BaseModel.from_pretrained(str(pub / "pytorch_model.bin")).eval()
        assert isinstance(via_asteroid, TDANet)
        torch.testing.assert_close(via_asteroid(mix), expected)
    package = torch.load(pub / "pytorch_model.bin", weights_only=True)
    assert package["infos"]["final_metrics"]["si_snr_i"] == 7.25


def test_upload_calls_hub_with_the_folder(exp_dir, monkeypatch):
    exp, _ = exp_dir
    calls = []

    class FakeApi:
        def create_repo(self, repo_id, **kw):
            calls.append(("create", repo_id))

        def upload_folder(self, folder_path, repo_id, **kw):
            calls.append(("upload", repo_id, sorted(os.listdir(folder_path))))
            return "https://hub/commit/1"

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    assert publish.main(["--exp_dir", str(exp), "--hub_repo_id", "me/TDANet_x"]) == 0
    assert calls[0] == ("create", "me/TDANet_x")
    assert calls[1][1] == "me/TDANet_x" and "pytorch_model.bin" in calls[1][2]


class RecordingApi:
    """huggingface_hub.HfApi stand-in: records calls; ``public_repos`` exist and are public."""

    calls, public_repos = [], set()

    def create_repo(self, repo_id, private=False, **kw):
        RecordingApi.calls.append(("create", repo_id, private))

    def repo_info(self, repo_id, **kw):
        return type("Info", (), {"private": repo_id not in RecordingApi.public_repos})()

    def upload_folder(self, folder_path, repo_id, **kw):
        card = open(os.path.join(folder_path, "README.md")).read()
        RecordingApi.calls.append(("upload", repo_id, card))
        return "https://hub/commit/1"


def test_upload_later_names_the_repo_in_the_card(exp_dir, monkeypatch):
    import huggingface_hub

    exp, _ = exp_dir
    RecordingApi.calls, RecordingApi.public_repos = [], {"me/public"}
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    assert publish.main(["--exp_dir", str(exp)]) == 0  # built without a repo id
    assert publish.main(["--exp_dir", str(exp), "--hub_repo_id", "me/TDANet_x"]) == 0
    ((_, repo, card),) = [c for c in RecordingApi.calls if c[0] == "upload"]
    assert repo == "me/TDANet_x" and 'load_model("me/TDANet_x")' in card
    assert "<user>/<repo>" not in card
    # A private upload into an existing public repo is refused, nothing uploaded.
    RecordingApi.calls = []
    args = ["--exp_dir", str(exp), "--hub_repo_id", "me/public", "--private", "true"]
    assert publish.main(args) == 1
    assert [c[0] for c in RecordingApi.calls] == ["create"]
    # Ids the hub would not take, or would put under another name, before anything is built.
    for bad in ("TDANet_x", "me/my model"):
        assert publish.main(["--exp_dir", str(exp), "--hub_repo_id", bad]) == 2


def test_an_interrupted_build_leaves_no_folder(exp_dir, monkeypatch):
    exp, _ = exp_dir

    def interrupted(package):
        raise KeyboardInterrupt

    monkeypatch.setattr(publish, "model_stats", interrupted)
    with pytest.raises(KeyboardInterrupt):
        publish.main(["--exp_dir", str(exp)])
    assert sorted(p.name for p in exp.iterdir()) == sorted([xp.BEST_MODEL, xp.CONF, xp.EVAL_DIR])
    monkeypatch.undo()
    assert publish.main(["--exp_dir", str(exp)]) == 0  # not taken for a finished folder


def test_publish_requires_evaluation(exp_dir):
    exp, _ = exp_dir
    os.remove(exp / xp.EVAL_DIR / xp.FINAL_METRICS)
    assert publish.main(["--exp_dir", str(exp)]) == 2


def test_model_card_counts_every_real_group_and_lists_their_licences():
    from asteroid_tdanet.recipes.model_card import mini_data_section

    def split(real, kde, espeak, fillets):
        return dict(real=real, kde=kde, espeak=espeak, fillets=fillets)

    info = dict(
        sources_used=["espeak", "fillets", "kde", "real"],
        n_speakers=dict(train=split(4, 26, 36, 4), dev=split(1, 6, 9, 0), test=split(2, 10, 15, 0)),
        mixtures=dict(train=1000, dev=100, test=100),
        notes=["kde: 42 voices from Debian KDE game word recordings"],
        licences=dict(
            real={"asterisk-core-sounds-en-wav": "CC-BY-SA-3.0 (Allison Smith)"},
            kde={"klettres-data": "GPL-2+ (KLettres sounds)"},
            fillets={"fillets-ng-data-cs": "GPL-2 (Fish Fillets NG Czech dialogue)"},
            espeak="eSpeak NG: GPL-3.0-or-later",
        ),
    )
    card = mini_data_section(info)
    assert "| train | 34 | 36 | 1000 |" in card and "| test | 12 | 15 | 100 |" in card
    assert "- asterisk-core-sounds-en-wav: CC-BY-SA-3.0" in card
    assert "- klettres-data: GPL-2+" in card and "- eSpeak NG: GPL-3.0" in card
    assert "- fillets-ng-data-cs: GPL-2" in card
    assert "KDE game sound packages" in card and "Fish Fillets NG packages" in card


def test_upload_advice_names_the_likely_cause():
    import requests

    from asteroid_tdanet.recipes.publish import upload_advice

    class Refused(Exception):
        def __init__(self, code):
            super().__init__(f"{code} Client Error")
            self.response = type("Response", (), {"status_code": code})()

    assert "network connection" in upload_advice(requests.ConnectionError("no route"))
    try:  # the hub library's wrapper around a connection error
        try:
            raise requests.ConnectionError("Max retries exceeded")
        except requests.ConnectionError as inner:
            raise RuntimeError("cannot reach the hub") from inner
    except RuntimeError as wrapped:
        assert "network connection" in upload_advice(wrapped)
    for code in (401, 403):
        assert "log in" in upload_advice(Refused(code))
    assert "network and the login" in upload_advice(Refused(500))
    assert "licence id" in upload_advice(Refused(400))
    assert "rate" in upload_advice(Refused(429))
