"""Resolution of Hugging Face hub ids (``user/repo[@revision]``) to local files."""

import os
import re
from typing import Optional

HUB_ID = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+)(?:@(?P<revision>[\w./-]+))?$")
DEFAULT_FILENAME = "pytorch_model.bin"
# A name ending like a file (".pth", ".bin", ".ckpt", ".safetensors", ...) is a path: hub
# repo names rarely end in a dot and letters only.
FILE_EXTENSION = re.compile(r"\.[A-Za-z]{1,12}$")
# One short request tells whether the hub answers; huggingface_hub itself retries a failed
# look-up for about 25 s.
PROBE_SECONDS = 3.0


def looks_like_path(name: str) -> bool:
    """Whether ``name`` can only mean a local path: it starts with ``.``, ``/`` or ``~``, has
    a file extension, or its first component is an existing folder (``exp/best_model``)."""
    return (
        name.startswith((".", "/", "~", os.sep))
        or bool(FILE_EXTENSION.search(name))
        or os.path.isdir(name.split("/")[0])
    )


def is_hub_id(name) -> bool:
    """Whether ``name`` looks like ``user/repo[@rev]`` and is not a local path."""
    return (
        isinstance(name, str)
        and not os.path.exists(name)
        and bool(HUB_ID.match(name))
        and not looks_like_path(name)
    )


def _offline_reason(local_files_only: bool) -> Optional[str]:
    """Why the hub must not (or cannot) be asked, or ``None`` to ask it."""
    from huggingface_hub import constants
    from huggingface_hub.utils import get_session

    if local_files_only:
        return "local_files_only=True"
    env = os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE")
    if env or constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    try:
        get_session().head(constants.ENDPOINT, timeout=PROBE_SECONDS)
    except Exception as err:  # DNS, refused connection, timeout, proxy errors, ...
        return (
            f"{constants.ENDPOINT} did not answer within {PROBE_SECONDS:g} s: {type(err).__name__}"
        )
    return None


def hub_download(
    hub_id: str,
    revision: Optional[str] = None,
    cache_dir: Optional[str] = None,
    local_files_only: bool = False,
    filename: str = DEFAULT_FILENAME,
) -> str:
    """Path of ``filename`` of hub repo ``hub_id`` in the huggingface_hub cache.

    Downloads it when missing; a revision may be given as ``user/repo@rev`` or with
    ``revision``. Offline (``local_files_only``, ``HF_HUB_OFFLINE=1``, or a hub that does not
    answer one short request) only the cache is read, and a file missing there fails at once
    with the cache's location in the message.
    """
    from huggingface_hub import constants, hf_hub_download

    match = HUB_ID.match(hub_id)
    if not match:
        raise ValueError(f"{hub_id!r} is not a hub id of the form 'user/repo[@revision]'.")
    revision = revision or match.group("revision")
    offline = _offline_reason(local_files_only)
    cache = cache_dir or constants.HF_HUB_CACHE
    try:
        return hf_hub_download(
            match.group("repo"),
            filename,
            revision=revision,
            cache_dir=cache_dir,
            local_files_only=offline is not None,
        )
    except Exception as err:
        if offline is not None:
            raise FileNotFoundError(
                f"hub repo {hub_id!r}: {filename!r} is not in the hub cache {cache} "
                f"(offline: {offline})."
            ) from err
        detail = " ".join(str(err).split())
        raise FileNotFoundError(
            f"Could not get {filename!r} of hub repo {hub_id!r} (hub cache {cache}; "
            f"{type(err).__name__}: {detail})."
        ) from err
