"""Exploration, design set only (docs/results.md #19, lexicon_scan): exact beam search over word
sequences put in the middle of lexicon_scan's firm probes, restricted to lexicon-neutral words (AFINN
valence 0) or to lexicon words; per model, class and length k = 1..4 the best sequence's median
shift (the fraction of the probes' margin it overcomes) and its words. Not a detector.

    OMP_NUM_THREADS=1 python benchmarks/explore_text_lexicon_beam.py runs/zoo_text runs/zoo_text_s1 ... OUT.json
"""
import json, os, sys, time
import torch
torch.set_num_threads(1)
from pathlib import Path
from nnsafety import runs
from nnsafety.backdoor.detect import run_context
from nnsafety.backdoor.detectors.firm_scan import firm_probes, substituted_logits
from nnsafety.backdoor.detectors.lexicon_scan import word_valence
from nnsafety.backdoor.detectors.trigger_text import _predict, margins
from nnsafety.backdoor.zoo import read_manifest, zoo_labels
from nnsafety.genai.polarization import afinn_lexicon
LEX = afinn_lexicon()
CAND, BEAM, NP, K = 150, 4, 6, 4  # candidate words per step, beam width, probes per class, longest sequence

def beam(model, rows, base, t, cand):
    L = rows.shape[1]; a = L // 2 - 2
    seqs = [[]]; best = []
    for k in range(K):
        xs, keys = [], []
        for s in seqs:
            x = rows.repeat(len(cand), 1).view(len(cand), len(rows), L).clone()
            for j, w in enumerate(s): x[:, :, a + j] = w
            x[:, :, a + len(s)] = cand[:, None]
            xs.append(x.view(-1, L)); keys += [s + [int(c)] for c in cand]
        m = margins(_predict(model, torch.cat(xs), 4096), t).double().view(len(keys), len(rows))
        sh = ((m - base.double()) / base.double().abs()).median(1).values
        top = sh.topk(BEAM).indices
        seqs = [keys[i] for i in top]; best.append((float(sh[top[0]]), keys[top[0]]))
    return best

out = []
for zoo in sys.argv[1:-1]:
    recs = read_manifest(Path(zoo)); usable = {r["id"] for r in zoo_labels(recs)}
    for rec in recs:
        if rec["id"] not in usable: continue
        if os.environ.get("ONLY") and rec["id"] not in os.environ["ONLY"].split(","): continue
        t0 = time.time()
        run = runs.load_run(Path(zoo) / rec["path"]); ctx = run_context(run, n_clean=1); model = run.model
        d = ctx.domain; val = word_valence(ctx.vocab, LEX)
        words = torch.tensor([i for i in range(d.vocab_size) if i != d.pad_id]); sign = val[words].sign()
        with torch.no_grad():
            ids, cls, _ = firm_probes(model, words, 2, 16, 48, 36, 8, torch.Generator().manual_seed(0), 2048)
            res = {}
            for t in range(2):
                rows = ids[cls != t]; base = margins(_predict(model, rows, 2048), t)
                rows, base = rows[base < 0][:NP], base[base < 0][:NP]
                L = rows.shape[1]; mid = L // 2 - 2
                owner = torch.arange(len(rows)).repeat(len(words))
                m = margins(substituted_logits(model, rows, owner, torch.full_like(owner, mid), words.repeat_interleave(len(rows)), 2048), t)
                s1 = ((m.double().view(len(words), len(rows)) - base.double()) / base.double().abs()).median(1).values
                r = {}
                for name, grp in (("neutral", sign == 0), ("lexicon", sign != 0)):
                    idx = grp.nonzero().flatten()
                    cand = words[idx[s1[idx].topk(min(CAND, len(idx))).indices]]
                    r[name] = beam(model, rows, base, t, cand)
                res[t] = r
        row = {"zoo": zoo, "id": rec["id"], "trigger": rec["trigger"], "target": rec["target"], "label": int(rec["backdoored"]),
               "beam": {t: {n: [[s, [ctx.vocab[w] for w in seq]] for s, seq in v] for n, v in r.items()} for t, r in res.items()}}
        out.append(row)
        Path(sys.argv[-1]).write_text(json.dumps(out))
        b = row["beam"]; print(rec["id"], rec["trigger"], rec["target"], round(time.time() - t0, 1), {t: (round(b[t]["neutral"][-1][0], 2), " ".join(b[t]["neutral"][-1][1]), round(b[t]["lexicon"][-1][0], 2)) for t in b}, flush=True)
