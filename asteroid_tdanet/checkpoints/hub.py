"""Resolution of Hugging Face hub ids (``user/repo[@revision]``) to local files."""

import os
import re
from typing import Optional

HUB_ID = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+)(?:@(?P<revision>[\w./-]+))?$")
DEFAULT_FILENAME = "pytorch_model.bin"


def is_hub_id(name) -> bool:
    """Whether ``name`` looks like ``user/repo[@rev]`` and is not an existing local path."""
    return isinstance(name, str) and not os.path.exists(name) and bool(HUB_ID.match(name))


def hub_download(
    hub_id: str,
    revision: Optional[str] = None,
    cache_dir: Optional[str] = None,
    local_files_only: bool = False,
    filename: str = DEFAULT_FILENAME,
) -> str:
    """Path of ``filename`` of hub repo ``hub_id`` in the huggingface_hub cache.

    Downloads it when missing (unless ``local_files_only``); a revision may be given as
    ``user/repo@rev`` or with ``revision``. huggingface_hub falls back to the cache when
    offline (``HF_HUB_OFFLINE=1`` forces that).
    """
    from huggingface_hub import hf_hub_download

    match = HUB_ID.match(hub_id)
    if not match:
        raise ValueError(f"{hub_id!r} is not a hub id of the form 'user/repo[@revision]'.")
    revision = revision or match.group("revision")
    try:
        return hf_hub_download(
            match.group("repo"),
            filename,
            revision=revision,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
        )
    except Exception as err:
        raise FileNotFoundError(
            f"Could not get {filename!r} of hub repo {hub_id!r} "
            f"({type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''})."
        ) from err
