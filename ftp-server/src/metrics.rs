//! What a running server has done: sessions, logins, commands, replies, bytes, transfers, TLS
//! handshakes, bans. Counted with atomics as it happens ([`Metrics`]), read at any time as a
//! [`MetricsSnapshot`] for an application's own registry, or, with the `prometheus` feature,
//! registered as a `prometheus-client` collector (see [`Metrics`]'s `Collector` impl).
//!
//! Every label set is bounded: command verbs outside those the server implements count as
//! `OTHER`, so a client cannot grow the metrics by sending made-up verbs.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use ftp_proto::server::{ServerEvent, TransferKind, IMPLEMENTED_VERBS};

/// The server's counters. Cheap to clone: clones share the counters.
#[derive(Clone, Debug, Default)]
pub struct Metrics(Arc<Counters>);

#[derive(Debug)]
struct Counters {
    sessions_open: AtomicI64,
    sessions: AtomicU64,
    refused: [AtomicU64; RefusedBecause::ALL.len()],
    logins: AtomicU64,
    failed_logins: AtomicU64,
    /// One per [`IMPLEMENTED_VERBS`] entry, then one for every other verb.
    commands: Vec<AtomicU64>,
    /// `1xx` to `5xx`.
    replies: [AtomicU64; 5],
    bytes_received: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_sent_from_page_cache: AtomicU64,
    transfers_running: AtomicI64,
    transfers: [AtomicU64; TransferResult::ALL.len()],
    tls_handshakes: AtomicU64,
    tls_failures: AtomicU64,
    bans: AtomicU64,
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            sessions_open: AtomicI64::new(0),
            sessions: AtomicU64::new(0),
            refused: Default::default(),
            logins: AtomicU64::new(0),
            failed_logins: AtomicU64::new(0),
            commands: (0..=IMPLEMENTED_VERBS.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            replies: Default::default(),
            bytes_received: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            bytes_sent_from_page_cache: AtomicU64::new(0),
            transfers_running: AtomicI64::new(0),
            transfers: Default::default(),
            tls_handshakes: AtomicU64::new(0),
            tls_failures: AtomicU64::new(0),
            bans: AtomicU64::new(0),
        }
    }
}

/// Why a connection got `421` (or was closed) instead of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefusedBecause {
    /// The session limits (total or per address) were reached.
    Full,
    /// The address is banned for failed logins.
    Banned,
    /// Not a trusted proxy, or a trusted proxy's PROXY protocol header was bad.
    Proxy,
    /// The address opened connections too fast.
    Rate,
}

impl RefusedBecause {
    /// Every reason, in the order of [`MetricsSnapshot::refused`].
    pub const ALL: [Self; 4] = [Self::Full, Self::Banned, Self::Proxy, Self::Rate];

    /// The label value: `full`, `banned`, `proxy`, `rate`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Banned => "banned",
            Self::Proxy => "proxy",
            Self::Rate => "rate",
        }
    }
}

/// How a transfer (a file or a listing) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransferResult {
    /// `226`: every byte moved (and an upload was stored).
    Completed,
    /// An error reply (`426`, `451`, `550`, ...).
    Failed,
    /// The session ended under it: the client went away, a limit or shutdown closed it.
    Interrupted,
}

impl TransferResult {
    /// Every result, in the order of [`MetricsSnapshot::transfers`].
    pub const ALL: [Self; 3] = [Self::Completed, Self::Failed, Self::Interrupted];

    /// The label value: `completed`, `failed`, `interrupted`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
        }
    }
}

/// The counters at one moment. Counters only grow; `sessions_open` and `transfers_running`
/// go up and down.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Sessions running now (refused connections excepted).
    pub sessions_open: u64,
    /// Sessions started since the server started (refused connections excepted).
    pub sessions: u64,
    /// Connections refused, by reason, in [`RefusedBecause::ALL`] order.
    pub refused: [u64; 4],
    /// Successful logins.
    pub logins: u64,
    /// Failed logins.
    pub failed_logins: u64,
    /// Commands received, by verb (`OTHER` for every verb the server does not implement),
    /// in a fixed order.
    pub commands: Vec<(&'static str, u64)>,
    /// Replies sent, by class: `[1xx, 2xx, 3xx, 4xx, 5xx]`.
    pub replies: [u64; 5],
    /// Bytes of files and listings received on data connections (uploads), by transfers
    /// that ended.
    pub bytes_received: u64,
    /// Bytes of files and listings sent on data connections (downloads and listings), by
    /// transfers that ended.
    pub bytes_sent: u64,
    /// Bytes of downloads sent with `sendfile(2)` straight from the page cache
    /// ([`crate::Server::sendfile_cached`]), counted as they leave, however the download
    /// ends; the rest of a download was copied. A completed download's are part of
    /// `bytes_sent` too.
    pub bytes_sent_from_page_cache: u64,
    /// Transfers running now.
    pub transfers_running: u64,
    /// Transfers ended, by result, in [`TransferResult::ALL`] order.
    pub transfers: [u64; 3],
    /// TLS handshakes completed, control and data connections.
    pub tls_handshakes: u64,
    /// TLS handshakes that failed or timed out.
    pub tls_failures: u64,
    /// Addresses banned for failed logins ([`crate::Server::ban`]).
    pub bans: u64,
}

impl MetricsSnapshot {
    /// How many `verb` commands were received (`"OTHER"` for the rest).
    pub fn commands_of(&self, verb: &str) -> u64 {
        self.commands
            .iter()
            .find(|(v, _)| *v == verb)
            .map_or(0, |(_, n)| *n)
    }
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

fn read(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

fn read_gauge(gauge: &AtomicI64) -> u64 {
    u64::try_from(gauge.load(Ordering::Relaxed)).unwrap_or(0)
}

impl Metrics {
    /// New counters, all zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// The counters now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let c = &self.0;
        let verbs = IMPLEMENTED_VERBS.iter().copied().chain(["OTHER"]);
        MetricsSnapshot {
            sessions_open: read_gauge(&c.sessions_open),
            sessions: read(&c.sessions),
            refused: c.refused.each_ref().map(read),
            logins: read(&c.logins),
            failed_logins: read(&c.failed_logins),
            commands: verbs.zip(c.commands.iter().map(read)).collect(),
            replies: c.replies.each_ref().map(read),
            bytes_received: read(&c.bytes_received),
            bytes_sent: read(&c.bytes_sent),
            bytes_sent_from_page_cache: read(&c.bytes_sent_from_page_cache),
            transfers_running: read_gauge(&c.transfers_running),
            transfers: c.transfers.each_ref().map(read),
            tls_handshakes: read(&c.tls_handshakes),
            tls_failures: read(&c.tls_failures),
            bans: read(&c.bans),
        }
    }

    /// Counts a session for as long as the returned guard lives.
    pub(crate) fn session(&self) -> SessionGuard {
        add(&self.0.sessions, 1);
        self.0.sessions_open.fetch_add(1, Ordering::Relaxed);
        SessionGuard(self.clone())
    }

    pub(crate) fn refused(&self, because: RefusedBecause) {
        add(&self.0.refused[because as usize], 1);
    }

    #[cfg_attr(not(feature = "tls"), allow(dead_code))] // counts 0 without TLS
    pub(crate) fn tls_handshake(&self, ok: bool) {
        add(
            if ok {
                &self.0.tls_handshakes
            } else {
                &self.0.tls_failures
            },
            1,
        );
    }

    /// `bytes` of a download left with `sendfile(2)` from the page cache.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) fn sent_from_page_cache(&self, bytes: u64) {
        add(&self.0.bytes_sent_from_page_cache, bytes);
    }

    pub(crate) fn ban(&self) {
        add(&self.0.bans, 1);
    }

    /// Counts the replies in bytes the session sends: one per final reply line
    /// (`DDD ` at a line's start).
    pub(crate) fn replies_in(&self, bytes: &[u8]) {
        for line in bytes.split(|&b| b == b'\n') {
            let line = line.strip_prefix(b"\r").unwrap_or(line);
            if let [class @ b'1'..=b'5', b'0'..=b'9', b'0'..=b'9', b' ', ..] = line {
                add(&self.0.replies[usize::from(class - b'1')], 1);
            }
        }
    }

    /// Counts what a session event says. `transfer_running` is the session's own flag: a
    /// transfer's end counts as the end of a running one only after its start did.
    pub(crate) fn event(&self, event: &ServerEvent, transfer_running: &mut bool) {
        let c = &self.0;
        match event {
            ServerEvent::Command { verb } => {
                let at = IMPLEMENTED_VERBS
                    .iter()
                    .position(|known| known.as_bytes() == &verb[..])
                    .unwrap_or(IMPLEMENTED_VERBS.len());
                add(&c.commands[at], 1);
            }
            ServerEvent::LoggedIn { .. } => add(&c.logins, 1),
            ServerEvent::LoginFailed { .. } => add(&c.failed_logins, 1),
            ServerEvent::TransferStarted { .. } => {
                *transfer_running = true;
                c.transfers_running.fetch_add(1, Ordering::Relaxed);
            }
            ServerEvent::TransferCompleted { kind, bytes, .. } => {
                self.transfer_ended(TransferResult::Completed, *kind, *bytes, transfer_running)
            }
            ServerEvent::TransferFailed { kind, .. } => {
                self.transfer_ended(TransferResult::Failed, *kind, 0, transfer_running)
            }
            ServerEvent::TransferInterrupted { kind, bytes, .. } => {
                self.transfer_ended(TransferResult::Interrupted, *kind, *bytes, transfer_running)
            }
            _ => {}
        }
    }

    fn transfer_ended(
        &self,
        result: TransferResult,
        kind: TransferKind,
        bytes: u64,
        running: &mut bool,
    ) {
        let c = &self.0;
        if std::mem::take(running) {
            c.transfers_running.fetch_sub(1, Ordering::Relaxed);
        }
        add(&c.transfers[result as usize], 1);
        add(
            if kind.is_upload() {
                &c.bytes_received
            } else {
                &c.bytes_sent
            },
            bytes,
        );
    }
}

/// Counts one session as open until dropped.
pub(crate) struct SessionGuard(Metrics);

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.0 .0.sessions_open.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(feature = "prometheus")]
mod prometheus {
    use prometheus_client::collector::Collector;
    use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
    use prometheus_client::metrics::counter::ConstCounter;
    use prometheus_client::metrics::gauge::ConstGauge;

    use super::{Metrics, RefusedBecause, TransferResult};

    /// The counters as Prometheus metrics, read at each scrape: register with
    /// `registry.register_collector(Box::new(running.metrics()))`. Names (counters get
    /// `_total` from the encoder): `ftp_sessions_open`, `ftp_sessions`,
    /// `ftp_connections_refused{reason}`, `ftp_logins{result="ok|failed"}`,
    /// `ftp_commands{verb}`, `ftp_replies{class="1xx".."5xx"}`,
    /// `ftp_data_bytes{direction="in|out"}`, `ftp_data_bytes_from_page_cache`,
    /// `ftp_transfers_running`,
    /// `ftp_transfers{result}`, `ftp_tls_handshakes{result="ok|failed"}`, `ftp_bans`.
    #[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
    impl Collector for Metrics {
        fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
            let s = self.snapshot();
            let e = &mut encoder;
            gauge(
                e,
                "ftp_sessions_open",
                "Sessions running now",
                s.sessions_open,
            )?;
            counter(e, "ftp_sessions", "Sessions started", s.sessions)?;
            let refused = RefusedBecause::ALL
                .iter()
                .map(|r| r.as_str())
                .zip(s.refused);
            let classes = ["1xx", "2xx", "3xx", "4xx", "5xx"]
                .into_iter()
                .zip(s.replies);
            let results = TransferResult::ALL
                .iter()
                .map(|r| r.as_str())
                .zip(s.transfers);
            let families: [Family<'_>; 7] = [
                (
                    "ftp_connections_refused",
                    "Connections refused",
                    "reason",
                    refused.collect(),
                ),
                (
                    "ftp_logins",
                    "Login attempts",
                    "result",
                    vec![("ok", s.logins), ("failed", s.failed_logins)],
                ),
                (
                    "ftp_commands",
                    "Commands received",
                    "verb",
                    s.commands.clone(),
                ),
                ("ftp_replies", "Replies sent", "class", classes.collect()),
                (
                    "ftp_data_bytes",
                    "Data connection bytes of ended transfers",
                    "direction",
                    vec![("in", s.bytes_received), ("out", s.bytes_sent)],
                ),
                (
                    "ftp_transfers",
                    "Transfers ended",
                    "result",
                    results.collect(),
                ),
                (
                    "ftp_tls_handshakes",
                    "TLS handshakes",
                    "result",
                    vec![("ok", s.tls_handshakes), ("failed", s.tls_failures)],
                ),
            ];
            for (name, help, label, values) in families {
                counters(e, name, help, label, values)?;
            }
            gauge(
                e,
                "ftp_transfers_running",
                "Transfers running now",
                s.transfers_running,
            )?;
            counter(
                e,
                "ftp_data_bytes_from_page_cache",
                "Download bytes sent with sendfile(2) from the page cache",
                s.bytes_sent_from_page_cache,
            )?;
            counter(e, "ftp_bans", "Addresses banned for failed logins", s.bans)
        }
    }

    /// A labelled counter family: name, help, label, and each label value's count.
    type Family<'a> = (&'a str, &'a str, &'a str, Vec<(&'a str, u64)>);

    fn gauge(
        e: &mut DescriptorEncoder<'_>,
        name: &str,
        help: &str,
        value: u64,
    ) -> Result<(), std::fmt::Error> {
        let gauge = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
        let metric = e.encode_descriptor(name, help, None, gauge.metric_type())?;
        gauge.encode(metric)
    }

    fn counter(
        e: &mut DescriptorEncoder<'_>,
        name: &str,
        help: &str,
        value: u64,
    ) -> Result<(), std::fmt::Error> {
        let counter = ConstCounter::new(value);
        let metric = e.encode_descriptor(name, help, None, counter.metric_type())?;
        counter.encode(metric)
    }

    fn counters<'a>(
        e: &mut DescriptorEncoder<'_>,
        name: &str,
        help: &str,
        label: &'static str,
        values: impl IntoIterator<Item = (&'a str, u64)>,
    ) -> Result<(), std::fmt::Error> {
        let kind = ConstCounter::new(0u64).metric_type();
        let mut family = e.encode_descriptor(name, help, None, kind)?;
        for (value, n) in values {
            let labels = [(label, value)];
            ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_count_final_lines_only() {
        let metrics = Metrics::new();
        metrics.replies_in(b"220 Hi\r\n211-Features:\r\n MDTM\r\n 226 not final\r\n211 End\r\n");
        metrics.replies_in(b"150 Opening\r\n");
        metrics.replies_in(b"550 No\r\n421 Bye\r\n331 Pass\r\n");
        assert_eq!(metrics.snapshot().replies, [1, 2, 1, 1, 1]);
    }

    #[test]
    fn unknown_verbs_count_as_other_and_sessions_as_guards() {
        let metrics = Metrics::new();
        let mut running = false;
        for verb in [&b"RETR"[..], b"XYZZY", b"retr", b"NOOP"] {
            let verb = bytes::Bytes::copy_from_slice(verb);
            metrics.event(&ServerEvent::Command { verb }, &mut running);
        }
        let guard = metrics.session();
        let s = metrics.snapshot();
        assert_eq!(
            (
                s.commands_of("RETR"),
                s.commands_of("NOOP"),
                s.commands_of("OTHER")
            ),
            (1, 1, 2)
        );
        assert_eq!(s.commands.len(), IMPLEMENTED_VERBS.len() + 1);
        assert_eq!((s.sessions, s.sessions_open), (1, 1));
        drop(guard);
        assert_eq!(
            (
                metrics.snapshot().sessions,
                metrics.snapshot().sessions_open
            ),
            (1, 0)
        );
    }
}
