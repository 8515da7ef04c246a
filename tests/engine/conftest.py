from tests.engine.helpers import configured  # noqa: F401
