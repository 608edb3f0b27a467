"""Stage 3's figure (metrics.png)."""

import matplotlib.image
import numpy as np
import pandas as pd

from asteroid_tdanet.recipes.plots import plot_evaluation


def test_evaluation_figure_draws_digital_silence_as_the_floor(tmp_path):
    # A silent stretch is -inf dB: blank (white) bands read as missing data.
    rng = np.random.default_rng(0)
    signal = rng.standard_normal(16000).astype(np.float32)
    signal[4000:12000] = 0.0
    sources = np.stack([signal, 0.5 * signal])
    path = tmp_path / "metrics.png"
    metrics = pd.DataFrame({"si_sdr_imp": [1.0, 2.0]})
    plot_evaluation(metrics, ["si_sdr_imp"], signal, sources, sources, 8000, str(path))
    image = matplotlib.image.imread(path)[..., :3]
    height, width = image.shape[:2]
    panel = image[height // 2 - height // 12 : height // 2 + height // 12, width // 12 : width // 3]
    white_columns = (panel > 0.99).all(axis=(0, 2))
    assert not white_columns[panel.shape[1] // 4 : 3 * panel.shape[1] // 4].any()
