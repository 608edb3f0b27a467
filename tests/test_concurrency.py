"""One model, one Separator or one process shared by threads (a service): each call gives
what it gives alone, and the model's state and training flags survive."""

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from _inference_helpers import tiny_model
from torch import nn

from asteroid_tdanet import S4M
from asteroid_tdanet.inference.interrupt import Interrupted, signals_deferred, signals_raise
from asteroid_tdanet.inference.runner import ModelRunner
from asteroid_tdanet.masknn.ssm.nplr_kernel import NPLRKernel
from asteroid_tdanet.utils.modes import inference_context

S4_TINY = dict(sample_rate=8000, bn_chan=16, hid_chan=32, n_blocks=2, upsampling_depth=3)


def _kernels(model):
    return [m for m in model.modules() if isinstance(m, NPLRKernel)]


def test_threads_extending_one_s4_state_leave_it_consistent(monkeypatch):
    """Two inputs needing a longer kernel at once, the state's extension slowed down so that
    the threads overlap in it: without a lock the state (C~, L) was compounded for good."""
    torch.manual_seed(0)
    model = S4M(**S4_TINY).eval()
    torch.manual_seed(0)
    alone = S4M(**S4_TINY).eval()
    extend = NPLRKernel._extend_state

    def slow_extend(self, internal, length):
        time.sleep(0.001 * length)  # the longer input reads C~ after the shorter wrote it
        extend(self, internal, length)

    monkeypatch.setattr(NPLRKernel, "_extend_state", slow_extend)
    start = threading.Barrier(2)

    def separate(seconds):
        start.wait()
        with torch.inference_mode():
            return model(torch.randn(1, int(seconds * 8000)))

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(separate, (0.3, 1.0)))
    with torch.inference_mode():
        for ours, reference in zip(_kernels(model), _kernels(alone)):
            # k[0..31] does not depend on the internal length L, only on the SSM.
            torch.testing.assert_close(ours(32), reference(32), rtol=1e-4, atol=1e-6)


def test_threads_sharing_a_model_keep_its_training_flags():
    """A enters, B enters, A leaves (B must still run in eval mode), B leaves: the model is
    in training mode again. Each thread used to save the other's eval state."""
    model = tiny_model(dropout=0.1).train()
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def a():
        with inference_context(model):
            a_in.set()
            b_in.wait(10)
        a_out.set()

    def b():
        a_in.wait(10)
        with inference_context(model):
            b_in.set()
            a_out.wait(10)
            seen["inside B after A left"] = model.training
        seen["after both"] = model.training

    threads = [threading.Thread(target=f) for f in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert seen == {"inside B after A left": False, "after both": True}
    assert all(m.training for m in model.modules())


def test_a_signal_for_the_main_thread_is_not_held_by_a_worker():
    """A worker's publication (signals_deferred) must neither delay Ctrl-C for the main
    thread's run nor receive it."""
    entered, release, worker_error = threading.Event(), threading.Event(), []

    def worker():
        try:
            with signals_deferred():
                entered.set()
                release.wait(10)
        except BaseException as err:  # noqa: B902 - what the worker would receive
            worker_error.append(err)

    thread = threading.Thread(target=worker)
    thread.start()
    entered.wait(10)
    try:
        with pytest.raises(Interrupted):
            with signals_raise():
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(2)  # the handler runs between bytecodes: well before this ends
        assert not release.is_set()  # raised in the main thread while the worker held on
    finally:
        release.set()
        thread.join(10)
    assert worker_error == []


def test_two_threads_exporting_onnx_at_once(tmp_path):
    pytest.importorskip("onnx")
    from asteroid_tdanet.export import export_onnx

    models = [tiny_model(), tiny_model(n_blocks=1)]
    with ThreadPoolExecutor(2) as pool:
        paths = list(pool.map(lambda i: export_onnx(models[i], tmp_path / f"m{i}.onnx"), range(2)))
    assert all(os.path.getsize(p) > 0 for p in paths)


class _ThreadCount(nn.Module):
    """Records the thread count its forward pass runs with."""

    sample_rate = 8000

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1))
        self.counts = []

    def forward(self, wav):
        self.counts.append(torch.get_num_threads())
        return torch.stack([wav, wav], dim=1) * self.weight


def test_the_thread_count_reaches_pool_workers():
    model = _ThreadCount()
    runner = ModelRunner(model, threads=1)

    def in_worker():
        torch.set_num_threads(2)  # the worker's own count, set by earlier torch work
        runner(torch.zeros(1, 10))

    with ThreadPoolExecutor(1) as pool:
        pool.submit(in_worker).result()
    assert model.counts == [1]
