"""The book's TNT (coursetools.tnt) against timm's TNT: state_dict keys equal (strict load), same logits in float64
with every parameter randomised, the attention weights it returns are the ones it uses, any device and dtype."""
import pytest
import torch
from timm.models.tnt import TNT as TimmTNT
from timm.models.tnt import Block as TimmBlock

from coursetools import tnt
from tests.helpers import randomise

TOL = dict(rtol=1e-10, atol=1e-12)

SMALL = dict(img_size=16, patch_size=4, in_chans=1, num_classes=10, embed_dim=64, inner_dim=16, depth=2,
             num_heads_inner=2, num_heads_outer=2, first_stride=2)
CONFIGS = [
    SMALL,
    dict(SMALL, first_stride=1, global_pool="avg"),
    dict(img_size=24, patch_size=8, in_chans=3, num_classes=7, embed_dim=48, inner_dim=8, depth=3, num_heads_inner=4,
         num_heads_outer=3, first_stride=3, qkv_bias=True, mlp_ratio=2.0),
    dict(img_size=20, patch_size=10, in_chans=3, num_classes=4, embed_dim=16, inner_dim=4, depth=1, num_heads_inner=1,
         num_heads_outer=2, first_stride=4),
]




@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"img{c['img_size']}-p{c['patch_size']}-s{c['first_stride']}")
def test_tnt_loads_timm_weights_strictly_and_matches_logits(cfg):
    timm = randomise(TimmTNT(**cfg).double(), seed=cfg["embed_dim"])
    mine = tnt.TNT(**cfg, dtype=torch.float64)
    assert list(mine.state_dict()) == list(timm.state_dict())
    mine.load_state_dict(timm.state_dict(), strict=True)
    x = torch.randn(3, cfg["in_chans"], cfg["img_size"], cfg["img_size"], dtype=torch.float64)
    torch.testing.assert_close(mine(x), timm(x), **TOL)
    torch.testing.assert_close(mine.forward_features(x), timm.forward_features(x), **TOL)


def test_tnt_s_has_timms_structure_and_parameter_count():
    mine, timm = tnt.TNT(device="meta"), TimmTNT(patch_size=16, embed_dim=384, inner_dim=24, depth=12,
                                                num_heads_outer=6, qkv_bias=False, device="meta")
    assert {k: v.shape for k, v in mine.state_dict().items()} == {k: v.shape for k, v in timm.state_dict().items()}
    assert round(sum(p.numel() for p in mine.parameters()) / 1e6, 1) == 23.8  # Han et al. (2021), Table 1


def test_block_matches_timm_and_returns_the_weights_it_uses():
    timm = randomise(TimmBlock(dim=8, dim_out=24, num_pixel=9, num_heads_in=2, num_heads_out=3).double())
    block = tnt.Block(8, 24, 9, num_heads_inner=2, num_heads_outer=3, dtype=torch.float64)
    block.load_state_dict(timm.state_dict(), strict=True)
    pixel, patch = torch.randn(2 * 5, 9, 8, dtype=torch.float64), torch.randn(2, 6, 24, dtype=torch.float64)
    expected = timm(pixel, patch)
    plain = block(pixel, patch)
    pixel_w, patch_w, (w_in, w_out) = block(pixel, patch, return_weights=True)
    for got in (plain, (pixel_w, patch_w)):
        torch.testing.assert_close(got[0], expected[0], **TOL)
        torch.testing.assert_close(got[1], expected[1], **TOL)
    assert w_in.shape == (10, 2, 9, 9) and w_out.shape == (2, 3, 6, 6)
    torch.testing.assert_close(w_in.sum(-1), torch.ones_like(w_in[..., 0]), **TOL)


def test_forward_features_with_weights_is_the_same_computation():
    model = randomise(tnt.TNT(**SMALL, dtype=torch.float64))
    x = torch.randn(2, 1, 16, 16, dtype=torch.float64)
    features, weights = model.forward_features(x, return_weights=True)
    torch.testing.assert_close(features, model.forward_features(x), **TOL)
    assert len(weights) == SMALL["depth"]
    assert weights[0][0].shape == (2 * 16, 2, 4, 4) and weights[0][1].shape == (2, 2, 17, 17)


def test_words_never_see_other_patches():
    """Information flows words -> patches only: a patch's words depend on no other patch's pixels."""
    model = randomise(tnt.TNT(**SMALL, dtype=torch.float64))
    x = torch.randn(1, 1, 16, 16, dtype=torch.float64)
    changed = x.clone()
    changed[..., :4, :4] += torch.randn(4, 4, dtype=torch.float64)   # patch 0 only
    pixel = [model.pixel_embed(img, model.pixel_pos) for img in (x, changed)]
    patch = [torch.zeros(1, 17, 64, dtype=torch.float64)] * 2
    for block in model.blocks:
        pixel = [block(p, z)[0] for p, z in zip(pixel, patch)]
    torch.testing.assert_close(pixel[0][1:], pixel[1][1:], rtol=0, atol=0)
    assert not torch.allclose(pixel[0][0], pixel[1][0])


def test_runs_on_meta_device_keeps_dtype_and_checks_input():
    model = tnt.TNT(**SMALL, device="meta", dtype=torch.float64)
    logits = model(torch.empty(4, 1, 16, 16, device="meta", dtype=torch.float64))
    assert logits.device.type == "meta" and logits.dtype == torch.float64 and logits.shape == (4, 10)
    with pytest.raises(ValueError, match=r"\(B, 1, 16, 16\)"):
        tnt.TNT(**SMALL)(torch.randn(2, 1, 12, 12))
    with pytest.raises(ValueError, match="multiple of patch_size"):
        tnt.PixelEmbed(img_size=18, patch_size=4)
    with pytest.raises(ValueError, match="global_pool"):
        tnt.TNT(**dict(SMALL, global_pool="max"))
