"""The one exception type for bad user input: entry scripts print its message, not a traceback."""


class UserError(Exception):
    """Bad input (path, file, config value, shape) with a message that names the fix."""
