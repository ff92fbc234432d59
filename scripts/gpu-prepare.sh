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

# The CUDA wheel, unpacked (it carries the headers and libtorch_cuda.so to link against); its
# nvidia-* dependencies are needed to run, not to link, and the GPU machine has its own.
if [ ! -f "$build/torch/lib/libtorch_cpu.so" ]; then
    python3 -m pip download --disable-pip-version-check --no-deps -d "$build/wheels" 'torch==2.11.*'
    python3 -m zipfile -e "$build"/wheels/torch-2.11*.whl "$build/unpacked"
    rm -rf "$build/torch" && mv "$build/unpacked/torch" "$build/torch" && rm -rf "$build/unpacked"
fi
grep -m1 '^__version__' "$build/torch/version.py"

# A copy of the workspace on tch 0.24 / torch-sys 0.24.
rm -rf "$build/src" && mkdir -p "$build/src"
(cd "$root" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) |
    (cd "$build/src" && tar -xf -)
sed -i -e 's/^tch = "0\.[0-9]*"/tch = "0.24"/' -e 's/^torch-sys = "0\.[0-9]*"/torch-sys = "0.24"/' \
    "$build/src/Cargo.toml"
rm -f "$build/src/Cargo.lock"
# The project's .cargo/config.toml points torch-sys at the .venv's torch; here LIBTORCH does.
rm -f "$build/src/.cargo/config.toml"
cd "$build/src"
# libtorch_cuda.so's own CUDA dependencies are absent here: let the link leave them to run time.
# The build folder lives beside the copy, so a second run rebuilds only what changed.
LIBTORCH="$build/torch" LIBTORCH_CXX11_ABI=1 LIBTORCH_BYPASS_VERSION_CHECK=1 \
    CARGO_TARGET_DIR="$build/target" RUSTFLAGS="-C link-arg=-Wl,--allow-shlib-undefined" \
    cargo build --release -p w2s-cli
cp "$build/target/release/w2s" "$root/.gpu/w2s"
strip "$root/.gpu/w2s"
readelf -d "$root/.gpu/w2s" | grep -E 'NEEDED.*torch'
ls -l "$root/.gpu/w2s"
echo "ready: carry .gpu and run scripts/gpu-check.sh on the GPU machine"
