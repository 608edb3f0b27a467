from .complex_stft import ComplexSTFT
from .joint_free_fb import JointFreeFB

__all__ = ["ComplexSTFT", "JointFreeFB"]
