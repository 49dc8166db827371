//! Prometheus text exposition (format 0.0.4), written by hand: a few
//! labelled counters, gauges and one latency histogram, without a metrics
//! registry dependency.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram's buckets.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A counter family with one label set per key.
///
/// Keyed by the label set's rendered text (`{k="v",…}`, in the order
/// given), so that counting costs one string, not one per label: the log
/// counts every request.
#[derive(Default)]
pub struct CounterVec {
    values: Mutex<BTreeMap<String, u64>>,
}

fn label_key(labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let mut key = String::from("{");
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            key.push(',');
        }
        key.push_str(k);
        key.push_str("=\"");
        push_escaped(&mut key, v);
        key.push('"');
    }
    key.push('}');
    key
}

impl CounterVec {
    pub fn inc(&self, labels: &[(&str, &str)]) {
        self.add(labels, 1);
    }

    pub fn add(&self, labels: &[(&str, &str)], n: u64) {
        let key = label_key(labels);
        let mut map = self.values.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry(key).or_insert(0) += n;
    }

    pub fn get(&self, labels: &[(&str, &str)]) -> u64 {
        let map = self.values.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&label_key(labels)).copied().unwrap_or(0)
    }

    /// Writes `name{labels} value` lines (with HELP and TYPE).
    pub fn render(&self, out: &mut String, name: &str, help: &str, kind: &str) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        let map = self.values.lock().unwrap_or_else(|p| p.into_inner());
        for (labels, value) in map.iter() {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    }
}

/// A gauge family that is replaced whole.
#[derive(Default)]
pub struct GaugeVec {
    values: Mutex<BTreeMap<Vec<(String, String)>, f64>>,
}

impl GaugeVec {
    pub fn set_all(&self, values: BTreeMap<Vec<(String, String)>, f64>) {
        *self.values.lock().unwrap_or_else(|p| p.into_inner()) = values;
    }

    pub fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        let map = self.values.lock().unwrap_or_else(|p| p.into_inner());
        for (labels, value) in map.iter() {
            let _ = writeln!(out, "{name}{} {value}", label_text(labels));
        }
    }
}

/// Appends a label value with the exposition format's escapes.
fn push_escaped(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn label_text(labels: &[(String, String)]) -> String {
    let pairs: Vec<(&str, &str)> = labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    label_key(&pairs)
}

/// A histogram of durations with [`LATENCY_BUCKETS`].
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
            if secs <= *le {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{le}\"}} {}",
                self.buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {count}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition() {
        let c = CounterVec::default();
        c.inc(&[("outcome", "pass")]);
        c.add(&[("outcome", "fail\"x")], 2);
        let h = Histogram::default();
        h.observe(Duration::from_micros(1500));
        h.observe(Duration::from_secs(20));
        let mut out = String::new();
        c.render(&mut out, "d_total", "decisions", "counter");
        h.render(&mut out, "lat_seconds", "latency");
        assert!(out.contains("d_total{outcome=\"pass\"} 1\n"));
        assert!(out.contains("d_total{outcome=\"fail\\\"x\"} 2\n"));
        assert!(out.contains("lat_seconds_bucket{le=\"0.001\"} 0\n"));
        assert!(out.contains("lat_seconds_bucket{le=\"0.002\"} 1\n"));
        assert!(out.contains("lat_seconds_bucket{le=\"10\"} 1\n"));
        assert!(out.contains("lat_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(out.contains("lat_seconds_count 2\n"));
        assert_eq!(c.get(&[("outcome", "pass")]), 1);
    }
}
