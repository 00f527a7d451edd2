"""Peer timing (run inside .venv-bench): imagecorruptions 1.1.2, one image at a time, as its API works.

Usage: python benchmarks/_peer_imagecorruptions.py SEVERITY N SEED NAME... ; prints one JSON object
{name: seconds per image or "error: ..."} on the last line of stdout.
"""
import json
import sys
import time
import warnings

warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
from imagecorruptions import corrupt  # noqa: E402


def main() -> None:
    severity, n, seed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    names = sys.argv[4:]
    rng = np.random.default_rng(seed)
    # smooth random images (low-frequency noise upsampled), uint8 H×W×3 as the peer expects
    low = rng.random((n, 8, 8, 3))
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
