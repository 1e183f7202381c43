//! PNG plots of an evaluation: the calibration curve of P(hit) and predicted against
//! actual final attainment. Drawn with plotters on a bitmap, with DejaVu Sans compiled
//! into the binary, so plots come out the same on a machine with no fonts installed.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use thiserror::Error;

use super::outcome::Evaluation;

/// DejaVu Sans (Bitstream Vera licence, `assets/fonts/DejaVuSans.LICENSE`).
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";
const SIZE: (u32, u32) = (900, 700);
/// More points than this make the scatter a solid blot; a fixed stride keeps it faithful.
const MAX_POINTS: usize = 6_000;

#[derive(Debug, Error)]
pub enum PlotError {
    #[error("the embedded font could not be loaded")]
    Font,
    #[error("drawing `{path}` failed: {reason}")]
    Draw { path: PathBuf, reason: String },
}

fn font_ready() -> Result<(), PlotError> {
    static READY: OnceLock<bool> = OnceLock::new();
    let ok = *READY.get_or_init(|| register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err(PlotError::Font)
    }
}

fn draw_error(path: &Path) -> impl Fn(String) -> PlotError + '_ {
    move |reason| PlotError::Draw {
        path: path.to_owned(),
        reason,
    }
}

/// Writes `calibration.png` and `predicted_vs_actual.png` into `dir`; returns their paths.
pub fn write_plots(report: &Evaluation, dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    font_ready()?;
    let calibration = dir.join("calibration.png");
    calibration_curve(report, &calibration).map_err(draw_error(&calibration))?;
    let scatter = dir.join("predicted_vs_actual.png");
    predicted_vs_actual(report, &scatter).map_err(draw_error(&scatter))?;
    Ok(vec![calibration, scatter])
}

type Chart<'a, 'b> =
    ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A white canvas with a caption and labelled axes from 0 to `top` on both sides.
fn frame<'a, 'b>(
    root: &'a DrawingArea<BitMapBackend<'b>, plotters::coord::Shift>,
    caption: String,
    top: f64,
    (x_desc, y_desc): (&str, &str),
) -> Result<Chart<'a, 'b>, String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(root)
        .caption(caption, (FAMILY, 24))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..top, 0.0..top)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style((FAMILY, 16))
        .axis_desc_style((FAMILY, 18))
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(chart)
}

/// The series labels, top left.
fn legend<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FAMILY, 16))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(|e| e.to_string())
}

/// Observed hit rate against mean predicted P(hit) per bin; points on the diagonal are
/// calibrated. Point area follows the bin's share of snapshots.
fn calibration_curve(report: &Evaluation, path: &Path) -> Result<(), String> {
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    let ece = report
        .held_out
        .ece
        .map_or_else(String::new, |e| format!(", ECE {e:.3}"));
    let caption = format!(
        "Calibration of P(hit): {} held-out snapshots{ece}",
        report.held_out.snapshots
    );
    let mut chart = frame(
        &root,
        caption,
        1.0,
        ("mean predicted P(hit)", "observed hit rate"),
    )?;
    chart
        .draw_series(LineSeries::new(
            [(0.0, 0.0), (1.0, 1.0)],
            ShapeStyle::from(&BLACK.mix(0.4)).stroke_width(1),
        ))
        .map_err(|e| e.to_string())?
        .label("perfect calibration")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK.mix(0.4)));
    let bins: Vec<_> = report
        .calibration_curve
        .iter()
        .filter(|b| b.count > 0)
        .collect();
    let total = bins.iter().map(|b| b.count).sum::<usize>().max(1) as f64;
    let colour = RGBColor(31, 119, 180);
    chart
        .draw_series(LineSeries::new(
            bins.iter().map(|b| (b.mean_predicted, b.observed_rate)),
            ShapeStyle::from(&colour).stroke_width(2),
        ))
        .map_err(|e| e.to_string())?
        .label("nextbest")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour));
    chart
        .draw_series(bins.iter().map(|b| {
            let radius = 3.0 + 17.0 * (b.count as f64 / total).sqrt();
            Circle::new(
                (b.mean_predicted, b.observed_rate),
                radius.round() as i32,
                colour.filled(),
            )
        }))
        .map_err(|e| e.to_string())?;
    legend(&mut chart)?;
    root.present().map_err(|e| e.to_string())
}

/// Predicted expected attainment against the plan's actual final attainment, one point
/// per held-out snapshot (an even stride of them when there are many).
fn predicted_vs_actual(report: &Evaluation, path: &Path) -> Result<(), String> {
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    let points = &report.predicted_vs_actual;
    let stride = points.len().div_ceil(MAX_POINTS).max(1);
    let top = points
        .iter()
        .flat_map(|(p, a)| [*p, *a])
        .fold(1.2_f64, f64::max)
        .min(2.0);
    let mae = report
        .held_out
        .mae
        .map_or_else(String::new, |m| format!(", MAE {m:.3}"));
    let caption = format!(
        "Expected vs actual attainment: {} held-out snapshots{mae}",
        points.len()
    );
    let mut chart = frame(
        &root,
        caption,
        top,
        ("predicted expected attainment", "actual final attainment"),
    )?;
    chart
        .draw_series(
            points
                .iter()
                .step_by(stride)
                .map(|&(p, a)| Circle::new((p, a), 2, RGBColor(31, 119, 180).mix(0.25).filled())),
        )
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(LineSeries::new(
            [(0.0, 0.0), (top, top)],
            ShapeStyle::from(&BLACK.mix(0.6)).stroke_width(1),
        ))
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(LineSeries::new(
            [(0.0, 1.0), (top, 1.0)],
            ShapeStyle::from(&RGBColor(214, 39, 40).mix(0.8)).stroke_width(2),
        ))
        .map_err(|e| e.to_string())?
        .label("target (attainment 1.0)")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RGBColor(214, 39, 40)));
    legend(&mut chart)?;
    root.present().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::metrics::CalibrationBin;
    use crate::model::train::Scores;

    fn report() -> Evaluation {
        let bin = |lower: f64, count, observed_rate| CalibrationBin {
            lower,
            upper: lower + 0.5,
            count,
            mean_predicted: lower + 0.25,
            observed_rate,
        };
        Evaluation {
            version: "v1".into(),
            cutoff: "2026-01-01".into(),
            held_out: Scores {
                snapshots: 3,
                ece: Some(0.02),
                mae: Some(0.1),
                ..Scores::default()
            },
            by_fraction: Default::default(),
            by_template: Default::default(),
            by_relationship_stage: Default::default(),
            calibration_curve: vec![bin(0.0, 10, 0.2), bin(0.5, 0, 0.0), bin(0.5, 5, 0.8)],
            predicted_vs_actual: vec![(0.5, 0.6), (1.1, 0.9), (2.0, 2.0)],
            truth: None,
        }
    }

    /// Width and height from a PNG's IHDR chunk, after checking the signature.
    fn png_size(path: &Path) -> (u32, u32) {
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", path.display());
        let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
        (be(16), be(20))
    }

    #[test]
    fn both_plots_are_written_as_pngs_of_the_set_size() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_plots(&report(), dir.path()).unwrap();
        assert_eq!(written.len(), 2);
        for path in &written {
            assert_eq!(png_size(path), SIZE);
            // Text, points and lines were drawn: far more than a blank canvas compresses to.
            assert!(std::fs::metadata(path).unwrap().len() > 10_000);
        }
    }

    #[test]
    fn an_unwritable_folder_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no/such/folder");
        let err = write_plots(&report(), &missing).unwrap_err().to_string();
        assert!(err.contains("calibration.png"), "{err}");
    }
}
