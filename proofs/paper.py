"""The paper, item by item: where each result of Petrov, Torr & Bibi (arXiv 2310.19698) is stated and which catalogue
claims check it, or why it is out of scope. This is the coverage table of docs/coverage.md and the LaTeX report.

Locations follow the paper's own sections, theorems, equations and figures as far as paper-notes.md confirms
them. The paper's body is not quoted in the notes, so equation numbers marked ``(no. unconfirmed)`` are the notes'
best reading (paper-notes section 6 lists them as open); the section is always the paper's.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

UNCONFIRMED = "(no. unconfirmed)"


@dataclass(frozen=True)
class Item:
    """One result of the paper: ``where`` it is (section / theorem / equation / figure), ``what`` it says, the
    catalogue ``claims`` that check it, ``reproduced`` (where a training run reports it without a claim), and
    ``out_of_scope`` (the reason) when nothing here can."""

    where: str
    what: str
    claims: tuple[str, ...] = ()
    out_of_scope: str | None = None
    reproduced: str | None = None


ITEMS: tuple[Item, ...] = (
    Item("Abstract; Sec. 1", "v1: strictly less expressive than full fine-tuning; v2: potentially less expressive",
         ("prefix.vs_lora_separation", "prefix.vs_lora_paper_placement", "finetune.rank1_reverses_attention")),
    Item("Sec. 2 (definitions)", "prompting, soft prompting and prefix-tuning as prefixes; soft prompting is a "
         "layer-1 prefix", ("softprompt.layer1_equals_prefix", "impl.peft_prompt.is_prefix")),
    Item("Sec. 2; Sec. 3 (hierarchy)", "prompting <= soft prompting <= prefix-tuning under a causal mask",
         ("softprompt.causal_is_prefix", "softprompt.bidirectional_is_prefix", "impl.kv_from_text.equals_prompting")),
    Item("Sec. 3, Theorem 2 (the strict hierarchy: prefix-tuning more expressive than soft prompting)",
         "a prefix reaches something no soft prompt of the same length reaches",
         ("softprompt.strictly_weaker_than_prefix",)),
    Item("Sec. 3 (hard-token capacity)", "n_S hard tokens give at most V^{n_S} greedy behaviours; soft tokens more",
         ("capacity.hard_token_bound",)),
    Item("Sec. 3, Theorem 1", "one virtual token makes a fixed 1-layer, 2-head model generate any Y in [V]^N",
         ("capacity.single_virtual_token", "capacity.temperature_condition", "capacity.decoder_identity")),
    Item("Sec. 3, Theorem 2", "one virtual token realises any conditional map (constructions of the companion code)",
         ("capacity.conditional_map", "capacity.conditional_sequence", "capacity.two_token_map")),
    Item("Sec. 3 (LLaMA-7B: hard vs soft first token, E6)", "24,426 unique completions from 32,000 hard tokens "
         "against 46,812 from 48,218 virtual tokens", (),
         "needs the LLaMA-7B weights and the authors' 48,218 learned virtual tokens, not available offline; "
         "capacity.hard_token_bound counts the same quantity exhaustively on small models"),
    Item(f"Sec. 4, eqs. (2)-(6) {UNCONFIRMED}", "one prefix: A^pt_i0 = sigma(...), A^pt_ij = (1 - A^pt_i0) A_ij, "
         "t^pt_i = (1 - A^pt_i0) t_i + A^pt_i0 W_V s_1",
         ("prefix.alpha_sigmoid", "prefix.single.closed_form", "prefix.content_mass",
          "impl.peft_prefix.relative_attention",
          "impl.peft_prefix.zero_init_not_noop")),
    Item("Sec. 4 (consequence: relative attention unchanged)", "a prefix cannot change the attention pattern over "
         "the content", ("prefix.relative_attention", "prefix.ordering", "prefix.cannot_reverse_attention",
                         "prefix.absolute_pe_shift", "prefix.rope_shift_invariant", "impl.peft_prefix.position_shift",
                         "impl.peft_prefix.rope_position_shift")),
    Item("Sec. 4 (consequence: the output is biased towards W_V s_1)", "the head output moves on a segment "
         "towards a fixed vector", ("prefix.contraction", "prefix.bias_parallel_naive", "prefix.reachable_segment",
                                  "prefix.reachable_segment_d64")),
    Item("Sec. 4 (multi-head layers)", "the bias of a layer lies in span{W_O^h W_V^h s}",
         ("prefix.multihead.span", "prefix.multihead.single_direction")),
    Item("Sec. 4, eq. (7)", "full fine-tuning changes H and W_V, so it can re-order the attention",
         ("finetune.eq7_reduces", "finetune.rank1_reverses_attention")),
    Item("Sec. 4, Fig. 1 (E1)", "a sort-ascending model learns to sort descending by full fine-tuning, not by a "
         "prefix", ("empirical.e1_prefix_cannot_learn_descending",)),
    Item("Sec. 4 (LLaMA-7B identity check, E5)", "the Sec. 4 identities hold in layer 0 of LLaMA-7B to 4.9e-4", (),
         "needs the LLaMA-7B weights and the DART prefix, not available offline; impl.peft_prefix.rope_position_shift "
         "and impl.peft_prefix.relative_attention check the same identities on random LLaMA-architecture models"),
    Item("Sec. 5.1 (E2)", "a prefix elicits each pretraining skill from a model pretrained on a task mixture",
         reproduced="`prefixcheck reproduce e2`, docs/empirical.md (seed sweep at a reduced size)"),
    Item(f"Sec. 5.2 (cross-layer effects) {UNCONFIRMED}", "a layer-1 prefix perturbs the layer-2 logits by a "
         "fixed bilinear form; the relative attention in layer 2 can change, within a constrained set",
         ("prefix.deep_layer_invariance", "prefix.layer2.reachable_set")),
    Item("Sec. 5.2 (E3)", "a prefix combines pretraining skills (ascending_add1, 71.59%) but does not learn the "
         "double histogram (0.62%)",
         reproduced="`prefixcheck reproduce e3`, docs/empirical.md (seed sweep at a reduced size; the paper's "
                    "500k-step prefixes on a 3.17M-parameter model do not fit a shared 2-core CPU)"),
    Item("Sec. 6 (E4)", "at 12,288 parameters each, rank-1 LoRA on W_O and the MLP learns the double histogram "
         "(92.38%), a prefix does not (0.31%)",
         ("empirical.e4_lora_beats_prefix_double_hist", "prefix.vs_lora_paper_placement")),
    Item("Sec. 7 (discussion)", "catastrophic forgetting, alignment, interpretability", (),
         "qualitative discussion, no checkable statement"),
    Item("App. B (longer prefixes)", "n_S > 1: the bias is a query-dependent mixture of W_V s_m",
         ("prefix.multi.closed_form", "prefix.multi.mixture_softmax", "prefix.longer.fixed_direction")),
    Item("App. B (GPT-2 prefixes on Emotion, E7)", "the attention over the 10 prefix positions varies little "
         "across inputs", (), "needs GPT-2 weights, the Emotion data set and 20 trained prefixes, not available "
         "offline"),
    Item("Follow-up paper (ICML 2024, arXiv 2402.14753; notes 7), and v2's softened abstract", "prefix-tuning one "
         "head approximates any continuous function; the prefix length needed for a precision",
         ("approx.single_head_uniform", "approx.sphere_uniform", "approx.prefix_length_bound", "approx.depth_linear",
          "approx.consistent_with_limitation")),
    Item("companion code, extended-experiments and memory-capacity branches (E8, E9)", "12-layer skills "
         "model; translation memorisation", (), "not in the paper's text (notes 4.2: unfinished branches)"),
)


def claim_ids() -> list[str]:
    """Every claim id the table maps, in table order."""
    return list(dict.fromkeys(c for item in ITEMS for c in item.claims))


def rows(verdicts: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(where, what, claims with verdicts, the reproduction, the out-of-scope reason, or "not checked yet") per item;
    a claim without a result shows "not run"."""
    out = []
    for item in ITEMS:
        if item.out_of_scope:
            mapped = "out of scope: " + item.out_of_scope
        elif not item.claims:
            mapped = "reproduced, no claim: " + item.reproduced if item.reproduced else "not checked yet"
        else:
            mapped = "; ".join(f"{c} ({verdicts.get(c, 'not run')})" for c in item.claims)
        out.append((item.where, item.what, mapped))
    return out


def markdown(verdicts: Mapping[str, str], unmapped: Sequence[str] = ()) -> str:
    """docs/coverage.md: the table, then catalogue claims that no item maps (if any)."""
    lines = ["# Coverage: the paper item by item", "",
             "Generated by `prefixcheck coverage --results docs/results.json -o docs/coverage.md` from "
             "`proofs/paper.py`. Verdicts are those of the results file; opt-in claims not in it show \"not run\". "
             f"Equation numbers marked {UNCONFIRMED} are paper-notes' reading (its section 6 lists them as open).",
             "", "| paper | result | claims (verdict) |", "|---|---|---|"]
    lines += [f"| {w} | {t} | {m} |" for w, t, m in rows(verdicts)]
    if unmapped:
        lines += ["", "Catalogue claims not mapped to a paper item: " + ", ".join(f"`{c}`" for c in unmapped) + "."]
    return "\n".join(lines) + "\n"
