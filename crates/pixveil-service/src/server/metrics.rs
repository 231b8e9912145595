//! Counters behind `GET /metrics`, written in the Prometheus text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use super::keystore::StoreStats;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Debug, Default)]
struct Inner {
    /// (endpoint, status) → requests.
    requests: BTreeMap<(&'static str, u16), u64>,
    /// endpoint → latency.
    latency: BTreeMap<&'static str, Histogram>,
    bytes_in: u64,
    bytes_out: u64,
    images: u64,
}

/// The server's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

/// Endpoint label of a request path (a fixed set, so labels stay bounded).
pub fn endpoint(path: &str) -> &'static str {
    use crate::api::*;
    match path {
        PATH_MODEL => "model",
        PATH_KEYS => "keys",
        PATH_CLASSIFY => "classify",
        PATH_CLASSIFY_BATCH => "classify_batch",
        PATH_HEALTH => "healthz",
        PATH_METRICS => "metrics",
        PATH_OPENAPI => "openapi",
        _ => "other",
    }
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Counters only: a poisoned lock still holds valid numbers.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records one answered request.
    pub fn request(&self, endpoint: &'static str, status: u16, elapsed: Duration) {
        let mut m = self.lock();
        *m.requests.entry((endpoint, status)).or_default() += 1;
        let h = m.latency.entry(endpoint).or_default();
        let s = elapsed.as_secs_f64();
        for (c, &b) in h.counts.iter_mut().zip(&BUCKETS) {
            if s <= b {
                *c += 1;
            }
        }
        h.count += 1;
        h.sum += s;
    }

    /// Records body bytes received and sent, and images classified.
    pub fn traffic(&self, bytes_in: u64, bytes_out: u64, images: u64) {
        let mut m = self.lock();
        m.bytes_in += bytes_in;
        m.bytes_out += bytes_out;
        m.images += images;
    }

    /// The exposition text.
    pub fn render(&self, store: StoreStats, running: usize, queued: usize) -> String {
        let m = self.lock();
        let mut o = String::new();
        let w = &mut o;
        let _ = writeln!(
            w,
            "# HELP pixveil_requests_total HTTP requests answered.\n# TYPE pixveil_requests_total counter"
        );
        for ((e, s), n) in &m.requests {
            let _ = writeln!(
                w,
                "pixveil_requests_total{{endpoint=\"{e}\",status=\"{s}\"}} {n}"
            );
        }
        let _ = writeln!(
            w,
            "# HELP pixveil_request_seconds Time from request to response.\n# TYPE pixveil_request_seconds histogram"
        );
        for (e, h) in &m.latency {
            for (c, b) in h.counts.iter().zip(&BUCKETS) {
                let _ = writeln!(
                    w,
                    "pixveil_request_seconds_bucket{{endpoint=\"{e}\",le=\"{b}\"}} {c}"
                );
            }
            let _ = writeln!(
                w,
                "pixveil_request_seconds_bucket{{endpoint=\"{e}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                w,
                "pixveil_request_seconds_sum{{endpoint=\"{e}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                w,
                "pixveil_request_seconds_count{{endpoint=\"{e}\"}} {}",
                h.count
            );
        }
        let gauges: [(&str, &str, &str, f64); 9] = [
            (
                "pixveil_received_bytes_total",
                "counter",
                "Request body bytes read.",
                m.bytes_in as f64,
            ),
            (
                "pixveil_sent_bytes_total",
                "counter",
                "Encrypted score bytes sent.",
                m.bytes_out as f64,
            ),
            (
                "pixveil_images_total",
                "counter",
                "Encrypted images classified.",
                m.images as f64,
            ),
            (
                "pixveil_key_store_keys",
                "gauge",
                "Registered key sets.",
                store.keys as f64,
            ),
            (
                "pixveil_key_store_bytes",
                "gauge",
                "Serialized bytes of the registered key sets.",
                store.bytes as f64,
            ),
            (
                "pixveil_key_store_resident",
                "gauge",
                "Parsed key sets held in memory.",
                store.resident as f64,
            ),
            (
                "pixveil_key_store_evicted_total",
                "counter",
                "Key sets evicted (least recently used first).",
                store.evicted as f64,
            ),
            (
                "pixveil_evaluations_running",
                "gauge",
                "Encrypted evaluations running.",
                running as f64,
            ),
            (
                "pixveil_evaluations_queued",
                "gauge",
                "Requests waiting for an evaluation slot.",
                queued as f64,
            ),
        ];
        for (name, kind, help, v) in gauges {
            let _ = writeln!(w, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
        }
        o
    }
}
