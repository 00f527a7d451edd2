"""Real photos for the reference tests: crops of Grace Hopper's portrait, which matplotlib ships
as sample data (``grace_hopper.jpg``, 512×600 RGB; matplotlib and its Pillow dependency are
package dependencies, so these are present wherever nnsafety is installed).

224-px crops are taken as they are; 32-px images are 224-px crops reduced with PIL's BOX filter
(photo content at CIFAR scale) and raw 32-px crops (photo texture at full resolution).
"""
from functools import lru_cache

import numpy as np
import torch
from matplotlib import cbook
from PIL import Image

CROPS_224 = ((40, 150), (330, 60), (376, 288))  # (top, left): face, uniform and medals, background
CROPS_32 = ((250, 200), (420, 120))


@lru_cache(maxsize=1)
def portrait() -> np.ndarray:
    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as im:
        return np.array(im.convert("RGB"))


def photos_u8(size: int, n: int) -> np.ndarray:
    """n photos as uint8 N×size×size×3 (size 32 or 224)."""
    img = portrait()
    big = [img[t:t + 224, l:l + 224] for t, l in CROPS_224]
    if size == 224:
        out = big
    else:
        out = [np.array(Image.fromarray(b).resize((size, size), Image.BOX)) for b in big]
        out += [img[t:t + size, l:l + size] for t, l in CROPS_32]
    if n > len(out):
        raise ValueError(f"only {len(out)} photos at {size} px, asked for {n}")
    return np.stack(out[:n])


def photos(size: int, n: int) -> torch.Tensor:
    """The photos as float64 N×3×H×W in [0, 1] (exact uint8 levels)."""
    return torch.from_numpy(photos_u8(size, n)).permute(0, 3, 1, 2).double() / 255
