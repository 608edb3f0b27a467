"""Source permutation alignment between consecutive chunks of a separated signal.

A separation model trained with PIT outputs its sources in an arbitrary order, which may change
from one chunk to the next. Consecutive chunks overlap; in the overlap both chunks estimate the
same sources, so the order of the new chunk is the one that best matches the previous chunk
there.
"""

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment


def overlap_similarity(previous: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
    """Correlation of every (previous, current) pair of mean-removed sources.

    Args:
        previous: ``(batch, n_src, overlap)`` previous chunk's estimates on the overlap.
        current: ``(batch, n_src, overlap)`` current chunk's estimates on the same samples.

    Returns:
        ``(batch, n_src, n_src)``: entry ``[b, i, j]`` compares previous source ``i`` with
        current source ``j``. Unnormalised (as in Asteroid's ``LambdaOverlapAdd``) on purpose:
        a source that is silent in the overlap has near-zero entries and does not vote, whereas
        a normalised (cosine) score would weigh its leakage as much as real speech.
        Computed in float64 on the CPU (Apple's ``mps`` has no float64).
    """
    prev, cur = previous.cpu().double(), current.cpu().double()
    prev = prev - prev.mean(-1, keepdim=True)
    cur = cur - cur.mean(-1, keepdim=True)
    return prev @ cur.transpose(1, 2)


def best_permutation(previous: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
    """Order of the current sources that maximises the summed overlap correlation.

    Args:
        previous, current: ``(batch, n_src, overlap)``.

    Returns:
        ``(batch, n_src)`` long tensor ``perm``: ``current[b, perm[b]]`` is aligned with
        ``previous[b]``. Solved exactly (Hungarian algorithm), for any number of sources.
    """
    similarity = overlap_similarity(previous, current).cpu().numpy()
    perms = np.stack([linear_sum_assignment(sim, maximize=True)[1] for sim in similarity])
    return torch.as_tensor(perms, dtype=torch.long, device=current.device)


def align_to_previous(previous: torch.Tensor, current: torch.Tensor, overlap: int) -> torch.Tensor:
    """Reorder the sources of ``current`` to follow those of ``previous``.

    Args:
        previous: ``(batch, n_src, >= overlap)``: its last ``overlap`` samples are compared.
        current: ``(batch, n_src, time)``: its first ``overlap`` samples are compared.
        overlap (int): number of shared samples.

    Returns:
        ``current`` with its sources permuted, same shape.
    """
    perm = best_permutation(previous[..., -overlap:], current[..., :overlap])
    return torch.gather(current, 1, perm[..., None].expand(-1, -1, current.shape[-1]))
