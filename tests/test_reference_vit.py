"""The ViT reference solution (loaded from solutions/vit.ipynb) against independent implementations: F.unfold,
timm's PatchEmbed, Mlp, Block and VisionTransformer, in float64 with every parameter randomised."""
import pytest
import torch
import torch.nn.functional as F
from timm.layers import Mlp as TimmMlp
from timm.layers import PatchEmbed as TimmPatchEmbed
from timm.models.vision_transformer import Block as TimmBlock
from timm.models.vision_transformer import VisionTransformer as TimmViT

from autograder.reference import load_reference
from tests.helpers import randomise

ref = load_reference("vit")
TOL = dict(rtol=1e-10, atol=1e-10)




@pytest.mark.parametrize("batch,chans,rows,cols,p",
                         [(1, 1, 4, 4, 4), (2, 3, 2, 3, 4), (3, 2, 5, 1, 3), (1, 4, 1, 1, 7)])
def test_patchify_matches_unfold(batch, chans, rows, cols, p):
    images = torch.randn(batch, chans, rows * p, cols * p, dtype=torch.float64)
    expected = F.unfold(images, kernel_size=p, stride=p).view(batch, chans, p, p, -1).permute(0, 4, 2, 3, 1)
    assert torch.equal(ref.patchify(images, p), expected.reshape(batch, rows * cols, p * p * chans))


@pytest.mark.parametrize("img,p,chans,dim,batch", [(16, 4, 1, 8, 1), (12, 3, 3, 6, 3), (8, 8, 2, 4, 2)])
def test_patch_embed_conv_and_linear_match_timm(img, p, chans, dim, batch):
    timm_embed = randomise(TimmPatchEmbed(img_size=img, patch_size=p, in_chans=chans, embed_dim=dim).double())
    embed = ref.PatchEmbed(img, p, chans, dim, dtype=torch.float64)
    embed.load_state_dict(timm_embed.state_dict(), strict=True)
    x = torch.randn(batch, chans, img, img, dtype=torch.float64)
    torch.testing.assert_close(embed(x), timm_embed(x), **TOL)
    torch.testing.assert_close(embed.forward_as_linear(x), timm_embed(x), **TOL)


@pytest.mark.parametrize("dim,heads,ratio,qkv_bias", [(8, 2, 4.0, True), (12, 3, 2.0, False)])
def test_mlp_and_block_match_timm(dim, heads, ratio, qkv_bias):
    x = torch.randn(2, 7, dim, dtype=torch.float64)
    timm_mlp = randomise(TimmMlp(dim, int(dim * ratio)).double())
    mlp = ref.Mlp(dim, int(dim * ratio), dtype=torch.float64)
    mlp.load_state_dict(timm_mlp.state_dict(), strict=True)
    torch.testing.assert_close(mlp(x), timm_mlp(x), **TOL)
    timm_block = randomise(TimmBlock(dim, heads, mlp_ratio=ratio, qkv_bias=qkv_bias).double(), seed=1)
    block = ref.Block(dim, heads, ratio, qkv_bias, dtype=torch.float64)
    block.load_state_dict(timm_block.state_dict(), strict=True)
    torch.testing.assert_close(block(x), timm_block(x), **TOL)


CONFIGS = [dict(img_size=16, patch_size=4, in_chans=1, num_classes=10, embed_dim=64, depth=2, num_heads=2),
           dict(img_size=12, patch_size=3, in_chans=3, num_classes=5, embed_dim=24, depth=1, num_heads=3),
           dict(img_size=8, patch_size=8, in_chans=2, num_classes=4, embed_dim=8, depth=3, num_heads=1, qkv_bias=False),
           dict(img_size=20, patch_size=2, in_chans=1, num_classes=3, embed_dim=12, depth=1, num_heads=2,
                mlp_ratio=2.0)]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c['img_size']}px-P{c['patch_size']}-C{c['in_chans']}")
@pytest.mark.parametrize("batch", [1, 4])
def test_vit_loads_timm_state_dict_and_matches_it(config, batch):
    timm_vit = randomise(TimmViT(**config, global_pool="token", class_token=True).double(), seed=batch)
    model = ref.VisionTransformer(**config, dtype=torch.float64)
    model.load_state_dict(timm_vit.state_dict(), strict=True)
    x = torch.randn(batch, config["in_chans"], config["img_size"], config["img_size"], dtype=torch.float64)
    torch.testing.assert_close(model.forward_features(x), timm_vit.forward_features(x), **TOL)
    torch.testing.assert_close(model(x), timm_vit(x), **TOL)


def test_embed_positions_puts_the_class_token_first_with_pos_embed_row_0():
    model = randomise(ref.VisionTransformer(img_size=8, patch_size=4, embed_dim=6, depth=1, num_heads=1,
                                            dtype=torch.float64))
    patches = torch.randn(3, 4, 6, dtype=torch.float64)
    z = model.embed_positions(patches)
    torch.testing.assert_close(z[:, 0], (model.cls_token + model.pos_embed[:, :1])[0].expand(3, 6), rtol=0, atol=0)
    torch.testing.assert_close(z[:, 1:], patches + model.pos_embed[:, 1:], rtol=0, atol=0)


def test_reference_runs_on_meta_device_and_keeps_dtype():
    model = ref.VisionTransformer(img_size=8, patch_size=4, in_chans=3, num_classes=5, embed_dim=8, depth=1,
                                  num_heads=2, device="meta", dtype=torch.float64)
    x = torch.empty(2, 3, 8, 8, device="meta", dtype=torch.float64)
    for out in (model(x), model.patch_embed.forward_as_linear(x)):
        assert out.device.type == "meta" and out.dtype == torch.float64


def test_bad_image_sizes_raise_clear_errors():
    model = ref.VisionTransformer(img_size=12, patch_size=3, in_chans=2, embed_dim=8, depth=1, num_heads=2)
    with pytest.raises(ValueError, match="not divisible by the patch size 3"):
        model(torch.randn(1, 2, 13, 13))
    with pytest.raises(ValueError, match="expected 12x12 images"):
        model(torch.randn(1, 2, 15, 15))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        ref.patchify(torch.randn(12, 12), 3)
    with pytest.raises(ValueError, match="not divisible"):
        ref.PatchEmbed(img_size=10, patch_size=4)


@pytest.mark.parametrize("batch,heads,grid,patch", [(1, 1, 2, 4), (2, 3, 3, 2), (3, 2, 4, 16)])
def test_mean_attention_distance_matches_a_loop_over_queries_and_keys(batch, heads, grid, patch):
    gen = torch.Generator().manual_seed(grid)
    tokens = 1 + grid * grid
    weights = (2 * torch.randn(batch, heads, tokens, tokens, generator=gen, dtype=torch.float64)).softmax(-1)
    expected = torch.zeros(heads, dtype=torch.float64)
    for h in range(heads):
        for b in range(batch):
            for i in range(tokens - 1):
                row = weights[b, h, 1 + i, 1:] / weights[b, h, 1 + i, 1:].sum()
                for j in range(tokens - 1):
                    expected[h] += row[j] * patch * ((i // grid - j // grid) ** 2 + (i % grid - j % grid) ** 2) ** 0.5
    expected /= batch * (tokens - 1)
    torch.testing.assert_close(ref.mean_attention_distance(weights, grid, patch), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("config,heads", [
    (dict(img_size=224, patch_size=16, in_chans=3, num_classes=1000, embed_dim=768, depth=12), 12),
    (dict(img_size=384, patch_size=32, in_chans=3, num_classes=21843, embed_dim=1024, depth=24), 16),
    (dict(img_size=12, patch_size=3, in_chans=2, num_classes=5, embed_dim=24, depth=3, mlp_ratio=2.0,
          qkv_bias=False), 3)])
def test_counts_match_timm_parameters_and_flop_counter(config, heads):
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        timm_vit = TimmViT(**config, num_heads=heads, global_pool="token", class_token=True)
    with FlopCounterMode(display=False) as counter:
        timm_vit(torch.empty(1, config["in_chans"], config["img_size"], config["img_size"], device="meta"))
    assert ref.vit_parameters(**config) == sum(p.numel() for p in timm_vit.parameters())
    assert ref.vit_macs(**config) == counter.get_total_flops() // 2


@pytest.mark.parametrize("batch,chans,rows,cols,p", [(1, 1, 4, 4, 4), (2, 3, 2, 3, 4), (3, 2, 5, 1, 3)])
def test_unpatchify_matches_fold_and_inverts_patchify(batch, chans, rows, cols, p):
    images = torch.randn(batch, chans, rows * p, cols * p, dtype=torch.float64)
    patches = ref.patchify(images, p)
    columns = patches.reshape(batch, -1, p, p, chans).permute(0, 4, 2, 3, 1).reshape(batch, chans * p * p, -1)
    expected = F.fold(columns, output_size=(rows * p, cols * p), kernel_size=p, stride=p)
    assert torch.equal(ref.unpatchify(patches, p, rows * p, cols * p), expected)
    assert torch.equal(expected, images)
