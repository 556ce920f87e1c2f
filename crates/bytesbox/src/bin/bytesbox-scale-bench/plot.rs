//! The scale benchmark's plot: warm-run throughput, new-box rate and
//! warm-run latency against live boxes (log scale), one panel each, as SVG.

use std::path::Path;

use anyhow::Result;
use plotters::prelude::*;

/// What was measured at one live-box count.
pub struct Point {
    pub boxes: usize,
    pub runs_per_sec: f64,
    pub new_boxes_per_sec: f64,
    pub latency_ms: f64,
}

type Figure = fn(&Point) -> f64;

const PANELS: [(&str, &str, Figure); 3] = [
    ("warm runs (48 at a time, 1 per box)", "runs/s", |p| p.runs_per_sec),
    ("new boxes", "boxes/s", |p| p.new_boxes_per_sec),
    ("warm run latency (median)", "ms", |p| p.latency_ms),
];

pub fn write_svg(path: &Path, points: &[Point]) -> Result<()> {
    let root = SVGBackend::new(path, (1200, 380)).into_drawing_area();
    root.fill(&WHITE)?;
    let most_boxes = points.iter().map(|p| p.boxes).max().unwrap_or(1) as f64;
    let fewest_boxes = points.iter().map(|p| p.boxes).min().unwrap_or(1) as f64;
    for (area, (title, unit, figure)) in root.split_evenly((1, PANELS.len())).iter().zip(PANELS) {
        let highest = points.iter().map(figure).fold(0.0, f64::max);
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d((fewest_boxes * 0.7..most_boxes * 1.4).log_scale(), 0.0..highest * 1.2)?;
        chart.configure_mesh().x_desc("live boxes").y_desc(unit).draw()?;
        let line: Vec<(f64, f64)> = points.iter().map(|p| (p.boxes as f64, figure(p))).collect();
        chart.draw_series(LineSeries::new(line.iter().copied(), BLUE.stroke_width(2)))?;
        chart.draw_series(line.iter().map(|&(x, y)| Circle::new((x, y), 4, BLUE.filled())))?;
    }
    root.present()?;
    Ok(())
}
