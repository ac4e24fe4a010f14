"""What a run prints: one line at a time, flushed, so logs keep up with it."""


def log(message):
    """Prints `message` and flushes (logs of long runs read as they go)."""
    print(message, flush=True)
