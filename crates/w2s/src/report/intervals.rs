//! The noise-aware rules on one row (`pooled`, `per_seed`): point values from each seed's own
//! supervisor and ceiling, then the gap's and the PGR's 95% intervals from resampling each
//! seed's test examples (the same draw for its weak, ceiling and student runs), ChaCha8-seeded.
//! A PGR is given only where the gap is measurable.

use super::row::{mean, pct, seed_values, Accuracies, Pgr, SeedRuns, SweepRow};
use super::Aggregate;
use crate::metrics::{mean_at, measured_gap, RESAMPLES};

/// PGR of per-seed accuracies under a noise-aware rule; `used` says which seeds count.
fn rule_pgr(acc: &Accuracies, used: &[bool], aggregate: Aggregate) -> Option<f64> {
    let pick: Vec<&(f64, f64, f64)> = acc.iter().zip(used).filter(|x| *x.1).map(|x| x.0).collect();
    let n = pick.len().max(1) as f64;
    let mean = |f: fn(&(f64, f64, f64)) -> f64| pick.iter().map(|x| f(x)).sum::<f64>() / n;
    match aggregate {
        Aggregate::PerSeed => {
            let v: Vec<f64> = pick
                .iter()
                .filter_map(|x| crate::metrics::pgr(x.0, x.1, x.2))
                .collect();
            (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
        }
        _ => crate::metrics::pgr(mean(|x| x.0), mean(|x| x.1), mean(|x| x.2)),
    }
}

/// A seed's runs with its supervisor and ceiling stored: (student, weak, ceiling) right/wrong
/// per test example.
struct Usable<'a> {
    run: &'a SeedRuns,
    weak: &'a [Option<f64>],
    ceiling: &'a [Option<f64>],
}

/// The seeds a noise-aware rule can use; a line in `left_out` for each other one.
fn usable_seeds<'a>(
    all: &'a [SeedRuns],
    name: &str,
    left_out: &mut Vec<String>,
) -> Vec<Usable<'a>> {
    let mut seeds = Vec::new();
    for s in all {
        match (&s.weak, &s.ceiling) {
            (Some(weak), Some(ceiling)) => seeds.push(Usable {
                run: s,
                weak,
                ceiling,
            }),
            (None, _) => left_out.push(format!(
                "{name}, seed {}: its root supervisor's run is not stored",
                s.seed
            )),
            (_, None) => left_out.push(format!(
                "{name}, seed {}: no ceiling run (its model on ground truth, same seed) is stored",
                s.seed
            )),
        }
    }
    seeds
}

/// The rule's PGR on `RESAMPLES` resamplings of each seed's test examples (the same draw for
/// its weak, ceiling and student runs), ChaCha8-seeded: the PGR's interval, from the same
/// draws as the gap's.
fn resampled_pgrs(seeds: &[Usable], used: &[bool], aggregate: Aggregate) -> Vec<f64> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut pgrs = Vec::with_capacity(RESAMPLES);
    for _ in 0..RESAMPLES {
        let acc: Accuracies = seeds
            .iter()
            .map(|u| {
                let n = u.weak.len();
                let idx: Vec<usize> = (0..n).map(|_| rng.gen_range(0..n)).collect();
                (
                    mean_at(u.weak, Some(&idx)),
                    mean_at(u.ceiling, Some(&idx)),
                    mean_at(&u.run.student, Some(&idx)),
                )
            })
            .collect();
        pgrs.extend(rule_pgr(&acc, used, aggregate));
    }
    pgrs
}

/// The (weak, ceiling, student) accuracies a row shows: the mean over the used seeds, or over
/// all when none is used (then there is no PGR, but the row still says what the runs scored).
fn shown_accuracies(point: &Accuracies, used: &[bool]) -> (f64, f64, f64) {
    let all = !used.contains(&true);
    let shown: Vec<&(f64, f64, f64)> = point
        .iter()
        .zip(used)
        .filter(|x| all || *x.1)
        .map(|x| x.0)
        .collect();
    (
        mean(shown.iter().map(|x| x.0)),
        mean(shown.iter().map(|x| x.1)),
        mean(shown.iter().map(|x| x.2)),
    )
}

/// A noise-aware rule on one row: point values, then intervals from resampling each seed's
/// test examples (the same draw for its weak, ceiling and student runs), ChaCha8-seeded.
/// Runs without a stored supervisor or ceiling are left out, saying so.
pub(super) fn interval_row(mut row: SweepRow, all: &[SeedRuns], aggregate: Aggregate) -> SweepRow {
    let name = row.name();
    let same = row.chain.first() == row.chain.last();
    row.per_seed = all.iter().map(|s| seed_values(s, same, None)).collect();
    let seeds = usable_seeds(all, &name, &mut row.left_out);
    if seeds.is_empty() {
        // Nothing to compute: the students' accuracy, and the left-out lines saying why.
        row.student = mean(all.iter().map(|s| s.accuracy));
        row.agreement = mean(all.iter().map(|s| s.agreement));
        return row;
    }
    let point: Accuracies = seeds
        .iter()
        .map(|u| {
            (
                mean_at(u.weak, None),
                mean_at(u.ceiling, None),
                mean_at(&u.run.student, None),
            )
        })
        .collect();
    let used: Vec<bool> = match aggregate {
        Aggregate::PerSeed => point.iter().map(|x| x.1 > x.0).collect(),
        _ => vec![true; seeds.len()],
    };
    for ((u, x), used) in seeds.iter().zip(&point).zip(&used) {
        if !used {
            row.left_out.push(format!(
                "{name}, seed {}: ceiling {} <= weak {}",
                u.run.seed,
                pct(x.1),
                pct(x.0)
            ));
        }
    }
    row.seeds = seeds
        .iter()
        .zip(&used)
        .filter(|x| *x.1)
        .map(|x| x.0.run.seed)
        .collect();
    (row.weak, row.ceiling, row.student) = shown_accuracies(&point, &used);
    row.agreement = mean(seeds.iter().map(|u| u.run.agreement));
    let pgr = rule_pgr(&point, &used, aggregate);
    let pairs: Vec<crate::metrics::GapSeed> = seeds.iter().map(|u| (u.weak, u.ceiling)).collect();
    row.gap = measured_gap(&pairs, &used);
    let pgrs = resampled_pgrs(&seeds, &used, aggregate);
    // PGR only where the gap is clearly above noise.
    row.pgr = pgr
        .filter(|_| crate::metrics::measurable(&row.gap))
        .map(|value| Pgr {
            value,
            interval: crate::metrics::interval_95(pgrs),
        });
    if row.pgr.is_none() && row.chain.first() == row.chain.last() {
        row.left_out.push(format!(
            "{name}: weak model = strong model (no gap by construction)"
        ));
    } else if row.pgr.is_none() && !seeds.is_empty() {
        row.left_out.push(format!(
            "{name}: {}",
            crate::metrics::no_gap_reason(&row.gap)
        ));
    }
    row
}
