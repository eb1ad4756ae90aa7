"""The TNT reference solution (loaded from solutions/tnt.ipynb) against timm's TNT (timm.models.tnt), in float64,
all parameters randomised, weights copied with load_state_dict(strict=True)."""
import math

import pytest
import torch
import torch.nn as nn
from timm.models.tnt import TNT as TimmTNT
from timm.models.tnt import Block as TimmBlock
from timm.models.tnt import PixelEmbed as TimmPixelEmbed

from autograder.reference import load_reference
from tests.helpers import randomise

ref = load_reference("tnt")
TOL = dict(rtol=1e-10, atol=1e-10)  # float64, same arithmetic: only rounding differences (outputs reach ~1e3)




@pytest.mark.parametrize("img,patch,in_chans,inner_dim,stride", [
    (16, 4, 1, 16, 2), (16, 4, 1, 8, 1), (24, 8, 3, 12, 4), (20, 10, 3, 4, 4), (224, 16, 3, 24, 4)])
def test_pixel_embed_matches_timm(img, patch, in_chans, inner_dim, stride):
    timm = randomise(TimmPixelEmbed(img_size=img, patch_size=patch, in_chans=in_chans, in_dim=inner_dim,
                                    stride=stride).double(), seed=img + patch)
    mine = ref.PixelEmbed(img, patch, in_chans, inner_dim, stride, dtype=torch.float64)
    mine.load_state_dict(timm.state_dict(), strict=True)
    m = math.ceil(patch / stride)
    gen = torch.Generator().manual_seed(0)
    pos = torch.randn(1, inner_dim, m, m, generator=gen, dtype=torch.float64)
    x = torch.randn(2, in_chans, img, img, generator=gen, dtype=torch.float64)
    out = mine(x, pos)
    assert out.shape == (2 * (img // patch) ** 2, m * m, inner_dim)
    torch.testing.assert_close(out, timm(x, pos), **TOL)


def test_pixel_embed_words_are_the_patch_pixels_in_raster_order():
    embed = ref.PixelEmbed(8, 4, 1, 1, 1, dtype=torch.float64)
    with torch.no_grad():
        embed.proj.weight.zero_()
        embed.proj.weight[0, 0, 3, 3] = 1.0
        embed.proj.bias.zero_()
    image = torch.arange(64, dtype=torch.float64).reshape(1, 1, 8, 8)
    words = embed(image, torch.zeros(1, 1, 4, 4, dtype=torch.float64))[..., 0]
    assert words[1].tolist() == [8 * i + 4 + j for i in range(4) for j in range(4)]  # patch (0, 1)
    assert words[2, 0].item() == 32                                                 # patch (1, 0) starts at row 4


@pytest.mark.parametrize("n,m,c,big_c,heads_in,heads_out,ratio,bias", [
    (16, 4, 16, 64, 2, 2, 4.0, False), (4, 9, 6, 12, 3, 4, 2.0, True), (196, 16, 24, 384, 4, 6, 4.0, False)])
def test_block_matches_timm(n, m, c, big_c, heads_in, heads_out, ratio, bias):
    timm = randomise(TimmBlock(dim=c, dim_out=big_c, num_pixel=m, num_heads_in=heads_in, num_heads_out=heads_out,
                               mlp_ratio=ratio, qkv_bias=bias).double(), seed=n)
    mine = ref.Block(c, big_c, m, heads_in, heads_out, ratio, bias, dtype=torch.float64)
    mine.load_state_dict(timm.state_dict(), strict=True)
    gen = torch.Generator().manual_seed(1)
    pixel = torch.randn(2 * n, m, c, generator=gen, dtype=torch.float64)
    patch = torch.randn(2, n + 1, big_c, generator=gen, dtype=torch.float64)
    for got, expected in zip(mine(pixel, patch), timm(pixel, patch)):
        torch.testing.assert_close(got, expected, **TOL)


def test_inner_to_outer_is_timms_word_projection_and_leaves_the_class_token():
    timm = randomise(TimmBlock(dim=6, dim_out=12, num_pixel=4, num_heads_in=2, num_heads_out=2).double(), seed=3)
    with torch.no_grad():
        for layer in (timm.attn_in.proj, timm.mlp_in.fc2, timm.attn_out.proj, timm.mlp.fc2):
            layer.weight.zero_()
            layer.bias.zero_()
    pixel, patch = torch.randn(3 * 5, 4, 6, dtype=torch.float64), torch.randn(3, 6, 12, dtype=torch.float64)
    out = ref.inner_to_outer(pixel, patch, timm.norm1_proj, timm.proj, timm.norm2_proj)
    torch.testing.assert_close(out, timm(pixel, patch)[1], **TOL)
    assert torch.equal(out[:, 0], patch[:, 0])


TNT_CONFIGS = [
    dict(img_size=16, patch_size=4, in_chans=1, num_classes=10, embed_dim=64, inner_dim=16, depth=2,
         num_heads_inner=2, num_heads_outer=2, first_stride=2),
    dict(img_size=16, patch_size=4, in_chans=1, num_classes=10, embed_dim=32, inner_dim=8, depth=1,
         num_heads_inner=2, num_heads_outer=4, first_stride=1),
    dict(img_size=24, patch_size=8, in_chans=3, num_classes=5, embed_dim=24, inner_dim=6, depth=3,
         num_heads_inner=3, num_heads_outer=2, first_stride=3, mlp_ratio=2.0, qkv_bias=True),
]


@pytest.mark.parametrize("cfg", TNT_CONFIGS, ids=lambda c: f"img{c['img_size']}-stride{c['first_stride']}")
def test_tnt_loads_timm_state_dict_strictly_and_matches_logits(cfg):
    timm = randomise(TimmTNT(**cfg).double(), seed=cfg["embed_dim"])
    mine = ref.TNT(**cfg, dtype=torch.float64)
    mine.load_state_dict(timm.state_dict(), strict=True)
    x = torch.randn(3, cfg["in_chans"], cfg["img_size"], cfg["img_size"], dtype=torch.float64)
    torch.testing.assert_close(mine(x), timm(x), **TOL)


def test_reference_runs_on_meta_device_and_keeps_dtype():
    model = ref.TNT(device="meta", dtype=torch.float64)
    logits = model(torch.empty(2, 1, 16, 16, device="meta", dtype=torch.float64))
    assert logits.device.type == "meta" and logits.dtype == torch.float64 and logits.shape == (2, 10)


def test_errors_explain_themselves():
    embed = ref.PixelEmbed(16, 4, 1, 8, 2)
    with pytest.raises(ValueError, match=r"\(B, 1, 16, 16\)"):
        embed(torch.randn(2, 3, 16, 16), torch.zeros(1, 8, 2, 2))
    with pytest.raises(ValueError, match="multiple of patch_size"):
        ref.PixelEmbed(15, 4, 1, 8, 2)
    with pytest.raises(ValueError, match=r"\(B \* N, M, c\)"):
        ref.inner_to_outer(torch.randn(5, 4, 3), torch.randn(2, 4, 8), nn.Identity(), nn.Linear(12, 8), nn.Identity())
    with pytest.raises(ValueError, match="divisible"):
        ref.Attention(10, 3)


@pytest.mark.parametrize("batch,patches,words,dim,heads,qkv_bias", [
    (2, 4, 4, 8, 2, False), (1, 9, 16, 6, 3, True), (3, 16, 4, 16, 4, True)])
def test_inner_attention_as_one_sequence_matches_timm_attention(batch, patches, words, dim, heads, qkv_bias):
    from timm.models.tnt import Attention as TimmAttention

    timm = randomise(TimmAttention(dim, dim, num_heads=heads, qkv_bias=qkv_bias).double(), seed=words)
    pixel_embed = torch.randn(batch * patches, words, dim, dtype=torch.float64)
    out = ref.inner_attention_as_one_sequence(pixel_embed, patches, timm.qk, timm.v, timm.proj, heads)
    torch.testing.assert_close(out, timm(pixel_embed), **TOL)
    mask = ref.word_attention_mask(patches, words)
    assert torch.equal(mask, torch.block_diag(*[torch.ones(words, words)] * patches).bool())


@pytest.mark.parametrize("config,heads", [
    (dict(img_size=224, patch_size=16, in_chans=3, num_classes=1000, embed_dim=384, inner_dim=24, depth=12,
          first_stride=4), (4, 6)),
    (dict(img_size=224, patch_size=16, in_chans=3, num_classes=1000, embed_dim=640, inner_dim=40, depth=12,
          first_stride=4), (4, 10)),
    (dict(img_size=20, patch_size=10, in_chans=2, num_classes=3, embed_dim=16, inner_dim=4, depth=3, first_stride=4,
          mlp_ratio=1.5, qkv_bias=True), (2, 4))])
def test_tnt_parameters_matches_timm(config, heads):
    with torch.device("meta"):
        timm = TimmTNT(**config, num_heads_inner=heads[0], num_heads_outer=heads[1])
    assert ref.tnt_parameters(**config) == sum(p.numel() for p in timm.parameters())
