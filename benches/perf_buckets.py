"""Sorts a `perf report` of a training step into where the time goes: matrix products (the
`gemm` crate's kernels), their operand packing, element-wise passes (bias, activations, g′,
loss, updates), synchronisation (the team's and rayon's hand-offs, the scheduler), memory
allocation, and the rest.

    perf record -o step.data python benches/profile_step.py ...
    perf report -i step.data --no-children --sort symbol --stdio 2>/dev/null \\
        | python benches/perf_buckets.py

Reads the report on standard input, prints one line per bucket (share of the samples) and,
with --top N, the N largest symbols of each bucket.
"""

from __future__ import annotations

import argparse
import re
import sys

# first match wins; patterns are searched in the symbol's name
BUCKETS: list[tuple[str, tuple[str, ...]]] = [
    ("packing", (r"gemm_common::simd::.*vectorize", r"pack_", r"gemm_common::pack")),
    ("products", (r"gemm_f32::", r"gemm_f64::", r"gemm_common::", r"^gemm::")),
    (
        "synchronisation",
        (
            r"deepnet::team::",
            r"rayon",
            r"crossbeam",
            r"__schedule",
            r"futex",
            r"sched_yield",
            r"do_syscall",
            r"syscall",
            r"finish_task_switch",
            r"pick_next",
            r"entry_SYSCALL",
            r"_raw_spin",
        ),
    ),
    (
        "allocation",
        (
            r"malloc",
            r"free",
            r"memalign",
            r"clear_page",
            r"page_fault",
            r"do_anonymous_page",
            r"mmap",
            r"munmap",
            r"__handle_mm_fault",
            r"unmap_page",
            r"folio",
        ),
    ),
    (
        "element-wise",
        (
            r"deepnet::activation",
            r"deepnet::loss",
            r"deepnet::optimizers",
            r"deepnet::simd",
            r"deepnet::layers::dense::param_gradients",
            r"ndarray::zip",
            r"ndarray::numeric",
            r"exp",
            r"log",
            r"softmax",
            r"memset",
            r"memmove",
            r"memcpy",
        ),
    ),
]

LINE = re.compile(r"^\s*([0-9.]+)%\s+(?:\S+\s+)*?\[[.k]\]\s+(.*?)\s*(?:-\s+-\s*)?$")


def bucket_of(symbol: str) -> str:
    for name, patterns in BUCKETS:
        if any(re.search(p, symbol) for p in patterns):
            return name
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=0, help="largest symbols shown per bucket")
    args = parser.parse_args()
    shares: dict[str, float] = {}
    symbols: dict[str, list[tuple[float, str]]] = {}
    for line in sys.stdin:
        match = LINE.match(line)
        if not match:
            continue
        share, symbol = float(match.group(1)), match.group(2)
        bucket = bucket_of(symbol)
        shares[bucket] = shares.get(bucket, 0.0) + share
        symbols.setdefault(bucket, []).append((share, symbol))
    total = sum(shares.values())
    if total == 0:
        sys.exit("no samples found: pipe `perf report --no-children --sort symbol --stdio` in")
    for name in [b for b, _ in BUCKETS] + ["other"]:
        share = shares.get(name, 0.0)
        print(f"{name:<16}{100 * share / total:6.1f}%")
        for s, sym in sorted(symbols.get(name, []), reverse=True)[: args.top]:
            print(f"    {100 * s / total:5.1f}%  {sym[:90]}")


if __name__ == "__main__":
    main()
