//! The device a run trains on, at the bottom of the crate: names (`auto`, `cpu`, `cuda:N`,
//! `mps`), whether bf16 arithmetic is native there, and its memory (the CPU's from `/proc`,
//! a GPU's from the CUDA runtime that libtorch loaded, capped by `W2S_MEMORY_LIMIT`).

use anyhow::{bail, Result};
use tch::Device;

/// Keep the host memory a step frees for the next step's allocations instead of handing it
/// back to the system. A training step frees and allocates the same hundreds of megabytes of
/// activations; with glibc's defaults (blocks from 128 KB up mapped and unmapped, the heap's
/// top trimmed past 128 KB) every step faults those pages in and zeroes them again: 8-15% of a
/// SmolLM2 step on the CPU (docs/BENCHMARKS.md). Every block now comes from the heap (none
/// is mapped on its own: some freed each step, such as the embedding's gradient, are over the
/// 32 MB a threshold can reach), and the heap is trimmed only past 2 GB free. The peak is
/// unchanged; memory freed after it stays with the process until it exits, which is why the
/// whole-process front ends call this (the `w2s` binary and the Python package's `w2s`
/// command, so also sweep workers) and the Python module's functions, which live in the user's
/// interpreter, do not. Returns whether the allocator took both settings (elsewhere than
/// glibc, nothing is set: false).
pub fn keep_freed_host_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called at startup, before any thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX) == 1
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    false
}

/// `auto`, `cpu`, `cuda`, `cuda:N` or `mps`. `auto` is the first CUDA device if libtorch
/// sees one, else Apple's MPS if present, else the CPU.
pub fn parse_device(s: &str) -> Result<Device> {
    let d = match s {
        "auto" if tch::Cuda::is_available() => Device::Cuda(0),
        "auto" if tch::utils::has_mps() => Device::Mps,
        "auto" | "cpu" => Device::Cpu,
        "cuda" => Device::Cuda(0),
        "mps" if tch::utils::has_mps() => Device::Mps,
        "mps" => bail!(
            "device `mps` asked for, but libtorch sees no Apple GPU (MPS) here; use auto or cpu"
        ),
        _ => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(n)) => Device::Cuda(n),
            _ => bail!("unknown device `{s}`: use auto, cpu, cuda, cuda:N or mps"),
        },
    };
    if let Device::Cuda(n) = d {
        let available = tch::Cuda::device_count() as usize;
        if n >= available {
            bail!("device `{s}` asked for, but libtorch sees {available} CUDA device(s)");
        }
    }
    Ok(d)
}

/// Whether mixed precision is the default on `device`: where bf16 matmuls are native and
/// faster than f32, that is CUDA GPUs from Ampere on and CPUs with AVX-512 BF16 or AMX
/// (MiniLM's training 1.4x faster on this project's CPU, accuracies unchanged; see
/// docs/BENCHMARKS.md). Elsewhere (older GPUs, other CPUs, MPS) bf16 is emulated or slow.
pub fn mixed_precision_pays(device: Device) -> bool {
    match device {
        Device::Cuda(i) => cuda_capability(i).is_some_and(|major| major >= 8),
        Device::Cpu => std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|info| {
            info.lines()
                .find(|l| l.starts_with("flags"))
                .is_some_and(|l| {
                    l.split_whitespace()
                        .any(|f| f == "avx512_bf16" || f == "amx_bf16")
                })
        }),
        _ => false,
    }
}

/// Memory the device has free now: the CPU's available memory (`MemAvailable`), or the
/// GPU's free memory as CUDA reports it. `None` where it cannot be read.
pub fn free_bytes(device: tch::Device) -> Option<u64> {
    match device {
        tch::Device::Cpu => meminfo("MemAvailable:"),
        tch::Device::Cuda(i) => cuda_memory(i).map(|(free, _)| free),
        _ => None,
    }
}

/// The memory a run may use: the machine's RAM or the GPU's, or `W2S_MEMORY_LIMIT` (e.g.
/// `12GB`) where that is less: a share of a GPU that others use too, or room kept free on a
/// laptop. Runs that would need more are refused before they start.
pub fn total_bytes(device: tch::Device) -> Option<u64> {
    let device_total = match device {
        tch::Device::Cpu => meminfo("MemTotal:"),
        tch::Device::Cuda(i) => cuda_memory(i).map(|(_, total)| total),
        _ => None,
    };
    match std::env::var("W2S_MEMORY_LIMIT") {
        Ok(v) => match parse_bytes(&v) {
            Some(limit) => Some(device_total.map_or(limit, |t| t.min(limit))),
            None => {
                tracing::warn!(
                    "W2S_MEMORY_LIMIT={v:?} is not a size such as 12GB, 800MB or 2GiB: ignored"
                );
                device_total
            }
        },
        Err(_) => device_total,
    }
}

/// The device as refusals name it, saying when `W2S_MEMORY_LIMIT` caps its memory.
pub fn device_name(device: tch::Device) -> String {
    match std::env::var_os("W2S_MEMORY_LIMIT") {
        Some(_) => format!("{device:?} (capped by W2S_MEMORY_LIMIT)"),
        None => format!("{device:?}"),
    }
}

/// `12GB`, `800 MB`, `2GiB`, `1.5G` or plain bytes.
pub fn parse_bytes(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024f64.powi(2),
        "gib" => 1024f64.powi(3),
        "tib" => 1024f64.powi(4),
        _ => return None,
    };
    Some((number * scale) as u64)
}

fn meminfo(key: &str) -> Option<u64> {
    proc_bytes("/proc/meminfo", key)
}

/// A `key: N kB` line of a Linux `/proc` file, in bytes.
pub fn proc_bytes(file: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(file).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// A function of the CUDA runtime that libtorch loaded, looked up by name (tch does not
/// expose these); `None` without one.
fn cuda_runtime(name: &str) -> Option<*mut libc::c_void> {
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: dlsym with RTLD_DEFAULT and a valid C string; a null result means absent.
    let f = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    (!f.is_null()).then_some(f)
}

/// (free, total) bytes of CUDA device `index` (`cudaMemGetInfo`).
fn cuda_memory(index: usize) -> Option<(u64, u64)> {
    type GetDevice = unsafe extern "C" fn(*mut i32) -> i32;
    type SetDevice = unsafe extern "C" fn(i32) -> i32;
    type MemGetInfo = unsafe extern "C" fn(*mut usize, *mut usize) -> i32;
    let (get, set, info) = (
        cuda_runtime("cudaGetDevice")?,
        cuda_runtime("cudaSetDevice")?,
        cuda_runtime("cudaMemGetInfo")?,
    );
    // SAFETY: the symbols are the CUDA runtime's, with these C signatures; the previous
    // device is restored.
    unsafe {
        let get: GetDevice = std::mem::transmute(get);
        let set: SetDevice = std::mem::transmute(set);
        let info: MemGetInfo = std::mem::transmute(info);
        let mut previous = 0;
        if get(&mut previous) != 0 || set(index as i32) != 0 {
            return None;
        }
        let (mut free, mut total) = (0usize, 0usize);
        let ok = info(&mut free, &mut total) == 0;
        set(previous);
        ok.then_some((free as u64, total as u64))
    }
}

/// The major compute capability of CUDA device `index` (8 for Ampere, 9 for Hopper).
pub fn cuda_capability(index: usize) -> Option<i32> {
    type GetAttribute = unsafe extern "C" fn(*mut i32, i32, i32) -> i32;
    const COMPUTE_CAPABILITY_MAJOR: i32 = 75; // cudaDevAttrComputeCapabilityMajor
    let get = cuda_runtime("cudaDeviceGetAttribute")?;
    // SAFETY: the CUDA runtime's cudaDeviceGetAttribute(int*, cudaDeviceAttr, int).
    unsafe {
        let get: GetAttribute = std::mem::transmute(get);
        let mut major = 0;
        (get(&mut major, COMPUTE_CAPABILITY_MAJOR, index as i32) == 0).then_some(major)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_decimal_and_binary_units() {
        assert_eq!(parse_bytes("12GB"), Some(12_000_000_000));
        assert_eq!(parse_bytes(" 800 MB "), Some(800_000_000));
        assert_eq!(parse_bytes("2GiB"), Some(2 * 1024 * 1024 * 1024));
        assert_eq!(parse_bytes("1.5g"), Some(1_500_000_000));
        assert_eq!(parse_bytes("4096"), Some(4096));
        assert_eq!(parse_bytes("12 apples"), None);
        assert_eq!(parse_bytes("GB"), None);
    }

    #[test]
    fn reads_this_machines_memory() {
        let total = total_bytes(tch::Device::Cpu).unwrap();
        let free = free_bytes(tch::Device::Cpu).unwrap();
        assert!(free <= total && total > 100 << 20, "{free} / {total}");
    }

    /// glibc takes both settings (this project builds and tests on glibc Linux).
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_keeps_freed_host_memory() {
        assert!(keep_freed_host_memory());
    }

    #[test]
    fn auto_picks_what_libtorch_sees() {
        let expected = if tch::Cuda::is_available() {
            Device::Cuda(0)
        } else if tch::utils::has_mps() {
            Device::Mps
        } else {
            Device::Cpu
        };
        assert_eq!(parse_device("auto").unwrap(), expected);
        assert!(parse_device("mps").is_err() || tch::utils::has_mps());
        assert!(parse_device("tpu")
            .unwrap_err()
            .to_string()
            .contains("auto, cpu"));
    }
}
