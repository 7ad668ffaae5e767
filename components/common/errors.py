"""The one exception type that reaches users as a single clear line (no traceback)."""


class TandemError(Exception):
    """A problem the user can fix: the message names the file, row or field and what to do."""
