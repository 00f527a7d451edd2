"""Data augmentation as pure tensor -> tensor operations: mixing, feature noise, AugMix, JSD.

Everything takes an explicit ``torch.Generator`` so that same seed -> same augmentation.
"""
from .augmix import (OPS, affine, apply_random_ops, augmix, autocontrast, equalize, posterize, rotate,
                     shear_x, shear_y, solarize, translate_x, translate_y)
from .base_ops import BASE_AUGMENTATIONS, BaseAugmentation, hflip, list_base_augmentations, random_crop
from .feature_noise import feature_noise
from .jsd import jsd_loss
from .mixing import (MixDraw, cutmix, mix, mix_targets, sample_box, sample_mix, soft_cross_entropy,
                     soft_targets)

__all__ = [
    "OPS", "affine", "apply_random_ops", "augmix", "autocontrast", "equalize", "posterize", "rotate",
    "shear_x", "shear_y", "solarize", "translate_x", "translate_y", "feature_noise", "jsd_loss",
    "MixDraw", "cutmix", "mix", "mix_targets", "sample_box", "sample_mix", "soft_cross_entropy",
    "soft_targets", "BASE_AUGMENTATIONS", "BaseAugmentation", "hflip", "list_base_augmentations", "random_crop",
]
