"""The shared helper package."""
import torch

from coursetools import get_device, peak_memory_bytes, seed_everything, time_call


def test_get_device_prefers_cuda_only_when_present(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    assert get_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setenv("COURSE_DEVICE", "meta")
    assert get_device().type == "meta"
    assert get_device("cpu").type == "cpu"


def test_seed_everything_makes_runs_identical():
    seed_everything(3)
    a = torch.randn(5)
    seed_everything(3)
    assert torch.equal(a, torch.randn(5))


def test_peak_memory_counts_the_score_matrix():
    x = torch.randn(256, 32)
    naive = peak_memory_bytes(lambda: torch.softmax(x @ x.T, dim=-1) @ x)
    assert naive >= 2 * 256 * 256 * 4  # scores and their softmax are alive together
    assert peak_memory_bytes(lambda: x[:10] * 2) < naive / 10


def test_time_call_returns_positive_seconds():
    assert 0 < time_call(lambda: torch.randn(100).sum(), repeats=3) < 1
