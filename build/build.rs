//! Shared build script of both crates:
//! - bake libtorch's folder into the rpath of every binary and test, so `w2s` runs without the
//!   user exporting LD_LIBRARY_PATH (torch-sys publishes the folder as `DEP_TCH_LIBTORCH_LIB`);
//! - record the git commit and the libtorch version, which every `result.json` carries;
//! - for the library crate, compile `csrc/fused_adam.cpp` against libtorch's headers (the
//!   torch wheel's `torch/include`, or a standalone libtorch's `include`, beside its `lib`).
use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for f in [".git/HEAD", ".git/index"] {
        if root.join(f).exists() {
            println!("cargo:rerun-if-changed={}", root.join(f).display());
        }
    }
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(&root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    if let Some(commit) = git(&["rev-parse", "HEAD"]) {
        let dirty =
            git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
        let suffix = if dirty { "+dirty" } else { "" };
        println!("cargo:rustc-env=W2S_GIT_COMMIT={commit}{suffix}");
    }
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        // libtorch's CUDA half registers its kernels when loaded, but nothing in w2s calls it
        // by name, so the linker's as-needed default would drop it and libtorch would see no
        // GPU (tch-rs issue #980). Link it whenever this libtorch has it. It costs about 1.3 s
        // at every start with the CUDA wheel (docs/BENCHMARKS.md).
        for cuda in ["torch_cuda", "c10_cuda"] {
            if Path::new(&dir).join(format!("lib{cuda}.so")).exists() {
                println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-l{cuda},--as-needed");
            }
        }
        // The torch wheel's `torch/version.py`, or a standalone libtorch's `build-version`.
        let lib = Path::new(&dir);
        let version = std::fs::read_to_string(lib.join("../version.py"))
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("__version__ = "))
                    .map(|v| v.trim_matches(|c| c == '\'' || c == '"').to_owned())
            })
            .or_else(|| std::fs::read_to_string(lib.join("../build-version")).ok())
            .map(|v| v.trim().to_owned());
        if let Some(v) = version {
            println!("cargo:rustc-env=W2S_LIBTORCH_VERSION={v}");
        }
        if std::env::var("CARGO_PKG_NAME").as_deref() == Ok("w2s") {
            compile_fused_adam(lib);
        }
    }
}

/// The one C++ file, with the flags torch-sys compiles its own bindings with (C++17, the
/// C++11 ABI unless `LIBTORCH_CXX11_ABI` says otherwise, as torch-sys decides).
fn compile_fused_adam(lib: &Path) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("csrc/fused_adam.cpp");
    println!("cargo:rerun-if-changed={}", source.display());
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let include = lib.join("../include");
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".to_owned());
    cc::Build::new()
        .cpp(true)
        .file(&source)
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .flag_if_supported("-Wno-unused-parameter")
        .warnings(false)
        .compile("w2s_fused_adam");
}
