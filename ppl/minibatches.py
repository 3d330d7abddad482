"""A subsampled fit's minibatches, the next one drawn and gathered while the current step runs.

Each step's rows come from the fit's generator in step order, exactly as if each were drawn at
its step; only the work moves: a background thread draws the next rows and cuts the data to them
(NumPy's random draws, sort and take release the GIL), so a step over large or memory-mapped data
does not wait for its reads. The generator is put back where the handed-out minibatches left it
whenever anything else reads it (a checkpoint, the summaries after the fit).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager


class Minibatches:
    """`minibatches()` is the next step's `Program.minibatch(rng)`.

    >>> import numpy as np, ppl
    >>> model = ppl.compile("data N: int\\ndata y: real[N]\\nmu ~ Normal(0, 1)\\ny ~ Normal(mu, 1)")
    >>> built, rng = model.bind({"N": 6, "y": np.arange(6.0)}, seed=0, batch_size=2)
    >>> ahead = Minibatches(built, rng)
    >>> first, second = ahead()[0], ahead()[0]
    >>> ahead.close()
    >>> _, rng = model.bind({"N": 6, "y": np.arange(6.0)}, seed=0, batch_size=2)
    >>> bool(np.all(first == built.minibatch(rng)[0]) and np.all(second == built.minibatch(rng)[0]))
    True
    """

    def __init__(self, program, rng):
        self.program, self.rng = program, rng
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ppl-minibatch")
        self.ahead = None
        self.handed = rng.bit_generator.state     # the generator as of the minibatches handed out

    def __call__(self):
        batch = self.ahead.result() if self.ahead is not None else self.program.minibatch(self.rng)
        self.handed = self.rng.bit_generator.state
        self.ahead = self.pool.submit(self.program.minibatch, self.rng)
        return batch

    @contextmanager
    def settled(self):
        """The generator as though nothing were drawn ahead (what a checkpoint saves)."""
        if self.ahead is not None:
            self.ahead.result()
        ahead = self.rng.bit_generator.state
        self.rng.bit_generator.state = self.handed
        try:
            yield
        finally:
            self.rng.bit_generator.state = ahead

    def close(self):
        """Wait for the draw ahead, drop it, and put the generator back as the handed-out
        minibatches left it."""
        if self.ahead is not None:
            self.ahead.result()
            self.ahead = None
        self.rng.bit_generator.state = self.handed
        self.pool.shutdown()
