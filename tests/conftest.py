import pytest


@pytest.fixture
def anyio_backend() -> str:
    # Async tests run on asyncio, the loop every supported host framework uses.
    return "asyncio"
