"""The shared building blocks in coursetools.nn against PyTorch and timm (float64, all parameters randomised)."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.models.vision_transformer import Block as TimmBlock

from coursetools import nn as cnn
from tests.helpers import randomise

TOL = dict(rtol=1e-10, atol=1e-12)




def test_masks_and_attention_match_sdpa():
    q, k, v = (torch.randn(3, 2, 6, 4, dtype=torch.float64) for _ in range(3))
    mask = cnn.padding_mask(torch.tensor([6, 3, 1]), 6) & cnn.causal_mask(6)
    out, weights = cnn.attention(q, k, v, mask)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), **TOL)
    assert cnn.padding_mask(torch.tensor([2]), 4).tolist() == [[[[True, True, False, False]]]]
    with pytest.raises(ValueError, match="max_len"):
        cnn.padding_mask(torch.tensor([5]), 4)


def test_fully_masked_rows_give_zero_weights_not_nan():
    q = torch.randn(1, 3, 4)
    _, weights = cnn.attention(q, q, q, torch.zeros(3, 3, dtype=torch.bool))
    assert torch.equal(weights, torch.zeros(1, 3, 3))


def test_sinusoidal_encoding_matches_the_formula():
    pe = cnn.sinusoidal_encoding(50, 16, dtype=torch.float64)
    for pos in (0, 7, 49):
        for i in range(8):
            angle = pos / 10000 ** (2 * i / 16)
            assert pe[pos, 2 * i].item() == pytest.approx(torch.sin(torch.tensor(angle, dtype=torch.float64)).item())
            cosine = torch.cos(torch.tensor(angle, dtype=torch.float64)).item()
            assert pe[pos, 2 * i + 1].item() == pytest.approx(cosine)


def test_multi_head_attention_matches_torch():
    torch_mha = randomise(nn.MultiheadAttention(16, 4, batch_first=True, dtype=torch.float64))
    mha = cnn.MultiHeadAttention(16, 4, dtype=torch.float64)
    with torch.no_grad():
        for i, proj in enumerate((mha.q_proj, mha.k_proj, mha.v_proj)):
            proj.weight.copy_(torch_mha.in_proj_weight[16 * i:16 * (i + 1)])
            proj.bias.copy_(torch_mha.in_proj_bias[16 * i:16 * (i + 1)])
        mha.out_proj.load_state_dict(torch_mha.out_proj.state_dict())
    x, mem = torch.randn(2, 5, 16, dtype=torch.float64), torch.randn(2, 7, 16, dtype=torch.float64)
    mask = cnn.padding_mask(torch.tensor([7, 4]), 7)
    out, _ = mha(x, mem, mem, mask)
    expected, _ = torch_mha(x, mem, mem, key_padding_mask=~mask[:, 0, 0])
    torch.testing.assert_close(out, expected, **TOL)


@pytest.mark.parametrize("dim,heads,qkv_bias", [(16, 2, True), (24, 3, False)])
def test_block_loads_timm_state_dict_and_matches(dim, heads, qkv_bias):
    timm_block = randomise(TimmBlock(dim, heads, qkv_bias=qkv_bias).double())
    block = cnn.Block(dim, heads, qkv_bias=qkv_bias, dtype=torch.float64)
    block.load_state_dict(timm_block.state_dict(), strict=True)
    x = torch.randn(2, 9, dim, dtype=torch.float64)
    torch.testing.assert_close(block(x), timm_block(x), **TOL)
    out, weights = block.attn(block.norm1(x), return_weights=True)
    torch.testing.assert_close(out, block.attn(block.norm1(x)), **TOL)
    assert weights.shape == (2, heads, 9, 9)
