import pytest

# the shared checks of tests/resources/drift.py: their failed asserts say what differed, as a test's do
pytest.register_assert_rewrite("tests.resources.drift")
