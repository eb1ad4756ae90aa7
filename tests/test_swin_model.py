"""The book's Swin (coursetools/swin.py) against timm's SwinTransformer: strict state-dict loading and identical
logits in float64 with all parameters randomised, timm's input-size rules (window shrinking, padding), and
shifted-window attention equal to dense attention restricted by the region mask."""
import functools

import pytest
import timm
import torch
from timm.models import swin_transformer as ts

from autograder.reference import load_reference
from coursetools import swin as cs
from tests.helpers import randomise as _randomise

TOL = dict(rtol=1e-10, atol=1e-10)



randomise = functools.partial(_randomise, scale=0.3)  # smaller weights keep deep Swin activations moderate


CONFIGS = [
    # shifted windows in both stages
    dict(img_size=32, patch_size=2, in_chans=1, num_classes=10, embed_dim=32, depths=(2, 2), num_heads=(2, 4),
         window_size=4),
    # the small config: stage 1 is 4 x 4 = one window, no shift
    dict(img_size=32, patch_size=4, in_chans=3, num_classes=1000, embed_dim=32, depths=(2, 2), num_heads=(2, 4),
         window_size=4),
    # 10 x 10 and 5 x 5 maps: padded windows, odd-size patch merging, a 3 x 3 last stage with a shrunken window
    dict(img_size=40, patch_size=4, in_chans=1, num_classes=7, embed_dim=16, depths=(2, 2, 2), num_heads=(1, 2, 4),
         window_size=4),
    # Swin-T's window size 7 on 14 x 14 / 7 x 7 maps
    dict(img_size=56, patch_size=4, in_chans=3, num_classes=5, embed_dim=16, depths=(2, 2, 2), num_heads=(1, 2, 4),
         window_size=7),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"img{c['img_size']}-p{c['patch_size']}-w{c['window_size']}")
def test_loads_timm_state_dict_strictly_and_matches_logits(cfg):
    timm_model = randomise(timm.models.swin_transformer.SwinTransformer(**cfg, drop_path_rate=0.0).double().eval())
    model = cs.SwinTransformer(**cfg, dtype=torch.float64)
    model.load_state_dict(timm_model.state_dict(), strict=True)
    timm_blocks = (b for s in timm_model.layers for b in s.blocks)
    for ours, theirs in zip((b for s in model.layers for b in s.blocks), timm_blocks):
        assert ours.window_size == theirs.window_size and ours.shift_size == theirs.shift_size
        if theirs.attn_mask is not None:
            assert torch.equal(ours.attn_mask, theirs.attn_mask)
    x = torch.randn(2, cfg["in_chans"], cfg["img_size"], cfg["img_size"], dtype=torch.float64)
    torch.testing.assert_close(model(x), timm_model(x), **TOL)
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in timm_model.parameters())


def test_pieces_match_timm():
    for win_h, win_w in [(2, 2), (4, 4), (7, 7), (2, 3)]:
        assert torch.equal(cs.relative_position_index(win_h, win_w), ts.get_relative_position_index(win_h, win_w))
    x = torch.randn(2, 8, 12, 3)
    assert torch.equal(cs.window_partition(x, (4, 3)), ts.window_partition(x, (4, 3)))
    assert torch.equal(cs.window_reverse(cs.window_partition(x, 4), 4, 8, 12), x)
    with pytest.raises(ValueError, match="cannot be cut"):
        cs.window_partition(torch.zeros(1, 6, 6, 1), 4)
    merge_t = randomise(ts.PatchMerging(4).double())
    merge = cs.PatchMerging(4, dtype=torch.float64)
    merge.load_state_dict(merge_t.state_dict(), strict=True)
    for shape in [(2, 4, 6, 4), (1, 5, 3, 4)]:  # odd sizes are zero-padded
        x = torch.randn(shape, dtype=torch.float64)
        torch.testing.assert_close(merge(x), merge_t(x), **TOL)


@pytest.mark.parametrize("resolution,window,shift", [((8, 8), 4, 2), ((8, 12), 4, 2), ((12, 12), 6, 3),
                                                     ((8, 8), 4, 1), ((6, 6), 3, 1), ((8, 8), 4, 0)])
def test_windowed_attention_equals_dense_masked_attention(resolution, window, shift):
    block = randomise(cs.SwinBlock(16, resolution, 2, window, shift, dtype=torch.float64))
    x = torch.randn(2, *resolution, 16, dtype=torch.float64)
    attn = block.attn
    qkv = attn.qkv(x.flatten(1, 2)).unflatten(-1, (3, attn.num_heads, attn.head_dim)).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)
    weights = ((q * attn.scale) @ k.transpose(-2, -1) + cs.dense_window_bias(attn, *resolution, shift)).softmax(-1)
    dense = attn.proj((weights @ v).transpose(1, 2).flatten(2)).view_as(x)
    torch.testing.assert_close(block._attn(x), dense, **TOL)


def test_window_shrinks_and_shift_drops_on_small_maps():
    assert cs.window_and_shift((4, 4), 7, 3) == ((4, 4), (0, 0))
    assert cs.window_and_shift((8, 4), 4, 2) == ((4, 4), (2, 0))
    assert cs.window_and_shift((14, 14), 7, 3) == ((7, 7), (3, 3))


def test_bad_inputs_raise_clear_errors():
    model = cs.SwinTransformer(img_size=32, patch_size=4, in_chans=1, num_classes=10, embed_dim=16, depths=(2,),
                               num_heads=(2,), window_size=4)
    with pytest.raises(ValueError, match="expected images"):
        model(torch.randn(1, 1, 16, 16))
    with pytest.raises(ValueError, match="built for"):
        model.layers[0].blocks[0](torch.randn(1, 4, 4, 16))
    with pytest.raises(ValueError, match="divisible"):
        cs.SwinTransformer(img_size=30, patch_size=4)


def test_runs_on_meta_device_and_keeps_dtype():
    model = cs.SwinTransformer(img_size=32, patch_size=2, in_chans=1, num_classes=10, embed_dim=16, depths=(2, 2),
                               num_heads=(2, 4), window_size=4, device="meta", dtype=torch.float64)
    out = model(torch.empty(3, 1, 32, 32, device="meta", dtype=torch.float64))
    assert out.device.type == "meta" and out.dtype == torch.float64 and out.shape == (3, 10)


@pytest.mark.parametrize("batch", [1, 2])
def test_batch_of_one_and_maps_one_window_tall_match_timm(batch):
    """At batch 1, a stage whose map is one window tall and several wide made window_partition return a strided
    view that the block could not .view() (Swin-T on a 224 x 448 image crashed; timm runs it)."""
    cfg = dict(img_size=(16, 48), patch_size=2, in_chans=1, num_classes=3, embed_dim=8, depths=(2, 2),
               num_heads=(1, 2), window_size=4)   # stage maps 8 x 24 and 4 x 12: one window tall, three wide
    timm_model = randomise(timm.models.swin_transformer.SwinTransformer(**cfg, drop_path_rate=0.0).double().eval())
    model = cs.SwinTransformer(**cfg, dtype=torch.float64)
    model.load_state_dict(timm_model.state_dict(), strict=True)
    x = torch.randn(batch, 1, 16, 48, dtype=torch.float64)
    torch.testing.assert_close(model(x), timm_model(x), **TOL)


@pytest.mark.parametrize("impl", ["course package", "reference solution"])
@pytest.mark.parametrize("resolution,shift", [((4, 12), 0), ((4, 12), 2), ((12, 4), 2), ((4, 16), 2)])
def test_block_at_batch_one_on_one_row_of_windows_matches_timm(resolution, shift, impl):
    """At batch 1 the windows of a map one window tall come out of the permute as a strided view: both the course
    package's block and the reference solution's must reshape them (a .view raised), and agree with timm."""
    swin = cs if impl == "course package" else load_reference("swin")
    timm_block = randomise(ts.SwinTransformerBlock(8, resolution, num_heads=2, window_size=4,
                                                   shift_size=shift).double().eval())
    block = swin.SwinBlock(8, resolution, 2, window_size=4, shift_size=shift, dtype=torch.float64)
    block.load_state_dict(timm_block.state_dict(), strict=True)
    x = torch.randn(1, *resolution, 8, dtype=torch.float64)
    torch.testing.assert_close(block(x), timm_block(x), **TOL)
    windows = swin.window_partition(x, 4)
    assert windows.is_contiguous() or impl == "reference solution"   # the solution's block reshapes instead
    assert torch.equal(windows, ts.window_partition(x, (4, 4)))
