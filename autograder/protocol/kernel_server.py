"""Runs in the student's kernel: answers the grader's requests with plain data (see ``__init__.py``).

The grader sends this source into the kernel once, after the codec (``__course_codec__``), then, for the calls of
each cell it runs, one line: ``__course_serve__(FOLDER)``, a loop that serves requests until the grader rings
``stop``. Request N is the file ``FOLDER/.grader-N.pt``, rung as the line ``N`` on the pipe ``FOLDER/.doorbell-in``;
its answer is ``FOLDER/.answer-N.pt``, rung as ``N`` on ``FOLDER/.doorbell-out``. A callback K (a grader module the
student's code calls) is ``.callback-K.pt``, rung as ``cb K`` on ``.doorbell-out``; its answer
``.callback-K.answer.pt``, rung as ``cb K`` on ``.doorbell-in``.

The student's code may read, replace or break all of this: that changes nothing the grader trusts, since the
grader loads only tensors and plain data and bounds every wait. Everything but the one function is nested inside
it, so the student's namespace gains no other name.
"""


def __course_serve__(folder):
    import builtins
    import collections
    import inspect
    import os
    import traceback

    import torch
    from torch import nn

    user_ns = globals()
    codec = user_ns["__course_codec__"]
    state = user_ns.setdefault("__course_state__", {"objects": {}, "graphs": collections.OrderedDict(), "next": 0})
    simple = (int, float, bool, str, complex, type(None), torch.dtype, torch.device)

    def is_data(value):
        if isinstance(value, simple) or isinstance(value, torch.Tensor) and not isinstance(value, nn.Parameter):
            return type(value) in simple or type(value) is torch.Tensor
        if type(value) in (tuple, list):
            return all(is_data(v) for v in value)
        if type(value) is dict:
            return all(type(k) in (str, int) and is_data(v) for k, v in value.items())
        return False

    def new_handle(obj):
        state["next"] += 1
        state["objects"][state["next"]] = obj
        return state["next"]

    def public_methods(module):
        names = set()
        for cls in type(module).__mro__:
            if cls.__module__.startswith("torch.") or cls in (nn.Module, object):
                continue
            for name, member in vars(cls).items():
                if not name.startswith("_") and (inspect.isfunction(member)
                                                 or isinstance(member, (staticmethod, classmethod))):
                    names.add(name)
        return sorted(names - {"forward"})

    def simple_attributes(module):
        found = {}
        for name, value in vars(module).items():
            if not name.startswith("_") and name != "training" and is_data(value):
                found[name] = value.detach() if isinstance(value, torch.Tensor) else value
        for cls in type(module).__mro__:
            for name, member in vars(cls).items():
                if isinstance(member, property) and not name.startswith("_") and name not in found:
                    try:
                        value = getattr(module, name)
                    except Exception:  # noqa: BLE001
                        continue
                    if is_data(value):
                        found[name] = value
        return found

    def describe_tree(root):
        entries = []
        for qualname, module in root.named_modules():
            kind = ("list" if isinstance(module, nn.ModuleList) else "dict" if isinstance(module, nn.ModuleDict)
                    else "sequential" if type(module) is nn.Sequential else "module")
            entries.append({
                "name": qualname, "class": type(module).__name__, "kind": kind, "training": module.training,
                "params": [(n, None if p is None else p.detach(), bool(p is not None and p.requires_grad))
                           for n, p in module._parameters.items()],
                "buffers": [(n, None if b is None else b.detach(), n not in module._non_persistent_buffers_set)
                            for n, b in module._buffers.items()],
                "children": list(module._modules),
                "attributes": simple_attributes(module),
                "methods": public_methods(module),
            })
        return entries

    def describe(obj):
        if isinstance(obj, nn.Module):
            return {"kind": "module", "handle": new_handle(obj), "tree": describe_tree(obj)}
        if is_data(obj):
            return {"kind": "value", "value": obj}
        if isinstance(obj, type):
            return {"kind": "class", "is_module": issubclass(obj, nn.Module)}
        if callable(obj):
            return {"kind": "function"}
        return {"kind": "unsupported", "type": type(obj).__name__}

    def apply_state(root, module_state):
        for qualname, entry in module_state.items():
            module = root.get_submodule(qualname) if qualname else root
            module.training = entry["training"]
            for name, (value, requires_grad) in entry["params"].items():
                param = module._parameters.get(name)
                if value is None or param is None:
                    module._parameters[name] = None if value is None else nn.Parameter(value, requires_grad)
                    continue
                with torch.no_grad():
                    param.data = value
                param.requires_grad_(requires_grad)
            for name, value in entry["buffers"].items():
                module._buffers[name] = value

    def callback(handle, method, args, kwargs, training):
        """Ask the grader to run one of *its* modules (a test double, a reference model) on our data."""

        state["callbacks"] = state.get("callbacks", 0) + 1
        number = state["callbacks"]
        stem = os.path.join(folder, f".callback-{number}")
        codec["write"]({"handle": handle, "method": method, "args": encode(args), "kwargs": encode(kwargs),
                        "training": training, "grad": torch.is_grad_enabled()}, stem + ".pt")
        ring(f"cb {number}")
        while next_line() != f"cb {number}":
            pass
        answer_path = stem + ".answer.pt"
        answer = codec["read_any"](answer_path)
        os.remove(answer_path)
        if "error" in answer:
            exc_type = getattr(builtins, answer["error"][0], RuntimeError)
            raise exc_type(answer["error"][1])
        return answer["ok"]

    class GraderModule(nn.Module):
        """A module that lives in the grader; its methods run there."""

        def __init__(self, handle, description):
            super().__init__()
            self._course_handle = handle
            self._course_methods = set(description["methods"])
            self._course_parameters = nn.ParameterList([nn.Parameter(t, requires_grad=False)
                                                        for t in description["parameters"]])
            for name, tensor in description.get("named", {}).items():   # direct parameters/buffers: .weight, .bias
                object.__setattr__(self, name, tensor)
            for name, value in description["attributes"].items():
                object.__setattr__(self, name, value)
            self.training = description["training"]

        def forward(self, *args, **kwargs):
            return callback(self._course_handle, "forward", args, kwargs, self.training)

        def __getattr__(self, name):
            if name != "_course_methods" and name in self.__dict__.get("_course_methods", ()):
                return lambda *args, **kwargs: callback(self._course_handle, name, args, kwargs, self.training)
            return super().__getattr__(name)

    def decode(value, states):
        if isinstance(value, dict) and "__torch_module__" in value:
            state["copies"].append(value["__torch_module__"])
            return value["__torch_module__"]   # a copy of a plain torch module: the grader keeps its own
        if isinstance(value, dict) and "__grader_module__" in value:
            return GraderModule(value["__grader_module__"], value["description"])
        if isinstance(value, dict) and "__mirror__" in value:
            root = state["objects"][value["__mirror__"]]
            if value["__mirror__"] in states:
                apply_state(root, states.pop(value["__mirror__"]))
            return root.get_submodule(value["name"]) if value["name"] else root
        if isinstance(value, dict) and "__generator__" in value:
            generator = torch.Generator(device=value["device"])
            generator.set_state(value["__generator__"])
            return generator
        if isinstance(value, tuple):
            return tuple(decode(v, states) for v in value)
        if isinstance(value, list):
            return [decode(v, states) for v in value]
        if isinstance(value, dict):
            return {k: decode(v, states) for k, v in value.items()}
        return value

    def encode(value):
        if isinstance(value, torch.Tensor):
            return value.detach().as_subclass(torch.Tensor)
        if isinstance(value, nn.Module):
            return {"__module__": describe(value)}
        if isinstance(value, tuple) and type(value) is not tuple:   # namedtuple -> tuple
            value = tuple(value)
        if type(value) in (tuple, list):
            return type(value)(encode(v) for v in value)
        if type(value) is dict:
            return {k: encode(v) for k, v in value.items()}
        if type(value) in simple:
            return value
        raise TypeError(f"returned a {type(value).__name__}, which the tests cannot use; return tensors, numbers, "
                        f"tuples, lists or modules")

    def tensors_in(value):
        if isinstance(value, torch.Tensor):
            return [value]
        if isinstance(value, (tuple, list)):
            return [t for v in value for t in tensors_in(v)]
        if isinstance(value, dict):
            return [t for v in value.values() for t in tensors_in(v)]
        return []

    def builtin_exception_name(exc):
        for cls in type(exc).__mro__:
            if getattr(builtins, cls.__name__, None) is cls:
                return cls.__name__
        return "RuntimeError"

    class forbidden_guards:
        """While the grader's call runs, the built-ins the exercise forbids raise (Python entry points and the
        dispatcher's kernels), so that an answer that delegates to them fails with a clear message."""

        def __init__(self, forbidden):
            self.forbidden, self.undo, self.library = forbidden, [], None

        def __enter__(self):
            import importlib
            import warnings

            for dotted, ops in self.forbidden.items():
                message = (f"{dotted} is not allowed in this exercise (the notebook forbids it): "
                           f"write this part with basic tensor operations")

                def guard(*args, course_message=message, **kwargs):
                    raise RuntimeError(course_message)

                module_name, _, attribute = dotted.rpartition(".")
                target = getattr(importlib.import_module(module_name), attribute)
                if isinstance(target, type):
                    for method in ("__init__", "forward"):
                        if method in vars(target):
                            self.undo.append((target, method, vars(target)[method]))
                            setattr(target, method, guard)
                elif inspect.isfunction(target):
                    self.undo.append((target, "__code__", target.__code__))
                    target.__code__ = guard.__code__.replace(co_name=attribute)
                    self.undo.append((target, "__kwdefaults__", target.__kwdefaults__))
                    target.__kwdefaults__ = {"course_message": message}
                if ops:
                    if self.library is None:
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            self.library = torch.library.Library("aten", "IMPL")
                    for op in ops:
                        for key in ("CompositeImplicitAutograd", "CPU", "CUDA"):
                            try:
                                with warnings.catch_warnings():
                                    warnings.simplefilter("ignore")
                                    self.library.impl(op, guard, key)
                            except Exception:  # noqa: BLE001 -- an op without that key
                                pass
            return self

        def __exit__(self, *exc):
            for owner, name, original in reversed(self.undo):
                setattr(owner, name, original)
            if self.library is not None:
                self.library._destroy()
            return False

    def call(request):
        state["copies"] = []
        states = dict(request.get("states", {}))
        target = request["target"]
        args = decode(request["args"], states)
        kwargs = decode(request["kwargs"], states)
        for handle, module_state in states.items():
            apply_state(state["objects"][handle], module_state)
        if target[0] == "name":
            function = user_ns[target[1]]
        else:
            _, handle, qualname, method = target
            root = state["objects"][handle]
            function = getattr(root.get_submodule(qualname) if qualname else root, method)
        inputs = [t for t in tensors_in((args, kwargs))]
        grad_inputs = [inputs[i] for i in request.get("grad_inputs", [])]
        for tensor in grad_inputs:
            tensor.requires_grad_(True)
        before = [t.clone() if t.device.type != "meta" else None for t in inputs]
        grad_params = [(state["objects"][h].get_submodule(q) if q else state["objects"][h]).get_parameter(n)
                       for h, q, n in request.get("grad_params", [])]
        if request.get("grad_copies"):   # the grader's own modules, copied in: their gradients go back too
            grad_params += [p for module in state["copies"] for p in module.parameters() if p.requires_grad]
        torch.set_rng_state(request["rng_state"])
        torch.set_default_dtype(request["default_dtype"])
        with torch.set_grad_enabled(bool(request.get("grad"))), forbidden_guards(state.get("forbidden", {})):
            result = function(*args, **kwargs)
        answer = {"result": encode(result), "mutated": {}, "rng_state": torch.get_rng_state()}
        for index, (tensor, old) in enumerate(zip(inputs, before)):
            if old is not None and (old.shape != tensor.shape or not torch.equal(old, tensor.detach())):
                answer["mutated"][index] = tensor.detach().clone()
        if request.get("grad"):
            outputs = [t for t in tensors_in(result) if t.requires_grad]
            state["graphs"][request["call_id"]] = (outputs, grad_inputs + grad_params)
            while len(state["graphs"]) > 4096:   # a cell's graphs; the next cell's lookup drops them all
                state["graphs"].popitem(last=False)
            answer["grad_outputs"] = [i for i, t in enumerate(tensors_in(result)) if t.requires_grad]
        return answer

    def backward(request):
        if request["call_id"] not in state["graphs"]:
            raise RuntimeError("backward through a call made in an earlier cell: the graph is gone")
        outputs, sources = state["graphs"].pop(request["call_id"])
        pairs = [(o, g) for o, g in zip(outputs, request["grad_outputs"]) if g is not None]
        if not pairs or not sources:
            return {"grads": [None] * len(sources)}
        grads = torch.autograd.grad([o for o, _ in pairs], sources, [g for _, g in pairs], allow_unused=True)
        return {"grads": [None if g is None else g.detach() for g in grads]}

    def serve(request_path, response_path):
        try:
            request = codec["read_any"](request_path)
            if request["op"] == "forbid":
                state["forbidden"] = request["forbidden"]
                answer = True
            elif request["op"] == "lookup":   # before every cell the grader runs
                state["graphs"].clear()
                answer = {name: {"kind": "missing"} if name not in user_ns else describe(user_ns[name])
                          for name in request["names"]}
            elif request["op"] == "call":
                answer = call(request)
            else:
                answer = backward(request)
            codec["write"]({"ok": answer}, response_path)
        except BaseException as exc:  # noqa: BLE001 -- every failure goes back to the grader as data
            message = str(exc)[:3000]
            codec["write"]({"error": (builtin_exception_name(exc), message, traceback.format_exc()[-3000:])},
                           response_path)

    def ring(line):
        os.write(bells["out"], f"{line}\n".encode())

    def next_line():
        while b"\n" not in bells["pending"]:
            chunk = os.read(bells["in"], 4096)
            if not chunk:
                raise EOFError("the grader closed the channel")
            bells["pending"] += chunk
        line, bells["pending"] = bells["pending"].split(b"\n", 1)
        return line.decode(errors="replace")

    bells = {"in": os.open(os.path.join(folder, ".doorbell-in"), os.O_RDONLY),
             "out": os.open(os.path.join(folder, ".doorbell-out"), os.O_WRONLY), "pending": b""}
    try:
        while (line := next_line()) != "stop":
            if line.isdigit():
                serve(os.path.join(folder, f".grader-{line}.pt"), os.path.join(folder, f".answer-{line}.pt"))
                ring(line)
    finally:
        os.close(bells["in"])
        os.close(bells["out"])
