import pytest
import torch

# The test models are tiny: one thread is as fast as two on an idle machine and far faster
# when the cores are shared (measured 25 s vs 308 s for test_models.py under load).
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
