import os

import pytest
import torch

# The test models are tiny: one thread is as fast as two on an idle machine and far faster
# when the cores are shared (measured 25 s vs 308 s for test_models.py under load). The
# processes tests start (the CLI, torchrun) inherit one thread too: a 2-thread training
# subprocess used 82 s of CPU under load where a 1-thread one used 13 s for the same run.
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
