//! What model and dataset downloads share: the Hugging Face cache folder, the offline switch,
//! the endpoint, the token and retries, read the way `huggingface_hub` reads them, so that
//! Python and w2s share one cache and one login.

use hf_hub::Cache;

/// Attempts per file after the first, for flaky connections.
pub const RETRIES: usize = 3;

/// Where and as whom to download: `HF_ENDPOINT` (a mirror or a private hub), `HF_TOKEN`
/// (else the token `huggingface-cli login` saved in the cache).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub endpoint: Option<String>,
    pub token: Option<String>,
}

impl Settings {
    /// From an environment lookup (`std::env::var` in use; a map in tests).
    pub fn from_lookup(
        var: impl Fn(&str) -> Option<String>,
        saved_token: Option<String>,
    ) -> Settings {
        let non_empty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        Settings {
            endpoint: non_empty(var("HF_ENDPOINT")).map(|e| e.trim_end_matches('/').to_owned()),
            token: non_empty(var("HF_TOKEN")).or(non_empty(saved_token)),
        }
    }
}

/// The download client, with the endpoint, token and retries of [`Settings`].
pub fn api() -> anyhow::Result<hf_hub::api::sync::Api> {
    let cache = cache();
    let settings = Settings::from_lookup(|k| std::env::var(k).ok(), cache.token());
    let mut builder = hf_hub::api::sync::ApiBuilder::from_cache(cache)
        .with_token(settings.token)
        .with_retries(RETRIES);
    if let Some(endpoint) = settings.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    Ok(builder.build()?)
}

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
pub fn is_true(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

#[cfg(test)]
mod tests {
    use super::Settings;

    #[test]
    fn endpoint_and_token_come_from_the_environment_then_the_saved_login() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let s = Settings::from_lookup(
            env(&[
                ("HF_ENDPOINT", "https://hf-mirror.example/"),
                ("HF_TOKEN", "hf_env"),
            ]),
            Some("hf_saved".into()),
        );
        assert_eq!(s.endpoint.as_deref(), Some("https://hf-mirror.example"));
        assert_eq!(s.token.as_deref(), Some("hf_env"));
        let s = Settings::from_lookup(env(&[("HF_TOKEN", "")]), Some("hf_saved".into()));
        assert_eq!((s.endpoint, s.token.as_deref()), (None, Some("hf_saved")));
    }

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
