"""HiPPO-LegS state matrix in normal-plus-low-rank (NPLR) form (Gu et al., S4, ICLR 2022)."""

from typing import Tuple

import torch


def legs_nplr(state_size: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(w, P, B)`` with ``A_LegS = V (diag(w) - P P^H) V^H`` and ``B = V B`` (complex128).

    HiPPO-LegS: ``A[n, k] = -sqrt(2n+1) sqrt(2k+1)`` for ``n > k``, ``-(n+1)`` on the
    diagonal, ``B[n] = sqrt(2n+1)``. Adding the rank-1 ``P P^T`` with ``P[n] = sqrt(n + 1/2)``
    makes it ``-1/2 I`` plus a skew-symmetric matrix, diagonalised by ``V`` (from ``eigh`` of
    the Hermitian ``-i S``). Eigenvalues come in conjugate pairs; one of each (ascending
    imaginary part, the negative half) is kept, so the tensors have ``state_size // 2``
    entries, as in the reference ``nplr('legs', N)``. ``V``'s phases are LAPACK's choice;
    only phase-invariant products (the kernel) matter.

    Returns: ``w`` (N/2,), ``P`` (N/2,), ``B`` (N/2,), complex128.
    """
    n = state_size
    q = torch.arange(n, dtype=torch.float64)
    r = 2 * q + 1
    # M[i, j] = -(r_j [i >= j] - q_i [i == j]); A = T M T^-1 with T = diag(sqrt(r)).
    m = -(torch.where(q[:, None] >= q[None, :], r[None, :], torch.zeros(())) - torch.diag(q))
    a = r.sqrt()[:, None] * m / r.sqrt()[None, :]
    b = r.sqrt()
    p = (0.5 + q).sqrt()
    ap = a + p[:, None] * p[None, :]
    w_re = torch.diagonal(ap).mean()
    w_im, v = torch.linalg.eigh(ap.to(torch.complex128) * -1j)
    order = torch.argsort(w_im)[: n // 2]
    w = w_re + 1j * w_im[order]
    v = v[:, order]
    v_inv = v.conj().transpose(-1, -2)
    return w, v_inv @ p.to(v.dtype), v_inv @ b.to(v.dtype)
