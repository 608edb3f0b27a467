"""Stage 4: a ``publish_dir/`` ready for the Hugging Face hub, uploaded when asked.

``publish_dir/`` holds ``pytorch_model.bin`` (the serialize() package, loadable by
``asteroid_tdanet.load_model`` / ``<Model>.from_pretrained`` and, after ``import asteroid_tdanet``, by
``asteroid.models.BaseModel.from_pretrained``), ``README.md`` (model card with metrics),
``conf.yml`` and ``final_metrics.json``. With ``--hub_repo_id user/name`` the folder is
uploaded with huggingface_hub (token from ``HF_TOKEN`` or ``huggingface-cli login``);
without it the upload is skipped.

Usage: ``python -m asteroid_tdanet.recipes.publish --exp_dir exp/tdanet_x
[--hub_repo_id me/TDANet_Libri2Mix_sepclean_8k] [--license cc-by-sa-4.0] [--force true]``
"""

import argparse
import os
import shutil
import sys
from typing import Optional

import torch

from ..utils.docs import doc_summary
from . import experiment as xp
from .config import load_conf, str2bool
from .model_card import initial_licence, model_card, published_licence


CARD = "README.md"


def build_publish_dir(
    exp_dir: str, publish_dir: str, repo_id, license_id: str, dataset_json: str = ""
) -> str:
    """Write the folder; return the path of its ``pytorch_model.bin``.

    Built in a temporary folder next to it and swapped in when complete: an interrupted or
    failed build leaves no half-written folder that a later run would take for finished
    (nor, with ``--force``, files of the previous build)."""
    from ..checkpoints import safe_torch_load

    package = safe_torch_load(os.path.join(exp_dir, xp.BEST_MODEL))
    conf, metrics = read_experiment(exp_dir)
    package["infos"]["final_metrics"] = {
        k: v for k, v in metrics.items() if isinstance(v, (int, float, str))
    }
    recipe_infos = package["infos"].get("recipe", {})
    # Looked up here only, then handed to the card: for experiments trained before training
    # recorded it, the lookup loads the init_from package (a download for a hub id).
    init_licence = initial_licence(conf["model"], recipe_infos)
    published = published_licence(license_id, init_licence)
    if published != license_id:
        print(
            f"Licence {published} instead of --license {license_id}: the weights derive from "
            f"non-commercial ones ({conf['model']['init_from']})."
        )
        license_id = published
    package["infos"]["license"] = license_id
    building = f"{publish_dir.rstrip(os.sep)}.building-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    os.makedirs(building)
    try:
        card = card_text(repo_id, license_id, dataset_json, package, conf, metrics, init_licence)
        with open(os.path.join(building, CARD), "w", encoding="utf-8") as f:
            f.write(card)
        torch.save(package, os.path.join(building, "pytorch_model.bin"))
        shutil.copy(os.path.join(exp_dir, xp.CONF), os.path.join(building, "conf.yml"))
        shutil.copy(
            os.path.join(exp_dir, xp.EVAL_DIR, xp.FINAL_METRICS),
            os.path.join(building, xp.FINAL_METRICS),
        )
        if dataset_json:
            shutil.copy(dataset_json, os.path.join(building, "dataset.json"))
        shutil.rmtree(publish_dir, ignore_errors=True)
        os.rename(building, publish_dir)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return os.path.join(publish_dir, "pytorch_model.bin")


def read_experiment(exp_dir: str):
    """``(conf, metrics)``: the experiment's ``conf.yml`` and stage 3's final metrics."""
    conf = load_conf(os.path.join(exp_dir, xp.CONF))
    return conf, xp.read_json(os.path.join(exp_dir, xp.EVAL_DIR, xp.FINAL_METRICS))


def card_text(
    repo_id,
    license_id: str,
    dataset_json: str,
    package: dict,
    conf: dict,
    metrics: dict,
    init_licence: Optional[str] = None,
) -> str:
    """The model card of the experiment's ``package`` for ``repo_id``, from the ``conf`` and
    ``metrics`` the caller read (:func:`read_experiment`): the card then states what the
    package was built from. ``init_licence``: the ``init_from`` weights' licence when the
    caller has looked it up already (``None``: the card looks it up)."""
    return model_card(
        repo_id,
        conf,
        metrics,
        license_id,
        xp.read_json(dataset_json) if dataset_json else None,
        model_name=package["model_name"],
        model_stats=model_stats(package),
        recipe_infos=package.get("infos", {}).get("recipe", {}),
        init_licence=init_licence,
    )


def card_names(publish_dir: str, repo_id: str) -> bool:
    """Whether the folder's card loads the model from ``repo_id`` (its usage snippet)."""
    try:
        with open(os.path.join(publish_dir, CARD), encoding="utf-8") as f:
            return f'load_model("{repo_id}")' in f.read()
    except OSError:
        return False


def check_repo_id(repo_id: str) -> None:
    """``user/name`` as the hub accepts it; raises ``ValueError`` naming the option. A bare
    name would be created under the login's account while the card loads ``name``."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise ValueError(f"--hub_repo_id {repo_id!r} is not a hub repo id: {err}") from err
    if repo_id.count("/") != 1:
        raise ValueError(f"--hub_repo_id {repo_id!r} must be <user or organisation>/<name>.")


def model_stats(package: dict) -> dict:
    """Parameter count and, when a counter is installed, MACs per second of audio."""
    from ..models import load_model
    from ..utils.complexity import count_macs, count_params

    model = load_model(package).eval()
    stats = dict(params=count_params(model))
    try:
        stats["macs_per_second"] = count_macs(model, seconds=1.0)
    except ImportError:  # ptflops is an optional extra
        pass
    return stats


def upload_advice(err: Exception) -> str:
    """What to do about a failed upload: log in when the hub refused the credentials (HTTP
    401/403), fix the files when it refused them (400, e.g. the card's metadata), wait when
    it limited the rate (429), connect when it could not be reached, else check both."""
    chain, seen = [], err
    while seen is not None and len(chain) < 10:  # the error and what caused it
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    status = next(
        (
            code
            for e in chain
            if (code := getattr(getattr(e, "response", None), "status_code", None))
        ),
        None,
    )
    if status in (401, 403):
        return "log in (`huggingface-cli login` or HF_TOKEN) with write access to the repo"
    if status == 400:
        return (
            "the hub refused the files (see its message; e.g. --license must be a licence id "
            "the hub knows, such as cc-by-sa-4.0, mit, cc-by-nc-4.0)"
        )
    if status == 429:
        return "the hub limits the rate of requests: wait a few minutes"
    unreachable = any(
        isinstance(e, OSError) or "Connect" in type(e).__name__ or "Timeout" in type(e).__name__
        for e in chain
    )
    if status is None and unreachable:
        return "check the network connection to huggingface.co"
    return "check the network and the login (`huggingface-cli login` or HF_TOKEN)"


def upload(publish_dir: str, repo_id: str, private: bool = False, model_name="model") -> str:
    """Create ``repo_id`` if needed and upload the folder; return the commit url."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, repo_type="model", exist_ok=True, private=private)
    if private and not getattr(api.repo_info(repo_id, repo_type="model"), "private", True):
        # create_repo leaves an existing repo as it is: never upload into a public one.
        raise PermissionError(
            f"{repo_id} exists and is public, and --private true was asked: make it private "
            "on the hub (Settings) or upload with --private false"
        )
    info = api.upload_folder(
        folder_path=publish_dir,
        repo_id=repo_id,
        repo_type="model",
        commit_message=f"Upload {model_name} (asteroid-tdanet recipe)",
    )
    return str(getattr(info, "commit_url", info))


def safe_model_name(model_path: str) -> str:
    from ..checkpoints import safe_torch_load

    return str(safe_torch_load(model_path).get("model_name", "model"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=doc_summary(__doc__))
    parser.add_argument("--exp_dir", required=True)
    parser.add_argument("--publish_dir", default=None, help="default: <exp_dir>/publish_dir")
    parser.add_argument("--hub_repo_id", default="", help="user/name; empty = no upload")
    parser.add_argument("--license", default="cc-by-sa-4.0")
    parser.add_argument("--dataset_json", default="", help="mini dataset description")
    parser.add_argument("--private", type=str2bool, default=False)
    parser.add_argument("--force", type=str2bool, default=False)
    args = parser.parse_args(argv)
    publish_dir = args.publish_dir or os.path.join(args.exp_dir, xp.PUBLISH_DIR)
    model_path = os.path.join(publish_dir, "pytorch_model.bin")
    try:
        if args.hub_repo_id:
            check_repo_id(args.hub_repo_id)
    except ValueError as err:
        print(err, file=sys.stderr)
        return 2
    try:
        xp.require(os.path.join(args.exp_dir, xp.BEST_MODEL), 2)
        xp.require(os.path.join(args.exp_dir, xp.EVAL_DIR, xp.FINAL_METRICS), 3)
        if not args.hub_repo_id or args.force:  # re-running only to upload is allowed
            xp.check_output(model_path, "A publish folder", 4, args.force)
    except (FileNotFoundError, xp.ExperimentExists) as err:
        print(err, file=sys.stderr)
        return xp.REFUSED if isinstance(err, xp.ExperimentExists) else 2
    if not os.path.exists(model_path) or args.force:
        build_publish_dir(
            args.exp_dir, publish_dir, args.hub_repo_id or None, args.license, args.dataset_json
        )
        print(f"Publish folder ready: {publish_dir}")
    elif args.hub_repo_id and not card_names(publish_dir, args.hub_repo_id):
        # Built before without this repo id: its usage snippet would load another name.
        from ..checkpoints import safe_torch_load

        package = safe_torch_load(model_path)
        licence = package.get("infos", {}).get("license", args.license)  # the folder's own
        conf, metrics = read_experiment(args.exp_dir)
        text = card_text(args.hub_repo_id, licence, args.dataset_json, package, conf, metrics)
        card = os.path.join(publish_dir, CARD)
        with open(f"{card}.tmp", "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(f"{card}.tmp", card)
        print(f"Model card rewritten for {args.hub_repo_id}: {publish_dir}/{CARD}")
    if not args.hub_repo_id:
        print(
            "No --hub_repo_id given: skipping the upload to the Hugging Face hub. "
            f"Upload later with: --stage 4 --hub_repo_id <user>/<name>  ({publish_dir})"
        )
        return 0
    try:
        model_name = safe_model_name(model_path)
        url = upload(publish_dir, args.hub_repo_id, args.private, model_name)
    except Exception as err:  # network / auth errors from huggingface_hub
        print(
            f"Upload to {args.hub_repo_id} failed: {err}\nThe folder {publish_dir} is "
            f"complete; {upload_advice(err)}, then re-run stage 4.",
            file=sys.stderr,
        )
        return 1
    print(f"Uploaded {publish_dir} to {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
