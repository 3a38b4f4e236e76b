#!/usr/bin/env python3
"""Summarises bench/accuracy/results.csv (one row per run) into the markdown table of RESULTS.md:
per model and library, test accuracy mean +- std (sample std, n-1) over seeds, and mean seconds.

Usage: python3 summarize.py results.csv > table.md   (stdlib only)
"""
import csv
import statistics
import sys

TARGET = {"lenet5": 0.89, "mlp": 0.88, "logistic": 0.83}


def main(path):
    rows = list(csv.DictReader(open(path)))
    groups = {}
    for r in rows:
        groups.setdefault((r["model"], r["library"]), []).append(r)
    print("| model | library | epochs | lr schedule | seeds | test accuracy (mean ± std) | per seed | target | "
          "train s (mean) | wall s (mean) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    order = {m: i for i, m in enumerate(["lenet5", "mlp", "logistic"])}
    for (model, lib), rs in sorted(groups.items(), key=lambda kv: (order.get(kv[0][0], 9), kv[0][1])):
        rs.sort(key=lambda r: int(r["seed"]))
        accs = [float(r["test_acc"]) for r in rs]
        mean = statistics.mean(accs)
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        tgt = TARGET.get(model)
        ok = "" if tgt is None else (f">= {100 * tgt:.0f}% {'met' if mean >= tgt else 'MISSED'}")
        epochs = ",".join(sorted({r["epochs"] for r in rs}))
        sched = ",".join(sorted({r.get("schedule", "none") for r in rs}))
        print(f"| {model} | {lib} | {epochs} | {sched} | {','.join(r['seed'] for r in rs)} | "
              f"{100 * mean:.2f} ± {100 * std:.2f} % | {' / '.join(f'{100 * a:.2f}' for a in accs)} | {ok} | "
              f"{statistics.mean(float(r['train_seconds']) for r in rs):.1f} | "
              f"{statistics.mean(float(r['seconds']) for r in rs):.1f} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "results.csv")
