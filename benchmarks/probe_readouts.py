"""Where do SmolLM2-135M's states separate harmful from benign requests? A read-out study on the corpus.

Captures, with plain transformers (one batched ``output_hidden_states`` forward per 16 prompts), three pooled
positions of every corpus item (train, validation) and of the minimal-pair stress set, at every layer:

* ``last``  the last prompt token;
* ``post``  mean over the chat-template tokens after the user's text (Arditi et al.'s post-instruction);
* ``user``  mean over the user's own tokens;

then fits a standardised logistic probe (C as given) per read-out and prints grouped-by-family 5-fold CV
AUROC on train (what a setting is chosen by), validation AUROC (all benign, and harmful vs benign
counterparts only), TPR / FPR at the <= 5 % out-of-fold benign threshold, and the stress-set AUROC.
Settings are chosen on train only; validation is reported, never tuned on.

    python -m benchmarks.probe_readouts            # ~6 min capture on 2 idle cores + ~5 min of fits
    python -m benchmarks.probe_readouts --template "Is the following request harmful?\\n\\n{p}"
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from core.capture.default_model import default_model_dir
from core.samples.files import sample_data_dir

READOUTS = ("last", "post", "user")


def capture(template: str, batch: int = 16) -> tuple[dict[str, np.ndarray], list[dict]]:
    """``{readout: [n, n_layers + 1, d] float16}`` and the rows (the corpus, then the stress set as split
    "stress")."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = str(default_model_dir())
    tok = AutoTokenizer.from_pretrained(src)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32).eval()
    data = sample_data_dir()
    rows = [json.loads(x) for x in (data / "corpus.jsonl").read_text().splitlines() if x.strip()]
    rows += [
        dict(json.loads(x), split="stress") for x in (data / "prompts.jsonl").read_text().splitlines() if x
    ]
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]["prompt"]))
    out: dict[str, list] = {k: [None] * len(rows) for k in READOUTS}
    for s in range(0, len(order), batch):
        idx = order[s : s + batch]
        texts = [template.format(p=rows[i]["prompt"]) for i in idx]
        fulls = [
            tok.apply_chat_template(
                [{"role": "user", "content": t}], add_generation_prompt=True, tokenize=False
            )
            for t in texts
        ]
        enc = tok(
            fulls, return_tensors="pt", padding=True, add_special_tokens=False, return_offsets_mapping=True
        )
        offsets = enc.pop("offset_mapping")
        with torch.inference_mode():
            hs = torch.stack(model.model(**enc, output_hidden_states=True).hidden_states, 1)  # [B, L+1, T, d]
        for b, i in enumerate(idx):
            start = fulls[b].rfind(texts[b])
            end = start + len(texts[b])
            user = [
                j
                for j, (a, z) in enumerate(offsets[b].tolist())
                if enc["attention_mask"][b, j] and a >= start and z <= end and z > a
            ]
            h = hs[b]
            out["last"][i] = h[:, -1].numpy().astype(np.float16)
            out["post"][i] = h[:, user[-1] + 1 :].mean(1).numpy().astype(np.float16)
            out["user"][i] = h[:, user].mean(1).numpy().astype(np.float16)
    return {k: np.stack(v) for k, v in out.items()}, rows


def evaluate(x: np.ndarray, rows: list[dict], c: float) -> dict[str, float]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    split = np.array([r["split"] for r in rows])
    y = np.array([r["label"] == "unsafe" for r in rows], dtype=int)
    fam = np.array([str(r.get("family") or r.get("pair_id")) for r in rows])
    kind = np.array([r["kind"] for r in rows])
    tr, va, st = split == "train", split == "validation", split == "stress"

    def probe():
        return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))

    oof = np.zeros(int(tr.sum()))
    for a, b in GroupKFold(5).split(x[tr], y[tr], fam[tr]):
        oof[b] = probe().fit(x[tr][a], y[tr][a]).decision_function(x[tr][b])
    fitted = probe().fit(x[tr], y[tr])
    sv, ss = fitted.decision_function(x[va]), fitted.decision_function(x[st])
    thr = float(np.quantile(oof[y[tr] == 0], 0.95))
    yv, cp = y[va], kind[va] != "borderline"
    return {
        "group_cv_auroc": roc_auc_score(y[tr], oof),
        "val_auroc": roc_auc_score(yv, sv),
        "val_auroc_counterparts": roc_auc_score(yv[cp], sv[cp]),
        "val_tpr": float((sv[yv == 1] > thr).mean()),
        "val_fpr": float((sv[yv == 0] > thr).mean()),
        "stress_auroc": roc_auc_score(y[st], ss),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--template", default="{p}", help="How the request is put to the model ({p} = the prompt)."
    )
    ap.add_argument("--c", type=float, default=0.05)
    ap.add_argument("--layers", default="4,7,10,13,16,19,22,25,28")
    ap.add_argument("--out", type=Path, default=None, help="Write the table as JSON here.")
    args = ap.parse_args()
    t = time.time()
    feats, rows = capture(args.template)
    print(f"captured {len(rows)} prompts in {time.time() - t:.0f} s")
    grid: dict[str, np.ndarray] = {}
    for layer in (int(v) for v in args.layers.split(",")):
        for r in READOUTS:
            grid[f"{r} L{layer}"] = feats[r][:, layer]
    grid["post+user L17"] = np.concatenate([feats["post"][:, 17], feats["user"][:, 17]], 1)
    grid["last+post+user L17"] = np.concatenate([feats[r][:, 17] for r in READOUTS], 1)
    table = {}
    for name, x in grid.items():
        m = evaluate(x.astype(np.float32), rows, args.c)
        table[name] = m
        print(
            f"{name:20s} groupCV {m['group_cv_auroc']:.3f} | val {m['val_auroc']:.3f} "
            f"(vs counterparts {m['val_auroc_counterparts']:.3f}) "
            f"TPR {m['val_tpr']:.2f} FPR {m['val_fpr']:.2f} "
            f"| stress {m['stress_auroc']:.3f}",
            flush=True,
        )
    if args.out:
        args.out.write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
