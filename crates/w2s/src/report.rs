//! Tables for the terminal.

use crate::experiment::Outcome;

fn pct(x: f64) -> String {
    format!("{:.1}", 100.0 * x)
}

fn pgr_cell(p: Option<f64>) -> String {
    p.map(|v| format!("{v:+.2}"))
        .unwrap_or_else(|| "n/a".into())
}

/// One row per seed plus the mean: weak, ceiling, and each student's accuracy and PGR.
pub fn outcome_table(outcomes: &[Outcome]) -> String {
    let Some(first) = outcomes.first() else {
        return String::new();
    };
    let mut header = vec!["seed".to_owned(), "weak".into(), "ceiling".into()];
    for s in &first.students {
        header.push(format!("{} acc", s.loss));
        header.push(format!("{} PGR", s.loss));
    }
    let mut rows: Vec<Vec<String>> = outcomes
        .iter()
        .map(|o| {
            let mut r = vec![o.seed.to_string(), pct(o.weak), pct(o.ceiling)];
            for s in &o.students {
                r.push(pct(s.accuracy));
                r.push(pgr_cell(s.pgr));
            }
            r
        })
        .collect();
    if outcomes.len() > 1 {
        let n = outcomes.len() as f64;
        let mean = |f: &dyn Fn(&Outcome) -> f64| outcomes.iter().map(f).sum::<f64>() / n;
        let mut r = vec![
            "mean".to_owned(),
            pct(mean(&|o| o.weak)),
            pct(mean(&|o| o.ceiling)),
        ];
        for (k, _) in first.students.iter().enumerate() {
            r.push(pct(mean(&|o| o.students[k].accuracy)));
            let pgrs: Vec<f64> = outcomes.iter().filter_map(|o| o.students[k].pgr).collect();
            r.push(pgr_cell(
                (!pgrs.is_empty()).then(|| pgrs.iter().sum::<f64>() / pgrs.len() as f64),
            ));
        }
        rows.push(r);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].len())
                .chain([header[c].len()])
                .max()
                .unwrap()
        })
        .collect();
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:>w$}"))
            .collect::<Vec<_>>()
            .join("  ")
    };
    let mut out = line(&header) + "\n";
    out += &"-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1));
    out += "\n";
    for r in &rows {
        out += &line(r);
        out += "\n";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::StudentOutcome;

    #[test]
    fn table_has_rows_and_mean() {
        let o = |seed, s| Outcome {
            seed,
            weak: 0.6,
            ceiling: 0.9,
            students: vec![StudentOutcome {
                loss: "xent".into(),
                accuracy: s,
                pgr: crate::metrics::pgr(0.6, 0.9, s),
                agreement: None,
            }],
        };
        let t = outcome_table(&[o(0, 0.75), o(1, 0.84)]);
        assert!(t.contains("xent PGR"));
        assert!(
            t.contains("+0.50") && t.contains("+0.80") && t.contains("+0.65"),
            "{t}"
        );
        assert_eq!(t.lines().count(), 5);
    }
}
