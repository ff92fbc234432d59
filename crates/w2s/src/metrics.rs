//! Accuracy, agreement and performance gap recovered.

/// Predicted class of a probability pair (ties go to class 0, like argmax).
pub fn hard(p: &[f32; 2]) -> u8 {
    (p[1] > p[0]) as u8
}

/// Share of examples whose predicted class equals the label.
pub fn accuracy(probs: &[[f32; 2]], labels: &[u8]) -> f64 {
    assert_eq!(probs.len(), labels.len());
    let right = probs
        .iter()
        .zip(labels)
        .filter(|(p, &l)| hard(p) == l)
        .count();
    right as f64 / probs.len() as f64
}

/// Share of examples on which two models predict the same class.
pub fn agreement(a: &[[f32; 2]], b: &[[f32; 2]]) -> f64 {
    assert_eq!(a.len(), b.len());
    let same = a.iter().zip(b).filter(|(x, y)| hard(x) == hard(y)).count();
    same as f64 / a.len() as f64
}

/// Performance gap recovered: (student - weak) / (ceiling - weak). Undefined (None) unless
/// the strong ceiling beats the weak supervisor, as in the paper.
pub fn pgr(weak: f64, ceiling: f64, student: f64) -> Option<f64> {
    (ceiling > weak).then(|| (student - weak) / (ceiling - weak))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accuracy_and_agreement() {
        let p = [[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]];
        assert_eq!(accuracy(&p, &[0, 1, 1]), 2.0 / 3.0);
        assert_eq!(
            agreement(&p, &[[0.6, 0.4], [0.6, 0.4], [0.7, 0.3]]),
            2.0 / 3.0
        );
    }

    #[test]
    fn pgr_cases() {
        assert_eq!(pgr(0.5, 0.75, 0.625), Some(0.5));
        assert_eq!(pgr(0.5, 0.75, 0.375), Some(-0.5));
        assert_eq!(pgr(0.6, 0.9, 0.9), Some(1.0));
        assert_eq!(pgr(0.6, 0.9, 0.6), Some(0.0));
        assert_eq!(pgr(0.7, 0.7, 0.8), None);
        assert_eq!(pgr(0.8, 0.7, 0.8), None);
    }

    proptest! {
        #[test]
        fn pgr_is_affine_in_student(w in 0.0f64..1.0, gap in 0.01f64..1.0, s in 0.0f64..1.0) {
            let c = w + gap;
            let v = pgr(w, c, s).unwrap();
            prop_assert!((w + v * (c - w) - s).abs() < 1e-9);
            prop_assert_eq!(v > 0.0, s > w);
        }
    }
}
