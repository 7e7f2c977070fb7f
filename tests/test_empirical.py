"""Empirical claims E1/E4: the quick runs show the contrast and the mechanism, false twins are caught, the same
seed gives the same numbers, and `prefixcheck reproduce` handles bad input in one line."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from numeric.empirical import EXPERIMENTS, Run, attention_maps, build_model, content_attention, make_adapter, run
from numeric.model import FullFineTune
from proofs.catalogue.empirical import E1, E4, contrast_claim
from proofs.claim import Context, Status
from proofs.cli import main
from proofs.empirical_checks import Contrast, judge
from proofs.registry import catalogue, select
from proofs.runner import run_claim

E1_ID = "empirical.e1_prefix_cannot_learn_descending"
E4_ID = "empirical.e4_lora_beats_prefix_double_hist"
SEED = Context(claim_id=E1_ID).child_seed("training")  # the seed the claim trains from under `check --seed 0`


@pytest.fixture(scope="module")
def e1_run():
    return run(EXPERIMENTS["e1"]["quick"], SEED)


@pytest.mark.slow
def test_e1_claim_ok_and_same_seed_same_numbers(e1_run) -> None:
    (claim,) = select(catalogue(), [E1_ID])
    result = run_claim(claim, Context())
    numeric = result.layers["numeric"]
    assert result.verdict == "ok", numeric.detail
    assert numeric.status is Status.CONSISTENT and numeric.max_error <= 1e-6
    # a second, independent training run from the same seed reproduces every number exactly
    assert numeric.witness["accuracy"] == {f"{m}/{t}": v for (m, t), v in e1_run.acc.items()}
    assert numeric.witness["content_attention_change"] == e1_run.content_change
    # the prefix optimisation check: every learning rate and restart stays below the bar
    attempts = numeric.witness["prefix_optimisation"]["attempts"]
    assert "prefix optimisation" in numeric.detail and len(attempts) == 6
    assert all(a["accuracy"] <= E1.max_worse for a in attempts)


@pytest.mark.slow
def test_e1_contrast_and_mechanism(e1_run) -> None:
    acc, change = e1_run.acc, e1_run.content_change
    assert acc[("pretrained", "ascending")] >= 0.5 and acc[("pretrained", "descending")] <= 0.05
    assert acc[("finetune", "descending")] >= 0.5 and acc[("prefix", "descending")] <= 0.05
    assert change["prefix"][0] <= 1e-12  # float64 on the trained weights: the identity is exact up to rounding
    assert change["finetune"][0] > 0.05  # full fine-tuning redrew the pattern, so the measurement can tell
    assert e1_run.params["prefix"] == 16 and e1_run.params["finetune"] == e1_run.params["pretrained"]


@pytest.mark.slow
def test_e1_false_twins_are_violated(e1_run) -> None:
    swapped = dataclasses.replace(E1, better="prefix", worse="finetune")
    assert judge(e1_run, swapped).status is Status.VIOLATED
    wrong_mechanism = dataclasses.replace(E1, same_attention="finetune")
    result = judge(e1_run, wrong_mechanism)
    assert result.status is Status.VIOLATED and "changed the content attention" in result.detail
    too_strict = dataclasses.replace(E1, min_better=1.01)
    assert judge(e1_run, too_strict).status is Status.VIOLATED


@pytest.mark.slow
def test_false_twin_claim_end_to_end_is_a_mismatch() -> None:
    twin = contrast_claim("twin.e1", "prefix learns descending, full FT does not", "test", "-", "e1",
                          Contrast(better="prefix", worse="finetune", task="descending", min_better=0.5,
                                   max_worse=0.05, same_attention="finetune"), ())
    result = run_claim(twin, Context(seed=1))
    assert result.layers["numeric"].status is Status.VIOLATED
    assert result.verdict == "mismatch"


def _measured(e, acc: dict, change: dict) -> Run:
    """A finished run with given measurements (for the E4 judge: its training is opt-in and too slow for tests)."""
    return Run(e, seed=0, acc=acc, content_change=change, params={"pretrained": 1, "prefix": 2, "lora": 2})


def test_e4_judge_accepts_the_contrast_and_catches_false_twins() -> None:
    e = EXPERIMENTS["e4"]["quick"]
    good = _measured(e, {("pretrained", "double_hist"): 0.0, ("prefix", "double_hist"): 0.02,
                         ("lora", "double_hist"): 0.6},
                     {"pretrained": [0.0, 0.0], "prefix": [2e-16, 0.3], "lora": [0.0, 0.5]})
    assert judge(good, E4).status is Status.CONSISTENT
    assert judge(good, dataclasses.replace(E4, better="prefix", worse="lora")).status is Status.VIOLATED
    assert judge(good, dataclasses.replace(E4, layer=1)).status is Status.VIOLATED  # layer 2 does change
    no_contrast = _measured(e, {**good.acc, ("prefix", "double_hist"): 0.5}, good.content_change)
    assert "prefix above" in judge(no_contrast, E4).detail


def test_e4_is_opt_in_and_e1_is_default() -> None:
    default = {c.id for c in select(catalogue(), [])}
    assert E1_ID in default and E4_ID not in default
    assert {E1_ID, E4_ID} <= {c.id for c in select(catalogue(), ["empirical."])}


def test_mechanism_on_untrained_models() -> None:
    """Layer 1 keeps the renormalised content attention under a prefix (item 4); layer 2 does not (item 17);
    LoRA off W_Q, W_K leaves layer 1 alone; a full fine-tuning delta of W_K changes it."""
    e = EXPERIMENTS["e4"]["quick"]
    model = build_model(e, 0, torch.float64)
    idx, _ = e.spec.sequences("double_hist", e.spec.inputs(16, torch.Generator().manual_seed(0), "test"))
    base = attention_maps(model, None, idx)
    n_S = e.spec.n_S

    def change(adapter) -> list[float]:
        maps = attention_maps(model, adapter, idx)
        prefixed = adapter.__class__.__name__ == "PrefixHidden"
        return [float((content_attention(A, n_S, prefixed) - content_attention(B, n_S, False)).abs().max())
                for A, B in zip(maps, base)]

    prefix = make_adapter("prefix", model, e, 1).double()
    with torch.no_grad():
        prefix.s.mul_(30.0)
    first, second = change(prefix)
    assert first <= 1e-12 and second > 1e-4
    lora = make_adapter("lora", model, e, 2)
    with torch.no_grad():
        for B in lora.B:
            B.normal_(generator=torch.Generator().manual_seed(3))
    assert change(lora)[0] == 0.0
    ft = FullFineTune(model)
    ft.set("layers.0.attn.W_K.weight", torch.randn(e.size.d, e.size.d, dtype=torch.float64,
                                                   generator=torch.Generator().manual_seed(4)))
    assert change(ft)[0] > 1e-3


@pytest.mark.slow
def test_reproduce_quick_writes_json_figure_and_matches_the_seeded_run(e1_run, tmp_path, capsys) -> None:
    out = tmp_path / "e1.json"
    code = main(["reproduce", "e1", "--quick", "--seed", str(SEED), "--json", str(out),
                 "--figures", str(tmp_path / "fig")])
    assert code == 0
    record = json.loads(out.read_text())
    ours = {(a["method"], a["task"]): a["value"] for a in record["accuracy"]}
    assert ours == e1_run.acc  # the progress bar's extra evaluations do not disturb the seeded stream
    assert record["seed"] == SEED and record["mode"] == "quick" and record["threads"] == 1
    assert (tmp_path / "fig" / "e1_quick_attention.png").stat().st_size > 1000
    text = capsys.readouterr().out
    assert "84.91%" in text and "paper" in text


@pytest.mark.parametrize("args, needle", [
    (["reproduce", "e1", "--quick", "--json", "/nonexistent-dir/x.json"], "no such directory"),
    (["reproduce", "e1", "--quick", "--json", "/proc/x.json"], "cannot write --json /proc/x.json"),
    (["reproduce", "e1", "--quick", "--figures", __file__], "not a directory"),
])
def test_reproduce_bad_paths_one_line_exit_2(args, needle, capsys) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]


@pytest.mark.parametrize("args", [["reproduce", "e9"], ["reproduce", "e1", "--seed", "-1"],
                                  ["reproduce", "e1", "--threads", "0"], ["reproduce"],
                                  ["reproduce", "e1", "--quick", "--paper"], ["reproduce", "e1", "--budget", "0"],
                                  ["reproduce", "e1", "--budget", "nan"], ["reproduce", "e1", "--seeds", ","],
                                  ["reproduce", "e1", "--seeds", "1,-2"], ["reproduce", "e1", "--lrs", "0.1,x"]])
def test_reproduce_bad_arguments_exit_2(args, capsys) -> None:
    assert main(args) == 2  # argparse errors are one line and a return value, like every usage error
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


# ---- paper presets, budgets, sweeps, the prefix optimisation check --------------------------------------------

def test_paper_presets_carry_the_authors_settings() -> None:
    """paper-notes 4.1-4.2: architecture, vocabulary, budgets, learning rates and dropout."""
    e1, e2, e3, e4 = (EXPERIMENTS[k]["paper"] for k in ("e1", "e2", "e3", "e4"))
    assert (e1.size.d, e1.size.layers, e1.size.heads, e1.spec.vocab, e1.dropout) == (96, 1, 1, 10, 0.1)
    assert (e1.pretrain.steps, e1.pretrain.lr, e1.phase("finetune").steps, e1.phase("prefix").steps,
            e1.phase("prefix").lr) == (20000, 5e-4, 10000, 40000, 5e-4)
    assert (e2.size.d, e2.size.layers, e2.size.heads, e2.size.norm, e2.spec.n_S) == (256, 1, 4, "none", 1)
    assert e2.phase("prefix").lr == 5e-5 and e2.phase("prefix").steps == 30000
    assert (e3.size.d, e3.size.layers, e3.size.heads, e3.spec.n_S, e3.pretrain.steps) == (256, 4, 4, 10, 40000)
    assert e3.phase("prefix", "double_hist").steps == 500000 and e3.phase("prefix", "add1").steps == 20000
    assert e4.phase("lora").lr == 5e-3 and e4.phase("prefix").steps == 100000 and e4.spec.n_S == 12
    assert all(e.spec.n == 10 and e.spec.num_digits == 8 and e.eval_samples == 3200 for e in (e1, e2, e3, e4))


def test_scaled_budget_and_summary() -> None:
    from numeric.empirical import scaled, summary

    e = scaled(EXPERIMENTS["e3"]["paper"], 0.01)
    assert e.pretrain.steps == 400 and e.phase("prefix", "double_hist").steps == 5000 and e.phase("prefix").steps == 200
    with pytest.raises(ValueError):
        scaled(e, 0.0)
    runs = [Run(e, s, acc={("prefix", "t"): v}) for s, v in enumerate((0.2, 0.4))]
    stats = summary(runs)[("prefix", "t")]
    assert stats["mean"] == pytest.approx(0.3) and stats["std"] == pytest.approx(0.1414213562) and stats["runs"] == 2


def test_histogram_needs_a_count_token() -> None:
    with pytest.raises(ValueError, match="double histogram"):
        dataclasses.replace(EXPERIMENTS["e4"]["paper"], spec=dataclasses.replace(EXPERIMENTS["e4"]["paper"].spec,
                                                                                   vocab_size=10))


def test_dropout_is_active_only_in_train_mode() -> None:
    from numeric.model import Config, Transformer

    model = Transformer(Config(vocab=5, d=8, n_layers=1, n_heads=1, dropout=0.5), seed=0)
    idx = torch.tensor([[1, 2, 3]])
    model.eval()
    a, b = model(idx).logits, model(idx).logits
    assert torch.equal(a, b)
    model.train()
    assert not torch.equal(model(idx).logits, model(idx).logits)


def test_optimisation_judge_catches_a_prefix_that_learns() -> None:
    """The false twin of the optimisation check: one tuned prefix reaching the target makes the contrast VIOLATED."""
    from proofs.claim import LayerResult
    from proofs.empirical_checks import optimisation_judge

    rec = {"attempts": [{"lr": 0.1, "restart": 0, "best_loss": 0.1, "final_loss": 0.1, "accuracy": 0.6}],
           "best": {"lr": 0.1, "best_loss": 0.1}, "lrs": [0.1], "restarts": 1, "steps": 10,
           "reference_losses": {"uniform (ln V)": 2.3}}
    out = optimisation_judge(rec, E1, LayerResult(Status.CONSISTENT, "x", witness={}))
    assert out.status is Status.VIOLATED and "tuned prefix" in out.detail


def test_prefix_optimisation_from_the_runs_pretrained_model_is_the_same_as_pretraining_again():
    from numeric.empirical import prefix_optimisation

    quick = EXPERIMENTS["e1"]["quick"]
    tiny = dataclasses.replace(quick, pretrain=dataclasses.replace(quick.pretrain, steps=6), eval_samples=16,
                               dropout=0.1,
                               methods=tuple((m, dataclasses.replace(p, steps=3)) for m, p in quick.methods))
    args = (tiny, 3, "descending", (3e-2, 3e-1), 2, 3)
    fresh = prefix_optimisation(*args, eval_samples=16)
    trained = run(tiny, 3)
    assert prefix_optimisation(*args, eval_samples=16, start=trained.pretrained) == fresh
    with pytest.raises(ValueError, match="another experiment"):
        prefix_optimisation(tiny, 4, "descending", (3e-2,), 1, 3, eval_samples=16, start=trained.pretrained)


def test_deterministic_sets_and_restores_the_kernel_flag_and_threads() -> None:
    from numeric.threads import deterministic

    before, threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    with deterministic(1):
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.get_num_threads() == 1
        assert torch.empty(4, dtype=torch.float64).isnan().all()  # the eager kernels see the flag: no stale memory
    assert torch.are_deterministic_algorithms_enabled() == before
    assert torch.get_num_threads() == threads


# ---- several prefixes trained side by side in one batch ------------------------------------------------------

def _prefixes(d: int) -> list:
    """Three E1-sized prefixes near 0 (so that their gradients are large and clipping acts)."""
    from numeric.model import PrefixHidden

    return [PrefixHidden(1, 1, d, init=0.05 * torch.randn(1, 1, d, generator=torch.Generator().manual_seed(k)),
                         dtype=torch.float32) for k in range(3)]


def _prefix_trainings(side_by_side: bool, prefixes: list, steps: int = 6) -> tuple:
    """``prefixes`` (learning rates 3e-3, 3e-2, 3e-1) on a frozen E1-sized model with weights x 10, trained one
    after another (`train` per prefix) or side by side (`train_side_by_side` through a `PrefixHiddenStack`): every
    step's loss per prefix, the final prefixes and the data generator's final state."""
    from numeric.empirical import logits_of
    from numeric.model import PrefixHiddenStack
    from numeric.training import Phase, train, train_side_by_side

    e = EXPERIMENTS["e1"]["quick"]
    model = build_model(e, 1)
    model.requires_grad_(False)
    model.eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(10.0)
    phases = [Phase(steps, lr, batch=8, weight_decay=0.01) for lr in (3e-3, 3e-2, 3e-1)]
    curves: list[list[float]] = [[] for _ in prefixes]
    g = torch.Generator().manual_seed(7)
    if side_by_side:
        train_side_by_side(logits_of(model, PrefixHiddenStack(prefixes, 8)),
                           [(((p.s,), ()), phase) for p, phase in zip(prefixes, phases)], e.spec, "descending", g,
                           lambda k, _t, loss: curves[k].append(loss))
    else:
        for k, (p, phase) in enumerate(zip(prefixes, phases)):
            train(logits_of(model, p), ((p.s,), ()), e.spec, "descending", phase, g,
                  lambda _t, loss, k=k: curves[k].append(loss))
    return curves, [p.s.detach().clone() for p in prefixes], g.get_state()


def _close(a: tuple, b: tuple) -> bool:
    """The same per-step losses and final prefixes to float32 tolerance, and the same final data state."""
    losses = all(torch.allclose(torch.tensor(x), torch.tensor(y), rtol=1e-5, atol=1e-6) for x, y in zip(a[0], b[0]))
    prefixes = all(torch.allclose(x, y, rtol=1e-5, atol=1e-5) for x, y in zip(a[1], b[1]))
    return losses and prefixes and torch.equal(a[2], b[2])


def test_prefixes_side_by_side_train_as_one_after_another(monkeypatch) -> None:
    """K prefixes in one batch (loss sum_k L_k, clipping and AdamW per prefix, each its own batches) give every
    prefix the losses and final value it gets trained alone; the false twin, one clip across all prefixes, does
    not."""
    import numeric.training

    d = EXPERIMENTS["e1"]["quick"].size.d
    real = numeric.training.clip_each
    norms: list[float] = []

    def spy(members, max_norm):
        totals = real(members, max_norm)
        norms.extend(float(t) for t in totals if t is not None)
        return totals

    monkeypatch.setattr(numeric.training, "clip_each", spy)
    sequential = _prefix_trainings(False, _prefixes(d))
    assert max(norms) > 1.0  # the clip acts
    assert not torch.equal(sequential[1][0], sequential[1][1])  # and the three trainings differ from each other
    assert _close(_prefix_trainings(True, _prefixes(d)), sequential)
    shared = _prefixes(d)
    monkeypatch.setattr(numeric.training, "clip_each", lambda members, max_norm: real([[p.s for p in shared]],
                                                                                       max_norm))
    assert not _close(_prefix_trainings(True, shared), sequential)  # the false twin: one norm over all prefixes


def test_clip_each_is_torchs_clip_grad_norm_bit_for_bit() -> None:
    """`numeric.training.clip_each` scales every member's gradients exactly as torch.nn.utils.clip_grad_norm_ on
    that member alone, and returns the same total norms: members clipped and not, several tensors, a parameter
    without a gradient, a member without any, and one of mixed dtypes (torch's own function)."""
    from numeric.training import clip_each

    g = torch.Generator().manual_seed(0)
    layout = [[((3, 4), torch.float32), ((5,), torch.float32)], [((2, 2), torch.float32)], [((4,), torch.float32)],
              [((7, 3), torch.float64), ((1,), torch.float64), ((6,), torch.float64)],
              [((3,), torch.float32), ((2,), torch.float64)], [((2,), torch.float32)]]
    for scale in (1e-3, 0.3, 1.0, 40.0):
        grads = [[torch.randn(shape, generator=g, dtype=dtype) * scale for shape, dtype in m] for m in layout]
        ours, theirs = ([[torch.zeros(shape, dtype=dtype, requires_grad=True) for shape, dtype in m] for m in layout]
                        for _ in range(2))
        for params in (ours, theirs):
            for m, (member, gs) in enumerate(zip(params, grads)):
                for k, (p, grad) in enumerate(zip(member, gs)):
                    p.grad = None if (m, k) in ((2, 0), (0, 1)) else grad.clone()
        totals = clip_each(ours, 1.0)
        for member, total in zip(theirs, totals):
            if any(p.grad is not None for p in member):
                assert torch.equal(torch.nn.utils.clip_grad_norm_(member, 1.0), total)
            else:
                assert total is None
        for a, b in zip(ours, theirs):
            assert all((p.grad is None and q.grad is None) or torch.equal(p.grad, q.grad) for p, q in zip(a, b))


def test_adamw_is_torchs_fused_adamw_bit_for_bit() -> None:
    """`numeric.training.AdamW` (torch's fused kernel without torch.optim) makes torch.optim.AdamW(fused=True)'s
    updates exactly: two groups (own lr and weight decay), float32 and float64, a parameter without a gradient."""
    from numeric.training import AdamW

    g = torch.Generator().manual_seed(0)

    def params() -> list[torch.Tensor]:
        return [torch.randn(3, 4, generator=torch.Generator().manual_seed(1), dtype=dtype).requires_grad_()
                for dtype in (torch.float32, torch.float64, torch.float32)]

    ours, theirs = params(), params()
    opt = AdamW([(ours[:2], 3e-2, 0.1), (ours[2:], 3e-1, 0.0)])
    ref = torch.optim.AdamW([{"params": theirs[:2], "lr": 3e-2, "weight_decay": 0.1},
                             {"params": theirs[2:], "lr": 3e-1, "weight_decay": 0.0}], betas=(0.9, 0.95), fused=True)
    for step in range(5):
        grads = [torch.randn(3, 4, generator=g, dtype=p.dtype) for p in ours]
        for ps in (ours, theirs):
            for k, (p, grad) in enumerate(zip(ps, grads)):
                p.grad = None if (step == 0 and k == 2) else grad.clone()
        opt.step()
        ref.step()
        assert all(torch.equal(a, b) for a, b in zip(ours, theirs))
    assert not torch.equal(ours[0], params()[0])
