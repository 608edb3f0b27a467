"""Packaging for asteroid-tdanet (metadata lives here; tool settings live in setup.cfg)."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
version = {}
exec((HERE / "asteroid_tdanet" / "version.py").read_text(), version)

EXTRAS = {
    "recipes": ["pyloudnorm>=0.1", "matplotlib>=3.5", "pandas", "tensorboard", "espeakng-loader"],
    "export": ["onnx>=1.14", "onnxruntime>=1.16"],
    "flops": ["ptflops>=0.7", "thop>=0.1"],
    "test": ["pytest>=7", "black==24.8.0", "flake8>=6"],
}
EXTRAS["all"] = sorted({req for reqs in EXTRAS.values() for req in reqs})

setup(
    name="asteroid-tdanet",
    version=version["__version__"],
    description="TDANet (ICLR 2023) speech separation for the Asteroid toolkit",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.9",
    packages=find_packages(include=["asteroid_tdanet", "asteroid_tdanet.*"]),
    include_package_data=True,
    install_requires=[
        # 2.5: torch.serialization.safe_globals (safe checkpoint loading) and
        # torch.onnx.export(dynamo=False); the tests run on 2.11.
        "torch>=2.5",
        "torchaudio>=2.5",
        "asteroid>=0.7",
        "asteroid-filterbanks>=0.4",
        "requests",
        "huggingface_hub>=0.20",
        "soundfile>=0.10",
        "julius>=0.2",
        "numpy",
        "scipy",
        "pyyaml",
        "tqdm",
    ],
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["asteroid-tdanet=asteroid_tdanet.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Multimedia :: Sound/Audio :: Speech",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
