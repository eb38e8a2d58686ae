//! The side-by-side table the macro benchmark prints: each figure for the engine and for its
//! baseline measured in the same run, and their ratio.
//!
//! Ratios are always time over time (engine time ÷ baseline time, or the inverse of the
//! throughputs), so 1.00 means "as fast as the hand-written code" and 2.00 "takes twice as
//! long", whichever unit the figure is printed in. A ratio survives a noisy machine better
//! than either figure alone, because both sides ran on the same machine minutes apart.

use std::fmt::Write as _;
use std::time::Duration;

use crate::stats::{ms, Latencies};

/// One line of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// What is measured, with its unit.
    pub figure: String,
    /// The engine's figure, formatted.
    pub library: String,
    /// The baseline's figure, formatted.
    pub baseline: String,
    /// Engine time over baseline time; `None` where no baseline applies.
    pub ratio: Option<f64>,
}

/// The whole report: lines, then target verdicts, then notes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    lines: Vec<Line>,
    verdicts: Vec<String>,
    notes: Vec<String>,
}

/// Formats a number with thousands separators and no decimals: `1234567.8` → `1,234,568`.
pub fn thousands(value: f64) -> String {
    if !value.is_finite() {
        return "inf".to_owned();
    }
    let digits = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0.0 {
        out.insert(0, '-');
    }
    out
}

/// `p50/p99` in milliseconds with two decimals.
pub fn p50_p99(latencies: &Latencies) -> String {
    format!("{:.2}/{:.2}", ms(latencies.p50()), ms(latencies.p99()))
}

impl Report {
    /// An empty report.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a throughput line: rows per second of both sides, ratio of their times.
    pub fn throughput(&mut self, figure: &str, rows: usize, library: Duration, baseline: Duration) {
        let rate = |d: Duration| crate::stats::rows_per_second(rows, d);
        self.lines.push(Line {
            figure: figure.to_owned(),
            library: thousands(rate(library)),
            baseline: thousands(rate(baseline)),
            ratio: Some(ratio(library, baseline)),
        });
    }

    /// Adds two latency lines: p50/p99 and max in milliseconds, the ratio of the p99s and of
    /// the maxima.
    pub fn latency(&mut self, figure: &str, library: &Latencies, baseline: &Latencies) {
        self.lines.push(Line {
            figure: format!("{figure} p50/p99 (ms)"),
            library: p50_p99(library),
            baseline: p50_p99(baseline),
            ratio: Some(ratio(library.p99(), baseline.p99())),
        });
        self.lines.push(Line {
            figure: format!("{figure} max (ms)"),
            library: format!("{:.2}", ms(library.max())),
            baseline: format!("{:.2}", ms(baseline.max())),
            ratio: Some(ratio(library.max(), baseline.max())),
        });
    }

    /// Adds a free-form line.
    pub fn line(&mut self, line: Line) {
        self.lines.push(line);
    }

    /// Records whether a target was met: `met` decides the word, `detail` says by how much.
    pub fn verdict(&mut self, target: &str, met: bool, detail: &str) {
        let word = if met { "MET   " } else { "MISSED" };
        self.verdicts.push(format!("{word} {target}: {detail}"));
    }

    /// Adds a note printed under the table.
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// The lines so far.
    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// The table, verdicts and notes as text.
    pub fn render(&self) -> String {
        let width = self.lines.iter().map(|l| l.figure.chars().count()).max().unwrap_or(0).max(30);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<width$}  {:>14} {:>14} {:>7}",
            "figure", "library", "baseline", "ratio"
        );
        for line in &self.lines {
            let ratio = line.ratio.map_or_else(String::new, |r| format!("{r:.2}"));
            let _ = writeln!(
                out,
                "{:<width$}  {:>14} {:>14} {:>7}",
                line.figure, line.library, line.baseline, ratio
            );
        }
        if !self.verdicts.is_empty() {
            out.push('\n');
            for verdict in &self.verdicts {
                let _ = writeln!(out, "{verdict}");
            }
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for note in &self.notes {
                let _ = writeln!(out, "note: {note}");
            }
        }
        out
    }
}

/// `library / baseline` as a float; infinite when the baseline took no time.
pub fn ratio(library: Duration, baseline: Duration) -> f64 {
    let baseline = baseline.as_secs_f64();
    if baseline > 0.0 {
        library.as_secs_f64() / baseline
    } else {
        f64::INFINITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_thousands() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1_000.0), "1,000");
        assert_eq!(thousands(1_234_567.8), "1,234,568");
        assert_eq!(thousands(-12_345.0), "-12,345");
        assert_eq!(thousands(f64::INFINITY), "inf");
    }

    #[test]
    fn renders_side_by_side() {
        let mut report = Report::new();
        report.throughput(
            "sled insert (rows/s)",
            3_000,
            Duration::from_millis(200),
            Duration::from_millis(100),
        );
        let fast = Latencies::new(vec![Duration::from_millis(1), Duration::from_millis(3)]);
        let slow = Latencies::new(vec![Duration::from_millis(2), Duration::from_millis(9)]);
        report.latency("sled fuzzy search", &slow, &fast);
        report.verdict("sled insert within 2x of raw", true, "2.00x");
        report.note("a note");
        let text = report.render();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("figure"));
        assert!(lines[1].starts_with("sled insert (rows/s)"));
        assert!(lines[1].contains("15,000"));
        assert!(lines[1].contains("30,000"));
        assert!(lines[1].ends_with("2.00"));
        assert!(lines[2].contains("2.00/9.00") && lines[2].contains("1.00/3.00"));
        assert!(lines[2].ends_with("3.00"));
        assert!(lines[3].contains("sled fuzzy search max (ms)") && lines[3].ends_with("3.00"));
        assert!(text.contains("MET    sled insert within 2x of raw: 2.00x"));
        assert!(text.contains("note: a note"));
    }
}
