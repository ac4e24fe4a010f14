"""Handing freed memory back to the system (`utils.memory`)."""

import os

import pytest

from s2s_keras.utils.memory import release_freed_memory

PAGE = os.sysconf("SC_PAGE_SIZE")


def resident_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux")
def test_freed_heap_pages_go_back_to_the_system():
    # 150 MB of 1.5 kB blocks (past Python's small-object allocator, so
    # malloc's), freed but the last: the heap cannot shrink from its top, so
    # malloc keeps the freed pages until asked to return them.
    blocks = [bytearray(1500) for _ in range(100_000)]
    last = blocks[-1]
    del blocks[:-1]
    held = resident_bytes()
    released = release_freed_memory()
    if not released:
        pytest.skip("the C library is not glibc: nothing to return the pages")
    assert held - resident_bytes() > 100e6
    assert len(last) == 1500  # what was not freed stays


def test_training_releases_freed_memory_every_so_many_batches(monkeypatch):
    import keras
    import numpy as np

    from s2s_keras.training import callbacks

    released = []
    monkeypatch.setattr(
        callbacks, "release_freed_memory", lambda **kwargs: released.append(kwargs)
    )
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.zeros((10, 3), "float32"), np.zeros((10, 1), "float32")
    model.fit(
        x, y, batch_size=2, epochs=2, verbose=0,
        callbacks=[callbacks.ReleaseFreedMemory(every=2)],
    )  # fmt: skip
    # 5 batches an epoch: after batches 2 and 4 (the trim alone), and at the
    # epoch's end (garbage collected too).
    trim_only = {"collect_garbage": False}
    assert released == 2 * [trim_only, trim_only, {}]


def test_every_training_run_releases_freed_memory(tmp_path):
    from s2s_keras.training.callbacks import ReleaseFreedMemory
    from s2s_keras.training.runner import Runner
    from tests.test_reliability import build_model

    run = Runner(tmp_path).training_run("dot", build_model(40))
    assert any(isinstance(c, ReleaseFreedMemory) for c in run.callbacks)
