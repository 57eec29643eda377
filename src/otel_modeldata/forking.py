"""Fork safety: a forked child replaces the locks that another thread may have held at ``fork()``.

Only the forking thread exists in the child. A lock that the exporting thread held at
that instant stays locked there for ever, and the child's first export would wait on it.
"""

from __future__ import annotations

import inspect
import os
import weakref
from collections.abc import Callable


def after_fork_in_child(method: Callable[[], None]) -> None:
    """Call ``method`` in every child forked from now on; a bound method, for as long as its object lives."""
    if not hasattr(os, "register_at_fork"):
        return
    if not inspect.ismethod(method):
        os.register_at_fork(after_in_child=method)
        return
    ref = weakref.WeakMethod(method)

    def call() -> None:
        bound = ref()
        if bound is not None:
            bound()

    os.register_at_fork(after_in_child=call)
