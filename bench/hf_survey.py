"""Survey: `prefixcheck audit --method prefix` on every causal-LM model type of the installed transformers, plus the
T5 and BART decoders, each built tiny offline from its default config (`numeric.hf_build`). Writes the JSON record
and the markdown table of docs/implementations.md:

    python -m bench.hf_survey docs/hf_survey.json [MODEL_TYPE ...]
    python -m bench.hf_survey --table docs/hf_survey.json

Each type gets at most 30 s (SIGALRM). A row records whether peft runs, the attention's causality (read from the
captured scores), the class counts, the worst layer-0 identity error with its probed tolerance, and what the audit
says about positions (absolute inputs, a bias on the prefix keys) and broken premises.
"""
from __future__ import annotations

import json
import signal
import sys
from typing import Any

import torch


def _alarm(*_: Any) -> None:
    raise TimeoutError("over 30 s")


def survey_one(model_type: str) -> dict[str, Any]:
    from numeric.hf_audit import Setup, _is_causal, audit, run_prefix
    from numeric.hf_build import ModelSpec

    spec = ModelSpec(model_type=model_type)
    row: dict[str, Any] = {"model_type": model_type}
    try:
        a = audit(spec, "prefix", Setup())
    except Exception as exc:  # the survey records every failure as one line
        row["error"] = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:160]}"
        return row
    if a.unsupported:
        row["peft"] = a.unsupported
        return row
    run = run_prefix(spec, Setup())
    row["causal"] = _is_causal(run.shifted)
    row["encoder_decoder"] = run.loaded.encoder_decoder
    row["counts"] = a.counts()
    first = [r for r in a.rows if r.layer == 0]
    held = [r for r in first if r.expect == "holds"]
    row["worst_layer0_holding"] = max((r.worst for r in held), default=None)
    row["tol"] = max((r.tol for r in first), default=None)
    row["precision"] = first[0].precision if first else ""
    row["position"] = sorted({r.assumption.split(":")[0] for r in first if r.expect == "deviates"})
    row["premises"] = sorted({r.premise for r in a.rows if r.premise})
    row["unexplained"] = [f"L{r.layer} {r.quantity}: {r.worst:.3g} > {r.tol:g} ({r.assumption})" for r in a.unexpected]
    row["notes"] = a.notes
    return row


def _reason(row: dict[str, Any]) -> str:
    if "error" in row:
        return f"not built / run: {row['error']}"
    if "peft" in row:
        return row["peft"]
    parts = []
    if row["premises"]:
        parts.append("premise broken: " + "; ".join(row["premises"])[:160])
    if row["position"]:
        parts.append("deviates as predicted: " + "; ".join(p for p in row["position"] if not p.startswith("deeper")))
    if row["unexplained"]:
        parts.append("UNEXPLAINED: " + "; ".join(row["unexplained"])[:200])
    dtype = next((n for n in row.get("notes", []) if n.startswith("runs in float32")), "")
    if dtype:
        parts.append(dtype.split(" (")[0])
    return "; ".join(p for p in parts if not p.endswith(": ")) or "holds (deeper layers deviate as predicted)"


def markdown(rows: list[dict[str, Any]]) -> str:
    """The docs table: decoder rows (causal attention, or the decoder of an encoder-decoder) where peft runs, then
    one line per other outcome."""
    head = ("| model type | attention | classes (holds / deviates / premise / unexplained) | worst layer-0 error "
            "predicted to hold | tol (dtypes used) | what the audit says |\n|---|---|---|---|---|---|")
    lines = [head]
    unique = {r["model_type"]: r for r in rows}.values()
    decoders = [r for r in unique if "counts" in r and (r["causal"] or r["encoder_decoder"])]
    for r in decoders:
        c = r["counts"]
        kind = "decoder of enc-dec" if r["encoder_decoder"] else "causal"
        lines.append(f"| `{r['model_type']}` | {kind} | {c['holds']} / {c['deviates as predicted']} / "
                     f"{c['premise broken']} / {c['unexplained']} | {r['worst_layer0_holding']:.2g} | "
                     f"{r['tol']:g} ({r['precision']}) | {_reason(r)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--table":
        with open(argv[1]) as f:
            print(markdown(json.load(f)), end="")
        return 0
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    from numeric.hf import quiet

    torch.set_num_threads(1)
    types = argv[1:] or list(dict.fromkeys(sorted(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES) + ["t5", "bart"]))
    signal.signal(signal.SIGALRM, _alarm)
    rows = []
    with quiet():
        for t in types:
            signal.alarm(30)
            try:
                rows.append(survey_one(t))
            except TimeoutError as exc:
                rows.append({"model_type": t, "error": str(exc)})
            finally:
                signal.alarm(0)
            print(json.dumps(rows[-1])[:200], flush=True)
    with open(argv[0], "w") as f:
        json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
