//! The report's pictures (SVG) and files.
//!
//! [`write_report`] writes a run's [`SimReport`] into a directory as
//! `summary.txt` (the bench line and the levels reached), `samples.csv` (one
//! row per sample) and `report.svg`: three panels over a shared axis of
//! virtual minutes — (a) table fill and lookup recall, (b) datagrams sent per
//! node and minute, (c) live honest nodes and, in the eclipse scenario, the
//! honest share of the victims' tables. Text is drawn as SVG `<text>`
//! elements, so no font file is needed to draw or to view the picture.

use std::ops::Range;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::report::FILL_GOOD;
use crate::{Sample, SimError, SimReport};

/// The summary file's name (bench line, fill levels, packet counts).
pub const SUMMARY_FILE: &str = "summary.txt";
/// The samples file's name (CSV with a header line).
pub const SAMPLES_FILE: &str = "samples.csv";
/// The picture's name.
pub const SVG_FILE: &str = "report.svg";

/// Picture width in SVG pixels: a 760 px plot beside a 300 px legend column,
/// wide enough for 60–1440 samples to stay apart.
const WIDTH_PX: u32 = 1100;
/// Picture height in SVG pixels: a 50 px title and three panels of ~380 px.
const HEIGHT_PX: u32 = 1200;
/// Height of the title strip, in pixels.
const TITLE_PX: u32 = 50;
/// Width of the legend column right of each panel, in pixels: the longest
/// legend text (~36 characters at 14 px, ~7 px each) plus its line sample.
const LEGEND_PX: u32 = 300;
/// Room for the tick labels and the description of a y axis, in pixels
/// (also on the right of every panel, so that all plots share one x scale).
const Y_LABEL_PX: u32 = 80;
/// Room for the x tick labels (and, on the last panel, their description).
const X_LABEL_PX: u32 = 45;
/// Space around each panel, in pixels.
const MARGIN_PX: u32 = 8;
/// Font size of the title, in pixels.
const TITLE_FONT_PX: u32 = 26;
/// Font size of panel captions, in pixels.
const CAPTION_FONT_PX: u32 = 18;
/// Font size of tick labels, axis descriptions and legends, in pixels.
const LABEL_FONT_PX: u32 = 14;
/// Vertical distance between two legend entries, in pixels.
const LEGEND_ROW_PX: i32 = 24;
/// Length of a legend's line sample, in pixels.
const LEGEND_SAMPLE_PX: i32 = 32;
/// Radius of a recall marker, in pixels.
const MARKER_PX: u32 = 3;
/// Line width of a data series, in pixels.
const LINE_PX: u32 = 2;
/// Headroom above the largest value of an open-ended axis (10 %).
const HEADROOM: f64 = 1.1;
/// Top of an axis of shares: a little above 1 so that a line at 1 (every
/// node filled) is not hidden by the frame.
const SHARE_TOP: f64 = 1.04;
/// Font family: a generic name every SVG viewer resolves.
const FONT: &str = "sans-serif";

/// Series colours: the Okabe–Ito palette, told apart with colour blindness.
const BLUE: RGBColor = RGBColor(0, 114, 178);
/// See [`BLUE`].
const VERMILLION: RGBColor = RGBColor(213, 94, 0);
/// See [`BLUE`].
const GREEN: RGBColor = RGBColor(0, 158, 115);
/// See [`BLUE`].
const PURPLE: RGBColor = RGBColor(204, 121, 167);
/// The threshold line's colour.
const GREY: RGBColor = RGBColor(110, 110, 110);

/// Writes `summary.txt`, `samples.csv` and `report.svg` for `report` into
/// `dir` (created if missing) and returns the paths written, in that order.
///
/// An empty report (no samples) still gives all three files; columns that
/// were never measured (`recall`, `honest_share`) are left out of the picture.
pub fn write_report(report: &SimReport, dir: &Path) -> Result<Vec<PathBuf>, SimError> {
    std::fs::create_dir_all(dir).map_err(|source| SimError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let svg = render_svg(report)?;
    let files = [
        (SUMMARY_FILE, report.summary_text()),
        (SAMPLES_FILE, report.samples_csv()),
        (SVG_FILE, svg),
    ];
    let mut written = Vec::with_capacity(files.len());
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|source| SimError::Write {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}

/// The picture of `report` as an SVG document.
pub fn render_svg(report: &SimReport) -> Result<String, SimError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH_PX, HEIGHT_PX)).into_drawing_area();
        draw(report, &root).map_err(|reason| SimError::Plot {
            what: SVG_FILE,
            reason,
        })?;
        root.present().map_err(|e| SimError::Plot {
            what: SVG_FILE,
            reason: e.to_string(),
        })?;
    }
    Ok(svg)
}

/// A plotting failure as text (plotters' error type is generic over the backend).
type DrawResult = Result<(), String>;

/// One legend entry: its text, colour and how its sample is drawn.
struct LegendEntry {
    text: String,
    color: RGBColor,
    mark: Mark,
}

/// How a series looks (and so its legend sample).
#[derive(Clone, Copy, PartialEq)]
enum Mark {
    Line,
    Dashed,
    LineAndDots,
}

fn draw<DB: DrawingBackend>(report: &SimReport, root: &DrawingArea<DB, Shift>) -> DrawResult {
    root.fill(&WHITE).map_err(err)?;
    let title = format!(
        "sim {}: {} nodes, seed {}",
        report.scenario, report.nodes, report.seed
    );
    let (title_area, body) = root.split_vertically(TITLE_PX);
    title_area
        .titled(&title, (FONT, TITLE_FONT_PX).into_font().color(&BLACK))
        .map_err(err)?;
    let panels = body.split_evenly((3, 1));
    let x = x_range_min(report);
    let x_end = x.end;
    let minutes = move |v: &f64| tick(*v, x_end);
    draw_fill_panel(report, &panels[0], x.clone(), &minutes)?;
    draw_packets_panel(report, &panels[1], x.clone(), &minutes)?;
    draw_nodes_panel(report, &panels[2], x, &minutes)
}

/// The shared x axis: from 0 to the end of the run, in virtual minutes.
fn x_range_min(report: &SimReport) -> Range<f64> {
    let last = report.last().map_or(0.0, |s| s.virtual_s);
    let end = finite_or_zero(last.max(report.virtual_s)) / 60.0;
    // A run of zero length still gets a drawable axis.
    0.0..if end > 0.0 { end } else { 1.0 }
}

/// Panel (a): table fill, mean fill, recall, and the 90 % level.
fn draw_fill_panel<DB: DrawingBackend>(
    report: &SimReport,
    area: &DrawingArea<DB, Shift>,
    x: Range<f64>,
    minutes: &dyn Fn(&f64) -> String,
) -> DrawResult {
    let (plot_area, legend_area) = area.split_horizontally(WIDTH_PX - LEGEND_PX);
    let mut chart = ChartBuilder::on(&plot_area)
        .caption("(a) table fill and lookup recall", caption_font())
        .margin(MARGIN_PX)
        .margin_right(MARGIN_PX + Y_LABEL_PX)
        .x_label_area_size(X_LABEL_PX)
        .y_label_area_size(Y_LABEL_PX)
        .build_cartesian_2d(x.clone(), 0.0..SHARE_TOP)
        .map_err(err)?;
    chart
        .configure_mesh()
        .y_desc("share, in [0, 1]")
        .x_label_formatter(minutes)
        .y_label_formatter(&|v| format!("{v:.1}"))
        .label_style(label_font())
        .axis_desc_style(label_font())
        .draw()
        .map_err(err)?;

    let mut legend = Vec::new();
    let level = FILL_GOOD;
    chart
        .draw_series(DashedLineSeries::new(
            [(x.start, level), (x.end, level)],
            8,
            6,
            GREY.stroke_width(1),
        ))
        .map_err(err)?;
    legend.push(LegendEntry {
        text: format!("{:.0} % level", level * 100.0),
        color: GREY,
        mark: Mark::Dashed,
    });

    let samples = &report.samples;
    let fill = points(samples, |s| Some(s.table_fill));
    let mean = points(samples, |s| Some(s.mean_fill));
    for (name, color, points) in [
        ("nodes with a filled table", BLUE, fill),
        ("mean table fill", VERMILLION, mean),
    ] {
        if points.is_empty() {
            continue;
        }
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(LINE_PX)))
            .map_err(err)?;
        legend.push(LegendEntry {
            text: name.to_string(),
            color,
            mark: Mark::Line,
        });
    }
    let recall = points(samples, |s| s.recall);
    if !recall.is_empty() {
        chart
            .draw_series(LineSeries::new(recall.clone(), GREEN.stroke_width(1)))
            .map_err(err)?;
        chart
            .draw_series(
                recall
                    .into_iter()
                    .map(|p| Circle::new(p, MARKER_PX, GREEN.filled())),
            )
            .map_err(err)?;
        legend.push(LegendEntry {
            text: "lookup recall (16 closest)".to_string(),
            color: GREEN,
            mark: Mark::LineAndDots,
        });
    }
    let note = format!("filled: ≥ {:.0} % of an oracle table", FILL_GOOD * 100.0);
    draw_legend(&legend_area, &legend, Some(&note))
}

/// Panel (b): datagrams sent per live node and virtual minute.
fn draw_packets_panel<DB: DrawingBackend>(
    report: &SimReport,
    area: &DrawingArea<DB, Shift>,
    x: Range<f64>,
    minutes: &dyn Fn(&f64) -> String,
) -> DrawResult {
    let (plot_area, legend_area) = area.split_horizontally(WIDTH_PX - LEGEND_PX);
    let points = points(&report.samples, |s| Some(s.pkts_per_node_min));
    let top = open_top(points.iter().map(|p| p.1));
    let mut chart = ChartBuilder::on(&plot_area)
        .caption("(b) discovery traffic", caption_font())
        .margin(MARGIN_PX)
        .margin_right(MARGIN_PX + Y_LABEL_PX)
        .x_label_area_size(X_LABEL_PX)
        .y_label_area_size(Y_LABEL_PX)
        .build_cartesian_2d(x, 0.0..top)
        .map_err(err)?;
    chart
        .configure_mesh()
        .y_desc("datagrams / node / min")
        .x_label_formatter(minutes)
        .y_label_formatter(&|v| tick(*v, top))
        .label_style(label_font())
        .axis_desc_style(label_font())
        .draw()
        .map_err(err)?;
    let mut legend = Vec::new();
    if !points.is_empty() {
        chart
            .draw_series(LineSeries::new(points, PURPLE.stroke_width(LINE_PX)))
            .map_err(err)?;
        legend.push(LegendEntry {
            text: "datagrams sent per node".to_string(),
            color: PURPLE,
            mark: Mark::Line,
        });
    }
    draw_legend(&legend_area, &legend, Some("all senders (attackers too)"))
}

/// Panel (c): live honest nodes (left axis) and the victims' honest share
/// (right axis, only when measured).
fn draw_nodes_panel<DB: DrawingBackend>(
    report: &SimReport,
    area: &DrawingArea<DB, Shift>,
    x: Range<f64>,
    minutes: &dyn Fn(&f64) -> String,
) -> DrawResult {
    let (plot_area, legend_area) = area.split_horizontally(WIDTH_PX - LEGEND_PX);
    let live = points(&report.samples, |s| Some(s.live_nodes as f64));
    let share = points(&report.samples, |s| s.honest_share);
    let has_share = !share.is_empty();
    let top = open_top(live.iter().map(|p| p.1));
    // The right strip holds the honest-share axis, or stays empty (plotters
    // would repeat the left axis there) so that all panels line up.
    let (right_axis, right_margin) = if has_share {
        (Y_LABEL_PX, MARGIN_PX)
    } else {
        (0, MARGIN_PX + Y_LABEL_PX)
    };
    let mut chart = ChartBuilder::on(&plot_area)
        .caption("(c) network", caption_font())
        .margin(MARGIN_PX)
        .margin_right(right_margin)
        .x_label_area_size(X_LABEL_PX)
        .y_label_area_size(Y_LABEL_PX)
        .right_y_label_area_size(right_axis)
        .build_cartesian_2d(x.clone(), 0.0..top)
        .map_err(err)?
        .set_secondary_coord(x, 0.0..SHARE_TOP);
    chart
        .configure_mesh()
        .x_desc("virtual minutes")
        .y_desc("live honest nodes")
        .x_label_formatter(minutes)
        .y_label_formatter(&|v| tick(*v, top))
        .label_style(label_font())
        .axis_desc_style(label_font())
        .draw()
        .map_err(err)?;
    let mut legend = Vec::new();
    if !live.is_empty() {
        chart
            .draw_series(LineSeries::new(live, BLUE.stroke_width(LINE_PX)))
            .map_err(err)?;
        legend.push(LegendEntry {
            text: "live honest nodes".to_string(),
            color: BLUE,
            mark: Mark::Line,
        });
    }
    if has_share {
        chart
            .configure_secondary_axes()
            .y_desc("honest share, in [0, 1]")
            .y_label_formatter(&|v| format!("{v:.1}"))
            .label_style(label_font())
            .axis_desc_style(label_font())
            .draw()
            .map_err(err)?;
        chart
            .draw_secondary_series(LineSeries::new(share, VERMILLION.stroke_width(LINE_PX)))
            .map_err(err)?;
        legend.push(LegendEntry {
            text: "honest share of victim tables".to_string(),
            color: VERMILLION,
            mark: Mark::Line,
        });
    }
    let note = has_share.then_some("right axis: honest share");
    draw_legend(&legend_area, &legend, note)
}

/// Draws `entries` top-down in the legend column, then an optional note in grey.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[LegendEntry],
    note: Option<&str>,
) -> DrawResult {
    // Level with the top of the plot (below the caption).
    let mut y = 60;
    let x0 = 10;
    let x1 = x0 + LEGEND_SAMPLE_PX;
    for entry in entries {
        let style = entry.color.stroke_width(LINE_PX);
        match entry.mark {
            Mark::Line => area
                .draw(&PathElement::new([(x0, y), (x1, y)], style))
                .map_err(err)?,
            Mark::Dashed => {
                let dash = LEGEND_SAMPLE_PX / 4;
                for i in [0, 2] {
                    let a = x0 + i * dash + dash / 2;
                    area.draw(&PathElement::new(
                        [(a, y), (a + dash, y)],
                        entry.color.stroke_width(1),
                    ))
                    .map_err(err)?;
                }
            }
            Mark::LineAndDots => {
                area.draw(&PathElement::new(
                    [(x0, y), (x1, y)],
                    entry.color.stroke_width(1),
                ))
                .map_err(err)?;
                for px in [x0 + 6, x1 - 6] {
                    area.draw(&Circle::new((px, y), MARKER_PX, entry.color.filled()))
                        .map_err(err)?;
                }
            }
        }
        area.draw(&Text::new(
            entry.text.clone(),
            (x1 + 8, y - LABEL_FONT_PX as i32 / 2),
            label_font(),
        ))
        .map_err(err)?;
        y += LEGEND_ROW_PX;
    }
    if let Some(note) = note {
        area.draw(&Text::new(
            note.to_string(),
            (x0, y - LABEL_FONT_PX as i32 / 2),
            label_font().color(&GREY),
        ))
        .map_err(err)?;
    }
    Ok(())
}

/// `(virtual minutes, value)` of every sample where `value` is measured and
/// finite (a NaN would break the SVG path).
fn points(samples: &[Sample], value: impl Fn(&Sample) -> Option<f64>) -> Vec<(f64, f64)> {
    samples
        .iter()
        .filter_map(|s| {
            let v = value(s)?;
            let t = s.virtual_s / 60.0;
            (v.is_finite() && t.is_finite()).then_some((t, v))
        })
        .collect()
}

/// The top of an axis that starts at 0: the largest value plus headroom, at
/// least 1 so that an all-zero or empty series still has a drawable range.
fn open_top(values: impl Iterator<Item = f64>) -> f64 {
    (values.fold(0.0, f64::max) * HEADROOM).max(1.0)
}

/// A tick label on an axis that ends at `top`: whole numbers unless the axis
/// is short enough for whole numbers to repeat.
fn tick(v: f64, top: f64) -> String {
    if top >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn finite_or_zero(v: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        0.0
    }
}

fn caption_font() -> TextStyle<'static> {
    (FONT, CAPTION_FONT_PX).into_font().color(&BLACK)
}

fn label_font() -> TextStyle<'static> {
    (FONT, LABEL_FONT_PX).into_font().color(&BLACK)
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

#[cfg(test)]
mod tests;
