import os

import pytest
import torch

os.environ.setdefault("NETRX_CACHE", os.path.join(os.path.dirname(__file__), "..", ".cache"))
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield
