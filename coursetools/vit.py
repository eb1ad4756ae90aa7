"""The book's Vision Transformer (Dosovitskiy et al., 2021), built on
:class:`coursetools.nn.Block`.

Parameter names follow timm's ``VisionTransformer``, so
``load_state_dict(timm_model.state_dict(), strict=True)`` works for the same
configuration (verified in ``tests/test_vit_model.py``).  Later chapters (TNT, Swin)
import :class:`VisionTransformer` to train a ViT baseline.

Shapes: images (B, C, H, W); patch tokens (B, N, D) with N = (H / P) * (W / P); tokens
with the class token (B, 1 + N, D); logits (B, num_classes).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from coursetools.nn import Block

__all__ = ["patchify", "PatchEmbed", "VisionTransformer", "attention_rollout"]


def _check_image(
    images: torch.Tensor,
    patch_size: int,
    in_chans: int | None = None,
    img_size: tuple[int, int] | None = None,
) -> None:
    """Raise a ValueError that says what is wrong with ``images`` (B, C, H, W)."""
    if images.dim() != 4:
        raise ValueError(
            f"expected images of shape (B, C, H, W), got shape {tuple(images.shape)}"
        )
    _, channels, height, width = images.shape
    if in_chans is not None and channels != in_chans:
        raise ValueError(f"expected {in_chans} input channel(s), got {channels}")
    if height % patch_size or width % patch_size:
        raise ValueError(
            f"image size {height}x{width} is not divisible by the patch size "
            f"{patch_size}"
        )
    if img_size is not None and (height, width) != img_size:
        raise ValueError(
            f"this model was built for {img_size[0]}x{img_size[1]} images "
            f"(its position embedding has one entry per patch), got {height}x{width}"
        )


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut images into non-overlapping P x P patches and flatten each: (B, C, H, W)
    -> (B, N, P*P*C).

    Patches are numbered row by row (raster order, N = (H/P) * (W/P)); each patch is
    flattened as (row, column, channel), i.e. "P x P x C" as in the ViT paper.
    """
    _check_image(images, patch_size)
    batch, channels, height, width = images.shape
    rows, cols = height // patch_size, width // patch_size
    x = images.reshape(batch, channels, rows, patch_size, cols, patch_size)
    x = x.permute(0, 2, 4, 3, 5, 1)  # (B, rows, cols, P, P, C)
    return x.reshape(batch, rows * cols, patch_size * patch_size * channels)


class PatchEmbed(nn.Module):
    """Patch embedding as one strided convolution: (B, C, H, W) -> (B, N, D).

    A ``Conv2d`` with kernel size = stride = P applies the same linear map to every P x
    P patch; its weight (D, C, P, P) is the weight of that linear map.  Key names as in
    timm (``proj``).
    """

    def __init__(
        self,
        img_size: int = 16,
        patch_size: int = 4,
        in_chans: int = 1,
        embed_dim: int = 64,
        device=None,
        dtype=None,
    ):
        super().__init__()
        if img_size % patch_size:
            raise ValueError(
                f"img_size={img_size} is not divisible by patch_size={patch_size}"
            )
        self.img_size, self.patch_size, self.in_chans = (
            (img_size, img_size),
            patch_size,
            in_chans,
        )
        self.grid_size = (img_size // patch_size, img_size // patch_size)
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.proj = nn.Conv2d(
            in_chans,
            embed_dim,
            kernel_size=patch_size,
            stride=patch_size,
            device=device,
            dtype=dtype,
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        _check_image(images, self.patch_size, self.in_chans, self.img_size)
        x = self.proj(images)  # (B, D, H/P, W/P): one D-vector per patch
        return x.flatten(2).transpose(1, 2)  # (B, N, D), patches in raster order


class VisionTransformer(nn.Module):
    """ViT: patch embedding, class token, learned position embedding, pre-norm
    encoder, linear head.

    ``global_pool="token"`` classifies from the class token after the final LayerNorm
    (``norm``); ``global_pool="avg"`` averages the patch tokens and normalises the
    average (``fc_norm``), as timm does. (B, C, H, W) -> logits (B, num_classes).
    """

    def __init__(
        self,
        img_size: int = 16,
        patch_size: int = 4,
        in_chans: int = 1,
        num_classes: int = 10,
        embed_dim: int = 64,
        depth: int = 2,
        num_heads: int = 2,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        global_pool: str = "token",
        device=None,
        dtype=None,
    ):
        super().__init__()
        if global_pool not in ("token", "avg"):
            raise ValueError(
                f"global_pool must be 'token' or 'avg', got {global_pool!r}"
            )
        factory = dict(device=device, dtype=dtype)
        eps = 1e-6
        self.global_pool, self.num_classes, self.embed_dim = (
            global_pool,
            num_classes,
            embed_dim,
        )
        self.patch_embed = PatchEmbed(
            img_size, patch_size, in_chans, embed_dim, **factory
        )
        num_patches = self.patch_embed.num_patches
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim, **factory))
        self.pos_embed = nn.Parameter(
            torch.zeros(1, 1 + num_patches, embed_dim, **factory)
        )  # class token too
        self.blocks = nn.Sequential(
            *[
                Block(embed_dim, num_heads, mlp_ratio, qkv_bias, eps=eps, **factory)
                for _ in range(depth)
            ]
        )
        use_fc_norm = global_pool == "avg"
        self.norm = (
            nn.Identity()
            if use_fc_norm
            else nn.LayerNorm(embed_dim, eps=eps, **factory)
        )
        self.fc_norm = (
            nn.LayerNorm(embed_dim, eps=eps, **factory)
            if use_fc_norm
            else nn.Identity()
        )
        self.head = (
            nn.Linear(embed_dim, num_classes, **factory)
            if num_classes > 0
            else nn.Identity()
        )
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """timm's default initialisation: truncated normal (std 0.02) for the position
        embedding and linear weights, zero biases, a near-zero class token; the
        convolution keeps PyTorch's default."""
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def _pos_embed(self, x: torch.Tensor) -> torch.Tensor:
        """Prepend the class token and add the position embedding: (B, N, D) ->
        (B, 1 + N, D)."""
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        return torch.cat([cls, x], dim=1) + self.pos_embed

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> tokens (B, 1 + N, D) after the encoder and the
        final ``norm``."""
        x = self._pos_embed(self.patch_embed(images))
        return self.norm(self.blocks(x))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        """Tokens (B, 1 + N, D) -> logits (B, num_classes)."""
        x = x[:, 0] if self.global_pool == "token" else x[:, 1:].mean(dim=1)
        return self.head(self.fc_norm(x))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(images))

    def forward_with_attention(
        self, images: torch.Tensor
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits (B, num_classes) and each block's attention weights, a list of (B,
        heads, 1 + N, 1 + N).

        The same computation as :meth:`forward` (``Block.forward`` written out) while
        keeping the weights.
        """
        x = self._pos_embed(self.patch_embed(images))
        weights = []
        for block in self.blocks:
            out, w = block.attn(block.norm1(x), return_weights=True)
            x = x + out
            x = x + block.mlp(block.norm2(x))
            weights.append(w)
        return self.forward_head(self.norm(x)), weights


def attention_rollout(
    weights: list[torch.Tensor], residual: bool = True
) -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema, 2020): how much each output token draws on
    each input token.

    Each layer's weights (B, heads, T, T) are averaged over heads; with ``residual`` the
    skip connection is accounted for as 0.5 * A + 0.5 * I (rows re-normalised); the
    layers are then multiplied, last layer on the left.  Returns (B, T, T); row 0 is the
    class token's "attention" to every input token.
    """
    if not weights:
        raise ValueError("attention_rollout needs the weights of at least one layer")
    rollout = None
    for w in weights:
        a = w.mean(dim=1)  # (B, T, T)
        if residual:
            eye = torch.eye(a.shape[-1], device=a.device, dtype=a.dtype)
            a = 0.5 * a + 0.5 * eye
            a = a / a.sum(dim=-1, keepdim=True)
        rollout = a if rollout is None else a @ rollout
    return rollout
