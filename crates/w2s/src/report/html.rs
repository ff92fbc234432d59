//! The sweep report as one self-contained HTML page.

use super::medians::dataset_names;
use super::text::{
    across_cell, cells, columns, dataset_heading, left_out_lines, median_cell, medians_heading,
    theory_cells, theory_check, THEORY_COLUMNS,
};
use super::Report;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An HTML table from a header and rows of cells.
fn html_table(class: &str, header: &[String], rows: &[Vec<String>]) -> String {
    let mut h = format!("<table class=\"{class}\"><tr>");
    for c in header {
        h += &format!("<th>{}</th>", escape(c));
    }
    h += "</tr>\n";
    for r in rows {
        h += "<tr>";
        for c in r {
            h += &format!("<td>{}</td>", escape(c));
        }
        h += "</tr>\n";
    }
    h + "</table>\n"
}

/// A self-contained HTML report: tables per dataset, the plots' SVGs and each run's training
/// curves inline (no external files, scripts or fonts), so it opens from disk anywhere.
pub fn sweep_html(
    report: &Report,
    svgs: &[std::path::PathBuf],
    curves: &[(String, String)],
    n_runs: usize,
) -> anyhow::Result<String> {
    let mut h = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>w2s report</title>\n<style>body{font-family:sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:4px 8px;text-align:right}td:first-child,td:nth-child(2),th{text-align:left}th{background:#eee}figure{margin:1em 0}details{margin:.3em 0}</style></head><body>\n",
    );
    h += &format!(
        "<h1>Weak-to-strong report</h1>\n<p>{n_runs} runs. {}</p>\n",
        escape(report.rule)
    );
    for d in dataset_names(&report.rows) {
        h += &dataset_section(report, d, svgs)?;
    }
    h += &medians_section(report);
    h += &weights_section(report);
    h += &not_reported_section(report);
    h += &curves_section(curves);
    h += "</body></html>\n";
    Ok(h)
}

/// A dataset's rows, its theory table and check, what was left out, and its figures.
fn dataset_section(
    report: &Report,
    d: &str,
    svgs: &[std::path::PathBuf],
) -> anyhow::Result<String> {
    let rows = &report.rows;
    let mut h = format!(
        "<h2 id=\"{}\">{}</h2>\n",
        escape(d),
        escape(&dataset_heading(rows, d))
    );
    let body: Vec<Vec<String>> = rows
        .iter()
        .filter(|r| r.dataset == d)
        .map(|r| {
            let mut c = cells(r).to_vec();
            c[0] = r.chain.join(" → ");
            c
        })
        .collect();
    h += &html_table(
        "results",
        &columns(report.aggregate).map(String::from),
        &body,
    );
    let theory: Vec<Vec<String>> = rows
        .iter()
        .filter(|r| r.dataset == d)
        .filter_map(theory_cells)
        .map(|mut c| {
            c[0] = c[0].replace(" -> ", " → ");
            c.to_vec()
        })
        .collect();
    if !theory.is_empty() {
        h += "<p>Students against their supervisors on test, means over seeds (misfit and gain: Charikar et al. 2024, Mulgund &amp; Pabbaraju 2025; copied, corrected and new mistakes: shares of the test examples; CAPA: Goel et al. 2025, between the supervisor and the ceiling).</p>\n";
        h += &html_table("theory", &THEORY_COLUMNS.map(String::from), &theory);
    }
    if let Some(check) = theory_check(rows.iter().filter(|r| r.dataset == d)) {
        h += &format!("<p class=\"theory-check\">{}</p>\n", escape(&check));
    }
    let left_out = left_out_lines(rows.iter().filter(|r| r.dataset == d));
    if !left_out.is_empty() {
        h += "<p>Left out of the medians or the means:</p>\n";
        h += &html_list("left-out", left_out.iter().map(|l| escape(l)));
    }
    let prefix = format!("{}-", crate::store::folder_safe(d));
    for svg in svgs.iter().filter(|p| {
        p.file_name()
            .is_some_and(|f| f.to_string_lossy().starts_with(&prefix))
    }) {
        let body = std::fs::read_to_string(svg)?;
        let name = escape(&svg.file_name().unwrap().to_string_lossy());
        let png = name.replace(".svg", ".png");
        h += &format!("<figure class=\"plot\">{body}<figcaption>{name} (PNG: <a href=\"plots/{png}\">{png}</a>)</figcaption></figure>\n");
    }
    Ok(h)
}

/// `<ul class="...">` of items already escaped.
fn html_list(class: &str, items: impl Iterator<Item = String>) -> String {
    let items: String = items.map(|i| format!("<li>{i}</li>")).collect();
    format!("<ul class=\"{class}\">{items}</ul>\n")
}

fn medians_section(report: &Report) -> String {
    let medians = &report.medians;
    let across = report.aggregate != super::Aggregate::Reference;
    let mut h = format!(
        "<h2 id=\"medians\">Median PGR</h2>\n<p>{}.</p>\n",
        escape(medians_heading(report))
    );
    if let Some(first) = medians.first() {
        let mut header = vec!["loss".to_owned()];
        header.extend(first.per_dataset.iter().map(|x| x.dataset.clone()));
        if across {
            header.push("across datasets".into());
        }
        let body: Vec<Vec<String>> = medians
            .iter()
            .map(|m| {
                let mut r = vec![m.loss.clone()];
                r.extend(m.per_dataset.iter().map(median_cell));
                if across {
                    r.push(across_cell(m));
                }
                r
            })
            .collect();
        h += &html_table("medians", &header, &body);
    }
    h
}

fn weights_section(report: &Report) -> String {
    use super::weights::{weights_cells, WEIGHTS_COLUMNS, WEIGHTS_HEADING};
    if report.supervisor_weights.is_empty() {
        return String::new();
    }
    let body: Vec<Vec<String>> = report
        .supervisor_weights
        .iter()
        .map(|r| weights_cells(r).to_vec())
        .collect();
    format!(
        "<h2 id=\"weights\">Learned supervisor weights</h2>\n<p>{}.</p>\n{}",
        escape(WEIGHTS_HEADING),
        html_table("weights", &WEIGHTS_COLUMNS.map(String::from), &body)
    )
}

fn not_reported_section(report: &Report) -> String {
    if report.not_reported.is_empty() {
        return String::new();
    }
    let items = report.not_reported.iter().map(|n| {
        let folder = n.folder.display().to_string();
        format!("{}: {}", escape(&folder), escape(&n.why))
    });
    "<h2 id=\"not-reported\">Run folders not in this report</h2>\n".to_owned()
        + &html_list("not-reported", items)
}

/// Every run's training curves, the first open and the others one click away.
fn curves_section(curves: &[(String, String)]) -> String {
    if curves.is_empty() {
        return String::new();
    }
    let mut h = "<h2 id=\"curves\">Training curves</h2>\n<p>Loss and training accuracy per step, for every run.</p>\n".to_owned();
    for (i, (name, svg)) in curves.iter().enumerate() {
        let open = if i == 0 { " open" } else { "" };
        h += &format!(
            "<details class=\"curve\"{open}><summary>{}</summary>{svg}</details>\n",
            escape(name)
        );
    }
    h
}
