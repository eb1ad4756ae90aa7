"""The attention reference solution (loaded from solutions/attention.ipynb) against independent implementations:
torch.nn.functional.scaled_dot_product_attention and torch.nn.MultiheadAttention, in float64, all parameters random."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from autograder.reference import load_reference

ref = load_reference("attention")
TOL = dict(rtol=1e-12, atol=1e-12)  # float64, same arithmetic: only rounding differences


def random_mask(*shape, generator):
    mask = torch.rand(*shape, generator=generator) > 0.5
    mask[..., 0] = True  # every query attends to at least one key
    return mask


@pytest.mark.parametrize("batch", [(), (3,), (2, 4)])
@pytest.mark.parametrize("masked", [False, True])
def test_sdpa_matches_torch(batch, masked):
    gen = torch.Generator().manual_seed(len(batch) + 10 * masked)
    q = torch.randn(*batch, 5, 8, generator=gen, dtype=torch.float64)
    k = torch.randn(*batch, 7, 8, generator=gen, dtype=torch.float64)
    v = torch.randn(*batch, 7, 3, generator=gen, dtype=torch.float64)
    mask = random_mask(*batch, 5, 7, generator=gen) if masked else None
    out, weights = ref.scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), **TOL)
    eye = torch.eye(7, dtype=torch.float64).expand(*batch, 7, 7)
    torch.testing.assert_close(weights, F.scaled_dot_product_attention(q, k, eye, attn_mask=mask), **TOL)


def test_sdpa_causal_matches_is_causal():
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 6, 4, generator=gen, dtype=torch.float64) for _ in range(3))
    out, _ = ref.scaled_dot_product_attention(q, k, v, torch.ones(6, 6, dtype=torch.bool).tril())
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=True), **TOL)


def copy_torch_weights(torch_mha, mha):
    d = torch_mha.embed_dim
    with torch.no_grad():
        for i, proj in enumerate((mha.q_proj, mha.k_proj, mha.v_proj)):
            proj.weight.copy_(torch_mha.in_proj_weight[i * d:(i + 1) * d])
            if proj.bias is not None:
                proj.bias.copy_(torch_mha.in_proj_bias[i * d:(i + 1) * d])
        mha.out_proj.load_state_dict(torch_mha.out_proj.state_dict())


@pytest.mark.parametrize("d_model,heads,bias", [(16, 4, True), (24, 3, False), (8, 1, True), (32, 8, True)])
@pytest.mark.parametrize("cross,masked", [(False, False), (True, True), (False, True)])
def test_mha_matches_nn_multihead_attention(d_model, heads, bias, cross, masked):
    torch.manual_seed(d_model + heads)
    torch_mha = nn.MultiheadAttention(d_model, heads, bias=bias, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        for p in torch_mha.parameters():
            p.normal_()
    mha = ref.MultiHeadAttention(d_model, heads, bias=bias, dtype=torch.float64)
    copy_torch_weights(torch_mha, mha)
    x = torch.randn(3, 5, d_model, dtype=torch.float64)
    memory = torch.randn(3, 9, d_model, dtype=torch.float64) if cross else x
    mask = random_mask(5, memory.shape[1], generator=torch.Generator().manual_seed(1)) if masked else None
    out, weights = mha(x, memory, memory, mask=mask)
    expected, expected_weights = torch_mha(x, memory, memory, attn_mask=None if mask is None else ~mask,
                                           need_weights=True, average_attn_weights=False)
    torch.testing.assert_close(out, expected, **TOL)
    torch.testing.assert_close(weights, expected_weights, **TOL)


def test_reference_runs_on_meta_device_and_keeps_dtype():
    mha = ref.MultiHeadAttention(8, 2, device="meta", dtype=torch.float64)
    x = torch.empty(2, 3, 8, device="meta", dtype=torch.float64)
    out, weights = mha(x, x, x)
    assert out.device.type == "meta" and out.dtype == torch.float64 and weights.shape == (2, 2, 3, 3)


@pytest.mark.parametrize("q_shape,k_shape,v_shape,message", [
    ((5, 4), (7, 3), (7, 6), "same last dimension d_k"),
    ((5, 4), (7, 4), (6, 6), "same number of positions L_k"),
])
def test_sdpa_shape_errors_explain_themselves(q_shape, k_shape, v_shape, message):
    with pytest.raises(ValueError, match=message):
        ref.scaled_dot_product_attention(torch.randn(q_shape), torch.randn(k_shape), torch.randn(v_shape))


def test_mha_errors_explain_themselves():
    with pytest.raises(ValueError, match="divisible"):
        ref.MultiHeadAttention(10, 3)
    with pytest.raises(ValueError, match=r"\(B, L, d_model=16\)"):
        ref.MultiHeadAttention(16, 4)(torch.randn(2, 5, 8), torch.randn(2, 5, 16), torch.randn(2, 5, 16))
    with pytest.raises(TypeError, match="bool"):
        ref.scaled_dot_product_attention(torch.randn(2, 3), torch.randn(2, 3), torch.randn(2, 3), torch.ones(2, 2))


def test_fully_masked_rows_get_all_zero_weights_as_the_masking_chapter_teaches():
    """book/masking.md: a query with no key reads nothing (weights 0, output 0), and the backward pass stays finite;
    coursetools.attention.attention does the same."""
    from coursetools.attention import attention

    gen = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 4, 3, generator=gen, dtype=torch.float64, requires_grad=True) for _ in range(3))
    mask = torch.tensor([[True, True, False, False], [False] * 4, [True] * 4, [False, False, False, True]])
    out, w = ref.scaled_dot_product_attention(q, k, v, mask)
    assert torch.equal(w[:, 1], torch.zeros(2, 4, dtype=torch.float64))
    assert torch.equal(out[:, 1], torch.zeros(2, 3, dtype=torch.float64))
    expected_out, expected_w = attention(q, k, v, mask)
    torch.testing.assert_close(w, expected_w, **TOL)
    torch.testing.assert_close(out, expected_out, **TOL)
    (out.sum() + w.sum()).backward()
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))


def test_mha_gradients_match_nn_multihead_attention():
    gen = torch.Generator().manual_seed(5)
    torch_mha = nn.MultiheadAttention(12, 3, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        for p in torch_mha.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
    mha = ref.MultiHeadAttention(12, 3, dtype=torch.float64)
    with torch.no_grad():
        for i, proj in enumerate((mha.q_proj, mha.k_proj, mha.v_proj)):
            proj.weight.copy_(torch_mha.in_proj_weight[12 * i:12 * (i + 1)])
            proj.bias.copy_(torch_mha.in_proj_bias[12 * i:12 * (i + 1)])
        mha.out_proj.load_state_dict(torch_mha.out_proj.state_dict())
    x = torch.randn(2, 5, 12, generator=gen, dtype=torch.float64)
    mask = random_mask(5, 5, generator=gen)
    ours = mha(x, x, x, mask)[0]
    theirs = torch_mha(x, x, x, attn_mask=~mask, need_weights=False)[0]
    upstream = torch.randn(ours.shape, generator=gen, dtype=torch.float64)
    (ours * upstream).sum().backward()
    (theirs * upstream).sum().backward()
    in_grad = torch.cat([p.weight.grad for p in (mha.q_proj, mha.k_proj, mha.v_proj)])
    torch.testing.assert_close(in_grad, torch_mha.in_proj_weight.grad, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(mha.out_proj.weight.grad, torch_mha.out_proj.weight.grad, rtol=1e-9, atol=1e-10)


# ---- parts 3 to 5: packed self-attention, grouped-query attention, the cost counts ----

@pytest.mark.parametrize("d_model,heads,bias,length", [(12, 3, True, 5), (16, 4, False, 7), (8, 1, True, 1)])
def test_packed_self_attention_matches_nn_multihead_attention(d_model, heads, bias, length):
    """qkv.weight is nn.MultiheadAttention's in_proj_weight: outputs, per-head weights and gradients agree."""
    gen = torch.Generator().manual_seed(d_model + length)
    torch_mha = nn.MultiheadAttention(d_model, heads, bias=bias, batch_first=True, dtype=torch.float64)
    packed = ref.PackedSelfAttention(d_model, heads, bias=bias, dtype=torch.float64)
    with torch.no_grad():
        for p in torch_mha.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
        packed.qkv.weight.copy_(torch_mha.in_proj_weight)
        packed.out_proj.weight.copy_(torch_mha.out_proj.weight)
        if bias:
            packed.qkv.bias.copy_(torch_mha.in_proj_bias)
            packed.out_proj.bias.copy_(torch_mha.out_proj.bias)
    x = torch.randn(3, length, d_model, generator=gen, dtype=torch.float64)
    out, weights = packed(x)
    expected, expected_weights = torch_mha(x, x, x, need_weights=True, average_attn_weights=False)
    torch.testing.assert_close(out, expected, **TOL)
    torch.testing.assert_close(weights, expected_weights, **TOL)
    upstream = torch.randn(out.shape, generator=gen, dtype=torch.float64)
    (out * upstream).sum().backward()
    (expected * upstream).sum().backward()
    torch.testing.assert_close(packed.qkv.weight.grad, torch_mha.in_proj_weight.grad, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(packed.out_proj.weight.grad, torch_mha.out_proj.weight.grad, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("heads,kv_heads", [(4, 4), (4, 2), (6, 1), (8, 4)])
@pytest.mark.parametrize("masked", [False, True])
def test_grouped_query_attention_matches_sdpa_enable_gqa(heads, kv_heads, masked):
    gen = torch.Generator().manual_seed(heads * 10 + kv_heads + masked)
    q = torch.randn(2, heads, 5, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    k = torch.randn(2, kv_heads, 7, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    v = torch.randn(2, kv_heads, 7, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    mask = random_mask(2, 1, 5, 7, generator=gen) if masked else None
    out, weights = ref.grouped_query_attention(q, k, v, mask)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True)
    eye = torch.eye(7, dtype=torch.float64).expand(2, kv_heads, 7, 7)
    torch.testing.assert_close(out, expected, **TOL)
    torch.testing.assert_close(weights, F.scaled_dot_product_attention(q, k, eye, attn_mask=mask, enable_gqa=True),
                               **TOL)
    upstream = torch.randn(out.shape, generator=gen, dtype=torch.float64)
    mine = torch.autograd.grad((out * upstream).sum(), (q, k, v))
    theirs = torch.autograd.grad((expected * upstream).sum(), (q, k, v))
    for a, b in zip(mine, theirs):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


def test_grouped_query_attention_with_full_groups_is_multi_head_attention():
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 4, 5, generator=gen, dtype=torch.float64) for _ in range(3))
    for got, expected in zip(ref.grouped_query_attention(q, k, v), ref.scaled_dot_product_attention(q, k, v)):
        torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_cost_counts_match_pytorch():
    from torch.utils.flop_counter import FlopCounterMode

    for b, h, lq, lk, dk, dv in [(2, 3, 5, 7, 4, 6), (8, 32, 4096, 4096, 128, 128)]:
        q, k, v = (torch.empty(b, h, n, d, device="meta") for n, d in ((lq, dk), (lk, dk), (lk, dv)))
        with FlopCounterMode(display=False) as counter:
            (q @ k.transpose(-2, -1)).softmax(-1) @ v
        assert ref.attention_flops(b, h, lq, lk, dk, dv) == counter.get_total_flops()
        assert ref.attention_weights_bytes(b, h, lq, lk, torch.bfloat16) == \
            torch.empty(b, h, lq, lk, dtype=torch.bfloat16, device="meta").nbytes
    for b, lq, lk, d, h in [(2, 5, 7, 8, 2), (1, 4096, 4096, 1024, 16)]:
        x_q, x_k = torch.empty(b, lq, d, device="meta"), torch.empty(b, lk, d, device="meta")
        with FlopCounterMode(display=False) as counter:   # torch's own module: the count is not ours
            nn.MultiheadAttention(d, h, batch_first=True, device="meta")(x_q, x_k, x_k, need_weights=False)
        assert ref.mha_flops(b, lq, lk, d) == counter.get_total_flops()
    assert ref.gqa_parameters(4096, 32, 32, bias=False) == \
        sum(p.numel() for p in nn.MultiheadAttention(4096, 32, bias=False, device="meta").parameters())
    assert ref.gqa_parameters(4096, 32, 8, bias=True) == 2 * (4096 * 4096 + 4096) + 2 * (1024 * 4096 + 1024)
