"""Runs in the grader: stand-ins for the student's functions, classes and modules (see ``__init__.py``).

Each name a test uses that the student defined (``scaled_dot_product_attention``, ``MultiHeadAttention``, ...) is
bound to a stand-in from this module. Calling a stand-in sends the arguments to the student's kernel
(``kernel_server.py``), which runs the student's code and sends back tensors and plain data only.

A student's ``nn.Module`` appears on the grader's side as a :class:`Mirror`: a real ``nn.Module`` with the same
submodules, parameters, buffers and simple attributes, so tests can copy weights in, randomise parameters,
``load_state_dict``, ``.to(dtype)``, ``.eval()`` as usual.  Calling it (or any public method) sends its current
state along and runs the student's code.  Gradients flow back through an autograd function whose backward asks the
student's kernel for the vector-Jacobian product.
"""
from __future__ import annotations

import builtins
import copy
import itertools
from typing import Callable

import torch
from torch import nn

Transport = Callable[[dict], dict]   # request -> answer; raises StudentCodeError


class StudentCodeError(RuntimeError):
    """The student's kernel did not answer (it exited, crashed, or broke the grading helper)."""


def _exception(name: str, message: str) -> BaseException:
    cls = getattr(builtins, name, None)
    if isinstance(cls, type) and issubclass(cls, Exception) and cls not in (StopIteration, StopAsyncIteration):
        try:
            return cls(message)
        except Exception:  # noqa: BLE001 -- exotic constructors
            pass
    return RuntimeError(f"{name}: {message}")


class Session:
    """One student kernel as seen from the grader: name lookups, calls, backward passes."""

    def __init__(self, transport: Transport):
        self.transport = transport
        self.mirrors: dict[int, Mirror] = {}   # handle -> root mirror
        self.classes: dict[str, type] = {}
        self.grader_objects: dict[int, nn.Module] = {}
        self._call_ids = itertools.count(1)
        self._grader_handles = itertools.count(1)

    # ------------------------------------------------------------------ names
    def lookup_all(self, names) -> dict:
        """Every name in ``names`` as the student's kernel defines it now, in one request (the same request before
        every cell, so the student's code cannot tell the cells apart by what the grader asks for).
        {name: stand-in or value}; a name the student did not define maps to a NameError."""
        names = sorted(names)
        answers = self._ask({"op": "lookup", "names": names})
        found = {}
        for name in names:
            try:
                found[name] = self._stand_in(name, answers.get(name, {"kind": "missing"}))
            except (NameError, TypeError) as exc:
                found[name] = exc
        return found

    def lookup(self, name: str):
        value = self.lookup_all([name])[name]
        if isinstance(value, Exception):
            raise value
        return value

    def _stand_in(self, name: str, answer: dict):
        kind = answer["kind"]
        if kind == "missing":
            return NameError(f"name {name!r} is not defined (define it in your notebook)")
        if kind == "function":
            return RemoteFunction(self, name)
        if kind == "class":
            return self.remote_class(name)
        if kind == "module":
            return self.build_mirror(answer)
        if kind == "value":
            return answer["value"]
        return TypeError(f"{name!r} is a {answer.get('type')}, which the tests cannot use")

    def remote_class(self, name: str) -> type:
        if name not in self.classes:
            session = self

            def __new__(cls, *args, **kwargs):
                return session.call(("name", name), args, kwargs)

            self.classes[name] = type(name, (Mirror,), {"__new__": __new__, "__init__": lambda self, *a, **k: None,
                                                        "__module__": "student"})
        return self.classes[name]

    # ------------------------------------------------------------------ mirrors
    def build_mirror(self, described: dict) -> "Mirror":
        handle, entries = described["handle"], described["tree"]
        by_name = {}
        for entry in entries:
            module = self._new_module(entry, handle)
            by_name[entry["name"]] = module
        for entry in entries:
            parent = by_name[entry["name"]]
            for child in entry["children"]:
                qualname = f"{entry['name']}.{child}" if entry["name"] else child
                if qualname in by_name:
                    parent._modules[child] = by_name[qualname]
                else:
                    parent._modules[child] = None
        root = by_name[""]
        self.mirrors[handle] = root
        return root

    def _new_module(self, entry: dict, handle: int) -> nn.Module:
        if entry["kind"] == "list":
            module = nn.ModuleList()
        elif entry["kind"] == "dict":
            module = nn.ModuleDict()
        else:
            cls = self.remote_class(entry["class"])
            module = object.__new__(cls)
            nn.Module.__init__(module)
            object.__setattr__(module, "_course", (self, handle, entry["name"]))
            for method in entry["methods"]:
                if _may_set(module, method):
                    object.__setattr__(module, method, RemoteMethod(self, module, method))
        module.training = entry["training"]
        for name, value, requires_grad in entry["params"]:
            module._parameters[name] = None if value is None else nn.Parameter(value, requires_grad=requires_grad)
        for name, value, persistent in entry["buffers"]:
            module.register_buffer(name, value, persistent=persistent)
        for name, value in entry["attributes"].items():
            if _may_set(module, name) and name not in module._parameters and name not in module._buffers:
                object.__setattr__(module, name, value)
        return module

    def _state(self, root: nn.Module) -> dict:
        state = {}
        for qualname, module in root.named_modules(remove_duplicate=False):
            state[qualname] = {
                "training": module.training,
                "params": {n: (None if p is None else p.detach(), bool(p is not None and p.requires_grad))
                           for n, p in module._parameters.items()},
                "buffers": {n: b for n, b in module._buffers.items()},
            }
        return state

    # ------------------------------------------------------------------ calls
    def call(self, target: tuple, args: tuple, kwargs: dict):
        """Run the student's function, class or method on these arguments in the student's kernel."""
        known = set(self.grader_objects)
        try:
            return self._call(target, args, kwargs)
        finally:   # the private copies of grader modules made for this call live only as long as it does
            for handle in set(self.grader_objects) - known:
                del self.grader_objects[handle]

    def _call(self, target: tuple, args: tuple, kwargs: dict):
        roots: dict[int, nn.Module] = {}
        if target[0] == "method":
            roots[target[1]] = self.mirrors[target[1]]
        inputs: list[torch.Tensor] = []
        generators: list[torch.Generator] = []
        self._torch_copies: list[nn.Module] = []
        encoded_args = self._encode(args, roots, inputs, generators)
        encoded_kwargs = self._encode(kwargs, roots, inputs, generators)
        grad = torch.is_grad_enabled()
        grad_inputs = [i for i, t in enumerate(inputs) if grad and t.requires_grad]
        grad_params = []
        params = []
        if grad:
            for handle, root in roots.items():
                for name, p in root.named_parameters():
                    if p.requires_grad:
                        qualname, _, leaf = name.rpartition(".")
                        grad_params.append((handle, qualname, leaf))
                        params.append(p)
        copied = [p for module in self._torch_copies for p in module.parameters() if p.requires_grad] if grad else []
        params += copied
        grad = bool(grad_inputs or grad_params or copied)
        call_id = next(self._call_ids)
        request = {"op": "call", "target": target, "args": encoded_args, "kwargs": encoded_kwargs,
                   "states": {h: self._state(r) for h, r in roots.items()}, "grad": grad, "call_id": call_id,
                   "grad_inputs": grad_inputs, "grad_params": grad_params, "grad_copies": bool(copied),
                   # one process's semantics: the test's seeds and default dtype hold in the student's kernel too
                   "rng_state": torch.get_rng_state(), "default_dtype": torch.get_default_dtype()}
        answer = self._ask(request)
        # The generator state the student's code leaves behind is never applied here: the test's own random
        # stream must not depend on (or be chosen by) the code it grades.
        if answer.get("mutated"):
            # Never copied back: a test could then compare against values computed from inputs the student's
            # code chose.  None of the graded functions may change what it is given.
            raise RuntimeError(f"your code changed {len(answer['mutated'])} of the tensors passed to it in place "
                               f"(e.g. `x += ...` or `x.masked_fill_(...)` on an argument); compute new tensors "
                               f"instead (`x = x + ...`)")
        result = self._decode(answer["result"])
        if not grad:
            return result
        sources = [inputs[i] for i in grad_inputs] + params
        return self._attach_graph(result, answer.get("grad_outputs", []), call_id, sources)

    def _attach_graph(self, result, differentiable: list[int], call_id: int, sources: list[torch.Tensor]):
        flat = _tensors(result)
        chosen = [flat[i] for i in differentiable if i < len(flat) and flat[i].is_floating_point()]
        if not chosen:
            return result
        outputs = _RemoteGraph.apply(self, call_id, len(chosen), *chosen, *sources)
        replacement = {id(t): o for t, o in zip(chosen, outputs)}
        return _replace(result, replacement)

    def _register_grader_object(self, module: nn.Module) -> int:
        """A module of the grader's handed to student code: the student's side calls a private copy (made now,
        for this call only), so nothing it does can change the object the test computes expected values with."""
        handle = next(self._grader_handles)
        self.grader_objects[handle] = copy.deepcopy(module)
        return handle

    def serve_callback(self, request: dict) -> dict:
        """The student's code calls a method of a module the grader passed in (a test double, a reference model):
        it runs here, on the plain data the student's kernel sent."""
        try:
            module = self.grader_objects[int(request["handle"])]
            name = str(request["method"])
            if name != "forward" and name not in _describe(module)["methods"]:
                raise AttributeError(f"{type(module).__name__} has no method {name!r} that your code may call")
            if module.training != bool(request["training"]):
                module.train(bool(request["training"]))
            method = getattr(module, name)
            with torch.set_grad_enabled(bool(request.get("grad"))):
                result = method(*self._decode(request["args"]), **self._decode(request["kwargs"]))
            return {"ok": _plain(result)}
        except Exception as exc:  # noqa: BLE001 -- goes back to the student's code as an exception
            return {"error": (_builtin_name(exc), str(exc)[:2000])}

    def backward(self, call_id: int, grad_outputs: list) -> list:
        answer = self._ask({"op": "backward", "call_id": call_id, "grad_outputs": grad_outputs})
        return answer["grads"]

    def _encode(self, value, roots: dict, inputs: list, generators: list):
        if isinstance(value, Mirror):
            _, handle, qualname = value._course
            roots[handle] = self.mirrors[handle]
            return {"__mirror__": handle, "name": qualname}
        if isinstance(value, nn.Module):
            for handle, root in self.mirrors.items():
                for qualname, module in root.named_modules():
                    if module is value:
                        roots[handle] = root
                        return {"__mirror__": handle, "name": qualname}
            if all(type(m).__module__.startswith("torch.") for m in value.modules()):
                # a plain torch module: the student's code gets a copy; gradients reach the original's parameters
                self._torch_copies.append(value)
                return {"__torch_module__": copy.deepcopy(value)}
            return {"__grader_module__": self._register_grader_object(value), "description": _describe(value)}
        if isinstance(value, torch.Tensor):
            inputs.append(value)
            return value.detach()
        if isinstance(value, torch.Generator):
            generators.append(value)
            return {"__generator__": value.get_state(), "device": str(value.device)}
        if isinstance(value, tuple):
            return tuple(self._encode(v, roots, inputs, generators) for v in value)
        if isinstance(value, list):
            return [self._encode(v, roots, inputs, generators) for v in value]
        if isinstance(value, dict):
            return {k: self._encode(v, roots, inputs, generators) for k, v in value.items()}
        return value

    def _decode(self, value):
        if isinstance(value, dict) and "__module__" in value:
            return self.build_mirror(value["__module__"])
        if isinstance(value, tuple):
            return tuple(self._decode(v) for v in value)
        if isinstance(value, list):
            return [self._decode(v) for v in value]
        if isinstance(value, dict):
            return {k: self._decode(v) for k, v in value.items()}
        return value

    def _ask(self, request: dict):
        answer = self.transport(request)
        if "error" in answer:
            name, message, _ = answer["error"]
            raise _exception(str(name), str(message))
        return answer["ok"]


def _may_set(module: nn.Module, name) -> bool:
    """The student's side names attributes and methods; it may never replace what nn.Module or Mirror define
    (``parameters``, ``state_dict``, ``forward``, ``training``, private fields)."""
    return isinstance(name, str) and name.isidentifier() and not name.startswith("_") \
        and not hasattr(type(module), name) and name != "training"


def _describe(module: nn.Module) -> dict:
    """What the student's side needs to hold a grader module: its parameters (for .parameters(), device, dtype),
    simple attributes and the names of its methods.  No code."""
    simple = (int, float, bool, str, type(None), torch.dtype, torch.device)
    methods = {name for cls in type(module).__mro__ if not cls.__module__.startswith("torch")
               for name, member in vars(cls).items() if callable(member) and not name.startswith("_")}
    named = {n: t.detach() for n, t in [*module._parameters.items(), *module._buffers.items()] if t is not None}
    return {"parameters": [p.detach() for p in module.parameters()], "named": named,
            "attributes": {k: v for k, v in vars(module).items() if not k.startswith("_") and k != "training"
                           and isinstance(v, simple)},
            "methods": sorted(methods - {"forward"}), "training": module.training}


def _plain(value):
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, (tuple, list)):
        plain = [_plain(v) for v in value]
        return type(value)(plain) if type(value) in (tuple, list) else tuple(plain)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (int, float, bool, str, type(None), torch.dtype, torch.device)):
        return value
    raise TypeError(f"the grader's module returned a {type(value).__name__}")


def _builtin_name(exc: BaseException) -> str:
    for cls in type(exc).__mro__:
        if getattr(builtins, cls.__name__, None) is cls:
            return cls.__name__
    return "RuntimeError"


def _tensors(value) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _tensors(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    return []


def _replace(value, replacement: dict):
    if isinstance(value, torch.Tensor):
        return replacement.get(id(value), value)
    if isinstance(value, tuple):
        return tuple(_replace(v, replacement) for v in value)
    if isinstance(value, list):
        return [_replace(v, replacement) for v in value]
    if isinstance(value, dict):
        return {k: _replace(v, replacement) for k, v in value.items()}
    return value


class _RemoteGraph(torch.autograd.Function):
    """Outputs computed in the student's kernel; their backward is computed there too."""

    @staticmethod
    def forward(ctx, session, call_id, n_outputs, *tensors):
        ctx.session, ctx.call_id, ctx.n_sources = session, call_id, len(tensors) - n_outputs
        return tuple(t.clone() for t in tensors[:n_outputs])

    @staticmethod
    def backward(ctx, *grad_outputs):
        grads = ctx.session.backward(ctx.call_id, list(grad_outputs))
        grads = list(grads) + [None] * (ctx.n_sources - len(grads))
        return (None, None, None, *([None] * len(grad_outputs)), *grads[:ctx.n_sources])


class Mirror(nn.Module):
    """A student's module as the grader holds it; ``forward`` and public methods run in the student's kernel."""

    def forward(self, *args, **kwargs):
        session, handle, qualname = self._course
        return session.call(("method", handle, qualname, "forward"), args, kwargs)

    def extra_repr(self) -> str:
        return "mirrored from the student's kernel"


class RemoteFunction:
    def __init__(self, session: Session, name: str):
        self.session, self.__name__ = session, name

    def __call__(self, *args, **kwargs):
        return self.session.call(("name", self.__name__), args, kwargs)

    def __repr__(self) -> str:
        return f"<student function {self.__name__}>"


class RemoteMethod:
    def __init__(self, session: Session, module: Mirror, name: str):
        self.session, self.module, self.__name__ = session, module, name

    def __call__(self, *args, **kwargs):
        _, handle, qualname = self.module._course
        return self.session.call(("method", handle, qualname, self.__name__), args, kwargs)
