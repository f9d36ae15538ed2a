//! Curves as a chart file: SVG, or PNG (which needs a font, see `font`).
//!
//! Each run has a colour; its training curve is solid and its validation
//! curves dashed. The legend stands below the plot, where it cannot hide a
//! curve, and names each line by run id and curve.

use super::curves::{Phase, RunCurves, Series};
use super::font::{self, FAMILY};
use super::svg::FontFreeSvg;
use plotters::backend::{BitMapBackend, SVGBackend};
use plotters::coord::Shift;
use plotters::element::{Circle, PathElement, Text};
use plotters::prelude::{ChartBuilder, DrawingArea, IntoDrawingArea};
use plotters::series::{DashedLineSeries, LineSeries};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{Color, IntoFont, RGBColor, ShapeStyle, TextStyle, TRANSPARENT, WHITE};
use plotters_backend::DrawingBackend;
use std::error::Error;
use std::ops::Range;
use std::path::Path;

/// The width of the chart, and the height of its title and plot, in pixels
/// (and SVG user units). The legend's rows go below and add to the height.
const WIDTH: u32 = 1000;
const PLOT_HEIGHT: u32 = 600;

/// Okabe and Ito's colours, which stay apart for colour-blind readers
/// (their yellow left out: it hardly shows on white).
const RUN_COLOURS: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
];

const LINE_WIDTH: u32 = 2;

/// The plot's margin and the room its axis labels take, which the legend
/// lines up with.
const PLOT_MARGIN: u32 = 15;
const Y_LABEL_AREA: u32 = 75;

const LEGEND_TEXT_SIZE: u32 = 15;
const LEGEND_ROW: u32 = 24;
/// The length of the sample line left of each name in the legend.
const LEGEND_SAMPLE: i32 = 36;
/// A letter's width in the legend, on the wide side so that no name runs
/// into the next column: plotters sets text at 1/1.24 of its size, 12 px
/// here, and a sans-serif letter (a digit, in run ids) is about 0.55 em.
const LEGEND_LETTER: u32 = 7;

pub enum Format {
    Svg,
    Png,
}

impl Format {
    /// The format a file name asks for, by its extension.
    pub fn of(path: &Path) -> Result<Format, String> {
        let extension = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        match extension.as_deref() {
            Some("svg") => Ok(Format::Svg),
            Some("png") => Ok(Format::Png),
            _ => Err(format!(
                "cannot write a chart to {}: name a `.svg` or `.png` file",
                path.display()
            )),
        }
    }
}

pub fn write(path: &Path, format: Format, runs: &[RunCurves], figure: &str) -> Result<(), String> {
    // plotters would only find out once the chart is drawn, and say it less plainly.
    if let Some(folder) = path.parent().filter(|f| !f.as_os_str().is_empty()) {
        if !folder.is_dir() {
            return Err(format!(
                "cannot write {}: there is no folder {}",
                path.display(),
                folder.display()
            ));
        }
    }
    let lines = lines(runs);
    // Everything that can fail comes before the backend: plotters writes
    // the file when the backend is dropped, even after an error.
    let span =
        ranges(&lines).ok_or_else(|| format!("the runs have no values of `{figure}` to plot"))?;
    if let Format::Png = format {
        font::load()?;
    }
    let legend = Legend::lay_out(&lines);
    let size = (WIDTH, PLOT_HEIGHT + legend.height());
    let chart = Chart {
        lines: &lines,
        span,
        legend: &legend,
        figure,
    };
    let drawn = match format {
        Format::Svg => chart.draw(FontFreeSvg(SVGBackend::new(path, size)).into_drawing_area()),
        Format::Png => chart.draw(BitMapBackend::new(path, size).into_drawing_area()),
    };
    drawn.map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// A curve as drawn: its run's colour, and dashes for validation curves.
struct Line<'a> {
    label: String,
    colour: RGBColor,
    /// Dash and gap lengths in pixels; `None` for a solid line.
    dashes: Option<(i32, i32)>,
    series: &'a Series,
}

fn lines(runs: &[RunCurves]) -> Vec<Line<'_>> {
    let mut lines = Vec::new();
    for (index, run) in runs.iter().enumerate() {
        let colour = RUN_COLOURS[index % RUN_COLOURS.len()];
        let mut validations = 0;
        for series in &run.series {
            let dashes = match series.phase {
                Phase::Train => None,
                // A second validated data gets longer dashes than the first.
                Phase::Validation(_) => {
                    validations += 1;
                    Some((4 + 4 * validations, 4))
                }
            };
            lines.push(Line {
                label: format!("{} {}", run.id, series.name()),
                colour,
                dashes,
                series,
            });
        }
    }
    lines
}

/// What a chart shows, whatever it is drawn on.
struct Chart<'a> {
    lines: &'a [Line<'a>],
    /// The epochs and values the plot spans.
    span: (Range<u64>, Range<f64>),
    legend: &'a Legend,
    figure: &'a str,
}

impl Chart<'_> {
    fn draw<DB>(&self, root: DrawingArea<DB, Shift>) -> Result<(), Box<dyn Error>>
    where
        DB: DrawingBackend,
        DB::ErrorType: 'static,
    {
        let Chart {
            lines,
            span: (epochs, values),
            legend,
            figure,
        } = self;
        root.fill(&WHITE)?;
        let (upper, legend_area) = root.split_vertically(PLOT_HEIGHT);
        let title = format!("{figure} by epoch: training (solid) and validation (dashed)");
        let plot_area = upper.titled(&title, (FAMILY, 22).into_font())?;

        let mut chart = ChartBuilder::on(&plot_area)
            .margin(PLOT_MARGIN)
            .x_label_area_size(50)
            .y_label_area_size(Y_LABEL_AREA)
            .build_cartesian_2d(epochs.clone(), values.clone())?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc(*figure)
            .label_style((FAMILY, 14))
            .axis_desc_style((FAMILY, 16))
            // The fine grid between the labelled lines only clutters the curves.
            .light_line_style(TRANSPARENT)
            .draw()?;
        for line in lines.iter() {
            let style = ShapeStyle::from(line.colour).stroke_width(LINE_WIDTH);
            let points = line.series.points.iter().copied();
            match line.dashes {
                None => {
                    chart.draw_series(LineSeries::new(points, style))?;
                }
                Some((dash, gap)) => {
                    chart.draw_series(DashedLineSeries::new(points, dash, gap, style))?;
                }
            }
            // A single epoch makes no line: mark it.
            if let [point] = line.series.points[..] {
                chart.draw_series(std::iter::once(Circle::new(point, 4, line.colour.filled())))?;
            }
        }

        legend.draw(&legend_area, lines)?;
        root.present()?;
        Ok(())
    }
}

/// The legend: below the plot, where it cannot hide a curve, in as many
/// columns as the names leave room for (a run's training and validation
/// curves side by side, mostly); the chart grows by its rows.
struct Legend {
    columns: usize,
    column_width: u32,
    rows: u32,
}

impl Legend {
    /// Where the legend starts, lined up with the plot's left edge.
    const LEFT: u32 = PLOT_MARGIN + Y_LABEL_AREA;

    fn lay_out(lines: &[Line]) -> Legend {
        let longest = lines
            .iter()
            .map(|l| l.label.chars().count())
            .max()
            .unwrap_or(0);
        let column_width = LEGEND_SAMPLE as u32 + 8 + longest as u32 * LEGEND_LETTER + 30;
        let room = WIDTH - Self::LEFT - PLOT_MARGIN;
        let columns = ((room / column_width) as usize).clamp(1, lines.len().max(1));
        Legend {
            columns,
            column_width,
            rows: lines.len().div_ceil(columns) as u32,
        }
    }

    fn height(&self) -> u32 {
        self.rows * LEGEND_ROW + PLOT_MARGIN
    }

    fn draw<DB>(&self, area: &DrawingArea<DB, Shift>, lines: &[Line]) -> Result<(), Box<dyn Error>>
    where
        DB: DrawingBackend,
        DB::ErrorType: 'static,
    {
        let text_style = TextStyle::from((FAMILY, LEGEND_TEXT_SIZE).into_font())
            .pos(Pos::new(HPos::Left, VPos::Center));
        for (index, line) in lines.iter().enumerate() {
            let column = (index % self.columns) as u32;
            let row = (index / self.columns) as u32;
            let x = (Self::LEFT + column * self.column_width) as i32;
            let y = (row * LEGEND_ROW + LEGEND_ROW / 2) as i32;
            let style = ShapeStyle::from(line.colour).stroke_width(LINE_WIDTH);
            let (dash, gap) = line.dashes.unwrap_or((LEGEND_SAMPLE, 0));
            let mut from = x;
            while from < x + LEGEND_SAMPLE {
                let to = (from + dash).min(x + LEGEND_SAMPLE);
                area.draw(&PathElement::new(vec![(from, y), (to, y)], style))?;
                from = to + gap;
            }
            area.draw(&Text::new(
                line.label.as_str(),
                (x + LEGEND_SAMPLE + 8, y),
                text_style.clone(),
            ))?;
        }
        Ok(())
    }
}

/// The epochs and values the chart spans, with a margin around the values
/// so that no curve runs along the frame; `None` when there are no points.
fn ranges(lines: &[Line]) -> Option<(Range<u64>, Range<f64>)> {
    let points = || lines.iter().flat_map(|l| l.series.points.iter());
    let first_epoch = points().map(|p| p.0).min()?;
    let last_epoch = points().map(|p| p.0).max()?;
    let low = points().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let high = points().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    let margin = if high > low {
        (high - low) * 0.05
    } else {
        // A flat curve still needs a span to be drawn in.
        (low.abs() * 0.05).max(0.05)
    };
    let epochs = if last_epoch > first_epoch {
        first_epoch..last_epoch
    } else {
        first_epoch.saturating_sub(1)..last_epoch + 1
    };
    Some((epochs, low - margin..high + margin))
}
