"""Cost measurements shared by tools/benchmark.py and benchmarks/: latency, GMACs, parameters."""
import statistics
import time
from typing import Callable, Dict, List, Optional

import torch
from detectron2.utils.analysis import FlopCountAnalysis


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_gmacs(model: torch.nn.Module, inputs) -> float:
    """Multiply-adds (fvcore counts one "flop" per multiply-add) of one call, in billions."""
    was_training = model.training
    model.eval()
    try:
        flops = FlopCountAnalysis(model, inputs)
        flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return flops.total() / 1e9
    finally:
        model.train(was_training)


def interleaved_timings(
    calls: Dict[str, Callable[[], object]], reps: int, warmup: int = 1, sync: Optional[Callable[[], object]] = None
) -> Dict[str, List[float]]:
    """Seconds per call of each callable, alternating them within every repetition so that drift
    on a shared machine hits all alike (ratios are then measured side by side).

    Args:
        sync: run after each call, inside the timed span (``torch.cuda.synchronize``: GPU work is
            asynchronous, so without it the clock would stop before the kernels finish).
    """
    sync = sync or (lambda: None)
    for fn in calls.values():
        for _ in range(warmup):
            fn()
        sync()
    times = {k: [] for k in calls}
    for _ in range(reps):
        for k, fn in calls.items():
            t0 = time.perf_counter()
            fn()
            sync()
            times[k].append(time.perf_counter() - t0)
    return times


def median(values: List[float]) -> float:
    return statistics.median(values)
