"""Loading the reference implementations' fixtures of ``../shared/fixtures`` in tests."""

import json
from pathlib import Path

import pytest
import torch

SHARED_FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"


def reference_fixture(group: str, name: str):
    """``(state_dict, config, io)`` of ``../shared/fixtures/<group>/<name>.*`` (a reference
    implementation's weights, constructor kwargs and outputs); skips the test when absent."""
    folder = SHARED_FIXTURES / group
    if not (folder / f"{name}.state_dict.pt").is_file():
        pytest.skip(f"shared fixtures not found at {folder}")
    state_dict = torch.load(folder / f"{name}.state_dict.pt", weights_only=True)
    config = json.loads((folder / f"{name}.config.json").read_text())
    io = torch.load(folder / f"{name}.io.pt", weights_only=True)
    return state_dict, config, io
