"""Download a Debian package straight from a mirror's pool, without apt's source lists.

``apt-get download`` finds only the components a machine's ``sources.list`` enables (most
enable ``main`` alone); the voice recordings of :mod:`.uqm_bank` are in ``non-free``. This
reads the mirror's package index (``dists/<release>/<component>/binary-<arch>/Packages.xz``)
to find the package's file in the pool and fetches it with ``urllib`` -- the same registry
apt would use, no root needed. The mirror is ``$DEBIAN_MIRROR`` (default
``http://deb.debian.org/debian``), the release this machine's ``VERSION_CODENAME``
(``/etc/os-release``; ``bookworm`` when absent).
"""

import lzma
import os
import re
import urllib.request
from typing import Dict, Optional, Sequence

DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_RELEASE = "bookworm"
# The fallback serves packages apt could not find, mostly outside main: the small non-free and
# contrib indexes (tens of kB) are read before main's (about 4 MB compressed).
COMPONENTS = ("non-free", "contrib", "main")


class PoolError(RuntimeError):
    """The package is not in the mirror's index, or the index / package could not be read."""


def mirror() -> str:
    return os.environ.get("DEBIAN_MIRROR", DEFAULT_MIRROR).rstrip("/")


def release(os_release: str = "/etc/os-release") -> str:
    """This machine's Debian codename (``VERSION_CODENAME``), ``bookworm`` if unknown."""
    try:
        with open(os_release) as f:
            match = re.search(r"^VERSION_CODENAME=\"?([a-z]+)\"?$", f.read(), re.M)
    except OSError:
        match = None
    return match.group(1) if match else DEFAULT_RELEASE


def parse_index(text: str) -> Dict[str, str]:
    """``{package: pool path}`` of a ``Packages`` index (stanzas of ``Field: value`` lines)."""
    files = {}
    for stanza in text.split("\n\n"):
        package = re.search(r"^Package: (\S+)$", stanza, re.M)
        filename = re.search(r"^Filename: (\S+)$", stanza, re.M)
        if package and filename:
            files[package.group(1)] = filename.group(1)
    return files


def _read(url: str, timeout: float = 300) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read()
    except (OSError, ValueError) as err:  # URLError is an OSError
        raise PoolError(f"Cannot read {url}: {err}") from err


def pool_path(
    package: str,
    components: Sequence[str] = COMPONENTS,
    arch: str = "all",
    cache_dir: Optional[str] = None,
) -> str:
    """The package's path in the mirror's pool (e.g. ``pool/non-free/u/...deb``).

    The indexes of ``binary-<arch>`` for ``components`` are read in order (and kept in
    ``cache_dir`` when given). Architecture-independent packages are listed in every
    architecture's index; ``arch="all"`` reads ``binary-all``, which lists only them.
    """
    base, codename = mirror(), release()
    for component in components:
        name = f"Packages_{codename}_{component}_{arch}"
        cached = os.path.join(cache_dir, name) if cache_dir else None
        if cached and os.path.exists(cached):
            with open(cached, encoding="utf-8") as f:
                text = f.read()
        else:
            url = f"{base}/dists/{codename}/{component}/binary-{arch}/Packages.xz"
            try:
                text = lzma.decompress(_read(url)).decode("utf-8")
            except lzma.LZMAError as err:
                raise PoolError(f"{url} is not an xz-compressed package index: {err}") from err
            if cached:
                os.makedirs(cache_dir, exist_ok=True)
                with open(cached + ".tmp", "w", encoding="utf-8") as f:
                    f.write(text)
                os.replace(cached + ".tmp", cached)
        files = parse_index(text)
        if package in files:
            return files[package]
    raise PoolError(
        f"{package} is not in {base} ({codename}, components {', '.join(components)}, "
        f"binary-{arch})."
    )


def download(package: str, dest_dir: str, **index_options) -> str:
    """Download ``package``'s ``.deb`` into ``dest_dir``; return its path."""
    path = pool_path(package, cache_dir=dest_dir, **index_options)
    target = os.path.join(dest_dir, os.path.basename(path))
    data = _read(f"{mirror()}/{path}", timeout=1800)
    with open(target + ".part", "wb") as f:
        f.write(data)
    os.replace(target + ".part", target)
    return target
