"""The positional-encoding reference solution (loaded from solutions/positional_encoding.ipynb) against independent
implementations, in float64:

* sinusoidal encoding: the paper's formula evaluated entry by entry with Python's ``math`` (Vaswani et al. 2017),
  and timm's ``build_sincos2d_pos_embed`` (which uses the concatenated [sin..., cos...] layout: equal after
  de-interleaving);
* relative position index: timm's ``get_relative_position_index`` (the code Swin runs) and the buffer of
  ``timm.models.swin_transformer.WindowAttention``;
* rotary embedding: timm's ``apply_rot_embed`` with the interleaved layout ``half=False`` (pairs (2i, 2i+1),
  the layout of RoFormer and of the reference) and timm's own frequencies from ``build_rotary_pos_embed``; timm's
  ``half=True`` (pairs (i, i + d/2), GPT-NeoX / Llama code) equals the reference after a fixed permutation.
"""
import math

import pytest
import torch
from timm.layers.pos_embed_sincos import apply_rot_embed, build_rotary_pos_embed, build_sincos2d_pos_embed
from timm.models.swin_transformer import WindowAttention, get_relative_position_index

from autograder.reference import load_reference

ref = load_reference("positional_encoding")
TOL = dict(rtol=0, atol=1e-12)  # float64: only rounding differences


def formula(max_len, d_model, base=10000.0):
    """PE(pos, 2i) = sin(pos / base^(2i/d)), PE(pos, 2i+1) = cos(pos / base^(2i/d)), one entry at a time."""
    pe = torch.empty(max_len, d_model, dtype=torch.float64)
    for pos in range(max_len):
        for i in range(d_model // 2):
            angle = pos / base ** (2 * i / d_model)
            pe[pos, 2 * i], pe[pos, 2 * i + 1] = math.sin(angle), math.cos(angle)
    return pe


# --------------------------------------------------------------------------- sinusoidal encoding

@pytest.mark.parametrize("max_len,d_model,base", [(1, 2, 1e4), (9, 6, 1e4), (200, 64, 1e4), (50, 10, 100.0)])
def test_sinusoidal_matches_the_formula(max_len, d_model, base):
    pe = ref.sinusoidal_encoding(max_len, d_model, base=base, dtype=torch.float64)
    # angles up to 200 rad: float64 rounding of pos * w_i is ~ 200 * 1e-16
    torch.testing.assert_close(pe, formula(max_len, d_model, base), rtol=0, atol=1e-12)


def test_sinusoidal_matches_timm_concatenated_layout():
    # timm's 2-D sin-cos embedding of a (L, 1) grid with dim = 2 d: its first d features are the encoding of the
    # row index in the concatenated layout [sin(pos w_0..w_{d/2-1}), cos(...)] with w_j = 10000^(-j/(d/2)).
    L, d = 40, 16
    timm_pe = build_sincos2d_pos_embed([L, 1], dim=2 * d, interleave_sin_cos=True, dtype=torch.float64)[:, :d]
    ours = ref.sinusoidal_encoding(L, d, dtype=torch.float64)
    deinterleaved = torch.cat([ours[:, 0::2], ours[:, 1::2]], dim=-1)
    # timm computes its frequencies and angles in float32
    torch.testing.assert_close(deinterleaved, timm_pe, rtol=0, atol=2e-5)


def test_sinusoidal_rotation_property():
    d, L = 32, 100
    pe = ref.sinusoidal_encoding(L, d, dtype=torch.float64)
    w = torch.tensor([10000.0 ** (-2 * i / d) for i in range(d // 2)], dtype=torch.float64)
    for k in (1, 7, 50):
        blocks = [torch.tensor([[math.cos(k * wi), math.sin(k * wi)], [-math.sin(k * wi), math.cos(k * wi)]],
                               dtype=torch.float64) for wi in w.tolist()]
        M = torch.block_diag(*blocks)
        torch.testing.assert_close(pe[k:], pe[:-k] @ M.T, rtol=0, atol=1e-11)


def test_sinusoidal_dtypes_devices_and_errors():
    assert ref.sinusoidal_encoding(4, 8).dtype == torch.get_default_dtype()
    for dtype in (torch.float16, torch.bfloat16, torch.float32):
        pe = ref.sinusoidal_encoding(64, 8, dtype=dtype)
        assert pe.dtype == dtype
        torch.testing.assert_close(pe.double(), formula(64, 8), rtol=0, atol=1e-2 if dtype != torch.float32 else 2e-5)
    meta = ref.sinusoidal_encoding(5, 4, device="meta", dtype=torch.float64)
    assert meta.device.type == "meta" and meta.shape == (5, 4)
    for bad in (dict(max_len=3, d_model=5), dict(max_len=3, d_model=0), dict(max_len=0, d_model=4)):
        with pytest.raises(ValueError, match="d_model|max_len"):
            ref.sinusoidal_encoding(**bad)
    with pytest.raises(TypeError, match="floating-point"):
        ref.sinusoidal_encoding(3, 4, dtype=torch.int64)


# --------------------------------------------------------------------------- learned embedding

def test_learned_embedding_adds_rows_and_refuses_long_inputs():
    emb = ref.LearnedPositionalEmbedding(8, 4, dtype=torch.float64)
    x = torch.randn(3, 5, 4, dtype=torch.float64)
    torch.testing.assert_close(emb(x) - x, emb.pos_embed[:5].detach().expand(3, 5, 4), **TOL)
    assert [name for name, _ in emb.named_parameters()] == ["pos_embed"]
    with pytest.raises(ValueError, match="exceeds max_len=8"):
        emb(torch.zeros(1, 9, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"\(B, L, d_model=4\)"):
        emb(torch.zeros(1, 3, 5, dtype=torch.float64))
    meta = ref.LearnedPositionalEmbedding(8, 4, device="meta")(torch.empty(2, 3, 4, device="meta"))
    assert meta.device.type == "meta" and meta.shape == (2, 3, 4)


# --------------------------------------------------------------------------- relative position index

@pytest.mark.parametrize("win_h,win_w", [(1, 1), (2, 2), (3, 3), (7, 7), (12, 12), (2, 5), (5, 2), (4, 7), (1, 9)])
def test_relative_position_index_matches_timm(win_h, win_w):
    ours = ref.relative_position_index(win_h, win_w)
    assert ours.dtype == torch.long
    assert torch.equal(ours, get_relative_position_index(win_h, win_w))


def test_relative_position_index_matches_swin_window_attention_buffer():
    attn = WindowAttention(dim=8, num_heads=2, window_size=(3, 4))
    assert torch.equal(ref.relative_position_index(3, 4), attn.relative_position_index)


def test_relative_position_index_device_and_errors():
    meta = ref.relative_position_index(2, 3, device="meta")
    assert meta.device.type == "meta" and meta.shape == (6, 6) and meta.dtype == torch.long
    with pytest.raises(ValueError, match="at least 1"):
        ref.relative_position_index(0, 3)


# --------------------------------------------------------------------------- rotary embedding

def timm_sin_cos(positions, d, base=10000.0, half=False):
    """sin and cos of m * theta_i in timm's layouts: interleaved [f0, f0, f1, f1, ...] or half [f0, f1, ..., f0, f1, ...]."""
    theta = torch.tensor([base ** (-2 * i / d) for i in range(d // 2)], dtype=torch.float64)
    angles = positions.to(torch.float64)[..., None] * theta
    angles = torch.cat([angles, angles], -1) if half else angles.repeat_interleave(2, -1)
    return angles.sin(), angles.cos()


@pytest.mark.parametrize("shape", [(7, 4), (2, 3, 11, 16), (5, 64)])
@pytest.mark.parametrize("offset", [0, 1000])
def test_rotary_matches_timm_interleaved(shape, offset):
    gen = torch.Generator().manual_seed(sum(shape) + offset)
    x = torch.randn(*shape, generator=gen, dtype=torch.float64)
    positions = torch.arange(shape[-2]) + offset
    sin, cos = timm_sin_cos(positions, shape[-1])
    torch.testing.assert_close(ref.apply_rotary(x, positions), apply_rot_embed(x, sin, cos, half=False),
                               rtol=0, atol=1e-11)


def test_rotary_matches_timm_frequencies_float32():
    x = torch.randn(14, 32, generator=torch.Generator().manual_seed(0))
    sin, cos = build_rotary_pos_embed([14], dim=64, in_pixels=False, temperature=10000.0)  # (14, 32), interleaved
    torch.testing.assert_close(ref.apply_rotary(x, torch.arange(14)), apply_rot_embed(x, sin, cos), rtol=0, atol=1e-5)


def test_rotary_half_layout_is_a_permutation_of_interleaved():
    # RoPE with pairs (i, i + d/2) (timm half=True, GPT-NeoX / Llama) = interleaved RoPE on permuted features
    d, L = 12, 9
    x = torch.randn(L, d, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    sin, cos = timm_sin_cos(torch.arange(L), d, half=True)
    half = apply_rot_embed(x, sin, cos, half=True)
    perm = torch.stack([torch.arange(d // 2), torch.arange(d // 2) + d // 2], -1).flatten()  # 0, d/2, 1, d/2+1, ...
    torch.testing.assert_close(ref.apply_rotary(x[:, perm], torch.arange(L)), half[:, perm], **TOL)
    assert not torch.allclose(ref.apply_rotary(x, torch.arange(L)), half)  # the layouts really differ


def test_rotary_properties():
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(3, 30, 16, generator=gen, dtype=torch.float64)
    positions = torch.arange(30) * 11
    torch.testing.assert_close(ref.apply_rotary(x, positions).norm(dim=-1), x.norm(dim=-1), rtol=1e-13, atol=1e-13)
    q, k = torch.randn(1, 16, generator=gen, dtype=torch.float64), torch.randn(1, 16, generator=gen, dtype=torch.float64)
    def score(m, n):
        return (ref.apply_rotary(q, torch.tensor([m])) @ ref.apply_rotary(k, torch.tensor([n])).T).item()
    for m, n in [(0, 0), (3, 8), (8, 3), (100, 1)]:
        for shift in (1, 77, 5000):
            assert score(m, n) == pytest.approx(score(m + shift, n + shift), abs=1e-9)


def test_rotary_dtypes_devices_and_errors():
    x = torch.randn(2, 5, 8)
    for dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        assert ref.apply_rotary(x.to(dtype), torch.arange(5)).dtype == dtype
    out = ref.apply_rotary(torch.empty(2, 5, 8, device="meta", dtype=torch.float64), torch.arange(5))
    assert out.device.type == "meta" and out.shape == (2, 5, 8)
    with pytest.raises(ValueError, match="even"):
        ref.apply_rotary(torch.randn(4, 5), torch.arange(4))
    with pytest.raises(ValueError, match="one position per token"):
        ref.apply_rotary(torch.randn(4, 6), torch.arange(3))
