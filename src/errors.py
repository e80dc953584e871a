"""The one exception type for bad user input: entry scripts print its message, not a traceback."""


class UserError(Exception):
    """Bad input (path, file, config value, shape) with a message that names the fix."""


def run_main(main):
    """Run an entry script's main; bad input ends with its message and exit code 2, no traceback."""
    import sys

    try:
        return main()
    except UserError as exc:
        print("error: %s" % exc, file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None
