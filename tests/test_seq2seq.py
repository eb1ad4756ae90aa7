"""coursetools.seq2seq, the book's encoder/decoder: the task generator, the model against torch.nn.Transformer
(float64, all parameters random, post-norm and pre-norm), the key/value cache, the loss and the schedule."""
import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from coursetools import seq2seq as s2s
from coursetools.nn import causal_mask
from tests.helpers import randomise

TOL = dict(rtol=1e-10, atol=1e-12)




# --------------------------------------------------------------------------- the task

@pytest.mark.parametrize("n,words", [
    (0, "zero"), (7, "seven"), (13, "thirteen"), (20, "twenty"), (21, "twenty one"), (100, "one hundred"),
    (105, "one hundred five"), (110, "one hundred ten"), (999, "nine hundred ninety nine"), (1000, "one thousand"),
    (1001, "one thousand one"), (4072, "four thousand seventy two"),
    (12345, "twelve thousand three hundred forty five"),
    (700000, "seven hundred thousand"), (999999, "nine hundred ninety nine thousand nine hundred ninety nine"),
])
def test_number_to_words(n, words):
    assert s2s.number_to_words(n) == words


def test_number_to_words_rejects_out_of_range():
    for n in (-1, 10 ** 6):
        with pytest.raises(ValueError, match="999999"):
            s2s.number_to_words(n)


def test_vocab_round_trip_and_specials():
    vocab = s2s.Vocab("abc")
    assert vocab.tokens[:3] == s2s.SPECIALS and len(vocab) == 6
    ids = vocab.encode("cab", bos=True, eos=True)
    assert ids == [s2s.BOS, 5, 3, 4, s2s.EOS]
    assert vocab.decode(ids + [s2s.PAD, 3]) == ["c", "a", "b"]      # stops at <eos>
    with pytest.raises(ValueError, match="'z'"):
        vocab.encode("z")


def test_task_is_deterministic_and_never_trains_on_held_out_numbers():
    task = s2s.NumberToWords(seed=0)
    a, b = s2s.NumberToWords(seed=0).train_batches(32, seed=5), task.train_batches(32, seed=5)
    for _ in range(3):
        x, y = next(a), next(b)
        assert x.numbers == y.numbers and torch.equal(x.src, y.src) and torch.equal(x.tgt_out, y.tgt_out)
    assert next(task.train_batches(32, seed=6)).numbers != next(task.train_batches(32, seed=5)).numbers
    assert not torch.equal(s2s.NumberToWords(seed=1).held_out, task.held_out)
    seen = [n for batch, _ in zip(task.train_batches(256, seed=1), range(20)) for n in batch.numbers]
    assert not any(task.held_out[n] for n in seen)
    assert {len(str(n)) for n in seen} == set(range(1, 7))            # every length occurs
    test = task.test_batch(per_length=40)
    assert all(task.held_out[n] for n in test.numbers) and len(set(test.numbers)) == len(test.numbers)
    assert test.numbers == s2s.NumberToWords(seed=0).test_batch(per_length=40).numbers


def test_batch_is_padded_and_shifted():
    task = s2s.NumberToWords()
    batch = task.batch([4072, 7])
    assert batch.src.tolist() == [[task.src_vocab.index[c] for c in "4072"],
                                  [task.src_vocab.index["7"]] + [s2s.PAD] * 3]
    assert batch.tgt_in[:, 0].eq(s2s.BOS).all()
    shifted = batch.tgt_out[:, :-1]
    assert torch.equal(batch.tgt_in[:, 1:], shifted.masked_fill(shifted == s2s.EOS, s2s.PAD))
    assert task.words(batch.tgt_out[0]) == "four thousand seventy two" and task.words(batch.tgt_out[1]) == "seven"
    assert batch.tgt_out[1].tolist() == [task.tgt_vocab.index["seven"], s2s.EOS] + [s2s.PAD] * 3


# --------------------------------------------------------------------------- the model against nn.Transformer

def torch_transformer(d, heads, n_enc, n_dec, norm_first):
    with warnings.catch_warnings():   # pre-norm: "enable_nested_tensor is True, but ... norm_first was True"
        warnings.simplefilter("ignore")
        return nn.Transformer(d, heads, n_enc, n_dec, dim_feedforward=4 * d, dropout=0.0, batch_first=True,
                              norm_first=norm_first, dtype=torch.float64)


@pytest.mark.parametrize("norm_first", [False, True])
def test_model_matches_nn_transformer(norm_first):
    d, heads = 16, 4
    torch_model = randomise(torch_transformer(d, heads, 2, 3, norm_first), seed=1)
    model = s2s.Seq2SeqTransformer(11, 9, d_model=d, num_heads=heads, num_encoder_layers=2, num_decoder_layers=3,
                                   norm_first=norm_first, final_norm=True, dtype=torch.float64)
    randomise(model, seed=2, scale=1.0)
    s2s.load_torch_transformer(model, torch_model)
    src = torch.tensor([[4, 5, 6, 7, 8, 9], [3, 4, 5, 0, 0, 0], [9, 0, 0, 0, 0, 0]])
    tgt = torch.tensor([[s2s.BOS, 3, 4, 5], [s2s.BOS, 6, 0, 0], [s2s.BOS, 7, 8, 0]])
    x_src, x_tgt = model.embed(src, model.src_embed), model.embed(tgt, model.tgt_embed)
    torch.testing.assert_close(x_src, model.src_embed(src) * 4.0 + model.pos_encoding[:6], **TOL)  # sqrt(16) = 4
    expected = model.out_proj(torch_model(x_src, x_tgt, tgt_mask=~causal_mask(4), src_key_padding_mask=src == 0,
                                          tgt_key_padding_mask=tgt == 0, memory_key_padding_mask=src == 0))
    torch.testing.assert_close(model(src, tgt), expected, **TOL)


def test_post_norm_default_has_no_final_norm_and_pre_norm_has_one():
    assert isinstance(s2s.Encoder(2, 16, 4).norm, nn.Identity)
    assert isinstance(s2s.Decoder(2, 16, 4, norm_first=True).norm, nn.LayerNorm)
    assert isinstance(s2s.Encoder(2, 16, 4, final_norm=True).norm, nn.LayerNorm)


def test_weight_tying_and_embedding_scale():
    model = s2s.Seq2SeqTransformer(13, 35, d_model=64, tie_weights=True)
    assert model.out_proj.weight is model.tgt_embed.weight
    std = model.tgt_embed.weight[3:].std().item()
    assert abs(std - 64 ** -0.5) < 0.02                        # x sqrt(d): unit-scale embeddings
    assert torch.all(model.tgt_embed.weight[s2s.PAD] == 0)
    untied = s2s.Seq2SeqTransformer(13, 35, d_model=64, tie_weights=False)
    assert untied.out_proj.weight is not untied.tgt_embed.weight


@pytest.mark.parametrize("norm_first", [False, True])
def test_kv_cache_gives_the_same_logits_and_tokens(norm_first):
    model = s2s.Seq2SeqTransformer(13, 20, d_model=16, num_heads=2, num_encoder_layers=2, num_decoder_layers=2,
                                   norm_first=norm_first, dtype=torch.float64).eval()
    randomise(model, seed=4, scale=1.0)
    gen = torch.Generator().manual_seed(0)
    src = torch.randint(3, 13, (4, 5), generator=gen)
    src[2, 2:] = s2s.PAD
    tgt = torch.randint(3, 20, (4, 6), generator=gen)
    tgt[:, 0] = s2s.BOS
    with torch.no_grad():
        memory = model.encode(src)
        full = model.decode(tgt, memory, src)
        caches = [s2s.KVCache() for _ in model.decoder.layers]
        steps = [model.decode(tgt[:, t:t + 1], memory, src, caches) for t in range(6)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, **TOL)
    assert caches[0].length == 6 and caches[0].cross_k.shape == (4, 2, 5, 8)
    with torch.no_grad():
        model.out_proj.bias[s2s.EOS] += 1.0
    cached = s2s.greedy_decode(model, src, 12, use_cache=True)
    uncached = s2s.greedy_decode(model, src, 12, use_cache=False)
    assert torch.equal(cached, uncached)


def test_greedy_decode_stops_and_pads_after_eos():
    model = s2s.Seq2SeqTransformer(13, 20, d_model=16, num_heads=2, dtype=torch.float64).eval()
    randomise(model, seed=5, scale=1.0)
    with torch.no_grad():
        model.out_proj.bias[s2s.EOS] += 3.0
    out = s2s.greedy_decode(model, torch.randint(3, 13, (6, 4), generator=torch.Generator().manual_seed(1)), 15)
    after_eos = (out == s2s.EOS).long().cumsum(1) - (out == s2s.EOS).long() > 0
    assert torch.all(out[after_eos] == s2s.PAD)
    if out.shape[1] < 15:
        assert torch.all((out == s2s.EOS).any(1))


def test_model_runs_on_meta_device():
    model = s2s.Seq2SeqTransformer(7, 9, d_model=8, num_heads=2, device="meta", dtype=torch.float64)
    out = model(torch.ones(2, 5, dtype=torch.long, device="meta"), torch.ones(2, 3, dtype=torch.long, device="meta"))
    assert out.device.type == "meta" and out.dtype == torch.float64 and out.shape == (2, 3, 9)


def test_sequence_longer_than_max_len_is_an_error():
    model = s2s.Seq2SeqTransformer(7, 9, d_model=8, num_heads=2, max_len=4)
    with pytest.raises(ValueError, match="max_len=4"):
        model.encode(torch.ones(1, 5, dtype=torch.long))


# --------------------------------------------------------------------------- training pieces

@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_label_smoothed_cross_entropy(smoothing):
    gen = torch.Generator().manual_seed(0)
    V = 6
    logits = torch.randn(3, 4, V, generator=gen, dtype=torch.float64)
    target = torch.randint(0, V, (3, 4), generator=gen)
    target[0, 0] = 1
    q = torch.full((3, 4, V), smoothing / (V - 1), dtype=torch.float64)
    q[..., s2s.PAD] = 0
    q.scatter_add_(-1, target[..., None], torch.full((3, 4, 1), 1 - smoothing, dtype=torch.float64))
    keep = target != s2s.PAD
    torch.testing.assert_close(s2s.label_smoothed_cross_entropy(logits, target, smoothing),
                               F.cross_entropy(logits[keep], q[keep]), **TOL)
    if smoothing == 0:
        torch.testing.assert_close(s2s.label_smoothed_cross_entropy(logits, target, 0.0),
                                   F.cross_entropy(logits.reshape(-1, V), target.reshape(-1), ignore_index=0), **TOL)


def test_noam_schedule():
    d, warmup = 512, 4000
    assert s2s.noam_schedule(1, d, warmup) == pytest.approx(d ** -0.5 * warmup ** -1.5)
    peak = s2s.noam_schedule(warmup, d, warmup)
    assert peak == pytest.approx(d ** -0.5 * warmup ** -0.5)
    assert s2s.noam_schedule(warmup // 2, d, warmup) == pytest.approx(peak / 2)          # linear warmup
    assert s2s.noam_schedule(4 * warmup, d, warmup) == pytest.approx(peak / 2)           # then 1 / sqrt(step)
    assert max(s2s.noam_schedule(s, d, warmup) for s in range(1, 20000, 7)) <= peak * (1 + 1e-12)


def test_training_is_deterministic_and_records_everything():
    task = s2s.NumberToWords(max_digits=3)
    config = s2s.Seq2SeqConfig(steps=6, batch_size=8, warmup_steps=3, eval_every=3, eval_per_length=4)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = s2s.Seq2SeqTransformer(len(task.src_vocab), len(task.tgt_vocab), d_model=16, num_heads=2,
                                       num_encoder_layers=1, num_decoder_layers=1)
        runs.append(s2s.train_seq2seq(model, task, config, device=torch.device("cpu"), progress=False))
    a, b = runs
    assert a.loss == b.loss and len(a.loss) == 6 and a.eval_step == [3, 6] and len(a.exact_match) == 2
    assert a.lr[2] == pytest.approx(config.lr)                      # the peak, after warmup_steps steps
    assert a.lr[0] == pytest.approx(config.lr / 3) and a.lr[5] < a.lr[2]
    assert all(0.0 <= x <= 1.0 for x in a.exact_match + a.token_accuracy)


def test_exact_match_counts_whole_sequences():
    task = s2s.NumberToWords(max_digits=2)
    batch = task.batch([3, 45])

    class Oracle(s2s.Seq2SeqTransformer):
        """Scores the right next word highest (it peeks at the batch's targets), so exact match is 1."""

        def decode(self, tgt, memory, src, caches=None):
            start = 0 if caches is None else caches[0].length
            if caches is not None:
                caches[0].self_k = torch.zeros(1, 1, start + tgt.shape[1], 1)
            target = F.pad(batch.tgt_out, (0, 20), value=s2s.PAD)[:, start:start + tgt.shape[1]]
            return F.one_hot(target, len(task.tgt_vocab)).float()

    oracle = Oracle(len(task.src_vocab), len(task.tgt_vocab), d_model=8, num_heads=2)
    assert s2s.exact_match(oracle, batch) == 1.0
