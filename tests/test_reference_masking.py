"""The masking reference solution (loaded from solutions/masking.ipynb) against independent implementations:
torch.nn.Transformer.generate_square_subsequent_mask, torch.nn.functional.scaled_dot_product_attention (attn_mask and
is_causal) and torch.nn.MultiheadAttention's key_padding_mask, in float64, with random lengths and inputs."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from autograder.reference import load_reference

ref = load_reference("masking")
TOL = dict(rtol=1e-12, atol=1e-12)  # float64, same arithmetic: only rounding differences


@pytest.mark.parametrize("max_len", [0, 1, 5, 9])
def test_padding_mask_matches_a_loop(max_len):
    gen = torch.Generator().manual_seed(max_len)
    lengths = torch.randint(0, max_len + 1, (6,), generator=gen)
    expected = torch.zeros(6, max_len, dtype=torch.bool)
    for b, n in enumerate(lengths.tolist()):
        expected[b, :n] = True
    mask = ref.padding_mask(lengths, max_len)
    assert mask.dtype == torch.bool and torch.equal(mask, expected)


@pytest.mark.parametrize("n", [0, 1, 2, 7])
def test_causal_mask_matches_torch(n):
    expected = nn.Transformer.generate_square_subsequent_mask(n, dtype=torch.float64) == 0
    assert torch.equal(ref.causal_mask(n), expected)


@pytest.mark.parametrize("causal", [False, True])
def test_attention_mask_matches_the_definition(causal):
    lengths = torch.tensor([4, 0, 2, 6])
    mask = ref.attention_mask(lengths, 6, causal=causal)
    assert mask.shape == (4, 1, 6, 6) and mask.dtype == torch.bool
    i, j = torch.arange(6)[:, None], torch.arange(6)[None, :]
    for b, n in enumerate(lengths.tolist()):
        assert torch.equal(mask[b, 0], (j < n) & ((j <= i) | (not causal)))


@pytest.mark.parametrize("causal", [False, True])
def test_masked_attention_matches_sdpa_including_fully_masked_rows(causal):
    gen = torch.Generator().manual_seed(int(causal))
    lengths = torch.tensor([8, 3, 0, 6, 1])
    q, k, v = (torch.randn(5, 2, 8, d, generator=gen, dtype=torch.float64) for d in (4, 4, 3))
    mask = ref.attention_mask(lengths, 8, causal=causal)
    out, weights = ref.masked_attention(q, k, v, mask)
    with sdpa_kernel(SDPBackend.MATH):  # fully masked rows: 0 on the math backend (torch 2.14)
        expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        eye = torch.eye(8, dtype=torch.float64).expand(5, 2, 8, 8)
        expected_weights = F.scaled_dot_product_attention(q, k, eye, attn_mask=mask)
    torch.testing.assert_close(out, expected, **TOL)
    torch.testing.assert_close(weights, expected_weights, **TOL)
    assert torch.equal(out[2], torch.zeros_like(out[2]))  # the empty sequence


def test_causal_mask_matches_is_causal():
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(3, 2, 7, 5, generator=gen, dtype=torch.float64) for _ in range(3))
    out, _ = ref.masked_attention(q, k, v, ref.causal_mask(7))
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=True), **TOL)


@pytest.mark.parametrize("heads", [1, 2, 4])
def test_padding_mask_matches_multihead_attention_key_padding_mask(heads):
    torch.manual_seed(heads)
    d_model, length = 8, 6
    mha = nn.MultiheadAttention(d_model, heads, batch_first=True, dtype=torch.float64)
    with torch.no_grad():  # identity projections: MultiheadAttention is then plain attention per head
        mha.in_proj_weight.copy_(torch.eye(d_model, dtype=torch.float64).repeat(3, 1))
        mha.in_proj_bias.zero_()
        mha.out_proj.weight.copy_(torch.eye(d_model, dtype=torch.float64))
        mha.out_proj.bias.zero_()
    x = torch.randn(4, length, d_model, dtype=torch.float64)
    lengths = torch.tensor([6, 1, 3, 5])
    keep = ref.padding_mask(lengths, length)
    expected, expected_weights = mha(x, x, x, key_padding_mask=~keep, need_weights=True, average_attn_weights=False)
    xh = x.view(4, length, heads, d_model // heads).transpose(1, 2)
    out, weights = ref.masked_attention(xh, xh, xh, keep[:, None, None, :])
    torch.testing.assert_close(weights, expected_weights, **TOL)
    torch.testing.assert_close(out.transpose(1, 2).reshape(4, length, d_model), expected, **TOL)


def test_padded_batch_equals_each_sequence_alone():
    gen = torch.Generator().manual_seed(3)
    lengths = torch.tensor([2, 7, 4])
    x = torch.randn(3, 7, 4, generator=gen, dtype=torch.float64)
    out, _ = ref.masked_attention(x[:, None], x[:, None], x[:, None], ref.attention_mask(lengths, 7, causal=True))
    for b, n in enumerate(lengths.tolist()):
        alone = F.scaled_dot_product_attention(x[b, :n], x[b, :n], x[b, :n], is_causal=True)
        torch.testing.assert_close(out[b, 0, :n], alone, **TOL)


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_masked_softmax_has_no_nan_in_values_or_gradients(dtype):
    scores = torch.randn(3, 4, 5).to(dtype).requires_grad_()
    mask = torch.rand(3, 4, 5) > 0.5
    mask[0, 0] = False
    mask[1] = False
    weights = ref.masked_softmax(scores, mask)
    assert weights.dtype == dtype
    assert torch.isfinite(weights).all() and torch.all(weights[~mask] == 0)
    assert torch.equal(weights[1], torch.zeros(4, 5, dtype=dtype))
    rows = mask.any(-1)
    torch.testing.assert_close(weights.sum(-1)[rows].float(), torch.ones(int(rows.sum())), atol=2e-3, rtol=0)
    weights.backward(torch.randn(3, 4, 5).to(dtype))
    assert torch.isfinite(scores.grad).all() and torch.all(scores.grad[~mask] == 0)


def test_reference_runs_on_meta_device():
    lengths = torch.empty(2, dtype=torch.long, device="meta")
    mask = ref.attention_mask(lengths, 4, causal=True)
    assert mask.device.type == "meta" and mask.shape == (2, 1, 4, 4)
    x = torch.empty(2, 3, 4, 8, device="meta", dtype=torch.float16)
    out, weights = ref.masked_attention(x, x, x, mask)
    assert out.device.type == "meta" and out.dtype == torch.float16 and weights.shape == (2, 3, 4, 4)


@pytest.mark.parametrize("args,error,message", [
    ((torch.tensor([3, 6]), 5), ValueError, "<= max_len=5"),
    ((torch.tensor([-1, 2]), 5), ValueError, ">= 0"),
    ((torch.tensor([[1, 2]]), 5), ValueError, r"shape \(B,\)"),
    ((torch.tensor([1.0, 2.0]), 5), TypeError, "integer tensor"),
    (([1, 2], 5), TypeError, "tensor"),
    ((torch.tensor([1, 2]), -1), ValueError, "non-negative int"),
])
def test_padding_mask_errors_explain_themselves(args, error, message):
    with pytest.raises(error, match=message):
        ref.padding_mask(*args)


def test_other_errors_explain_themselves():
    with pytest.raises(ValueError, match=">= 0"):
        ref.causal_mask(-2)
    with pytest.raises(TypeError, match="bool"):
        ref.masked_softmax(torch.randn(2, 3), torch.ones(2, 3))
    with pytest.raises(ValueError, match="same last dimension d_k"):
        ref.masked_attention(torch.randn(5, 4), torch.randn(7, 3), torch.randn(7, 6))
    with pytest.raises(ValueError, match="same number of positions L_k"):
        ref.masked_attention(torch.randn(5, 4), torch.randn(7, 4), torch.randn(6, 6))


# ---- parts 6 to 8: the prefix-LM mask, the counts, the loss of a padded batch ----

@pytest.mark.parametrize("lengths,prefixes", [([4, 3, 0, 6], [2, 0, 0, 6]), ([5], [5]), ([7, 7], [1, 6])])
def test_prefix_lm_mask_matches_flex_attention_create_mask(lengths, prefixes):
    """The same rule written as a flex-attention mask_mod, materialised by PyTorch."""
    from torch.nn.attention.flex_attention import create_mask

    lengths, prefixes = torch.tensor(lengths), torch.tensor(prefixes)
    L = int(lengths.max())
    expected = create_mask(lambda b, h, q, kv: (kv < lengths[b]) & ((kv <= q) | (kv < prefixes[b])),
                           len(lengths), 1, L, L, device="cpu")
    assert torch.equal(ref.prefix_lm_mask(lengths, prefixes, L), expected)


def test_prefix_lm_padded_batch_equals_each_sequence_alone():
    """Attention with the prefix-LM mask: at real positions, a padded batch gives what each sequence gives alone
    with F.scaled_dot_product_attention and a mask built by hand (prefix block all True, causal elsewhere)."""
    gen = torch.Generator().manual_seed(9)
    lengths, prefixes = torch.tensor([6, 3, 5]), torch.tensor([2, 3, 0])
    q, k, v = (torch.randn(3, 2, 6, 4, generator=gen, dtype=torch.float64) for _ in range(3))
    out, _ = ref.masked_attention(q, k, v, ref.prefix_lm_mask(lengths, prefixes, 6))
    for b, (n, p) in enumerate(zip(lengths.tolist(), prefixes.tolist())):
        alone = torch.ones(n, n, dtype=torch.bool).tril()
        alone[:, :p] = True
        expected = F.scaled_dot_product_attention(q[b, :, :n], k[b, :, :n], v[b, :, :n], attn_mask=alone)
        torch.testing.assert_close(out[b, :, :n], expected, **TOL)


def test_counts_match_the_masks():
    for n, p in [(320, 256), (7, 0), (7, 7), (0, 0)]:
        assert ref.prefix_lm_pairs(n, p) == int(ref.prefix_lm_mask(torch.tensor([n]), torch.tensor([p]), n).sum())
    for lengths in ([512, 100, 300, 37], [3, 0, 1]):
        for causal in (False, True):
            expected = 1 - ref.attention_mask(torch.tensor(lengths), max(lengths), causal=causal).double().mean().item()
            assert abs(ref.masked_fraction(lengths, causal=causal) - expected) < 1e-12


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_masked_token_loss_matches_cross_entropy_ignore_index(dtype):
    gen = torch.Generator().manual_seed(4)
    lengths = torch.tensor([5, 0, 2, 6])
    logits = torch.randn(4, 6, 9, generator=gen, dtype=dtype, requires_grad=True)
    targets = torch.randint(0, 9, (4, 6), generator=gen)
    real = torch.arange(6) < lengths[:, None]
    loss = ref.masked_token_loss(logits, targets, lengths)
    expected = F.cross_entropy(logits.reshape(-1, 9), targets.masked_fill(~real, -100).reshape(-1), ignore_index=-100)
    tol = TOL if dtype == torch.float64 else dict(rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(loss, expected, **tol)
    (grad,) = torch.autograd.grad(loss, logits)
    (expected_grad,) = torch.autograd.grad(expected, logits)
    torch.testing.assert_close(grad, expected_grad, **tol)
    assert loss.dtype == dtype and torch.all(grad[~real] == 0)
