//! Curves in the terminal: one line of block characters per run and curve,
//! with its first, last, lowest and highest values.

use super::curves::RunCurves;

/// From the lowest value to the highest.
const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The most characters a sparkline takes: longer curves are averaged down
/// so that a line fits a terminal next to its numbers.
const MAX_WIDTH: usize = 50;

pub fn print(runs: &[RunCurves], figure: &str) {
    let values = runs
        .iter()
        .flat_map(|r| &r.series)
        .flat_map(|s| s.points.iter().map(|&(_, v)| v));
    let Some((low, high)) = range(values) else {
        say!("{figure}: no values to show");
        return;
    };
    // One scale for every line, so that heights compare across curves and runs.
    say!(
        "{figure} by epoch, on one scale: {} is {}, {} is {}",
        BLOCKS[0],
        number(low),
        BLOCKS[BLOCKS.len() - 1],
        number(high)
    );
    let name_width = runs
        .iter()
        .flat_map(|r| &r.series)
        .map(|s| s.name().chars().count())
        .max()
        .unwrap_or(0);
    for run in runs {
        say!("");
        say!("{}", run.id);
        if run.series.is_empty() {
            say!("  no values of {figure} logged");
        }
        for series in &run.series {
            let values: Vec<f64> = series.points.iter().map(|&(_, v)| v).collect();
            let line = sparkline(&values, low, high);
            let (first_epoch, last_epoch) = match (series.points.first(), series.points.last()) {
                (Some(first), Some(last)) => (first.0, last.0),
                _ => continue,
            };
            let (min, max) = range(values.iter().copied()).unwrap_or((low, high));
            say!(
                "  {:<name_width$}  {line:<MAX_WIDTH$}  epochs {first_epoch}-{last_epoch}  first {}  last {}  min {}  max {}",
                series.name(),
                number(values[0]),
                number(values[values.len() - 1]),
                number(min),
                number(max),
            );
        }
    }
}

/// The values as block characters between `low` and `high`, at most
/// `MAX_WIDTH` of them (each the mean of an equal share of the values).
fn sparkline(values: &[f64], low: f64, high: f64) -> String {
    let width = values.len().min(MAX_WIDTH);
    (0..width)
        .map(|column| {
            let share = &values[column * values.len() / width..(column + 1) * values.len() / width];
            let mean = share.iter().sum::<f64>() / share.len() as f64;
            let level = if high > low {
                ((mean - low) / (high - low) * (BLOCKS.len() - 1) as f64).round() as usize
            } else {
                0
            };
            BLOCKS[level.min(BLOCKS.len() - 1)]
        })
        .collect()
}

fn range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |range, v| match range {
        None => Some((v, v)),
        Some((low, high)) => Some((low.min(v), high.max(v))),
    })
}

/// Four decimals for the usual losses and accuracies, scientific notation
/// for values too small or large for them to say much.
fn number(v: f64) -> String {
    if v == 0.0 || (1e-3..1e5).contains(&v.abs()) {
        format!("{v:.4}")
    } else {
        format!("{v:.3e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_falling_curve_goes_from_the_highest_block_to_the_lowest() {
        assert_eq!(sparkline(&[4.0, 3.0, 2.0, 1.0], 1.0, 4.0), "█▆▃▁");
    }

    #[test]
    fn long_curves_are_averaged_down_to_the_width() {
        let values: Vec<f64> = (0..200).map(f64::from).collect();
        let line = sparkline(&values, 0.0, 199.0);
        assert_eq!(line.chars().count(), MAX_WIDTH);
        assert!(line.starts_with('▁') && line.ends_with('█'));
    }

    #[test]
    fn a_flat_curve_is_drawn_low() {
        assert_eq!(sparkline(&[2.0, 2.0], 2.0, 2.0), "▁▁");
    }
}
