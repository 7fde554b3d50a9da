"""ArrayDataset and BatchLoader: dtypes and scaling, seeded epochs, resume and shards.

(Shards partitioning a global batch: test_distributed.py; non-finite inputs: test_errors.py.)"""

import numpy as np
import pytest
import torch

from locrnn.data.arrays import ArrayDataset, BatchLoader, check_finite


def _data(n: int = 10, **kw) -> ArrayDataset:
    x = np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1).repeat(2, axis=1)
    return ArrayDataset(x, np.arange(n, dtype=np.int32), **kw)


def test_items_and_batches_are_float_inputs_and_int64_targets_scaled_alike():
    data = _data(scale=0.5)
    x, y = data[3]
    assert x.dtype == torch.get_default_dtype() and x.shape == (2, 1, 1) and x.flatten().tolist() == [1.5, 1.5]
    assert y.dtype == torch.int64 and y.item() == 3
    xb, yb = data.batch(np.array([3, 1]))
    assert torch.equal(xb[0], x) and yb.tolist() == [3, 1] and yb.dtype == torch.int64
    with pytest.raises(ValueError, match="10 inputs but 9 targets"):
        ArrayDataset(np.zeros((10, 1, 2, 2)), np.zeros(9))


def test_epochs_are_seeded_permutations_and_start_resumes_mid_epoch():
    loader = BatchLoader(_data(), 4, seed=7)
    assert len(loader) == 2 and len(BatchLoader(_data(), 4, drop_last=False)) == 3
    epoch = [y.tolist() for _, y in loader.epoch(1)]
    assert epoch == [y.tolist() for _, y in BatchLoader(_data(), 4, seed=7).epoch(1)]  # same seed, same order
    assert epoch != [y.tolist() for _, y in loader.epoch(2)]  # another epoch, another order
    assert len(set(sum(epoch, []))) == 8  # no sample twice in an epoch
    assert [y.tolist() for _, y in loader.epoch(1, start=1)] == epoch[1:]
    plain = [y.tolist() for _, y in BatchLoader(_data(), 4, shuffle=False, drop_last=False).epoch(0)]
    assert plain == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_check_finite_names_the_first_bad_sample_and_ignores_integers():
    x = np.zeros((9000, 2), np.float32)
    x[5000, 1] = np.inf
    with pytest.raises(ValueError, match="inputs: sample 5000 holds a non-finite value"):
        check_finite(x, "inputs")
    check_finite(np.zeros((3, 2), np.uint8), "inputs")  # integers cannot hold NaN: nothing to check
