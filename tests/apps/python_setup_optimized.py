"""The helper module's docstring."""

DEBUG = __debug__


def documented():
    """The helper function's docstring."""


def assert_raises():
    try:
        assert False, "asserts are enabled"
    except AssertionError:
        return True
    return False
