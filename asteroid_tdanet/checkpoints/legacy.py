"""Upgrade of packages written by earlier releases of this package.

Release 0.1.0 wrote TDANet ``model_args`` with ``n_heads`` (and no ``ga_mixer``) and kept the
GA module's parameters under ``masker.ublock.global_attention.{attention,ffn}``. Since the GA
mixer became a component they live under ``masker.ublock.global_module.{mixer,ffn}`` and the
mixer's arguments in ``ga_mixer_args``.
"""

import re

from .safe_load import NotACheckpointError

_RENAMES = [
    (r"^masker\.ublock\.global_attention\.attention\.", "masker.ublock.global_module.mixer."),
    (r"^masker\.ublock\.global_attention\.ffn\.", "masker.ublock.global_module.ffn."),
]


def is_legacy_tdanet_package(package: dict) -> bool:
    """A TDANet package written by release 0.1.0: its ``model_args`` name neither the GA mixer
    nor its arguments (0.1.0 wrote ``n_heads`` instead). A package holding ``ga_mixer_args``
    is today's form even without ``ga_mixer`` (TDANet's default mixer then): taking it for a
    0.1.0 file would replace its mixer arguments."""
    # Without model_args it is no package at all: load_package names what is missing.
    args = package.get("model_args")
    return (
        package.get("model_name") == "TDANet"
        and isinstance(args, dict)
        and "ga_mixer" not in args
        and "ga_mixer_args" not in args
    )


def upgrade_key(key: str, prefix: str = "") -> str:
    """Today's name of a 0.1.0 TDANet parameter (``prefix``: the model's own prefix)."""
    for pattern, repl in _RENAMES:
        key = re.sub(pattern.replace("^", "^" + re.escape(prefix)), prefix + repl, key)
    return key


def upgrade_tdanet_package(package: dict) -> dict:
    """Today's form of a 0.1.0 TDANet package (the input is not modified).

    0.1.0's attention is today's ``mhsa`` mixer (``mhsa-frame-local`` with
    ``official_compat``) and its ``n_heads`` that mixer's; a ``ga_mixer`` or ``ga_mixer_args``
    the package already holds is kept (a contradicting ``n_heads`` is an error, as it is for
    the TDANet constructor), so no argument is silently replaced.
    """
    from ..models.tdanet import with_n_heads

    args = dict(package["model_args"])
    try:
        mixer_args = with_n_heads(args.get("ga_mixer_args"), args.pop("n_heads", None))
    except ValueError as err:
        raise NotACheckpointError(f"its model_args: {err}") from err
    args.setdefault("ga_mixer", "mhsa-frame-local" if args.get("official_compat") else "mhsa")
    args["ga_mixer_args"] = mixer_args
    state_dict = {upgrade_key(k): v for k, v in package["state_dict"].items()}
    infos = dict(package.get("infos") or {})
    infos["upgraded_from"] = "asteroid-tdanet 0.1.0 package"
    return {**package, "model_args": args, "state_dict": state_dict, "infos": infos}
