"""What every benchmark prints first: the command, the machine and the versions."""
import os
import platform
import shlex
import sys


def describe_run() -> str:
    import torch

    try:
        import detectron2
        d2 = detectron2.__version__
    except ImportError:  # pragma: no cover - the project requires detectron2
        d2 = "absent"
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    lines = [
        "command: " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.executable)] + sys.argv),
        f"machine: {cpu}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}",
        f"versions: python {platform.python_version()}, torch {torch.__version__}, detectron2 {d2}",
    ]
    if torch.cuda.is_available():
        lines.append(f"gpu: {torch.cuda.get_device_name()}, CUDA {torch.version.cuda}, cudnn {torch.backends.cudnn.version()}")
    return "\n".join(lines)
