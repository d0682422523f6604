"""The stack fixtures, shared."""

from tests.stack.conftest import moto_account, stack  # noqa: F401
