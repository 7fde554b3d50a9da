"""The batch machine: one random stream per image, so the chunking changes nothing."""

import numpy as np

from locrnn.data.pathfinder import published_params
from locrnn.data.pathfinder_machine import Machine, Streams


def test_a_slot_reads_its_image_stream_in_order_across_refills():
    s = Streams(slots=2, seed=5, split=1)
    s.load(1, 42)
    got = np.concatenate([s.take(np.array([1]), k)[0] for k in (300, 300, 7)])
    want = np.random.Generator(np.random.PCG64(np.random.SeedSequence([5, 1, 42]))).random(607)
    assert np.array_equal(got, want)


def _outputs(mc: Machine) -> tuple:
    return mc.out_seg, mc.out_plen, mc.out_m, mc.out_origin, mc.out_restarts


def test_images_do_not_depend_on_the_slots_or_the_start():
    p = published_params(6, 32, family="paper", n_distractors=3)
    whole = _outputs(Machine(p, seed=2, split=0, start=0, count=8).run())
    for a, b in zip(whole, _outputs(Machine(p, seed=2, split=0, start=0, count=8, slots=3).run())):
        assert np.array_equal(a, b)
    for a, b in zip(whole, _outputs(Machine(p, seed=2, split=0, start=5, count=3).run())):
        assert np.array_equal(a[5:], b)


def test_every_image_has_two_full_targets_and_at_most_full_distractors():
    p = published_params(6, 32, family="paper", n_distractors=3)
    mc = Machine(p, seed=0, split=0, start=0, count=6).run()
    assert (mc.out_plen[:, :2] == p.length).all()
    assert np.isin(mc.out_plen[:, 2:], (0, p.distractor_length)).all()
    assert set(mc.out_origin.tolist()) <= {0, 1} and (mc.out_m == 3.0).all()
