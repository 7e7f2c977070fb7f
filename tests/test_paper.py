"""The paper coverage table (`proofs.paper`): every mapped id is a catalogue claim, every claim's paper_ref names a
place in the paper, every item is mapped or out of scope with a reason, and the table reaches the LaTeX report."""
from __future__ import annotations

from proofs import paper
from proofs.registry import catalogue


def test_every_mapped_id_is_a_catalogue_claim():
    ids = {c.id for c in catalogue()}
    assert set(paper.claim_ids()) <= ids, set(paper.claim_ids()) - ids


def test_every_catalogue_paper_ref_names_a_place_in_the_paper():
    bad = [c.id for c in catalogue() if not c.paper_ref.startswith(("Sec. ", "App. ", "Abstract"))]
    assert not bad


def test_items_are_mapped_or_out_of_scope_with_a_reason():
    for item in paper.ITEMS:
        assert not (item.claims and item.out_of_scope), item.where
        assert item.claims or item.out_of_scope or item.reproduced, item.where
        assert item.out_of_scope is None or len(item.out_of_scope) > 20


def test_coverage_markdown_shows_verdicts_and_scope():
    text = paper.markdown({"prefix.single.closed_form": "ok"}, ["x.unmapped"])
    assert "prefix.single.closed_form (ok)" in text
    assert "LLaMA-7B weights" in text and "x.unmapped" in text


def test_latex_report_has_the_coverage_table():
    from proofs.latex import coverage_section

    assert "Coverage of the paper" in coverage_section([])


def test_coverage_command_writes_markdown(tmp_path):
    from proofs.cli import main

    out = tmp_path / "coverage.md"
    assert main(["coverage", "-o", str(out)]) == 0
    assert "| paper | result |" in out.read_text()
    assert main(["coverage", "--results", str(tmp_path / "missing.json")]) == 2
