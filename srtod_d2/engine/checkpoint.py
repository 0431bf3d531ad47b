"""Checkpoints that survive a kill at any moment."""
import os
import tempfile
from contextlib import contextmanager


class AtomicWritePathManager:
    """Wraps a detectron2/iopath PathManager so that files opened for writing on local disk are
    written to a temporary file in the same folder, flushed to disk, and renamed into place.

    detectron2's checkpointer writes ``model_XXXX.pth`` and then ``last_checkpoint`` in place: a
    kill during either write leaves a truncated file, and a truncated ``last_checkpoint`` makes
    ``--resume`` start again from iteration 0. With this wrapper a reader sees either the old
    complete file or the new complete one, never a part.
    """

    def __init__(self, path_manager):
        self._pm = path_manager

    def __getattr__(self, name):
        return getattr(self._pm, name)

    def open(self, path, mode="r", **kwargs):
        if "w" not in mode or "://" in str(path):
            return self._pm.open(path, mode, **kwargs)
        return _atomic_open(str(path), mode)


@contextmanager
def _atomic_open(path, mode):
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # make the rename itself durable
        finally:
            os.close(dir_fd)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def make_atomic(checkpointer):
    """Make ``checkpointer`` (a detectron2/fvcore Checkpointer) write atomically; returns it."""
    if not isinstance(checkpointer.path_manager, AtomicWritePathManager):
        checkpointer.path_manager = AtomicWritePathManager(checkpointer.path_manager)
    return checkpointer
