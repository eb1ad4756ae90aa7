"""The book's Swin Transformer (Liu et al., 2021, "Swin Transformer: Hierarchical Vision
Transformer using Shifted Windows"), one small module per idea.

Parameter and buffer names follow timm's ``SwinTransformer``, so
``SwinTransformer(...).load_state_dict(timm_model.state_dict(), strict=True)`` works for
the same configuration (verified, logits included, in ``tests/test_swin_model.py``).

Layout: Swin keeps feature maps channels-last, (B, H, W, C), from the patch embedding to
the final norm (timm calls it NHWC).  Inside a window the M_h x M_w tokens are flattened
row by row: N = M_h * M_w tokens per window.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from coursetools.mlp import Mlp

__all__ = [
    "to_pair",
    "window_partition",
    "window_reverse",
    "relative_position_index",
    "region_labels",
    "shifted_window_mask",
    "window_and_shift",
    "WindowAttention",
    "SwinBlock",
    "PatchMerging",
    "PatchEmbed",
    "SwinStage",
    "ClassifierHead",
    "SwinTransformer",
    "dense_window_bias",
    "MASK_VALUE",
]

MASK_VALUE = -100.0
"""Added to the scores of forbidden (query, key) pairs in shifted windows.  The original
code and timm use -100, not
-inf: e^-100 is about 4e-44, zero for any practical purpose as long as the scores stay
well below 100 apart."""


def to_pair(value: int | tuple[int, int]) -> tuple[int, int]:
    """``7 -> (7, 7)``; a pair is returned as a tuple of two ints."""
    if isinstance(value, int):
        return value, value
    height, width = value
    return int(height), int(width)


# --------------------------------------------------------------------------- windows


def window_partition(
    x: torch.Tensor, window_size: int | tuple[int, int]
) -> torch.Tensor:
    """Cut a feature map into non-overlapping windows: (B, H, W, C) -> (B *
    nW, M_h, M_w, C).

    nW = (H / M_h) * (W / M_w).  Windows are numbered image by image, and inside an
    image row by row, so window ``b * nW + w`` is window ``w`` of image ``b``.
    """
    win_h, win_w = to_pair(window_size)
    if x.dim() != 4:
        raise ValueError(
            f"window_partition expects (B, H, W, C), got shape {tuple(x.shape)}"
        )
    batch, height, width, channels = x.shape
    if height % win_h or width % win_w:
        raise ValueError(
            f"a {height}x{width} feature map cannot be cut into {win_h}x{win_w} "
            f"windows: pad it to a multiple of the window size first"
        )
    x = x.view(batch, height // win_h, win_h, width // win_w, win_w, channels)
    # contiguous: at batch 1 with one row of windows, reshape alone would return a
    # strided view that callers
    # cannot .view() into (B * nW, N, C)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, win_h, win_w, channels)


def window_reverse(
    windows: torch.Tensor, window_size: int | tuple[int, int], height: int, width: int
) -> torch.Tensor:
    """Glue windows back into feature maps, the inverse of :func:`window_partition`:
    (B * nW, M_h, M_w, C) -> (B, H, W, C)."""
    win_h, win_w = to_pair(window_size)
    if height % win_h or width % win_w:
        raise ValueError(
            f"a {height}x{width} feature map is not made of {win_h}x{win_w} windows"
        )
    channels = windows.shape[-1]
    x = windows.reshape(-1, height // win_h, width // win_w, win_h, win_w, channels)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, height, width, channels)


# --------------------------------------------------------------------------- relative
# positions


def relative_position_index(win_h: int, win_w: int, device=None) -> torch.Tensor:
    """Which entry of the bias table each (query, key) pair of a window reads: (N, N)
    long, N = win_h * win_w.

    For query i at (y_i, x_i) and key j at (y_j, x_j) the offset (dy, dx) = (y_i - y_j,
    x_i - x_j) lies in [-(win_h - 1), win_h - 1] x [-(win_w - 1), win_w - 1]; shifted to
    start at 0 it is a row-major index into a (2 win_h - 1) x (2 win_w - 1) grid of
    offsets: (dy + win_h - 1) * (2 win_w - 1) + (dx + win_w - 1).
    """
    ys, xs = torch.meshgrid(
        torch.arange(win_h, device=device),
        torch.arange(win_w, device=device),
        indexing="ij",
    )
    coords = torch.stack(
        [ys.flatten(), xs.flatten()]
    )  # (2, N): row and column of each token
    offsets = coords[:, :, None] - coords[:, None, :]  # (2, N, N): query minus key
    dy, dx = offsets[0] + (win_h - 1), offsets[1] + (win_w - 1)  # now in [0, 2 M - 2]
    return dy * (2 * win_w - 1) + dx


# --------------------------------------------------------------------------- shifted
# windows


def region_labels(
    height: int,
    width: int,
    window_size: int | tuple[int, int],
    shift_size: int | tuple[int, int],
    device=None,
) -> torch.Tensor:
    """Label the *cyclically shifted* feature map with the 9 regions of the shift:
    (H, W) long, values 0..8.

    After ``torch.roll(x, (-s_h, -s_w))`` the last s rows (columns) hold tokens that
    wrapped around from the top (left).  Rows split into [0, H - M), [H - M, H - s),
    [H - s, H), columns likewise; two tokens in one window may attend to each other only
    if they carry the same label.
    """
    (win_h, win_w), (shift_h, shift_w) = to_pair(window_size), to_pair(shift_size)
    labels = torch.zeros(height, width, dtype=torch.long, device=device)
    row_slices = (slice(0, -win_h), slice(-win_h, -shift_h), slice(-shift_h, None))
    col_slices = (slice(0, -win_w), slice(-win_w, -shift_w), slice(-shift_w, None))
    for r, rows in enumerate(row_slices):
        for c, cols in enumerate(col_slices):
            labels[rows, cols] = 3 * r + c
    return labels


def shifted_window_mask(
    height: int,
    width: int,
    window_size: int | tuple[int, int],
    shift_size: int | tuple[int, int],
    device=None,
    dtype=None,
) -> torch.Tensor:
    """Additive attention mask for shifted windows: (nW, N, N), 0 where query and key
    come from the same region, :data:`MASK_VALUE` (-100) where they do not.  ``height``
    and ``width`` are those of the (padded) shifted map."""
    win_h, win_w = to_pair(window_size)
    labels = region_labels(height, width, window_size, shift_size, device=device)
    windows = window_partition(labels[None, :, :, None], (win_h, win_w)).reshape(
        -1, win_h * win_w
    )  # (nW, N)
    different = windows[:, :, None] != windows[:, None, :]  # (nW, N, N)
    mask = torch.zeros(
        different.shape, device=device, dtype=dtype or torch.get_default_dtype()
    )
    return mask.masked_fill(different, MASK_VALUE)


def window_and_shift(
    resolution: tuple[int, int],
    window_size: int | tuple[int, int],
    shift_size: int | tuple[int, int],
) -> tuple[tuple[int, int], tuple[int, int]]:
    """timm's rule for small feature maps: along each axis where the map is no larger
    than the window, the window shrinks to the map and the shift becomes 0 (one window
    covers everything, there is nothing to shift)."""
    window = tuple(min(r, w) for r, w in zip(resolution, to_pair(window_size)))
    shift = tuple(
        0 if r <= w else s for r, w, s in zip(resolution, window, to_pair(shift_size))
    )
    return window, shift


# --------------------------------------------------------------------------- attention
# inside windows


class WindowAttention(nn.Module):
    """Multi-head self-attention inside each window, with a learned relative position
    bias: (B * nW, N, C) -> (B * nW, N, C).

    The bias table holds one number per head for each of the (2 M_h - 1)(2 M_w - 1)
    possible offsets between two tokens of a window; ``relative_position_index`` (a
    buffer computed from the window size, not learned and not saved in the state dict)
    says which entry each (query, key) pair reads.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: int | tuple[int, int],
        qkv_bias: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim={dim} must be divisible by num_heads={num_heads}")
        factory = dict(device=device, dtype=dtype)
        self.window_size = to_pair(window_size)
        win_h, win_w = self.window_size
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.scale = self.head_dim**-0.5
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * win_h - 1) * (2 * win_w - 1), num_heads, **factory)
        )
        self.register_buffer(
            "relative_position_index",
            relative_position_index(win_h, win_w, device=device),
            persistent=False,
        )
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias, **factory)
        self.proj = nn.Linear(dim, dim, **factory)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def relative_position_bias(self) -> torch.Tensor:
        """Gather the table into one (N, N) bias matrix per head: (num_heads, N, N)."""
        n = self.relative_position_index.shape[0]
        bias = self.relative_position_bias_table[
            self.relative_position_index.view(-1)
        ]  # (N * N, heads)
        return bias.view(n, n, self.num_heads).permute(2, 0, 1)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
        return_weights: bool = False,
    ):
        """x: (B * nW, N, C); mask: None or (nW, N, N), added to the scores of every
        image's windows."""
        batch_windows, n, channels = x.shape
        qkv = (
            self.qkv(x)
            .reshape(batch_windows, n, 3, self.num_heads, self.head_dim)
            .permute(2, 0, 3, 1, 4)
        )
        q, k, v = qkv.unbind(0)  # each (B * nW, heads, N, head_dim)
        scores = (q * self.scale) @ k.transpose(-2, -1)  # (B * nW, heads, N, N)
        scores = scores + self.relative_position_bias()  # same bias in every window
        if mask is not None:
            num_windows = mask.shape[0]
            scores = (
                scores.view(-1, num_windows, self.num_heads, n, n) + mask[None, :, None]
            )
            scores = scores.view(-1, self.num_heads, n, n)
        weights = scores.softmax(dim=-1)
        out = self.proj(
            (weights @ v).transpose(1, 2).reshape(batch_windows, n, channels)
        )
        return (out, weights) if return_weights else out


class SwinBlock(nn.Module):
    """A Swin Transformer block: (B, H, W, C) -> (B, H, W, C).

    x + W-MSA(norm1(x)) (SW-MSA when ``shift_size`` > 0), then x + MLP(norm2(x)).  For
    SW-MSA the map is rolled by (-s, -s), attended window by window with
    :func:`shifted_window_mask`, and rolled back by (+s, +s).  A map whose size is not a
    multiple of the window is zero-padded at the bottom and right, and cropped
    afterwards (as in timm).
    """

    def __init__(
        self,
        dim: int,
        input_resolution: tuple[int, int],
        num_heads: int,
        window_size: int | tuple[int, int] = 7,
        shift_size: int | tuple[int, int] = 0,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        factory = dict(device=device, dtype=dtype)
        self.input_resolution = to_pair(input_resolution)
        self.window_size, self.shift_size = window_and_shift(
            self.input_resolution, window_size, shift_size
        )
        self.norm1 = nn.LayerNorm(dim, **factory)
        self.attn = WindowAttention(
            dim, num_heads, self.window_size, qkv_bias, **factory
        )
        self.norm2 = nn.LayerNorm(dim, **factory)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), **factory)
        mask = None
        if any(self.shift_size):
            padded = [
                -(-r // w) * w for r, w in zip(self.input_resolution, self.window_size)
            ]  # round up
            mask = shifted_window_mask(
                *padded,
                self.window_size,
                self.shift_size,
                device=device,
                dtype=self.norm1.weight.dtype,
            )
        self.register_buffer("attn_mask", mask, persistent=False)

    def _attn(self, x: torch.Tensor) -> torch.Tensor:
        """Windowed attention on (B, H, W, C): shift, pad, partition, attend, reverse,
        crop, shift back."""
        batch, height, width, channels = x.shape
        (win_h, win_w), (shift_h, shift_w) = self.window_size, self.shift_size
        if shift_h or shift_w:
            x = torch.roll(x, shifts=(-shift_h, -shift_w), dims=(1, 2))
        pad_h, pad_w = -height % win_h, -width % win_w
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))  # zeros at the bottom and right
        windows = window_partition(x, self.window_size).reshape(
            -1, win_h * win_w, channels
        )
        windows = self.attn(windows, mask=self.attn_mask)
        x = window_reverse(
            windows.reshape(-1, win_h, win_w, channels),
            self.window_size,
            height + pad_h,
            width + pad_w,
        )[:, :height, :width]
        if shift_h or shift_w:
            x = torch.roll(x, shifts=(shift_h, shift_w), dims=(1, 2))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or tuple(x.shape[1:3]) != self.input_resolution:
            raise ValueError(
                f"this block was built for (B, {self.input_resolution[0]}, "
                f"{self.input_resolution[1]}, C) feature maps (its window and mask "
                f"depend on the size), got {tuple(x.shape)}"
            )
        x = x + self._attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


# --------------------------------------------------------------------------- hierarchy


class PatchMerging(nn.Module):
    """Halve the resolution, double the channels: (B, H, W, C) -> (B, H/2, W/2, 2C).

    Each 2 x 2 neighbourhood is concatenated in the order x0 = (even row, even col), x1
    = (odd row, even col), x2 = (even row, odd col), x3 = (odd row, odd col),
    normalised, and mapped 4C -> 2C by a linear layer without bias.  Odd sizes are
    zero-padded first (as in timm).
    """

    def __init__(self, dim: int, out_dim: int | None = None, device=None, dtype=None):
        super().__init__()
        factory = dict(device=device, dtype=dtype)
        self.out_dim = out_dim or 2 * dim
        self.norm = nn.LayerNorm(4 * dim, **factory)
        self.reduction = nn.Linear(4 * dim, self.out_dim, bias=False, **factory)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, height, width, channels = x.shape
        x = F.pad(x, (0, 0, 0, width % 2, 0, height % 2))
        x0, x1 = x[:, 0::2, 0::2], x[:, 1::2, 0::2]
        x2, x3 = x[:, 0::2, 1::2], x[:, 1::2, 1::2]
        return self.reduction(self.norm(torch.cat([x0, x1, x2, x3], dim=-1)))


class PatchEmbed(nn.Module):
    """Non-overlapping P x P patches to C-vectors, channels last, then LayerNorm: (B,
    in_chans, H, W) -> (B, H/P, W/P, C)."""

    def __init__(
        self,
        img_size: int | tuple[int, int],
        patch_size: int,
        in_chans: int,
        embed_dim: int,
        device=None,
        dtype=None,
    ):
        super().__init__()
        self.img_size, self.patch_size = to_pair(img_size), patch_size
        if self.img_size[0] % patch_size or self.img_size[1] % patch_size:
            raise ValueError(
                f"img_size={self.img_size} is not divisible by patch_size={patch_size}"
            )
        self.grid_size = (
            self.img_size[0] // patch_size,
            self.img_size[1] // patch_size,
        )
        self.proj = nn.Conv2d(
            in_chans,
            embed_dim,
            patch_size,
            stride=patch_size,
            device=device,
            dtype=dtype,
        )
        self.norm = nn.LayerNorm(embed_dim, device=device, dtype=dtype)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4 or tuple(images.shape[2:]) != self.img_size:
            raise ValueError(
                f"expected images (B, C, {self.img_size[0]}, {self.img_size[1]}), got "
                f"{tuple(images.shape)}"
            )
        return self.norm(self.proj(images).permute(0, 2, 3, 1))


class SwinStage(nn.Module):
    """One stage: optional :class:`PatchMerging` *first* (every stage but the first),
    then ``depth`` blocks that alternate W-MSA (even blocks, shift 0) and SW-MSA (odd
    blocks, shift M // 2)."""

    def __init__(
        self,
        dim: int,
        out_dim: int,
        input_resolution: tuple[int, int],
        depth: int,
        num_heads: int,
        window_size: int | tuple[int, int],
        downsample: bool,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        factory = dict(device=device, dtype=dtype)
        if not downsample and dim != out_dim:
            raise ValueError(
                f"a stage without downsampling keeps its width: "
                f"dim={dim} != out_dim={out_dim}"
            )
        self.downsample = (
            PatchMerging(dim, out_dim, **factory) if downsample else nn.Identity()
        )
        resolution = (
            tuple((r + 1) // 2 for r in input_resolution)
            if downsample
            else tuple(input_resolution)
        )
        self.output_resolution = resolution
        shift = tuple(w // 2 for w in to_pair(window_size))
        self.blocks = nn.Sequential(
            *[
                SwinBlock(
                    out_dim,
                    resolution,
                    num_heads,
                    window_size,
                    shift_size=0 if i % 2 == 0 else shift,
                    mlp_ratio=mlp_ratio,
                    qkv_bias=qkv_bias,
                    **factory,
                )
                for i in range(depth)
            ]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.downsample(x))


class ClassifierHead(nn.Module):
    """Average over all positions, then a linear layer: (B, H, W, C) -> (B,
    num_classes)."""

    def __init__(self, in_features: int, num_classes: int, device=None, dtype=None):
        super().__init__()
        self.fc = (
            nn.Linear(in_features, num_classes, device=device, dtype=dtype)
            if num_classes
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.mean(dim=(1, 2)))


class SwinTransformer(nn.Module):
    """Swin: patch embedding, stages of windowed blocks with patch merging in
    between, final norm, pooled linear head.  (B, in_chans, H, W) -> logits (B,
    num_classes). Stage i has ``embed_dim * 2**i`` channels at 1 / (patch_size *
    2**i) of the image resolution."""

    def __init__(
        self,
        img_size: int | tuple[int, int] = 224,
        patch_size: int = 4,
        in_chans: int = 3,
        num_classes: int = 1000,
        embed_dim: int = 96,
        depths: tuple[int, ...] = (2, 2, 6, 2),
        num_heads: tuple[int, ...] = (3, 6, 12, 24),
        window_size: int | tuple[int, int] = 7,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        if len(depths) != len(num_heads):
            raise ValueError(
                f"one head count per stage: depths={depths}, num_heads={num_heads}"
            )
        factory = dict(device=device, dtype=dtype)
        self.num_classes = num_classes
        self.patch_embed = PatchEmbed(
            img_size, patch_size, in_chans, embed_dim, **factory
        )
        dims = [embed_dim * 2**i for i in range(len(depths))]
        stages, resolution, in_dim = [], self.patch_embed.grid_size, embed_dim
        for i, (depth, heads) in enumerate(zip(depths, num_heads)):
            stage = SwinStage(
                in_dim,
                dims[i],
                resolution,
                depth,
                heads,
                window_size,
                downsample=i > 0,
                mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias,
                **factory,
            )
            stages.append(stage)
            resolution, in_dim = stage.output_resolution, dims[i]
        self.layers = nn.Sequential(*stages)
        self.num_features = dims[-1]
        self.norm = nn.LayerNorm(self.num_features, **factory)
        self.head = ClassifierHead(self.num_features, num_classes, **factory)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """timm's initialisation: truncated normal (std 0.02) for linear weights
        and bias tables, zero linear biases; convolution and LayerNorms keep
        PyTorch's defaults."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, WindowAttention):
                nn.init.trunc_normal_(module.relative_position_bias_table, std=0.02)

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """(B, in_chans, H, W) -> normalised last-stage features (B, H', W', C')."""
        return self.norm(self.layers(self.patch_embed(images)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(images))


# --------------------------------------------------------------------------- the same
# attention, dense


def dense_window_bias(
    attn: WindowAttention,
    height: int,
    width: int,
    shift_size: int | tuple[int, int] = 0,
) -> torch.Tensor:
    """What (shifted-)window attention means for the whole H x W map, written as one
    dense additive bias: (heads, H*W, H*W) in the *original* (unshifted) raster order.

    Query p and key q may interact iff, after the cyclic shift by -s, they fall into the
    same M x M window *and* came from the same side of every wrap-around seam; then the
    bias is the table entry for their offset, otherwise
    -inf.  Full softmax attention over all H*W tokens with this bias equals the windowed
    computation (with -inf in place of -100).  Built from coordinates, independently of
    :func:`window_partition` and of the mask code.
    """
    (win_h, win_w), (shift_h, shift_w) = attn.window_size, to_pair(shift_size)
    device = attn.relative_position_bias_table.device
    ys, xs = torch.meshgrid(
        torch.arange(height, device=device),
        torch.arange(width, device=device),
        indexing="ij",
    )
    ys, xs = ys.flatten(), xs.flatten()  # original coordinates, raster order
    sy, sx = (
        (ys - shift_h) % height,
        (xs - shift_w) % width,
    )  # where the roll by -s puts each token
    wrapped_y, wrapped_x = (
        ys < shift_h,
        xs < shift_w,
    )  # tokens that wrapped across a seam
    same = lambda t: t[:, None] == t[None, :]  # noqa: E731  (pairwise equality)
    allowed = same(sy // win_h) & same(sx // win_w) & same(wrapped_y) & same(wrapped_x)
    dy = sy[:, None] - sy[None, :] + win_h - 1  # offsets inside the shifted window
    dx = sx[:, None] - sx[None, :] + win_w - 1
    index = (dy * (2 * win_w - 1) + dx).clamp(
        0, attn.relative_position_bias_table.shape[0] - 1
    )
    bias = attn.relative_position_bias_table[index].permute(2, 0, 1)  # (heads, HW, HW)
    return bias.masked_fill(~allowed, float("-inf"))
