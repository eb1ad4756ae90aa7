"""The encoder/decoder reference solution (loaded from solutions/encoder_decoder.ipynb) against independent
implementations: torch.nn.TransformerEncoderLayer, nn.TransformerDecoderLayer and nn.Transformer (weights copied,
all parameters random, float64, post-norm and pre-norm), cross-entropy with explicit soft targets, a
teacher-forced check of greedy decoding, an exhaustive search over every output for beam search, the parameter counts
of PyTorch's layers and nn.Transformer, and PyTorch's causal mask for the masks of a batch."""
import math
import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from autograder.reference import load_reference
from coursetools.nn import causal_mask
from tests.helpers import randomise

ref = load_reference("encoder_decoder")
PAD, BOS, EOS = ref.PAD, ref.BOS, ref.EOS
TOL = dict(rtol=1e-10, atol=1e-12)   # float64, the same arithmetic in a different order: rounding only




def torch_transformer(d, heads, n_enc, n_dec, norm_first, d_ff=None):
    with warnings.catch_warnings():   # pre-norm: "enable_nested_tensor is True, but ... norm_first was True"
        warnings.simplefilter("ignore")
        return nn.Transformer(d, heads, n_enc, n_dec, dim_feedforward=d_ff or 4 * d, dropout=0.0, batch_first=True,
                              norm_first=norm_first, dtype=torch.float64)


def copy_nn_transformer(torch_model, model):
    """nn.Transformer's encoder.layers.i / encoder.norm -> the reference's encoder_layers.i / encoder_norm."""
    renames = [("encoder.layers.", "encoder_layers."), ("decoder.layers.", "decoder_layers."),
               ("encoder.norm.", "encoder_norm."), ("decoder.norm.", "decoder_norm.")]
    state = {}
    for key, value in torch_model.state_dict().items():
        for old, new in renames:
            if key.startswith(old):
                key = new + key[len(old):]
        state[key] = value
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected
    outside = ("src_embed", "tgt_embed", "out_proj")
    assert sorted(missing) == sorted(k for k in model.state_dict() if k.startswith(outside))


def lengths_to_real(lengths, max_len):
    return torch.arange(max_len) < torch.as_tensor(lengths)[:, None]    # (B, L), True = real token


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("d,heads,d_ff", [(16, 4, None), (24, 3, 40), (8, 1, 16)])
def test_encoder_layer_matches_torch(norm_first, d, heads, d_ff):
    torch_layer = randomise(nn.TransformerEncoderLayer(d, heads, d_ff or 4 * d, dropout=0.0, batch_first=True,
                                                       norm_first=norm_first, dtype=torch.float64), seed=d)
    layer = ref.EncoderLayer(d, heads, d_ff=d_ff, norm_first=norm_first, dtype=torch.float64)
    layer.load_state_dict(torch_layer.state_dict(), strict=True)   # the same parameter names as PyTorch's
    x = torch.randn(3, 6, d, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    real = lengths_to_real([6, 4, 1], 6)
    torch.testing.assert_close(layer(x), torch_layer(x), **TOL)
    torch.testing.assert_close(layer(x, real[:, None, None, :]), torch_layer(x, src_key_padding_mask=~real), **TOL)
    attn = (torch.rand(6, 6, generator=torch.Generator().manual_seed(2)) > 0.4) | torch.eye(6, dtype=torch.bool)
    torch.testing.assert_close(layer(x, attn), torch_layer(x, src_mask=~attn), **TOL)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("d,heads,T,S", [(16, 4, 5, 7), (24, 3, 6, 2), (8, 2, 1, 4)])
def test_decoder_layer_matches_torch(norm_first, d, heads, T, S):
    torch_layer = randomise(nn.TransformerDecoderLayer(d, heads, 4 * d, dropout=0.0, batch_first=True,
                                                       norm_first=norm_first, dtype=torch.float64), seed=T)
    layer = ref.DecoderLayer(d, heads, norm_first=norm_first, dtype=torch.float64)
    layer.load_state_dict(torch_layer.state_dict(), strict=True)
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(3, T, d, dtype=torch.float64, generator=gen)
    memory = torch.randn(3, S, d, dtype=torch.float64, generator=gen)
    tgt_real = lengths_to_real([T, max(1, T - 2), 1], T)
    src_real = lengths_to_real([S, 1, max(1, S - 1)], S)
    causal = causal_mask(T)
    torch.testing.assert_close(layer(x, memory), torch_layer(x, memory), **TOL)
    ours = layer(x, memory, causal & tgt_real[:, None, None, :], src_real[:, None, None, :])
    expected = torch_layer(x, memory, tgt_mask=~causal, tgt_key_padding_mask=~tgt_real,
                           memory_key_padding_mask=~src_real)
    torch.testing.assert_close(ours, expected, **TOL)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("tie_weights", [False, True])
def test_model_matches_nn_transformer(norm_first, tie_weights):
    d, heads = 16, 4
    torch_model = randomise(torch_transformer(d, heads, 2, 3, norm_first), seed=7)
    model = randomise(ref.Seq2SeqTransformer(11, 9, d_model=d, num_heads=heads, num_encoder_layers=2,
                                             num_decoder_layers=3, norm_first=norm_first, tie_weights=tie_weights,
                                             dtype=torch.float64), seed=8, scale=1.0)
    copy_nn_transformer(torch_model, model)
    src = torch.tensor([[4, 5, 6, 7, 8, 9], [3, 4, 5, PAD, PAD, PAD], [9, PAD, PAD, PAD, PAD, PAD]])
    tgt = torch.tensor([[BOS, 3, 4, 5], [BOS, 6, PAD, PAD], [BOS, 7, 8, PAD]])
    x_src = model.src_embed(src) * math.sqrt(d) + model.pos_encoding[:6]
    x_tgt = model.tgt_embed(tgt) * math.sqrt(d) + model.pos_encoding[:4]
    expected = model.out_proj(torch_model(x_src, x_tgt, tgt_mask=~causal_mask(4), src_key_padding_mask=src == PAD,
                                          tgt_key_padding_mask=tgt == PAD, memory_key_padding_mask=src == PAD))
    torch.testing.assert_close(model(src, tgt), expected, **TOL)
    torch.testing.assert_close(model.encode(src), torch_model.encoder(x_src, src_key_padding_mask=src == PAD), **TOL)


def test_model_padding_and_causality_invariances():
    model = randomise(ref.Seq2SeqTransformer(11, 9, d_model=16, num_heads=2, dtype=torch.float64), seed=3, scale=1.0)
    src = torch.tensor([[4, 5, 6], [7, PAD, PAD]])
    tgt = torch.tensor([[BOS, 3, 4, 5], [BOS, 6, 7, PAD]])
    logits = model(src, tgt)
    torch.testing.assert_close(model(F.pad(src, (0, 3), value=PAD), tgt), logits, **TOL)
    changed = tgt.clone()
    changed[:, 2:] = 8
    torch.testing.assert_close(model(src, changed)[:, :2], logits[:, :2], **TOL)


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.4])
@pytest.mark.parametrize("pad_id", [0, 3])
def test_loss_matches_cross_entropy_with_smoothed_targets(smoothing, pad_id):
    gen = torch.Generator().manual_seed(int(10 * smoothing) + pad_id)
    V = 7
    logits = torch.randn(4, 5, V, generator=gen, dtype=torch.float64) * 3
    target = torch.randint(0, V, (4, 5), generator=gen)
    target[0, 0] = (pad_id + 1) % V
    q = torch.full((4, 5, V), smoothing / (V - 1), dtype=torch.float64)
    q[..., pad_id] = 0.0
    q.scatter_add_(-1, target[..., None], torch.full((4, 5, 1), 1 - smoothing, dtype=torch.float64))
    keep = target != pad_id
    expected = F.cross_entropy(logits[keep], q[keep])
    torch.testing.assert_close(ref.label_smoothed_cross_entropy(logits, target, smoothing, pad_id), expected, **TOL)
    if smoothing == 0.0:
        torch.testing.assert_close(ref.label_smoothed_cross_entropy(logits, target, 0.0, pad_id),
                                   F.cross_entropy(logits.reshape(-1, V), target.reshape(-1), ignore_index=pad_id),
                                   **TOL)


def test_loss_is_stable_when_padding_logit_is_very_negative():
    # a trained model pushes the PAD logit far down; subtracting it from a sum would cancel catastrophically
    loss = ref.label_smoothed_cross_entropy(torch.tensor([[-1e4, 0.0, 0.0]]), torch.tensor([1]), 0.1)
    torch.testing.assert_close(loss, torch.tensor(math.log(2)))
    assert ref.label_smoothed_cross_entropy(torch.randn(2, 3, 5), torch.zeros(2, 3, dtype=torch.long)).item() == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_greedy_tokens_are_the_argmax_given_their_own_prefix(seed):
    gen = torch.Generator().manual_seed(seed)
    model = ref.Seq2SeqTransformer(9, 12, d_model=16, num_heads=2, num_encoder_layers=1, num_decoder_layers=2,
                                   dtype=torch.float64).eval()
    randomise(model, seed=seed, scale=1.0)
    with torch.no_grad():
        model.out_proj.bias[EOS] += 2.0 * seed
    src = torch.randint(3, 9, (5, 6), generator=gen)
    src[1, 3:] = PAD
    out = ref.greedy_decode(model, src, 10)
    assert out.shape[0] == 5 and out.shape[1] <= 10
    fed = torch.cat([torch.full((5, 1), BOS), out[:, :-1]], dim=1).masked_fill(
        torch.cat([torch.zeros(5, 1, dtype=torch.bool), out[:, :-1] == EOS], dim=1), PAD)
    with torch.no_grad():
        best = model(src, fed).argmax(-1)
    live = torch.cat([torch.ones(5, 1, dtype=torch.bool), (out[:, :-1] != EOS) & (out[:, :-1] != PAD)], 1)
    live = live.cumprod(1).bool()
    assert torch.equal(out[live], best[live])
    assert torch.all(out[~live] == PAD), "after EOS only padding"
    if out.shape[1] < 10:
        assert torch.all((out == EOS).any(dim=1)), "it stops early only when every row has produced EOS"


def test_reference_runs_on_meta_device():
    model = ref.Seq2SeqTransformer(7, 9, d_model=8, num_heads=2, device="meta", dtype=torch.float64)
    out = model(torch.ones(2, 5, dtype=torch.long, device="meta"), torch.ones(2, 3, dtype=torch.long, device="meta"))
    assert out.device.type == "meta" and out.dtype == torch.float64 and out.shape == (2, 3, 9)
    loss = ref.label_smoothed_cross_entropy(out, torch.ones(2, 3, dtype=torch.long, device="meta"))
    assert loss.device.type == "meta"


def test_errors_explain_themselves():
    with pytest.raises(ValueError, match=r"\(B, S, d_model=16\)"):
        ref.EncoderLayer(16, 4)(torch.randn(2, 3, 8))
    with pytest.raises(ValueError, match="memory"):
        ref.DecoderLayer(16, 4)(torch.randn(2, 3, 16), torch.randn(2, 3, 8))
    model = ref.Seq2SeqTransformer(5, 5, d_model=8, num_heads=2, max_len=4)
    with pytest.raises(ValueError, match=r"\(B, L\)"):
        model.encode(torch.ones(3, dtype=torch.long))
    with pytest.raises(ValueError, match="max_len=4"):
        model.encode(torch.ones(1, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="must agree"):
        ref.label_smoothed_cross_entropy(torch.randn(2, 3, 5), torch.ones(2, 4, dtype=torch.long))


# --------------------------------------------------------------------------- beam search (part 7)

def random_model(tgt_vocab, seed, eos_shift=0.0):
    gen = torch.Generator().manual_seed(seed)
    model = ref.Seq2SeqTransformer(9, tgt_vocab, d_model=16, num_heads=2, num_encoder_layers=1, num_decoder_layers=2,
                                   dtype=torch.float64).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
        model.out_proj.bias[EOS] += eos_shift
    return model, torch.randint(3, 9, (1, 5), generator=gen)


def exhaustive_search(model, src, max_len):
    """The most probable output of at most max_len tokens (ending with EOS, or max_len tokens without it), every
    candidate scored by one teacher-forced pass."""
    import itertools
    vocab = model.out_proj.out_features
    best, best_score = None, -math.inf
    with torch.no_grad():
        memory = model.encode(src)
        for length in range(1, max_len + 1):
            seqs = torch.tensor([s for s in itertools.product(range(vocab), repeat=length)
                                 if EOS not in s[:-1] and (s[-1] == EOS or length == max_len)])
            inputs = torch.cat([torch.full((len(seqs), 1), BOS), seqs[:, :-1]], dim=1)
            logp = model.decode(inputs, memory.expand(len(seqs), -1, -1), src.expand(len(seqs), -1)).log_softmax(-1)
            scores = logp.gather(-1, seqs[..., None]).squeeze(-1).sum(-1)
            if scores.max() > best_score:
                best, best_score = seqs[scores.argmax()], scores.max()
    return best, best_score


@pytest.mark.parametrize("vocab,max_len,seed", [(6, 3, 0), (5, 4, 1), (7, 3, 2)])
def test_beam_search_with_a_wide_beam_is_exhaustive_search(vocab, max_len, seed):
    model, src = random_model(vocab, seed, eos_shift=float(seed))
    tokens, score = ref.beam_search(model, src, vocab ** max_len + 1, max_len)
    best, best_score = exhaustive_search(model, src, max_len)
    assert tokens.tolist() == best.tolist()
    torch.testing.assert_close(score, best_score, **TOL)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_search_of_width_one_is_greedy_decoding(seed):
    model, src = random_model(12, seed, eos_shift=1.5 * seed)
    greedy = ref.greedy_decode(model, src, 8)[0]
    tokens, score = ref.beam_search(model, src, 1, 8)
    assert tokens.tolist() == greedy[greedy != PAD].tolist()


def test_beam_search_score_is_the_log_probability_of_its_tokens():
    model, src = random_model(10, 5)
    for beam in (2, 3, 6):
        tokens, score = ref.beam_search(model, src, beam, 7)
        inputs = torch.cat([torch.tensor([[BOS]]), tokens[None, :-1]], dim=1)
        with torch.no_grad():
            logp = model.decode(inputs, model.encode(src), src).log_softmax(-1)[0]
        torch.testing.assert_close(score, logp.gather(-1, tokens[:, None]).sum(), **TOL)
    with pytest.raises(ValueError, match=r"\(1, S\)"):
        ref.beam_search(model, src.expand(2, -1), 2, 5)


# --------------------------------------------------------------------------- counts (part 8)

@pytest.mark.parametrize("d,heads,d_ff", [(512, 8, 2048), (24, 3, 40), (8, 1, 5), (12288, 96, 49152)])
def test_layer_parameter_counts_match_torch(d, heads, d_ff):
    def count(module):
        return sum(p.numel() for p in module.parameters())
    assert ref.encoder_layer_parameters(d, d_ff) == count(nn.TransformerEncoderLayer(d, heads, d_ff, device="meta"))
    assert ref.decoder_layer_parameters(d, d_ff) == count(nn.TransformerDecoderLayer(d, heads, d_ff, device="meta"))


@pytest.mark.parametrize("tie_weights", [False, True])
def test_model_parameter_count_matches_nn_transformer_plus_embeddings(tie_weights):
    vs, vt, d, d_ff, n_enc, n_dec = 13, 33, 64, 256, 2, 3
    core = torch_transformer(d, 4, n_enc, n_dec, norm_first=True, d_ff=d_ff)
    expected = sum(p.numel() for p in core.parameters()) + (vs + vt) * d + vt + (0 if tie_weights else vt * d)
    assert ref.seq2seq_parameters(vs, vt, d, d_ff, n_enc, n_dec, tie_weights=tie_weights) == expected
    model = ref.Seq2SeqTransformer(vs, vt, d_model=d, num_heads=4, num_encoder_layers=n_enc, num_decoder_layers=n_dec,
                                   d_ff=d_ff, tie_weights=tie_weights)
    assert sum(p.numel() for p in model.parameters()) == expected


# --------------------------------------------------------------------------- masks (part 9)

def test_seq2seq_masks_match_torch_causal_mask_and_padding():
    src = torch.tensor([[5, 6, 7, 8], [9, 4, PAD, PAD]])
    tgt = torch.tensor([[BOS, 3, 4, 5, 6], [BOS, 7, 8, PAD, PAD]])
    enc, dec, mem = ref.seq2seq_masks(src, tgt)
    allowed = ~torch.isinf(nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64))
    assert torch.equal(dec, allowed[None, None] & (tgt != PAD)[:, None, None, :])
    assert torch.equal(enc, (src != PAD)[:, None, None, :]) and torch.equal(mem, enc)
    assert torch.equal(dec[0, 0], causal_mask(5))
    with pytest.raises(ValueError, match="one batch size"):
        ref.seq2seq_masks(src, tgt[:1])
