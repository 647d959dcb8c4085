"""The one exception type for bad user input: CLIs print its message on one line and exit 2."""

from __future__ import annotations


class UserError(ValueError):
    """Bad input from the user (a value, a file, a name); the message says what to do."""

    # The latest one raised: a library that re-raises errors from constructors as its own
    # ValueError with the message folded in, but without chaining, is matched to it by message.
    last_raised: UserError | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        UserError.last_raised = self


def find_user_error(error: BaseException) -> UserError | None:
    """The UserError behind ``error``: itself, one in its chain of explicit causes (``raise ...
    from``), or the latest one raised when a library re-wrapped it without chaining but kept
    its message. Anything else is None, so a real internal error is never relabelled as an
    earlier, unrelated (already handled) UserError and keeps its traceback."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, UserError):
            return seen
        seen = seen.__cause__
    last = UserError.last_raised
    if last is not None and str(last) and str(last) in str(error):
        return last
    return None
