"""Similarity report: planted near-copies (renamed variables, reordered helpers) among independent answers, and a
near-copy of the published reference, come out on top; the stub's own code never counts as shared."""
import re

import nbformat
import pytest

from autograder import cli, similarity
from autograder.config import Config
from autograder.pipeline import collect_submissions
from tests.conftest import selected_topics

TOPIC = "attention"
pytestmark = pytest.mark.skipif(TOPIC not in selected_topics(), reason=f"{TOPIC} not selected")
STUB = "    # YOUR CODE HERE\n    raise NotImplementedError()"

A = ('''    _check(q, k, v)
    d = q.shape[-1]
    scores = _scaled_scores(q, k, d)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights
''', '''def _scaled_scores(q, k, d):
    return q @ k.transpose(-2, -1) / math.sqrt(d)


def _check(q, k, v):
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"shapes do not fit: {q.shape}, {k.shape}, {v.shape}")
''')
A_RENAMED = {"q": "query", "k": "key", "v": "value", "d": "width", "scores": "logits", "weights": "probs",
             "mask": "allowed", "_scaled_scores": "_raw_logits", "_check": "_validate"}

INDEPENDENT = {
    "bo": ('''    scale = 1.0 / q.size(-1) ** 0.5
    att = torch.einsum("...id,...jd->...ij", q, k) * scale
    if mask is not None:
        att = torch.where(mask, att, torch.full_like(att, -float("inf")))
    att = att - att.amax(-1, keepdim=True)
    e = att.exp()
    p = e / e.sum(-1, keepdim=True)
    return torch.einsum("...ij,...jd->...id", p, v), p
''', ""),
    "cy": ('''    *batch, lq, dk = q.shape
    lk = k.shape[-2]
    qf, kf, vf = q.reshape(-1, lq, dk), k.reshape(-1, lk, dk), v.reshape(-1, lk, v.shape[-1])
    logits = torch.bmm(qf, kf.transpose(1, 2)) * dk ** -0.5
    if mask is not None:
        logits = logits.masked_fill(~mask.expand(*batch, lq, lk).reshape(-1, lq, lk), -1e30)
    p = F.softmax(logits, -1)
    return torch.bmm(p, vf).reshape(*batch, lq, -1), p.reshape(*batch, lq, lk)
''', ""),
    "di": ('''    if q.size(-1) != k.size(-1):
        raise ValueError("q and k must share d_k")
    raw = torch.matmul(q, k.mT) / (q.size(-1) ** 0.5)
    if mask is not None:
        raw = torch.where(mask, raw, torch.finfo(raw.dtype).min)
    ex = torch.exp(raw - raw.max(dim=-1, keepdim=True).values)
    if mask is not None:
        ex = ex * mask
    w = ex / ex.sum(dim=-1, keepdim=True)
    return torch.matmul(w, v), w
''', ""),
}


def _stub_cell(config):
    nb = nbformat.read(config.exercises_dir / f"{TOPIC}.ipynb", as_version=4)
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "sdpa")


def _notebook(cells):
    nb = nbformat.v4.new_notebook()
    for i, source in enumerate(cells):
        nb.cells.append(nbformat.v4.new_code_cell(source, metadata={"nbgrader": {
            "grade_id": f"answer-{i}", "solution": True, "grade": False, "locked": False}}))
    return nb


def _rename(code, names):
    return re.sub(r"\b(" + "|".join(map(re.escape, names)) + r")\b", lambda m: names[m.group(1)], code)


@pytest.fixture(scope="module")
def submissions(tmp_path_factory):
    config = Config.from_env()
    stub = _stub_cell(config).source
    assert STUB in stub
    root = tmp_path_factory.mktemp("similar")
    answers = {"ada": A, **INDEPENDENT}
    for student, (body, helpers) in answers.items():
        cells = [stub.replace(STUB, body.rstrip())] + ([helpers] if helpers else [])
        (root / student).mkdir()
        nbformat.write(_notebook(cells), root / student / f"{TOPIC}.ipynb")
    body, helpers = A   # a near-copy of ada's: every name changed, the helpers moved before the answer
    (root / "eve").mkdir()
    nbformat.write(_notebook([_rename(helpers, A_RENAMED), _rename(stub.replace(STUB, body.rstrip()), A_RENAMED)]),
                   root / "eve" / f"{TOPIC}.ipynb")
    # a near-copy of the published reference: names changed, cells in reverse order
    reference = similarity.solution_code(config.solutions_dir / f"{TOPIC}.ipynb").split("\n\n\n")
    renamed = {"q": "qq", "k": "kk", "v": "vv", "mask": "m", "scores": "s", "weights": "attn"}
    (root / "zed").mkdir()
    nbformat.write(_notebook([_rename(part, renamed) for part in reversed(reference)]),
                   root / "zed" / f"{TOPIC}.ipynb")
    return root


def test_near_copies_top_the_report_and_independent_answers_stay_below(submissions, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert cli.main(["similarity", str(submissions), "--topic", TOPIC, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    config = Config.from_env()
    pairs = similarity.report(collect_submissions(submissions, [TOPIC]), [TOPIC], config.exercises_dir,
                              config.solutions_dir, tmp_path / "again.html")[TOPIC]
    top = {frozenset((p.a, p.b)) for p in pairs[:2]}
    assert top == {frozenset(("ada", "eve")), frozenset(("zed", similarity.REFERENCE))}, [
        (p.a, p.b, round(p.score, 2)) for p in pairs[:5]]
    assert all(p.score >= similarity.FLAG_AT for p in pairs[:2])
    assert all(p.score < similarity.FLAG_AT for p in pairs[2:]), [(p.a, p.b, round(p.score, 2)) for p in pairs[2:5]]
    assert "ada / eve" in printed or "eve / ada" in printed
    page = out.read_text()
    assert "class='flag'" in page and "<mark>" in page
    assert not re.search(r"<(script|link)|(src|href)=['\"]?https?:", page)   # self-contained: no CDN


FORWARDS = ('''        B, Lq, _ = query.shape
        Lk = key.shape[1]
        q = self.q_proj(query).view(B, Lq, self.num_heads, self.d_head).transpose(1, 2)
        k = self.k_proj(key).view(B, Lk, self.num_heads, self.d_head).transpose(1, 2)
        v = self.v_proj(value).view(B, Lk, self.num_heads, self.d_head).transpose(1, 2)
        out, w = scaled_dot_product_attention(q, k, v, mask)
        return self.out_proj(out.transpose(1, 2).reshape(B, Lq, self.d_model)), w''', '''        def heads(t, proj):
            return proj(t).unflatten(-1, (self.num_heads, -1)).movedim(-2, 1)

        att, weights = scaled_dot_product_attention(heads(query, self.q_proj), heads(key, self.k_proj),
                                                    heads(value, self.v_proj), mask)
        return self.out_proj(att.movedim(1, -2).flatten(-2)), weights''')


def test_the_stubs_own_code_is_not_counted_as_shared():
    """Two independent forwards under the same given __init__: alike only through the code the stub gives."""
    config = Config.from_env()
    nb = nbformat.read(config.exercises_dir / f"{TOPIC}.ipynb", as_version=4)
    stub = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "mha").source
    given = "        # YOUR CODE HERE\n        raise NotImplementedError()"
    assert given in stub
    one, two = (stub.replace(given, forward) for forward in FORWARDS)
    without = similarity.compare(TOPIC, {"one": one, "two": two})[0]
    with_boilerplate = similarity.compare(TOPIC, {"one": one, "two": two}, boilerplate=stub)[0]
    assert without.score >= similarity.FLAG_AT > with_boilerplate.score, (without.score, with_boilerplate.score)
