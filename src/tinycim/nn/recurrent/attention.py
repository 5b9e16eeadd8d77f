"""`LinearMultiheadAttention`: drop-in ``nn.MultiheadAttention`` with its four projections as
``nn.Linear`` submodules (on tiles once converted); the activation x activation products stay digital."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from tinycim.errors import ConfigError
from tinycim.nn.recurrent.base import _check_dropout, _check_positive_int, _match_batch


def _float_mask(mask: torch.Tensor | None, name: str, dtype: torch.dtype) -> torch.Tensor | None:
    """torch's convention: a bool mask is True where attention is NOT allowed (-> -inf); a float
    mask is added to the scores as is."""
    if mask is None:
        return None
    if mask.dtype == torch.bool:
        return torch.zeros_like(mask, dtype=dtype).masked_fill_(mask, float("-inf"))
    if not torch.is_floating_point(mask):
        raise ValueError(
            f"LinearMultiheadAttention: only bool and floating types of {name} are supported, "
            f"got {mask.dtype}"
        )
    return mask.to(dtype)


class LinearMultiheadAttention(nn.Module):
    """Drop-in ``nn.MultiheadAttention`` with its projections as ``nn.Linear`` submodules.

    ``q_proj`` [E -> E], ``k_proj`` [kdim -> E], ``v_proj`` [vdim -> E], ``out_proj`` [E -> E] run on
    tiles once converted. Digital (activation x activation, nothing to store in NVM): scores =
    (q / sqrt(head_dim)) @ k^T + masks, softmax, dropout, and weights @ v.

    forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False) -> (attn_output, attn_weights or None), shapes as
    torch: query [L, B, E] ([B, L, E] batch_first, [L, E] unbatched), key/value [S, B, kdim/vdim];
    weights [B, L, S] averaged over heads, else [B, num_heads, L, S]. ``is_causal`` is only a hint
    that ``attn_mask`` is causal (as in torch, which then requires ``attn_mask``).
    """

    # torch's TransformerEncoder(Layer) fast paths read these and fall back to calling forward
    # when they are None / False, so a decomposed attention is never bypassed by a fused kernel.
    in_proj_weight = None
    in_proj_bias = None
    _qkv_same_embed_dim = False

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        owner = "LinearMultiheadAttention"
        self.embed_dim = _check_positive_int(embed_dim, "embed_dim", owner)
        self.num_heads = _check_positive_int(num_heads, "num_heads", owner)
        if embed_dim % num_heads:
            raise ConfigError(
                f"{owner}: embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})"
            )
        _check_dropout(dropout, owner)
        self.kdim = _check_positive_int(kdim, "kdim", owner) if kdim is not None else embed_dim
        self.vdim = _check_positive_int(vdim, "vdim", owner) if vdim is not None else embed_dim
        self.head_dim = embed_dim // num_heads
        self.dropout = float(dropout)
        self.batch_first = bool(batch_first)
        self.add_zero_attn = bool(add_zero_attn)
        kw = {"device": device, "dtype": dtype}
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **kw)
        self.k_proj = nn.Linear(self.kdim, embed_dim, bias=bias, **kw)
        self.v_proj = nn.Linear(self.vdim, embed_dim, bias=bias, **kw)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **kw)
        self.bias_k: nn.Parameter | None = None
        self.bias_v: nn.Parameter | None = None
        if add_bias_kv:
            self.bias_k = nn.Parameter(torch.empty(1, 1, embed_dim, **kw))
            self.bias_v = nn.Parameter(torch.empty(1, 1, embed_dim, **kw))
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """torch's initialisation: Xavier-uniform projections, zero biases, Xavier-normal bias_k/v."""
        for lin in (self.q_proj, self.k_proj, self.v_proj):
            nn.init.xavier_uniform_(lin.weight)
            if lin.bias is not None:
                nn.init.zeros_(lin.bias)
        if self.out_proj.bias is not None:
            nn.init.zeros_(self.out_proj.bias)
        if self.bias_k is not None and self.bias_v is not None:
            nn.init.xavier_normal_(self.bias_k)
            nn.init.xavier_normal_(self.bias_v)

    @classmethod
    def from_torch(cls, module: nn.MultiheadAttention) -> "LinearMultiheadAttention":
        """An exact copy of a torch ``nn.MultiheadAttention`` (packed or separate projections)."""
        if not isinstance(module, nn.MultiheadAttention):
            raise ConfigError(
                f"LinearMultiheadAttention.from_torch expects an nn.MultiheadAttention, "
                f"got {type(module).__name__}"
            )
        w = module.out_proj.weight
        new = cls(
            module.embed_dim,
            module.num_heads,
            dropout=module.dropout,
            bias=module.in_proj_bias is not None,
            add_bias_kv=module.bias_k is not None,
            add_zero_attn=module.add_zero_attn,
            kdim=module.kdim,
            vdim=module.vdim,
            batch_first=module.batch_first,
            device=w.device,
            dtype=w.dtype,
        )
        if module._qkv_same_embed_dim:
            weights = module.in_proj_weight.chunk(3)
        else:
            weights = (module.q_proj_weight, module.k_proj_weight, module.v_proj_weight)
        biases = module.in_proj_bias.chunk(3) if module.in_proj_bias is not None else (None,) * 3
        with torch.no_grad():
            for lin, wt, b in zip((new.q_proj, new.k_proj, new.v_proj), weights, biases):
                lin.weight.copy_(wt)
                if b is not None:
                    lin.bias.copy_(b)
            new.out_proj.weight.copy_(module.out_proj.weight)
            if module.out_proj.bias is not None:
                new.out_proj.bias.copy_(module.out_proj.bias)
            if new.bias_k is not None and new.bias_v is not None:
                new.bias_k.copy_(module.bias_k)  # type: ignore[arg-type]  # bias_k/bias_v exist when add_bias_kv
                new.bias_v.copy_(module.bias_v)  # type: ignore[arg-type]  # bias_k/bias_v exist when add_bias_kv
        return new.train(module.training)

    def to_torch(self) -> nn.MultiheadAttention:
        """The equivalent torch module (packed in_proj_weight when kdim = vdim = embed_dim)."""
        w = self.out_proj.weight
        out = nn.MultiheadAttention(
            self.embed_dim,
            self.num_heads,
            dropout=self.dropout,
            bias=self.q_proj.bias is not None,
            add_bias_kv=self.bias_k is not None,
            add_zero_attn=self.add_zero_attn,
            kdim=self.kdim,
            vdim=self.vdim,
            batch_first=self.batch_first,
            device=w.device,
            dtype=w.dtype,
        )
        projs = (self.q_proj, self.k_proj, self.v_proj)
        with torch.no_grad():
            if out._qkv_same_embed_dim:
                out.in_proj_weight.copy_(torch.cat([p.weight for p in projs]))
            else:
                for name, p in zip(("q_proj_weight", "k_proj_weight", "v_proj_weight"), projs):
                    getattr(out, name).copy_(p.weight)
            if out.in_proj_bias is not None:
                out.in_proj_bias.copy_(torch.cat([p.bias for p in projs]))  # type: ignore[misc]  # in_proj_bias exists when the projections have biases
                out.out_proj.bias.copy_(self.out_proj.bias)
            out.out_proj.weight.copy_(self.out_proj.weight)
            if out.bias_k is not None and out.bias_v is not None:
                out.bias_k.copy_(self.bias_k)  # type: ignore[arg-type]  # bias_k/bias_v exist when add_bias_kv
                out.bias_v.copy_(self.bias_v)  # type: ignore[arg-type]  # bias_k/bias_v exist when add_bias_kv
        return out.train(self.training)

    def extra_repr(self) -> str:
        s = f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"
        if self.kdim != self.embed_dim or self.vdim != self.embed_dim:
            s += f", kdim={self.kdim}, vdim={self.vdim}"
        return s + (", batch_first=True" if self.batch_first else "")

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        need_weights: bool = True,
        attn_mask: torch.Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        name = "LinearMultiheadAttention"
        if query.dim() not in (2, 3) or key.dim() != query.dim() or value.dim() != query.dim():
            raise ValueError(
                f"{name}: query, key and value must all be 2-D (unbatched) or 3-D, got shapes "
                f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}"
            )
        batched = query.dim() == 3
        if batched and not self.batch_first:
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        elif not batched:
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        # now [B, L, E], [B, S, kdim], [B, S, vdim]
        b0, tgt, src = query.shape[0], query.shape[1], key.shape[1]
        if key.shape[:2] != value.shape[:2]:
            raise ValueError(
                f"{name}: key and value differ in batch or length: {tuple(key.shape)} vs {tuple(value.shape)}"
            )
        if is_causal and attn_mask is None:
            raise RuntimeError(
                "Need attn_mask if specifying the is_causal hint (as torch's MultiheadAttention)"
            )
        kpm = _float_mask(key_padding_mask, "key_padding_mask", query.dtype)
        mask = _float_mask(attn_mask, "attn_mask", query.dtype)
        if mask is not None:
            expected = (tgt, src) if mask.dim() == 2 else (b0 * self.num_heads, tgt, src)
            if mask.dim() not in (2, 3) or tuple(mask.shape) != expected:
                raise ValueError(
                    f"{name}: attn_mask has shape {tuple(mask.shape)}, expected {(tgt, src)} or "
                    f"{(b0 * self.num_heads, tgt, src)}"
                )
        if kpm is not None and tuple(kpm.shape) != (b0, src):
            raise ValueError(f"{name}: key_padding_mask has shape {tuple(kpm.shape)}, expected {(b0, src)}")

        q, k, v = self.q_proj(query), self.k_proj(key), self.v_proj(value)  # on tiles: [B', L|S, E]
        batch, heads, hd = q.shape[0], self.num_heads, self.head_dim
        k, v = _match_batch(k, batch, 0, "key"), _match_batch(v, batch, 0, "value")
        if self.bias_k is not None and self.bias_v is not None:
            k = torch.cat([k, self.bias_k.expand(batch, 1, -1)], dim=1)
            v = torch.cat([v, self.bias_v.expand(batch, 1, -1)], dim=1)
            mask = None if mask is None else F.pad(mask, (0, 1))
            kpm = None if kpm is None else F.pad(kpm, (0, 1))
        q = q.view(batch, tgt, heads, hd).transpose(1, 2)  # [B', H, L, hd]
        k = k.view(batch, k.shape[1], heads, hd).transpose(1, 2)  # [B', H, S, hd]
        v = v.view(batch, v.shape[1], heads, hd).transpose(1, 2)
        if self.add_zero_attn:
            zeros = q.new_zeros(batch, heads, 1, hd)
            k, v = torch.cat([k, zeros], dim=2), torch.cat([v, zeros], dim=2)
            mask = None if mask is None else F.pad(mask, (0, 1))
            kpm = None if kpm is None else F.pad(kpm, (0, 1))
        s = k.shape[2]
        if mask is not None:
            mask = (
                mask[None, None]
                if mask.dim() == 2
                else _match_batch(mask.view(b0, heads, tgt, s), batch, 0, "attn_mask")
            )
        if kpm is not None:
            kpm = _match_batch(kpm, batch, 0, "key_padding_mask").view(batch, 1, 1, s)
            mask = kpm if mask is None else mask + kpm
        # digital: activation x activation products and the softmax
        scores = (q * math.sqrt(1.0 / hd)) @ k.transpose(-2, -1)  # [B', H, L, S]
        if mask is not None:
            scores = scores + mask
        weights = torch.softmax(scores, dim=-1)
        if self.dropout > 0 and self.training:
            weights = F.dropout(weights, self.dropout, training=True)
        out = (weights @ v).transpose(1, 2).reshape(batch, tgt, self.embed_dim)  # [B', L, E]
        out = self.out_proj(out)  # on tiles
        if not batched:
            out = out.squeeze(0)
        elif not self.batch_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = weights.mean(dim=1)
        return out, (weights if batched else weights.squeeze(0))
