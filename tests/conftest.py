"""Shared test fixtures: tiny TDANet configurations and the shared official fixtures."""

import sys
from pathlib import Path

import pytest
import torch

# Tiny sizes keep the suite fast on 2 CPU cores; structure (depth, blocks, heads) is preserved.
TINY = dict(sample_rate=8000, bn_chan=16, hid_chan=32, n_blocks=2, upsampling_depth=3, n_heads=2)
# The recipes' corpus package lives in egs/utils (outside the library); tests import it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "egs" / "utils"))
OFFICIAL_FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "official_tdanet"


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    torch.set_num_threads(1)


@pytest.fixture
def tiny_args():
    return dict(TINY)


@pytest.fixture
def tiny_ckpt(tmp_path):
    """A saved tiny TDANet (seed 0): the path, as the CLI's --model takes it."""
    from asteroid_tdanet import TDANet

    torch.manual_seed(0)
    torch.save(TDANet(**TINY).serialize(), tmp_path / "tiny.pth")
    return str(tmp_path / "tiny.pth")


@pytest.fixture
def official_fixtures():
    if not OFFICIAL_FIXTURES.is_dir():
        pytest.skip(f"shared fixtures not found at {OFFICIAL_FIXTURES}")
    return OFFICIAL_FIXTURES
