//! Shared build script: bake libtorch's folder into the rpath of every binary and test
//! of the crate, so `w2s` runs without the user exporting LD_LIBRARY_PATH.
//! torch-sys publishes that folder as `DEP_TCH_LIBTORCH_LIB` (it declares `links = "tch"`).
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
