#!/usr/bin/env bash
# make bench-peer: pba's training throughput and memory against PyTorch (CPU) on the same WRN,
# measured in the same run. See bench/README.md.
#
#   bash bench/peer.sh [--steps N] [--warmup N] [--rounds N] [--models wrn-10-1,...] [--forms pba,zagoruyko] [--threads 1,2] [--isa avx2]
#
# Default: every model the presets and the regime study train (WRN-10-1, WRN-16-1, WRN-16-2,
# WRN-28-2, WRN-40-2), both architecture forms, 1 and 2 threads: the table issue 13 asks for.
#
# --rounds N (default 1) measures both sides N times, alternately (all of pba's configurations,
# then all of PyTorch's, then again), and the final table takes each side's median over the rounds
# with the range of the per-round ratios beside it: on a VM whose speed drifts by 10-30 % over
# minutes, one round's ratio for a small model can move by more than the goal's margin.
#
# --isa avx2 limits both sides to AVX2 on an AVX-512 machine (pba: PBA_KERNELS=avx2; PyTorch:
# ONEDNN_MAX_CPU_ISA=AVX2, ATEN_CPU_CAPABILITY=avx2): the instruction set of an AVX2-only CPU, not
# its caches or clock; measure on such a CPU where you have one.
#
# Environment:
#   PEER_TORCH_VERSION  pinned torch version from PyPI (default below)
#   PEER_TORCH_WHEEL    a local torch wheel file to install instead (e.g. a CPU-only build), with
#                       --no-deps plus torch's pure-Python dependencies
#   PEER_VENV           the venv folder (default .venv-peer, git-ignored)
#   PYTHON              the interpreter that creates the venv (default python3)
#   PEER_NO_BUILD       set: time the existing .build/release/pba instead of building it first
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

TORCH_VERSION=${PEER_TORCH_VERSION:-2.13.0}
NUMPY_VERSION=2.4.6   # only so that torch does not warn "Failed to initialize NumPy"
VENV=${PEER_VENV:-$ROOT/.venv-peer}
PYTHON=${PYTHON:-python3}
OUT=$ROOT/bench/out
STEPS=20
WARMUP=3
MODELS=wrn-10-1,wrn-16-1,wrn-16-2,wrn-28-2,wrn-40-2
FORMS=pba,zagoruyko
THREADS=1,2
ISA=
ROUNDS=1

usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --steps)   STEPS=$2; shift 2 ;;
    --warmup)  WARMUP=$2; shift 2 ;;
    --models)  MODELS=$2; shift 2 ;;
    --forms)   FORMS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --rounds)  ROUNDS=$2; shift 2 ;;
    --isa)     ISA=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "peer.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

# glibc keeps freed blocks up to 32 MiB in the heap instead of returning them to the kernel: PyTorch
# allocates every activation afresh, and where a page fault is expensive (a microVM that reports
# freed pages to its host) mmap/munmap per tensor made its ReLU 4x slower here and its training
# step 20% slower. The same setting for both sides; PyTorch's CPU guides recommend a caching
# allocator (jemalloc/tcmalloc) for the same reason. An environment that sets them already wins.
export MALLOC_MMAP_THRESHOLD_=${MALLOC_MMAP_THRESHOLD_:-33554432} MALLOC_TRIM_THRESHOLD_=${MALLOC_TRIM_THRESHOLD_:-4294967296}

case "$ROUNDS" in ''|*[!0-9]*|0) echo "peer.sh: --rounds takes a positive whole number, got '$ROUNDS'" >&2; exit 2 ;; esac

case "$ISA" in
  "") ;;
  avx2) export PBA_KERNELS=avx2 ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2
        echo "instruction sets limited to AVX2 on both sides (PBA_KERNELS, ONEDNN_MAX_CPU_ISA, ATEN_CPU_CAPABILITY)" ;;
  *) echo "peer.sh: --isa takes avx2 (or leave it out for the CPU's best)" >&2; exit 2 ;;
esac

# --- 1. the venv with a pinned torch (idempotent) -------------------------------------------
# torch's pure-Python dependencies, for the --no-deps install of a local wheel.
PURE_DEPS=(filelock 'setuptools>=77.0.3' 'typing-extensions>=4.10.0' 'sympy>=1.13.3' 'networkx>=2.5.1' jinja2 'fsspec>=0.8.5')
if [ -n "${PEER_TORCH_WHEEL:-}" ]; then
  WANT="wheel $(basename "$PEER_TORCH_WHEEL") numpy==$NUMPY_VERSION"
else
  WANT="pypi torch===$TORCH_VERSION numpy==$NUMPY_VERSION"
fi
STAMP=$VENV/.peer-torch
if [ -x "$VENV/bin/python" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$WANT" ] \
   && "$VENV/bin/python" -c 'import torch' 2>/dev/null; then
  echo "peer venv: $VENV ($WANT) present"
else
  echo "peer venv: creating $VENV with $WANT"
  start=$(date +%s)
  rm -f "$STAMP"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off)
  if [ -n "${PEER_TORCH_WHEEL:-}" ]; then
    "${PIP[@]}" --no-deps "$PEER_TORCH_WHEEL"
    "${PIP[@]}" "${PURE_DEPS[@]}" "numpy==$NUMPY_VERSION"
  else
    # '===' (exact string match) keeps pip from taking a local-version build such as 2.13.0+cpu
    # from a find-links folder: this is PyPI's torch, the CUDA build, with its nvidia-* wheels.
    # A --no-deps install of that wheel does not import (libtorch_cuda needs libcudart, cuBLAS...).
    "${PIP[@]}" "torch===$TORCH_VERSION" "numpy==$NUMPY_VERSION"
  fi
  "$VENV/bin/python" -c 'import torch' # fail here, not in the middle of the benchmark
  echo "$WANT" > "$STAMP"
  echo "peer venv: installed in $(( $(date +%s) - start )) s, $(du -sh "$VENV" | cut -f1) on disk"
fi
VPY=$VENV/bin/python

"$VPY" - <<'EOF'
import torch
print(f"torch {torch.__version__} from {torch.__file__.rsplit('/', 2)[0]}")
print(torch.__config__.show())
print(f"torch.get_num_threads() = {torch.get_num_threads()} (each configuration sets its own)")
print(f"CUDA available: {torch.cuda.is_available()} (the benchmark runs on the CPU)")
EOF

# --- 2. ours ------------------------------------------------------------------------------
if [ -n "${PEER_NO_BUILD:-}" ] && [ -x .build/release/pba ]; then echo "pba: using the existing .build/release/pba (PEER_NO_BUILD)"
else swift build -c release --product pba 2>&1 | tail -1; fi
mkdir -p "$OUT"
echo
# One process per configuration, as on the PyTorch side: in one process a later model's peak can
# fall inside memory the allocator kept from an earlier one (it then reads as ~0 MB).
NAMES=()  # as pba names them: wrn-D-K (PBA's form), wrn-D-K-zagoruyko
for f in ${FORMS//,/ }; do
  case "$f" in pba|zagoruyko) ;; *) echo "peer.sh: --forms takes pba and/or zagoruyko, got '$f'" >&2; exit 2 ;; esac
  for m in ${MODELS//,/ }; do
    if [ "$f" = pba ]; then NAMES+=("$m"); else NAMES+=("$m-zagoruyko"); fi
  done
done
OURS_FILES=() TORCH_FILES=()
for round in $(seq 1 "$ROUNDS"); do
  tag=""; [ "$ROUNDS" -gt 1 ] && { tag="-r$round"; echo "=== round $round of $ROUNDS"; }
  rm -f "$OUT"/pba-c-*.json
  for t in ${THREADS//,/ }; do
    for f in ${FORMS//,/ }; do
      for m in ${MODELS//,/ }; do
        .build/release/pba bench engine --form "$f" --threads "$t" --models "$m" \
          --steps "$STEPS" --warmup "$WARMUP" --json "$OUT/pba-c-$t-$f-$m.json"
      done
    done
  done
  "$VPY" -c 'import json, sys; json.dump([r for f in sys.argv[2:] for r in json.load(open(f))], open(sys.argv[1], "w"), indent=2)' \
    "$OUT/pba$tag.json" "$OUT"/pba-c-*.json
  rm -f "$OUT"/pba-c-*.json

  # --- 3. PyTorch, same models and settings; checks parameter counts against ours; the table ----
  echo
  "$VPY" bench/peer_wrn.py run --threads "$THREADS" --models "$(IFS=,; echo "${NAMES[*]}")" --steps "$STEPS" --warmup "$WARMUP" \
    --ours "$OUT/pba$tag.json" --json "$OUT/torch$tag.json"
  OURS_FILES+=("$OUT/pba$tag.json"); TORCH_FILES+=("$OUT/torch$tag.json")
done
if [ "$ROUNDS" -gt 1 ]; then
  echo
  echo "=== all $ROUNDS rounds"
  "$VPY" bench/peer_wrn.py table --ours "$(IFS=,; echo "${OURS_FILES[*]}")" --torch "$(IFS=,; echo "${TORCH_FILES[*]}")"
fi
echo "results: ${OURS_FILES[*]} ${TORCH_FILES[*]}"
