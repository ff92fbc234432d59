#!/usr/bin/env bash
# Build the w2s binary that scripts/gpu-check.sh runs on a lent GPU machine: that machine has
# PyTorch 2.11 (CUDA) and no Rust, so the binary is built here against libtorch 2.11 (tch 0.24,
# the tch release for it), with libtorch_cuda linked, and carried there as .gpu/w2s (ignored by
# git). There it finds that machine's torch libraries through LD_LIBRARY_PATH.
#
# Usage, from the repository root: scripts/gpu-prepare.sh
# Needs: pip's registry (the torch 2.11 wheel, about 1 GB, without its CUDA dependencies) and
# crates.io; about 3 GB of disk under $W2S_GPU_BUILD (default /tmp/w2s-gpu-build).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${W2S_GPU_BUILD:-/tmp/w2s-gpu-build}
mkdir -p "$build" "$root/.gpu"
grep -qx '/.gpu/' "$root/.git/info/exclude" 2>/dev/null || echo '/.gpu/' >> "$root/.git/info/exclude"

if [ ! -x "$build/venv/bin/python" ] || ! "$build/venv/bin/python" -c 'import torch' 2>/dev/null; then
    python3 -m venv "$build/venv"
    # The CUDA wheel (it carries libtorch_cuda.so to link against); its nvidia-* dependencies
    # are not needed to link, only to run, and the GPU machine has its own.
    "$build/venv/bin/pip" install --disable-pip-version-check --no-deps 'torch==2.11.*' numpy
fi
"$build/venv/bin/python" -c 'import torch; print("building against torch", torch.__version__)'

# A copy of the workspace on tch 0.24 / torch-sys 0.24.
rsync -a --delete --exclude target --exclude .venv --exclude models --exclude results \
    --exclude .gpu --exclude .git "$root/" "$build/src/"
sed -i -e 's/^tch = "0\.[0-9]*"/tch = "0.24"/' -e 's/^torch-sys = "0\.[0-9]*"/torch-sys = "0.24"/' \
    "$build/src/Cargo.toml"
rm -f "$build/src/Cargo.lock"
cd "$build/src"
PATH="$build/venv/bin:$PATH" LIBTORCH_USE_PYTORCH=1 LIBTORCH_BYPASS_VERSION_CHECK=1 \
    cargo build --release -p w2s-cli
cp target/release/w2s "$root/.gpu/w2s"
strip "$root/.gpu/w2s"
cp "$root/scripts/"*.py "$root/.gpu/" 2>/dev/null || true
readelf -d "$root/.gpu/w2s" | grep -E 'NEEDED.*torch'
ls -l "$root/.gpu/w2s"
echo "ready: carry .gpu and run scripts/gpu-check.sh on the GPU machine"
