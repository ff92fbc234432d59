//! Training curves of each run (loss and training accuracy against the step), for the HTML
//! report.

use anyhow::Result;
use plotters::prelude::*;

use super::series_color;
use std::path::Path;

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
        let Ok(text) = std::fs::read_to_string(dir.join(crate::experiment::TRAIN_LOG_FILE)) else {
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
