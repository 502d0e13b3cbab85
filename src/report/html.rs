//! `hetbench report`: one self-contained HTML file for decision makers.
//!
//! It opens with the summary (`hetbench summary`: who leads each domain and
//! overall, with intervals, coverage and energy scope), which the print CSS
//! keeps to the first A4 page; after it come the score, the comparison, the
//! figures, the results and the platforms. Printed, tables take the page's
//! width with fixed columns that wrap their text, and figures scale to it,
//! so nothing is cut (`scripts/check-report.sh` prints it and checks).
//!
//! Everything is inline (CSS, SVG figures) and nothing is fetched, so the
//! file can be mailed, archived and opened offline, and shows the same thing
//! in ten years. Every string that came from a database or run file (host
//! names, device names, kernel names, commands) is HTML-escaped here; text
//! inside the SVG figures is escaped by the SVG backend. A run file is
//! written by whoever ran hetbench on some node, so its strings are
//! untrusted input to this page.

use std::collections::BTreeMap;

use crate::report::compare::Comparison;
use crate::report::cost::CostReport;
use crate::report::data::{Dataset, html_escape as esc};
use crate::report::plot::Figure;
use crate::report::score::{KERNEL_HEADINGS, ScoreReport};
use crate::report::summary::{self, Summary};
use crate::report::table;
use crate::store::RunRecord;

/// What the report shows.
pub struct ReportInput<'a> {
    pub data: &'a Dataset,
    pub figures: &'a [Figure],
    /// The score, or why there is none.
    pub score: Result<&'a ScoreReport, String>,
    /// The summary of that score (the first page), or why there is none.
    pub summary: Result<&'a Summary, String>,
    /// The comparison, or why there is none.
    pub comparison: Result<&'a Comparison, String>,
    /// Cost and carbon (`--economics`), or why there are none.
    pub cost: Result<&'a CostReport, String>,
    /// The runs the results come from (their platform fingerprints).
    pub runs: &'a [RunRecord],
    /// The database the results were read from.
    pub source: String,
    pub generated_at: String,
}

const CSS: &str = "body{font-family:sans-serif;margin:2em;max-width:1100px;color:#222}\
table{border-collapse:collapse;margin:1em 0;font-size:13px}\
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}\
th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums}\
figure{margin:1.5em 0;border:1px solid #ddd;padding:8px}figcaption{font-size:13px;color:#444;margin-top:6px}\
.est{color:#a00;font-weight:bold}.note{color:#555;font-size:13px}code{background:#f4f4f4;padding:0 3px}\
svg{max-width:100%;height:auto}td,th{overflow-wrap:anywhere}ul.note{padding-left:1.2em}\
@page{size:A4;margin:12mm}\
@media print{body{margin:0;max-width:none;font-size:9pt}h1{font-size:15pt;margin:0 0 4pt}h2{font-size:12pt}h3{font-size:10pt}\
table{table-layout:fixed;width:100%;font-size:7pt;word-break:break-word;overflow-wrap:anywhere}\
th,td{padding:1px 3px}tr,figure{break-inside:avoid}.note{font-size:7.5pt}\
#summary{break-after:page}#summary table{font-size:7pt}#summary p,#summary li{margin:2pt 0}\
figure{margin:6pt 0;padding:4px}figure svg{width:100%;height:auto}}";

/// Column widths of the summary table, percent (see [`summary::HEADINGS`]):
/// the claim gets the room it needs, the coverage little.
const SUMMARY_WIDTHS: [u32; 7] = [10, 12, 15, 12, 6, 29, 16];

fn table_html(headings: &[&str], rows: &[Vec<String>]) -> String {
    table_with_widths(headings, rows, &[])
}

/// A table; `widths` (percent per column), where given, fix the columns'
/// widths, which the print layout (`table-layout: fixed`) keeps.
fn table_with_widths(headings: &[&str], rows: &[Vec<String>], widths: &[u32]) -> String {
    let mut s = String::from("<table>\n");
    if !widths.is_empty() {
        s.push_str("<colgroup>");
        for w in widths {
            s.push_str(&format!("<col style=\"width:{w}%\">"));
        }
        s.push_str("</colgroup>\n");
    }
    s.push_str("<tr>");
    for h in headings {
        s.push_str(&format!("<th>{}</th>", esc(h)));
    }
    s.push_str("</tr>\n");
    for row in rows {
        s.push_str("<tr>");
        for cell in row {
            // Figures labelled ESTIMATED or MODELED stand out.
            let class = if cell.contains("ESTIMATED") || cell.contains("MODELED") {
                " class=\"est\""
            } else {
                ""
            };
            s.push_str(&format!("<td{class}>{}</td>", esc(cell)));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</table>\n");
    s
}

fn score_html(score: &ScoreReport) -> String {
    let mut s = format!(
        "<p>Reference: <b>{}</b>. Suite version <b>{}</b>. Overall: geometric mean of the domain scores ({}). Score per watt: {}.</p>\n",
        esc(&score.reference),
        esc(&score.suite_version),
        if score.include_micro {
            "micro counted"
        } else {
            "micro shown in brackets, not counted"
        },
        match (score.include_estimated, score.include_modeled) {
            (false, false) => "measured energy only; modeled results (FPGA emulation) not scored",
            (true, false) =>
                "estimated energy included, labelled ESTIMATED; modeled results not scored",
            (false, true) =>
                "modeled results included: devices labelled [MODELED], their energy ESTIMATED",
            (true, true) =>
                "estimated energy and modeled results included: devices labelled [MODELED], energy ESTIMATED",
        }
    );
    s.push_str(&format!("<p>Intervals: {}.</p>\n", esc(&score.intervals)));
    let (headings, rows) = score.subject_rows();
    s.push_str(&table_html(&headings, &rows));
    for sc in &score.subjects {
        if let Some(why) = &sc.partial {
            s.push_str(&format!(
                "<p class=\"note\">{}: {}</p>\n",
                esc(&sc.label),
                esc(why)
            ));
        }
    }
    s.push_str(&table_html(&KERNEL_HEADINGS, &score.kernel_rows()));
    s
}

/// The first page: who leads each domain and overall, and how sure that is.
fn summary_html(sum: &Summary) -> String {
    let mut s = String::from("<p class=\"note\">");
    s.push_str(
        &sum.preamble()
            .iter()
            .map(|l| esc(l))
            .collect::<Vec<_>>()
            .join("<br>\n"),
    );
    s.push_str("</p>\n");
    s.push_str(&table_with_widths(
        &summary::HEADINGS,
        &sum.rows(),
        &SUMMARY_WIDTHS,
    ));
    let notes = sum.notes();
    if !notes.is_empty() {
        s.push_str("<ul class=\"note\">\n");
        for n in notes {
            s.push_str(&format!("<li>{}</li>\n", esc(&n)));
        }
        s.push_str("</ul>\n");
    }
    s
}

fn fingerprints_html(runs: &[RunRecord]) -> String {
    // One block per platform (host name and hash), listing its runs.
    let mut by_platform: BTreeMap<(String, String), Vec<&RunRecord>> = BTreeMap::new();
    for r in runs {
        by_platform
            .entry((r.platform.hostname.clone(), r.platform.hash.clone()))
            .or_default()
            .push(r);
    }
    let mut s = String::new();
    for ((host, hash), runs) in by_platform {
        let p = &runs[0].platform;
        s.push_str(&format!(
            "<h3>{} <span class=\"note\">platform {}</span></h3>\n",
            esc(&host),
            esc(&hash)
        ));
        let rows = vec![
            vec![
                "OS".to_string(),
                format!(
                    "{} {} (kernel {}, {})",
                    p.os, p.os_version, p.kernel_version, p.arch
                ),
            ],
            vec![
                "CPU".into(),
                format!(
                    "{} ({}), {} physical cores, {} logical CPUs, {} MHz, SIMD: {}",
                    p.cpu.brand,
                    p.cpu.vendor,
                    p.cpu
                        .physical_cores
                        .map(|n| n.to_string())
                        .unwrap_or_else(|| "?".into()),
                    p.cpu.logical_cpus,
                    p.cpu.frequency_mhz,
                    if p.cpu.simd.is_empty() {
                        "none".to_string()
                    } else {
                        p.cpu.simd.join(" ")
                    }
                ),
            ],
            vec![
                "memory".into(),
                format!("{:.1} GiB", p.memory_bytes as f64 / (1u64 << 30) as f64),
            ],
        ];
        s.push_str(&table_html(&["", ""], &rows));
        let rows: Vec<Vec<String>> = runs
            .iter()
            .map(|r| {
                vec![
                    r.run_id.clone(),
                    r.started_at.clone(),
                    r.status.as_str().into(),
                    format!("hetbench {}, suite {}", r.harness_version, r.suite_version),
                    r.idle
                        .iter()
                        .map(|i| {
                            format!(
                                "{} {:.1} W ({})",
                                i.meter,
                                i.avg_w,
                                if i.method.is_measured() {
                                    i.method.as_str().to_string()
                                } else {
                                    i.method.as_str().to_uppercase()
                                }
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                    r.command.clone(),
                ]
            })
            .collect();
        s.push_str(&table_html(
            &[
                "run",
                "started",
                "status",
                "versions",
                "idle power",
                "command",
            ],
            &rows,
        ));
    }
    s
}

/// One figure: its SVG inline, its title and provenance.
fn figure_html(f: &Figure) -> String {
    // The SVG document, without an XML declaration if it has one.
    let svg = match f.svg.find("<svg") {
        Some(i) => &f.svg[i..],
        None => f.svg.as_str(),
    };
    format!(
        "<figure id=\"{}\">\n<h3>{}</h3>\n{svg}\n<figcaption>Provenance: {}</figcaption>\n</figure>\n",
        esc(f.name),
        esc(&f.title),
        esc(&f.provenance)
    )
}

/// The cost section: `hetbench cost`'s tables and the tornado plot of its
/// sensitivity table.
fn cost_html(cost: &CostReport) -> String {
    let mut s = format!("<p class=\"note\">{}</p>\n", esc(&cost.intervals));
    if let Some(note) = cost.component_sum_note() {
        s.push_str(&format!("<p class=\"note\">{}</p>\n", esc(&note)));
    }
    for t in cost.tables() {
        s.push_str(&format!("<h3>{}</h3>\n", esc(&t.title)));
        let headings: Vec<&str> = t.headings.iter().map(String::as_str).collect();
        s.push_str(&table_html(&headings, &t.rows));
    }
    match crate::report::plot::cost_front::draw(cost) {
        Ok(Some(f)) => s.push_str(&figure_html(&f)),
        Ok(None) => s.push_str(
            "<p class=\"note\">No throughput-against-cost plot: no node has cost figures for every domain the score weights (--weights; `hetbench plan` says who is left out and why).</p>\n",
        ),
        Err(e) => s.push_str(&format!(
            "<p class=\"note\">No throughput-against-cost plot: {}</p>\n",
            esc(&e.to_string())
        )),
    }
    match crate::report::plot::tornado::draw(cost) {
        Ok(Some(f)) => s.push_str(&figure_html(&f)),
        Ok(None) => s.push_str(
            "<p class=\"note\">No sensitivity plot: no ranking of two or more devices.</p>\n",
        ),
        Err(e) => s.push_str(&format!(
            "<p class=\"note\">No sensitivity plot: {}</p>\n",
            esc(&e.to_string())
        )),
    }
    s
}

/// The whole report as one HTML document.
pub fn render(input: &ReportInput) -> String {
    let mut s =
        String::from("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    s.push_str("<title>hetbench report</title>\n");
    s.push_str(&format!("<style>{CSS}</style>\n</head>\n<body>\n"));
    s.push_str("<h1>hetbench report</h1>\n");
    // The first printed page: the summary, then a page break.
    s.push_str("<section id=\"summary\">\n<h2>Summary</h2>\n");
    match &input.summary {
        Ok(sum) => s.push_str(&summary_html(sum)),
        Err(why) => s.push_str(&format!("<p class=\"note\">No summary: {}</p>\n", esc(why))),
    }
    s.push_str("</section>\n");
    s.push_str(&format!(
        "<p class=\"note\">Generated {} by hetbench {} from {}. Suite version(s): {}. Only verified (ok) results appear; for each device the newest result per kernel, size and precision. Figures marked ESTIMATED or MODELED (outlined, hatched or hollow in plots) did not come from a power measurement.</p>\n",
        esc(&input.generated_at),
        esc(crate::HARNESS_VERSION),
        esc(&input.source),
        esc(&input
            .data
            .suite_versions()
            .into_iter()
            .collect::<Vec<_>>()
            .join(", "))
    ));

    s.push_str("<h2>Score</h2>\n");
    match &input.score {
        Ok(score) => s.push_str(&score_html(score)),
        Err(why) => s.push_str(&format!("<p class=\"note\">No score: {}</p>\n", esc(why))),
    }

    s.push_str("<h2>Comparison</h2>\n");
    match &input.comparison {
        Ok(c) => {
            s.push_str(&format!(
                "<p>Baseline: <b>{}</b>. {}.</p>\n",
                esc(&c.baseline_label),
                esc(c.method)
            ));
            s.push_str(&table_html(&Comparison::HEADINGS, &c.cells()));
        }
        Err(why) => s.push_str(&format!(
            "<p class=\"note\">No comparison: {}</p>\n",
            esc(why)
        )),
    }

    s.push_str("<h2>Cost and carbon</h2>\n");
    match &input.cost {
        Ok(cost) => s.push_str(&cost_html(cost)),
        Err(why) => s.push_str(&format!(
            "<p class=\"note\">No cost section: {}</p>\n",
            esc(why)
        )),
    }

    s.push_str("<h2>Figures</h2>\n");
    for f in input.figures {
        s.push_str(&figure_html(f));
    }

    s.push_str("<h2>Results</h2>\n");
    let rows: Vec<Vec<String>> = input
        .data
        .results()
        .map(|(subject, r)| {
            let mut row = vec![subject.hostname.clone()];
            row.extend(table::row(r));
            row
        })
        .collect();
    let mut headings = vec!["host"];
    headings.extend(table::HEADINGS);
    s.push_str(&table_html(&headings, &rows));

    s.push_str("<h2>Platforms</h2>\n");
    s.push_str(&fingerprints_html(input.runs));
    s.push_str("</body>\n</html>\n");
    s
}
