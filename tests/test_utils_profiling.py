import torch

from srtod_d2.utils import profiling


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_interleaved_timings_alternate_calls_after_warmup():
    order = []
    calls = {"a": lambda: order.append("a"), "b": lambda: order.append("b")}
    times = profiling.interleaved_timings(calls, reps=3, warmup=2)
    assert order == ["a", "a", "b", "b"] + ["a", "b"] * 3
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3}


def test_interleaved_timings_count_sync_inside_the_timed_span(monkeypatch):
    # The call itself takes 0.5 "seconds", the sync (waiting for the GPU) 2: the timing must
    # include the wait, as a GPU call returns before its kernels finish.
    clock = FakeClock()
    monkeypatch.setattr(profiling.time, "perf_counter", clock)

    def call():
        clock.now += 0.5

    def sync():
        clock.now += 2.0

    synced = profiling.interleaved_timings({"x": call}, reps=4, sync=sync)
    unsynced = profiling.interleaved_timings({"x": call}, reps=4)
    assert synced["x"] == [2.5] * 4
    assert unsynced["x"] == [0.5] * 4


def test_count_gmacs_of_a_conv_matches_its_multiply_adds():
    conv = torch.nn.Conv2d(8, 16, 3, padding=1, bias=False)
    h, w = 20, 12
    expected = 8 * 16 * 3 * 3 * h * w / 1e9
    assert abs(profiling.count_gmacs(conv, torch.zeros(1, 8, h, w)) - expected) < 1e-12
    assert conv.training  # the count runs in eval mode and restores the mode it found
