//! The paper's figures for a sweep, as SVG and PNG (the `plotters` crate), each headed by its
//! dataset, the report's rule and what its bars are:
//! - Figure 3 style: student test accuracy against the strong ceiling's accuracy, one line per
//!   weak supervisor, ground truth (ceiling against itself) in black, one panel per loss, a
//!   bar from the lowest to the highest seed;
//! - PGR against the strong model's size, one line per weak supervisor, one panel per loss,
//!   with the PGR's 95% interval (noise-aware rules) or the spread of its runs (reference);
//! - the theory's: gain against misfit, PGR against misfit and against CAPA.
//!
//! A panel with nothing to draw says why.

mod curves;
mod ladder;
mod scatter;

use super::{Aggregate, SweepRow};
use anyhow::{Context, Result};
pub use curves::training_curves;
use ladder::draw;
use plotters::coord::Shift;
use plotters::element::ErrorBarOrientV;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use scatter::{draw_labels, draw_theory};
use std::path::{Path, PathBuf};

/// PNG text is drawn with a font embedded in the binary (DejaVu Sans, Bitstream Vera
/// licence, `assets/DejaVuSans-LICENSE.txt`), so reports look the same on every machine and
/// need no fonts installed. SVG text names the family and the viewer draws it.
fn register_font() -> Result<()> {
    static FONT: &[u8] = include_bytes!("../../../assets/DejaVuSans.ttf");
    static DONE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = DONE.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok()
    });
    anyhow::ensure!(*ok, "the embedded font could not be registered");
    Ok(())
}

type Panel<'a, DB> = DrawingArea<DB, Shift>;

fn series_color(i: usize) -> RGBColor {
    [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
    ][i % 6]
}

/// Direct (weak, strong) rows of one dataset.
fn direct<'a>(rows: &'a [SweepRow], dataset: &str) -> Vec<&'a SweepRow> {
    rows.iter()
        .filter(|r| r.dataset == dataset && r.chain.len() == 2)
        .collect()
}

/// An axis value as a label: at most four decimals (so close ticks stay distinct), no
/// trailing zeros, never "-0".
fn tick(v: &f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    match s {
        "-0" | "" => "0".into(),
        s => s.to_owned(),
    }
}

/// The spread of a row's student accuracy over its seeds (min, max): the band a figure draws.
fn student_spread(r: &SweepRow) -> (f64, f64) {
    r.per_seed
        .iter()
        .map(|s| s.student)
        .fold((r.student, r.student), |(a, b), x| (a.min(x), b.max(x)))
}

/// A row's PGR and the bar around it: the 95% interval under the noise-aware rules, the
/// spread of its runs' PGRs under the reference rule.
fn pgr_bar(r: &SweepRow) -> Option<(f64, f64, f64)> {
    let p = r.pgr?;
    let (lo, hi) = p.interval.unwrap_or_else(|| {
        r.per_seed
            .iter()
            .filter_map(|s| s.pgr(r.aggregate))
            .fold((p.value, p.value), |(a, b), x| (a.min(x), b.max(x)))
    });
    Some((p.value, lo, hi))
}

/// A vertical bar at `x` from `lo` to `hi` through `value`.
fn error_bar(
    x: f64,
    (lo, value, hi): (f64, f64, f64),
    c: RGBColor,
) -> std::iter::Once<ErrorBar<f64, f64, ErrorBarOrientV<f64, f64>>> {
    std::iter::once(ErrorBar::new_vertical(
        x,
        lo,
        value,
        hi,
        c.stroke_width(1),
        8,
    ))
}

/// A message in the middle of an empty panel, saying why it is empty.
fn empty_note<DB: DrawingBackend>(area: &Panel<DB>, why: &str) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let (w, h) = area.dim_in_pixel();
    area.draw(&Text::new(
        why.to_owned(),
        (w as i32 / 2, h as i32 / 2),
        ("sans-serif", 13)
            .into_text_style(area)
            .pos(Pos::new(HPos::Center, VPos::Center)),
    ))?;
    Ok(())
}

/// Height of one legend entry, in pixels.
const LEGEND_ROW: u32 = 18;

/// The legend in its own strip below the charts, so it never covers a line.
fn draw_legend<DB: DrawingBackend>(area: &Panel<DB>, entries: &[(String, RGBColor)]) -> Result<()>
where
    DB::ErrorType: 'static,
{
    for (i, (name, color)) in entries.iter().enumerate() {
        let y = (LEGEND_ROW / 2 + LEGEND_ROW * i as u32) as i32;
        area.draw(&PathElement::new(
            vec![(60, y), (90, y)],
            color.stroke_width(2),
        ))?;
        area.draw(&Text::new(
            name.clone(),
            (98, y),
            ("sans-serif", 13)
                .into_text_style(area)
                .pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
    }
    Ok(())
}

/// Height of the two heading lines above the panels, in pixels.
const HEADING: u32 = 44;

/// The report's rule, as a figure's heading says it.
fn rule_words(aggregate: Aggregate) -> &'static str {
    match aggregate {
        Aggregate::Reference => {
            "rule: reference (openai/weak-to-strong's notebook, baselines pooled over seeds)"
        }
        Aggregate::Pooled => "rule: pooled (accuracies averaged over a pair's seeds)",
        Aggregate::PerSeed => "rule: per-seed (mean of per-seed PGRs)",
    }
}

/// A figure's two heading lines: the dataset and what is drawn, then the rule and the bars.
fn headings(dataset: &str, aggregate: Aggregate, pgr: bool) -> [String; 2] {
    let rule = rule_words(aggregate);
    let bars = match (pgr, aggregate) {
        (false, _) => "bars: lowest to highest seed",
        (true, Aggregate::Reference) => {
            "bars: lowest to highest run PGR (no intervals under this rule)"
        }
        (true, _) => "bars: 95% interval over test examples",
    };
    let what = match pgr {
        false => "student accuracy against the strong ceiling",
        true => "PGR against the strong model's size",
    };
    [format!("{dataset}: {what}"), format!("{rule}; {bars}")]
}

/// The figures of a dataset.
#[derive(Clone, Copy)]
enum Figure {
    Accuracy,
    Pgr,
    Theory,
    /// Student accuracy against the label budget (only where a row has one).
    Labels,
}

impl Figure {
    fn name(self) -> &'static str {
        match self {
            Figure::Accuracy => "accuracy",
            Figure::Pgr => "pgr",
            Figure::Theory => "theory",
            Figure::Labels => "labels",
        }
    }
}

/// One figure on a white page under its two heading lines.
fn draw_figure<DB: DrawingBackend>(
    root: Panel<DB>,
    figure: Figure,
    rows: &[&SweepRow],
    losses: &[String],
    heading: &[String; 2],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let (top, body) = root.split_vertically(HEADING);
    for (i, (line, size)) in heading.iter().zip([16, 12]).enumerate() {
        top.draw(&Text::new(
            line.clone(),
            (12, 6 + 20 * i as i32),
            ("sans-serif", size).into_text_style(&top),
        ))?;
    }
    match figure {
        Figure::Accuracy => draw(body, rows, losses, false)?,
        Figure::Pgr => draw(body, rows, losses, true)?,
        Figure::Theory => draw_theory(body, rows)?,
        Figure::Labels => draw_labels(body, rows)?,
    }
    root.present()?;
    Ok(())
}

/// The weak supervisors of some rows, in name order: each keeps its colour in every panel.
fn weak_names(rows: &[&SweepRow]) -> Vec<String> {
    let mut weak: Vec<String> = rows.iter().map(|r| r.chain[0].clone()).collect();
    weak.sort();
    weak.dedup();
    weak
}

/// Write `<dataset>-{accuracy,pgr,theory}.{svg,png}` (and `-labels` where a row has a label
/// budget) into `out`, the dataset's
/// name made safe as a file name whatever a stored result says ([`crate::store::folder_safe`]);
/// returns the SVG paths.
pub fn write_plots(rows: &[SweepRow], out: &Path) -> Result<Vec<PathBuf>> {
    register_font()?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut datasets: Vec<&str> = rows.iter().map(|r| r.dataset.as_str()).collect();
    datasets.dedup();
    let mut written = Vec::new();
    for d in datasets {
        let rs = direct(rows, d);
        let mut losses: Vec<String> = rs.iter().map(|r| r.loss.clone()).collect();
        losses.sort();
        losses.dedup();
        let legend_rows = weak_names(&rs).len() as u32 + 1;
        let size = (
            (420 * losses.len().max(1) as u32).max(640),
            380 + HEADING + LEGEND_ROW * legend_rows + 6,
        );
        let aggregate = rs.first().map_or(Aggregate::Reference, |r| r.aggregate);
        let stem = crate::store::folder_safe(d);
        let budgets = rs.iter().any(|r| r.oracle_labels > 0);
        let figures = [
            Figure::Accuracy,
            Figure::Pgr,
            Figure::Theory,
            Figure::Labels,
        ];
        for figure in figures
            .into_iter()
            .filter(|f| budgets || !matches!(f, Figure::Labels))
        {
            let (size, heading) = match figure {
                Figure::Labels => (
                    (760, 380 + HEADING + LEGEND_ROW * rs.len() as u32 + 6),
                    [
                        format!("{d}: student accuracy against its label budget"),
                        format!(
                            "{}; bars: lowest to highest seed; dashed: the ceiling",
                            rule_words(aggregate)
                        ),
                    ],
                ),
                Figure::Theory => (
                    (1260, size.1),
                    [
                        format!("{d}: the theory's quantities, a point per student run"),
                        format!(
                            "{}; PGR as in the table's per-run column; test split",
                            rule_words(aggregate)
                        ),
                    ],
                ),
                f => (size, headings(d, aggregate, matches!(f, Figure::Pgr))),
            };
            let svg = out.join(format!("{stem}-{}.svg", figure.name()));
            let png = out.join(format!("{stem}-{}.png", figure.name()));
            // A link left at either name is replaced, not written through.
            for p in [&svg, &png] {
                if std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink()) {
                    std::fs::remove_file(p)?;
                }
            }
            let svg_area = SVGBackend::new(&svg, size).into_drawing_area();
            draw_figure(svg_area, figure, &rs, &losses, &heading)
                .with_context(|| format!("drawing {}", svg.display()))?;
            let png_area = BitMapBackend::new(&png, size).into_drawing_area();
            draw_figure(png_area, figure, &rs, &losses, &heading)
                .with_context(|| format!("drawing {}", png.display()))?;
            written.push(svg);
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Pgr, SeedValues};

    fn row(chain: [&str; 2], loss: &str, pgr: Option<Pgr>, students: &[f64]) -> SweepRow {
        SweepRow {
            dataset: "my task (pairwise)".into(),
            n_docs: 8,
            n_test_docs: 4,
            chain: chain.map(String::from).to_vec(),
            loss: loss.into(),
            aggregate: Aggregate::Pooled,
            per_seed: students
                .iter()
                .enumerate()
                .map(|(i, &s)| SeedValues {
                    seed: i as u64,
                    weak: Some(0.6),
                    ceiling: Some(0.9),
                    student: s,
                    seed_pgr: None,
                    run_pgr: None,
                    no_pgr: None,
                    diagnostics: None,
                    capa: None,
                })
                .collect(),
            seeds: vec![0, 1],
            weak: 0.6,
            ceiling: 0.9,
            student: students.iter().sum::<f64>() / students.len() as f64,
            gap: crate::metrics::Interval::exact(0.3),
            pgr,
            agreement: 0.8,
            strong_parameters: 22_700_000,
            left_out: Vec::new(),
            diagnostics: None,
            capa: None,
            oracle_labels: 0,
            method_without_budget: loss.into(),
        }
    }

    #[test]
    fn figures_name_their_dataset_rule_and_bars_and_empty_panels_say_why() {
        let out = std::env::temp_dir().join(format!("w2s-plots-{}", std::process::id()));
        let pgr = Pgr {
            value: 0.5,
            interval: Some((-0.05, 0.9)),
        };
        let rows = vec![
            row(["bow", "minilm"], "logconf", Some(pgr), &[0.70, 0.80]),
            row(["bow", "minilm"], "xent", None, &[0.74, 0.76]),
        ];
        let svgs = write_plots(&rows, &out).unwrap();
        assert_eq!(svgs.len(), 3, "accuracy, PGR and theory");
        let acc = std::fs::read_to_string(&svgs[0]).unwrap();
        let pgr = std::fs::read_to_string(&svgs[1]).unwrap();
        for svg in [&acc, &pgr] {
            assert!(svg.contains("my task (pairwise): "), "the dataset");
            assert!(svg.contains("rule: pooled"), "the rule");
            assert!(
                !svg.contains(">-0<") && !svg.contains(">-0.0<"),
                "no negative zero"
            );
        }
        assert!(acc.contains("bars: lowest to highest seed"));
        assert!(pgr.contains("bars: 95% interval over test examples"));
        // xent has no PGR: its panel says why instead of drawing empty axes.
        assert!(pgr.contains("no PGR: no measurable gap"), "{pgr}");
        std::fs::remove_dir_all(&out).unwrap();
    }

    #[test]
    fn ticks_never_show_negative_zero() {
        assert_eq!(tick(&-0.0), "0");
        assert_eq!(tick(&-0.00001), "0");
        assert_eq!(tick(&0.005), "0.005");
        assert_eq!(tick(&0.25), "0.25");
        assert_eq!(tick(&-0.5), "-0.5");
        assert_eq!(tick(&1.0), "1");
    }
}
