"""Check, before a recipe starts, that the ``[recipes]`` extra is installed.

The library needs none of these packages; the recipes do (loudness-normalised mixing, plots,
TensorBoard logs, the eSpeak NG voices of the mini set). A missing one stops the recipe with one
line naming it and the command that installs it, rather than a traceback from deep in a stage.

Usage (``egs/utils/run_recipe.sh`` does this first): ``python -m asteroid_tdanet.recipes.requirements``
"""

import importlib.util
import sys
from typing import Dict, List, Optional

# Import name -> distribution name; the ``recipes`` extra of setup.py.
RECIPE_PACKAGES: Dict[str, str] = {
    "pyloudnorm": "pyloudnorm",
    "matplotlib": "matplotlib",
    "pandas": "pandas",
    "tensorboard": "tensorboard",
    "espeakng_loader": "espeakng-loader",
}
INSTALL_HINT = "pip install 'asteroid-tdanet[recipes]'"
MISSING_REQUIREMENTS = 3


def missing_packages(packages: Optional[Dict[str, str]] = None) -> List[str]:
    """Distribution names of ``packages`` (default :data:`RECIPE_PACKAGES`) whose module cannot
    be found (nothing is imported)."""
    packages = RECIPE_PACKAGES if packages is None else packages
    return [dist for module, dist in packages.items() if importlib.util.find_spec(module) is None]


def main(argv=None) -> int:
    missing = missing_packages()
    if missing:
        names = ", ".join(missing)
        plural = "s" if len(missing) > 1 else ""
        print(
            f"The recipes need the package{plural} {names}, not installed in {sys.executable}: "
            f"{INSTALL_HINT}",
            file=sys.stderr,
        )
        return MISSING_REQUIREMENTS
    return 0


if __name__ == "__main__":
    sys.exit(main())
