//! The tables as text: the per-seed table of `w2s demo` and `w2s run`, and the sweep report.

use super::medians::dataset_names;
use super::{reference, Aggregate, MedianRow, Report, SweepRow};
use crate::experiment::Outcome;

pub(super) fn pct(x: f64) -> String {
    if x.is_nan() {
        return "n/a".into();
    }
    format!("{:.1}", 100.0 * x)
}

fn pgr_cell(p: Option<f64>) -> String {
    p.map(|v| format!("{v:+.2}"))
        .unwrap_or_else(|| "n/a".into())
}

/// Fixed-width columns, right-aligned but the first `left`, under a rule of dashes.
fn aligned(header: &[String], rows: &[Vec<String>], left: usize) -> String {
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
            .enumerate()
            .map(|(i, (c, w))| match i < left {
                true => format!("{c:<w$}"),
                false => format!("{c:>w$}"),
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    let mut out = line(header) + "\n";
    out += &"-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1));
    out += "\n";
    for r in rows {
        out += &line(r);
        out += "\n";
    }
    out
}

/// One row per seed, then (over several seeds) a row of mean accuracies: weak, ceiling, and
/// each student's accuracy and PGR. PGR follows the report's default rule, openai/weak-to-
/// strong's: each seed's student against the mean weak and ceiling accuracies over the seeds,
/// and the median of those in the last row (with one seed, simply that seed's PGR).
pub fn outcome_table(outcomes: &[Outcome]) -> String {
    let Some(first) = outcomes.first() else {
        return String::new();
    };
    let mut header = vec!["seed".to_owned(), "weak".into(), "ceiling".into()];
    for s in &first.students {
        header.push(format!("{} acc", s.loss));
        header.push(format!("{} PGR", s.loss));
    }
    let weak: Vec<f64> = outcomes.iter().map(|o| o.weak).collect();
    let ceiling: Vec<f64> = outcomes.iter().map(|o| o.ceiling).collect();
    let gap = Outcome::pooled_gap(outcomes);
    let measurable = crate::metrics::measurable(&gap);
    let pgrs: Vec<(Vec<Option<f64>>, Option<f64>)> = (0..first.students.len())
        .map(|k| match measurable {
            true => {
                let students: Vec<f64> = outcomes.iter().map(|o| o.students[k].accuracy).collect();
                reference::seeds_pgr(&weak, &ceiling, &students)
            }
            false => (vec![None; outcomes.len()], None),
        })
        .collect();
    let mut rows: Vec<Vec<String>> = outcomes
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let mut r = vec![o.seed.to_string(), pct(o.weak), pct(o.ceiling)];
            for (s, (per_seed, _)) in o.students.iter().zip(&pgrs) {
                r.push(pct(s.accuracy));
                r.push(pgr_cell(per_seed[i]));
            }
            r
        })
        .collect();
    let mut out = String::new();
    if outcomes.len() > 1 {
        let n = outcomes.len() as f64;
        let mean = |f: &dyn Fn(&Outcome) -> f64| outcomes.iter().map(f).sum::<f64>() / n;
        let mut r = vec![
            "all".to_owned(),
            pct(mean(&|o| o.weak)),
            pct(mean(&|o| o.ceiling)),
        ];
        for (k, (_, median)) in pgrs.iter().enumerate() {
            r.push(pct(mean(&|o| o.students[k].accuracy)));
            r.push(pgr_cell(*median));
        }
        rows.push(r);
        out += "PGR of each seed's student against the mean weak and ceiling accuracies over the seeds; \
                `all`: mean accuracies and the median PGR (openai/weak-to-strong's rule)\n\n";
    }
    out += &aligned(&header, &rows, 0);
    if !measurable {
        out += &format!(
            "PGR n/a: {} (95% interval over test examples): the ceiling does not clearly beat the weak model\n",
            crate::metrics::no_gap_reason(&gap)
        );
    }
    out
}

/// The heading of a dataset: its name and the sizes its rows were run at.
pub(super) fn dataset_heading(rows: &[SweepRow], d: &str) -> String {
    let mut sizes: Vec<String> = rows
        .iter()
        .filter(|r| r.dataset == d)
        .map(|r| format!("{} train, {} test", r.n_docs, r.n_test_docs))
        .collect();
    sizes.sort();
    sizes.dedup();
    format!("{d} ({})", sizes.join("; "))
}

/// The sweep table's columns under `aggregate`. The seventh names what its values are: under
/// the reference rule each run's PGR against the baselines, else each seed's against its own
/// weak and ceiling runs ([`super::SeedValues`]).
pub(super) fn columns(aggregate: Aggregate) -> [&'static str; 9] {
    [
        "supervision",
        "loss",
        "weak",
        "ceiling",
        "student",
        "PGR",
        match aggregate {
            Aggregate::Reference => "PGR per run",
            _ => "PGR per seed",
        },
        "agree",
        "seeds",
    ]
}

/// "value [low, high]", the value alone without an interval, or why there is none.
fn row_pgr_cell(r: &SweepRow) -> String {
    use super::row::why;
    let reference = r.aggregate == Aggregate::Reference;
    match r.pgr {
        Some(p) => match p.interval {
            Some((lo, hi)) => format!("{:+.2} [{lo:+.2}, {hi:+.2}]", p.value),
            // The notebook's rule reports a PGR whatever the noise; say where the gap is
            // within it ([`crate::metrics::measurable`]).
            None if !crate::metrics::measurable(&r.gap) => format!("{:+.2} (noise gap)", p.value),
            None => format!("{:+.2}", p.value),
        },
        None if r.chain.first() == r.chain.last() => why::SAME_MODEL.into(),
        None if r.weak.is_nan() => missing(r).into(),
        None if reference => why::CEILING_NOT_ABOVE.into(),
        None => why::NO_MEASURABLE_GAP.into(),
    }
}

/// What a weak or ceiling cell says where the row has no value: the rule's reason.
fn missing(r: &SweepRow) -> &'static str {
    match r.aggregate {
        Aggregate::Reference => super::row::why::NO_BASELINE,
        _ => super::row::why::NOT_STORED,
    }
}

/// A row's cells, in [`columns`] order.
pub(super) fn cells(r: &SweepRow) -> [String; 9] {
    let acc = |x: f64| match x.is_nan() {
        true => missing(r).to_owned(),
        false => pct(x),
    };
    [
        r.chain.join(" -> "),
        r.loss.clone(),
        acc(r.weak),
        acc(r.ceiling),
        pct(r.student),
        row_pgr_cell(r),
        r.per_seed
            .iter()
            .map(|s| match s.pgr(r.aggregate) {
                Some(p) => format!("{p:+.2}"),
                None => s.no_pgr.unwrap_or("n/a").to_owned(),
            })
            .collect::<Vec<_>>()
            .join(" "),
        pct(r.agreement),
        format!("{}/{}", r.seeds.len(), r.per_seed.len()),
    ]
}

/// The left-out lines of a dataset's rows, each once, in order.
pub(super) fn left_out_lines<'a>(rows: impl Iterator<Item = &'a SweepRow>) -> Vec<&'a str> {
    let mut seen = std::collections::HashSet::new();
    rows.flat_map(|r| r.left_out.iter())
        .map(String::as_str)
        .filter(|l| seen.insert(*l))
        .collect()
}

/// What the medians table is over, under the report's rule.
pub(super) fn medians_heading(report: &Report) -> &'static str {
    match report.aggregate {
        super::Aggregate::Reference => "median PGR per dataset over every student run of a direct pair (weak model != strong model), seeds pooled; in brackets how many runs",
        _ => "median PGR per dataset over direct pairs (weak model != strong model) with a measurable gap, in brackets how many, and the median of those medians across datasets",
    }
}

/// The theory table's columns: the student against its supervisor on test (means over seeds),
/// and CAPA between the supervisor and the ceiling ([`crate::metrics::Diagnostics`]).
pub(super) const THEORY_COLUMNS: [&str; 10] = [
    "supervision",
    "loss",
    "misfit^2",
    "gain^2",
    "misfit KL",
    "gain xent",
    "copied",
    "corrected",
    "new",
    "CAPA w,c",
];

/// A row's theory cells, in [`THEORY_COLUMNS`] order; None for a row without diagnostics.
pub(super) fn theory_cells(r: &SweepRow) -> Option<[String; 10]> {
    let d = r.diagnostics?;
    let f = |x: f64| format!("{x:.4}");
    Some([
        r.chain.join(" -> "),
        r.loss.clone(),
        f(d.misfit_squared),
        f(d.gain_squared),
        f(d.misfit_kl),
        f(d.gain_xent),
        pct(d.copied),
        pct(d.corrected),
        pct(d.new_mistakes),
        r.capa.map_or("not stored".into(), |c| format!("{c:.3}")),
    ])
}

/// The theory's check over a dataset's student runs: the correlation of gain with misfit
/// (squared) and how often gain >= misfit, which Charikar et al.'s Theorem 1 predicts.
pub(super) fn theory_check<'a>(rows: impl Iterator<Item = &'a SweepRow>) -> Option<String> {
    let d: Vec<crate::metrics::Diagnostics> = rows
        .filter(|r| r.chain.first() != r.chain.last())
        .flat_map(|r| r.per_seed.iter().filter_map(|s| s.diagnostics))
        .collect();
    if d.is_empty() {
        return None;
    }
    let misfit: Vec<f64> = d.iter().map(|x| x.misfit_squared).collect();
    let gain: Vec<f64> = d.iter().map(|x| x.gain_squared).collect();
    let holds = d
        .iter()
        .filter(|x| x.gain_squared >= x.misfit_squared)
        .count();
    let r = crate::metrics::pearson(&misfit, &gain).map_or(
        "no correlation (fewer than 3 runs or no spread)".into(),
        |r| format!("correlation of gain^2 with misfit^2 {r:+.2}"),
    );
    Some(format!(
        "theory over {} student runs (weak model != strong model): {r}; gain^2 >= misfit^2 in {holds} of {}",
        d.len(),
        d.len()
    ))
}

/// The sweep report as text: the rule, a table per dataset with what was left out and why,
/// then the median PGR of each method.
pub fn sweep_table(report: &Report) -> String {
    let rows = &report.rows;
    let mut out = format!("{}\n", report.rule);
    let widths = [44, 18, 6, 8, 8, 24, 16, 6, 5];
    let line = |c: &[String]| {
        let mut s = String::new();
        for (i, (cell, w)) in c.iter().zip(widths).enumerate() {
            if i < 2 || i == 5 || i == 6 {
                s += &format!("{cell:<w$} ");
            } else {
                s += &format!("{cell:>w$} ");
            }
        }
        s.trim_end().to_owned() + "\n"
    };
    for d in dataset_names(rows) {
        out += &format!("\n## {}\n\n", dataset_heading(rows, d));
        out += &line(&columns(report.aggregate).map(String::from));
        for r in rows.iter().filter(|r| r.dataset == d) {
            out += &line(&cells(r));
        }
        let theory: Vec<[String; 10]> = rows
            .iter()
            .filter(|r| r.dataset == d)
            .filter_map(theory_cells)
            .collect();
        if !theory.is_empty() {
            out += "\nstudents against their supervisors on test (means over seeds; misfit and gain: Charikar et al. 2024, Mulgund & Pabbaraju 2025; copied/corrected/new: shares of test examples; CAPA: Goel et al. 2025, supervisor vs ceiling):\n";
            let header: Vec<String> = THEORY_COLUMNS.map(String::from).to_vec();
            let cells: Vec<Vec<String>> = theory.iter().map(|c| c.to_vec()).collect();
            out += &aligned(&header, &cells, 2);
        }
        if let Some(check) = theory_check(rows.iter().filter(|r| r.dataset == d)) {
            out += &format!("{check}\n");
        }
        let left_out = left_out_lines(rows.iter().filter(|r| r.dataset == d));
        if !left_out.is_empty() {
            out += "\nleft out of the medians or the means:\n";
            for l in left_out {
                out += &format!("  {l}\n");
            }
        }
    }
    out += &median_text(report);
    if !report.supervisor_weights.is_empty() {
        use super::weights::{weights_cells, WEIGHTS_COLUMNS, WEIGHTS_HEADING};
        out += &format!("\n## {WEIGHTS_HEADING}\n\n");
        let header: Vec<String> = WEIGHTS_COLUMNS.map(String::from).to_vec();
        let cells: Vec<Vec<String>> = report
            .supervisor_weights
            .iter()
            .map(|r| weights_cells(r).to_vec())
            .collect();
        out += &aligned(&header, &cells, 5);
    }
    if !report.not_reported.is_empty() {
        out += "\n## run folders not in this report\n\n";
        for n in &report.not_reported {
            out += &format!("  {}: {}\n", n.folder.display(), n.why);
        }
    }
    out
}

fn median_text(report: &Report) -> String {
    let medians: &[MedianRow] = &report.medians;
    let across = report.aggregate != super::Aggregate::Reference;
    let mut out = format!("\n## {}\n\n", medians_heading(report));
    let Some(first) = medians.first() else {
        return out;
    };
    out += &format!("{:<18}", "loss");
    for d in &first.per_dataset {
        out += &format!(" {:>16}", d.dataset);
    }
    if across {
        out += &format!(" {:>16}", "across datasets");
    }
    out += "\n";
    for m in medians {
        out += &format!("{:<18}", m.loss);
        for d in &m.per_dataset {
            out += &format!(" {:>16}", median_cell(d));
        }
        if across {
            out += &format!(" {:>16}", across_cell(m));
        }
        out += "\n";
    }
    out
}

pub(super) fn median_cell(d: &super::DatasetMedian) -> String {
    match d.pgr {
        Some(v) => format!("{v:+.2} ({})", d.count),
        None => d.no_pgr.unwrap_or("n/a").to_owned(),
    }
}

/// The median across datasets, or why there is none.
pub(super) fn across_cell(m: &MedianRow) -> String {
    m.across_datasets
        .map_or("no dataset median".into(), |v| format!("{v:+.2}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::StudentOutcome;

    /// An outcome on 1000 test examples whose per-example results give these accuracies, the
    /// weak model's and the ceiling's mistakes on unrelated examples (two permutations).
    fn outcome(seed: u64, weak: f64, ceiling: f64, student: f64) -> Outcome {
        let right = |acc: f64, mult: usize| -> Vec<Option<f64>> {
            (0..1000)
                .map(|i| Some((((i * mult + 13) % 1000) as f64) < acc * 1000.0))
                .map(|r| r.map(|r| r as u8 as f64))
                .collect()
        };
        Outcome::new(
            seed,
            (weak, ceiling),
            vec![StudentOutcome {
                loss: "xent".into(),
                accuracy: student,
                pgr: None,
                agreement: None,
            }],
            (right(weak, 7919), right(ceiling, 104_729)),
        )
    }

    #[test]
    fn no_pgr_from_a_noise_gap() {
        // The case: a 0.2-point gap gave PGR -12.20.
        let o = outcome(0, 0.538, 0.540, 0.514);
        assert_eq!(o.students[0].pgr, None, "{:?}", o.gap);
        let t = outcome_table(&[o]);
        assert!(
            !t.contains("-12.") && t.contains("no measurable gap"),
            "{t}"
        );
        // Over seeds, the pooled gap decides: three noise gaps are still noise.
        let t = outcome_table(&[
            outcome(0, 0.538, 0.540, 0.514),
            outcome(1, 0.540, 0.542, 0.600),
            outcome(2, 0.530, 0.533, 0.500),
        ]);
        assert!(t.contains("no measurable gap"), "{t}");
        let rows: Vec<&str> = t
            .lines()
            .filter(|l| l.starts_with("   ") || l.starts_with(" all"))
            .collect();
        assert_eq!(rows.len(), 4, "{t}");
        assert!(rows.iter().all(|l| l.ends_with("n/a")), "{t}");
    }

    fn report(rows: Vec<SweepRow>, aggregate: Aggregate) -> Report {
        Report::from_rows(rows, aggregate)
    }

    fn row(chain: &[&str], aggregate: Aggregate, left_out: &[&str]) -> SweepRow {
        use super::super::row::why;
        SweepRow {
            dataset: "t".into(),
            n_docs: 8,
            n_test_docs: 4,
            chain: chain.iter().map(|s| s.to_string()).collect(),
            loss: "xent".into(),
            aggregate,
            per_seed: vec![super::super::SeedValues {
                seed: 0,
                weak: Some(0.7),
                ceiling: Some(0.6),
                student: 0.65,
                seed_pgr: None,
                run_pgr: None,
                no_pgr: Some(why::CEILING_NOT_ABOVE),
                diagnostics: None,
                capa: None,
            }],
            seeds: Vec::new(),
            weak: 0.7,
            ceiling: 0.6,
            student: 0.65,
            gap: crate::metrics::Interval::exact(-0.1),
            pgr: None,
            agreement: 0.9,
            strong_parameters: 1,
            left_out: left_out.iter().map(|s| s.to_string()).collect(),
            diagnostics: None,
            capa: None,
            oracle_labels: 0,
            method_without_budget: "xent".into(),
        }
    }

    #[test]
    fn every_missing_number_says_why_and_each_left_out_line_shows_once() {
        let line = "a -> b xent: strong baseline 60.0 <= weak baseline 70.0";
        let t = sweep_table(&report(
            vec![
                row(&["a", "b"], Aggregate::Reference, &[line]),
                row(&["a", "b"], Aggregate::Reference, &[line]),
                row(&["a", "a"], Aggregate::Reference, &[]),
            ],
            Aggregate::Reference,
        ));
        assert!(
            t.contains("PGR per run") && !t.contains("PGR per seed"),
            "{t}"
        );
        assert_eq!(t.matches(line).count(), 1, "{t}");
        assert!(
            t.contains("ceiling<=weak") && t.contains("same model"),
            "{t}"
        );
        assert!(t.contains("all left out"), "{t}");
        assert!(!t.contains("n/a"), "{t}");
        let mut missing = row(&["a", "b"], Aggregate::Pooled, &[]);
        (missing.weak, missing.ceiling) = (f64::NAN, f64::NAN);
        let t = sweep_table(&report(vec![missing], Aggregate::Pooled));
        assert!(
            t.contains("PGR per seed") && t.contains("not stored"),
            "{t}"
        );
        assert!(t.contains("no dataset median") && !t.contains("n/a"), "{t}");
    }

    #[test]
    fn one_seed_shows_its_own_pgr() {
        let t = outcome_table(&[outcome(0, 0.6, 0.9, 0.75)]);
        assert!(t.contains("xent PGR") && t.contains("+0.50"), "{t}");
        assert_eq!(t.lines().count(), 3);
    }

    #[test]
    fn the_last_row_is_the_reference_rule() {
        // The worked case: the notebook gives median{0.444, 0.222, 1.0} = 0.444 (a
        // mean of per-seed PGRs would give 0.538).
        let t = outcome_table(&[
            outcome(0, 0.60, 0.80, 0.70),
            outcome(1, 0.62, 0.70, 0.66),
            outcome(2, 0.64, 0.90, 0.80),
        ]);
        let last = t.lines().last().unwrap();
        assert!(last.starts_with(" all") && last.ends_with("+0.44"), "{t}");
        assert!(t.contains("+0.22") && t.contains("+1.00"), "{t}");
        assert!(t.contains("openai/weak-to-strong's rule"), "{t}");
    }
}
