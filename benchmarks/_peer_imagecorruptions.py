"""Peer timing (run inside .venv-imagecorruptions): imagecorruptions 1.1.2, one image at a time, as its API works.

Usage: python benchmarks/_peer_imagecorruptions.py SEVERITY N SEED SIZE NAME... ; prints one JSON object
{name: seconds per image or "error: ..."} on the last line of stdout.
"""
import json
import sys
import time
import warnings

warnings.filterwarnings("ignore")

import inspect  # noqa: E402

import numpy as np  # noqa: E402
import skimage.filters  # noqa: E402

if "multichannel" not in inspect.signature(skimage.filters.gaussian).parameters:
    # imagecorruptions 1.1.2 calls gaussian(..., multichannel=True); scikit-image 0.19 renamed it
    # channel_axis=-1 (the same filter: no smoothing across the last axis) and 0.20 dropped the old
    # name. Only the keyword is mapped, before imagecorruptions imports the function.
    _gaussian = skimage.filters.gaussian

    def _gaussian_multichannel(image, *args, multichannel=None, **kwargs):
        if multichannel:
            kwargs["channel_axis"] = -1
        return _gaussian(image, *args, **kwargs)

    skimage.filters.gaussian = _gaussian_multichannel

from imagecorruptions import corrupt  # noqa: E402


def main() -> None:
    severity, n, seed, size = (int(a) for a in sys.argv[1:5])
    names = sys.argv[5:]
    rng = np.random.default_rng(seed)
    # random images of (size/4)² uniform pixels each replicated 4×4, uint8 H×W×3 as the peer expects
    low = rng.random((n, size // 4, size // 4, 3))
    images = (np.repeat(np.repeat(low, 4, axis=1), 4, axis=2) * 255).astype(np.uint8)
    np.random.seed(seed)
    out = {}
    for name in names:
        try:
            corrupt(images[0], corruption_name=name, severity=severity)  # warm-up, imports
            t0 = time.perf_counter()
            for img in images:
                corrupt(img, corruption_name=name, severity=severity)
            out[name] = (time.perf_counter() - t0) / n
        except Exception as exc:  # the peer fails on some corruptions with current NumPy/skimage
            out[name] = f"error: {type(exc).__name__}: {str(exc)[:80]}"
    print(json.dumps(out))


if __name__ == "__main__":
    main()
