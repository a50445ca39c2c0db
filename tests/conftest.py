import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

# tests/_reference.py is imported as a plain module by the tests and by bench/.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def rng(request):
    """Fresh, test-specific generator (no module-level seeding)."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))
