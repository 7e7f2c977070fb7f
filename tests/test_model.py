"""The reference transformer against an independent, position-by-position computation, for every variant."""
from __future__ import annotations

import math

import pytest
import torch

from numeric.model import (
    MLP,
    NORMS,
    POSITIONS,
    Block,
    Compose,
    Config,
    ConfigError,
    FullFineTune,
    HardPrompt,
    LoRA,
    Modules,
    PrefixHidden,
    PrefixKV,
    SoftPrompt,
    Transformer,
)

torch.set_num_threads(1)  # tiny matrices: thread hand-offs dominate on a shared 2-core machine


def rotation(angle: float) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, -s], [s, c]], dtype=torch.float64)


def rope_matrix(p: int, k: int, base: float) -> torch.Tensor:
    """Block-diagonal rotation R(p) with blocks R(p * base^{-2i/k})."""
    R = torch.zeros(k, k, dtype=torch.float64)
    for i in range(k // 2):
        R[2 * i:2 * i + 2, 2 * i:2 * i + 2] = rotation(p * base ** (-2 * i / k))
    return R


def layer_norm(x: torch.Tensor, g: torch.Tensor, b, rms: bool, eps: float) -> torch.Tensor:
    if rms:
        return g * x / math.sqrt(float((x * x).mean()) + eps)
    mu = float(x.mean())
    var = float(((x - mu) ** 2).mean())
    return g * (x - mu) / math.sqrt(var + eps) + b


@torch.no_grad()
def reference(model: Transformer, X: list[torch.Tensor], positions: list[int],
              prefix: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
    """One sequence, loops over positions; ``prefix[l]`` rows are hidden prefix states at positions 0..n_S-1."""
    cfg = model.cfg
    p = dict(model.named_parameters())
    n = len(X)
    if cfg.pos == "learned":
        X = [x + p["pos"][positions[i]] for i, x in enumerate(X)]
    if cfg.pos == "sinusoidal":
        X = [x + torch.tensor([math.sin(positions[i] / 10000 ** (c / cfg.d)) if c % 2 == 0 else
                               math.cos(positions[i] / 10000 ** ((c - 1) / cfg.d)) for c in range(cfg.d)],
                              dtype=torch.float64) for i, x in enumerate(X)]
    ks, vs = cfg.head_widths(), cfg.value_widths()
    for l in range(cfg.n_layers):
        pre = f"layers.{l}."
        rms = cfg.norm == "rms"

        def ln(x, which, pre=pre, rms=rms):
            if cfg.norm == "none":
                return x
            return layer_norm(x, p[pre + which + ".gain"], p.get(pre + which + ".shift"), rms, cfg.eps)

        a_in = [ln(x, "ln1") if cfg.norm in ("pre", "rms") else x for x in X]
        keys_in = [(m, ln(s, "ln1") if cfg.norm in ("pre", "rms") else s)
                   for m, s in enumerate(prefix[l] if prefix else [])] + list(zip(positions, a_in))
        WQ, WK, WV = (p[pre + f"attn.{w}.weight"] for w in ("W_Q", "W_K", "W_V"))
        outs = []
        for i in range(n):
            head_outs = []
            qo = ko = vo = 0
            for h in range(cfg.n_heads):
                k_h, v_h = ks[h], vs[h]
                q = WQ[qo:qo + k_h] @ a_in[i]
                if cfg.pos == "rope":
                    q = rope_matrix(positions[i], k_h, cfg.rope_base) @ q
                logits, values = [], []
                for j, (pj, xj) in enumerate(keys_in):
                    is_prefix = j < len(keys_in) - n
                    if cfg.causal and not is_prefix and pj > positions[i]:
                        continue
                    kj = WK[ko:ko + k_h] @ xj
                    if cfg.pos == "rope":
                        kj = rope_matrix(pj, k_h, cfg.rope_base) @ kj
                    lj = float(q @ kj) * cfg.scale(k_h, len(keys_in))
                    if cfg.pos == "alibi":
                        lj -= 2 ** (-8 * (h + 1) / cfg.n_heads) * abs(positions[i] - pj)
                    logits.append(lj)
                    values.append(WV[vo:vo + v_h] @ xj)
                mx = max(logits)
                w = [math.exp(v - mx) for v in logits]
                head_outs.append(sum(wj / sum(w) * vj for wj, vj in zip(w, values)))
                qo, ko, vo = qo + k_h, ko + k_h, vo + v_h
            if cfg.w_o:
                outs.append(p[pre + "attn.W_O.weight"] @ torch.cat(head_outs))
            else:
                outs.append(sum(head_outs))
        mid = [(x + o if cfg.residual else o) for x, o in zip(X, outs)]
        if cfg.norm == "post":
            mid = [ln(x, "ln1") for x in mid]
        if cfg.mlp == "none":
            X = mid
            continue
        act = torch.nn.functional.gelu if cfg.mlp == "gelu" else torch.relu
        W1, W2 = p[pre + "mlp.fcs.0.weight"], p[pre + "mlp.fcs.1.weight"]
        m_in = [ln(x, "ln2") if cfg.norm in ("pre", "rms") else x for x in mid]
        X = [(x + W2 @ act(W1 @ y) if cfg.residual else W2 @ act(W1 @ y)) for x, y in zip(mid, m_in)]
        if cfg.norm == "post":
            X = [ln(x, "ln2") for x in X]
    if cfg.norm in ("pre", "rms"):
        X = [layer_norm(x, p["ln_f.gain"], p.get("ln_f.shift"), cfg.norm == "rms", cfg.eps) for x in X]
    return [p["unembed.weight"] @ x for x in X]


VARIANTS = [(norm, pos, causal) for norm in NORMS for pos in POSITIONS for causal in (True, False)]


@pytest.mark.parametrize("norm,pos,causal", VARIANTS)
def test_forward_matches_reference(norm: str, pos: str, causal: bool) -> None:
    model = Transformer(Config(vocab=7, d=8, n_layers=2, n_heads=2, norm=norm, pos=pos, causal=causal), seed=3)
    idx = torch.tensor([[1, 4, 0, 6, 2]])
    out = model(idx, offset=2)
    X = [model.embed.weight[:, t] for t in idx[0].tolist()]
    ref = torch.stack(reference(model, X, [2, 3, 4, 5, 6]))
    assert torch.allclose(out.logits[0], ref, atol=1e-12, rtol=0)
    # with a hidden-state prefix (authors' form): prefix at positions 0..1, content at 2..
    prefix = PrefixHidden(2, 2, 8, seed=5)
    out = model(idx, adapter=prefix)
    ref = torch.stack(reference(model, X, [2, 3, 4, 5, 6], prefix=list(prefix.s.detach())))
    assert torch.allclose(out.logits[0], ref, atol=1e-12, rtol=0)


def test_construction_style_config_matches_reference() -> None:
    """No norm, no residual, no mask, heads summed without W_O, per-head widths (4, 1), T/sqrt(L) logit scale."""
    T = 7.0
    cfg = Config(vocab=5, d=6, n_layers=1, n_heads=2, d_head=(4, 1), norm="none", pos="none", causal=False,
                 residual=False, w_o=False, mlp="relu", logit_scale=lambda k, L: T / math.sqrt(L))
    model = Transformer(cfg, seed=2)
    assert model.layers[0].attn.W_Q.weight.shape == (5, 6)
    idx = torch.tensor([[0, 3, 4, 1]])
    X = [model.embed.weight[:, t] for t in idx[0].tolist()]
    ref = torch.stack(reference(model, X, [0, 1, 2, 3]))
    assert torch.allclose(model(idx).logits[0], ref, atol=1e-12, rtol=0)


def test_rope_logits_against_rotation_matrices() -> None:
    model = Transformer(Config(d=8, n_layers=1, n_heads=1, pos="rope", norm="none"), seed=0)
    x = torch.randn(1, 4, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        tr = model(embeds=x, offset=3, trace=True).layers[0]
    WQ, WK = model.layers[0].attn.W_Q.weight.detach(), model.layers[0].attn.W_K.weight.detach()
    for i in range(4):
        for j in range(i + 1):
            q = rope_matrix(3 + i, 8, 10000.0) @ WQ @ x[0, i]
            k = rope_matrix(3 + j, 8, 10000.0) @ WK @ x[0, j]
            assert abs(float(tr.logits[0, 0, i, j]) - float(q @ k) / math.sqrt(8)) < 1e-12


def test_alibi_bias_formula() -> None:
    cfg = Config(d=8, n_layers=1, n_heads=4, pos="alibi", norm="none", causal=True)
    model = Transformer(cfg, seed=0)
    x = torch.randn(1, 5, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        tr = model(embeds=x, trace=True).layers[0]
    for h in range(4):
        q, k = tr.q[h][0], tr.k[h][0]
        for i in range(5):
            for j in range(i + 1):
                expected = float(q[i] @ k[j]) / math.sqrt(2) - 2 ** (-8 * (h + 1) / 4) * (i - j)
                assert abs(float(tr.logits[0, h, i, j]) - expected) < 1e-12
            assert all(tr.logits[0, h, i, j] == float("-inf") for j in range(i + 1, 5))


@pytest.mark.parametrize("norm,pos", [(n, p) for n in NORMS for p in POSITIONS])
def test_causal_soft_prompt_reproduces_prefix(norm: str, pos: str) -> None:
    """Soft prompt s == authors' prefix with s^(l) = the prompt's layer-l input states, to 1e-12."""
    model = Transformer(Config(d=8, n_layers=3, n_heads=2, norm=norm, pos=pos, causal=True), seed=1)
    idx = torch.randint(0, 10, (4, 6), generator=torch.Generator().manual_seed(0))
    soft = SoftPrompt(2, 8, seed=3)
    out = model(idx, adapter=soft, offset=0, trace=True)
    states = torch.stack([t.resid_in[0, :2] for t in out.layers])
    prefixed = model(idx, adapter=PrefixHidden(3, 2, 8, init=states), trace=True)
    assert (out.logits[:, 2:] - prefixed.logits).abs().max() < 1e-12
    for a, b in zip(out.layers, prefixed.layers):
        assert (a.attn[:, :, 2:] - b.attn).abs().max() < 1e-12
        assert (a.resid_out[:, 2:] - b.resid_out).abs().max() < 1e-12


def test_hard_prompt_is_a_soft_prompt_of_embeddings() -> None:
    model = Transformer(Config(), seed=0)
    idx = torch.randint(0, 10, (2, 5), generator=torch.Generator().manual_seed(0))
    hard = HardPrompt([3, 1])
    soft = SoftPrompt(2, 16, init=model.embed.weight[:, [3, 1]].T.detach())
    assert torch.equal(model(idx, adapter=hard).logits, model(idx, adapter=soft).logits)
    assert hard.n_params == 0 and hard.choices(10) == 100


def test_prefix_kv_equals_hidden_prefix_keys_and_values() -> None:
    """Raw KV pairs W_K N(s), W_V N(s) reproduce the hidden-state prefix (no RoPE: cached keys are not rotated)."""
    model = Transformer(Config(d=8, n_layers=2, n_heads=2, norm="pre", pos="learned"), seed=0)
    hidden = PrefixHidden(2, 3, 8, seed=1)
    kv = PrefixKV(model, 3)
    with torch.no_grad():
        for l, block in enumerate(model.layers):
            s = block.ln1(hidden.s[l])
            kv.keys[l] = block.attn.W_K(s)
            kv.values[l] = block.attn.W_V(s)
    idx = torch.randint(0, 10, (2, 5), generator=torch.Generator().manual_seed(0))
    assert (model(idx, adapter=hidden).logits - model(idx, adapter=kv).logits).abs().max() < 1e-12


def test_parameter_counts() -> None:
    cfg = Config(vocab=10, d=16, n_layers=3, n_heads=4)
    model = Transformer(cfg)
    assert SoftPrompt(5, 16).n_params == 5 * 16
    assert PrefixHidden(3, 5, 16).n_params == 3 * 5 * 16
    assert PrefixKV(model, 5).n_params == 3 * 5 * (16 + 16)
    lora = LoRA(model, ["layers.0.attn.W_K", "layers.1.mlp.fcs.0"], rank=2)
    assert lora.n_params == 2 * (16 + 16) + 2 * (16 + 64)
    assert FullFineTune(model).n_params == model.n_params == sum(p.numel() for p in model.parameters())


def test_lora_and_delta_change_the_named_map() -> None:
    model = Transformer(Config(d=8, n_layers=1, n_heads=1, norm="none", pos="none", mlp="none"), seed=0)
    lora = LoRA(model, ["layers.0.attn.W_K"], rank=1)
    with torch.no_grad():
        lora.B[0].copy_(torch.randn(8, 1, dtype=torch.float64))
    x = torch.randn(1, 4, 8, dtype=torch.float64)
    ft = FullFineTune(model)
    ft.set("layers.0.attn.W_K.weight", (lora.B[0] @ lora.A[0]).detach())
    a = model(embeds=x, adapter=lora, trace=True).layers[0]
    b = model(embeds=x, adapter=ft, trace=True).layers[0]
    WK = model.layers[0].attn.W_K.weight + lora.B[0] @ lora.A[0]
    assert torch.allclose(a.k[0][0], x[0] @ WK.T, atol=1e-13)
    assert torch.allclose(a.attn, b.attn, atol=1e-13)
    assert torch.linalg.matrix_rank(lora.delta("layers.0.attn.W_K.weight")) == 1


def test_prefix_tuning_trains_only_the_prefix_float32() -> None:
    model = Transformer(Config(d=8, n_layers=1, n_heads=1, dtype=torch.float32), seed=0)
    prefix = PrefixHidden(1, 1, 8, dtype=torch.float32)
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.Adam(prefix.parameters(), lr=0.05)
    idx = torch.randint(0, 10, (8, 5), generator=torch.Generator().manual_seed(0))
    losses = []
    for _ in range(20):
        logits = model(idx, adapter=prefix).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 10), torch.zeros(40, dtype=torch.long))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_custom_mlp_factory_and_compose() -> None:
    cfg = Config(d=6, n_layers=1, n_heads=1, norm="none", pos="none", residual=False,
                 mlp=lambda layer: MLP([6, 6, 3], "relu", final_activation=True), unembed=False)
    model = Transformer(cfg)
    out = model(torch.tensor([[1, 2]]))
    assert out.logits.shape == (1, 2, 3) and (out.logits >= 0).all()
    both = Compose(SoftPrompt(1, 6), LoRA(model, ["layers.0.mlp.fcs.0"], 1))
    assert both.n_params == 6 + 12
    with pytest.raises(ConfigError):
        model(torch.tensor([[1]]), adapter=Compose(SoftPrompt(1, 6), SoftPrompt(1, 6)))


def test_typed_layers_and_head_maps_read_the_parameters() -> None:
    """``model.layers[l]`` is a Block (slices stay `Modules`, parameter names unchanged); ``attn.head(h)`` slices
    W_Q^h, W_K^h, W_V^h and the W_O columns of head h: q^h = W_Q^h x, v^h = W_V^h x, sum_h W_O^h t^h = attn_out."""
    model = Transformer(Config(d=6, n_layers=2, n_heads=2, d_head=(2, 4), d_value=(1, 3), norm="none", pos="none"))
    assert isinstance(model.layers[1], Block) and all(isinstance(b, Block) for b in model.layers)
    assert isinstance(model.layers[1:], Modules) and len(model.layers[1:]) == 1
    assert "layers.1.attn.W_V.weight" in dict(model.named_parameters())
    attn, x = model.layers[0].attn, torch.randn(1, 3, 6, dtype=torch.float64)
    out = model(embeds=x, trace=True).layers[0]
    heads = [attn.head(h) for h in range(2)]
    for h, w in enumerate(heads):
        assert torch.allclose(out.q[h], x @ w.W_Q.T) and torch.allclose(out.v[h], x @ w.W_V.T)
        assert torch.allclose(w.H, w.W_Q.T @ w.W_K) and w.H.shape == (6, 6)
    assert torch.allclose(out.attn_out, sum(t @ w.W_O.T for t, w in zip(out.head_out, heads)))
    assert Transformer(Config(d=4, n_heads=2, w_o=False, d_value=4)).layers[0].attn.head(1).W_O is None
    with pytest.raises(ConfigError, match="head 2 out of range"):
        attn.head(2)


@pytest.mark.parametrize("kwargs,message", [
    (dict(norm="batch"), "unknown norm"),
    (dict(pos="relative"), "unknown positional"),
    (dict(d=10, n_heads=3), "do not divide"),
    (dict(pos="rope", d=6, n_heads=2), "even"),
    (dict(w_o=False, d_value=(4, 8)), "must agree"),
    (dict(d_head=(2, 2, 2)), "3 widths for 2 heads"),
    (dict(mlp="swiglu"), "unknown mlp"),
])
def test_bad_configs(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Config(**kwargs)


def test_bad_inputs() -> None:
    model = Transformer(Config(max_len=8))
    with pytest.raises(ConfigError, match="token ids"):
        model(torch.tensor([[10]]))
    with pytest.raises(ConfigError, match="NaN"):
        model(embeds=torch.full((1, 2, 16), float("nan"), dtype=torch.float64))
    with pytest.raises(ConfigError, match="max_len"):
        model(torch.zeros(1, 9, dtype=torch.long))
    with pytest.raises(ConfigError, match="no linear map"):
        LoRA(model, ["layers.0.attn.W_X"], 1)
    with pytest.raises(ConfigError, match="exactly one"):
        model(torch.tensor([[1]]), embeds=torch.zeros(1, 1, 16, dtype=torch.float64))


def test_adapters_that_do_not_fit_the_model() -> None:
    model = Transformer(Config(d=16, n_layers=2, n_heads=2))
    idx = torch.zeros(1, 3, dtype=torch.long)
    with pytest.raises(ConfigError, match="prompt vectors"):
        model(idx, adapter=SoftPrompt(2, 8))
    with pytest.raises(ConfigError, match="fewer layers"):
        model(idx, adapter=PrefixHidden(1, 2, 16))
    with pytest.raises(ConfigError, match="layer-0 prefix"):
        model(idx, adapter=PrefixHidden(2, 2, 8))
    with pytest.raises(ConfigError, match="key/value"):
        model(idx, adapter=PrefixKV(Transformer(Config(d=16, n_layers=2, n_heads=4)), 2))
    with pytest.raises(ConfigError, match="offset"):
        model(idx, offset=-1)
