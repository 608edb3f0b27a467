from .joint_free_fb import JointFreeFB

__all__ = ["JointFreeFB"]
