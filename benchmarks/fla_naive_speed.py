"""seqmem's mixer kernels beside fla's published naive forms on the CPU: a training step of each kernel in its
chunked form, its step-by-step form, and each naive form of fla-org/flash-linear-attention (`fla/ops/<name>/
naive.py`, shipped in fla-core, the compare extra) that computes the same thing.

fla's fast kernels are Triton (GPU only); its naive forms are plain PyTorch references (recurrences, chunk and
parallel forms), and they run on a CPU. They are kernel functions, not layers, so the comparison
is at the kernel: the same inputs (fla's layout (B, L, H, D) for its forms, seqmem's (B, H, L, D) for seqmem's,
each made beforehand), fla's query scale 1/sqrt(K) (seqmem's scalar-decay and GLA kernels take the queries
scaled). A training step is the forward and the backward of a fixed random projection of the output, (o * w).sum(),
its gradients into every input that is a leaf: q, k, v and the gates (the decays, beta). One thread, float32,
batch 8, 4 heads, K = V = 32 (d_model 128; Based's Taylor map on 16 features a head, as the paper and seqmem's
mixer). Decays are logsigmoid(x) / 16 (fla's GLA gate), beta sigmoid(x), the delta rule's keys unit length.

Each form's warm-up step is checked against seqmem's chunked form first (output and every input gradient within
`TOLERANCE` of it, relative to the largest entry), so the timed forms compute the same function; a form that does
not agree, or fails (fla's chunk forms take only lengths that are multiples of their chunk), is recorded and not
timed. Then the forms run interleaved in rotating order, and each ratio over the chunked form is the median of
per-round ratios, so load on the machine largely cancels. A form whose warm-up step took longer than `--limit`
seconds, or would by its step at a shorter length (scaled by the length, squared for a form quadratic in L), is
not timed; the forms whose memory is quadratic in L (fla's parallel forms, a (B, H, L, L) matrix each, 2 GiB at
L=4096) run only up to `--parallel-lengths`, and seqmem's step-by-step form only up to `--step-lengths` (its ratio
to the chunked form is benchmarks/mixer_speed.py's subject).

    python benchmarks/fla_naive_speed.py                 # L = 1024 and 4096, every kernel fla has a naive form of
    python benchmarks/fla_naive_speed.py --kernels gla,delta_rule --lengths 1024
    python benchmarks/fla_naive_speed.py --quick         # seconds: L = 256, tiny sizes, one round, for tests
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import time
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from harness import Lines, arguments, load, main, median_ratio, rotated, seconds

from seqmem.errors import ConfigError
from seqmem.kernels import scalar_decay
from seqmem.kernels.delta_rule import delta_rule_chunked, delta_rule_steps
from seqmem.kernels.feature_maps import feature_map
from seqmem.kernels.gated_linear import gla_chunked, gla_step_by_step

NAME = "fla_naive_speed"
TOLERANCE = 1e-4  # largest difference over the largest entry, output and each gradient
CHUNK = 64  # seqmem's chunk, and fla's where its chunk form takes one


def fla_naive(module: str):
    """fla's `fla/ops/<module>/naive.py`, read from the installed file: it needs only torch and einops, where
    importing fla.ops needs triton."""
    spec = importlib.util.find_spec("fla")
    places = (spec.submodule_search_locations or []) if spec is not None else []
    found = [Path(p) / "ops" / module / "naive.py" for p in places]
    found = [p for p in found if p.is_file()]
    if not found or importlib.util.find_spec("einops") is None:
        raise ConfigError("fla's naive forms are not installed: pip install 'seqmem[compare]' (fla-core, einops)")
    loaded = importlib.util.spec_from_file_location(f"fla_naive_{module}", found[0])
    naive = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(naive)
    return naive


class Form(NamedTuple):
    """A contender: its inputs' layout ("seqmem" (B, H, L, ...) or "fla" (B, L, H, ...)), the function from the
    inputs by name to the output in that layout, and whether its memory is quadratic in L."""

    layout: str
    run: object
    quadratic: bool = False


def scaled(q):
    return q * q.shape[-1] ** -0.5


def retention_decay(t):
    """RetNet's fixed decay of head h, 1 - 2^(-5 - h), as log a (B, H, L): what fla's naive_retention builds in."""
    B, H, L, _ = t.shape
    return torch.log1p(-(2.0 ** (-5.0 - torch.arange(H, dtype=t.dtype)))).view(1, H, 1).expand(B, H, L)


def taylor(t):
    return feature_map("taylor", t)


def based_chunked(q, k, v):
    o = scalar_decay.chunked(taylor(q), taylor(k), scalar_decay.with_ones(v), chunk=CHUNK)[0]
    return scalar_decay.normalise(o)


def based_steps(q, k, v):
    return scalar_decay.normalise(scalar_decay.step_by_step(taylor(q), taylor(k), scalar_decay.with_ones(v))[0])


def kernels() -> dict[str, tuple[str, dict[str, Form]]]:
    """Each kernel: the inputs it draws (`draw`'s spec) and its forms by name, seqmem's chunked first."""
    simple, gla, ret = fla_naive("simple_gla"), fla_naive("gla"), fla_naive("retention")
    lin, delta, gdelta, based = (fla_naive(m) for m in ("linear_attn", "delta_rule", "gated_delta_rule", "based"))
    return {
        "simple_gla": ("q k v g", {
            "seqmem chunked": Form("seqmem", lambda q, k, v, g: scalar_decay.chunked(scaled(q), k, v, g, chunk=CHUNK)[0]),
            "seqmem step_by_step": Form("seqmem", lambda q, k, v, g: scalar_decay.step_by_step(scaled(q), k, v, g)[0]),
            "fla naive_recurrent_simple_gla": Form("fla", lambda q, k, v, g: simple.naive_recurrent_simple_gla(q, k, v, g)[0]),
            "fla naive_chunk_simple_gla": Form("fla", lambda q, k, v, g: simple.naive_chunk_simple_gla(
                q, k, v, g, chunk_size=CHUNK)[0]),
            "fla naive_parallel_simple_gla": Form("fla", lambda q, k, v, g: simple.naive_parallel_simple_gla(
                q, k, v, g)[0], quadratic=True)}),
        "gla": ("q k v gk", {
            "seqmem chunked": Form("seqmem", lambda q, k, v, gk: gla_chunked(scaled(q), k, v, gk, chunk=CHUNK)[0]),
            "seqmem step_by_step": Form("seqmem", lambda q, k, v, gk: gla_step_by_step(scaled(q), k, v, gk)[0]),
            "fla naive_recurrent_gla": Form("fla", lambda q, k, v, gk: gla.naive_recurrent_gla(q, k, v, gk)[0])}),
        "retention": ("q k v", {
            "seqmem chunked": Form("seqmem", lambda q, k, v: scalar_decay.chunked(
                scaled(q), k, v, retention_decay(q), chunk=CHUNK)[0]),
            "seqmem step_by_step": Form("seqmem", lambda q, k, v: scalar_decay.step_by_step(
                scaled(q), k, v, retention_decay(q))[0]),
            "fla naive_retention": Form("seqmem", ret.naive_retention, quadratic=True)}),  # takes (B, H, L, D)
        "linear_attn": ("q k v", {
            "seqmem chunked": Form("seqmem", lambda q, k, v: scalar_decay.chunked(scaled(q), k, v, chunk=CHUNK)[0]),
            "seqmem step_by_step": Form("seqmem", lambda q, k, v: scalar_decay.step_by_step(scaled(q), k, v)[0]),
            "fla naive_recurrent_linear_attn": Form("fla", lambda q, k, v: lin.naive_recurrent_linear_attn(q, k, v)[0]),
            "fla naive_chunk_linear_attn": Form("fla", lin.naive_chunk_linear_attn)}),  # its chunk is 64
        "delta_rule": ("q k* v beta", {  # fla's delta-rule forms take (B, H, L, D)
            "seqmem chunked": Form("seqmem", lambda q, k, v, beta: delta_rule_chunked(q, k, v, beta, chunk=CHUNK)[0]),
            "seqmem step_by_step": Form("seqmem", lambda q, k, v, beta: delta_rule_steps(q, k, v, beta)[0]),
            "fla delta_rule_recurrence": Form("seqmem", lambda q, k, v, beta: delta.delta_rule_recurrence(
                q, k, v, beta)[0]),
            "fla delta_rule_chunkwise": Form("seqmem", lambda q, k, v, beta: delta.delta_rule_chunkwise(
                q, k, v, beta, chunk_size=CHUNK)[0]),
            "fla delta_rule_parallel": Form("seqmem", lambda q, k, v, beta: delta.delta_rule_parallel(
                q, k, v, beta)[0], quadratic=True)}),
        "gated_delta_rule": ("q k* v beta g", {
            "seqmem chunked": Form("seqmem", lambda q, k, v, beta, g: delta_rule_chunked(
                q, k, v, beta, g, chunk=CHUNK)[0]),
            "seqmem step_by_step": Form("seqmem", lambda q, k, v, beta, g: delta_rule_steps(q, k, v, beta, g)[0]),
            "fla naive_recurrent_gated_delta_rule": Form("fla", lambda q, k, v, beta, g:
                                                         gdelta.naive_recurrent_gated_delta_rule(q, k, v, beta, g)[0]),
            "fla naive_chunk_gated_delta_rule": Form("fla", lambda q, k, v, beta, g: gdelta.naive_chunk_gated_delta_rule(
                q, k, v, g, beta, chunk_size=CHUNK)[0])}),
        "based": ("q16 k16 v", {  # fla's Based forms take (B, H, L, D) and normalise
            "seqmem chunked": Form("seqmem", based_chunked),
            "seqmem step_by_step": Form("seqmem", based_steps),
            "fla naive_parallel_based": Form("seqmem", based.naive_parallel_based, quadratic=True),
            "fla naive_chunk_based": Form("seqmem", based.naive_chunk_based)}),  # its chunk is 256
    }


def draw(spec: str, batch: int, heads: int, length: int, width: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """The inputs in seqmem's layout (B, H, L, ...): q, k, v of `width` (`q16`: 16, Based's features), `k*` unit
    length, gates (B, H, L) or, `gk`, (B, H, L, K) as log decays logsigmoid(x) / 16, beta sigmoid(x)."""
    g = torch.Generator().manual_seed(seed)
    inputs = {}
    for item in spec.split():
        name = item.rstrip("*0123456789")
        if name in ("q", "k", "v"):
            x = torch.randn(batch, heads, length, int(item[1:].rstrip("*") or width), generator=g)
            inputs[name] = F.normalize(x, dim=-1) if item.endswith("*") else x
        elif name == "gk":
            inputs[name] = F.logsigmoid(torch.randn(batch, heads, length, width, generator=g)) / 16
        else:
            x = torch.randn(batch, heads, length, generator=g)
            inputs[name] = torch.sigmoid(x) if name == "beta" else F.logsigmoid(x) / 16
    return inputs


def in_layout(t: torch.Tensor, layout: str) -> torch.Tensor:
    """A copy of `t` (B, H, L, ...) in `layout`, its own leaf."""
    return (t.transpose(1, 2) if layout == "fla" else t).detach().clone(memory_format=torch.contiguous_format)


class Contender:
    """One form with its own leaves (in its layout) and output weights: `step()` is a training step."""

    def __init__(self, form: Form, inputs: dict, weights: torch.Tensor):
        self.form = form
        self.leaves = {n: in_layout(t, form.layout).requires_grad_(True) for n, t in inputs.items()}
        self.weights = in_layout(weights, form.layout)

    def step(self) -> torch.Tensor:
        for leaf in self.leaves.values():
            leaf.grad = None
        o = self.form.run(**self.leaves)
        (o * self.weights).sum().backward()
        return o.detach()

    def results(self, o: torch.Tensor) -> list[torch.Tensor]:
        """The output and each gradient, back in seqmem's layout."""
        back = (lambda t: t.transpose(1, 2)) if self.form.layout == "fla" else (lambda t: t)
        return [back(o)] + [back(leaf.grad) for leaf in self.leaves.values()]


def difference(results: list[torch.Tensor], reference: list[torch.Tensor]) -> float:
    """The largest of max |a - b| / max |b| over the output and the gradients."""
    return max(((a - b).abs().max() / b.abs().max()).item() for a, b in zip(results, reference, strict=True))


def reason_to_skip(name: str, form: Form, length: int, args, seen: dict) -> str | None:
    """Why the form is not run at `length`, or None: past --step-lengths (seqmem's step-by-step form), past
    --parallel-lengths (a form quadratic in L), or its step at a shorter length, scaled by the length (squared if
    quadratic), over --limit."""
    if name == "seqmem step_by_step" and length > args.step_lengths:
        return f"past --step-lengths {args.step_lengths} (its ratio to the chunked form is mixer_speed's subject)"
    if form.quadratic and length > args.parallel_lengths:
        return f"(B, H, L, L) matrices past L={args.parallel_lengths} (--parallel-lengths)"
    if name in seen:
        shorter, warm = seen[name]
        predicted = warm * (length / shorter) ** (2 if form.quadratic else 1)
        if predicted > args.limit:
            return f"its step would take about {predicted:.0f} s (over --limit {args.limit:g} s) from {warm:.1f} s at L={shorter}"
    return None


def compare(kernel: str, spec: str, forms: dict[str, Form], length: int, args, seen: dict) -> list[dict]:
    """One kernel at one length: every form's warm-up step checked against seqmem's chunked one, then the forms
    that agree and are not skipped timed interleaved. `seen`: each form's warm-up seconds at the last length run."""
    inputs = draw(spec, args.batch, args.heads, length, args.width)
    weights = torch.randn(inputs["v"].shape, generator=torch.Generator().manual_seed(1))
    common = {"kernel": kernel, "length": length, "batch": args.batch, "heads": args.heads, "width": args.width,
              "threads": torch.get_num_threads()}
    records, timed, reference = [], {}, None
    for name, form in forms.items():
        reason = reason_to_skip(name, form, length, args, seen)
        if reason:
            records.append({"metric": "skipped", "value": None, "unit": None, "form": name, "reason": reason})
            continue
        contender = Contender(form, inputs, weights)
        try:
            tic = time.perf_counter()
            out = contender.step()
            warm = time.perf_counter() - tic
        except (RuntimeError, AssertionError, ValueError) as e:  # a form's own limits (a length it cannot take)
            records.append({"metric": "failed", "value": None, "unit": None, "form": name,
                            "error": f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"})
            continue
        seen[name] = (length, warm)
        results = contender.results(out)
        if reference is None:
            reference = results
        else:
            diff = difference(results, reference)
            records.append({"metric": "max_relative_difference", "value": diff, "unit": "ratio", "form": name,
                            "against": "seqmem chunked", "tolerance": TOLERANCE})
            if not diff <= TOLERANCE:
                records.append({"metric": "skipped", "value": None, "unit": None, "form": name,
                                "reason": f"disagrees with seqmem chunked ({diff:.2g} > {TOLERANCE})"})
                continue
        if warm > args.limit:
            records.append({"metric": "skipped", "value": None, "unit": None, "form": name,
                            "reason": f"its step took {warm:.0f} s (over --limit {args.limit:g} s)"})
            continue
        timed[name] = contender
    times = {name: [] for name in timed}
    for _, name in rotated(list(timed), args.repeats):
        times[name].append(seconds(timed[name].step))
    for name, kept in times.items():
        records.append({"metric": "step_seconds", "value": statistics.median(kept), "unit": "s", "form": name,
                        "repeats": len(kept), "warmup_seconds": seen[name][1]})
        if name != "seqmem chunked" and "seqmem chunked" in times:
            records.append({"metric": "step_time_ratio", "value": median_ratio(kept, times["seqmem chunked"]),
                            "unit": "ratio", "form": name, "numerator": name, "denominator": "seqmem chunked"})
    return [{**r, **common, "load_average": list(os.getloadavg())} for r in records]


def run(argv=None) -> int:
    parser = arguments(__doc__, NAME, quick="L = 256, batch 2, 2 heads, width 8, one round; writes nothing")
    parser.add_argument("--kernels", default=None, help="comma-separated names (default: every kernel)")
    parser.add_argument("--lengths", default="1024,4096")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--width", type=int, default=32, help="K = V a head")
    parser.add_argument("--limit", type=float, default=60.0, help="seconds a warm-up step may take to be timed")
    parser.add_argument("--step-lengths", type=int, default=1024,
                        help="time seqmem's step-by-step form up to this length")
    parser.add_argument("--parallel-lengths", type=int, default=1024,
                        help="run the forms quadratic in L up to this length")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    every = kernels()
    names = args.kernels.split(",") if args.kernels else list(every)
    for name in names:
        if name not in every:
            raise ConfigError(f"--kernels: unknown {name!r}; choose from {', '.join(every)}")
    lengths = [int(n) for n in args.lengths.split(",")]
    if args.quick:
        args.batch, args.heads, args.width, args.repeats, lengths = 2, 2, 8, 1, [256]
    lines = Lines(NAME)
    seen = {name: {} for name in names}
    for length in lengths:
        for name in names:
            spec, forms = every[name]
            lines.extend(compare(name, spec, forms, length, args, seen[name]))
    lines.add("load_average", load(), None)
    return lines.write(None if args.quick else args.out)


if __name__ == "__main__":
    main(run)
