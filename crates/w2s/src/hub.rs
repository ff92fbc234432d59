//! What model and dataset downloads share: the Hugging Face cache folder and the offline
//! switch, read the way `huggingface_hub` reads them, so that Python and w2s share one cache.

use hf_hub::Cache;

/// The cache folder: `HF_HUB_CACHE`, else `HF_HOME/hub`, else `~/.cache/huggingface/hub`.
pub fn cache() -> Cache {
    if let Ok(dir) = std::env::var("HF_HUB_CACHE") {
        return Cache::new(dir.into());
    }
    Cache::from_env()
}

/// `HF_HUB_OFFLINE` set to a true value (`1`, `true`, `yes`, `on`, any case), as
/// `huggingface_hub` parses it: use the cache only, never download.
pub fn offline() -> bool {
    std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| is_true(&v))
}

/// `huggingface_hub`'s reading of a boolean environment variable.
fn is_true(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn offline_values_read_as_huggingface_hub_reads_them() {
        for v in ["1", "true", "TRUE", "yes", "Yes", "on", " 1 "] {
            assert!(super::is_true(v), "{v}");
        }
        for v in ["0", "false", "no", "", "off"] {
            assert!(!super::is_true(v), "{v}");
        }
    }
}
