"""An augmentation configuration with every random choice pinned, shared by the training tests."""

from xrayreport.training.augment import AugmentConfig

STILL = AugmentConfig(
    flip=0.0,
    scale=(1.0, 1.0),
    shift=0.0,
    rotate_degrees=0.0,
    gamma=(1.0, 1.0),
    contrast=(1.0, 1.0),
    brightness=0.0,
    blur=0.0,
    noise=0.0,
)
