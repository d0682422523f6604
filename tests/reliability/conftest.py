"""The stack fixtures, shared."""

from tests.stack.conftest import moto_account  # noqa: F401
