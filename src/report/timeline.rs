//! The run as a chart: one row per worker slot, one bar per job over time,
//! the critical path highlighted (what Buildroot's `graph-build` and Yocto's
//! buildstats show). Geometry only; `report.html` draws it as SVG.

use serde::Serialize;

use super::model::Report;
use super::text::duration;
use crate::build::scheduler::SpanPhase;

/// Left margin (slot labels), plot width and row height, in SVG units.
const LABEL_W: f64 = 64.0;
const PLOT_W: f64 = 960.0;
const ROW_H: f64 = 26.0;
const AXIS_H: f64 = 22.0;
/// Roughly the width of one label character at the chart's font size.
const CHAR_W: f64 = 6.5;

#[derive(Debug, Serialize)]
pub struct Chart {
    pub width: f64,
    pub height: f64,
    pub plot_x: f64,
    pub axis_y: f64,
    pub rows: Vec<Row>,
    pub bars: Vec<Bar>,
    pub ticks: Vec<Tick>,
    /// The critical path in the order it ran, and its length.
    pub critical: Vec<String>,
    pub critical_time: String,
}

#[derive(Debug, Serialize)]
pub struct Row {
    pub y: f64,
    pub text_y: f64,
    pub label: String,
}

#[derive(Debug, Serialize)]
pub struct Bar {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
    /// CSS classes: the phase, the status, `critical`.
    pub class: String,
    pub title: String,
    /// Shown inside the bar when it fits.
    pub label: Option<String>,
    pub text_x: f64,
    pub text_y: f64,
}

#[derive(Debug, Serialize)]
pub struct Tick {
    pub x: f64,
    pub label: String,
}

/// None when nothing ran (a no-op build, or a report from before timelines).
pub fn chart(r: &Report) -> Option<Chart> {
    let spans: Vec<_> = r
        .packages
        .iter()
        .flat_map(|p| p.spans.iter().map(move |s| (p, s)))
        .collect();
    let end = spans.iter().map(|(_, s)| s.end_ms).max()?.max(1);
    let slots = spans.iter().map(|(_, s)| s.slot).max().unwrap_or(0) + 1;
    let scale = PLOT_W / end as f64;
    let x = |ms: u64| LABEL_W + ms as f64 * scale;
    let rows = (0..slots)
        .map(|s| Row {
            y: s as f64 * ROW_H,
            text_y: s as f64 * ROW_H + ROW_H * 0.65,
            label: format!("slot {}", s + 1),
        })
        .collect();
    let bars = spans
        .iter()
        .map(|(p, s)| {
            let w = ((s.end_ms.saturating_sub(s.start_ms)) as f64 * scale).max(1.0);
            let phase = match s.phase {
                SpanPhase::Prepare => "prepare",
                SpanPhase::Build => "build",
            };
            let name = p.id();
            let fits = (w / CHAR_W) as usize;
            Bar {
                x: x(s.start_ms),
                y: s.slot as f64 * ROW_H + 3.0,
                w,
                h: ROW_H - 6.0,
                class: format!(
                    "{phase} {}{}",
                    p.status.as_str(),
                    if p.critical { " critical" } else { "" }
                ),
                title: format!(
                    "{name}: {phase} {} ({} → {})",
                    duration(s.end_ms - s.start_ms.min(s.end_ms)),
                    clock(s.start_ms),
                    clock(s.end_ms)
                ),
                label: (fits >= 4).then(|| super::text::truncate(&p.name, fits.saturating_sub(1))),
                text_x: x(s.start_ms) + 3.0,
                text_y: s.slot as f64 * ROW_H + ROW_H * 0.65,
            }
        })
        .collect();
    let axis_y = slots as f64 * ROW_H;
    let step = tick_step(end);
    let ticks = (0..=end / step)
        .map(|i| Tick {
            x: x(i * step),
            label: clock(i * step),
        })
        .collect();
    let mut critical: Vec<_> = r
        .packages
        .iter()
        .filter(|p| p.critical)
        .filter_map(|p| p.spans.iter().map(|s| s.start_ms).min().map(|t| (t, p)))
        .collect();
    critical.sort_by_key(|(t, _)| *t);
    let critical_ms: u64 = critical
        .iter()
        .flat_map(|(_, p)| &p.spans)
        .map(|s| s.end_ms.saturating_sub(s.start_ms))
        .sum();
    Some(Chart {
        width: LABEL_W + PLOT_W + 30.0,
        height: axis_y + AXIS_H,
        plot_x: LABEL_W,
        axis_y,
        rows,
        bars,
        ticks,
        critical: critical.iter().map(|(_, p)| p.id()).collect(),
        critical_time: duration(critical_ms),
    })
}

/// A round step giving at most about ten ticks.
fn tick_step(end_ms: u64) -> u64 {
    const STEPS: [u64; 12] = [
        100, 250, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000,
    ];
    STEPS
        .iter()
        .copied()
        .find(|s| end_ms / s <= 10)
        .unwrap_or_else(|| end_ms.div_ceil(10).max(1))
}

/// `m:ss` (or `m:ss.s` under ten seconds) since the run started.
fn clock(ms: u64) -> String {
    if ms < 10_000 {
        format!("0:{:04.1}", ms as f64 / 1000.0)
    } else {
        format!("{}:{:02}", ms / 60_000, ms / 1000 % 60)
    }
}
