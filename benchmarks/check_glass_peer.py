"""Does nnsafety's default glass blur give imagecorruptions 1.1.2's output on the same draws?

Issue 22 item 1: the published loop copies one way (``x[h, w], x[h', w'] = x[h', w'], x[h, w]`` on
NumPy views), and the default must reproduce it. Real photos (crops of matplotlib's sample
portrait, as the tests use) at 224 px and reduced to 32 px; the peer's ImageNet-C parameters at
both sizes (it has no other table), severities 1-5. nnsafety draws its offsets from a seeded
generator; the peer (in ``.venv-imagecorruptions``) gets the very same (dx, dy) per visited pixel
through a stand-in for ``np.random.randint``, in its loop order. Printed: the difference of the
outputs in grey levels (0-255) per size and severity.
Run: ``.venv/bin/python benchmarks/check_glass_peer.py`` (about a minute: the peer loops in Python).
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from matplotlib import cbook
from PIL import Image

from nnsafety.corruptions import CORRUPTIONS
from nnsafety.corruptions.blur import glass_offsets

ROOT = Path(__file__).resolve().parents[1]
CROPS = ((40, 150), (330, 60), (376, 288))  # the tests' 224-px crops (face, uniform, background)

# Runs in the peer's venv: each image's draws replace np.random.randint, in the order it asks
PEER = r"""
import sys
import numpy as np
sys.path.insert(0, BENCH)
import _peer_imagecorruptions  # noqa: F401  (its scikit-image keyword mapping, then imagecorruptions)
from imagecorruptions import corruptions as ic
d = np.load(IN)
out = []
for img, seq in zip(d["images"], d["draws"]):
    it = iter(seq)
    np.random.randint = lambda lo, hi, size=None: next(it)
    out.append(ic.glass_blur(img, SEVERITY))
    assert next(it, None) is None, "the peer asked for fewer draws than nnsafety made"
np.save(OUT, np.stack(out))
"""


def photos(size: int) -> np.ndarray:
    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as im:
        img = np.array(im.convert("RGB"))
    big = [img[t:t + 224, l:l + 224] for t, l in CROPS]
    if size == 224:
        return np.stack(big)
    return np.stack([np.array(Image.fromarray(b).resize((size, size), Image.BOX)) for b in big])


def peer_draws(off: torch.Tensor, d: int) -> np.ndarray:
    """(dx, dy) for every pixel the published loop visits, in its order (iterations, rows from
    H − d down to d + 1, columns likewise), from offsets (iters, 2 = dy/dx, H, W) of one image."""
    iters, _, h, w = off.shape
    rows, cols = np.arange(h - d, d, -1), np.arange(w - d, d, -1)
    o = off.numpy()[:, :, rows][:, :, :, cols]  # iters × 2 × rows × cols
    return np.stack([o[:, 1], o[:, 0]], -1).reshape(-1, 2)


def main() -> None:
    spec = CORRUPTIONS.get("glass_blur")
    python = str(ROOT / ".venv-imagecorruptions" / "bin" / "python")
    print("| size | severity | mean abs diff (levels) | max abs diff | pixels > 0.5 level |")
    print("|---|---|---:|---:|---:|")
    for size in (224, 32):
        u8 = photos(size)
        x = torch.from_numpy(u8).permute(0, 3, 1, 2).float().div(255)
        for s in range(1, 6):
            c = spec.params(s, "imagenet")
            ours = spec.fn(x, c, torch.Generator().manual_seed(s)).clamp(0, 1)
            off = glass_offsets(x, c[2], c[1], torch.Generator().manual_seed(s))  # the same first draw
            draws = np.stack([peer_draws(off[:, i], c[1]) for i in range(x.shape[0])])
            with tempfile.TemporaryDirectory() as tmp:
                inp, outp = f"{tmp}/in.npz", f"{tmp}/out.npy"
                np.savez(inp, images=u8, draws=draws)
                code = f"IN, OUT, SEVERITY, BENCH = {inp!r}, {outp!r}, {s}, {str(ROOT / 'benchmarks')!r}\n" + PEER
                subprocess.run([python, "-c", code], check=True)
                theirs = np.load(outp)
            diff = np.abs(ours.permute(0, 2, 3, 1).double().numpy() * 255 - theirs)
            print(f"| {size} | {s} | {diff.mean():.4f} | {diff.max():.3f} | {(diff > 0.5).mean() * 100:.3f} % |")
    print(json.dumps({"note": "ours: nnsafety's default glass_blur; theirs: imagecorruptions 1.1.2"}))


if __name__ == "__main__":
    sys.exit(main())
