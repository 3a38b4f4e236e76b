#!/usr/bin/env bash
# Installs the Debian packages metaloss builds against, when missing. Run as root (CI does);
# as another user it only reports what is missing.
set -euo pipefail
pkgs=(build-essential cmake doctest-dev libopenblas-dev zlib1g-dev pkg-config libcli11-dev dataset-fashion-mnist
      libsqlite3-dev  # the run store of `metaloss search`
      libginac-dev  # symbolic simplification of learned losses (optional: METALOSS_GINAC)
      libpng-dev libjpeg-dev python3-kanjidraw  # few-shot data: image folders, the Kanji stroke set
      libopenmpi-dev openmpi-bin  # `mpirun -np N metaloss search --mpi` (optional: METALOSS_MPI)
      gnuplot-nox  # gnuplot: learned-loss plots of `metaloss learn` (optional at run time)
      python3-sklearn)  # the Boston and Diabetes CSVs: the regression tests and examples need them
# Extra packages for optional parts, by flag: --bench (Google Benchmark, PyTorch peer), --fuzz (clang).
for arg in "$@"; do
  case "$arg" in
    --bench) pkgs+=(libbenchmark-dev python3-torch python3-numpy) ;;
    --fuzz) pkgs+=(clang) ;;  # scripts/fuzz.sh: libFuzzer + ASan/UBSan
    --data) ;;  # kept for old command lines: python3-sklearn is now always installed
    *) echo "install-deps.sh: unknown option '$arg' (expected --bench, --fuzz or --data)" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps.sh: missing packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "install-deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
