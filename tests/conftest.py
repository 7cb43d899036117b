import os

import pytest
import torch

os.environ.setdefault("NETRX_CACHE", os.path.join(os.path.dirname(__file__), "..", ".cache"))
# tiny test models run fastest on one thread (and the suite shares 2 cores)
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield
