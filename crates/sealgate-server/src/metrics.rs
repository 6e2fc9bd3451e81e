//! Prometheus metrics: a handful of counters and gauges, rendered as the
//! text exposition format at `/metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($name:ident: $help:literal),* $(,)?) => {
        /// The process's counters.
        #[derive(Debug, Default)]
        pub struct Metrics {
            $(#[doc = $help] pub $name: AtomicU64,)*
        }

        impl Metrics {
            /// The text exposition format.
            pub fn render(&self) -> String {
                let mut out = String::new();
                $(
                    let _ = writeln!(out, "# HELP sealgate_{} {}", stringify!($name), $help);
                    let _ = writeln!(out, "# TYPE sealgate_{} counter", stringify!($name));
                    let _ = writeln!(out, "sealgate_{} {}", stringify!($name), self.$name.load(Ordering::Relaxed));
                )*
                out
            }
        }
    };
}

counters! {
    signer_requests_total: "Requests to the signer (sign and forward).",
    signer_signed_total: "Requests signed.",
    signer_forwarded_total: "Requests forwarded to an exchange.",
    signer_denied_total: "Requests denied (by policy, or an envelope refused).",
    signer_envelopes_refused_total: "Stored envelopes refused: revoked and restored, bound elsewhere, unreadable, or not opening.",
    signer_unseals_total: "Envelopes opened (cache misses).",
    signer_cache_hits_total: "Requests served from the opened-credential cache.",
    signer_clock_syncs_total: "Exchange clock offset measurements.",
    audit_records_total: "Audit records committed by this process.",
    audit_denials_dropped_total: "Denial records not written: the caller's denial-record rate limit was reached.",
    api_requests_total: "Requests to the api role.",
    import_jobs_done_total: "Import jobs completed.",
    import_jobs_failed_total: "Import job attempts failed.",
    import_rate_waits_total: "Exchange calls the importer held back to stay within the exchange's request budget.",
    notifications_sent_total: "Notifications delivered (e-mail and webhook).",
    notifications_failed_total: "Notification delivery attempts failed (each is retried until its last attempt).",
}

/// Add one.
pub fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}
