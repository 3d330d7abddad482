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
import threading
import warnings
from typing import TYPE_CHECKING

import numpy as onp

from ..front.errors import FitError

if TYPE_CHECKING:
    from ..back.program import Program

SLOTS = 3               # minibatches the worker may draw ahead
STATE_BYTES = 1 << 14   # room per slot for the generator's state after that slot's draw (JSON)
ALIGN = 64
MAX_SLOT_BYTES = 1 << 28   # a larger minibatch is read in step (`SLOTS` copies would cost gigabytes)
POLL = 0.25             # seconds between checks that the other process is still there


def minibatches(program: Program, rng: onp.random.Generator) -> Ahead | InStep:
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
        except OSError:                   # no process or socket to be had
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
    holds stays untouched until its next call, so the minibatch must not be kept past that.

    The fit and the worker pass one byte per buffer over a connected pair of sockets: the fit to
    give a buffer back, the worker when it has filled one. A socket reads as ended once the
    process at its other end is gone, so neither side waits for the other in vain; each also
    looks every `POLL` seconds, in case some other forked process holds that end open."""

    @staticmethod
    def possible(program, rng) -> bool:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        return (sys.platform.startswith("linux") and cores >= 2
                and not any(onp.asarray(values).dtype.hasobject for _, values in program.feed)
                and sum(n for _, n in _layout(program)) <= MAX_SLOT_BYTES
                and len(_encoded(rng.bit_generator.state)) < STATE_BYTES - 8)

    def __init__(self, program, rng):
        import socket                            # imported when first needed (5 ms)
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
        self.next, self.held, self.pid, self.ended, self.exitcode = 0, None, 0, False, None
        self.handed = _encoded(rng.bit_generator.state)    # the generator as of the minibatches handed out
        self.nosignal = socket.MSG_NOSIGNAL
        self.link, theirs = socket.socketpair()
        try:
            for end in (self.link, theirs):
                end.settimeout(POLL)
            self.link.sendall(b"\0" * SLOTS)              # every buffer is free
            for stream in (sys.stdout, sys.stderr):        # nothing buffered can be written twice
                try:
                    stream.flush()
                except (AttributeError, OSError, ValueError):
                    pass
            self._fork(theirs)
        except BaseException:              # no worker (OSError: the caller reads in step) or an interrupt
            self.close()
            raise
        finally:
            theirs.close()

    def _fork(self, theirs):
        """Start the worker. An interrupt that comes meanwhile is held back until its pid is kept
        (and so `close` can end it): in the forking thread by the signal mask, which the worker
        inherits until it ignores SIGINT; in the main thread (where Python runs the handler,
        whichever thread the signal reached) by a stand-in handler, the fit's own called after."""
        parent = os.getpid()
        held = []
        standin = (threading.current_thread() is threading.main_thread()
                   and signal.getsignal(signal.SIGINT) is not None)    # None: set outside Python
        if standin:
            handler = signal.signal(signal.SIGINT, lambda number, frame: held.append(frame))
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            with warnings.catch_warnings():
                # Python 3.12+ (and JAX, when imported) warn that a child forked from a threaded
                # process may deadlock on a lock another thread held; the worker takes none: it
                # runs only the generator, numpy's take and its socket.
                warnings.filterwarnings("ignore", message=r".*fork\(\) (was called|may lead to deadlocks)")
                self.pid = os.fork()
                if self.pid == 0:
                    _work(self, theirs, parent)        # never returns
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            if standin:
                signal.signal(signal.SIGINT, handler)
                if held and callable(handler):
                    handler(signal.SIGINT, held[0])
                elif held and handler == signal.SIG_DFL:
                    signal.raise_signal(signal.SIGINT)

    def __call__(self):
        if self.held is not None:
            self.handed, self.held = self._raw(self.held), None   # before the worker may refill it
            _send(self.link, self.nosignal)
        if not self._take():
            raise self._stopped()
        start, rows, cuts = self.slots[self.next]
        self.next, self.held = (self.next + 1) % SLOTS, start
        return rows, [cut[None] for cut in cuts]

    def _take(self) -> bool:
        """Wait for the next filled buffer; False if the worker has ended without filling one (a
        buffer it filled just before it ended is still taken)."""
        ended = False
        while True:
            try:
                return self.link.recv(1) == b"\0"          # b"": the worker has gone
            except ConnectionResetError:                  # gone, leaving bytes unread
                return False
            except TimeoutError:
                if ended:
                    return False
                ended = self._ended()

    def _ended(self, wait=False) -> bool:
        """Whether the worker has ended, keeping its exit code (negative: the signal that ended it;
        None when the system reaped it, SIGCHLD being ignored)."""
        if not self.ended and self.pid:
            try:
                pid, status = os.waitpid(self.pid, 0 if wait else os.WNOHANG)
            except ChildProcessError:
                pid, status = self.pid, None
            if pid:
                self.ended, self.exitcode = True, None if status is None else os.waitstatus_to_exitcode(status)
        return self.ended

    def settle(self):
        """Put the generator where the handed-out minibatches left it (what a checkpoint saves)."""
        if self.held is not None:
            self.handed = self._raw(self.held)
        self.rng.bit_generator.state = json.loads(self.handed)

    def close(self):
        """Stop the worker and settle the generator."""
        self._end()
        self.link.close()
        self.settle()

    def _end(self):
        if self.pid and not self._ended():
            os.kill(self.pid, signal.SIGKILL)
            self._ended(wait=True)

    def __del__(self):                     # one dropped unclosed: no process left, running or unreaped
        try:
            self._end()
        except Exception:                  # noqa: BLE001 - half built, or at interpreter exit
            pass

    def _length(self, start):
        """The slot's header: the length of its generator state, negative for an error's text."""
        return int.from_bytes(self.buffer[start:start + 8], sys.byteorder, signed=True)

    def _raw(self, start):
        return self.buffer[start + 8:start + 8 + abs(self._length(start))]

    def _stopped(self):
        self._ended(wait=True)
        code = self.exitcode
        why = ("ended" if code is None else f"ended with exit code {code}" if code >= 0 else
               f"was stopped by signal {-code} ({_signal_name(-code)})")
        for start, _, _ in self.slots:                    # a failure it could report
            if self._length(start) < 0:
                why = f"failed: {json.loads(self._raw(start))}"
        hint = ("check that the memory-mapped data file was not changed or removed during the fit"
                if code == -signal.SIGBUS else "it may have run out of memory" if code == -signal.SIGKILL else None)
        return FitError(f"the process reading the minibatches {why}", hint=hint)


def _signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:                     # a real-time signal
        return signal.strsignal(number) or "unknown"


def _send(end, nosignal):
    """One byte to the other process; nothing (and no SIGPIPE) when it has gone."""
    try:
        end.send(b"\0", nosignal)
    except OSError:
        pass


def _work(ahead, link, parent):
    """The worker: fill the buffers the fit gives back, in order, until the fit stops it or goes
    away (`parent` no longer its parent). It leaves only through `os._exit`, so nothing of the
    parent's runs or prints on its way out, and none of the parent's signal handlers runs in it:
    an interrupt is the fit's."""
    try:
        ahead.link.close()
        for number in signal.valid_signals():
            if callable(signal.getsignal(number)):
                signal.signal(number, signal.SIG_DFL)
        for number in (signal.SIGINT, signal.SIGTERM):   # the fit ends the worker
            signal.signal(number, signal.SIG_IGN)
        faulthandler.disable()             # a crash (a mapped file cut short) is the fit's to report
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        i = 0
        while True:
            try:
                if link.recv(1) != b"\0":              # the fit has gone
                    os._exit(0)
            except ConnectionResetError:
                os._exit(0)
            except TimeoutError:
                if os.getppid() != parent:
                    os._exit(0)
                continue
            start, rows, cuts = ahead.slots[i]
            try:
                ahead.program.minibatch(ahead.rng, into=(rows, cuts))
                state, failed = _encoded(ahead.rng.bit_generator.state), False
            except Exception as err:                   # noqa: BLE001 - reported by the fit
                state, failed = _encoded(f"{type(err).__name__}: {err}"[:1000]), True
            ahead.buffer[start + 8:start + 8 + len(state)] = state
            header = -len(state) if failed else len(state)
            ahead.buffer[start:start + 8] = header.to_bytes(8, sys.byteorder, signed=True)
            if failed:
                os._exit(1)
            _send(link, ahead.nosignal)
            i = (i + 1) % SLOTS
    except BaseException:                      # noqa: BLE001 - the fit reports a worker that ended
        os._exit(1)


def _encoded(value) -> bytes:
    """A generator's state (or an error's text) as JSON; arrays (MT19937's key) as lists."""
    return json.dumps(value, default=lambda a: a.tolist()).encode()


def _layout(program):
    """[((shape, dtype), bytes)] of a slot's arrays: the rows, then each cut of the data."""
    size = program.batch.size
    shapes = [((size,), onp.dtype(onp.int64))] + [((size,) + onp.shape(values)[1:], onp.asarray(values).dtype)
                                                  for _, values in program.feed]
    return [(shape, -(-int(onp.prod(shape[0])) * shape[1].itemsize // ALIGN) * ALIGN) for shape in shapes]
