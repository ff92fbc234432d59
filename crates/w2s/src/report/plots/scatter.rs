//! The figures of one point per run: the theory's (gain against misfit, PGR against misfit and
//! CAPA) and the label budget's (student accuracy against ground-truth labels).

use super::{
    draw_legend, empty_note, error_bar, series_color, student_spread, tick, weak_names, Panel,
    LEGEND_ROW,
};
use crate::report::{Aggregate, SweepRow};
use anyhow::Result;
use plotters::prelude::*;

/// Student test accuracy against the number of ground-truth labels in its training set, one
/// line per supervision chain and method (without the budget), a bar from the lowest to the
/// highest seed; the ceiling of each line as a dashed level.
pub(super) fn draw_labels<DB: DrawingBackend>(root: Panel<DB>, rows: &[&SweepRow]) -> Result<()>
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
        .map(|r| r.ceiling)
        .filter(|c| c.is_finite())
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
            chart.draw_series(error_bar(x, (a, r.student, b), c))?;
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
pub(super) fn draw_theory<DB: DrawingBackend>(root: Panel<DB>, rows: &[&SweepRow]) -> Result<()>
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
