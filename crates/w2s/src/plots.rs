//! The paper's figures for a sweep, as SVG and PNG (the `plotters` crate):
//! - Figure 3 style: student test accuracy against the strong ceiling's accuracy, one line per
//!   weak supervisor, ground truth (ceiling against itself) in black, one panel per loss;
//! - PGR against the strong model's size, one line per weak supervisor, one panel per loss.

use crate::report::SweepRow;
use anyhow::{Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};

/// PNG text is drawn with a font embedded in the binary (DejaVu Sans, Bitstream Vera
/// licence, `assets/DejaVuSans-LICENSE.txt`), so reports look the same on every machine and
/// need no fonts installed. SVG text names the family and the viewer draws it.
fn register_font() -> Result<()> {
    static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
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

fn draw_accuracy<DB: DrawingBackend>(
    area: &Panel<DB>,
    rows: &[&SweepRow],
    loss: &str,
    weak: &[String],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let rows: Vec<&&SweepRow> = rows.iter().filter(|r| r.loss == loss).collect();
    let lo = rows
        .iter()
        .map(|r| r.weak.min(r.student).min(r.ceiling))
        .fold(1.0, f64::min)
        - 0.02;
    let hi = rows
        .iter()
        .map(|r| r.ceiling.max(r.student))
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
        .y_desc("test accuracy")
        .draw()?;
    // Ground truth: each strong model's ceiling against itself.
    let mut gt: Vec<(f64, f64)> = rows.iter().map(|r| (r.ceiling, r.ceiling)).collect();
    gt.sort_by(|a, b| a.0.total_cmp(&b.0));
    gt.dedup();
    chart.draw_series(LineSeries::new(gt.clone(), BLACK.stroke_width(2)))?;
    chart.draw_series(gt.iter().map(|p| Circle::new(*p, 3, BLACK.filled())))?;
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
    let rows: Vec<&&SweepRow> = rows
        .iter()
        .filter(|r| r.loss == loss && r.pgr.is_some() && r.chain[0] != r.chain[1])
        .collect();
    let sizes: Vec<f64> = rows
        .iter()
        .map(|r| r.strong_parameters.max(1) as f64)
        .collect();
    let (xmin, xmax) = sizes
        .iter()
        .fold((f64::MAX, 1.0f64), |(a, b), &s| (a.min(s), b.max(s)));
    let xmin = if xmin == f64::MAX { 1.0 } else { xmin };
    let pgrs: Vec<f64> = rows.iter().map(|r| r.pgr.unwrap().value).collect();
    let ylo = pgrs.iter().copied().fold(0.0, f64::min) - 0.1;
    let yhi = pgrs.iter().copied().fold(1.0, f64::max) + 0.1;
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
        .draw()?;
    let mut sizes = sizes;
    sizes.sort_by(f64::total_cmp);
    sizes.dedup();
    let grey = RGBColor(200, 200, 200);
    for &x in &sizes {
        chart.draw_series(LineSeries::new([(x, ylo), (x, yhi)], grey))?;
        chart.draw_series(std::iter::once(Text::new(
            size_label(x),
            (x, ylo),
            ("sans-serif", 12)
                .into_text_style(chart.plotting_area())
                .pos(Pos::new(HPos::Center, VPos::Bottom)),
        )))?;
    }
    weak_lines(
        &mut chart,
        weak,
        rows.iter().map(|r| {
            (
                r.chain[0].as_str(),
                (r.strong_parameters.max(1) as f64, r.pgr.unwrap().value),
            )
        }),
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

fn draw<DB: DrawingBackend>(
    root: Panel<DB>,
    rows: &[&SweepRow],
    losses: &[String],
    pgr: bool,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
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

/// Write `<dataset>-accuracy.{svg,png}` and `<dataset>-pgr.{svg,png}` into `out`, the dataset's
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
            420 * losses.len().max(1) as u32,
            380 + LEGEND_ROW * legend_rows + 6,
        );
        let stem = crate::store::folder_safe(d);
        for (kind, pgr) in [("accuracy", false), ("pgr", true)] {
            let svg = out.join(format!("{stem}-{kind}.svg"));
            let png = out.join(format!("{stem}-{kind}.png"));
            // A link left at either name is replaced, not written through.
            for p in [&svg, &png] {
                if std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink()) {
                    std::fs::remove_file(p)?;
                }
            }
            draw(
                SVGBackend::new(&svg, size).into_drawing_area(),
                &rs,
                &losses,
                pgr,
            )
            .with_context(|| format!("drawing {}", svg.display()))?;
            draw(
                BitMapBackend::new(&png, size).into_drawing_area(),
                &rs,
                &losses,
                pgr,
            )
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

/// Every run's training curves under a results folder: (`task/run folder`, SVG), for the
/// HTML report. Runs without a log (or with an empty one) are skipped.
pub fn training_curves(results: &Path, runs: &[&Path]) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for &dir in runs {
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
        let name = dir
            .strip_prefix(results)
            .unwrap_or(dir)
            .to_string_lossy()
            .into_owned();
        out.push((name, curve_svg(&steps)?));
    }
    Ok(out)
}
