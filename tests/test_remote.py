"""The stand-ins of split grading (autograder/protocol/), quickly, in one process.

The student's side runs in a thread with its own namespace; requests and answers go through files exactly as with
a real kernel.  (The isolation itself is tested end to end in tests/test_hostile.py.)
"""
import os
import threading
import time

import pytest
import torch
from torch import nn

from autograder.protocol import codec
from autograder.protocol.grader_channel import KernelChannel, kernel_source
from autograder.protocol.grader_stand_ins import Session, StudentCodeError

STUDENT_CODE = '''
import torch
from torch import nn

def double(x):
    return 2 * x

def bad_input(x):
    raise ValueError("x must be 2-D, got " + str(tuple(x.shape)))

def add_in_place(x):
    x += 1
    return x

def noisy(shape):
    return torch.randn(shape)

class Affine(nn.Module):
    def __init__(self, n, dtype=None):
        super().__init__()
        self.n = n
        self.linear = nn.Linear(n, n, dtype=dtype)
        self.blocks = nn.ModuleList([nn.LayerNorm(n, dtype=dtype) for _ in range(2)])

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.linear(x)

    def first_norm(self, x):
        return self.blocks[0](x)

def run_model(model, x):
    return model.twice(model(x))

def reseeds(x):
    torch.manual_seed(0)                 # would make the grader's next "random" inputs predictable
    return x * 1

def vandal(model, x):
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    if hasattr(model, "poison"):
        model.poison()
    return model(x)

def apply_module(module, x):
    return module(x)

def returns_an_object(x):
    class Anything:
        def __eq__(self, other):
            return True
    return Anything()
'''


class InProcessKernel(KernelChannel):
    """The grader's real channel to a stand-in for the student's kernel: the kernel's serving loop runs in a thread
    with its own namespace, and the requests, answers, callbacks and doorbells are the real ones."""

    def __init__(self, workdir):
        super().__init__(client=None, workdir=workdir, deadline=float("inf"), cell_timeout=60)
        self.namespace = {}
        exec(kernel_source(), self.namespace)
        exec(STUDENT_CODE, self.namespace)
        self.session = Session(self)
        self.thread = None

    def _start_loop(self):
        self.loop = "thread"
        self.thread = threading.Thread(target=self.namespace["__course_serve__"], args=(str(self.workdir),),
                                       daemon=True)
        self.thread.start()

    def _loop_ended(self):
        return not self.thread.is_alive()

    def _await_loop_end(self, limit):
        self.thread.join(max(0.0, limit - time.monotonic()))
        assert not self.thread.is_alive(), "the serving loop did not stop"

    def _check_alive(self, run_sync):
        pass

    def __call__(self, request):
        rng = torch.get_rng_state()   # the "kernel" shares this process: keep the grader's stream apart
        try:
            return super().__call__(request)
        finally:
            torch.set_rng_state(rng)


@pytest.fixture
def session(tmp_path):
    kernel = InProcessKernel(tmp_path)
    yield kernel.session
    kernel.end_cell()
    kernel.close()


def test_functions_return_plain_tensors_and_errors_keep_their_type(session):
    double = session.lookup("double")
    x = torch.arange(6.0).reshape(2, 3)
    assert torch.equal(double(x), 2 * x)
    with pytest.raises(ValueError, match="must be 2-D"):
        session.lookup("bad_input")(torch.zeros(3))
    with pytest.raises(NameError):
        session.lookup("not_defined_anywhere")


def test_in_place_changes_to_arguments_fail_and_never_reach_the_tests_tensors(session):
    x = torch.zeros(3)
    with pytest.raises(RuntimeError, match="in place"):
        session.lookup("add_in_place")(x)
    assert torch.equal(x, torch.zeros(3))


def test_the_tests_seeds_hold_in_the_students_code(session):
    noisy = session.lookup("noisy")
    torch.manual_seed(3)
    first = noisy((4,))
    torch.manual_seed(3)
    assert torch.equal(noisy((4,)), first)
    torch.manual_seed(3)
    assert torch.equal(torch.randn(4), first)   # the student's code starts from the test's generator state


def test_the_generator_state_the_students_code_leaves_never_reaches_the_grader(session):
    reseeds = session.lookup("reseeds")
    torch.manual_seed(5)
    expected = torch.randn(3)
    torch.manual_seed(5)
    reseeds(torch.ones(1))
    assert torch.equal(torch.randn(3), expected)   # the test's stream goes on as if the student drew nothing
    torch.manual_seed(0)
    assert not torch.equal(torch.randn(3), expected)


def test_one_question_before_every_cell_whatever_the_cell_uses(session):
    asked = []
    transport = session.transport
    session.transport = lambda request: asked.append(request) or transport(request)
    found = session.lookup_all({"double", "Affine", "not_defined_anywhere"})
    assert len(asked) == 1 and asked[0]["names"] == ["Affine", "double", "not_defined_anywhere"]
    assert isinstance(found["not_defined_anywhere"], NameError) and callable(found["double"])


def test_objects_with_code_never_come_back(session):
    with pytest.raises(TypeError, match="cannot use"):
        session.lookup("returns_an_object")(torch.zeros(1))


def test_a_mirrored_module_behaves_like_the_students_and_follows_the_tests_changes(session):
    Affine = session.lookup("Affine")
    model = Affine(4, dtype=torch.float64)
    assert isinstance(model, nn.Module) and isinstance(model, Affine)
    assert model.n == 4 and len(model.blocks) == 2
    assert [n for n, _ in model.named_parameters()] == [
        "linear.weight", "linear.bias", "blocks.0.weight", "blocks.0.bias", "blocks.1.weight", "blocks.1.bias"]
    reference = nn.Sequential(nn.LayerNorm(4), nn.LayerNorm(4), nn.Linear(4, 4)).double()
    with torch.no_grad():
        for p in reference.parameters():
            p.normal_()
        model.blocks[0].weight.copy_(reference[0].weight)
        model.blocks[0].bias.copy_(reference[0].bias)
        model.blocks[1].load_state_dict(reference[1].state_dict())
        model.linear.load_state_dict(reference[2].state_dict())
    x = torch.randn(3, 4, dtype=torch.float64)
    torch.testing.assert_close(model(x), reference(x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(model.first_norm(x), reference[0](x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(model.blocks[1](x), reference[1](x), rtol=1e-12, atol=1e-12)
    model.float()
    assert model(x.float()).dtype == torch.float32


def test_gradients_flow_back_from_the_students_kernel(session):
    model = session.lookup("Affine")(3, dtype=torch.float64)
    reference = nn.Sequential(nn.LayerNorm(3), nn.LayerNorm(3), nn.Linear(3, 3)).double()
    reference[2].load_state_dict(model.linear.state_dict())
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_(True)
    (model(x) ** 2).sum().backward()
    (reference(x_ref) ** 2).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad)
    torch.testing.assert_close(model.linear.weight.grad, reference[2].weight.grad)
    torch.testing.assert_close(model.blocks[0].weight.grad, reference[0].weight.grad)


def test_a_graders_module_passed_to_student_code_runs_in_the_grader(session):
    class Doubler(nn.Module):
        calls = 0

        def forward(self, x):
            Doubler.calls += 1
            return 2 * x

        def twice(self, x):
            return self(self(x))

    out = session.lookup("run_model")(Doubler(), torch.ones(2))
    assert torch.equal(out, 8 * torch.ones(2))
    assert Doubler.calls == 3


def test_the_students_code_cannot_change_a_graders_module_it_is_given(session):
    """Expected values a test computes with its own modules never depend on what the student's code did to them."""
    class Scaler(nn.Module):   # not a plain torch module: runs in the grader, on a copy made for the call
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(2, 2)

        def forward(self, x):
            return self.linear(x)

        def poison(self):
            with torch.no_grad():
                self.linear.weight.fill_(7.0)

    vandal = session.lookup("vandal")
    for module in (nn.Linear(2, 2), Scaler()):   # a plain torch module travels as a copy
        before = {k: v.clone() for k, v in module.state_dict().items()}
        vandal(module, torch.ones(1, 2))
        assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())
    assert not session.grader_objects   # the copies made for a call go with it
    session.grader_objects[1] = Scaler()
    answer = session.serve_callback({"handle": 1, "method": "load_state_dict",
                                     "args": ({},), "kwargs": {}, "training": True})
    assert "error" in answer and "may call" in answer["error"][1]


def test_the_students_side_cannot_replace_what_nn_module_defines(session):
    forged = {"kind": "module", "handle": 99, "tree": [{
        "name": "", "class": "Forged", "kind": "module", "training": True, "params": [], "buffers": [],
        "children": [], "attributes": {"training": False, "_parameters": 1, "forward": 2, "n": 3},
        "methods": ["parameters", "state_dict", "load_state_dict", "__eq__", "helper"]}]}
    mirror = session.build_mirror(forged)
    assert mirror.training is True and mirror.n == 3
    assert list(mirror.parameters()) == [] and mirror.state_dict() == {}
    assert callable(mirror.helper) and not isinstance(mirror.forward, int)


def test_gradients_reach_the_parameters_of_a_graders_torch_module_the_students_code_used(session):
    linear = nn.Linear(3, 2).double()
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    out = session.lookup("apply_module")(linear, x)
    (out ** 2).sum().backward()
    expected = nn.Linear(3, 2).double()
    expected.load_state_dict(linear.state_dict())
    x_ref = x.detach().clone().requires_grad_(True)
    (expected(x_ref) ** 2).sum().backward()
    torch.testing.assert_close(linear.weight.grad, expected.weight.grad)
    torch.testing.assert_close(linear.bias.grad, expected.bias.grad)
    torch.testing.assert_close(x.grad, x_ref.grad)


# ------------------------------------------------------------------ the kernel's folder is the kernel's
def test_the_grader_reads_and_writes_no_link_and_waits_on_no_pipe_in_the_kernels_folder(tmp_path):
    folder, outside = tmp_path / "kernel", tmp_path / "grader-file"
    folder.mkdir()
    outside.write_text("the grader's")
    (folder / ".answer-1.pt").symlink_to(outside)
    os.mkfifo(folder / ".answer-2.pt")
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert codec.read_file(".answer-1.pt", dir_fd=fd) is None       # a link: never followed
        assert codec.read_file(".answer-2.pt", dir_fd=fd) is None       # a pipe: never waited on
        codec.write({"x": 1}, ".answer-1.pt", dir_fd=fd)                 # replaces the link, not what it points at
    finally:
        os.close(fd)
    assert outside.read_text() == "the grader's"
    assert not (folder / ".answer-1.pt").is_symlink()
    assert codec.read_plain((folder / ".answer-1.pt").read_bytes()) == {"x": 1}
    assert sorted(p.name for p in folder.iterdir()) == [".answer-1.pt", ".answer-2.pt"]   # no temporary left


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")   # its loop finds no pipe
def test_a_kernel_that_moves_its_folder_for_a_link_gets_no_message_written_through_it(tmp_path):
    (tmp_path / "kernel").mkdir()
    kernel = InProcessKernel(tmp_path / "kernel")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "kernel").rename(tmp_path / "moved")
    (tmp_path / "kernel").symlink_to(elsewhere)
    with pytest.raises(StudentCodeError, match="did not answer"):
        kernel.session.lookup("double")
    kernel.end_cell()
    kernel.close()
    assert list(elsewhere.iterdir()) == []


def test_a_kernel_that_answers_with_a_pipe_is_refused_at_once(tmp_path):
    kernel = InProcessKernel(tmp_path)
    exec('''
def __course_serve__(folder):
    import os, threading
    bell_in = os.open(os.path.join(folder, ".doorbell-in"), os.O_RDONLY)
    bell_out = os.open(os.path.join(folder, ".doorbell-out"), os.O_WRONLY)
    line = os.read(bell_in, 100).split(b"\\n")[0]
    os.mkfifo(os.path.join(folder, f".answer-{line.decode()}.pt"))
    os.write(bell_out, line + b"\\n")
''', kernel.namespace)
    started = time.monotonic()
    with pytest.raises(StudentCodeError, match="did not answer"):
        kernel.session.lookup("double")
    assert time.monotonic() - started < 5
    kernel.end_cell()
    kernel.close()


@pytest.mark.parametrize("flooded, refusals", [
    # only the pipe the grader reads: the ring goes through, the grader reads a bounded amount each time
    (("bell_out",), "CellTimeoutError"),
    # both: whether the grader's ring still fits in the pipe is a race; either refusal is right, in time
    (("bell_in", "bell_out"), "CellTimeoutError|StudentCodeError"),
])
def test_a_kernel_that_floods_its_pipes_cannot_keep_the_grader_past_the_time_limit(tmp_path, flooded, refusals):
    from nbclient.exceptions import CellTimeoutError

    kernel = InProcessKernel(tmp_path)
    kernel.cell_timeout = 1
    exec(f'''
def __course_serve__(folder):
    import os
    bell_in = os.open(os.path.join(folder, ".doorbell-in"), os.O_WRONLY | os.O_NONBLOCK)
    bell_out = os.open(os.path.join(folder, ".doorbell-out"), os.O_WRONLY | os.O_NONBLOCK)
    junk = b"cb 1\\n" * 1000 + b"x" * 5000
    while not os.path.exists(os.path.join(folder, "enough")):
        for bell in ({", ".join(flooded)},):
            try:
                os.write(bell, junk)
            except BlockingIOError:
                pass
''', kernel.namespace)
    started = time.monotonic()
    with pytest.raises((CellTimeoutError, StudentCodeError)) as refused:
        kernel.session.lookup("double")
    assert refused.type.__name__ in refusals.split("|"), refused.value
    assert time.monotonic() - started < 3
    (tmp_path / "enough").touch()
    kernel.thread.join(5)
    kernel.close()
