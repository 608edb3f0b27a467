"""S4's convolution kernel for a normal-plus-low-rank state matrix (Gu et al., ICLR 2022).

The SSM ``x' = A x + B u``, ``y = C x`` with ``A = diag(w) - P P^H`` (HiPPO-LegS, N-dim state
stored as N/2 conjugate pairs) is discretised with the bilinear transform and step ``dt``:

    A_bar = (I - dt/2 A)^-1 (I + dt/2 A),     B_bar = (I - dt/2 A)^-1 dt B,

and run as a convolution with the kernel ``k[j] = C_bar A_bar^j B_bar`` (eq. 4-5 of the S4
paper). The kernel's generating function at the ``L``-th roots of unity is a Cauchy sum over
the eigenvalues plus a rank-1 Woodbury correction (S4 paper, Lemma C.2-C.3), then an inverse
FFT gives ``k[0..L-1]``. For that the stored ``C`` is ``C~ = C_bar (I - A_bar^L)`` for an internal
length ``L`` (int64 buffer ``L``): the reference S4 (HazyResearch ``s4.py`` as vendored by
JusperLee/S4M) trains ``C~`` and keeps ``L`` in the state_dict, sets ``C~`` up on the first
call and doubles ``L`` in place (``C~ <- C~ (I + A_bar^L)``) when a longer input arrives. This
module keeps exactly that state, so reference weights load and behave identically.
"""

import contextlib
import math
import threading
from typing import Optional, Tuple

import torch
from torch import nn

from .hippo import legs_nplr

# Held while a kernel's state is set up and read (see NPLRKernel.forward); one for every
# kernel: generation is short next to the model's forward pass, and an RLock so that a
# kernel generated inside another's set-up (none today) cannot deadlock.
_STATE_LOCK = threading.RLock()

# Devices without the float64 / complex128 arithmetic the kernel is generated in.
NO_FLOAT64_DEVICES = ("mps",)


def check_kernel_device(device: torch.device) -> None:
    """Raise a one-line error for a device on which the kernel cannot be generated."""
    if torch.device(device).type in NO_FLOAT64_DEVICES:
        raise RuntimeError(
            f"The S4 kernel is computed in float64 / complex128, which the "
            f"'{torch.device(device).type}' device does not support: run models with an S4 "
            f"layer (S4M, the 's4' mixer) on the CPU or CUDA."
        )


# Complex entries per chunk of channels in the Cauchy sum: bounds the temporary
# (chunk, frequencies, state) array to about 16 MB in complex128.
_CAUCHY_CHUNK = 1_000_000


class NPLRKernel(nn.Module):
    """Kernel generator of ``channels`` independent SSMs with ``n_kernels`` output kernels each.

    Parameters (names and shapes of the reference ``SSKernelNPLR``; complex tensors are
    stored as real views with a trailing 2):
    ``C`` (n_kernels, H, N/2, 2) holds ``C~``; ``log_dt`` (H,); ``B``, ``P`` (1, H, N/2, 2);
    ``inv_w_real`` (H, N/2) with ``Re(w) = -exp(inv_w_real)``; ``w_imag`` (H, N/2); buffer
    ``L`` (int64 scalar, 0 until the first call). The SSM parameters carry
    ``_optim = {"weight_decay": 0.0}`` as in the reference.

    The kernel is computed in float64 / complex128 (reference arithmetic in float32 is within
    ~1e-7 of it) and returned in the parameters' dtype. During inference (autograd off) it is
    cached per length, so a U-block applied 16 times computes it once.

    Args:
        channels (int): ``H``, independent SSMs.
        state_size (int): ``N``, true state size (even).
        n_kernels (int): kernels per SSM (2 for a bidirectional layer: forward, backward).
        dt_min, dt_max (float): range of the log-uniform initial step ``dt``.

    ``forward(length) -> (n_kernels, H, length)``.
    """

    def __init__(
        self,
        channels: int,
        state_size: int = 16,
        n_kernels: int = 1,
        dt_min: float = 1e-3,
        dt_max: float = 0.1,
        real_tolerance: float = 1e-3,
    ):
        super().__init__()
        if state_size % 2:
            raise ValueError(f"state_size must be even (conjugate pairs), got {state_size}.")
        h, half = channels, state_size // 2
        self.channels, self.state_size, self.n_kernels = channels, state_size, n_kernels
        log_dt = torch.rand(h) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        w, p, b = legs_nplr(state_size)
        c = torch.randn(n_kernels, h, half, dtype=torch.cfloat)
        self.C = nn.Parameter(torch.view_as_real(c).clone())
        self.log_dt = nn.Parameter(log_dt)
        self.B = nn.Parameter(_real_view(b.expand(1, h, half)))
        self.P = nn.Parameter(_real_view(p.expand(1, h, half)))
        w_real = torch.clamp(w.real, max=-real_tolerance)
        self.inv_w_real = nn.Parameter(torch.log(-w_real).float().expand(h, half).clone())
        self.w_imag = nn.Parameter(w.imag.float().expand(h, half).clone())
        for param in (self.log_dt, self.B, self.P, self.inv_w_real, self.w_imag):
            param._optim = {"weight_decay": 0.0}
        self.register_buffer("L", torch.tensor(0))
        self._cache: Optional[Tuple[tuple, tuple, torch.Tensor]] = None

    # ------------------------------------------------------------------------ the SSM
    def _ssm(self):
        """``dt`` (H,), ``w`` (H, N/2), ``B``, ``P`` (H, N/2), ``C~`` (c, H, N/2) in complex128."""
        dt = torch.exp(self.log_dt.double())
        w = torch.complex(-torch.exp(self.inv_w_real.double()), self.w_imag.double())
        b = torch.view_as_complex(self.B.double())[0]
        p = torch.view_as_complex(self.P.double())[0]
        c = torch.view_as_complex(self.C.double())
        return dt, w, b, p, c

    def discrete_state_matrix(self) -> torch.Tensor:
        """``A_bar`` over the full N-dim state (conjugate pairs expanded), ``(H, N, N)`` complex128."""
        dt, w, _, p, _ = self._ssm()
        w_full, p_full = _conj_expand(w), _conj_expand(p)
        eye = torch.eye(self.state_size, dtype=w.dtype, device=w.device)
        a = torch.diag_embed(w_full) - p_full[:, :, None] * p_full.conj()[:, None, :]
        half_step = (dt / 2)[:, None, None] * a
        return torch.linalg.solve(eye - half_step, eye + half_step)

    def setup_length(self, length: int) -> None:
        """Make the internal length ``L >= length``, updating ``C~`` in place as the reference
        does: on the first call ``C~ = C_bar (I - A_bar^length)`` and ``L = length``; later,
        ``C~ <- C~ (I + A_bar^L)`` and ``L <- 2 L`` until ``L >= length``. A loaded
        state_dict whose ``L`` suffices is never modified.

        This is a one-time change of the module's state, not part of the computation: under
        ``torch.jit.trace`` it is done but not recorded, otherwise the traced graph would
        redo it on every call (compounding ``C~``) and differ from a second trace, which
        finds ``L`` already set.
        """
        internal = int(self.L)
        if length <= internal:
            return
        with torch.no_grad(), _not_traced():
            self._extend_state(internal, length)

    def _extend_state(self, internal: int, length: int) -> None:
        a_bar = self.discrete_state_matrix()
        c = _conj_expand(torch.view_as_complex(self.C.double()))  # (c, H, N) row vectors
        if internal == 0:
            c = c - torch.einsum("chn,hnm->chm", c, torch.linalg.matrix_power(a_bar, length))
            internal = length
        while internal < length:
            c = c + torch.einsum("chn,hnm->chm", c, torch.linalg.matrix_power(a_bar, internal))
            internal *= 2
        self.C.copy_(torch.view_as_real(c[..., : self.state_size // 2]).to(self.C.dtype))
        self.L.fill_(internal)

    # ------------------------------------------------------------------------ the kernel
    def forward(self, length: int) -> torch.Tensor:
        check_kernel_device(self.C.device)
        # Threads sharing the model (a service) must not extend the state (C~, L) at once,
        # nor read C~ while another extends it: the state would be compounded for good.
        with _STATE_LOCK:
            return self._kernel(length)

    def _kernel(self, length: int) -> torch.Tensor:
        self.setup_length(length)
        internal = int(self.L)
        key = None
        params = (self.C, self.log_dt, self.B, self.P, self.inv_w_real, self.w_imag)
        # The cache is keyed on the parameters themselves (identity: load_state_dict(...,
        # assign=True) and functional_call swap them), their storage (``p.data = ...``) and
        # their version counters (in-place updates); parameters created under inference_mode
        # (a model loaded inside it) have no counter, and are then never cached. Never while
        # tracing either: a cached kernel would enter the graph as a constant.
        if (
            not torch.is_grad_enabled()
            and not torch.jit.is_tracing()
            and not any(p.is_inference() for p in params)
        ):
            key = (length, internal, self.C.device, self.C.dtype)
            key += tuple((p._version, p.data_ptr()) for p in params)
            cached = self._cache
            if (
                cached is not None
                and cached[0] == key
                and all(a is b for a, b in zip(cached[1], params))
            ):
                return cached[2]
        kernel = self.generate(internal)[..., :length].to(self.C.dtype)
        if key is not None:
            self._cache = (key, params, kernel)
        return kernel

    def clear_cache(self) -> None:
        """Forget the cached inference kernel (e.g. to time its generation, or after editing
        a parameter through ``.data``, whose in-place changes no version counter records)."""
        self._cache = None

    def generate(self, internal: int) -> torch.Tensor:
        """``k[0..internal-1]`` for every kernel and SSM, ``(c, H, internal)`` float64.

        With ``omega_k = exp(-2 pi i k / L)`` and ``z_k = 2 (1 - omega_k) / (1 + omega_k)``:
        ``r[a, b] = dt sum_n v[a, b, n] / (z - dt w_n) + conj`` for ``v = [B; P] x [C~; P^*]``;
        ``k^(z) = (r[B, C] - r[B, Q] r[P, C] / (1 + r[P, Q])) 2 / (1 + omega)``; ``k = irfft(k^)``.
        Computed for a chunk of channels at a time, so memory stays near the output's size.
        """
        dt, w, b, p, c = self._ssm()
        n_kernels, h = c.shape[0], c.shape[1]
        freqs = torch.arange(internal // 2 + 1, dtype=torch.float64, device=w.device)
        omega = torch.exp(torch.complex(torch.zeros_like(freqs), -2 * math.pi * freqs / internal))
        z = 2 * (1 - omega) / (1 + omega)
        rows = torch.stack([b, p])  # (2, H, N/2)
        cols = torch.cat([c, p.conj()[None]])  # (c + 1, H, N/2)
        v = rows[:, None] * cols[None]  # (2, c + 1, H, N/2)
        # Conjugate pairs written out: the sum runs over the full N-dim state.
        v_full = _conj_expand(v).permute(2, 3, 0, 1).reshape(h, self.state_size, -1)
        w_full = _conj_expand(w * dt[:, None])
        chunk = max(1, _CAUCHY_CHUNK // (len(z) * self.state_size))
        kernels = []
        for i in range(0, h, chunk):
            cauchy = 1 / (z[None, :, None] - w_full[i : i + chunk, None, :])  # (h', K, N)
            r = (cauchy @ v_full[i : i + chunk]).reshape(cauchy.shape[0], -1, 2, n_kernels + 1)
            r = r.permute(2, 3, 0, 1) * dt[i : i + chunk, None]  # (2, c + 1, h', K)
            k_f = r[0, :-1] - r[0, -1:] * r[1, :-1] / (1 + r[1, -1:])
            kernels.append(torch.fft.irfft(k_f * 2 / (1 + omega), n=internal))
        return torch.cat(kernels, dim=1)

    def extra_repr(self) -> str:
        return (
            f"channels={self.channels}, state_size={self.state_size}, "
            f"n_kernels={self.n_kernels}, L={int(self.L)}"
        )


def _conj_expand(x: torch.Tensor) -> torch.Tensor:
    """Append the conjugate half on the last axis: ``(..., N/2) -> (..., N)``."""
    return torch.cat([x, x.conj()], dim=-1)


def _real_view(x: torch.Tensor) -> torch.Tensor:
    return torch.view_as_real(x.to(torch.cfloat).contiguous()).clone()


@contextlib.contextmanager
def _not_traced():
    """Run the block without recording it in the graph of an ongoing ``torch.jit.trace``."""
    state = torch._C._get_tracing_state()
    torch._C._set_tracing_state(None)
    try:
        yield
    finally:
        torch._C._set_tracing_state(state)
