from tests.engine.helpers import configured as configured  # the fixture, for every hardening test
