//! Charts as SVG written on the server: no script, no library, readable without a
//! network. Each chart carries a title and description for screen readers, and its
//! numbers as data attributes so tests can read exactly what is drawn.

use std::fmt::Write;

use chrono::NaiveDate;
use maud::{Markup, PreEscaped};

use crate::digest::render::escape;
use crate::nba::portfolio::ForecastGroup;

const BLUE: &str = "#1d4ed8";
const GREY: &str = "#e5e7eb";
const INK: &str = "#111827";
const MUTED: &str = "#4b5563";

/// A share in whole percent, as the digests write it; 0 for a share that is not a number.
pub(super) fn pct(share: f64) -> i64 {
    crate::digest::facts::percent(share).unwrap_or(0)
}

/// Predicted attainment per group: a bar to the expected value, the interval as a
/// whisker, the 100% target as a line.
pub fn forecast(groups: &[ForecastGroup], group_by: &str) -> Markup {
    const LABEL: f64 = 170.0;
    const PLOT: f64 = 520.0;
    const ROW: f64 = 34.0;
    let max = groups
        .iter()
        .map(|g| pct(g.attainment_high).max(pct(g.expected_attainment)))
        .max()
        .unwrap_or(100)
        .max(120);
    let scale = |p: i64| LABEL + PLOT * (p.clamp(0, max) as f64) / (max as f64);
    let height = ROW * groups.len() as f64 + 40.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg data-testid="forecast-chart" data-group-by="{raw}" role="img" aria-labelledby="fc-t fc-d" viewBox="0 0 {w} {height}" width="100%" style="max-width:{w}px"><title id="fc-t">Predicted attainment by {gb}</title><desc id="fc-d">Bars show the mean predicted attainment of active plans per group, whiskers its interval, the dark line the 100% target.</desc>"##,
        raw = escape(group_by),
        gb = escape(&group_by.replace('_', " ")),
        w = LABEL + PLOT + 250.0,
    );
    for (i, g) in groups.iter().enumerate() {
        let y = 8.0 + ROW * i as f64;
        let (e, lo, hi) = (
            pct(g.expected_attainment),
            pct(g.attainment_low),
            pct(g.attainment_high),
        );
        let key = escape(&g.key);
        let _ = write!(
            svg,
            r##"<g data-testid="forecast-bar" data-group="{key}" data-expected-percent="{e}" data-low-percent="{lo}" data-high-percent="{hi}" data-plans="{plans}" data-at-risk="{risk}"><title>{key}: {e}% expected ({lo}–{hi}%), {plans} plans, {risk} at risk</title><text x="{lx}" y="{ty}" text-anchor="end" font-size="13" fill="{INK}">{key}</text><rect x="{LABEL}" y="{by}" width="{bw:.1}" height="18" rx="3" fill="{fill}"/><line x1="{x1:.1}" x2="{x2:.1}" y1="{my}" y2="{my}" stroke="{INK}" stroke-width="1.5"/><line x1="{x1:.1}" x2="{x1:.1}" y1="{wy1}" y2="{wy2}" stroke="{INK}" stroke-width="1.5"/><line x1="{x2:.1}" x2="{x2:.1}" y1="{wy1}" y2="{wy2}" stroke="{INK}" stroke-width="1.5"/><text x="{tx:.1}" y="{ty}" font-size="12" fill="{INK}">{e}% ({lo}–{hi}%) · {plans} plans · {risk} at risk</text></g>"##,
            plans = g.plans,
            risk = g.at_risk,
            lx = LABEL - 8.0,
            ty = y + 14.0,
            by = y + 1.0,
            bw = scale(e) - LABEL,
            fill = if e >= 100 {
                "#16a34a"
            } else if e >= 80 {
                BLUE
            } else {
                "#dc2626"
            },
            x1 = scale(lo),
            x2 = scale(hi),
            my = y + 10.0,
            wy1 = y + 4.0,
            wy2 = y + 16.0,
            // The figures sit in their own column, clear of whiskers and the target line.
            tx = LABEL + PLOT + 12.0,
        );
    }
    let target = scale(100);
    let axis_y = ROW * groups.len() as f64 + 12.0;
    let _ = write!(
        svg,
        r##"<line x1="{target:.1}" x2="{target:.1}" y1="2" y2="{axis_y}" stroke="{INK}" stroke-dasharray="4 3"/><text x="{target:.1}" y="{ly}" text-anchor="middle" font-size="12" fill="{MUTED}">target 100%</text></svg>"##,
        ly = axis_y + 16.0,
    );
    PreEscaped(svg)
}

/// One stacked bar of plans by pace-aware status, with a legend.
pub fn status_distribution(parts: &[(&str, &str, usize)]) -> Markup {
    let total: usize = parts.iter().map(|(_, _, n)| n).sum();
    let mut svg = String::from(
        r##"<svg data-testid="status-distribution" role="img" aria-labelledby="sd-t" viewBox="0 0 600 70" width="100%" style="max-width:600px"><title id="sd-t">Active plans by status</title>"##,
    );
    let mut x = 0.0;
    for (i, (label, colour, n)) in parts.iter().enumerate() {
        if total == 0 {
            break;
        }
        let w = 600.0 * (*n as f64) / (total as f64);
        let share = pct(*n as f64 / total as f64);
        let _ = write!(
            svg,
            r##"<g data-status="{label}" data-count="{n}"><title>{label}: {n} plans ({share}%)</title><rect x="{x:.1}" y="0" width="{w:.1}" height="26" fill="{colour}"/></g>"##,
            label = escape(label),
        );
        let lx = 150.0 * (i % 4) as f64;
        let ly = 46.0 + 18.0 * (i / 4) as f64;
        let _ = write!(
            svg,
            r##"<rect x="{lx}" y="{ry}" width="11" height="11" fill="{colour}"/><text x="{tx}" y="{ly}" font-size="12" fill="{INK}">{label} {n} ({share}%)</text>"##,
            ry = ly - 10.0,
            tx = lx + 16.0,
            label = escape(label),
        );
        x += w;
    }
    svg.push_str("</svg>");
    PreEscaped(svg)
}

/// Partners per relationship stage, the deepest stage on top.
pub fn pyramid(stages: &[(&str, usize)]) -> Markup {
    let max = stages.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let total: usize = stages.iter().map(|(_, n)| n).sum();
    let row = 34.0;
    let mut svg = format!(
        r##"<svg data-testid="pyramid" role="img" aria-labelledby="py-t" viewBox="0 0 560 {h}" width="100%" style="max-width:560px"><title id="py-t">Partners per relationship stage</title>"##,
        h = row * stages.len() as f64 + 6.0
    );
    let colours = ["#1e3a8a", "#1d4ed8", "#3b82f6", "#93c5fd", "#dbeafe"];
    for (i, (stage, n)) in stages.iter().enumerate() {
        let w = 340.0 * (*n as f64) / (max as f64);
        let x = 110.0 + (340.0 - w) / 2.0;
        let y = row * i as f64 + 3.0;
        let share = if total > 0 {
            pct(*n as f64 / total as f64)
        } else {
            0
        };
        let _ = write!(
            svg,
            r##"<g data-stage="{s}" data-count="{n}"><rect x="{x:.1}" y="{y}" width="{w:.1}" height="{hh}" rx="3" fill="{c}"/><text x="100" y="{ty}" text-anchor="end" font-size="13" fill="{INK}">{s}</text><text x="460" y="{ty}" font-size="13" fill="{INK}">{n} ({share}%)</text></g>"##,
            s = escape(stage),
            hh = row - 6.0,
            c = colours[i.min(colours.len() - 1)],
            ty = y + 19.0,
        );
    }
    svg.push_str("</svg>");
    PreEscaped(svg)
}

/// Planned against realized over time, in one unit: two lines on shared axes.
pub fn plan_vs_realized(
    points: &[(NaiveDate, f64, f64)],
    unit: &str,
    fmt: &dyn Fn(f64) -> String,
) -> Markup {
    const W: f64 = 640.0;
    const H: f64 = 230.0;
    const L: f64 = 96.0;
    const B: f64 = 30.0;
    let max = points
        .iter()
        .map(|(_, p, r)| p.max(*r))
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let n = points.len().max(2) - 1;
    let x = |i: usize| L + (W - L - 40.0) * i as f64 / n as f64;
    let y = |v: f64| 10.0 + (H - B - 10.0) * (1.0 - v / max);
    let line = |pick: &dyn Fn(&(NaiveDate, f64, f64)) -> f64| {
        points
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{:.1},{:.1}", x(i), y(pick(p))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut svg = format!(
        r##"<svg data-testid="plan-vs-realized" data-unit="{u}" role="img" aria-labelledby="pv-t pv-d" viewBox="0 0 {W} {H}" width="100%" style="max-width:{W}px"><title id="pv-t">Plan against realized, {u}</title><desc id="pv-d">The planned line is each key result's target pro rata to its period; the realized line is the value recorded by that date, summed over the active plans.</desc>"##,
        u = escape(unit)
    );
    for t in 0..=4 {
        let v = max * f64::from(t) / 4.0;
        let _ = write!(
            svg,
            r##"<line x1="{L}" x2="{x2}" y1="{yy:.1}" y2="{yy:.1}" stroke="{GREY}"/><text x="{tx}" y="{ty:.1}" text-anchor="end" font-size="11" fill="{MUTED}">{label}</text>"##,
            x2 = W - 40.0,
            yy = y(v),
            tx = L - 6.0,
            ty = y(v) + 4.0,
            label = escape(&fmt(v)),
        );
    }
    let step = (points.len() / 6).max(1);
    for (i, (d, _, _)) in points.iter().enumerate().step_by(step) {
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{}" text-anchor="middle" font-size="11" fill="{MUTED}">{}</text>"##,
            x(i),
            H - 10.0,
            d.format("%Y-%m")
        );
    }
    let _ = write!(
        svg,
        r##"<polyline fill="none" stroke="{MUTED}" stroke-width="2" stroke-dasharray="6 4" points="{}"/><polyline fill="none" stroke="{BLUE}" stroke-width="2.5" points="{}"/>"##,
        line(&|p| p.1),
        line(&|p| p.2)
    );
    for (i, (d, planned, realized)) in points.iter().enumerate() {
        let _ = write!(
            svg,
            r##"<circle data-date="{d}" data-planned="{planned:.0}" data-realized="{realized:.0}" cx="{:.1}" cy="{:.1}" r="3" fill="{BLUE}"><title>{d}: realized {} of {} planned</title></circle>"##,
            x(i),
            y(*realized),
            escape(&fmt(*realized)),
            escape(&fmt(*planned)),
        );
    }
    svg.push_str("</svg>");
    PreEscaped(svg)
}

/// One benchmark dimension: the partner, its target and the peers' median.
pub struct BenchmarkBar {
    pub label: String,
    pub you: Option<f64>,
    pub target: Option<f64>,
    pub peers: Option<f64>,
    /// How a value reads (`7.4`, `83%`).
    pub shown: fn(f64) -> String,
}

/// You / your target / peers per dimension, each dimension on its own scale.
pub fn benchmark(rows: &[BenchmarkBar]) -> Markup {
    const LABEL: f64 = 190.0;
    const PLOT: f64 = 300.0;
    let row_h = 54.0;
    let mut svg = format!(
        r##"<svg data-testid="benchmark" role="img" aria-labelledby="bm-t bm-d" viewBox="0 0 590 {h}" width="100%" style="max-width:590px"><title id="bm-t">You, your target and your peers</title><desc id="bm-d">Per dimension: the partner's value, the value partners like it that hit their plans have, and the peer group's median, each dimension scaled to its largest value.</desc>"##,
        h = row_h * rows.len() as f64 + 30.0
    );
    for (i, r) in rows.iter().enumerate() {
        let y = 6.0 + row_h * i as f64;
        let max = [r.you, r.target, r.peers]
            .into_iter()
            .flatten()
            .filter(|v| v.is_finite())
            .fold(0.0_f64, f64::max)
            .max(1e-9);
        let _ = write!(
            svg,
            r##"<text x="{lx}" y="{ty}" text-anchor="end" font-size="13" fill="{INK}">{label}</text>"##,
            lx = LABEL - 8.0,
            ty = y + 26.0,
            label = escape(&r.label),
        );
        for (j, (name, value, colour)) in [
            ("you", r.you, BLUE),
            ("your target", r.target, "#16a34a"),
            ("peers", r.peers, "#9ca3af"),
        ]
        .into_iter()
        .enumerate()
        {
            let by = y + 14.0 * j as f64;
            match value.filter(|v| v.is_finite()) {
                Some(v) => {
                    let _ = write!(
                        svg,
                        r##"<rect x="{LABEL}" y="{by}" width="{w:.1}" height="11" rx="2" fill="{colour}"><title>{name}: {t}</title></rect><text x="{tx:.1}" y="{ty}" font-size="11" fill="{INK}">{t}</text>"##,
                        w = (PLOT * v.max(0.0) / max).max(1.0),
                        tx = LABEL + (PLOT * v.max(0.0) / max).max(1.0) + 5.0,
                        ty = by + 10.0,
                        t = escape(&(r.shown)(v)),
                    );
                }
                None => {
                    let _ = write!(
                        svg,
                        r##"<text x="{LABEL}" y="{ty}" font-size="11" fill="{MUTED}">{name}: unknown</text>"##,
                        ty = by + 10.0
                    );
                }
            }
        }
    }
    let ly = row_h * rows.len() as f64 + 20.0;
    let _ = write!(
        svg,
        r##"<rect x="{LABEL}" y="{a}" width="11" height="11" fill="{BLUE}"/><text x="{b}" y="{ly}" font-size="12" fill="{INK}">you</text><rect x="{c}" y="{a}" width="11" height="11" fill="#16a34a"/><text x="{d}" y="{ly}" font-size="12" fill="{INK}">your target</text><rect x="{e}" y="{a}" width="11" height="11" fill="#9ca3af"/><text x="{f}" y="{ly}" font-size="12" fill="{INK}">peers (median)</text></svg>"##,
        a = ly - 10.0,
        b = LABEL + 16.0,
        c = LABEL + 60.0,
        d = LABEL + 76.0,
        e = LABEL + 160.0,
        f = LABEL + 176.0,
    );
    PreEscaped(svg)
}
