"""Handing freed memory back to the system.

Work that builds many small objects and then drops them (learning a
subword vocabulary, collecting a lexicon) leaves the C heap holding the
pages it freed: glibc's `malloc` keeps them for later allocations, so the
process's resident memory stays at the work's peak for the rest of a run.
A run's peak then stacks one phase on the last (`bench/memory_timeline.py`
shows it); `release_freed_memory` returns them between phases.
"""

import ctypes
import functools
import gc


@functools.cache
def _malloc_trim():
    """glibc's `malloc_trim`, or None where the C library has none."""
    try:
        # The symbols the process has loaded, the C library's among them.
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):  # not glibc (musl, macOS, Windows)
        return None


def release_freed_memory(collect_garbage=True):
    """Returns the heap's free pages to the system, Python's garbage collected first.

    Args:
        collect_garbage: bool, whether to collect Python's garbage first
            (a full collection: a quarter of a second in a process that has
            imported TensorFlow; the trim alone takes milliseconds).

    Returns:
        bool, whether the C library could return them (glibc); elsewhere
        at most Python's garbage is collected.
    """
    if collect_garbage:
        gc.collect()
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
