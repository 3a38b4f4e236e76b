#!/usr/bin/env python3
"""Runs every `metaloss` command of the README's shell blocks, shrunk to seconds (CTest `readme`).

Each command is taken as the README writes it (backslash continuations joined, the trailing
comment dropped) and shrunk: budgets (--steps, --epochs, --meta-steps, --generations,
--population, seed lists) become tiny, placeholders become real things (FILE: a loss file the
earlier commands made; `...`: the search command above it; `a|b|c` values: one run each; `[x]`
optional parts: run without and with them where they can run here). It must exit 0. A command
that cannot run on this machine (MPI with 9 ranks, several GPUs) is named as skipped, with why.
A new README command with an optional part or a numeric option (above 100) that this script does
not know how to shrink fails the test, as does one that runs over 300 s.

Usage: readme_test.py PATH/TO/metaloss [README.md]
"""
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

# Options whose value is a budget, and the value a test uses.
SHRINK = {
    "--steps": "20", "--meta-steps": "2", "--generations": "2", "--population": "4", "--iterations": "2",
    "--val-tasks": "3", "--test-tasks": "5", "--test-steps": "20", "--glo-generations": "1", "--snapshots": "2",
    "--samples-per-class": "4", "--rejection-steps": "0",
}
# Numeric options that are not budgets (kept as written). Any other option with a number above
# 100 fails the test: it may be a budget this script does not know how to shrink.
NOT_BUDGETS = {"--batch-size", "--seed", "--task-seed", "--hidden", "--image-size", "--log-every"}
SEED_LISTS = {"--seeds": 2, "--test-seeds": 1}  # keep this many seeds (2: a paired test still runs)
# Added to every command of that subcommand, so the shrunk run stays small.
EXTRA = {
    "fewshot": ["--val-tasks", "3", "--test-tasks", "5", "--queries", "2", "--samples-per-class", "4", "--val-every", "1"],
    "search": ["--rejection-steps", "0"],
    "learn": ["--meta-steps", "2", "--steps", "20"],  # (AdaLFL's default is 2500 offline meta-steps)
}


def readme_commands(path):
    text = open(path, encoding="utf-8").read()
    out = []
    for block in re.findall(r"```(?:sh|bash)?\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").split("\n"):
            line = line.strip()
            if line.startswith("metaloss") or line.startswith("mpirun"):
                out.append(re.sub(r"\s+#.*$", "", line))
    return out


def shrink(words):
    """A shrunk copy of one command's words; budgets replaced, seed lists cut."""
    out = []
    i = 0
    while i < len(words):
        w = words[i]
        if w == "--epochs":  # a step budget instead: the shrunk run is --steps 20
            out += ["--steps", SHRINK["--steps"]]
            i += 2
            continue
        if w in SHRINK and i + 1 < len(words):
            out += [w, SHRINK[w]]
            i += 2
            continue
        if (w.startswith("--") and w not in NOT_BUDGETS and i + 1 < len(words)
                and re.fullmatch(r"[0-9]+", words[i + 1]) and int(words[i + 1]) > 100):
            raise SystemExit(f"readme_test: '{w} {words[i + 1]}' may be a budget this script does not shrink "
                             "(add it to SHRINK or NOT_BUDGETS)")
        if w in SEED_LISTS and i + 1 < len(words):
            out += [w, ",".join(words[i + 1].split(",")[: SEED_LISTS[w]])]
            i += 2
            continue
        out.append(w)
        i += 1
    sub = next((x for x in out[1:] if not x.startswith("-")), "")
    extra = EXTRA.get(sub, [])
    for k in range(0, len(extra), 2):  # flag, value pairs the command does not already give
        if extra[k] not in out:
            out += extra[k : k + 2]
    return out


def expand(cmd, last_search):
    """The concrete commands one README line stands for, or (None, why) when it cannot run here."""
    if cmd.startswith("mpirun"):
        return None, "MPI with 9 ranks (CTest search_mpi runs the MPI search on 2 ranks)"
    if "--devices cuda:0,cuda:1" in cmd:
        return None, "needs two GPUs (CTest device_cuda runs the CUDA device path where a GPU is present)"
    if "..." in cmd:
        if last_search is None:
            raise SystemExit(f"readme_test: '{cmd}' continues a search command, but none came before it")
        cmd = cmd.replace("metaloss search ...", last_search)
    # [optional parts]: without them, then with each alternative that runs on this machine.
    # (only outside quotes: "... @ [1, 1]" is a loss expression's weights)
    parts = re.split(r'("[^"]*")', cmd)
    bare = "".join(p if not p.startswith('"') else "" for p in parts)
    variants = ["".join(p if p.startswith('"') else re.sub(r"\s*\[[^\]]*\]", "", p) for p in parts)]
    for opt in re.findall(r"\[([^\]]*)\]", bare):
        for alt in opt.split("|"):
            alt = alt.strip()
            if alt in ("--mpi", "--device cuda"):
                continue  # (MPI and CUDA: their own tests)
            if alt == "runs":
                variants.append(variants[0] + " runs")
            elif alt == "--workers N":
                variants.append(variants[0] + " --workers 2")
            elif alt.startswith("--columns"):
                variants.append(variants[0] + " --columns generation,index,fitness")
            elif alt.startswith("-o"):
                variants.append(variants[0] + " -o exported.csv")
            else:
                raise SystemExit(f"readme_test: does not know how to run the optional part [{opt}] of '{cmd}'")
    # value alternatives a|b|c: one run each without the optional parts; with an optional part,
    # the first alternative only (the columns of one table are not another's).
    out = []
    for k, v in enumerate(variants):
        runs = [[]]
        for w in shlex.split(v):
            alts = w.split("|") if "|" in w and "(" not in w else [w]
            runs = [r + [a] for r in runs for a in (alts if k == 0 else alts[:1])]
        out += runs
    return out, None


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    binary = os.path.abspath(sys.argv[1])
    readme = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "README.md")
    work = tempfile.mkdtemp(prefix="metaloss-readme-")
    passed = failed = skipped = 0
    try:
        # What the README's commands refer to without making it themselves.
        with open(os.path.join(work, "run.json"), "w") as f:
            f.write('{"model": "logistic", "steps": 20, "batch_size": 64}\n')
        prelude = [["metaloss", "search", "--method", "evomal", "--model", "logistic", "--generations", "1",
                    "--population", "4", "--steps", "20", "--meta-steps", "2", "--rejection-steps", "0",
                    "--out", "runs/search-evomal"]]
        last_search = None
        commands = readme_commands(readme)
        if len(commands) < 10:
            print(f"FAIL: found only {len(commands)} metaloss commands in {readme}")
            return 1
        todo = [(" ".join(p), [p]) for p in prelude]
        for cmd in commands:
            runs, why = expand(cmd, last_search)
            if runs is None:
                print(f"SKIP: {cmd}\n      ({why})")
                skipped += 1
                continue
            if cmd.startswith("metaloss search"):
                last_search = re.sub(r"\s+--out\s+\S+", "", cmd)
            todo.append((cmd, [shrink(r) for r in runs]))
        for cmd, runs in todo:
            for words in runs:
                words = [binary if w == "metaloss" else w for w in words]
                words = [os.path.join(work, "runs/tg-lenet5/best_loss.safetensors") if w == "FILE" else w for w in words]
                shown = " ".join(shlex.quote(w) for w in words).replace(binary, "metaloss")
                try:
                    p = subprocess.run(words, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                       timeout=300)
                except subprocess.TimeoutExpired:
                    failed += 1
                    print(f"FAIL (over 300 s: not shrunk enough?): {shown}\n  README: {cmd}")
                    continue
                if p.returncode == 0:
                    passed += 1
                else:
                    failed += 1
                    tail = "\n".join("    " + line for line in p.stdout.strip().split("\n")[-6:])
                    print(f"FAIL (exit {p.returncode}): {shown}\n  README: {cmd}\n{tail}")
        print(f"readme_test: {passed} passed, {failed} failed, {skipped} skipped (commands of {readme})")
        return 1 if failed else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
