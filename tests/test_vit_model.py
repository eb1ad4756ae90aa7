"""The book's ViT (coursetools/vit.py) against timm's VisionTransformer and torch built-ins, in float64 with every
parameter randomised (timm initialises the class token at std 1e-6, which would hide bugs)."""
import pytest
import torch
import torch.nn.functional as F
from timm.layers import PatchEmbed as TimmPatchEmbed
from timm.models.vision_transformer import VisionTransformer as TimmViT

from coursetools.vit import PatchEmbed, VisionTransformer, attention_rollout, patchify
from tests.helpers import randomise

TOL = dict(rtol=1e-10, atol=1e-10)

CONFIGS = [
    dict(),  # the book's small model: 16 px, patch 4, 1 channel, dim 64, depth 2, heads 2
    dict(img_size=12, patch_size=3, in_chans=3, num_classes=5, embed_dim=24, depth=1, num_heads=3),
    dict(img_size=8, patch_size=8, in_chans=2, num_classes=4, embed_dim=8, depth=3, num_heads=1, qkv_bias=False),
    dict(img_size=20, patch_size=2, in_chans=1, num_classes=7, embed_dim=32, depth=2, num_heads=4, mlp_ratio=2.0),
    dict(global_pool="avg"),
    dict(num_classes=0),
]


def timm_vit(**overrides):
    config = dict(img_size=16, patch_size=4, in_chans=1, num_classes=10, embed_dim=64, depth=2, num_heads=2,
                  mlp_ratio=4.0, qkv_bias=True, global_pool="token", class_token=True)
    return TimmViT(**{**config, **overrides}).double()


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "default")
@pytest.mark.parametrize("batch", [1, 3])
def test_vit_loads_timm_state_dict_and_matches_it(config, batch):
    reference = randomise(timm_vit(**config), seed=batch)
    model = VisionTransformer(**config, dtype=torch.float64)
    assert list(model.state_dict()) == list(reference.state_dict()), "parameter names or order differ from timm"
    model.load_state_dict(reference.state_dict(), strict=True)
    size, chans = reference.patch_embed.img_size[0], reference.patch_embed.proj.in_channels
    x = torch.randn(batch, chans, size, size, dtype=torch.float64)
    torch.testing.assert_close(model.forward_features(x), reference.forward_features(x), **TOL)
    torch.testing.assert_close(model(x), reference(x), **TOL)
    logits, weights = model.forward_with_attention(x)
    torch.testing.assert_close(logits, reference(x), **TOL)
    assert len(weights) == len(model.blocks)


def test_default_constructor_is_the_documented_small_model():
    model = VisionTransformer()
    assert model.patch_embed.num_patches == 16 and model.pos_embed.shape == (1, 17, 64)
    assert model(torch.randn(2, 1, 16, 16)).shape == (2, 10)
    assert model.forward_features(torch.randn(2, 1, 16, 16)).shape == (2, 17, 64)
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in timm_vit().parameters())


def test_patchify_matches_unfold_and_conv_equals_linear_on_patches():
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(2, 3, 8, 12, generator=gen, dtype=torch.float64)
    p = 4
    patches = patchify(images, p)
    # F.unfold flattens each patch as (C, P, P): reorder to (P, P, C)
    unfolded = F.unfold(images, kernel_size=p, stride=p).view(2, 3, p, p, -1).permute(0, 4, 2, 3, 1).flatten(2)
    torch.testing.assert_close(patches, unfolded, rtol=0, atol=0)
    embed = randomise(PatchEmbed(img_size=8, patch_size=4, in_chans=3, embed_dim=5, dtype=torch.float64))
    square = images[..., :8]
    weight = embed.proj.weight.permute(0, 2, 3, 1).flatten(1)  # (D, C, P, P) -> (D, P*P*C)
    torch.testing.assert_close(embed(square), patchify(square, p) @ weight.T + embed.proj.bias, **TOL)
    timm_embed = TimmPatchEmbed(img_size=8, patch_size=4, in_chans=3, embed_dim=5).double()
    timm_embed.load_state_dict(embed.state_dict(), strict=True)
    torch.testing.assert_close(embed(square), timm_embed(square), **TOL)


def test_attention_rollout_rows_are_distributions_and_one_layer_without_residual_is_the_mean():
    model = randomise(VisionTransformer(dtype=torch.float64), seed=3)
    _, weights = model.forward_with_attention(torch.randn(2, 1, 16, 16, dtype=torch.float64))
    rollout = attention_rollout(weights)
    assert rollout.shape == (2, 17, 17)
    torch.testing.assert_close(rollout.sum(-1), torch.ones(2, 17, dtype=torch.float64), **TOL)
    torch.testing.assert_close(attention_rollout(weights[:1], residual=False), weights[0].mean(1), **TOL)
    expected = weights[1].mean(1) @ weights[0].mean(1)
    torch.testing.assert_close(attention_rollout(weights, residual=False), expected, **TOL)


def test_runs_on_meta_device_and_keeps_dtype():
    model = VisionTransformer(device="meta", dtype=torch.float64)
    logits = model(torch.empty(3, 1, 16, 16, device="meta", dtype=torch.float64))
    assert logits.device.type == "meta" and logits.dtype == torch.float64 and logits.shape == (3, 10)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="not divisible"):
        VisionTransformer(img_size=18, patch_size=4)
    with pytest.raises(ValueError, match="not divisible by the patch size 4"):
        VisionTransformer()(torch.randn(1, 1, 18, 18))
    with pytest.raises(ValueError, match="built for 16x16"):
        VisionTransformer()(torch.randn(1, 1, 20, 20))
    with pytest.raises(ValueError, match="channel"):
        VisionTransformer()(torch.randn(1, 3, 16, 16))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        patchify(torch.randn(16, 16), 4)
    with pytest.raises(ValueError, match="global_pool"):
        VisionTransformer(global_pool="max")
