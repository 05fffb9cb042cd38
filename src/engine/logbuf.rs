//! Captures `tracing` output into a bounded in-memory ring buffer that the Log panel shows.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Default filter when `RUST_LOG` is unset: meshlake's info, dependencies' warnings, minus known noise
/// (delta-rs warns for every binary column it has no statistics for; the kernel logs an error while
/// probing a table that does not exist yet, before creating it). Front ends add their own directives.
pub const DEFAULT_LOG_FILTER: &str = "warn,meshlake=info,deltalake_core::writer::stats=error,buoyant_kernel::snapshot=off";

/// Lines kept; older ones are dropped.
pub const LOG_CAPACITY: usize = 5000;

/// One captured log line.
#[derive(Clone, Debug)]
pub struct LogLine {
    pub time: chrono::DateTime<chrono::Local>,
    pub level: Level,
    pub target: String,
    pub message: String,
}

/// A shared, bounded buffer of log lines.
#[derive(Clone, Default)]
pub struct LogBuffer {
    lines: Arc<Mutex<VecDeque<LogLine>>>,
}

impl LogBuffer {
    pub fn push(&self, line: LogLine) {
        if let Ok(mut lines) = self.lines.lock() {
            if lines.len() >= LOG_CAPACITY {
                lines.pop_front();
            }
            lines.push_back(line);
        }
    }

    /// A copy of the lines (newest last).
    pub fn snapshot(&self) -> Vec<LogLine> {
        self.lines.lock().map(|l| l.iter().cloned().collect()).unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.lines.lock().map(|l| l.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn clear(&self) {
        if let Ok(mut lines) = self.lines.lock() {
            lines.clear();
        }
    }
}

/// The `tracing` layer that writes into a [`LogBuffer`].
pub struct LogBufferLayer {
    buffer: LogBuffer,
}

impl LogBufferLayer {
    pub fn new(buffer: LogBuffer) -> Self {
        Self { buffer }
    }
}

#[derive(Default)]
struct MessageVisitor {
    message: String,
    fields: String,
    /// The original target of a record bridged from the `log` crate.
    log_target: Option<String>,
}

impl Visit for MessageVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message.push_str(value),
            "log.target" => self.log_target = Some(value.to_owned()),
            // Source locations of bridged `log` records: noise in a log view.
            "log.module_path" | "log.file" => {}
            name => {
                let _ = write!(self.fields, " {name}={value}");
            }
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() != "log.line" {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => {
                let _ = write!(self.message, "{value:?}");
            }
            "log.target" | "log.module_path" | "log.file" | "log.line" => {}
            name => {
                let _ = write!(self.fields, " {name}={value:?}");
            }
        }
    }
}

impl<S: Subscriber> Layer<S> for LogBufferLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut visitor = MessageVisitor::default();
        event.record(&mut visitor);
        let metadata = event.metadata();
        self.buffer.push(LogLine {
            time: chrono::Local::now(),
            level: *metadata.level(),
            target: visitor.log_target.take().unwrap_or_else(|| metadata.target().to_owned()),
            message: format!("{}{}", visitor.message, visitor.fields),
        });
    }
}

static GLOBAL_LOG: std::sync::OnceLock<LogBuffer> = std::sync::OnceLock::new();

/// Install the global subscriber once: the ring buffer (filter [`DEFAULT_LOG_FILTER`] plus the caller's
/// `extra_directives` (comma-separated `target=level`), or `RUST_LOG`) and,
/// when `to_stderr`, a compact stderr writer. Returns the process-wide buffer; later calls return the
/// same buffer and leave the first call's setup in place.
pub fn init_logging(to_stderr: bool, extra_directives: &str) -> LogBuffer {
    GLOBAL_LOG
        .get_or_init(|| {
            let buffer = LogBuffer::default();
            let filter =
                || EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                    let directives: Vec<&str> =
                        [DEFAULT_LOG_FILTER, extra_directives].into_iter().filter(|d| !d.is_empty()).collect();
                    EnvFilter::new(directives.join(","))
                });
            let stderr_layer = to_stderr.then(|| {
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .compact()
                    .with_filter(filter())
            });
            // Fails only when another subscriber was installed first (e.g. by a test harness); the
            // buffer then stays empty and the Log panel says so.
            let _ = tracing_subscriber::registry()
                .with(LogBufferLayer::new(buffer.clone()).with_filter(filter()))
                .with(stderr_layer)
                .try_init();
            buffer
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_captures_messages_and_fields_and_stays_bounded() {
        let buffer = LogBuffer::default();
        let subscriber = tracing_subscriber::registry().with(LogBufferLayer::new(buffer.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(table = "parcels", "small files: {}", 42);
            for i in 0..(LOG_CAPACITY + 10) {
                tracing::info!("line {i}");
            }
        });
        let lines = buffer.snapshot();
        assert_eq!(lines.len(), LOG_CAPACITY);
        assert_eq!(lines.last().unwrap().message, format!("line {}", LOG_CAPACITY + 9));
        let buffer2 = LogBuffer::default();
        let subscriber = tracing_subscriber::registry().with(LogBufferLayer::new(buffer2.clone()));
        tracing::subscriber::with_default(subscriber, || tracing::warn!(table = "parcels", "small files: {}", 42));
        let line = &buffer2.snapshot()[0];
        assert_eq!(line.level, Level::WARN);
        assert_eq!(line.message, "small files: 42 table=parcels");
    }
}
