"""The one exception type for bad user input: CLIs print its message on one line and exit 2."""


class UserError(ValueError):
    """Bad input from the user (a value, a file, a name); the message says what to do."""
