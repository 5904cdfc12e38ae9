//! The latency plot: latency by percentile, one line per run or ramp step, on the usual HDR
//! histogram axes (the percentile axis stretches the tail: 90, 99, 99.9, 99.99 % are evenly
//! spaced). Written as SVG by hand, and rendered to PNG with resvg when the file name asks.

use anyhow::Context;
use std::fmt::Write as _;
use std::path::Path;

const WIDTH: f64 = 880.0;
const HEIGHT: f64 = 520.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 200.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;
/// The percentile axis ends at 99.999 %.
const TAIL_DECADES: f64 = 5.0;
const COLOURS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

/// One line of the plot.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub(crate) label: String,
    /// (percentile 0–100, milliseconds), ascending.
    pub(crate) points: Vec<(f64, f64)>,
}

/// Where a percentile goes on the x axis: decades of `1 / (1 - q)`, 0 to [`TAIL_DECADES`].
fn x_of(percentile: f64) -> f64 {
    let q = (percentile / 100.0).clamp(0.0, 1.0 - 10f64.powf(-TAIL_DECADES));
    (1.0 / (1.0 - q)).log10()
}

/// A round upper bound for the y axis and its tick step.
fn y_scale(max_ms: f64) -> (f64, f64) {
    let max = max_ms.max(0.001) * 1.05;
    let magnitude = 10f64.powf(max.log10().floor());
    let step = [0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|step| max / step <= 8.0)
        .unwrap_or(magnitude * 10.0);
    ((max / step).ceil() * step, step)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The plot as an SVG document.
pub(crate) fn svg(title: &str, series: &[Series]) -> String {
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let max_ms = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let (y_max, y_step) = y_scale(max_ms);
    let px = |percentile: f64| LEFT + x_of(percentile) / TAIL_DECADES * plot_w;
    let py = |ms: f64| TOP + plot_h - ms / y_max * plot_h;

    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">"#
    );
    let _ = write!(
        out,
        r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
    );
    let _ = write!(
        out,
        r#"<text x="{}" y="28" font-size="15" text-anchor="middle">{}</text>"#,
        LEFT + plot_w / 2.0,
        escape(title)
    );
    // Grid and ticks.
    for (i, label) in ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]
        .iter()
        .enumerate()
    {
        let x = LEFT + i as f64 / TAIL_DECADES * plot_w;
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{label}</text>"##,
            TOP + plot_h,
            TOP + plot_h + 18.0
        );
    }
    let mut tick = 0.0;
    while tick <= y_max + y_step / 2.0 {
        let y = py(tick);
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            y + 4.0,
            format_ms(tick)
        );
        tick += y_step;
    }
    let _ = write!(
        out,
        r##"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333"/>"##
    );
    let _ = write!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">percentile</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 15.0
    );
    let _ = write!(
        out,
        r#"<text x="18" y="{:.1}" text-anchor="middle" transform="rotate(-90 18 {:.1})">latency (ms)</text>"#,
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0
    );
    // Lines and legend.
    for (i, s) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let points: Vec<String> = s
            .points
            .iter()
            .map(|&(p, ms)| format!("{:.1},{:.1}", px(p), py(ms)))
            .collect();
        let _ = write!(
            out,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            points.join(" ")
        );
        let y = TOP + 10.0 + i as f64 * 20.0;
        let x = LEFT + plot_w + 15.0;
        let _ = write!(
            out,
            r#"<line x1="{x}" y1="{y}" x2="{}" y2="{y}" stroke="{colour}" stroke-width="3"/><text x="{}" y="{}">{}</text>"#,
            x + 20.0,
            x + 26.0,
            y + 4.0,
            escape(&s.label)
        );
    }
    out.push_str("</svg>\n");
    out
}

fn format_ms(ms: f64) -> String {
    if ms == 0.0 {
        "0".into()
    } else if ms < 1.0 {
        format!("{ms:.2}")
    } else if ms < 10.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

/// Writes the plot to `path`: PNG when it ends in `.png`, SVG otherwise.
///
/// # Errors
/// The file cannot be written, or the SVG cannot be rendered.
pub(crate) fn write(path: &Path, title: &str, series: &[Series]) -> anyhow::Result<()> {
    let svg = svg(title, series);
    let is_png = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    if !is_png {
        return std::fs::write(path, svg).with_context(|| format!("writing {}", path.display()));
    }
    png(path, &svg)
}

#[cfg(feature = "png")]
fn png(path: &Path, svg: &str) -> anyhow::Result<()> {
    let mut options = resvg::usvg::Options::default();
    options.fontdb_mut().load_system_fonts();
    let tree = resvg::usvg::Tree::from_str(svg, &options).context("parsing the plot's SVG")?;
    let size = tree.size().to_int_size();
    let mut pixmap =
        resvg::tiny_skia::Pixmap::new(size.width(), size.height()).context("allocating the PNG")?;
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::default(),
        &mut pixmap.as_mut(),
    );
    pixmap
        .save_png(path)
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(not(feature = "png"))]
fn png(path: &Path, _svg: &str) -> anyhow::Result<()> {
    anyhow::bail!(
        "{}: this build has no PNG support (the `png` feature); plot to .svg instead",
        path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_is_stretched_evenly() {
        assert!(x_of(0.0).abs() < 1e-9);
        assert!((x_of(90.0) - 1.0).abs() < 1e-9);
        assert!((x_of(99.0) - 2.0).abs() < 1e-9);
        assert!((x_of(99.9) - 3.0).abs() < 1e-9);
        assert!((x_of(100.0) - TAIL_DECADES).abs() < 1e-9);
    }

    #[test]
    fn y_scales_are_round() {
        assert_eq!(y_scale(9.0), (10.0, 2.0));
        assert_eq!(y_scale(42.0), (50.0, 10.0));
        let (max, step) = y_scale(0.3);
        assert!(max >= 0.3 && step > 0.0);
    }

    #[test]
    fn writes_svg_and_png() {
        let series = vec![
            Series {
                label: "sotong <rooms of 10>".into(),
                points: vec![(0.0, 0.3), (50.0, 0.5), (99.0, 2.0), (100.0, 7.5)],
            },
            Series {
                label: "rabbitmq".into(),
                points: vec![(0.0, 0.8), (99.9, 12.0)],
            },
        ];
        let text = svg("latency & more", &series);
        assert!(text.starts_with("<svg") && text.ends_with("</svg>\n"));
        assert!(text.contains("&lt;rooms of 10&gt;") && text.contains("latency &amp; more"));
        assert_eq!(text.matches("<polyline").count(), 2);
        let dir = tempfile::tempdir().unwrap();
        if cfg!(feature = "png") {
            let png = dir.path().join("plot.png");
            write(&png, "t", &series).unwrap();
            let bytes = std::fs::read(&png).unwrap();
            assert_eq!(&bytes[1..4], b"PNG");
        }
        let svg_path = dir.path().join("plot.svg");
        write(&svg_path, "t", &series).unwrap();
        assert!(std::fs::read_to_string(svg_path)
            .unwrap()
            .contains("<polyline"));
    }
}
