"""A subsampled fit's minibatches, drawn and gathered a few steps ahead of the steps that use them.

Each step's rows come from the fit's generator in step order, exactly as if each were drawn at
its step; only the work moves. Where the system can fork and has a second core, a worker process
draws the rows of the next `SLOTS` steps and gathers the data into a ring of shared buffers, so a
step over large or memory-mapped data neither waits for its reads nor competes with them for the
interpreter (a background thread would: it shares the interpreter lock with the step, which then
ran up to 1.4x slower). Elsewhere each step draws and gathers its own rows. Either way the fit's
generator ends where the handed-out minibatches left it (`settle`), so a checkpoint, a resumed fit
and the summaries after the fit are the same as with minibatches drawn in step.
"""
from __future__ import annotations

import faulthandler
import json
import mmap
import os
import signal
import sys
import warnings

import numpy as onp

from .errors import FitError

SLOTS = 3               # minibatches the worker may draw ahead
STATE_BYTES = 1 << 14   # room per slot for the generator's state after that slot's draw (JSON)
ALIGN = 64
MAX_SLOT_BYTES = 1 << 28   # a larger minibatch is read in step (`SLOTS` copies would cost gigabytes)
POLL = 0.25             # seconds between checks that the other process is still there


def minibatches(program, rng):
    """The next step's `Program.minibatch(rng)` at each call: ahead in a worker process where that
    is possible (`Ahead`), in the step otherwise (`InStep`).

    >>> import numpy as np, ppl
    >>> model = ppl.compile("data N: int\\ndata y: real[N]\\nmu ~ Normal(0, 1)\\ny ~ Normal(mu, 1)")
    >>> built, rng = model.bind({"N": 6, "y": np.arange(6.0)}, seed=0, batch_size=2)
    >>> source = minibatches(built, rng)
    >>> first, second = source()[0].copy(), source()[0].copy()
    >>> source.close()
    >>> _, rng = model.bind({"N": 6, "y": np.arange(6.0)}, seed=0, batch_size=2)
    >>> bool(np.all(first == built.minibatch(rng)[0]) and np.all(second == built.minibatch(rng)[0]))
    True
    """
    if Ahead.possible(program, rng):
        try:
            return Ahead(program, rng)
        except (OSError, AssertionError, ValueError):   # no shared semaphores, or a daemonic process
            pass
    return InStep(program, rng)


class InStep:
    """Each call draws and gathers its own rows."""

    def __init__(self, program, rng):
        self.program, self.rng = program, rng

    def __call__(self):
        return self.program.minibatch(self.rng)

    def settle(self):
        """Nothing is drawn ahead: the generator already stands where the minibatches left it."""

    def close(self):
        pass


class Ahead:
    """A worker process (forked, so it shares the data without copying them) draws each step's
    rows from its copy of the generator and gathers the data into one of `SLOTS` shared buffers;
    a call hands out the next filled buffer and gives the previous one back. The buffer a step
    holds stays untouched until its next call, so the minibatch must not be kept past that."""

    @staticmethod
    def possible(program, rng) -> bool:
        import multiprocessing                    # imported when first needed (9 ms)
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        return (sys.platform.startswith("linux") and cores >= 2
                and "fork" in multiprocessing.get_all_start_methods()
                and not any(onp.asarray(values).dtype.hasobject for _, values in program.feed)
                and sum(n for _, n in _layout(program)) <= MAX_SLOT_BYTES
                and len(_encoded(rng.bit_generator.state)) < STATE_BYTES - 8)

    def __init__(self, program, rng):
        self.program, self.rng = program, rng
        layout = _layout(program)
        per_slot = STATE_BYTES + sum(n for _, n in layout)
        self.buffer = mmap.mmap(-1, per_slot * SLOTS)           # anonymous and shared with the worker
        self.slots = []
        for i in range(SLOTS):
            offset, arrays = i * per_slot + STATE_BYTES, []
            for (shape, dtype), n in layout:
                arrays.append(onp.frombuffer(self.buffer, dtype, int(onp.prod(shape)), offset).reshape(shape))
                offset += n
            self.slots.append((i * per_slot, arrays[0], arrays[1:]))
        import multiprocessing
        context = multiprocessing.get_context("fork")
        self.free, self.filled = context.Semaphore(SLOTS), context.Semaphore(0)
        self.next, self.held = 0, None
        self.handed = _encoded(rng.bit_generator.state)    # the generator as of the minibatches handed out
        self.worker = context.Process(target=self._work, name="ppl-minibatches", daemon=True)
        for stream in (sys.stdout, sys.stderr):            # nothing buffered is written twice
            try:
                stream.flush()
            except (AttributeError, OSError, ValueError):
                pass
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:                               # an interrupt is the fit's to handle, never the worker's
            with warnings.catch_warnings():
                # Python 3.12+ (and JAX, when imported) warn that a child forked from a threaded
                # process may deadlock on a lock another thread held; the worker runs only the
                # generator, numpy's take and its two semaphores (multiprocessing's start-up
                # closes stdin, which waits if another thread is blocked reading it).
                warnings.filterwarnings("ignore", message=r".*fork\(\) (was called|may lead to deadlocks)")
                self.worker.start()
        finally:
            try:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            except BaseException:          # an interrupt held back during the fork: no worker left behind
                self.close()
                raise

    def __call__(self):
        if self.held is not None:
            self.handed, self.held = self._raw(self.held), None   # before the worker may refill it
            self.free.release()
        while not self.filled.acquire(timeout=POLL):
            if not self.worker.is_alive():
                if self.filled.acquire(block=False):      # filled just before it ended
                    break
                raise self._stopped()
        start, rows, cuts = self.slots[self.next]
        self.next, self.held = (self.next + 1) % SLOTS, start
        return rows, [cut[None] for cut in cuts]

    def settle(self):
        """Put the generator where the handed-out minibatches left it (what a checkpoint saves)."""
        if self.held is not None:
            self.handed = self._raw(self.held)
        self.rng.bit_generator.state = json.loads(self.handed)

    def close(self):
        """Stop the worker and settle the generator."""
        self.worker.kill()
        self.worker.join()
        self.settle()

    def _length(self, start):
        """The slot's header: the length of its generator state, negative for an error's text."""
        return int.from_bytes(self.buffer[start:start + 8], sys.byteorder, signed=True)

    def _raw(self, start):
        return self.buffer[start + 8:start + 8 + abs(self._length(start))]

    def _state(self, start):
        return json.loads(self._raw(start))

    def _stopped(self):
        if self.worker.exitcode is not None and self.worker.exitcode < 0:
            why = f"was stopped by signal {-self.worker.exitcode} ({signal.Signals(-self.worker.exitcode).name})"
        else:
            why = f"ended with exit code {self.worker.exitcode}"
        for start, _, _ in self.slots:                    # a failure it could report
            if self._length(start) < 0:
                why = f"failed: {self._state(start)}"
        hint = ("check that the memory-mapped data file was not changed or removed during the fit"
                if self.worker.exitcode == -signal.SIGBUS else
                "it may have run out of memory" if self.worker.exitcode == -signal.SIGKILL else None)
        return FitError(f"the process reading the minibatches {why}", hint=hint)

    def _work(self):
        """The worker: fill the free buffers in order until the fit stops it (or goes away);
        it leaves only through `os._exit`, so nothing of the parent's runs or prints on its way out."""
        try:
            self._fill()
        except BaseException:                   # noqa: BLE001 - the fit reports a worker that ended
            os._exit(1)

    def _fill(self):
        for number in signal.valid_signals():        # none of the parent's handlers runs here
            if callable(signal.getsignal(number)):
                signal.signal(number, signal.SIG_DFL)
        for number in (signal.SIGINT, signal.SIGTERM):   # the fit's to handle; the fit ends the worker
            signal.signal(number, signal.SIG_IGN)
        faulthandler.disable()             # a crash (a mapped file cut short) is the fit's to report
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        parent, i = os.getppid(), 0
        while True:
            while not self.free.acquire(timeout=POLL):
                if os.getppid() != parent:
                    os._exit(0)
            start, rows, cuts = self.slots[i]
            try:
                self.program.minibatch(self.rng, into=(rows, cuts))
                state, failed = _encoded(self.rng.bit_generator.state), False
            except Exception as err:                  # noqa: BLE001 - reported by the fit
                state, failed = _encoded(f"{type(err).__name__}: {err}"[:1000]), True
            self.buffer[start + 8:start + 8 + len(state)] = state
            header = -len(state) if failed else len(state)
            self.buffer[start:start + 8] = header.to_bytes(8, sys.byteorder, signed=True)
            if failed:
                os._exit(1)
            self.filled.release()
            i = (i + 1) % SLOTS


def _encoded(value) -> bytes:
    """A generator's state (or an error's text) as JSON; arrays (MT19937's key) as lists."""
    return json.dumps(value, default=lambda a: a.tolist()).encode()


def _layout(program):
    """[((shape, dtype), bytes)] of a slot's arrays: the rows, then each cut of the data."""
    size = program.batch.size
    shapes = [((size,), onp.dtype(onp.int64))] + [((size,) + onp.shape(values)[1:], onp.asarray(values).dtype)
                                                  for _, values in program.feed]
    return [(shape, -(-int(onp.prod(shape[0])) * shape[1].itemsize // ALIGN) * ALIGN) for shape in shapes]
