"""Text taken from docstrings for command-line help."""

import inspect
from typing import Optional


def doc_summary(doc: Optional[str]) -> str:
    """The first paragraph of the docstring ``doc`` on one line: a script's ``--help``
    description (``argparse.ArgumentParser(description=doc_summary(__doc__))``).

    A paragraph ends at the first blank line; its lines are joined with single spaces, so a
    first sentence wrapped over several lines is kept whole. ``None`` (docstrings stripped
    by ``python -OO``) gives ``""``.
    """
    if not doc:
        return ""
    first = inspect.cleandoc(doc).split("\n\n", 1)[0]
    return " ".join(line.strip() for line in first.splitlines() if line.strip())
