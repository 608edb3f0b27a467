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

import torch

from ..utils.docs import doc_summary
from . import experiment as xp
from .config import load_conf, str2bool
from .model_card import model_card


def build_publish_dir(
    exp_dir: str, publish_dir: str, repo_id, license_id: str, dataset_json: str = ""
) -> str:
    """Write the folder; return the path of its ``pytorch_model.bin``."""
    from ..checkpoints import safe_torch_load

    package = safe_torch_load(os.path.join(exp_dir, xp.BEST_MODEL))
    metrics = xp.read_json(os.path.join(exp_dir, xp.EVAL_DIR, xp.FINAL_METRICS))
    conf = load_conf(os.path.join(exp_dir, xp.CONF))
    dataset_info = xp.read_json(dataset_json) if dataset_json else None
    package["infos"]["final_metrics"] = {
        k: v for k, v in metrics.items() if isinstance(v, (int, float, str))
    }
    package["infos"]["license"] = license_id
    os.makedirs(publish_dir, exist_ok=True)
    model_path = os.path.join(publish_dir, "pytorch_model.bin")
    torch.save(package, model_path)
    shutil.copy(os.path.join(exp_dir, xp.CONF), os.path.join(publish_dir, "conf.yml"))
    shutil.copy(
        os.path.join(exp_dir, xp.EVAL_DIR, xp.FINAL_METRICS),
        os.path.join(publish_dir, xp.FINAL_METRICS),
    )
    if dataset_info is not None:
        shutil.copy(dataset_json, os.path.join(publish_dir, "dataset.json"))
    with open(os.path.join(publish_dir, "README.md"), "w") as f:
        f.write(
            model_card(
                repo_id,
                conf,
                metrics,
                license_id,
                dataset_info,
                model_name=package["model_name"],
                model_stats=model_stats(package),
            )
        )
    return model_path


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
    401/403), connect when it could not be reached, else check both."""
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
