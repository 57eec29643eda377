"""Pure: the ``errors`` row that says why a collected ``run()`` raised.

Only the exception's type and its message, cut to a bound: no traceback frames and no
locals, which could hold the very data (or secrets) a user chose not to collect.
"""

from __future__ import annotations

from typing import Final

#: Longest error message written, in UTF-8 bytes, the ellipsis marking a cut included.
MAX_MESSAGE_BYTES: Final = 1024
_CUT: Final = "…"


def error_type(exc: BaseException) -> str:
    """``ValueError`` for built-in exceptions, ``package.module.Name`` for the others."""
    kind = type(exc)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


def error_message(exc: BaseException) -> str:
    """``str(exc)``, cut to :data:`MAX_MESSAGE_BYTES` with an ellipsis; a ``__str__`` that raises is said so.

    Lone surrogates become ``\\udXXX`` text, as in the CSV files, so the bound holds once encoded.
    """
    try:
        message = str(exc)
    except Exception:
        return f"<str() of {error_type(exc)} raised>"
    encoded = message.encode("utf-8", "backslashreplace")
    if len(encoded) <= MAX_MESSAGE_BYTES:
        return encoded.decode("utf-8")
    room = MAX_MESSAGE_BYTES - len(_CUT.encode("utf-8"))
    return encoded[:room].decode("utf-8", "ignore") + _CUT


def failure_row(exc: BaseException) -> list[str]:
    """The one row of an ``errors`` record: ``[error_type, error_message]``."""
    return [error_type(exc), error_message(exc)]
