"""GPU grading: where NVIDIA GPUs exist the sandbox exposes their device nodes (and /sys, read-only) to the
student's kernel and nothing more, and limits the kernel's data segment instead of its address space (CUDA
reserves far more address space than it uses); elsewhere nothing changes. Checked here without a GPU by
pretending device nodes exist; ``scripts/grade_on_gpu.sh`` grades the references on a real GPU machine."""
import glob
import resource
import subprocess
import sys

from autograder import sandbox


def _pretend(monkeypatch, nodes):
    real_glob = glob.glob
    def fake_glob(pattern):
        if not pattern.startswith("/dev/nvidia"):
            return real_glob(pattern)
        return [n for n in nodes if n.startswith(pattern.split("[")[0].rstrip("*")) and n[len("/dev/nvidia"):][:1]
                .isdigit() == ("[0-9]" in pattern)]

    monkeypatch.setattr(glob, "glob", fake_glob)
    monkeypatch.setattr(sandbox.os.path, "exists", lambda path, _real=sandbox.os.path.exists:
                        path in nodes or _real(path))


def test_no_gpu_no_change(monkeypatch):
    _pretend(monkeypatch, [])
    assert sandbox.gpu_devices() == [] and sandbox.gpu_view() == []
    assert "COURSE_SANDBOX_GPU" not in sandbox._clean_env(sandbox.Path("/tmp"), None)


def test_gpus_exposed_as_device_nodes_only(monkeypatch):
    nodes = ["/dev/nvidia0", "/dev/nvidia1", "/dev/nvidiactl", "/dev/nvidia-uvm"]
    _pretend(monkeypatch, nodes)
    view = sandbox.gpu_view()
    assert sorted(source for op, source, target in view if op == "dev-bind" and source == target) == sorted(nodes)
    assert view[-1] == ["ro-bind", "/sys", "/sys"] and len(view) == len(nodes) + 1
    assert sandbox._clean_env(sandbox.Path("/tmp"), None)["COURSE_SANDBOX_GPU"] == "1"
    monkeypatch.setenv("COURSE_SANDBOX_GPU", "0")   # an instructor can keep GPUs out
    assert sandbox.gpu_view() == []


def test_gpu_kernel_limits_data_not_address_space():
    probe = ("import resource, os; from autograder import sandbox_kernel as k; k.apply_limits(); "
             "print(resource.getrlimit(resource.RLIMIT_AS)[0], resource.getrlimit(resource.RLIMIT_DATA)[0])")
    for gpu, limited in (("1", "data"), ("0", "as")):
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                             env={"COURSE_SANDBOX_GPU": gpu, "COURSE_SANDBOX_MEMORY_MB": "4096",
                                  "PYTHONPATH": str(sandbox.REPO_ROOT)}).stdout.split()
        address_space, data = (int(v) for v in out)
        expected = 4096 * 1024 * 1024
        if limited == "data":
            assert data == expected and address_space == resource.RLIM_INFINITY
        else:
            assert address_space == expected
