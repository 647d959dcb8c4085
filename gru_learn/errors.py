"""The one exception type for bad user input: CLIs print its message on one line and exit 2."""

from __future__ import annotations


class UserError(ValueError):
    """Bad input from the user (a value, a file, a name); the message says what to do."""

    # The latest one raised: jsonargparse re-raises errors from constructors as its own
    # ValueError with the message folded in, so the CLI looks here for the original.
    last_raised: UserError | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        UserError.last_raised = self


def find_user_error(error: BaseException) -> UserError | None:
    """The UserError behind ``error``: itself, one in its cause/context chain, or the latest
    raised (when a library re-wrapped it without chaining)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, UserError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return UserError.last_raised
