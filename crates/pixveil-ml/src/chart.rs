//! The experiment chart: grouped bar charts rendered to RGB pixels or PNG with the one
//! renderer of pixveil's pictures ([`pixveil_image::draw`]: no plotting or font dependency),
//! e.g. test accuracy per scheme (groups along x) for each key mode, augmentation side or
//! dataset (one coloured bar per series within a group).
//!
//! The chart has a title, a y axis from 0 to [`BarChart::y_max`] with "nice" gridlines and tick
//! labels, a rotated y-axis label, group labels under the axis (truncated with `..` when too
//! long), a legend under the title and the value above each bar. Colours are the Okabe–Ito
//! colour-blind-safe palette ([`PALETTE`]); text uses the bitmap font of
//! [`pixveil_image::draw`] at 2× (3× for the title).
//!
//! The image size follows from the content: every unit below is output pixels. Bars are
//! [`MIN_BAR_WIDTH`]..=[`MAX_BAR_WIDTH`] wide (wide enough for their value label), groups are
//! at least wide enough for their cluster of bars plus [`GROUP_GAP`], the plot area is
//! [`PLOT_HEIGHT`] high, and the whole image is at least [`MIN_WIDTH`] wide and at most
//! [`MAX_SIDE`] on either side.
//!
//! ```
//! use pixveil_ml::chart::{render_bar_chart, BarChart, Series};
//!
//! # fn main() -> pixveil_ml::Result<()> {
//! let chart = BarChart {
//!     title: "MNIST test accuracy".into(),
//!     y_label: "accuracy (%)".into(),
//!     y_max: 100.0,
//!     groups: vec!["plain".into(), "pe".into(), "logistic".into()],
//!     series: vec![
//!         Series { name: "fixed key".into(), values: vec![Some(97.8), Some(97.5), Some(97.6)] },
//!         Series { name: "per-image key".into(), values: vec![Some(97.8), Some(41.0), None] },
//!     ],
//! };
//! let (width, height, rgb) = render_bar_chart(&chart)?;
//! assert_eq!(rgb.len(), width as usize * height as usize * 3);
//! # Ok(())
//! # }
//! ```

use std::path::Path;

use pixveil_image::draw::{text_width, text_width_n, truncate, truncate_chars, Canvas};
use pixveil_image::draw::{CAP_H, CELL_H};

use crate::error::{Error, Result};

/// One series: a name for the legend and one value per group (`None`: missing, nothing drawn).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend entry (truncated to [`MAX_LEGEND_CHARS`] characters).
    pub name: String,
    /// One value per group, in the order of [`BarChart::groups`]; finite and ≥ 0.
    pub values: Vec<Option<f64>>,
}

/// A grouped bar chart: groups along x, one bar per series within each group.
#[derive(Debug, Clone, PartialEq)]
pub struct BarChart {
    /// Title above the chart (truncated to the image width).
    pub title: String,
    /// Label of the y axis, drawn rotated along it (truncated to [`PLOT_HEIGHT`]).
    pub y_label: String,
    /// Top of the y axis, in data units; the axis runs from 0. Values above it are drawn clipped
    /// at the top of the plot area, with their true value as label.
    pub y_max: f64,
    /// Group names, drawn under the x axis (truncated to the group width).
    pub groups: Vec<String>,
    /// The series, drawn in this order within each group and in the legend; colours follow
    /// [`PALETTE`] in the same order.
    pub series: Vec<Series>,
}

/// Bar colours (RGB), in series order: the Okabe–Ito palette (Okabe & Ito 2008, "Color
/// Universal Design"), blue first and yellow last (lowest contrast on white), black omitted.
pub const PALETTE: [[u8; 3]; 7] = [
    [0, 114, 178],   // blue
    [230, 159, 0],   // orange
    [0, 158, 115],   // bluish green
    [213, 94, 0],    // vermillion
    [204, 121, 167], // reddish purple
    [86, 180, 233],  // sky blue
    [240, 228, 66],  // yellow
];
/// Most series a chart may have: one per [`PALETTE`] colour.
pub const MAX_SERIES: usize = PALETTE.len();
/// Most groups a chart may have (the width limit [`MAX_SIDE`] usually binds first).
pub const MAX_GROUPS: usize = 512;
/// Largest image side, in pixels.
pub const MAX_SIDE: u32 = 8192;
/// Smallest image width, in pixels; narrower content gets wider groups.
pub const MIN_WIDTH: u32 = 720;
/// Height of the plot area (from 0 to `y_max`), in pixels.
pub const PLOT_HEIGHT: u32 = 420;
/// Narrowest bar, in pixels.
pub const MIN_BAR_WIDTH: u32 = 18;
/// Widest bar, in pixels (bars widen up to this to fit their value label).
pub const MAX_BAR_WIDTH: u32 = 64;
/// Space between the bars of one group, in pixels.
pub const BAR_GAP: u32 = 4;
/// Least space between two groups' clusters of bars, in pixels.
pub const GROUP_GAP: u32 = 36;
/// Smallest accepted `y_max` (and tick step scale), in data units.
pub const MIN_Y_MAX: f64 = 1e-6;
/// Largest accepted `y_max` and value, in data units (labels stay a few characters long).
pub const MAX_VALUE: f64 = 1e12;
/// Legend entries are cut to this many characters.
pub const MAX_LEGEND_CHARS: usize = 40;

/// Scale of normal text: one font pixel is drawn as `TEXT_SCALE × TEXT_SCALE` pixels.
const TEXT_SCALE: i64 = 2;
/// Scale of the title.
const TITLE_SCALE: i64 = 3;
/// Outer padding of the image, in pixels.
const PAD: i64 = 28;
/// Length of the y-axis tick marks, in pixels.
const TICK: i64 = 5;

const BACKGROUND: [u8; 3] = [255, 255, 255];
const TEXT: [u8; 3] = [33, 33, 33];
const MUTED: [u8; 3] = [90, 90, 90];
const AXIS: [u8; 3] = [64, 64, 64];
const GRID: [u8; 3] = [226, 226, 226];

/// Renders `chart` as RGB8 pixels.
///
/// Returns `(width, height, pixels)`: the image size in pixels and `height × width × 3` bytes,
/// row-major, no padding. The size follows from the content (see the [module docs](self)); the
/// output is a pure function of `chart`.
///
/// # Errors
/// [`Error::Invalid`] if `chart` has no groups or no series, more than [`MAX_GROUPS`] groups
/// or [`MAX_SERIES`] series, a series without exactly one value per group, a value that is not
/// finite or outside `0..=MAX_VALUE`, a `y_max` that is not finite or outside
/// `MIN_Y_MAX..=MAX_VALUE`, or if the image would exceed [`MAX_SIDE`] pixels on a side.
pub fn render_bar_chart(chart: &BarChart) -> Result<(u32, u32, Vec<u8>)> {
    let layout = Layout::new(chart)?;
    let side = |v: i64| u32::try_from(v).map_err(|_| too_big(v));
    let (width, height) = (side(layout.width)?, side(layout.height)?);
    let mut canvas = Canvas::new(width, height, BACKGROUND)?;
    layout.draw(chart, &mut canvas);
    let (_, rgb) = canvas.into_rgb()?;
    Ok((width, height, rgb))
}

/// Renders `chart` (see [`render_bar_chart`]) and saves it as an RGB PNG at `path`, whatever
/// its extension. The write is atomic: a temporary file beside `path`, then a rename.
///
/// # Errors
/// As [`render_bar_chart`]; [`Error::Image`] naming `path` if it cannot be written.
pub fn save_bar_chart(chart: &BarChart, path: &Path) -> Result<()> {
    let (width, height, rgb) = render_bar_chart(chart)?;
    let shape = pixveil_image::Shape::new(height, width, 3)?;
    Ok(pixveil_image::files::write_png(path, &rgb, shape)?)
}

fn bad(msg: String) -> Error {
    Error::Invalid(format!("bar chart: {msg}"))
}

fn too_big(side: i64) -> Error {
    bad(format!(
        "the image would be {side} pixels on a side, more than {MAX_SIDE}"
    ))
}

/// A name shortened for an error message.
fn short(name: &str) -> String {
    truncate_chars(name, 32)
}

fn validate(chart: &BarChart) -> Result<()> {
    let groups = chart.groups.len();
    if groups == 0 {
        return Err(bad("no groups".into()));
    }
    if groups > MAX_GROUPS {
        return Err(bad(format!("{groups} groups, at most {MAX_GROUPS}")));
    }
    if chart.series.is_empty() {
        return Err(bad("no series".into()));
    }
    if chart.series.len() > MAX_SERIES {
        return Err(bad(format!(
            "{} series, at most {MAX_SERIES} (one per palette colour)",
            chart.series.len()
        )));
    }
    let y_max = chart.y_max;
    if !(y_max.is_finite() && (MIN_Y_MAX..=MAX_VALUE).contains(&y_max)) {
        return Err(bad(format!(
            "y_max {y_max} is not a finite number in {MIN_Y_MAX}..={MAX_VALUE}"
        )));
    }
    for s in &chart.series {
        if s.values.len() != groups {
            return Err(bad(format!(
                "series \"{}\" has {} values for {groups} groups",
                short(&s.name),
                s.values.len()
            )));
        }
        for (v, g) in s.values.iter().zip(&chart.groups) {
            if let Some(v) = *v {
                if !(v.is_finite() && (0.0..=MAX_VALUE).contains(&v)) {
                    return Err(bad(format!(
                        "series \"{}\", group \"{}\": value {v} is not a finite number in \
                         0..={MAX_VALUE}",
                        short(&s.name),
                        short(g)
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Where everything goes, in pixels; `baseline = plot_top + plot_h` is the row of the x axis.
#[derive(Debug)]
struct Layout {
    width: i64,
    height: i64,
    plot_left: i64,
    plot_top: i64,
    plot_w: i64,
    plot_h: i64,
    group_w: i64,
    bar_w: i64,
    cluster_w: i64,
    /// Scale of the value labels above the bars (2, or 1 when they are too long for a bar).
    value_scale: i64,
    value_decimals: usize,
    /// `(value, label)` of each y tick, from 0 up.
    ticks: Vec<(f64, String)>,
    title: String,
    title_top: i64,
    y_label: String,
    /// `(x, y, series, text)` of each legend entry: top left of its swatch.
    legend: Vec<(i64, i64, usize, String)>,
    group_labels: Vec<String>,
}

/// Legend swatch side, in pixels.
const SWATCH: i64 = 14;

impl Layout {
    fn new(chart: &BarChart) -> Result<Layout> {
        validate(chart)?;
        let n_groups = chart.groups.len() as i64;
        let n_series = chart.series.len() as i64;
        let y_max = chart.y_max;

        // Bars: wide enough for their value label (with 6 pixels between neighbouring labels).
        let step = nice_step(y_max);
        let value_decimals = value_decimals(y_max, step);
        let widest = chart
            .series
            .iter()
            .flat_map(|s| s.values.iter().flatten())
            .map(|v| format_value(*v, value_decimals).len())
            .max()
            .unwrap_or(0); // no values: no labels to fit
        let fits = |scale: i64| text_width_n(widest, scale) + 6 - BAR_GAP as i64;
        let value_scale = if fits(TEXT_SCALE) <= MAX_BAR_WIDTH as i64 {
            TEXT_SCALE
        } else {
            1
        };
        let bar_w = fits(value_scale).clamp(MIN_BAR_WIDTH as i64, MAX_BAR_WIDTH as i64);
        let cluster_w = n_series * bar_w + (n_series - 1) * BAR_GAP as i64;
        let longest_group = chart
            .groups
            .iter()
            .map(|g| g.chars().count().min(16))
            .max()
            .unwrap_or(0); // no groups: no names to fit
        let mut group_w =
            (cluster_w + GROUP_GAP as i64).max(text_width_n(longest_group, TEXT_SCALE) + 12);

        // Left margin: rotated y label, tick labels, ticks.
        let tick_decimals = decimals_of(step);
        let n_ticks = (y_max / step + 1e-9).floor() as i64;
        let ticks: Vec<(f64, String)> = (0..=n_ticks)
            .map(|k| {
                let t = k as f64 * step;
                (t, format!("{:.*}", tick_decimals, t + 0.0))
            })
            .collect();
        let tick_w = ticks
            .iter()
            .map(|(_, l)| text_width(l, TEXT_SCALE))
            .max()
            .unwrap_or(0); // no ticks: no room needed
        let y_label_room = if chart.y_label.is_empty() {
            0
        } else {
            CELL_H * TEXT_SCALE + 12
        };
        let plot_left = PAD + y_label_room + tick_w + 8 + TICK;

        // Width: the groups, at least MIN_WIDTH and room for the title (up to 1600 pixels).
        let title_room = (text_width(&chart.title, TITLE_SCALE) + plot_left + PAD).min(1600);
        let min_width = (MIN_WIDTH as i64).max(title_room);
        if plot_left + n_groups * group_w + PAD < min_width {
            group_w = (min_width - plot_left - PAD) / n_groups;
        }
        let plot_w = n_groups * group_w;
        let width = (plot_left + plot_w + PAD).max(min_width);
        if width > MAX_SIDE as i64 {
            return Err(too_big(width));
        }

        // Top: title, legend, room for the value labels of the tallest bars.
        let mut y = PAD;
        let title = truncate(&chart.title, width - plot_left - PAD, TITLE_SCALE);
        let title_top = y;
        if !title.is_empty() {
            y += CELL_H * TITLE_SCALE + 14;
        }
        let mut legend = Vec::with_capacity(chart.series.len());
        let (legend_left, legend_right) = (plot_left, width - PAD);
        let mut x = legend_left;
        for (i, s) in chart.series.iter().enumerate() {
            let name = truncate(
                &truncate_chars(&s.name, MAX_LEGEND_CHARS),
                legend_right - legend_left - SWATCH - 8,
                TEXT_SCALE,
            );
            let item_w = SWATCH + 8 + text_width(&name, TEXT_SCALE);
            if x > legend_left && x + item_w > legend_right {
                x = legend_left;
                y += CELL_H * TEXT_SCALE + 6;
            }
            legend.push((x, y, i, name));
            x += item_w + 28;
        }
        y += CELL_H * TEXT_SCALE + 12;
        y += CAP_H * value_scale + 8;
        let plot_top = y;
        let plot_h = PLOT_HEIGHT as i64;
        let height = plot_top + plot_h + 1 + 12 + CELL_H * TEXT_SCALE + PAD;
        if height > MAX_SIDE as i64 {
            return Err(too_big(height));
        }

        let y_label = truncate(&chart.y_label, plot_h, TEXT_SCALE);
        let group_labels = chart
            .groups
            .iter()
            .map(|g| truncate(g, group_w - 8, TEXT_SCALE))
            .collect();
        Ok(Layout {
            width,
            height,
            plot_left,
            plot_top,
            plot_w,
            plot_h,
            group_w,
            bar_w,
            cluster_w,
            value_scale,
            value_decimals,
            ticks,
            title,
            title_top,
            y_label,
            legend,
            group_labels,
        })
    }

    fn baseline(&self) -> i64 {
        self.plot_top + self.plot_h
    }

    /// Left edge of the bar of series `s` in group `g`.
    fn bar_x(&self, g: usize, s: usize) -> i64 {
        self.plot_left
            + g as i64 * self.group_w
            + (self.group_w - self.cluster_w) / 2
            + s as i64 * (self.bar_w + BAR_GAP as i64)
    }

    /// Height in pixels of a bar or tick at `v` (clipped to the plot area).
    fn bar_height(&self, v: f64, y_max: f64) -> i64 {
        ((v / y_max * self.plot_h as f64).round() as i64).clamp(0, self.plot_h)
    }

    fn draw(&self, chart: &BarChart, c: &mut Canvas) {
        let base = self.baseline();
        // Gridlines under the bars.
        for (t, _) in self.ticks.iter().skip(1) {
            let y = base - self.bar_height(*t, chart.y_max);
            c.fill_rect(self.plot_left, y, self.plot_w, 1, GRID);
        }
        // Bars and their value labels.
        for (s, series) in chart.series.iter().enumerate() {
            let colour = PALETTE[s % PALETTE.len()];
            for (g, v) in series.values.iter().enumerate() {
                let Some(v) = *v else { continue };
                let (x, h) = (self.bar_x(g, s), self.bar_height(v, chart.y_max));
                c.fill_rect(x, base - h, self.bar_w, h, colour);
                let label = format_value(v, self.value_decimals);
                let lw = text_width(&label, self.value_scale);
                let top = base - h - 6 - CAP_H * self.value_scale;
                c.text(
                    x + (self.bar_w - lw) / 2,
                    top,
                    &label,
                    self.value_scale,
                    TEXT,
                );
            }
        }
        // Axes, ticks and tick labels.
        c.fill_rect(self.plot_left - 1, base, self.plot_w + 1, 1, AXIS);
        c.fill_rect(self.plot_left - 1, self.plot_top, 1, self.plot_h + 1, AXIS);
        for (t, label) in &self.ticks {
            let y = base - self.bar_height(*t, chart.y_max);
            c.fill_rect(self.plot_left - 1 - TICK, y, TICK, 1, AXIS);
            let right = self.plot_left - 1 - TICK - 6;
            let lw = text_width(label, TEXT_SCALE);
            c.text(
                right - lw,
                y - CAP_H * TEXT_SCALE / 2,
                label,
                TEXT_SCALE,
                MUTED,
            );
        }
        // Group labels, centred under their group.
        for (g, label) in self.group_labels.iter().enumerate() {
            let centre = self.plot_left + g as i64 * self.group_w + self.group_w / 2;
            let lw = text_width(label, TEXT_SCALE);
            c.text(centre - lw / 2, base + 13, label, TEXT_SCALE, TEXT);
        }
        // Legend.
        for (x, y, s, name) in &self.legend {
            c.fill_rect(*x, *y, SWATCH, SWATCH, PALETTE[*s % PALETTE.len()]);
            c.text(x + SWATCH + 8, *y, name, TEXT_SCALE, TEXT);
        }
        // Title and the y label (rotated, centred along the axis).
        c.text(
            self.plot_left,
            self.title_top,
            &self.title,
            TITLE_SCALE,
            TEXT,
        );
        let lw = text_width(&self.y_label, TEXT_SCALE);
        let bottom = self.plot_top + (self.plot_h + lw) / 2;
        c.text_up(PAD, bottom, &self.y_label, TEXT_SCALE, TEXT);
    }
}

/// A tick step of 1, 2, 2.5 or 5 × 10^k giving about five intervals up to `y_max` (> 0).
fn nice_step(y_max: f64) -> f64 {
    let raw = y_max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let m = [1.0, 2.0, 2.5, 5.0]
        .into_iter()
        .find(|m| norm <= m * (1.0 + 1e-9))
        .unwrap_or(10.0); // norm ∈ (5, 10): round up to the next decade
    m * mag
}

/// The fewest decimals (at most 9) that print `step` exactly.
fn decimals_of(step: f64) -> usize {
    (0..9)
        .find(|&d| {
            let x = step * 10f64.powi(d as i32);
            (x - x.round()).abs() <= 1e-6 * x.max(1.0)
        })
        .unwrap_or(9) // at most 9 decimals are printed
}

/// Decimals of the value labels: none from `y_max ≥ 1000`, else one more than the ticks
/// (`y_max` 100 → "97.8", `y_max` 1 → "0.98").
fn value_decimals(y_max: f64, step: f64) -> usize {
    if y_max >= 1000.0 {
        0
    } else {
        decimals_of(step) + 1
    }
}

fn format_value(v: f64, decimals: usize) -> String {
    format!("{:.*}", decimals, v + 0.0) // + 0.0 turns -0.0 into 0.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use pixveil_image::draw::ADVANCE;

    fn chart(values: &[&[Option<f64>]]) -> BarChart {
        let groups = values.first().map_or(0, |v| v.len());
        BarChart {
            title: "Test accuracy".into(),
            y_label: "accuracy (%)".into(),
            y_max: 100.0,
            groups: (0..groups).map(|g| format!("group {g}")).collect(),
            series: values
                .iter()
                .enumerate()
                .map(|(s, v)| Series {
                    name: format!("series {s}"),
                    values: v.to_vec(),
                })
                .collect(),
        }
    }

    struct Img {
        w: i64,
        px: Vec<u8>,
    }

    impl Img {
        fn of(c: &BarChart) -> (Img, Layout) {
            let (w, h, px) = render_bar_chart(c).unwrap();
            assert_eq!(px.len(), w as usize * h as usize * 3);
            (Img { w: w.into(), px }, Layout::new(c).unwrap())
        }
        fn at(&self, x: i64, y: i64) -> [u8; 3] {
            let o = ((y * self.w + x) * 3) as usize;
            [self.px[o], self.px[o + 1], self.px[o + 2]]
        }
        /// Pixels of `colour` in column `x`, rows `y0..y1`.
        fn count(&self, x: i64, y0: i64, y1: i64, colour: [u8; 3]) -> i64 {
            (y0..y1).filter(|&y| self.at(x, y) == colour).count() as i64
        }
    }

    #[test]
    fn bar_heights_are_proportional_to_values() {
        let c = chart(&[
            &[Some(100.0), Some(50.0), Some(25.0)],
            &[Some(10.0), Some(0.0), Some(150.0)],
        ]);
        let (img, l) = Img::of(&c);
        let base = l.baseline();
        let mut heights = vec![];
        for (s, series) in c.series.iter().enumerate() {
            for g in 0..c.groups.len() {
                let x = l.bar_x(g, s) + l.bar_w / 2;
                // the whole column, title to bottom edge: only the bar has the series colour
                let h = img.count(x, 0, l.height, PALETTE[s]);
                if h > 0 {
                    // contiguous and standing on the axis
                    assert_eq!(img.count(x, base - h, base, PALETTE[s]), h);
                    assert_eq!(img.at(x, base), AXIS);
                }
                heights.push((series.values[g].unwrap(), h));
            }
        }
        let full = PLOT_HEIGHT as i64;
        assert_eq!(
            heights,
            vec![
                (100.0, full),
                (50.0, full / 2),
                (25.0, full / 4),
                (10.0, (full as f64 / 10.0).round() as i64),
                (0.0, 0),
                (150.0, full), // clipped at y_max
            ]
        );
        // left and right edges of a bar: exactly bar_w pixels wide
        let row = base - 1;
        let x0 = l.bar_x(0, 0);
        assert_eq!(img.at(x0, row), PALETTE[0]);
        assert_eq!(img.at(x0 + l.bar_w - 1, row), PALETTE[0]);
        assert_ne!(img.at(x0 - 1, row), PALETTE[0]);
        assert_ne!(img.at(x0 + l.bar_w, row), PALETTE[0]);
    }

    #[test]
    fn y_max_scales_bars() {
        let mut c = chart(&[&[Some(0.5)]]);
        c.y_max = 1.0;
        let (img, l) = Img::of(&c);
        let x = l.bar_x(0, 0) + l.bar_w / 2;
        assert_eq!(
            img.count(x, 0, l.height, PALETTE[0]),
            PLOT_HEIGHT as i64 / 2
        );
        // labels: ticks every 0.2 with one decimal, values with two
        let labels: Vec<&str> = l.ticks.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(labels, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        assert_eq!(format_value(0.5, l.value_decimals), "0.50");
    }

    #[test]
    fn missing_values_draw_nothing() {
        let c = chart(&[&[Some(80.0), None], &[None, Some(60.0)]]);
        let (img, l) = Img::of(&c);
        // from the top of the value-label room to the axis, across each bar's slot
        let top = l.plot_top - CAP_H * l.value_scale - 8;
        let slot = |g: usize, s: usize| {
            let x0 = l.bar_x(g, s);
            let mut seen = std::collections::BTreeSet::new();
            for x in x0..x0 + l.bar_w {
                for y in top..l.baseline() {
                    seen.insert(img.at(x, y));
                }
            }
            seen
        };
        for (g, s) in [(1, 0), (0, 1)] {
            let seen = slot(g, s);
            assert!(
                seen.iter().all(|p| *p == BACKGROUND || *p == GRID),
                "missing bar ({g}, {s}) drew {seen:?}"
            );
        }
        for (g, s) in [(0, 0), (1, 1)] {
            let seen = slot(g, s);
            assert!(
                seen.contains(&PALETTE[s]) && seen.contains(&TEXT),
                "bar ({g}, {s})"
            );
        }
        // a zero is not missing: it gets a label
        let c = chart(&[&[Some(0.0)]]);
        let (img, l) = Img::of(&c);
        let x0 = l.bar_x(0, 0);
        let text = (x0..x0 + l.bar_w)
            .map(|x| img.count(x, top, l.baseline(), TEXT))
            .sum::<i64>();
        assert!(text > 0);
    }

    fn err(c: &BarChart) -> String {
        match render_bar_chart(c) {
            Err(Error::Invalid(m)) => m,
            other => panic!("expected a parameter error, got {other:?}"),
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        let ok = chart(&[&[Some(1.0), Some(2.0)]]);
        assert!(render_bar_chart(&ok).is_ok());

        let mut c = ok.clone();
        c.groups.clear();
        c.series[0].values.clear();
        assert!(err(&c).contains("no groups"));

        let mut c = ok.clone();
        c.series.clear();
        assert!(err(&c).contains("no series"));

        let mut c = ok.clone();
        c.series[0].values.push(Some(3.0));
        assert!(err(&c).contains("3 values for 2 groups"));
        c.series[0].values.truncate(1);
        assert!(err(&c).contains("1 values for 2 groups"));

        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.5, 2e12] {
            let mut c = ok.clone();
            c.series[0].values[1] = Some(v);
            assert!(err(&c).contains("group \"group 1\""), "value {v}");
        }
        for y in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-9, 1e13] {
            let mut c = ok.clone();
            c.y_max = y;
            assert!(err(&c).contains("y_max"), "y_max {y}");
        }

        let mut c = ok.clone();
        c.series = (0..=MAX_SERIES).map(|_| ok.series[0].clone()).collect();
        assert!(err(&c).contains("at most 7"));

        let many = vec![Some(1.0); MAX_GROUPS + 1];
        assert!(err(&chart(&[&many])).contains("at most 512"));

        // fewer groups, but too wide
        let wide: Vec<Vec<Option<f64>>> = (0..MAX_SERIES).map(|_| vec![Some(99.9); 200]).collect();
        let wide: Vec<&[Option<f64>]> = wide.iter().map(|v| v.as_slice()).collect();
        assert!(err(&chart(&wide)).contains("more than 8192"));
    }

    #[test]
    fn png_round_trip() {
        let c = chart(&[&[Some(97.8), Some(12.5)], &[None, Some(100.0)]]);
        let (w, h, rgb) = render_bar_chart(&c).unwrap();
        assert!(w >= MIN_WIDTH && h > PLOT_HEIGHT);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chart.png");
        save_bar_chart(&c, &path).unwrap();
        let back = pixveil_image::files::read_image(&path).unwrap();
        let s = back.shape();
        assert_eq!(
            (s.width(), s.height(), s.channels()),
            (w as usize, h as usize, 3)
        );
        assert_eq!(back.as_bytes(), &rgb[..]);
        // errors leave no file behind
        let bad = dir.path().join("bad.png");
        let mut c = c;
        c.y_max = 0.0;
        assert!(save_bar_chart(&c, &bad).is_err());
        assert!(!bad.exists());
    }

    #[test]
    fn layout_grows_with_content_and_truncates_labels() {
        let small = Layout::new(&chart(&[&[Some(1.0)]])).unwrap();
        assert_eq!(small.width, MIN_WIDTH as i64);
        let values = vec![Some(50.0); 12];
        let big = chart(&[&values, &values, &values, &values]);
        let l = Layout::new(&big).unwrap();
        assert!(l.width > MIN_WIDTH as i64);
        assert!(l.cluster_w + GROUP_GAP as i64 <= l.group_w);

        let mut c = chart(&[&[Some(1.0), Some(2.0)]]);
        c.groups[0] = "a very long group name indeed, far too long".into();
        c.series[0].name = "x".repeat(100);
        let l = Layout::new(&c).unwrap();
        assert!(l.group_labels[0].ends_with(".."));
        assert!(text_width(&l.group_labels[0], TEXT_SCALE) <= l.group_w - 8);
        assert_eq!(l.group_labels[1], "group 1");
        assert!(l.legend[0].3.chars().count() <= MAX_LEGEND_CHARS);
    }

    #[test]
    fn nice_ticks() {
        assert_eq!(nice_step(100.0), 20.0);
        assert_eq!(nice_step(97.0), 20.0);
        assert_eq!(nice_step(1.0), 0.2);
        assert_eq!(nice_step(12.0), 2.5);
        assert_eq!(nice_step(40.0), 10.0);
        assert_eq!(nice_step(3000.0), 1000.0);
        assert_eq!(decimals_of(0.25), 2);
        assert_eq!(decimals_of(2.5), 1);
        assert_eq!(decimals_of(20.0), 0);
        assert_eq!(value_decimals(100.0, 20.0), 1);
        assert_eq!(value_decimals(5000.0, 1000.0), 0);
        assert_eq!(format_value(-0.0, 1), "0.0");
    }

    #[test]
    fn y_label_is_drawn_rotated_in_the_left_margin() {
        let strip = |c: &BarChart| {
            let (img, l) = Img::of(c);
            (PAD..PAD + CELL_H * TEXT_SCALE)
                .map(|x| img.count(x, l.plot_top, l.baseline(), TEXT))
                .sum::<i64>()
        };
        let mut c = chart(&[&[Some(5.0)]]);
        assert!(strip(&c) > 0);
        // rotated: the label spans more rows than a line of text is high
        let (img, l) = Img::of(&c);
        let rows = (l.plot_top..l.baseline())
            .filter(|&y| (PAD..PAD + CELL_H * TEXT_SCALE).any(|x| img.at(x, y) == TEXT))
            .count() as i64;
        assert!(rows > 10 * ADVANCE * TEXT_SCALE / 2);
        c.y_label.clear();
        assert_eq!(strip(&c), 0);
    }
}
