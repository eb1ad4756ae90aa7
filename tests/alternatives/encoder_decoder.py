"""Alternative correct solutions for the exercise "encoder_decoder" (see tests/planted_bugs.py): each must score
100%."""
from tests.planted_bugs import Alternative

ALTERNATIVES = [
    # one helper that wraps any sublayer in its residual connection and LayerNorm, post-norm or pre-norm
    Alternative("encoder-with-residual-helper", "encoder_layer",
                "        if self.norm_first:\n"
                "            x = x + self._self_attention(self.norm1(x), mask)\n"
                "            x = x + self._feed_forward(self.norm2(x))\n"
                "        else:\n"
                "            x = self.norm1(x + self._self_attention(x, mask))\n"
                "            x = self.norm2(x + self._feed_forward(x))\n"
                "        return x\n"
                "\n"
                "    def _self_attention(self, x, mask):\n"
                "        return self.dropout(self.self_attn(x, x, x, mask)[0])\n"
                "\n"
                "    def _feed_forward(self, x):\n"
                "        return self.dropout(self.linear2(self.dropout(F.relu(self.linear1(x)))))\n",
                "        x = self._residual(x, self.norm1, lambda h: self.self_attn(h, h, h, mask)[0])\n"
                "        return self._residual(x, self.norm2, lambda h: self.linear2(self.dropout(self.linear1(h).relu())))\n"
                "\n"
                "    def _residual(self, x, norm, sublayer):\n"
                "        if self.norm_first:\n"
                "            return x + self.dropout(sublayer(norm(x)))\n"
                "        return norm(x + self.dropout(sublayer(x)))\n"),
    # the three sublayers as a list of (norm, function) pairs, run in a loop
    Alternative("decoder-loop-over-sublayers", "decoder_layer",
                "        if self.norm_first:\n"
                "            x = x + self._self_attention(self.norm1(x), self_mask)\n"
                "            x = x + self._cross_attention(self.norm2(x), memory, memory_mask)\n"
                "            x = x + self._feed_forward(self.norm3(x))\n"
                "        else:\n"
                "            x = self.norm1(x + self._self_attention(x, self_mask))\n"
                "            x = self.norm2(x + self._cross_attention(x, memory, memory_mask))\n"
                "            x = self.norm3(x + self._feed_forward(x))\n"
                "        return x\n",
                "        sublayers = [(self.norm1, lambda h: self._self_attention(h, self_mask)),\n"
                "                     (self.norm2, lambda h: self._cross_attention(h, memory, memory_mask)),\n"
                "                     (self.norm3, self._feed_forward)]\n"
                "        for norm, sublayer in sublayers:\n"
                "            x = x + sublayer(norm(x)) if self.norm_first else norm(x + sublayer(x))\n"
                "        return x\n"),
    # masks written out where they are used, no helper methods
    Alternative("model-masks-written-inline", "model",
                "        x = self._embed(tgt, self.tgt_embed)\n"
                "        self_mask = causal_mask(tgt.shape[1], device=tgt.device) & self._key_mask(tgt)\n"
                "        memory_mask = self._key_mask(src)\n",
                "        x = self._embed(tgt, self.tgt_embed)\n"
                "        length = tgt.shape[1]\n"
                "        future = torch.ones(length, length, dtype=torch.bool, device=tgt.device).triu(diagonal=1)\n"
                "        self_mask = (tgt != self.pad_id).unsqueeze(1).unsqueeze(2) & ~future\n"
                "        memory_mask = (src != self.pad_id).unsqueeze(1).unsqueeze(2)\n"),
    # the smoothed target distribution q built explicitly, then -sum(q log p)
    Alternative("loss-with-explicit-target-distribution", "loss",
                "    nll = -log_probs.gather(-1, target.unsqueeze(-1)).squeeze(-1)       # -log p_y\n"
                "    real = torch.cat([log_probs[..., :pad_id], log_probs[..., pad_id + 1:]], dim=-1)   # every token but PAD\n"
                "    uniform = -real.mean(dim=-1)                                         # mean over c != PAD of -log p_c\n"
                "    loss = (1.0 - smoothing) * nll + smoothing * uniform\n"
                "    keep = target != pad_id\n"
                "    return (loss * keep).sum() / keep.sum().clamp(min=1)\n",
                "    vocab = logits.shape[-1]\n"
                "    q = torch.full_like(log_probs, smoothing / (vocab - 1))\n"
                "    q[..., pad_id] = 0.0\n"
                "    q = q.scatter_add(-1, target.unsqueeze(-1), torch.full_like(log_probs[..., :1], 1.0 - smoothing))\n"
                "    loss = -(q * log_probs).sum(dim=-1)\n"
                "    keep = (target != pad_id).to(loss.dtype)\n"
                "    return (loss * keep).sum() / torch.clamp(keep.sum(), min=1.0)\n"),
    # the predictions collected in a list; a warning (stderr) when max_len stops the decoding: must cost nothing
    Alternative("greedy-collects-a-list-and-warns", "greedy",
                "    memory = model.encode(src)\n"
                "    batch = src.shape[0]\n"
                "    tokens = torch.full((batch, 1), bos_id, dtype=torch.long, device=src.device)\n"
                "    finished = torch.zeros(batch, dtype=torch.bool, device=src.device)\n"
                "    for _ in range(max_len):\n"
                "        logits = model.decode(tokens, memory, src)[:, -1]          # (B, V): scores of the next token\n"
                "        next_token = logits.argmax(dim=-1).masked_fill(finished, pad_id)\n"
                "        tokens = torch.cat([tokens, next_token[:, None]], dim=1)\n"
                "        finished = finished | (next_token == eos_id)\n"
                "        if bool(finished.all()):\n"
                "            break\n"
                "    return tokens[:, 1:]\n",
                "    import warnings\n"
                "    memory = model.encode(src)\n"
                "    generated = [torch.full((src.shape[0],), bos_id, dtype=torch.long, device=src.device)]\n"
                "    done = torch.zeros_like(generated[0], dtype=torch.bool)\n"
                "    for _ in range(max_len):\n"
                "        step = model.decode(torch.stack(generated, dim=1), memory, src)[:, -1].argmax(dim=-1)\n"
                "        step = torch.where(done, torch.full_like(step, pad_id), step)\n"
                "        generated.append(step)\n"
                "        done = done | (step == eos_id)\n"
                "        if done.all():\n"
                "            break\n"
                "    else:\n"
                "        warnings.warn(f\"greedy_decode stopped at max_len={max_len} before every sequence ended\")\n"
                "    return torch.stack(generated[1:], dim=1) if len(generated) > 1 else generated[0][:, None][:, 1:]\n"),
    # beam search with Python lists, one decoder call per hypothesis
    Alternative("beam-with-python-lists", "beam",
                "    memory = model.encode(src)                                                  # (1, S, d_model)\n",
                "    memory = model.encode(src)\n"
                "    beam = [(torch.zeros((), dtype=memory.dtype, device=src.device), [bos_id], False)]\n"
                "    for _ in range(max_len):\n"
                "        candidates = []\n"
                "        for score, seq, done in beam:\n"
                "            if done:\n"
                "                candidates.append((score, seq, True))\n"
                "                continue\n"
                "            prefix = torch.tensor([seq], dtype=torch.long, device=src.device)\n"
                "            log_probs = model.decode(prefix, memory, src)[0, -1].log_softmax(-1)\n"
                "            for token in range(len(log_probs)):\n"
                "                candidates.append((score + log_probs[token], seq + [token], token == eos_id))\n"
                "        candidates.sort(key=lambda c: -float(c[0]))\n"
                "        beam = candidates[:beam_size]\n"
                "        if all(done for _, _, done in beam):\n"
                "            break\n"
                "    score, seq, _ = beam[0]\n"
                "    return torch.tensor(seq[1:], dtype=torch.long, device=src.device), score\n"),
    # the counts as an inventory of Linear and LayerNorm modules
    Alternative("counts-as-module-inventory", "counts",
                "    attention = 4 * d_model * d_model + 4 * d_model         # W_Q, W_K, W_V, W_O and their biases\n"
                "    feed_forward = 2 * d_model * d_ff + d_ff + d_model      # linear1 and linear2, with biases\n"
                "    norms = 2 * 2 * d_model                                 # two LayerNorms: a scale and a shift each\n"
                "    return attention + feed_forward + norms\n",
                "    def linear(n_in, n_out):\n"
                "        return n_in * n_out + n_out\n"
                "    layer_norm = 2 * d_model\n"
                "    return 4 * linear(d_model, d_model) + linear(d_model, d_ff) + linear(d_ff, d_model) + 2 * layer_norm\n"),
    # the course's causal_mask helper from the setup cell
    Alternative("masks-with-the-causal-mask-helper", "masks",
                "causal = torch.ones(length, length, dtype=torch.bool, device=tgt.device).tril()",
                "causal = causal_mask(length, device=tgt.device)"),
]
