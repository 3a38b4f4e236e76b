#!/usr/bin/env bash
# Fails when a file includes a header of a layer above its own. The layers, bottom up:
#   kernels (cpu/, cuda/: raw compute) <- engine <- models <- meta <- apps (command line only)
# so kernels include only kernels, engine kernels and engine, and so on; apps do not include
# kernels/ at all (engine/runtime.h re-exports threads, devices, profiling). Project includes are
# quoted and rooted at the checkout ("engine/tensor.h"); system headers are not checked.
# Usage: scripts/check_layers.sh [ROOT]   (CTest `layers`)
set -uo pipefail
cd "${1:-$(dirname "$0")/..}"
rank() {
  case $1 in
    kernels) echo 0 ;; engine) echo 1 ;; models) echo 2 ;; meta) echo 3 ;; apps) echo 4 ;; *) echo -1 ;;
  esac
}
bad=0 files=0
while IFS= read -r f; do
  files=$((files + 1))
  own=$(rank "${f%%/*}")
  while IFS= read -r inc; do
    top=${inc%%/*}
    r=$(rank "$top")
    ((r < 0)) && continue  # a same-folder or third-party include
    if ((r > own)); then
      echo "layering: $f includes \"$inc\" (${top} is above ${f%%/*})"
      bad=$((bad + 1))
    elif ((own == 4 && r == 0)); then  # the command line reaches kernels through the engine
      echo "layering: $f includes \"$inc\" (apps use engine/runtime.h, not kernels/)"
      bad=$((bad + 1))
    fi
  done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
done < <(find kernels engine models meta apps -type f \( -name '*.h' -o -name '*.cpp' -o -name '*.cu' -o -name '*.inc' -o -name '*.cuh' \) | sort)
echo "check_layers: $files files, $bad upward includes"
((bad == 0))
