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


def test_digits_split_is_stratified_standardised_and_offline():
    from coursetools.data import load_digits

    data = load_digits(image_size=16, seed=0)
    assert data.x_train.shape[1:] == (1, 16, 16) and len(data.x_train) + len(data.x_test) == 1797
    assert set(data.y_test.tolist()) == set(range(10))
    assert abs(data.x_train.mean().item()) < 1e-4 and abs(data.x_train.std().item() - 1) < 1e-3
    again = load_digits(image_size=16, seed=0)
    assert torch.equal(data.x_test, again.x_test)


def test_training_is_reproducible_for_a_fixed_step_count():
    import torch.nn as nn

    from coursetools.data import load_digits
    from coursetools.train import TrainConfig, train_classifier, warmup_cosine

    data = load_digits(image_size=8)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
        runs.append(train_classifier(model, data, TrainConfig(steps=30, warmup_steps=5, eval_every=10),
                                     device=torch.device("cpu"), progress=False))
    assert runs[0].loss == runs[1].loss and len(runs[0].loss) == 30
    assert runs[0].test_accuracy[-1] > 0.5  # a linear model learns digits in 30 steps
    assert warmup_cosine(0, 100, 10) == 0.1 and warmup_cosine(10, 100, 10) == 1.0 and warmup_cosine(100, 100, 10) == 0
