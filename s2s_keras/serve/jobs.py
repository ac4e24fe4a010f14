"""A request's rows as a job: taken in pieces for calls, answered in pieces, joined.

The `MicroBatcher` (`batcher.py`) makes a `Job` of each request and hands
its rows to calls as `Piece`s; a call's inputs are its pieces' rows
concatenated, and a job's answer is its pieces' outputs joined back, padded
as one call over all its rows would pad them.
"""

import asyncio
import dataclasses

import numpy as np


@dataclasses.dataclass(eq=False)
class Job:
    signature: object
    inputs: dict
    rows: int
    future: asyncio.Future
    row_cost: int = 1  # what one row counts for in a call's max_batch_size
    large: bool = False  # its rows take more than one call
    length: int = 1  # output tokens a row asks for
    arrival: int = 0  # the job's number, in order of arrival
    last_call: int = 0  # the call it last had a place in (at arrival: the count so far)
    taken: int = 0  # rows handed to calls so far
    answered: int = 0  # rows whose outputs came back
    pieces: dict = dataclasses.field(default_factory=dict)  # first row -> outputs

    def batch_key(self):
        """Jobs with the same key can run as one call; None runs alone."""
        if not self.signature.batchable:
            return None
        scalars = tuple(
            (name, self.inputs[name].item())
            for name, spec in self.signature.inputs.items()
            if not spec.batched
        )
        return self.signature.name, scalars

    @property
    def left(self):
        return self.rows - self.taken

    def turn(self, large_first):
        """The job's place in the order of turns: small jobs by arrival
        before large ones, or after them when it is the large ones' turn
        (`large_first`); large jobs by their last call, the oldest first."""
        if self.large:
            return (0 if large_first else 2), self.last_call, self.arrival
        return 1, 0, self.arrival

    def take(self, count):
        """The next `count` rows: `(first row, count, inputs)`."""
        first = self.taken
        self.taken += count
        inputs = {
            name: value[first : first + count] if spec.batched else value
            for name, value in self.inputs.items()
            for spec in (self.signature.inputs[name],)
        }
        return first, count, inputs


@dataclasses.dataclass(eq=False)
class Piece:
    job: Job
    first: int
    rows: int
    inputs: dict


def concatenate(inputs_list, signature):
    if len(inputs_list) == 1:
        return inputs_list[0]
    return {
        name: np.concatenate([inputs[name] for inputs in inputs_list])
        if spec.batched
        else inputs_list[0][name]
        for name, spec in signature.inputs.items()
    }


def joined(parts):
    """The outputs of a job's calls as one: padded to one shape, concatenated.

    A call pads its rows' variable dimensions to its longest (ids with 0,
    text with `""`), so padding the pieces the same way gives what one call
    over all the rows would have.
    """
    if len(parts) == 1:
        return parts[0]
    joined = {}
    for name in parts[0]:
        arrays = [np.asarray(part[name]) for part in parts]
        if arrays[0].ndim == 1:
            joined[name] = np.concatenate(arrays)
            continue
        shape = np.max([array.shape[1:] for array in arrays], axis=0).astype(int)
        padded = []
        for array in arrays:
            pad = [(0, 0)] + [
                (0, size - have)
                for size, have in zip(shape, array.shape[1:], strict=True)
            ]
            fill = b"" if array.dtype == object else 0
            padded.append(np.pad(array, pad, constant_values=fill))
        joined[name] = np.concatenate(padded)
    return joined


def settle(future, result=None, error=None):
    if future.done():  # the client went away and its request was cancelled
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
