"""Focused linear attention (FLatten, Han et al., ICCV 2023) as FLASepformer uses it."""

import torch
import torch.nn.functional as F
from torch import nn

# Constants of the reference (ModelScope FLASepformer port, linear_attn.py).
RELU_EPS = 1e-6
FOCUS_EPS = 1e-8
NORMALISER_EPS = 1e-6


class FocusedLinearAttention(nn.Module):
    """Kernelised attention with the focusing map, O(N) in time and memory.

    With ``phi(u) = f_p((ReLU(u) + 1e-6) / softplus(s))`` and the focusing map
    ``f_p(u) = u^p / ||u^p|| * ||u||`` (norms over all ``C`` channels, before the heads are
    split; ``p`` = ``focusing_factor``), per head (``d = C / n_heads`` contiguous channels):

        o_i = (phi(q_i) (1/n) sum_j phi(k_j)^T v_j) / (phi(q_i) . mean_j phi(k_j) + 1e-6)
              + DWC(v)_i,                                      y = W_proj o,

    where ``DWC`` is one depthwise convolution over tokens with ``d`` channels shared by all
    heads. Causal: the sums run over ``j <= i`` and the means divide by ``i + 1`` (computed in
    chunks: exact within a chunk, prefix sums across chunks), and ``DWC`` is causal.

    Args:
        dim (int): attention width ``C`` (divisible by ``n_heads``).
        input_dim (int, optional): input/output width (default ``dim``).
        n_heads (int): heads.
        kernel_size (int): odd ``DWC`` kernel (``<= 0``: no ``DWC`` term).
        focusing_factor (float): ``p``.
        causal (bool): attend to past tokens only.
        dropout (float): dropout on the output projection.
        chunk_size (int): tokens per chunk of the causal computation (no effect on results).

    Parameters (names of the reference): ``q`` (Linear ``Cin -> C``), ``kv`` (``Cin -> 2C``;
    ``k`` = first ``C`` outputs), ``proj`` (``C -> Cin``), ``dwc``, ``scale`` (1, 1, C) = 0.

    Shape: ``(batch, tokens, input_dim)`` -> ``(batch, tokens, input_dim)``.
    """

    def __init__(
        self,
        dim: int,
        *,
        input_dim=None,
        n_heads: int = 8,
        kernel_size: int = 5,
        focusing_factor: float = 3,
        causal: bool = False,
        dropout: float = 0.0,
        chunk_size: int = 64,
    ):
        super().__init__()
        if dim % n_heads:
            raise ValueError(f"dim ({dim}) must be divisible by n_heads ({n_heads}).")
        if kernel_size > 0 and kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}.")
        input_dim = input_dim or dim
        self.dim, self.input_dim, self.n_heads = dim, input_dim, n_heads
        self.kernel_size, self.focusing_factor = kernel_size, focusing_factor
        self.causal, self.chunk_size = causal, chunk_size
        head_dim = dim // n_heads
        self.q = nn.Linear(input_dim, dim)
        self.kv = nn.Linear(input_dim, 2 * dim)
        self.proj = nn.Linear(dim, input_dim)
        self.proj_drop = nn.Dropout(dropout)
        self.dwc = (
            nn.Conv1d(head_dim, head_dim, kernel_size, groups=head_dim) if kernel_size > 0 else None
        )
        self.scale = nn.Parameter(torch.zeros(1, 1, dim))

    def feature_map(self, u: torch.Tensor) -> torch.Tensor:
        """``phi``: ReLU kernel, learned scale, then the focusing map (over all channels).

        ``u`` is a fresh projection: without autograd it is transformed in place (one
        ``(N, C)`` buffer instead of six on long inputs). A traced graph always takes the
        out-of-place form: it must not depend on the autograd mode at tracing time (the
        trace check re-traces under ``no_grad``) and may be run with autograd.
        """
        scale = F.softplus(self.scale)
        differentiable = torch.is_grad_enabled() and (u.requires_grad or scale.requires_grad)
        if differentiable or torch.jit.is_tracing():
            u = (torch.relu(u) + RELU_EPS) / scale
            norm = u.norm(dim=-1, keepdim=True)
            u = u**self.focusing_factor
            return u / (u.norm(dim=-1, keepdim=True) + FOCUS_EPS) * norm
        u = u.relu_().add_(RELU_EPS).div_(scale)
        norm = u.norm(dim=-1, keepdim=True)
        u = u.pow_(self.focusing_factor)
        return u.mul_(norm.div_(u.norm(dim=-1, keepdim=True).add_(FOCUS_EPS)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, n_heads = x.shape[0], self.n_heads
        # float16 maps and attends in float32: there FOCUS_EPS rounds to 0 (0 / 0 for a
        # ReLU-zeroed row) and the normaliser 1 / (q . mean(k) + 1e-6) passes 65504 (Inf).
        # (A Python branch: float32 graphs trace and export without casts.)
        half = x.dtype == torch.float16
        q, kv = self.q(x), self.kv(x)
        if half:
            q, kv = q.float(), kv.float()
        q = self.feature_map(q)
        k, v = kv.chunk(2, dim=-1)
        k = self.feature_map(k)
        # (batch, N, C) -> (batch, heads, N, d); -1 keeps the token axis dynamic for export.
        q, k, v = (
            t.reshape(batch, -1, n_heads, self.dim // n_heads).transpose(1, 2) for t in (q, k, v)
        )
        o = (
            causal_linear_attention(q, k, v, self.chunk_size)
            if self.causal
            else linear_attention(q, k, v)
        )
        o = o.transpose(1, 2).reshape(batch, -1, self.dim)
        if half:
            o, v = o.half(), v.half()
        if self.dwc is not None:
            o = o + self._dwc(v)
        return self.proj_drop(self.proj(o))

    def _dwc(self, v: torch.Tensor) -> torch.Tensor:
        """Depthwise conv over tokens of every head's values (filters shared by the heads)."""
        batch, n_heads, _, head_dim = v.shape
        seq = v.reshape(batch * n_heads, -1, head_dim).transpose(1, 2)
        pad = (self.kernel_size - 1, 0) if self.causal else (self.kernel_size // 2,) * 2
        out = self.dwc(F.pad(seq, pad))  # (batch * heads, d, N)
        return out.reshape(batch, self.dim, -1).transpose(1, 2)

    def macs(self, tokens: int) -> int:
        """Multiply-accumulates of one call on ``tokens`` tokens (batch 1)."""
        c, cin, h = self.dim, self.input_dim, self.n_heads
        d = c // h
        projections = tokens * (cin * c + cin * 2 * c + c * cin) + tokens * (3 * c + cin)
        features = 2 * 6 * tokens * c  # ReLU, scale, two norms, power, rescale; q and k
        state = 2 * tokens * h * d * d + 2 * tokens * c  # k^T v, q KV, normaliser
        if self.causal:
            state += 2 * tokens * min(self.chunk_size, tokens) * c  # exact part within chunks
        dwc = tokens * c * max(self.kernel_size, 0)
        return int(projections + features + state + dwc)


def linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Non-causal kernelised attention with means, ``(batch, heads, N, d)`` each.

    Arithmetic in the reference's order: ``z = 1 / (q . mean(k) + eps)``,
    ``KV = (k^T n^-1/2) (v n^-1/2)``, ``o = (q KV) z``.
    """
    n = k.shape[-2]
    z = 1 / (q @ k.mean(dim=-2, keepdim=True).transpose(-2, -1) + NORMALISER_EPS)
    kv = (k.transpose(-2, -1) * n**-0.5) @ (v * n**-0.5)
    return (q @ kv) * z


def causal_linear_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, chunk_size: int = 64
) -> torch.Tensor:
    """Causal kernelised attention with prefix means, ``(batch, heads, N, d)`` each:

        o_i = (q_i S_i / (i+1)) / (q_i . K_i / (i+1) + eps),  S_i = sum_{j<=i} k_j^T v_j,
        K_i = sum_{j<=i} k_j.

    Chunks of ``chunk_size`` tokens: within a chunk the masked quadratic form, across chunks
    the running ``(d x d)`` state; memory O(N d + N / chunk d^2).
    """
    batch, heads, n, d = q.shape
    pad = (chunk_size - n % chunk_size) % chunk_size
    q, k, v = (F.pad(t, (0, 0, 0, pad)) for t in (q, k, v))
    q, k, v = (t.reshape(batch, heads, -1, chunk_size, d) for t in (q, k, v))
    # State of all previous chunks (exclusive prefix sums over chunks).
    kv_chunk = k.transpose(-2, -1) @ v  # (batch, heads, chunks, d, d)
    kv_prev = F.pad(torch.cumsum(kv_chunk, dim=2), (0, 0, 0, 0, 1, 0))[:, :, :-1]
    k_prev = F.pad(torch.cumsum(k.sum(dim=-2), dim=2), (0, 0, 1, 0))[:, :, :-1]
    scores = (q @ k.transpose(-2, -1)).tril()  # (batch, heads, chunks, c, c)
    num = scores @ v + q @ kv_prev
    den = scores.sum(dim=-1, keepdim=True) + q @ k_prev.unsqueeze(-1)
    count = torch.arange(1, q.shape[2] * chunk_size + 1, device=q.device, dtype=q.dtype)
    count = count.reshape(q.shape[2], chunk_size, 1)
    out = (num / count) / (den / count + NORMALISER_EPS)
    return out.reshape(batch, heads, -1, d)[:, :, :n]
