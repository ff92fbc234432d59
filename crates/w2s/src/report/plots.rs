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

use super::{Aggregate, SweepRow};
use anyhow::{Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};

/// PNG text is drawn with a font embedded in the binary (DejaVu Sans, Bitstream Vera
/// licence, `assets/DejaVuSans-LICENSE.txt`), so reports look the same on every machine and
/// need no fonts installed. SVG text names the family and the viewer draws it.
fn register_font() -> Result<()> {
    static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
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

fn draw_accuracy<DB: DrawingBackend>(
    area: &Panel<DB>,
    rows: &[&SweepRow],
    loss: &str,
    weak: &[String],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    // Rows without a ceiling or a student value have no place on the axes.
    let rows: Vec<&&SweepRow> = rows
        .iter()
        .filter(|r| r.loss == loss && r.ceiling.is_finite() && r.student.is_finite())
        .collect();
    if rows.is_empty() {
        let title = ("sans-serif", 18).into_text_style(area);
        area.titled(loss, title)?;
        return empty_note(area, "no row with a stored ceiling");
    }
    let spread: Vec<(f64, f64)> = rows.iter().map(|r| student_spread(r)).collect();
    let lo = rows
        .iter()
        .zip(&spread)
        .map(|(r, s)| {
            r.ceiling
                .min(s.0)
                .min(if r.weak.is_finite() { r.weak } else { 1.0 })
        })
        .fold(1.0, f64::min)
        - 0.02;
    let hi = rows
        .iter()
        .zip(&spread)
        .map(|(r, s)| r.ceiling.max(s.1))
        .fold(0.0, f64::max)
        + 0.02;
    let mut chart = ChartBuilder::on(area)
        .caption(loss, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(lo..hi, lo..hi)?;
    chart
        .configure_mesh()
        .x_desc("strong ceiling accuracy")
        .y_desc("student test accuracy")
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .draw()?;
    // Ground truth: each strong model's ceiling against itself.
    let mut gt: Vec<(f64, f64)> = rows.iter().map(|r| (r.ceiling, r.ceiling)).collect();
    gt.sort_by(|a, b| a.0.total_cmp(&b.0));
    gt.dedup();
    chart.draw_series(LineSeries::new(gt.clone(), BLACK.stroke_width(2)))?;
    chart.draw_series(gt.iter().map(|p| Circle::new(*p, 3, BLACK.filled())))?;
    // The band across seeds: each student's lowest and highest seed.
    for (r, (a, b)) in rows.iter().zip(&spread) {
        let c = series_color(weak.iter().position(|x| *x == r.chain[0]).unwrap_or(0));
        chart.draw_series(std::iter::once(ErrorBar::new_vertical(
            r.ceiling,
            *a,
            r.student,
            *b,
            c.stroke_width(1),
            8,
        )))?;
    }
    weak_lines(
        &mut chart,
        weak,
        rows.iter()
            .map(|r| (r.chain[0].as_str(), (r.ceiling, r.student))),
    )?;
    Ok(())
}

fn draw_pgr<DB: DrawingBackend>(
    area: &Panel<DB>,
    rows: &[&SweepRow],
    loss: &str,
    weak: &[String],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let of_loss: Vec<&&SweepRow> = rows.iter().filter(|r| r.loss == loss).collect();
    let rows: Vec<(&&SweepRow, (f64, f64, f64))> = of_loss
        .iter()
        .filter(|r| r.chain[0] != r.chain[1])
        .filter_map(|r| Some((*r, pgr_bar(r)?)))
        .collect();
    if rows.is_empty() {
        let title = ("sans-serif", 18).into_text_style(area);
        area.titled(loss, title)?;
        // The cells' reason when every row gives the same one.
        let mut reasons: Vec<String> = of_loss
            .iter()
            .filter(|r| r.chain[0] != r.chain[1])
            .map(|r| super::text::cells(r)[5].clone())
            .collect();
        reasons.sort();
        reasons.dedup();
        let why = match reasons.as_slice() {
            [] => "no pair of two different models".to_owned(),
            [one] => format!("no PGR: {one}"),
            _ => "no PGR (the table says why, per row)".to_owned(),
        };
        return empty_note(area, &why);
    }
    let sizes: Vec<f64> = rows
        .iter()
        .map(|(r, _)| r.strong_parameters.max(1) as f64)
        .collect();
    let (xmin, xmax) = sizes
        .iter()
        .fold((f64::MAX, 1.0f64), |(a, b), &s| (a.min(s), b.max(s)));
    let ylo = rows.iter().map(|x| x.1 .1).fold(0.0, f64::min) - 0.1;
    let yhi = rows.iter().map(|x| x.1 .2).fold(1.0, f64::max) + 0.1;
    let mut chart = ChartBuilder::on(area)
        .caption(loss, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d((xmin * 0.7..xmax * 1.4).log_scale(), ylo..yhi)?;
    // A log axis labels only round values; label every model size instead.
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc("strong model parameters")
        .y_desc("PGR")
        .x_label_formatter(&|_| String::new())
        .y_label_formatter(&tick)
        .draw()?;
    let mut ticks = sizes.clone();
    ticks.sort_by(f64::total_cmp);
    ticks.dedup();
    let grey = RGBColor(200, 200, 200);
    for &x in &ticks {
        chart.draw_series(LineSeries::new([(x, ylo), (x, yhi)], grey))?;
        chart.draw_series(std::iter::once(Text::new(
            size_label(x),
            (x, ylo),
            ("sans-serif", 12)
                .into_text_style(chart.plotting_area())
                .pos(Pos::new(HPos::Center, VPos::Bottom)),
        )))?;
    }
    for ((r, (v, lo, hi)), &x) in rows.iter().zip(&sizes) {
        let c = series_color(weak.iter().position(|w| *w == r.chain[0]).unwrap_or(0));
        chart.draw_series(std::iter::once(ErrorBar::new_vertical(
            x,
            *lo,
            *v,
            *hi,
            c.stroke_width(1),
            8,
        )))?;
    }
    weak_lines(
        &mut chart,
        weak,
        rows.iter()
            .zip(&sizes)
            .map(|((r, (v, _, _)), &x)| (r.chain[0].as_str(), (x, *v))),
    )?;
    Ok(())
}

/// `22.7M`, `109M`, `1.5B`.
fn size_label(parameters: f64) -> String {
    if parameters >= 1e9 {
        format!("{:.1}B", parameters / 1e9)
    } else if parameters >= 1e8 {
        format!("{:.0}M", parameters / 1e6)
    } else {
        format!("{:.1}M", parameters / 1e6)
    }
}

/// One line (and its points) per weak supervisor, coloured by its place in `weak`.
fn weak_lines<'a, 'c, DB: DrawingBackend + 'c, CT>(
    chart: &mut ChartContext<'c, DB, CT>,
    weak: &[String],
    points: impl Iterator<Item = (&'a str, (f64, f64))>,
) -> Result<()>
where
    CT: CoordTranslate<From = (f64, f64)>,
    DB::ErrorType: 'static,
{
    let mut by_weak: std::collections::BTreeMap<&str, Vec<(f64, f64)>> = Default::default();
    for (w, p) in points {
        by_weak.entry(w).or_default().push(p);
    }
    for (w, mut pts) in by_weak {
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let c = series_color(weak.iter().position(|x| x == w).unwrap_or(0));
        chart.draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))?;
        chart.draw_series(pts.iter().map(|p| Circle::new(*p, 3, c.filled())))?;
    }
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

/// Student test accuracy against the number of ground-truth labels in its training set, one
/// line per supervision chain and method (without the budget), a bar from the lowest to the
/// highest seed; the ceiling of each line as a dashed level.
fn draw_labels<DB: DrawingBackend>(root: Panel<DB>, rows: &[&SweepRow]) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let mut lines: std::collections::BTreeMap<(String, String), Vec<&SweepRow>> =
        Default::default();
    for r in rows.iter().filter(|r| r.student.is_finite()) {
        lines
            .entry((r.chain.join(" -> "), r.method_without_budget.clone()))
            .or_default()
            .push(r);
    }
    let spread: Vec<(f64, f64)> = rows.iter().map(|r| student_spread(r)).collect();
    let lo = spread.iter().map(|s| s.0).fold(1.0, f64::min) - 0.02;
    let hi = rows
        .iter()
        .map(|r| {
            if r.ceiling.is_finite() {
                r.ceiling
            } else {
                0.0
            }
        })
        .chain(spread.iter().map(|s| s.1))
        .fold(0.0, f64::max)
        + 0.02;
    let max_n = rows
        .iter()
        .map(|r| r.oracle_labels)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let legend: Vec<(String, RGBColor)> = lines
        .keys()
        .enumerate()
        .map(|(i, (chain, method))| (format!("{chain} {method}"), series_color(i)))
        .collect();
    let (_, height) = root.dim_in_pixel();
    let (area, strip) =
        root.split_vertically(height.saturating_sub(LEGEND_ROW * legend.len() as u32 + 6));
    let mut chart = ChartBuilder::on(&area)
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(-0.03 * max_n..max_n * 1.05, lo..hi)?;
    chart
        .configure_mesh()
        .x_desc("ground-truth labels in the student's training set (oracle_labels)")
        .y_desc("student test accuracy")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&tick)
        .draw()?;
    for (i, rs) in lines.values().enumerate() {
        let c = series_color(i);
        let mut pts: Vec<(f64, f64)> = rs
            .iter()
            .map(|r| (r.oracle_labels as f64, r.student))
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart.draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))?;
        chart.draw_series(pts.iter().map(|p| Circle::new(*p, 3, c.filled())))?;
        for r in rs {
            let (a, b) = student_spread(r);
            let x = r.oracle_labels as f64;
            chart.draw_series(std::iter::once(ErrorBar::new_vertical(
                x,
                a,
                r.student,
                b,
                c.stroke_width(1),
                8,
            )))?;
        }
        if let Some(ceiling) = rs.iter().map(|r| r.ceiling).find(|c| c.is_finite()) {
            chart.draw_series(DashedLineSeries::new(
                [(0.0, ceiling), (max_n, ceiling)],
                6,
                4,
                c.stroke_width(1),
            ))?;
        }
    }
    draw_legend(&strip, &legend)?;
    Ok(())
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

fn draw<DB: DrawingBackend>(
    root: Panel<DB>,
    rows: &[&SweepRow],
    losses: &[String],
    pgr: bool,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let weak = weak_names(rows);
    let mut legend: Vec<(String, RGBColor)> = Vec::new();
    if !pgr {
        legend.push(("ground truth (ceiling)".into(), BLACK));
    }
    // Colours follow `weak` in both figures; the legend names those this figure draws.
    let drawn: Vec<&&SweepRow> = rows
        .iter()
        .filter(|r| !pgr || (r.pgr.is_some() && r.chain[0] != r.chain[1]))
        .collect();
    legend.extend(
        weak.iter()
            .enumerate()
            .filter(|(_, w)| drawn.iter().any(|r| &r.chain[0] == *w))
            .map(|(i, w)| (format!("weak: {w}"), series_color(i))),
    );
    let legend_height = LEGEND_ROW * legend.len() as u32 + 6;
    let (_, height) = root.dim_in_pixel();
    let (charts, strip) = root.split_vertically(height.saturating_sub(legend_height));
    let panels = charts.split_evenly((1, losses.len().max(1)));
    for (panel, loss) in panels.iter().zip(losses) {
        if pgr {
            draw_pgr(panel, rows, loss, &weak)?;
        } else {
            draw_accuracy(panel, rows, loss, &weak)?;
        }
    }
    draw_legend(&strip, &legend)?;
    Ok(())
}

/// One panel of the theory figure: a point per student run, coloured by its weak supervisor,
/// the correlation in the caption, and the diagonal y = x where `diagonal`.
fn scatter<DB: DrawingBackend>(
    area: &Panel<DB>,
    points: &[(usize, f64, f64)],
    (x_desc, y_desc): (&str, &str),
    diagonal: bool,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let xs: Vec<f64> = points.iter().map(|p| p.1).collect();
    let ys: Vec<f64> = points.iter().map(|p| p.2).collect();
    let caption = match crate::metrics::pearson(&xs, &ys) {
        Some(r) => format!("{y_desc} vs {x_desc}: r = {r:+.2}, n = {}", points.len()),
        None => format!("{y_desc} vs {x_desc}: n = {}", points.len()),
    };
    if points.is_empty() {
        area.titled(&caption, ("sans-serif", 14).into_text_style(area))?;
        return empty_note(area, "no student run with both values");
    }
    let span = |v: &[f64]| {
        let (lo, hi) = v
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
        let pad = ((hi - lo) * 0.1).max(1e-3);
        (lo - pad, hi + pad)
    };
    let (mut x0, mut x1) = span(&xs);
    let (mut y0, mut y1) = span(&ys);
    if diagonal {
        (x0, y0) = (x0.min(y0), x0.min(y0));
        (x1, y1) = (x1.max(y1), x1.max(y1));
    }
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 14))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .draw()?;
    if diagonal {
        let grey = RGBColor(150, 150, 150);
        chart.draw_series(LineSeries::new([(x0, x0), (x1, x1)], grey.stroke_width(1)))?;
    }
    chart.draw_series(
        points
            .iter()
            .map(|&(c, x, y)| Circle::new((x, y), 4, series_color(c).filled())),
    )?;
    Ok(())
}

/// A point of a student run, if it has both values.
type XY = dyn Fn(&crate::report::SeedValues, Aggregate) -> Option<(f64, f64)>;

/// The theory figure of one dataset: gain against misfit (squared, with y = x, the bound of
/// Charikar et al.'s Theorem 1), PGR against misfit, PGR against CAPA (supervisor vs ceiling);
/// a point per student run of a pair of two different models.
fn draw_theory<DB: DrawingBackend>(root: Panel<DB>, rows: &[&SweepRow]) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let weak = weak_names(rows);
    let runs: Vec<(usize, &crate::report::SeedValues, Aggregate)> = rows
        .iter()
        .filter(|r| r.chain[0] != r.chain[1])
        .flat_map(|r| {
            let c = weak.iter().position(|w| *w == r.chain[0]).unwrap_or(0);
            r.per_seed.iter().map(move |s| (c, s, r.aggregate))
        })
        .collect();
    let pick = |f: &XY| {
        runs.iter()
            .filter_map(|(c, s, a)| f(s, *a).map(|(x, y)| (*c, x, y)))
            .collect::<Vec<_>>()
    };
    let gain = pick(&|s, _| s.diagnostics.map(|d| (d.misfit_squared, d.gain_squared)));
    let pgr_misfit = pick(&|s, a| Some((s.diagnostics?.misfit_squared, s.pgr(a)?)));
    let pgr_capa = pick(&|s, a| Some((s.capa?, s.pgr(a)?)));
    let legend: Vec<(String, RGBColor)> = weak
        .iter()
        .enumerate()
        .map(|(i, w)| (format!("weak: {w}"), series_color(i)))
        .collect();
    let (_, height) = root.dim_in_pixel();
    let (charts, strip) =
        root.split_vertically(height.saturating_sub(LEGEND_ROW * legend.len() as u32 + 6));
    let panels = charts.split_evenly((1, 3));
    scatter(&panels[0], &gain, ("misfit^2", "gain^2"), true)?;
    scatter(&panels[1], &pgr_misfit, ("misfit^2", "PGR"), false)?;
    scatter(
        &panels[2],
        &pgr_capa,
        ("CAPA (weak, ceiling)", "PGR"),
        false,
    )?;
    draw_legend(&strip, &legend)?;
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

/// One step of a run's `train_log.jsonl`.
#[derive(serde::Deserialize)]
struct Step {
    step: usize,
    loss: f64,
    train_accuracy: f64,
}

/// One quantity of a logged step.
type StepValue = fn(&Step) -> f64;

/// Loss and training accuracy against the step, two panels, as an SVG string.
fn curve_svg(steps: &[Step]) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 240)).into_drawing_area();
        root.fill(&WHITE)?;
        let panels = root.split_evenly((1, 2));
        let last = steps.last().map_or(1, |s| s.step.max(1)) as f64;
        let series: [(&str, StepValue); 2] = [
            ("loss", |s| s.loss),
            ("train accuracy", |s| s.train_accuracy),
        ];
        for (panel, (name, value)) in panels.iter().zip(series) {
            let hi = steps.iter().map(value).fold(0.0, f64::max).max(1e-3) * 1.05;
            let mut chart = ChartBuilder::on(panel)
                .caption(name, ("sans-serif", 14))
                .margin(8)
                .x_label_area_size(28)
                .y_label_area_size(40)
                .build_cartesian_2d(0.0..last, 0.0..hi)?;
            chart.configure_mesh().x_desc("step").draw()?;
            chart.draw_series(LineSeries::new(
                steps.iter().map(|s| (s.step as f64, value(s))),
                series_color(0).stroke_width(2),
            ))?;
        }
        root.present()?;
    }
    Ok(svg)
}

/// Every run's training curves, in the order given: (`what (task/run folder)`, SVG), for the
/// HTML report. Runs without a log (or with an empty one) are skipped.
pub fn training_curves(results: &Path, runs: &[(String, &Path)]) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for &(ref what, dir) in runs {
        let Ok(text) = std::fs::read_to_string(dir.join("train_log.jsonl")) else {
            continue;
        };
        let steps: Vec<Step> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        if steps.is_empty() {
            continue;
        }
        let folder = dir.strip_prefix(results).unwrap_or(dir).to_string_lossy();
        out.push((format!("{what} ({folder})"), curve_svg(&steps)?));
    }
    Ok(out)
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
