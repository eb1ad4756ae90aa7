"""The encoder/decoder transformer of Vaswani et al. (2017) and everything needed to
train it on a real task.

The book's own implementation (verified against ``torch.nn.Transformer`` in
``tests/test_seq2seq.py``):

* a seeded, download-free sequence-to-sequence task, :class:`NumberToWords`
  ("4072" -> "four thousand seventy two"), with its :class:`Vocab` and padded
  :class:`Batch` es;
* the model: :class:`EncoderLayer`, :class:`DecoderLayer`, the stacks
  :class:`Encoder` / :class:`Decoder` and :class:`Seq2SeqTransformer` (embeddings
  scaled by sqrt(d_model), sinusoidal positions, optional weight tying);
* training: :func:`label_smoothed_cross_entropy`, :func:`noam_schedule`,
  :func:`train_seq2seq`;
* inference: :func:`greedy_decode`, with or without a key/value cache
  (:class:`KVCache`), and :func:`exact_match`.

It builds on the attention chapter's :class:`~coursetools.nn.MultiHeadAttention` and on
the masks and positions of the masking and positional-encoding chapters (imported, not
copied). Mask convention as in the whole course: boolean, ``True`` = may attend. Graded
reference solutions are not here: they live only in ``solutions/``.
"""

from __future__ import annotations

import math
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from coursetools.attention import MultiHeadAttention, attention
from coursetools.device import get_device
from coursetools.masks import causal_mask
from coursetools.positions import sinusoidal_encoding

PAD, BOS, EOS = 0, 1, 2
SPECIALS = ("<pad>", "<bos>", "<eos>")

__all__ = [
    "PAD",
    "BOS",
    "EOS",
    "SPECIALS",
    "Vocab",
    "number_to_words",
    "Batch",
    "NumberToWords",
    "EncoderLayer",
    "DecoderLayer",
    "Encoder",
    "Decoder",
    "Seq2SeqTransformer",
    "KVCache",
    "load_torch_transformer",
    "label_smoothed_cross_entropy",
    "noam_schedule",
    "Seq2SeqConfig",
    "Seq2SeqHistory",
    "train_seq2seq",
    "greedy_decode",
    "exact_match",
]


# --------------------------------------------------------------------------- the task:
# numbers -> English words


class Vocab:
    """Token <-> id. Ids 0, 1, 2 are always ``<pad>``, ``<bos>``, ``<eos>``
    (:data:`PAD`, :data:`BOS`, :data:`EOS`)."""

    def __init__(self, tokens: Sequence[str]):
        tokens = tuple(tokens)
        if len(set(tokens)) != len(tokens) or set(tokens) & set(SPECIALS):
            raise ValueError(
                "tokens must be distinct and must not contain the special tokens"
            )
        self.tokens = SPECIALS + tokens
        self.index = {token: i for i, token in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(
        self, tokens: Sequence[str], bos: bool = False, eos: bool = False
    ) -> list[int]:
        """Ids of ``tokens``, optionally between ``<bos>`` and ``<eos>``."""
        try:
            ids = [self.index[t] for t in tokens]
        except KeyError as err:
            raise ValueError(
                f"token {err.args[0]!r} is not in the vocabulary"
            ) from None
        return [BOS] * bos + ids + [EOS] * eos

    def decode(self, ids) -> list[str]:
        """Tokens of ``ids`` up to the first ``<eos>``; ``<pad>`` and
        ``<bos>`` are dropped."""
        out = []
        for i in ids.tolist() if hasattr(ids, "tolist") else ids:
            if i == EOS:
                break
            if i not in (PAD, BOS):
                out.append(self.tokens[i])
        return out


_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen "
    "sixteen seventeen eighteen nineteen"
).split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()


def _below_thousand(n: int) -> list[str]:
    words = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        words += [_ONES[hundreds], "hundred"]
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        words.append(_TENS[tens - 2])
        if ones:
            words.append(_ONES[ones])
    elif rest:
        words.append(_ONES[rest])
    return words


def number_to_words(n: int) -> str:
    """American English words for 0 <= n < 10**6, without "and" or hyphens: 4072 ->
    "four thousand seventy two"."""
    if not 0 <= n < 10**6:
        raise ValueError(f"n must lie in [0, 999999], got {n}")
    if n == 0:
        return "zero"
    thousands, rest = divmod(n, 1000)
    words = (
        _below_thousand(thousands) + ["thousand"] if thousands else []
    ) + _below_thousand(rest)
    return " ".join(words)


@dataclass
class Batch:
    """A padded batch. src (B, S): digits; tgt_in (B, T): <bos> w_1 .. w_k; tgt_out (B,
    T): w_1 .. w_k <eos>."""

    src: torch.Tensor
    tgt_in: torch.Tensor
    tgt_out: torch.Tensor
    numbers: list[int]

    def to(self, device) -> "Batch":
        return Batch(
            self.src.to(device),
            self.tgt_in.to(device),
            self.tgt_out.to(device),
            self.numbers,
        )


def _pad(sequences: list[list[int]]) -> torch.Tensor:
    out = torch.full((len(sequences), max(map(len, sequences))), PAD, dtype=torch.long)
    for i, seq in enumerate(sequences):
        out[i, : len(seq)] = torch.tensor(seq)
    return out


class NumberToWords:
    """Numbers written in digits -> English words, e.g. "4072" -> "four
    thousand seventy two".

    The number of digits is uniform in 1..``max_digits`` (so short numbers are common),
    the number uniform among those with that many digits. A seeded ``test_fraction`` of
    all numbers is held out: training never sees them, and :meth:`test_batch` is made of
    them only, so exact-match on it measures generalisation. Source lengths vary from 1
    to ``max_digits``, target lengths from 2 to 11 tokens: padding matters.
    """

    def __init__(self, max_digits: int = 6, test_fraction: float = 0.1, seed: int = 0):
        if not 1 <= max_digits <= 6:
            raise ValueError(f"max_digits must lie in 1..6, got {max_digits}")
        self.max_digits, self.seed = max_digits, seed
        self.src_vocab = Vocab("0123456789")
        self.tgt_vocab = Vocab(_ONES + _TENS + ["hundred", "thousand"])
        gen = torch.Generator().manual_seed(seed)
        self.held_out = (
            torch.rand(10**max_digits, generator=gen) < test_fraction
        )  # (10**max_digits,) bool

    def sample_numbers(
        self, n: int, rng: random.Random, held_out: bool = False
    ) -> list[int]:
        """``n`` numbers from the task's distribution, all from the training or all from
        the held-out part."""
        numbers = []
        while len(numbers) < n:
            digits = rng.randint(1, self.max_digits)
            x = rng.randrange(10 ** (digits - 1) if digits > 1 else 0, 10**digits)
            if bool(self.held_out[x]) == held_out:
                numbers.append(x)
        return numbers

    def batch(self, numbers: Sequence[int]) -> Batch:
        """The padded :class:`Batch` for ``numbers``."""
        src = [self.src_vocab.encode(str(x)) for x in numbers]
        tgt = [self.tgt_vocab.encode(number_to_words(x).split()) for x in numbers]
        return Batch(
            _pad(src),
            _pad([[BOS] + t for t in tgt]),
            _pad([t + [EOS] for t in tgt]),
            list(numbers),
        )

    def train_batches(self, batch_size: int, seed: int = 0) -> Iterator[Batch]:
        """Endless training batches (never a held-out number); the same ``seed`` gives
        the same batches."""
        rng = random.Random(seed)
        while True:
            yield self.batch(self.sample_numbers(batch_size, rng))

    def test_batch(self, per_length: int = 100) -> Batch:
        """Held-out numbers, up to ``per_length`` distinct ones of each length (fewer
        where fewer exist)."""
        rng = random.Random(self.seed + 1)
        numbers = []
        for digits in range(1, self.max_digits + 1):
            lo, hi = (10 ** (digits - 1) if digits > 1 else 0), 10**digits
            candidates = (
                self.held_out[lo:hi].nonzero().flatten() + lo
            ).tolist()  # all held out, this length
            if len(candidates) <= per_length:
                numbers += candidates
                continue
            chosen: set[int] = set()
            while len(chosen) < per_length:
                x = rng.randrange(lo, hi)
                if self.held_out[x]:
                    chosen.add(x)
            numbers += sorted(chosen)
        return self.batch(numbers)

    def words(self, ids) -> str:
        """Target ids -> the English words (up to <eos>)."""
        return " ".join(self.tgt_vocab.decode(ids))


# --------------------------------------------------------------------------- key/value
# cache for decoding


@dataclass
class KVCache:
    """What one decoder layer keeps between greedy-decoding steps, each
    (B, h, L, d_head).

    ``self_k``/``self_v`` grow by one position per step (the keys and values of the
    tokens decoded so far); ``cross_k``/``cross_v`` are the projected encoder output,
    computed at the first step and reused.
    """

    self_k: torch.Tensor | None = None
    self_v: torch.Tensor | None = None
    cross_k: torch.Tensor | None = None
    cross_v: torch.Tensor | None = None

    @property
    def length(self) -> int:
        return 0 if self.self_k is None else self.self_k.shape[-2]


def _split_heads(mha: MultiHeadAttention, x: torch.Tensor) -> torch.Tensor:
    """(B, L, d_model) -> (B, h, L, d_head)"""
    batch, length, _ = x.shape
    return x.view(batch, length, mha.num_heads, mha.d_head).transpose(1, 2)


def _attend_cached(mha: MultiHeadAttention, query, k, v, mask=None):
    """``mha`` with keys/values already projected and split: query (B, L_q, d), k/v (B,
    h, L_k, d_head)."""
    out, weights = attention(_split_heads(mha, mha.q_proj(query)), k, v, mask)
    batch, length = query.shape[:2]
    return mha.out_proj(
        out.transpose(1, 2).reshape(batch, length, mha.d_model)
    ), weights


# --------------------------------------------------------------------------- the layers


class EncoderLayer(nn.Module):
    """Self-attention and a position-wise feed-forward network, each wrapped in a
    residual connection and LayerNorm.

    Post-norm (the paper): x = LN(x + Sublayer(x)).  Pre-norm (``norm_first=True``): x =
    x + Sublayer(LN(x)). x (B, S, d_model), mask broadcastable to (B, h, S, S), True =
    may attend -> (B, S, d_model). Parameter names follow ``nn.TransformerEncoderLayer``
    (self_attn, linear1, linear2, norm1, norm2).
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        d_ff: int | None = None,
        dropout: float = 0.0,
        norm_first: bool = False,
        eps: float = 1e-5,
        device=None,
        dtype=None,
    ):
        super().__init__()
        factory = dict(device=device, dtype=dtype)
        d_ff = 4 * d_model if d_ff is None else d_ff
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(
            d_model, num_heads, dropout=dropout, **factory
        )
        self.linear1 = nn.Linear(d_model, d_ff, **factory)
        self.linear2 = nn.Linear(d_ff, d_model, **factory)
        self.norm1 = nn.LayerNorm(d_model, eps=eps, **factory)
        self.norm2 = nn.LayerNorm(d_model, eps=eps, **factory)
        self.dropout = nn.Dropout(dropout)  # inside the feed-forward network
        self.dropout1 = nn.Dropout(
            dropout
        )  # on each sublayer's output, before the residual sum
        self.dropout2 = nn.Dropout(dropout)

    def _self_attention(self, x, mask):
        return self.dropout1(self.self_attn(x, x, x, mask)[0])

    def _feed_forward(self, x):
        return self.dropout2(self.linear2(self.dropout(F.relu(self.linear1(x)))))

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        if self.norm_first:
            x = x + self._self_attention(self.norm1(x), mask)
            x = x + self._feed_forward(self.norm2(x))
        else:
            x = self.norm1(x + self._self_attention(x, mask))
            x = self.norm2(x + self._feed_forward(x))
        return x


class DecoderLayer(nn.Module):
    """Masked self-attention, cross-attention to the encoder output ``memory``,
    feed-forward network; each with a residual connection and LayerNorm (post-norm, or
    pre-norm with ``norm_first=True``).

    x (B, T, d_model), memory (B, S, d_model); self_mask broadcastable to (B, h, T, T)
    (causal, and padding), memory_mask to (B, h, T, S) (the source padding) -> (B, T,
    d_model). With a :class:`KVCache`, x holds only the new positions; the cache
    supplies the keys and values of the earlier ones (so no causal mask is needed) and
    of the memory. Parameter names follow ``nn.TransformerDecoderLayer`` (self_attn,
    multihead_attn, linear1/2, norm1/2/3).
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        d_ff: int | None = None,
        dropout: float = 0.0,
        norm_first: bool = False,
        eps: float = 1e-5,
        device=None,
        dtype=None,
    ):
        super().__init__()
        factory = dict(device=device, dtype=dtype)
        d_ff = 4 * d_model if d_ff is None else d_ff
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(
            d_model, num_heads, dropout=dropout, **factory
        )
        self.multihead_attn = MultiHeadAttention(
            d_model, num_heads, dropout=dropout, **factory
        )
        self.linear1 = nn.Linear(d_model, d_ff, **factory)
        self.linear2 = nn.Linear(d_ff, d_model, **factory)
        self.norm1 = nn.LayerNorm(d_model, eps=eps, **factory)
        self.norm2 = nn.LayerNorm(d_model, eps=eps, **factory)
        self.norm3 = nn.LayerNorm(d_model, eps=eps, **factory)
        self.dropout = nn.Dropout(dropout)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)

    def _self_attention(self, x, mask, cache: KVCache | None):
        if cache is None:
            return self.dropout1(self.self_attn(x, x, x, mask)[0])
        attn = self.self_attn
        k, v = (
            _split_heads(attn, attn.k_proj(x)),
            _split_heads(attn, attn.v_proj(x)),
        )  # the new positions only
        if cache.self_k is not None:  # append them to the cached ones
            k, v = (
                torch.cat([cache.self_k, k], dim=2),
                torch.cat([cache.self_v, v], dim=2),
            )
        cache.self_k, cache.self_v = k, v
        return self.dropout1(_attend_cached(self.self_attn, x, k, v, mask)[0])

    def _cross_attention(self, x, memory, mask, cache: KVCache | None):
        if cache is None:
            return self.dropout2(self.multihead_attn(x, memory, memory, mask)[0])
        if cache.cross_k is None:  # the memory does not change: project it once
            cache.cross_k = _split_heads(
                self.multihead_attn, self.multihead_attn.k_proj(memory)
            )
            cache.cross_v = _split_heads(
                self.multihead_attn, self.multihead_attn.v_proj(memory)
            )
        return self.dropout2(
            _attend_cached(self.multihead_attn, x, cache.cross_k, cache.cross_v, mask)[
                0
            ]
        )

    def _feed_forward(self, x):
        return self.dropout3(self.linear2(self.dropout(F.relu(self.linear1(x)))))

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        self_mask: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
        cache: KVCache | None = None,
    ) -> torch.Tensor:
        if self.norm_first:
            x = x + self._self_attention(self.norm1(x), self_mask, cache)
            x = x + self._cross_attention(self.norm2(x), memory, memory_mask, cache)
            x = x + self._feed_forward(self.norm3(x))
        else:
            x = self.norm1(x + self._self_attention(x, self_mask, cache))
            x = self.norm2(x + self._cross_attention(x, memory, memory_mask, cache))
            x = self.norm3(x + self._feed_forward(x))
        return x


class Encoder(nn.Module):
    """``num_layers`` :class:`EncoderLayer` s and a final LayerNorm (by default only for
    pre-norm, where the last residual sum is otherwise never normalised): (B, S,
    d_model) -> (B, S, d_model).

    ``final_norm=True`` with post-norm reproduces ``nn.Transformer``, which always adds
    ``encoder.norm``.
    """

    def __init__(
        self,
        num_layers: int,
        d_model: int,
        num_heads: int,
        d_ff: int | None = None,
        dropout: float = 0.0,
        norm_first: bool = False,
        final_norm: bool | None = None,
        eps: float = 1e-5,
        device=None,
        dtype=None,
    ):
        super().__init__()
        factory = dict(device=device, dtype=dtype)
        self.layers = nn.ModuleList(
            [
                EncoderLayer(
                    d_model, num_heads, d_ff, dropout, norm_first, eps, **factory
                )
                for _ in range(num_layers)
            ]
        )
        final_norm = norm_first if final_norm is None else final_norm
        self.norm = (
            nn.LayerNorm(d_model, eps=eps, **factory) if final_norm else nn.Identity()
        )

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, mask)
        return self.norm(x)


class Decoder(nn.Module):
    """``num_layers`` :class:`DecoderLayer` s and a final LayerNorm (as
    :class:`Encoder`): x (B, T, d_model), memory (B, S, d_model) -> (B, T, d_model).
    ``caches``: one :class:`KVCache` per layer."""

    def __init__(
        self,
        num_layers: int,
        d_model: int,
        num_heads: int,
        d_ff: int | None = None,
        dropout: float = 0.0,
        norm_first: bool = False,
        final_norm: bool | None = None,
        eps: float = 1e-5,
        device=None,
        dtype=None,
    ):
        super().__init__()
        factory = dict(device=device, dtype=dtype)
        self.layers = nn.ModuleList(
            [
                DecoderLayer(
                    d_model, num_heads, d_ff, dropout, norm_first, eps, **factory
                )
                for _ in range(num_layers)
            ]
        )
        final_norm = norm_first if final_norm is None else final_norm
        self.norm = (
            nn.LayerNorm(d_model, eps=eps, **factory) if final_norm else nn.Identity()
        )

    def forward(
        self,
        x,
        memory,
        self_mask=None,
        memory_mask=None,
        caches: list[KVCache] | None = None,
    ):
        for i, layer in enumerate(self.layers):
            x = layer(
                x, memory, self_mask, memory_mask, None if caches is None else caches[i]
            )
        return self.norm(x)


# --------------------------------------------------------------------------- the model


class Seq2SeqTransformer(nn.Module):
    """Token ids in, next-token logits out: embeddings (x sqrt(d_model)) + sinusoidal
    positions, an :class:`Encoder`, a :class:`Decoder` and an output projection (tied to
    the target embedding if ``tie_weights``).

    src (B, S) and tgt (B, T) token ids, ``pad_id`` marking padding -> logits (B, T,
    tgt_vocab_size).
    """

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        d_model: int = 64,
        num_heads: int = 4,
        num_encoder_layers: int = 2,
        num_decoder_layers: int = 2,
        d_ff: int | None = None,
        dropout: float = 0.0,
        norm_first: bool = True,
        final_norm: bool | None = None,
        tie_weights: bool = True,
        max_len: int = 64,
        pad_id: int = PAD,
        device=None,
        dtype=None,
    ):
        super().__init__()
        factory = dict(device=device, dtype=dtype)
        self.d_model, self.pad_id = d_model, pad_id
        self.src_embed = nn.Embedding(
            src_vocab_size, d_model, padding_idx=pad_id, **factory
        )
        self.tgt_embed = nn.Embedding(
            tgt_vocab_size, d_model, padding_idx=pad_id, **factory
        )
        self.register_buffer(
            "pos_encoding",
            sinusoidal_encoding(
                max_len,
                d_model,
                device=device,
                dtype=dtype or torch.get_default_dtype(),
            ),
            persistent=False,
        )  # (max_len, d_model)
        self.dropout = nn.Dropout(dropout)
        stack = dict(
            d_model=d_model,
            num_heads=num_heads,
            d_ff=d_ff,
            dropout=dropout,
            norm_first=norm_first,
            final_norm=final_norm,
            **factory,
        )
        self.encoder = Encoder(num_encoder_layers, **stack)
        self.decoder = Decoder(num_decoder_layers, **stack)
        self.out_proj = nn.Linear(d_model, tgt_vocab_size, **factory)
        for embedding in (self.src_embed, self.tgt_embed):
            # std 1/sqrt(d): a good scale for the (tied) output projection; x sqrt(d)
            # gives unit-scale embeddings
            nn.init.normal_(embedding.weight, std=d_model**-0.5)
            with torch.no_grad():
                embedding.weight[pad_id].zero_()
        if tie_weights:
            self.out_proj.weight = self.tgt_embed.weight

    def embed(
        self, ids: torch.Tensor, embedding: nn.Embedding, start: int = 0
    ) -> torch.Tensor:
        """(B, L) ids -> (B, L, d_model): sqrt(d_model) * embedding + position encoding
        of positions start..."""
        length = ids.shape[1]
        if start + length > self.pos_encoding.shape[0]:
            raise ValueError(
                f"sequence of length {start + length} exceeds "
                f"max_len={self.pos_encoding.shape[0]}"
            )
        x = (
            embedding(ids) * math.sqrt(self.d_model)
            + self.pos_encoding[start : start + length]
        )
        return self.dropout(x)

    def key_mask(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, L) ids -> (B, 1, 1, L), True at real tokens: the keys a query
        may attend to."""
        return (ids != self.pad_id)[:, None, None, :]

    def encode(self, src: torch.Tensor) -> torch.Tensor:
        """(B, S) source ids -> memory (B, S, d_model)."""
        if src.dim() != 2:
            raise ValueError(
                f"src must be (B, S) token ids, got shape {tuple(src.shape)}"
            )
        return self.encoder(self.embed(src, self.src_embed), self.key_mask(src))

    def decode(
        self,
        tgt: torch.Tensor,
        memory: torch.Tensor,
        src: torch.Tensor,
        caches: list[KVCache] | None = None,
    ) -> torch.Tensor:
        """(B, T) target ids (starting with <bos>), memory (B, S, d_model), src (B, S)
        ids -> logits (B, T, V).

        With ``caches`` (one :class:`KVCache` per decoder layer), ``tgt`` holds
        only the new tokens.
        """
        if tgt.dim() != 2:
            raise ValueError(
                f"tgt must be (B, T) token ids, got shape {tuple(tgt.shape)}"
            )
        start = 0 if caches is None else caches[0].length
        x = self.embed(tgt, self.tgt_embed, start)
        self_mask = None
        if (
            caches is None
        ):  # a query may attend to earlier (causal) real (non-padding) tokens
            self_mask = causal_mask(tgt.shape[1], device=tgt.device) & self.key_mask(
                tgt
            )
        return self.out_proj(
            self.decoder(x, memory, self_mask, self.key_mask(src), caches)
        )

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: (B, S) source ids, (B, T) decoder input ids -> logits (B, T,
        tgt_vocab_size)."""
        return self.decode(tgt, self.encode(src), src)


def load_torch_transformer(
    model: Seq2SeqTransformer, transformer: nn.Transformer
) -> None:
    """Copy the weights of ``nn.Transformer`` into ``model.encoder`` and
    ``model.decoder`` (strictly).

    ``nn.MultiheadAttention`` stacks W^Q, W^K, W^V in one ``in_proj_weight`` (3d, d);
    ours keeps three ``nn.Linear`` s. The model must have the same sizes and
    ``final_norm=True`` (nn.Transformer always has ``encoder.norm`` and
    ``decoder.norm``).
    """
    for name in ("encoder", "decoder"):
        state = {}
        for key, value in getattr(transformer, name).state_dict().items():
            if key.endswith(("in_proj_weight", "in_proj_bias")):
                prefix, kind = (
                    key.rsplit(".", 1)[0],
                    key.rsplit("_", 1)[1],
                )  # kind: "weight" or "bias"
                for proj, chunk in zip(("q_proj", "k_proj", "v_proj"), value.chunk(3)):
                    state[f"{prefix}.{proj}.{kind}"] = chunk
            else:
                state[key] = value
        getattr(model, name).load_state_dict(state, strict=True)


# --------------------------------------------------------------------------- training


def label_smoothed_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    smoothing: float = 0.1,
    pad_id: int = PAD,
) -> torch.Tensor:
    """Cross-entropy against the smoothed target q = (1 - eps) one_hot(y) + eps *
    uniform over the V - 1 non-pad tokens (no mass on padding), averaged over the
    non-pad target positions.

    logits (..., V), target (...) ids -> scalar.
    """
    log_probs = logits.log_softmax(dim=-1)  # (..., V)
    nll = -log_probs.gather(-1, target.unsqueeze(-1)).squeeze(-1)  # -log p(y)
    real = torch.cat(
        [log_probs[..., :pad_id], log_probs[..., pad_id + 1 :]], dim=-1
    )  # every token but padding
    uniform = -real.mean(dim=-1)  # -mean_{c != pad} log p(c)
    loss = (1.0 - smoothing) * nll + smoothing * uniform
    keep = target != pad_id
    return loss[keep].sum() / keep.sum().clamp(min=1)


def noam_schedule(step: int, d_model: int, warmup_steps: int) -> float:
    """The paper's learning rate at optimiser step ``step`` (counted from 1):
    d_model^-0.5 * min(step^-0.5, step * warmup^-1.5): linear warmup, then decay like
    1/sqrt(step)."""
    step = max(step, 1)
    return d_model**-0.5 * min(step**-0.5, step * warmup_steps**-1.5)


@dataclass
class Seq2SeqConfig:
    steps: int = 1500
    batch_size: int = 64
    lr: float = 2e-3  # the peak learning rate, reached after warmup_steps
    warmup_steps: int = 150
    # "noam" (warmup, then 1/sqrt decay) or "constant" (lr from the first step)
    schedule: str = "noam"
    label_smoothing: float = 0.1
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.98)
    grad_clip: float | None = 1.0
    seed: int = 0
    eval_every: int = 250
    eval_per_length: int = (
        50  # held-out numbers of each length for the exact-match evaluation
    )


@dataclass
class Seq2SeqHistory:
    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    token_accuracy: list[float] = field(
        default_factory=list
    )  # teacher-forced, on the training batch
    grad_norm: list[float] = field(default_factory=list)  # before clipping
    lr: list[float] = field(default_factory=list)
    eval_step: list[int] = field(default_factory=list)
    exact_match: list[float] = field(
        default_factory=list
    )  # greedy decoding, held-out numbers
    seconds: float = 0.0

    @property
    def seconds_per_step(self) -> float:
        return self.seconds / max(1, len(self.step))


def _lr_lambda(config: Seq2SeqConfig):
    if config.schedule == "constant":
        return lambda step: 1.0
    if config.schedule != "noam":
        raise ValueError(
            f"schedule must be 'noam' or 'constant', got {config.schedule!r}"
        )
    # noam_schedule divided by its peak (reached at step = warmup): the optimiser's lr
    # is then the peak lr
    peak = noam_schedule(config.warmup_steps, 1, config.warmup_steps)
    return lambda step: noam_schedule(step + 1, 1, config.warmup_steps) / peak


def train_seq2seq(
    model: Seq2SeqTransformer,
    task: NumberToWords,
    config: Seq2SeqConfig = Seq2SeqConfig(),
    device: torch.device | None = None,
    progress: bool = True,
) -> Seq2SeqHistory:
    """Train for exactly ``config.steps`` steps: AdamW, the warmup schedule, label
    smoothing, gradient clipping; exact-match of greedy decoding on held-out numbers
    every ``eval_every`` steps. bfloat16 autocast on CUDA."""
    device = device or get_device()
    torch.manual_seed(config.seed)
    model.to(device).train()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=config.lr,
        betas=config.betas,
        eps=1e-9,
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(config))
    batches = task.train_batches(config.batch_size, seed=config.seed)
    test = task.test_batch(config.eval_per_length).to(device)
    use_amp = device.type == "cuda"
    history = Seq2SeqHistory()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=config.steps, file=sys.stdout, mininterval=1.0, desc="training"
        )  # stdout: no stderr
    start = time.perf_counter()
    for step in range(config.steps):
        batch = next(batches).to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            logits = model(batch.src, batch.tgt_in)
            loss = label_smoothed_cross_entropy(
                logits.float(), batch.tgt_out, config.label_smoothing
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        max_norm = config.grad_clip if config.grad_clip is not None else float("inf")
        grad_norm = nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        history.lr.append(
            optimizer.param_groups[0]["lr"]
        )  # the learning rate of this step
        optimizer.step()
        schedule.step()
        keep = batch.tgt_out != PAD
        history.step.append(step + 1)
        history.loss.append(loss.item())
        history.token_accuracy.append(
            (logits.argmax(-1) == batch.tgt_out)[keep].float().mean().item()
        )
        history.grad_norm.append(grad_norm.item())
        if (step + 1) % config.eval_every == 0 or step + 1 == config.steps:
            history.eval_step.append(step + 1)
            history.exact_match.append(exact_match(model, test))
            model.train()
        if bar is not None:
            bar.update(1)
            if history.eval_step and history.eval_step[-1] == step + 1:
                bar.set_postfix(
                    loss=f"{loss.item():.3f}",
                    exact_match=f"{history.exact_match[-1]:.3f}",
                )
    history.seconds = time.perf_counter() - start
    if bar is not None:
        bar.close()
    model.eval()
    return history


# --------------------------------------------------------------------------- inference


@torch.no_grad()
def greedy_decode(
    model: Seq2SeqTransformer,
    src: torch.Tensor,
    max_len: int = 16,
    use_cache: bool = True,
) -> torch.Tensor:
    """Greedy decoding: start from <bos>, append the most likely next token,
    stop after <eos>.

    src (B, S) -> tokens (B, L), L <= max_len: each row up to and including its <eos>,
    then <pad>. Without a cache every step re-runs the decoder on the whole prefix
    (O(L^2) token-layer evaluations in all); with a :class:`KVCache` it runs on the
    newest token only (O(L)).
    """
    memory = model.encode(src)
    batch = src.shape[0]
    tokens = torch.full((batch, 1), BOS, dtype=torch.long, device=src.device)
    finished = torch.zeros(batch, dtype=torch.bool, device=src.device)
    caches = [KVCache() for _ in model.decoder.layers] if use_cache else None
    for _ in range(max_len):
        inputs = tokens[:, -1:] if use_cache else tokens
        logits = model.decode(inputs, memory, src, caches)[
            :, -1
        ]  # (B, V): the next token's scores
        next_token = logits.argmax(dim=-1).masked_fill(finished, PAD)
        tokens = torch.cat([tokens, next_token[:, None]], dim=1)
        finished |= next_token == EOS
        if bool(finished.all()):
            break
    return tokens[:, 1:]


@torch.no_grad()
def exact_match(
    model: Seq2SeqTransformer, batch: Batch, max_len: int | None = None
) -> float:
    """Fraction of the batch whose greedy decoding equals the target exactly (all words,
    and then <eos>)."""
    was_training = model.training
    model.eval()
    max_len = max_len or batch.tgt_out.shape[1] + 2
    predicted = greedy_decode(model, batch.src, max_len)
    target = batch.tgt_out
    length = max(predicted.shape[1], target.shape[1])
    predicted = F.pad(predicted, (0, length - predicted.shape[1]), value=PAD)
    target = F.pad(target, (0, length - target.shape[1]), value=PAD)
    model.train(was_training)
    return (predicted == target).all(dim=1).float().mean().item()
