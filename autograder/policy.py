"""What each exercise gives the student, what it grades, and what it forbids: the grading trust boundary per topic.

- ``given``: modules of the course package (``coursetools/<name>.py``) the exercise builds on.  The student's
  grading kernel sees the tools (device, seeding, timing, plotting, data, training loop) and these modules only:
  every other course module (the chapters' implementations of what the exercises grade) is absent from its view.
- ``forbidden``: PyTorch built-ins that solve a graded part by themselves.  The notebook forbids them in words; while
  grading they raise in the student's kernel, and a solution cell that names them scores 0 on the tests of its part.
- Packages that hold implementations of what the course grades (``HIDDEN_PACKAGES``) are never importable there.
- The names taken from the student are the functions and classes the solution cells of ``solutions/<topic>.ipynb``
  define (``graded_names``): everything else a test uses comes from the notebook's locked cells, run in the grader.
"""
from __future__ import annotations

from dataclasses import dataclass

TOOLS = ("__init__", "device", "seed", "timing", "plotting", "data", "train")
HIDDEN_PACKAGES = ("timm", "torchvision")

MHA = ("torch.nn.MultiheadAttention", "torch.nn.functional.multi_head_attention_forward")
SDPA = ("torch.nn.functional.scaled_dot_product_attention",)
TRANSFORMER = ("torch.nn.Transformer", "torch.nn.TransformerEncoder", "torch.nn.TransformerDecoder",
               "torch.nn.TransformerEncoderLayer", "torch.nn.TransformerDecoderLayer")


@dataclass(frozen=True)
class Policy:
    given: tuple[str, ...] = ()       # course modules the exercise builds on (besides TOOLS)
    forbidden: tuple[str, ...] = ()   # dotted names of PyTorch built-ins the answer may not use


POLICIES: dict[str, Policy] = {
    "attention": Policy(forbidden=SDPA + MHA),
    "masking": Policy(forbidden=SDPA + MHA),
    "positional_encoding": Policy(),
    "encoder_decoder": Policy(given=("masks", "positions"), forbidden=TRANSFORMER),
    "vit": Policy(given=("attention",)),
    "tnt": Policy(given=("mlp",)),
    "swin": Policy(given=("mlp",)),
}


def policy(topic: str) -> Policy:
    return POLICIES.get(topic, Policy())
