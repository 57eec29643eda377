"""The end of the process: rows still queued are written at exit and on SIGTERM, whatever the server does.

Servers treat SIGTERM in their own ways. gunicorn's sync and gthread workers set a flag and
leave through ``sys.exit()``, so ``atexit`` runs. uvicorn (alone, with ``--workers``, or as
gunicorn's ``UvicornWorker``) stops gracefully, puts back the handler it found and re-raises
SIGTERM: with ``SIG_DFL`` put back, the process dies right there, before ``atexit``. An
application's own handler may end the same way.

So our handler goes in front of whatever handler was there, and calls it. When that one is a
function, ours first blocks SIGTERM on the main thread: a later re-raise then waits, pending,
until the exit hook has written the rows, and unblocking it lets the process die of SIGTERM as
it would have. When it was ``SIG_DFL``, the rows are written on another thread and the process
then kills itself with SIGTERM. Either way the wait is bounded by the collector's shutdown timeout.

The handler runs on the main thread between two bytecodes, possibly while that thread holds the
queue's lock: it never writes rows itself, it only starts a thread that does.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any, Final

from .forking import after_fork_in_child
from .settings import DEFAULT_SHUTDOWN_TIMEOUT

_log = logging.getLogger("otel_modeldata")

#: Wait, beyond the collector's own shutdown timeout, for its shutdown to return at exit.
EXIT_MARGIN_SECONDS: Final = 1.0

_CAN_BLOCK: Final = hasattr(signal, "pthread_sigmask")
_SIGTERM: Final = {signal.SIGTERM}


def _nothing_active() -> bool:
    return False


_shutdown: Callable[[], None] | None = None  # writes the active collector's rows and stops it
#: Longest wait at exit for ``_shutdown``: its timeout (set by :func:`watch`) and a margin.
_wait = DEFAULT_SHUTDOWN_TIMEOUT / 1000 + EXIT_MARGIN_SECONDS
_active: Callable[[], bool] = _nothing_active
_registered = False  # the atexit hook (a forked child inherits it)
_flush_started = False  # the rows are written once, by whichever of the exit paths comes first
_flushed = threading.Event()
_guard = threading.Lock()  # never taken in the signal handler
_held = False  # we blocked SIGTERM on the main thread: unblock it at exit
_dying = False  # SIGTERM with SIG_DFL behind us: the process is to die of it once the rows are written


def watch(shutdown: Callable[[], None], active: Callable[[], bool], timeout_seconds: float) -> None:
    """Write the rows at exit and on SIGTERM: ``shutdown`` writes them within ``timeout_seconds``,
    ``active`` says if there are any."""
    global _shutdown, _active, _registered, _wait
    _shutdown, _active = shutdown, active
    _wait = timeout_seconds + EXIT_MARGIN_SECONDS
    if not _registered:
        _registered = True
        atexit.register(_at_exit)
    install_sigterm_hook()


def install_sigterm_hook() -> None:
    """Put our handler in front of the current SIGTERM handler (on the main thread: only there may we).

    Called at import, at ``configure()`` and at a process's first collection, because servers
    install their handlers in between. Not over ``SIG_IGN`` nor over a handler set outside Python.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    current = signal.getsignal(signal.SIGTERM)
    if isinstance(current, _Chained) or current is None or current == signal.SIG_IGN:
        return
    signal.signal(signal.SIGTERM, _Chained(current))


def install_sigterm_hook_from_any_thread() -> None:
    """:func:`install_sigterm_hook`, also from a worker thread of an event loop on the main thread.

    A sync FastAPI endpoint collects on such a thread (anyio's); under gunicorn ``--preload``
    with ``UvicornWorker`` that may be the first of our code a worker runs after uvicorn has
    installed its handler. Other threads cannot reach the main thread: nothing is done.
    """
    if threading.current_thread() is threading.main_thread():
        install_sigterm_hook()
        return
    try:
        from anyio.from_thread import run_sync

        run_sync(install_sigterm_hook)
    except (ImportError, RuntimeError):  # no anyio, or not one of its worker threads
        return


def shield_this_thread() -> None:
    """Keep SIGTERM off the calling thread (the exporting one).

    While the main thread holds SIGTERM, a re-raise by ``os.kill()`` would otherwise be
    delivered to this thread, and kill the process before the rows are written.
    """
    if _CAN_BLOCK:
        signal.pthread_sigmask(signal.SIG_BLOCK, _SIGTERM)


class _Chained:
    """Our SIGTERM handler, in front of the handler it replaced."""

    def __init__(self, previous: Callable[[int, FrameType | None], Any] | int) -> None:
        self.previous = previous

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        global _dying
        previous = self.previous
        if not callable(previous):  # SIG_DFL: the process dies of SIGTERM, once its rows are written
            if not _active():
                _die_now()
                return
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            _dying = True
            _start(_flush_then_die)
            return
        if _active():
            _hold()
        previous(signum, frame)
        if _held and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL and _pending():
            # The handler put SIG_DFL back and re-raised: it meant to die now.
            _dying = True
            _start(_flush_then_die)


def _hold() -> None:
    """Block SIGTERM on the main thread (the caller), so that a re-raise waits for the rows."""
    global _held
    if _CAN_BLOCK and not _held:
        _held = signal.SIGTERM not in signal.pthread_sigmask(signal.SIG_BLOCK, _SIGTERM)


def _pending() -> bool:
    return _CAN_BLOCK and signal.SIGTERM in signal.sigpending()


def _start(target: Callable[[], None]) -> None:
    threading.Thread(target=target, name="otel_modeldata-exit", daemon=True).start()


def _flush_then_die() -> None:
    _flush()
    if _CAN_BLOCK:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGTERM)
    os.kill(os.getpid(), signal.SIGTERM)


def _die_now() -> None:
    """Die of SIGTERM, from the main thread."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if _CAN_BLOCK:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGTERM)
    signal.raise_signal(signal.SIGTERM)


def _flush() -> None:
    """Shut the collector down once, on a thread of its own; wait for it its own timeout and a margin."""
    global _flush_started
    shutdown = _shutdown
    if shutdown is None:
        return
    with _guard:
        first, _flush_started = not _flush_started, True
    if first:
        try:
            threading.Thread(target=_run, args=(shutdown,), name="otel_modeldata-flush", daemon=True).start()
        except RuntimeError:  # no new thread while the interpreter shuts down
            _run(shutdown)
    if not _flushed.wait(_wait):
        _log.warning("otel_modeldata: rows still being written after %.1f s at exit; not waiting", _wait)


def _run(shutdown: Callable[[], None]) -> None:
    try:
        shutdown()
    finally:
        _flushed.set()


def _at_exit() -> None:
    """Write the rows; then, when SIGTERM was to end the process, let it."""
    _flush()
    if threading.current_thread() is not threading.main_thread():
        return
    if _dying:
        _die_now()
    if _held:
        if _pending() and _fatal(signal.getsignal(signal.SIGTERM)):
            _die_now()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGTERM)


def _fatal(handler: object) -> bool:
    """Whether SIGTERM kills the process with ``handler`` in place (as ours in front of ``SIG_DFL`` does)."""
    if isinstance(handler, _Chained):
        return not callable(handler.previous)
    return handler == signal.SIG_DFL


def _reset_in_child() -> None:
    """A forked child writes its own rows at its own end (its signal mask is its parent's)."""
    global _flush_started, _flushed, _guard, _dying
    _flush_started, _flushed, _guard, _dying = False, threading.Event(), threading.Lock(), False


after_fork_in_child(_reset_in_child)
