"""Split grading: the protocol between the grader and one student's kernel, in one place.

Where each file runs:

- ``grader_tests.py`` (grader): runs every graded test cell, and the locked cells it builds on, in the grader's own
  process; the names the exercise asks for are bound to stand-ins before each cell.
- ``grader_stand_ins.py`` (grader): the stand-ins. A student's function or class is a proxy; a student's module is a
  :class:`~autograder.protocol.grader_stand_ins.Mirror` (a real ``nn.Module`` with the same submodules, parameters
  and buffers); gradients come back through an autograd function.
- ``grader_channel.py`` (grader): carries one request to the kernel and its answer back; serves the kernel's
  callbacks meanwhile.
- ``kernel_server.py`` (student's kernel): ``__course_serve__`` runs the student's code for a request.
- ``codec.py`` (both): one message per file, written whole; the grader reads what the kernel wrote with
  ``torch.load(weights_only=True)``.

Transport: the grader makes the kernel's folder and two named pipes in it (``.doorbell-in``, ``.doorbell-out``)
before the kernel starts, and keeps descriptors to them. For the requests of one cell it runs, one Jupyter execute
request starts ``__course_serve__(FOLDER)`` in the kernel, a loop: request N is the file ``.grader-N.pt``, rung as
the line ``N`` on ``.doorbell-in``; its answer ``.answer-N.pt``, rung as ``N`` on ``.doorbell-out``; ``stop`` ends
the loop at the end of the cell. A callback K is ``.callback-K.pt``, rung as ``cb K`` on ``.doorbell-out``, answered
by ``.callback-K.answer.pt`` and ``cb K`` on ``.doorbell-in``. The grader never follows a link in that folder,
reads regular files only, writes only files it creates there, and bounds every wait by the time limits.

Trust model: the kernel, and everything in it (this protocol's server included), may be hostile. The grader takes
from it only tensors and plain data (numbers, strings, tuples, lists, dicts), never an object with code; the
comparisons, ``assert`` statements and the reference solution live in the grader, which the student's code never
touches. Grader objects handed to student code are copies (a plain torch module) or stay in the grader (any other
module: the kernel gets a handle and calls back). The README's "Trust model" section says what each side can see.

Messages, grader -> kernel (a dict with ``op``), each answered by ``{"ok": value}`` or
``{"error": (builtin exception name, message, traceback text)}``:

- ``{"op": "forbid", "forbidden": {dotted name: aten ops}}``, once: the built-ins that raise during calls.
- ``{"op": "lookup", "names": [...]}``, before every cell the grader runs, always the same names:
  ``{name: {"kind": "missing" | "function" | "class" (+ "is_module") | "module" (+ "handle", "tree") |
  "value" (+ "value") | "unsupported"}}``. Drops the graphs of the previous cell.
- ``{"op": "call", "target": ("name", NAME) | ("method", HANDLE, SUBMODULE, METHOD), "args", "kwargs", "states",
  "grad", "call_id", "grad_inputs", "grad_params", "grad_copies", "rng_state", "default_dtype"}``: the student's
  code on these arguments (mirrors as ``{"__mirror__": HANDLE, "name"}``, grader modules as
  ``{"__grader_module__": HANDLE, "description"}``, plain torch modules as ``{"__torch_module__": copy}``,
  generators as ``{"__generator__": state}``) -> ``{"result", "mutated", "rng_state", "grad_outputs"}``.
- ``{"op": "backward", "call_id", "grad_outputs"}`` -> ``{"grads": [...]}``.

Kernel -> grader, while a call runs (a callback, file ``.callback-K.pt``): ``{"handle", "method", "args", "kwargs",
"training", "grad"}`` -> ``{"ok": plain data}`` or ``{"error": (name, message)}``; only ``forward`` and the public
methods of the module's own class may be called, on a private copy made for that call.
"""
