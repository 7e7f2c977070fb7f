"""The LaTeX report's own cost, apart from the checks: from one check run (the default claims, 50 numeric instances),
time writing the document (derivations printed, their step checks read from the results), drawing the figures
and compiling the PDF.

Target: report + figures + PDF a small fraction of the check time, so `prefixcheck latex` costs about one check.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console


def run(console: Console) -> dict[str, Any]:
    from proofs import report
    from proofs.claim import Context
    from proofs.figures import FIGURES, render
    from proofs.latex import compile_pdf, figures_for, write
    from proofs.registry import catalogue, select
    from proofs.runner import run as run_claims

    ctx = Context(seed=0, instances=50)
    claims = select(catalogue(), [])  # the default selection (slow opt-in claims left out)
    start = time.perf_counter()
    results = run_claims(claims, ctx)
    check_s = time.perf_counter() - start
    out: dict[str, Any] = {"claims": len(claims), "check_s": round(check_s, 2)}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        start = time.perf_counter()
        figures = figures_for(render(FIGURES, d / "figures", ctx), d)
        out["figures_s"] = round(time.perf_counter() - start, 2)
        start = time.perf_counter()
        written = write(d, results, report.environment(0), {"seed": 0}, figures, snippets=True)
        out["write_tex_s"] = round(time.perf_counter() - start, 2)
        out["tex_kib"] = round(written.tex.stat().st_size / 1024, 1)
        if shutil.which("pdflatex"):
            start = time.perf_counter()
            pdf = compile_pdf(written.tex)
            out["compile_pdf_s"] = round(time.perf_counter() - start, 2)
            out["pdf_kib"] = round(pdf.stat().st_size / 1024, 1)
        else:
            out["compile_pdf_s"] = None
    extra = sum(v for k, v in out.items() if k in ("figures_s", "write_tex_s", "compile_pdf_s") and v)
    out["report_over_check"] = round(extra / check_s, 2) if check_s else None
    for key, value in out.items():
        console.print(f"{key:>18}: {value}")
    return out
