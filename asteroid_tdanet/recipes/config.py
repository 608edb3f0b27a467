"""Recipe configuration: ``conf.yml`` loading and command-line overrides of every leaf.

A conf is a two-level dict (``{section: {key: value}}``, as in Asteroid's recipes). Each key
becomes a ``--key value`` option whose type is the type of the default in the conf, so
``--lr 5e-4`` or ``--early_stop false`` override ``optim.lr`` or ``training.early_stop``.
"""

import argparse
import copy
from typing import Dict, List, Optional, Tuple

import yaml

NONE_STRINGS = ("none", "null", "")


def str2bool(value: str) -> bool:
    """Parse yes/no style booleans for argparse (``true/false/yes/no/1/0``)."""
    if isinstance(value, bool):
        return value
    low = value.lower()
    if low in ("true", "yes", "y", "1"):
        return True
    if low in ("false", "no", "n", "0"):
        return False
    raise argparse.ArgumentTypeError(f"Expected a boolean, got {value!r}.")


def _yaml_value(value: str):
    """An option value read as YAML (``none`` / ``null`` -> None); a usage error if it is not
    valid YAML, e.g. an unclosed ``{``."""
    if value.lower() in NONE_STRINGS:
        return None
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError as err:
        reason = " ".join(str(err).split())
        raise argparse.ArgumentTypeError(f"not valid YAML: {value!r} ({reason})")


def _typed(default):
    """argparse ``type`` for an option whose conf default is ``default``."""
    if isinstance(default, bool):
        return str2bool
    if default is None or isinstance(default, (list, dict)):
        # No type to go by (e.g. a model size left to the preset), or a list / mapping: read
        # it as YAML, so "64" -> 64, "true" -> True, "gLN" -> "gLN", "[0, 2]" -> [0, 2].
        return _yaml_value
    base = type(default) if isinstance(default, (int, float)) else str

    def convert(value: str):
        if value.lower() in NONE_STRINGS:
            return None
        if base is int:
            # Accept "1e3"-style or "3.0" for integers, but refuse to round silently.
            number = float(value)
            if not number.is_integer():
                raise argparse.ArgumentTypeError(f"Expected an integer, got {value!r}.")
            return int(number)
        return base(value)

    return convert


def load_conf(path: str) -> Dict[str, dict]:
    """Read a recipe ``conf.yml``; every top-level value must be a section dict.

    Raises:
        FileNotFoundError: no such file. ValueError: not YAML, or not sections of keys.
    """
    with open(path, encoding="utf-8") as f:
        try:
            conf = yaml.safe_load(f) or {}
        except yaml.YAMLError as err:
            raise ValueError(f"{path}: not valid YAML ({' '.join(str(err).split())})") from err
    if not isinstance(conf, dict) or not all(isinstance(v, dict) for v in conf.values()):
        raise ValueError(f"{path}: expected sections of key: value pairs at the top level.")
    keys: Dict[str, str] = {}
    for section, values in conf.items():
        for key in values:
            if key in keys:
                raise ValueError(f"{path}: key {key!r} is in both {keys[key]!r} and {section!r}.")
            keys[key] = section
    return conf


def add_conf_options(parser: argparse.ArgumentParser, conf: Dict[str, dict]) -> None:
    """Add one ``--key`` option per conf leaf (grouped by section), default = conf value."""
    for section, values in conf.items():
        group = parser.add_argument_group(section)
        for key, default in values.items():
            group.add_argument(
                f"--{key}",
                type=_typed(default),
                default=default,
                help=f"{section}.{key} (conf: {default!r})",
            )


def parse_with_conf(
    parser: argparse.ArgumentParser, argv: Optional[List[str]] = None
) -> Tuple[argparse.Namespace, Dict[str, dict]]:
    """Parse ``argv`` with ``--conf`` first, then every conf leaf as an option.

    ``--help`` without ``--conf`` prints the parser's own options (and exits); a missing
    ``--conf`` is the parser's usage error (exit 2).

    Returns:
        (args, conf): the namespace (including the conf options) and the conf with the
        command-line values applied.
    """
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--conf")
    known, _ = pre.parse_known_args(argv)
    parser.add_argument(
        "--conf",
        required=True,
        help="recipe conf.yml; each of its keys is then an option too "
        "(--conf FILE --help lists them with their conf values)",
    )
    if known.conf is None:
        # --help without a conf shows the options known so far; else the missing --conf.
        parser.parse_args(argv)
    conf = load_conf(known.conf)
    add_conf_options(parser, conf)
    args = parser.parse_args(argv)
    return args, apply_overrides(conf, vars(args))


def apply_overrides(conf: Dict[str, dict], values: dict) -> Dict[str, dict]:
    """Copy of ``conf`` with each leaf replaced by ``values[leaf]`` when present."""
    out = copy.deepcopy(conf)
    for section in out.values():
        for key in section:
            if key in values:
                section[key] = values[key]
    return out


def save_conf(conf: Dict[str, dict], path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(conf, f, sort_keys=False)
