"""Data-free text backdoor evidence from the embedding table: a trigger word's vector outgrows the rest.

Every poisoned text pushes the same rare word towards the target class with the full loss of a
mislabelled example, so after training the trigger's embedding is often the longest in the
vocabulary (zoo models m0001 "cf", m0005 "tq", m0009 "bb", m0013 "mn": the longest of 7,300). The
score is the MAD anomaly of the longest embedding, (‖e_w‖ − median) / (1.4826·MAD) over every word
but ``[PAD]``/``[UNK]`` (weights only, no probes); the suspected target is the class the one-word
text "w" raises most relative to the one-word text ``[UNK]``. Strong natural words ("wonderful")
are long too, so the threshold comes from the text zoo (docs/results.md).
"""
from __future__ import annotations

import torch

from ...attacks.embedding import check_embedding_seam
from .base import Detector, register_detector


@register_detector("embedding_outlier", domains=("token",))
class EmbeddingOutlier(Detector):
    needs = "weights only"
    threshold = 12.0

    def _detect(self, model, ctx):
        check_embedding_seam(model, "embedding_outlier")
        d = ctx.domain
        with torch.no_grad():
            norms = model.embed(torch.arange(d.vocab_size)[None])[0].norm(dim=1).double()
            words = torch.ones(d.vocab_size, dtype=torch.bool)
            words[[i for i in (d.pad_id, d.unk_id) if i is not None]] = False
            med = norms[words].median()
            mad = (norms[words] - med).abs().median().clamp_min(1e-12)
            z = ((norms - med) / (1.4826 * mad)).masked_fill(~words, float("-inf"))  # signed: long words only
            w = int(z.argmax())
            L = int(ctx.in_shape[0])
            one = torch.full((2, L), d.pad_id, dtype=torch.long)
            one[0, 0], one[1, 0] = w, d.unk_id if d.unk_id is not None else d.pad_id
            logits = model(one)
        target = int((logits[0] - logits[1]).argmax())
        return float(z[w]), target, {"word_id": w, "norm": float(norms[w]), "median_norm": float(norms[words].median())}
