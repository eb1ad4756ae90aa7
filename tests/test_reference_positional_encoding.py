"""The positional-encoding reference solution (loaded from solutions/positional_encoding.ipynb) against independent
implementations, in float64:

* sinusoidal encoding: the paper's formula evaluated entry by entry with Python's ``math`` (Vaswani et al. 2017),
  and timm's ``build_sincos2d_pos_embed`` (which uses the concatenated [sin..., cos...] layout: equal after
  de-interleaving);
* relative position index: timm's ``get_relative_position_index`` (the code Swin runs) and the buffer of
  ``timm.models.swin_transformer.WindowAttention``;
* rotary embedding: timm's ``apply_rot_embed`` with the interleaved layout ``half=False`` (pairs (2i, 2i+1),
  the layout of RoFormer and of the reference) and timm's own frequencies from ``build_rotary_pos_embed``; timm's
  ``half=True`` (pairs (i, i + d/2), GPT-NeoX / Llama code) equals the reference after a fixed permutation;
* resizing a learned table: timm's ``resample_abs_pos_embed`` (float32), and in float64 the separable resize (one
  interpolation matrix per axis) of the grid read row by row;
* the counts: the bias tables of timm's Swin ``WindowAttention`` and models, the ``pos_embed`` of timm's ViTs;
* attention with RoPE: timm's ``apply_rot_embed`` on queries and keys, then ``F.scaled_dot_product_attention``.
"""
import math

import pytest
import torch
from timm.layers import resample_abs_pos_embed
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
    """sin and cos of m * theta_i in timm's layouts: interleaved [f0, f0, f1, f1, ...] or half
    [f0, f1, ..., f0, f1, ...]."""
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
    q = torch.randn(1, 16, generator=gen, dtype=torch.float64)
    k = torch.randn(1, 16, generator=gen, dtype=torch.float64)
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


# --------------------------------------------------------------------------- resizing a learned table (part 5)

def axis_matrix(n_old, n_new, mode, antialias):
    """(n_new, n_old): the 1-D resize along one axis, column j = the resized unit vector e_j."""
    eye = torch.eye(n_old, dtype=torch.float64).reshape(n_old, 1, n_old, 1).expand(n_old, 1, n_old, 3)
    resized = torch.nn.functional.interpolate(eye, size=(n_new, 3), mode=mode, align_corners=False, antialias=antialias)
    return resized[..., 0].reshape(n_old, n_new).T


RESIZES = [((14, 14), (24, 24), 1, "bicubic", True), ((4, 4), (7, 7), 1, "bicubic", False),
           ((3, 5), (6, 4), 0, "bilinear", True), ((8, 6), (3, 5), 2, "bicubic", True),
           ((6, 6), (4, 4), 1, "bilinear", False), ((5, 3), (5, 3), 1, "bicubic", True)]


@pytest.mark.parametrize("old,new,prefix,mode,antialias", RESIZES)
def test_resample_matches_timm_float32(old, new, prefix, mode, antialias):
    table = torch.randn(1, prefix + old[0] * old[1], 6, generator=torch.Generator().manual_seed(sum(old) + sum(new)))
    expected = resample_abs_pos_embed(table, list(new), list(old), num_prefix_tokens=prefix, interpolation=mode,
                                      antialias=antialias)
    torch.testing.assert_close(ref.resample_pos_embed(table, old, new, prefix, mode, antialias), expected,
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("old,new,prefix,mode,antialias", RESIZES)
def test_resample_is_the_separable_resize_of_the_grid_float64(old, new, prefix, mode, antialias):
    # independent of the reshape/permute: out[i, j] = sum_h,w A_h[i, h] grid[h, w] A_w[j, w], read row by row
    table = torch.randn(1, prefix + old[0] * old[1], 5, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    out = ref.resample_pos_embed(table, old, new, prefix, mode, antialias)
    assert out.dtype == torch.float64 and out.shape == (1, prefix + new[0] * new[1], 5)
    grid = table[0, prefix:].reshape(*old, 5)
    expected = torch.einsum("ih,hwc,jw->ijc", axis_matrix(old[0], new[0], mode, antialias), grid,
                            axis_matrix(old[1], new[1], mode, antialias)).reshape(-1, 5)
    torch.testing.assert_close(out[0, prefix:], expected, **TOL)
    torch.testing.assert_close(out[0, :prefix], table[0, :prefix], rtol=0, atol=0)


def test_resample_dtypes_devices_gradients_and_errors():
    table = torch.randn(1, 1 + 16, 4, dtype=torch.float64, requires_grad=True)
    out = ref.resample_pos_embed(table, (4, 4), (6, 6))
    out.sum().backward()
    assert table.grad is not None and table.grad[0, 0].eq(1).all()      # the class token's row passes through
    for dtype in (torch.float16, torch.bfloat16):
        assert ref.resample_pos_embed(table.detach().to(dtype), (4, 4), (6, 6)).dtype == dtype
    meta = ref.resample_pos_embed(torch.empty(1, 10, 4, device="meta"), (3, 3), (5, 5))
    assert meta.device.type == "meta" and meta.shape == (1, 26, 4)
    with pytest.raises(ValueError, match="num_prefix_tokens"):
        ref.resample_pos_embed(torch.zeros(1, 11, 4), (3, 3), (5, 5))


# --------------------------------------------------------------------------- counts (part 6)

@pytest.mark.parametrize("window_h,window_w,heads", [(7, 7, 3), (12, 12, 4), (4, 6, 2), (1, 5, 3)])
def test_relative_bias_parameters_match_timm(window_h, window_w, heads):
    attn = WindowAttention(dim=8 * heads, num_heads=heads, window_size=(window_h, window_w))
    assert ref.relative_bias_parameters(window_h, window_w, heads) == attn.relative_position_bias_table.numel()


@pytest.mark.parametrize("kw", [
    dict(img_size=224, patch_size=4, window_size=7, embed_dim=24, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24)),
    dict(img_size=(64, 96), patch_size=4, window_size=(4, 6), embed_dim=16, depths=(2, 1), num_heads=(1, 2))])
def test_swin_relative_bias_parameters_match_timm(kw):
    from timm.models.swin_transformer import SwinTransformer
    model = SwinTransformer(**kw)
    expected = sum(p.numel() for n, p in model.named_parameters() if n.endswith("relative_position_bias_table"))
    assert ref.swin_relative_bias_parameters(kw["window_size"], kw["depths"], kw["num_heads"]) == expected
    if kw["depths"] == (2, 2, 6, 2):
        assert expected == 169 * (2 * 3 + 2 * 6 + 6 * 12 + 2 * 24)   # Swin-T


@pytest.mark.parametrize("img,patch,dim,kw,prefix", [(224, 16, 768, {}, 1), ((32, 48), 8, 16, dict(reg_tokens=2), 3),
                                                     (32, 8, 16, dict(class_token=False, global_pool="avg"), 0),
                                                     ((48, 32), (16, 8), 24, {}, 1)])
def test_vit_pos_embed_parameters_match_timm(img, patch, dim, kw, prefix):
    from timm.models.vision_transformer import VisionTransformer
    model = VisionTransformer(img_size=img, patch_size=patch, embed_dim=dim, depth=1, num_heads=2, **kw)
    assert ref.vit_pos_embed_parameters(img, patch, dim, num_prefix_tokens=prefix) == model.pos_embed.numel()


# --------------------------------------------------------------------------- attention with RoPE (part 7)

@pytest.mark.parametrize("shape,offset,base", [((5, 4), 0, 1e4), ((2, 3, 7, 16), 40, 1e4), ((4, 6, 8), 1000, 100.0)])
def test_rotary_attention_matches_timm_rope_and_torch_attention(shape, offset, base):
    gen = torch.Generator().manual_seed(sum(shape) + offset)
    q, k, v = (torch.randn(*shape, generator=gen, dtype=torch.float64) for _ in range(3))
    positions = torch.arange(shape[-2]) + offset
    sin, cos = timm_sin_cos(positions, shape[-1], base=base)
    rotated_q, rotated_k = apply_rot_embed(q, sin, cos), apply_rot_embed(k, sin, cos)
    expected = torch.nn.functional.scaled_dot_product_attention(rotated_q, rotated_k, v)
    torch.testing.assert_close(ref.rotary_attention(q, k, v, positions, base=base), expected, rtol=1e-10, atol=1e-12)
    # only the offsets matter
    shifted = ref.rotary_attention(q, k, v, positions + 123, base=base)
    torch.testing.assert_close(shifted, expected, rtol=1e-8, atol=1e-9)
