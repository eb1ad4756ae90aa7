"""The Swin reference solution (loaded from solutions/swin.ipynb) against timm's Swin Transformer (timm 1.0.31
``swin_transformer.py``), piece by piece and as a whole model, in float64 with all parameters randomised, and
shifted-window attention against dense attention restricted by the region mask."""
import math

import pytest
import timm
import torch
from timm.models import swin_transformer as ts

from autograder.reference import load_reference
from tests.helpers import randomise

ref = load_reference("swin")
TOL = dict(rtol=1e-10, atol=1e-10)




@pytest.mark.parametrize("shape,window", [((2, 8, 8, 3), 4), ((1, 6, 9, 2), 3), ((3, 6, 8, 4), (3, 4)),
                                          ((1, 7, 7, 1), 7)])
def test_window_partition_and_reverse_match_timm(shape, window):
    x = torch.randn(shape, dtype=torch.float64)
    windows = ref.window_partition(x, window)
    assert torch.equal(windows, ts.window_partition(x, ref.to_pair(window)))
    assert torch.equal(ref.window_reverse(windows, window, *shape[1:3]), x)


def test_window_partition_refuses_sizes_that_cannot_be_windowed():
    with pytest.raises(ValueError, match="cannot be cut into 4x4 windows"):
        ref.window_partition(torch.zeros(1, 6, 8, 2), 4)


@pytest.mark.parametrize("win_h,win_w", [(1, 1), (2, 2), (4, 4), (7, 7), (2, 3), (5, 2)])
def test_relative_position_index_matches_timm(win_h, win_w):
    assert torch.equal(ref.relative_position_index(win_h, win_w), ts.get_relative_position_index(win_h, win_w))


@pytest.mark.parametrize("resolution,window,shift", [((8, 8), 4, 2), ((8, 12), 4, 1), ((12, 12), 6, 3),
                                                     ((14, 14), 7, 3), ((6, 6), 3, 1)])
def test_shifted_window_mask_matches_timm(resolution, window, shift):
    block = ts.SwinTransformerBlock(8, resolution, num_heads=2, window_size=window, shift_size=shift)
    assert torch.equal(ref.shifted_window_mask(*resolution, window, shift), block.attn_mask)


@pytest.mark.parametrize("dim,heads,window", [(8, 2, 2), (12, 3, 3), (16, 4, (2, 3))])
def test_window_attention_matches_timm(dim, heads, window):
    timm_attn = randomise(ts.WindowAttention(dim, heads, window_size=window).double())
    attn = ref.WindowAttention(dim, heads, window, dtype=torch.float64)
    attn.load_state_dict(timm_attn.state_dict(), strict=True)
    n = math.prod(ref.to_pair(window))
    x = torch.randn(6, n, dim, dtype=torch.float64)
    mask = torch.where(torch.rand(3, n, n) > 0.5, -100.0, 0.0).double()
    for m in (None, mask):
        torch.testing.assert_close(attn(x, m), timm_attn(x, m), **TOL)


@pytest.mark.parametrize("resolution,window,shift", [((8, 8), 4, 0), ((8, 8), 4, 2), ((8, 12), 4, 2),
                                                     ((12, 12), 6, 3), ((4, 4), 4, 2), ((3, 3), 4, 2)])
def test_block_matches_timm(resolution, window, shift):
    timm_block = randomise(ts.SwinTransformerBlock(8, resolution, num_heads=2, window_size=window,
                                                   shift_size=shift).double().eval())
    block = ref.SwinBlock(8, resolution, 2, window_size=window, shift_size=shift, dtype=torch.float64)
    block.load_state_dict(timm_block.state_dict(), strict=True)
    assert block.window_size == timm_block.window_size and block.shift_size == timm_block.shift_size
    x = torch.randn(2, *resolution, 8, dtype=torch.float64)
    torch.testing.assert_close(block(x), timm_block(x), **TOL)


def dense_block(block, x):
    """The block computed with full attention over all H*W tokens, masked by coordinates (no windows, no roll)."""
    b, h, w, c = x.shape
    (mh, mw), (sh, sw) = block.window_size, block.shift_size
    ys, xs = (t.flatten() for t in torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij"))
    sy, sx = (ys - sh) % h, (xs - sw) % w
    same = lambda t: t[:, None] == t[None, :]  # noqa: E731
    allowed = same(sy // mh) & same(sx // mw) & same(ys < sh) & same(xs < sw)
    index = (sy[:, None] - sy[None, :] + mh - 1) * (2 * mw - 1) + (sx[:, None] - sx[None, :] + mw - 1)
    table = block.attn.relative_position_bias_table
    bias = table[index.clamp(0, table.shape[0] - 1)].permute(2, 0, 1).masked_fill(~allowed, float("-inf"))
    heads = block.attn.num_heads
    t = block.norm1(x).reshape(b, h * w, c)
    q, k, v = block.attn.qkv(t).reshape(b, h * w, 3, heads, c // heads).permute(2, 0, 3, 1, 4).unbind(0)
    weights = (q @ k.transpose(-2, -1) / math.sqrt(c // heads) + bias).softmax(-1)
    y = x + block.attn.proj((weights @ v).transpose(1, 2).reshape(b, h * w, c)).view(b, h, w, c)
    return y + block.mlp(block.norm2(y))


@pytest.mark.parametrize("resolution,window,shift", [((8, 8), 4, 2), ((8, 8), 4, 0), ((8, 12), 4, 2),
                                                     ((12, 12), 6, 3), ((6, 9), 3, 1)])
def test_shifted_window_block_equals_dense_masked_attention(resolution, window, shift):
    block = randomise(ref.SwinBlock(8, resolution, 2, window_size=window, shift_size=shift, dtype=torch.float64),
                      scale=0.3)
    x = torch.randn(2, *resolution, 8, dtype=torch.float64)
    torch.testing.assert_close(block(x), dense_block(block, x), **TOL)


def test_patch_merging_matches_timm():
    timm_merge = randomise(ts.PatchMerging(6).double())
    merge = ref.PatchMerging(6, dtype=torch.float64)
    merge.load_state_dict(timm_merge.state_dict(), strict=True)
    x = torch.randn(2, 8, 4, 6, dtype=torch.float64)
    torch.testing.assert_close(merge(x), timm_merge(x), **TOL)
    with pytest.raises(ValueError, match="even height and width"):
        merge(torch.randn(2, 5, 4, 6, dtype=torch.float64))


@pytest.mark.parametrize("cfg", [
    dict(img_size=32, patch_size=4, in_chans=3, num_classes=1000, embed_dim=32, depths=(2, 2), num_heads=(2, 4)),
    dict(img_size=32, patch_size=2, in_chans=1, num_classes=10, embed_dim=32, depths=(2, 2), num_heads=(2, 4)),
    dict(img_size=64, patch_size=4, in_chans=2, num_classes=5, embed_dim=8, depths=(2, 1, 2), num_heads=(1, 2, 2)),
])
def test_model_loads_timm_state_dict_strictly_and_matches_logits(cfg):
    timm_model = randomise(timm.models.swin_transformer.SwinTransformer(**cfg, window_size=4, drop_path_rate=0.0)
                           .double().eval(), scale=0.3)
    model = ref.SwinTransformer(**cfg, window_size=4, dtype=torch.float64)
    model.load_state_dict(timm_model.state_dict(), strict=True)
    assert "layers.0.blocks.0.attn.relative_position_index" not in timm_model.state_dict()  # non-persistent
    x = torch.randn(2, cfg["in_chans"], cfg["img_size"], cfg["img_size"], dtype=torch.float64)
    torch.testing.assert_close(model(x), timm_model(x), **TOL)


def test_reference_runs_on_meta_device():
    model = ref.SwinTransformer(device="meta", dtype=torch.float64)
    out = model(torch.empty(2, 3, 32, 32, device="meta", dtype=torch.float64))
    assert out.device.type == "meta" and out.dtype == torch.float64 and out.shape == (2, 10)


@pytest.mark.parametrize("batch", [1, 2])
def test_model_on_a_wide_image_matches_timm_at_batch_one(batch):
    """Swin on a 16 x 48 image: the last stage's 4 x 12 map is one window tall and three wide (like Swin-T at
    224 x 448), logits and every parameter's gradient as timm's."""
    cfg = dict(img_size=(16, 48), patch_size=2, in_chans=1, num_classes=3, embed_dim=8, depths=(2, 2), num_heads=(1, 2))
    timm_model = randomise(timm.models.swin_transformer.SwinTransformer(**cfg, window_size=4, drop_path_rate=0.0)
                           .double().eval(), scale=0.3)
    model = ref.SwinTransformer(**cfg, window_size=4, dtype=torch.float64)
    model.load_state_dict(timm_model.state_dict(), strict=True)
    x = torch.randn(batch, 1, 16, 48, dtype=torch.float64)
    ours, theirs = model(x), timm_model(x)
    torch.testing.assert_close(ours, theirs, **TOL)
    upstream = torch.randn(ours.shape, dtype=torch.float64)
    (ours * upstream).sum().backward()
    (theirs * upstream).sum().backward()
    timm_params = dict(timm_model.named_parameters())
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, timm_params[name].grad, rtol=1e-7, atol=1e-9, msg=name)


def test_relative_position_bias_table_gets_the_gradient_of_timm():
    timm_attn = randomise(ts.WindowAttention(8, 2, window_size=(2, 3)).double())
    attn = ref.WindowAttention(8, 2, (2, 3), dtype=torch.float64)
    attn.load_state_dict(timm_attn.state_dict(), strict=True)
    x = torch.randn(4, 6, 8, dtype=torch.float64)
    upstream = torch.randn(4, 6, 8, dtype=torch.float64)
    (attn(x) * upstream).sum().backward()
    (timm_attn(x) * upstream).sum().backward()
    assert attn.relative_position_bias_table.grad is not None
    torch.testing.assert_close(attn.relative_position_bias_table.grad, timm_attn.relative_position_bias_table.grad,
                               rtol=1e-7, atol=1e-9)


# --------------------------------------------------------------------------- parts the chapter does not print

@pytest.mark.parametrize("resolution,window,shift", [((8, 8), 4, 2), ((7, 9), 4, 2), ((4, 12), 4, 2), ((3, 3), 4, 2),
                                                     ((10, 6), (3, 4), (1, 2)), ((13, 11), (5, 3), (2, 1)),
                                                     ((56, 56), 7, 3), ((8, 8), 4, 0)])
def test_masked_pairs_counts_the_masked_entries_of_timms_block(resolution, window, shift):
    block = ts.SwinTransformerBlock(8, resolution, num_heads=1, window_size=window, shift_size=shift)
    expected = 0 if block.attn_mask is None else int((block.attn_mask == -100.0).sum())
    assert ref.masked_pairs(*resolution, window, shift) == expected


def test_masked_pairs_is_a_formula():
    """A 7000 x 7000 map (a mask of about 5e9 entries) is counted at once; the count grows with the number of
    windows in the last band only."""
    assert ref.masked_pairs(7000, 7000, 7, 3) == 7000 * 7 * 7000 * 7 - (999 * 49 + 16 + 9) ** 2


@pytest.mark.parametrize("dim,heads,resolution,window,shift,ratio", [
    (96, 3, (56, 56), 7, 3, 4.0), (768, 24, (7, 7), 7, 0, 4.0), (8, 2, (7, 9), 4, 2, 4.0), (12, 3, (3, 3), 4, 2, 2.0),
    (16, 2, (10, 6), (3, 4), (1, 2), 3.0), (6, 1, (5, 2), (7, 3), 0, 1.5), (8, 1, (16, 16), 16, 0, 4.0)])
def test_block_parameters_and_macs_match_timm(dim, heads, resolution, window, shift, ratio):
    from torch.utils.flop_counter import FlopCounterMode
    block = ts.SwinTransformerBlock(dim, resolution, num_heads=heads, window_size=window, shift_size=shift,
                                    mlp_ratio=ratio, device="meta").eval()
    assert ref.block_parameters(dim, heads, resolution, window, ratio) == sum(p.numel() for p in block.parameters())
    with FlopCounterMode(display=False) as counter:
        block(torch.empty(1, *resolution, dim, device="meta"))
    assert ref.block_macs(dim, resolution, window, ratio) == counter.get_total_flops() // 2


def test_block_macs_with_one_window_is_the_chapters_global_attention_formula():
    h = w = 12
    c = 16
    assert ref.block_macs(c, (h, w), 12, mlp_ratio=0) == 4 * h * w * c ** 2 + 2 * (h * w) ** 2 * c


@pytest.mark.parametrize("img_size,patch_size,embed_dim,stages,window", [
    (224, 4, 96, 4, 7), (256, 4, 96, 4, 7), (192, 4, 96, 4, 7), (40, 4, 16, 3, 4), ((24, 56), 2, 8, 4, (3, 5)),
    ((50, 30), 2, 4, 3, (6, 4))])
def test_stage_shapes_match_timms_model(img_size, patch_size, embed_dim, stages, window):
    with torch.device("meta"):
        model = timm.models.swin_transformer.SwinTransformer(
            img_size=img_size, patch_size=patch_size, embed_dim=embed_dim, depths=(2,) * stages,
            num_heads=(1,) * stages, window_size=window, num_classes=2)
    expected = [(s.blocks[1].input_resolution[0], s.blocks[1].input_resolution[1], s.blocks[1].dim,
                 tuple(s.blocks[1].window_size), tuple(s.blocks[1].shift_size)) for s in model.layers]
    assert ref.stage_shapes(img_size, patch_size, embed_dim, stages, window) == expected


def shuffled_expanding(expanding, x):
    """Patch expanding written with F.pixel_shuffle (channels reordered to its (C/2, row, column) layout)."""
    b, h, w, c = x.shape
    pieces = expanding.expand(x).view(b, h, w, 2, 2, c // 2)            # (column parity, row parity, C/2)
    y = pieces.permute(0, 5, 4, 3, 1, 2).reshape(b, 2 * c, h, w)
    return expanding.norm(torch.nn.functional.pixel_shuffle(y, 2).permute(0, 2, 3, 1))


@pytest.mark.parametrize("dim,shape", [(4, (2, 3, 3)), (8, (1, 2, 5)), (6, (3, 4, 2))])
def test_patch_expanding_matches_pixel_shuffle_and_is_read_back_by_merging(dim, shape):
    expanding = randomise(ref.PatchExpanding(dim, dtype=torch.float64))
    x = torch.randn(*shape, dim, dtype=torch.float64)
    out = expanding(x)
    torch.testing.assert_close(out, shuffled_expanding(expanding, x), **TOL)
    # patch merging's concatenation (x0, x1, x2, x3) of the output gives the four normalised pieces back in order
    merged = torch.cat([out[:, 0::2, 0::2], out[:, 1::2, 0::2], out[:, 0::2, 1::2], out[:, 1::2, 1::2]], dim=-1)
    pieces = expanding.norm(expanding.expand(x).view(*shape, 4, dim // 2)).flatten(-2)
    torch.testing.assert_close(merged, pieces, **TOL)
