//! The model-ladder figures: student accuracy against the ceiling's (the paper's Figure 3
//! style) and PGR against the strong model's size, one line per weak supervisor, one panel
//! per loss.

use super::{
    draw_legend, empty_note, error_bar, pgr_bar, series_color, student_spread, tick, weak_names,
    Panel, LEGEND_ROW,
};
use crate::report::SweepRow;
use anyhow::Result;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

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
        return empty_panel(area, loss, "no row with a stored ceiling");
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
        chart.draw_series(error_bar(r.ceiling, (*a, r.student, *b), c))?;
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
        return empty_panel(area, loss, &no_pgr_reason(&of_loss));
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
    label_sizes(&mut chart, &sizes, (ylo, yhi))?;
    for ((r, bar), &x) in rows.iter().zip(&sizes) {
        let c = series_color(weak.iter().position(|w| *w == r.chain[0]).unwrap_or(0));
        chart.draw_series(error_bar(x, *bar, c))?;
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

/// A panel titled `loss` with nothing to draw, saying why.
fn empty_panel<DB: DrawingBackend>(area: &Panel<DB>, loss: &str, why: &str) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let title = ("sans-serif", 18).into_text_style(area);
    area.titled(loss, title)?;
    empty_note(area, why)
}

/// Why a loss's panel has no PGR: the table's reason when every pair gives the same one.
fn no_pgr_reason(of_loss: &[&&SweepRow]) -> String {
    let mut reasons: Vec<String> = of_loss
        .iter()
        .filter(|r| r.chain[0] != r.chain[1])
        .map(|r| crate::report::text::cells(r)[5].clone())
        .collect();
    reasons.sort();
    reasons.dedup();
    match reasons.as_slice() {
        [] => "no pair of two different models".to_owned(),
        [one] => format!("no PGR: {one}"),
        _ => "no PGR (the table says why, per row)".to_owned(),
    }
}

/// A log axis labels only round values: a grey line and a label at every model size instead.
fn label_sizes<'c, DB: DrawingBackend + 'c, CT>(
    chart: &mut ChartContext<'c, DB, CT>,
    sizes: &[f64],
    (ylo, yhi): (f64, f64),
) -> Result<()>
where
    CT: CoordTranslate<From = (f64, f64)>,
    DB::ErrorType: 'static,
{
    let mut ticks = sizes.to_vec();
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

pub(super) fn draw<DB: DrawingBackend>(
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
