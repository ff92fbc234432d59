//! Numbers that must be finite: every float option goes through here where it is parsed (a
//! TOML key, a JSON keyword from Python, a flag), so NaN and infinity are errors pointing at
//! the value instead of becoming `null` in the options' JSON overlay and then the default.

use serde::{Deserialize, Deserializer};

fn check<E: serde::de::Error>(v: f64) -> Result<f64, E> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(E::custom(format!(
            "{v} is not a number w2s can use: write a finite value"
        )))
    }
}

/// `#[serde(deserialize_with = "crate::finite::deserialize")]` on an `f64` field.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    check(f64::deserialize(d)?)
}

/// The same for an `Option<f64>` field (with `#[serde(default)]`).
pub fn deserialize_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Option::<f64>::deserialize(d)?.map(check).transpose()
}

/// A flag's value (`--lr`): a finite number.
pub fn parse(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    check::<serde::de::value::Error>(v).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #[derive(Debug, serde::Deserialize)]
    struct T {
        #[serde(deserialize_with = "super::deserialize")]
        x: f64,
        #[serde(default, deserialize_with = "super::deserialize_opt")]
        y: Option<f64>,
    }

    #[test]
    fn nan_and_infinity_are_errors_where_they_are_read() {
        for bad in [
            "x = nan",
            "x = inf",
            "x = -inf",
            "x = 1.0\ny = nan",
            "x = 1.0\ny = +inf",
        ] {
            let e = toml::from_str::<T>(bad).unwrap_err().to_string();
            assert!(e.contains("finite"), "{bad}: {e}");
            assert!(e.contains("line"), "{bad}: the error names the line: {e}");
        }
        let t: T = toml::from_str("x = 1e-5").unwrap();
        assert_eq!((t.x, t.y), (1e-5, None));
        let t: T = serde_json::from_str(r#"{"x": 2, "y": 0.5}"#).unwrap();
        assert_eq!((t.x, t.y), (2.0, Some(0.5)));
        for bad in ["nan", "NaN", "inf", "-infinity", "1e400", "x"] {
            assert!(super::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(super::parse("1e-3"), Ok(1e-3));
    }
}
