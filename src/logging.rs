//! Where the logs go: `tracing` events (the audit trail included) formatted as text or JSON on
//! stderr. `rolegate serve` writes them in batches from a background thread, so that a request
//! costs an append to a buffer instead of a `write(2)` to the journal or pipe behind stderr.
//!
//! The text format writes fields as `DefaultFields` does, through [`TextFields`], which writes
//! plain `name=value` fields by hand instead of through `core::fmt` (an audit event records
//! about twenty strings).
//!
//! The JSON format is the stock one's output, written by [`JsonLines`] in one piece.
//!
//! The batch is written when it reaches [`WAKE_AT`] bytes, at most [`FLUSH_INTERVAL`] after its
//! first line, and when the returned [`FlushGuard`] drops (at the end of `serve`). A writer that
//! cannot keep up (stderr blocked) makes callers wait once [`MAX_PENDING`] bytes are queued, as
//! a blocking stderr would: lines are delayed, never dropped. A stderr that refuses the
//! bytes (a full disk, a closed pipe) loses them; the writer counts what it lost
//! (`rolegate_log_bytes_lost_total`) and goes on with the next batch. A write that stopped
//! in the middle of a line leaves it torn: the next write starts with a newline, so that no
//! line is glued onto the torn one, and once a write succeeds again one WARN line says how
//! many bytes were lost ([`Output`]).

use std::fmt;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::{DefaultVisitor, Format, Json, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// The most a log line waits before it is written.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(20);
/// A batch this large is written at once.
pub const WAKE_AT: usize = 64 * 1024;
/// Callers wait while this much is queued.
pub const MAX_PENDING: usize = 8 * 1024 * 1024;

/// The log line format (`--log-format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    /// The name `--log-format` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

/// Installs the global subscriber: level from `RUST_LOG` (default [`DEFAULT_FILTER`]), `format` on stderr,
/// batched when `batched` (then keep the guard alive until the process ends).
pub fn init(format: LogFormat, batched: bool) -> Option<FlushGuard> {
    if !batched {
        install(format, Stderr);
        return None;
    }
    match BatchedWriter::spawn(
        std::io::stderr(),
        crate::metrics::record_lost_log_bytes,
        report_lost_log_lines,
    ) {
        Ok((writer, guard)) => {
            install(format, writer);
            Some(guard)
        }
        // No thread to write batches (a task limit reached): lines written as they come,
        // rather than queued for a writer that never runs until logging blocks every thread.
        Err(e) => {
            install(format, Stderr);
            tracing::warn!(error = %e, "cannot start the log writer thread; writing each line at once");
            None
        }
    }
}

/// Says, once log writes succeed again, how many bytes of log lines stderr refused before
/// (the counters `rolegate_log_bytes_lost_total` count them too): audit events were lost.
fn report_lost_log_lines(lost_bytes: u64) {
    tracing::warn!(
        lost_bytes,
        "{lost_bytes} bytes of log lines were lost: stderr refused them (a full disk, a closed pipe?); \
         log writes succeed again"
    );
}

/// The filter without `RUST_LOG`: `info`, except the TLS and HTTP/2 libraries' warnings, which
/// any unauthenticated peer can cause at will, with text of its choosing (an illegal SNI name,
/// a reset flood). rolegate logs a failed handshake itself, at `debug`.
pub const DEFAULT_FILTER: &str = "info,rustls=error,h2=error";

/// Installs the global subscriber writing `format` lines to `writer`, filtered by `RUST_LOG`.
fn install<W>(format: LogFormat, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let (filter, unread) = env_filter();
    tracing_subscriber::registry()
        .with(filter)
        .with(lines(format, writer))
        .init();
    warn_unread_filter(unread.as_deref());
}

/// The layer writing each event as a `format` line to `writer`: what the daemon logs, and what
/// the commands that only load a configuration print.
fn lines<S, W>(format: LogFormat, writer: W) -> Box<dyn tracing_subscriber::Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::Layer;
    let layer = tracing_subscriber::fmt::layer().with_ansi(ansi()).with_writer(writer);
    match format {
        LogFormat::Text => layer.fmt_fields(TextFields).boxed(),
        LogFormat::Json => layer.json().event_format(JsonLines::default()).boxed(),
    }
}

/// Runs `f` with its events written as [`init`] writes them (`format` on stderr, filtered by
/// `RUST_LOG`) and returns, beside its result, how many warnings and errors it logged —
/// counted whether `RUST_LOG` lets them through or not: what `check-config --strict` fails on.
/// The count covers this thread's events only (a configuration loads on the caller's thread).
/// A `RUST_LOG` that is no filter was warned of by [`init`], once: it is the environment's
/// problem, not the configuration's, and is not counted.
pub fn counting_warnings<T>(format: LogFormat, f: impl FnOnce() -> T) -> (T, usize) {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    let (filter, _warned_by_init) = env_filter();
    let lines = lines(format, Stderr).with_filter(filter);
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = WarningCounter(Arc::clone(&count)).with_filter(tracing_subscriber::filter::LevelFilter::WARN);
    let subscriber = tracing_subscriber::registry().with(lines).with(counter);
    let result = tracing::subscriber::with_default(subscriber, f);
    (result, count.load(std::sync::atomic::Ordering::Relaxed))
}

/// stderr for log lines written as they come (every command but `serve`, whose lines a
/// [`BatchedWriter`] writes): a line stderr refuses (a reader that went away, as in
/// `rolegate check-config 2>&1 | head -2`) is dropped, as [`crate::cli::print_stderr`] drops
/// it. `tracing_subscriber` reports a failed write with `eprintln!`, on the same stderr, which
/// panics (exit 101) instead of the command's own exit status.
#[derive(Clone, Copy, Debug, Default)]
struct Stderr;

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = Stderr;

    fn make_writer(&'a self) -> Stderr {
        Stderr
    }
}

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Counts the events it sees (of the level its filter lets through).
struct WarningCounter(Arc<std::sync::atomic::AtomicUsize>);

impl<S: Subscriber> tracing_subscriber::Layer<S> for WarningCounter {
    fn on_event(&self, _event: &Event<'_>, _ctx: tracing_subscriber::layer::Context<'_, S>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Whether log lines carry ANSI colour codes: only when stderr is a terminal, not a file, a
/// pipe or journald (they cost formatting time on every audit event and garble log files).
fn ansi() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stderr())
}

/// `RUST_LOG`'s filter, else [`DEFAULT_FILTER`]; beside it, when `RUST_LOG` is set but is no
/// filter, why (to log once logging is installed: an operator who raised the level for an
/// incident must not be left wondering why nothing more is logged).
fn env_filter() -> (tracing_subscriber::EnvFilter, Option<String>) {
    let error = match tracing_subscriber::EnvFilter::try_from_default_env() {
        Ok(filter) => return (filter, None),
        Err(e) => e,
    };
    let unread = match std::env::var(tracing_subscriber::EnvFilter::DEFAULT_ENV) {
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => Some("it is not UTF-8".to_owned()),
        Ok(text) => Some(format!("{text:?} is not a filter ({error})")),
    };
    (tracing_subscriber::EnvFilter::new(DEFAULT_FILTER), unread)
}

/// Logs that `RUST_LOG` was not used, and why.
fn warn_unread_filter(problem: Option<&str>) {
    if let Some(problem) = problem {
        tracing::warn!(
            "RUST_LOG is ignored: {problem}; logging with the default filter {DEFAULT_FILTER:?} \
             (e.g. RUST_LOG=debug, or RUST_LOG=info,audit=warn)"
        );
    }
}

/// The text format's fields: exactly `DefaultFields`' output. Without colour, a plain
/// `name=value` field (a string, a number, a bool) is written by hand, string values by
/// `write_quoted`; `DefaultFields` formats every field through `core::fmt` and `nu_ansi_term`
/// (most of an audit event's cost). The message, raw identifiers (`r#type`), errors,
/// `%`/`?` values and coloured output still go through `DefaultVisitor`.
#[derive(Clone, Copy, Debug, Default)]
pub struct TextFields;

impl<'a> MakeVisitor<Writer<'a>> for TextFields {
    type Visitor = TextVisitor<'a>;

    fn make_visitor(&self, target: Writer<'a>) -> TextVisitor<'a> {
        TextVisitor {
            writer: target,
            is_empty: true,
            result: Ok(()),
        }
    }
}

/// `DefaultVisitor`'s output, with plain fields written directly (see [`TextFields`]).
pub struct TextVisitor<'a> {
    writer: Writer<'a>,
    /// Nothing written yet: the next field is not preceded by a space.
    is_empty: bool,
    result: fmt::Result,
}

impl TextVisitor<'_> {
    /// Whether `field` is written as `name=value` with no styling, as `DefaultVisitor` writes
    /// it then. `log.*` fields are the `log` crate's metadata, which `DefaultVisitor` skips.
    fn is_plain(&self, field: &Field) -> bool {
        let name = field.name();
        !self.writer.has_ansi_escapes() && name != "message" && !name.starts_with("r#") && !name.starts_with("log.")
    }

    /// Writes ` name=` (no space before the first field) and then `value`.
    fn write_plain(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        self.result = (|| {
            if !std::mem::take(&mut self.is_empty) {
                self.writer.write_char(' ')?;
            }
            self.writer.write_str(field.name())?;
            self.writer.write_char('=')?;
            value(&mut self.writer)
        })();
    }

    /// Hands one field to `DefaultVisitor`, which writes it after a space unless it is first.
    fn delegate(&mut self, field: &Field, record: impl FnOnce(&mut DefaultVisitor<'_>)) {
        if self.result.is_err() {
            return;
        }
        let mut visitor = DefaultVisitor::new(self.writer.by_ref(), self.is_empty);
        record(&mut visitor);
        self.result = visitor.finish();
        // DefaultVisitor writes every field but the `log` crate's metadata.
        self.is_empty &= field.name().starts_with("log.");
    }
}

impl Visit for TextVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.is_plain(field) {
            self.write_plain(field, |w| write_quoted(w, value));
        } else {
            self.delegate(field, |v| v.record_str(field, value));
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.is_plain(field) {
            self.write_plain(field, |w| w.write_str(if value { "true" } else { "false" }));
        } else {
            self.delegate(field, |v| v.record_bool(field, value));
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.is_plain(field) {
            self.write_plain(field, |w| w.write_str(itoa::Buffer::new().format(value)));
        } else {
            self.delegate(field, |v| v.record_u64(field, value));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.is_plain(field) {
            self.write_plain(field, |w| w.write_str(itoa::Buffer::new().format(value)));
        } else {
            self.delegate(field, |v| v.record_i64(field, value));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.delegate(field, |v| v.record_error(field, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.delegate(field, |v| v.record_debug(field, value));
    }
}

/// `value` exactly as `str`'s `Debug` writes it — quoted, with `"`, `\\`, control and
/// non-printable characters escaped — in one piece when it only holds printable ASCII other
/// than `"` and `\\` (which `str`'s `Debug` writes unchanged), skipping `core::fmt`'s
/// per-character escaping.
fn write_quoted(w: &mut impl fmt::Write, value: &str) -> fmt::Result {
    let plain = value
        .bytes()
        .all(|b| matches!(b, 0x20..=0x7e) && b != b'"' && b != b'\\');
    if !plain {
        return write!(w, "{value:?}");
    }
    w.write_char('"')?;
    w.write_str(value)?;
    w.write_char('"')
}

impl VisitOutput<fmt::Result> for TextVisitor<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl VisitFmt for TextVisitor<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        &mut self.writer
    }
}

/// The JSON log line: exactly what `tracing_subscriber`'s `Json` event format writes
/// (`{"timestamp":…,"level":…,"fields":{…},"target":…}`), serialized by `serde_json` into
/// bytes and handed to the writer at once. The stock format passes every token through a
/// `fmt::Write` adaptor that re-checks it as UTF-8, which made an audit event's JSON line cost
/// twice its text line. Events inside a span (the stock format adds `span` and `spans`) and
/// events of the `log` crate (whose metadata it normalizes) are left to the stock format.
pub struct JsonLines<T = SystemTime> {
    timer: T,
    stock: Format<Json, T>,
}

impl Default for JsonLines {
    fn default() -> Self {
        JsonLines::with_timer(SystemTime)
    }
}

impl<T: FormatTime + Clone> JsonLines<T> {
    /// Lines stamped by `timer`, as `Format::with_timer` stamps them.
    pub fn with_timer(timer: T) -> Self {
        JsonLines {
            stock: tracing_subscriber::fmt::format().json().with_timer(timer.clone()),
            timer,
        }
    }
}

impl<S, N, T> FormatEvent<S, N> for JsonLines<T>
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
    N: for<'writer> FormatFields<'writer> + 'static,
    T: FormatTime,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        // The stock format's own test for whether it adds `span` and `spans`.
        let in_span = event.parent().and_then(|id| ctx.span(id)).is_some() || ctx.lookup_current().is_some();
        let from_log = event.metadata().fields().iter().any(|f| f.name().starts_with("log."));
        if in_span || from_log {
            return self.stock.format_event(ctx, writer, event);
        }
        let mut timestamp = String::new();
        self.timer.format_time(&mut Writer::new(&mut timestamp))?;
        let line = json_line(&timestamp, event).map_err(|_| fmt::Error)?;
        writer.write_str(std::str::from_utf8(&line).map_err(|_| fmt::Error)?)?;
        writer.write_char('\n')
    }
}

/// An ERROR line shaped and stamped as every other line of `--log-format json`, for what
/// must be written whatever `RUST_LOG` filters (why the daemon could not start).
pub fn json_error_line(message: &str, error: &str) -> String {
    json_event_line("ERROR", message, Some(error))
}

/// An INFO line saying `message`, in the JSON log format: what `rolegate serve --log-format
/// json` prints on stdout where the text format prints `message` alone (`listening on …`), so
/// that a log pipeline reading both streams finds JSON only.
pub fn json_info_line(message: &str) -> String {
    json_event_line("INFO", message, None)
}

/// A JSON log line of `level` outside any event (the stock `Json` format's shape, target
/// `rolegate`), with `error` when given.
fn json_event_line(level: &str, message: &str, error: Option<&str>) -> String {
    let mut timestamp = String::new();
    // The system clock cannot fail to format; an empty stamp is still a valid line.
    let _ = SystemTime.format_time(&mut Writer::new(&mut timestamp));
    let quoted = |text: &str| serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned());
    let error = error.map_or_else(String::new, |e| format!(",\"error\":{}", quoted(e)));
    format!(
        "{{\"timestamp\":{},\"level\":\"{level}\",\"fields\":{{\"message\":{}{error}}},\"target\":\"rolegate\"}}",
        quoted(&timestamp),
        quoted(message),
    )
}

/// One event as the stock `Json` format serializes it outside spans.
fn json_line(timestamp: &str, event: &Event<'_>) -> serde_json::Result<Vec<u8>> {
    let meta = event.metadata();
    let mut line = Vec::with_capacity(1024);
    line.extend_from_slice(b"{\"timestamp\":");
    serde_json::to_writer(&mut line, timestamp)?;
    line.extend_from_slice(b",\"level\":");
    serde_json::to_writer(&mut line, meta.level().as_str())?;
    line.extend_from_slice(b",\"fields\":{");
    let mut fields = JsonFieldsVisitor {
        line,
        first: true,
        result: Ok(()),
    };
    event.record(&mut fields);
    let JsonFieldsVisitor { mut line, result, .. } = fields;
    result?;
    line.extend_from_slice(b"},\"target\":");
    serde_json::to_writer(&mut line, meta.target())?;
    line.push(b'}');
    Ok(line)
}

/// Writes an event's fields as `tracing_serde`'s map visitor does: numbers and bools as
/// JSON values, strings as strings, anything else as its `Debug` text (an error as its
/// `Display`).
struct JsonFieldsVisitor {
    line: Vec<u8>,
    first: bool,
    result: serde_json::Result<()>,
}

impl JsonFieldsVisitor {
    fn entry(&mut self, field: &Field, value: &impl serde::Serialize) {
        if self.result.is_err() {
            return;
        }
        if !std::mem::take(&mut self.first) {
            self.line.push(b',');
        }
        self.result = serde_json::to_writer(&mut self.line, field.name()).and_then(|()| {
            self.line.push(b':');
            serde_json::to_writer(&mut self.line, value)
        });
    }
}

impl Visit for JsonFieldsVisitor {
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.entry(field, &value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.entry(field, &value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.entry(field, &value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.entry(field, &value);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.entry(field, &value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.entry(field, &format_args!("{value:?}"));
    }
}

/// A [`MakeWriter`] appending each formatted event to the shared batch.
#[derive(Clone)]
pub struct BatchedWriter {
    shared: Arc<Shared>,
}

/// Writes what is queued and stops the background thread when dropped.
pub struct FlushGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    queue: Mutex<Queue>,
    /// Told how many bytes a failed write lost.
    on_lost: fn(usize),
    /// Told, by the first write that succeeds after failed ones, how many bytes they lost.
    on_recovered: fn(u64),
    /// Signalled when the background thread has work: a first line, a full batch, or stop.
    work: Condvar,
    /// Signalled when the background thread took the queue (room for waiting callers).
    room: Condvar,
}

#[derive(Default)]
struct Queue {
    pending: Vec<u8>,
    stopping: bool,
}

impl BatchedWriter {
    /// Starts the thread that writes batches to `out`, telling `on_lost` the bytes of each
    /// batch `out` refuses and `on_recovered` the bytes lost before a write succeeds again
    /// (it may log: it runs on the writer thread, whose lines never wait for room); an error
    /// when no thread can be started.
    pub fn spawn<W: Write + Send + 'static>(
        out: W,
        on_lost: fn(usize),
        on_recovered: fn(u64),
    ) -> std::io::Result<(BatchedWriter, FlushGuard)> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            on_lost,
            on_recovered,
            work: Condvar::new(),
            room: Condvar::new(),
        });
        let background = shared.clone();
        let thread = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || background.write_batches(out))?;
        let writer = BatchedWriter { shared: shared.clone() };
        Ok((
            writer,
            FlushGuard {
                shared,
                thread: Some(thread),
            },
        ))
    }
}

impl<'a> MakeWriter<'a> for BatchedWriter {
    type Writer = &'a BatchedWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

impl Write for &BatchedWriter {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        self.shared.append(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock leaves a valid (if partial) buffer: keep logging.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn append(&self, bytes: &[u8]) {
        let mut queue = self.lock();
        // The writer thread's own lines (`on_recovered`'s) never wait: only it makes room.
        while queue.pending.len() >= MAX_PENDING && !queue.stopping && !ON_WRITER_THREAD.get() {
            queue = self.room.wait(queue).unwrap_or_else(PoisonError::into_inner);
        }
        let was_empty = queue.pending.is_empty();
        queue.pending.extend_from_slice(bytes);
        let full = queue.pending.len() >= WAKE_AT;
        drop(queue);
        if was_empty || full {
            self.work.notify_one();
        }
    }

    /// The background thread: waits for a first line, gathers for up to [`FLUSH_INTERVAL`],
    /// then writes the whole batch with one `write_all`.
    fn write_batches<W: Write>(&self, mut out: W) {
        ON_WRITER_THREAD.set(true);
        let mut batch = Vec::new();
        let mut output = Output::default();
        loop {
            let mut queue = self.lock();
            while queue.pending.is_empty() && !queue.stopping {
                queue = self.work.wait(queue).unwrap_or_else(PoisonError::into_inner);
            }
            if queue.pending.len() < WAKE_AT && !queue.stopping {
                queue = self
                    .work
                    .wait_timeout(queue, FLUSH_INTERVAL)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            std::mem::swap(&mut queue.pending, &mut batch);
            let stopping = queue.stopping;
            drop(queue);
            self.room.notify_all();
            // Nowhere to log a failed log write: it is counted, and the next batch tries again;
            // the first that succeeds says what was lost (queued for the next batch).
            match output.write(&mut out, &batch) {
                Ok(0) => {}
                Ok(lost) => (self.on_recovered)(lost),
                Err(unwritten) => (self.on_lost)(unwritten),
            }
            batch.clear();
            if stopping && self.lock().pending.is_empty() {
                return;
            }
        }
    }
}

std::thread_local! {
    /// Set on the thread that writes the batches.
    static ON_WRITER_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// What the writer knows of its output between batches: whether a failed write left a line
/// torn, and the bytes lost since the last write that succeeded.
#[derive(Debug, Default)]
struct Output {
    torn: bool,
    lost: u64,
}

impl Output {
    /// Writes `batch`, first ending with a newline a line that a failed write left torn (so
    /// that no line is glued onto it). `Ok` with the bytes failed writes lost since the last
    /// write that succeeded (0: none); `Err` with the bytes of `batch` not written.
    fn write<W: Write>(&mut self, out: &mut W, batch: &[u8]) -> Result<u64, usize> {
        if batch.is_empty() {
            return Ok(0);
        }
        if self.torn && write_batch(out, b"\n").is_err() {
            return Err(self.lose(batch.len()));
        }
        self.torn = false;
        match write_batch(out, batch) {
            Ok(()) => Ok(std::mem::take(&mut self.lost)),
            Err(unwritten) => {
                let written = batch.len().saturating_sub(unwritten);
                self.torn = written > 0 && batch.get(written - 1) != Some(&b'\n');
                Err(self.lose(unwritten))
            }
        }
    }

    fn lose(&mut self, bytes: usize) -> usize {
        self.lost = self.lost.saturating_add(u64::try_from(bytes).unwrap_or(u64::MAX));
        bytes
    }
}

/// Writes all of `batch`, waiting out a non-blocking stderr that is full (`EAGAIN`, as a
/// blocking one would wait) rather than losing the rest; `Err` with the bytes not written when
/// `out` refuses them.
fn write_batch<W: Write>(out: &mut W, batch: &[u8]) -> Result<(), usize> {
    let mut rest = batch;
    while !rest.is_empty() {
        match out.write(rest) {
            Ok(0) => return Err(rest.len()),
            Ok(n) => rest = rest.get(n..).unwrap_or_default(),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(1)),
            Err(_) => return Err(rest.len()),
        }
    }
    // Written but not flushed is written: stderr has no buffer of its own to lose.
    let _ = out.flush();
    Ok(())
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.shared.lock().stopping = true;
        self.shared.work.notify_one();
        self.shared.room.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn quoted_strings_are_written_as_str_debug(s in "(\\PC|[ -~]|[\\x00-\\x1f\\x7f\\u{85}\\u{301}\\u{200b}])*") {
            let mut out = String::new();
            write_quoted(&mut out, &s).unwrap();
            proptest::prop_assert_eq!(out, format!("{s:?}"));
        }
    }

    /// The lines an event makes with `fields`, without time or colour.
    fn text_line<F>(fields: F, emit: impl FnOnce()) -> String
    where
        F: for<'w> tracing_subscriber::fmt::FormatFields<'w> + Send + Sync + 'static,
    {
        let sink = Sink::default();
        let subscriber = tracing_subscriber::fmt()
            .without_time()
            .with_ansi(false)
            .with_writer(sink.clone())
            .fmt_fields(fields)
            .finish();
        sink.text_of(subscriber, emit)
    }

    #[test]
    fn text_fields_write_what_default_fields_write() {
        let event = || {
            let subject = "CN=a b,O=\"quoted\"\n\u{1b}[31m";
            let error = std::io::Error::other("disk \"full\"");
            tracing::info!(
                target: "audit",
                plain = "rest",
                empty = "",
                subject,
                unicode = "Zoë\u{301}",
                r#type = "raw identifier",
                number = 42u64,
                negative = -7i64,
                ratio = 0.25f64,
                flag = true,
                displayed = %"shown bare",
                debugged = ?Some("x"),
                error = &error as &(dyn std::error::Error + 'static),
                "decision \u{1b}[0m {}",
                "formatted"
            );
            tracing::warn!(message = "a message as a string field", other = "x");
            // The `log` crate's metadata is skipped, first or not.
            tracing::info!(
                log.target = "skipped",
                first = "after a skipped field",
                log.line = 7u64,
                last = 1u64
            );
            tracing::info!(alone = "no message");
        };
        let ours = text_line(TextFields, event);
        let theirs = text_line(tracing_subscriber::fmt::format::DefaultFields::new(), event);
        assert_eq!(ours, theirs);
        assert!(
            ours.contains(r#"plain="rest" empty="" subject="CN=a b,O=\"quoted\"\n\u{1b}[31m""#),
            "{ours}"
        );
    }

    /// A clock that always reads the same, so that two formats' lines can be compared.
    #[derive(Clone)]
    struct Stopped;

    impl FormatTime for Stopped {
        fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
            w.write_str("2026-12-02T10:00:00.000000Z")
        }
    }

    /// The JSON lines `format` makes of what `emit` logs.
    fn json_lines<E>(format: E, emit: impl FnOnce()) -> String
    where
        E: FormatEvent<tracing_subscriber::Registry, tracing_subscriber::fmt::format::JsonFields>
            + Send
            + Sync
            + 'static,
    {
        let sink = Sink::default();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(sink.clone())
            .event_format(format)
            .finish();
        sink.text_of(subscriber, emit)
    }

    #[test]
    fn json_lines_are_what_the_stock_json_format_writes() {
        let event = || {
            let error = std::io::Error::other("disk \"full\"");
            tracing::info!(
                target: "audit",
                plain = "rest",
                empty = "",
                subject = "CN=a b,O=\"quoted\"\n\u{1b}[31m \u{7f}\u{2028}",
                unicode = "Zoë\u{301}",
                r#type = "raw identifier",
                number = 42u64,
                negative = -7i64,
                big = 1u128 << 100,
                ratio = 0.25f64,
                whole = 3.0f64,
                nan = f64::NAN,
                flag = true,
                displayed = %"shown bare",
                debugged = ?Some("x"),
                error = &error as &(dyn std::error::Error + 'static),
                "decision {}",
                "formatted"
            );
            tracing::warn!(message = "a message as a string field", other = "x");
            tracing::error!("no fields but the message");
            tracing::info!(log.target = "the log crate's", log.line = 7u64, "from log");
            let span = tracing::info_span!("request", id = 7u64);
            span.in_scope(|| tracing::info!(inside = "a span", "in span"));
            tracing::info!(parent: &span, explicit = "parent", "with a parent");
        };
        let ours = json_lines(JsonLines::with_timer(Stopped), event);
        let stock = json_lines(tracing_subscriber::fmt::format().json().with_timer(Stopped), event);
        assert_eq!(ours, stock);
        assert_eq!(ours.lines().count(), 6, "{ours}");
        for line in ours.lines() {
            serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
        assert!(
            ours.contains(r#""level":"INFO","fields":{"message":"decision formatted","plain":"rest""#),
            "{ours}"
        );
        assert!(ours.contains(r#""spans":[{"id":7,"name":"request"}]"#), "{ours}");
    }

    /// A `Write` into a shared buffer, recording how many writes it took.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Sink {
        /// What `subscriber`, writing to this sink, writes of what `emit` logs.
        fn text_of(&self, subscriber: impl Subscriber + Send + Sync + 'static, emit: impl FnOnce()) -> String {
            tracing::subscriber::with_default(subscriber, emit);
            String::from_utf8(self.0.lock().unwrap().0.clone()).unwrap()
        }
    }

    impl<'a> MakeWriter<'a> for Sink {
        type Writer = Sink;

        fn make_writer(&'a self) -> Sink {
            self.clone()
        }
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let mut s = self.0.lock().unwrap();
            s.0.extend_from_slice(buf);
            s.1 += 1;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_is_written_in_order_by_the_time_the_guard_drops() {
        let sink = Sink::default();
        let (writer, guard) = BatchedWriter::spawn(sink.clone(), |_| {}, |_| {}).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        let mut w = writer.make_writer();
                        w.write_all(format!("t{t} line {i}\n").as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(guard);
        let (bytes, writes) = sink.0.lock().unwrap().clone();
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(text.lines().count(), 4000);
        for t in 0..4 {
            let own: Vec<&str> = text.lines().filter(|l| l.starts_with(&format!("t{t} "))).collect();
            let want: Vec<String> = (0..1000).map(|i| format!("t{t} line {i}")).collect();
            assert_eq!(own, want, "lines of thread {t} lost or reordered");
        }
        assert!(writes < 4000, "{writes} writes for 4000 lines: not batched");
    }

    /// A stderr that refuses writes while `refusing`, and answers `EAGAIN` to every other write
    /// while `busy` (a full non-blocking pipe).
    #[derive(Clone, Default)]
    struct Moody {
        written: Arc<Mutex<Vec<u8>>>,
        refusing: Arc<std::sync::atomic::AtomicBool>,
        busy: Arc<std::sync::atomic::AtomicBool>,
        calls: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl Write for Moody {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            use std::sync::atomic::Ordering::SeqCst;
            let call = self.calls.fetch_add(1, SeqCst);
            if self.refusing.load(SeqCst) {
                return Err(std::io::Error::from_raw_os_error(28)); // ENOSPC
            }
            if self.busy.load(SeqCst) && call.is_multiple_of(2) {
                return Err(std::io::ErrorKind::WouldBlock.into());
            }
            // Half of what it is given at a time, as a nearly full pipe takes it.
            let n = buf.len().div_ceil(2);
            self.written.lock().unwrap().extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    static LOST: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    #[test]
    fn refused_bytes_are_counted_as_lost_and_the_writer_goes_on() {
        use std::sync::atomic::Ordering::SeqCst;
        let out = Moody::default();
        out.refusing.store(true, SeqCst);
        let (writer, guard) = BatchedWriter::spawn(
            out.clone(),
            |n| {
                LOST.fetch_add(n, SeqCst);
            },
            |_| {},
        )
        .unwrap();
        writer.make_writer().write_all(b"lost line\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while LOST.load(SeqCst) == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the refused write was never counted"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(LOST.load(SeqCst), b"lost line\n".len());
        out.refusing.store(false, SeqCst);
        out.busy.store(true, SeqCst);
        writer.make_writer().write_all(b"kept line\n").unwrap();
        drop(guard);
        assert_eq!(
            *out.written.lock().unwrap(),
            b"kept line\n",
            "EAGAIN must be waited out"
        );
        assert_eq!(LOST.load(SeqCst), b"lost line\n".len());
    }

    /// A stderr on a disk that fills: it takes `budget` more bytes (all when `None`), the
    /// last of them in a short write, then refuses with `ENOSPC`.
    #[derive(Clone, Default)]
    struct FillingDisk {
        written: Arc<Mutex<Vec<u8>>>,
        budget: Arc<Mutex<Option<usize>>>,
    }

    impl FillingDisk {
        fn text(&self) -> String {
            String::from_utf8(self.written.lock().unwrap().clone()).unwrap()
        }
        fn set_budget(&self, budget: Option<usize>) {
            *self.budget.lock().unwrap() = budget;
        }
    }

    impl Write for FillingDisk {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let mut budget = self.budget.lock().unwrap();
            let n = match *budget {
                None => buf.len(),
                Some(0) => return Err(std::io::Error::from_raw_os_error(28)), // ENOSPC
                Some(left) => {
                    let n = left.min(buf.len());
                    *budget = Some(left - n);
                    n
                }
            };
            self.written.lock().unwrap().extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A write cut short tears its line: the next write starts with a newline, so no line is
    /// glued onto the torn one; what failed writes lost is told once a write succeeds again.
    #[test]
    fn a_torn_line_is_ended_before_the_next_and_the_loss_is_told_on_recovery() {
        let mut disk = FillingDisk::default();
        let mut output = Output::default();
        assert_eq!(output.write(&mut disk, b"zeroth line\n"), Ok(0));
        // The disk fills 3 bytes into the second line: 9 bytes lost, the line torn.
        disk.set_budget(Some(14));
        assert_eq!(output.write(&mut disk, b"first line\nsecond line\n"), Err(9));
        // Full: nothing written, not even the newline that ends the torn line.
        assert_eq!(output.write(&mut disk, b"third line\n"), Err(11));
        assert_eq!(disk.text(), "zeroth line\nfirst line\nsec");
        // Room again: the torn line is ended first, and the 20 lost bytes told, once.
        disk.set_budget(None);
        assert_eq!(output.write(&mut disk, b"fourth line\n"), Ok(20));
        assert_eq!(output.write(&mut disk, b"fifth line\n"), Ok(0));
        assert_eq!(disk.text(), "zeroth line\nfirst line\nsec\nfourth line\nfifth line\n");
        // A write refused whole after a whole line tears nothing: no empty line after it.
        disk.set_budget(Some(0));
        assert_eq!(output.write(&mut disk, b"sixth line\n"), Err(11));
        disk.set_budget(None);
        assert_eq!(output.write(&mut disk, b"seventh line\n"), Ok(11));
        assert!(disk.text().ends_with("fifth line\nseventh line\n"), "{}", disk.text());
    }

    static RECOVERED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    static TORN_LOST: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    /// The background writer does the same: lines after a torn one stand on their own, and
    /// `on_recovered` hears of the lost bytes once writes succeed again.
    #[test]
    fn the_writer_thread_ends_torn_lines_and_reports_the_loss() {
        use std::sync::atomic::Ordering::SeqCst;
        let disk = FillingDisk::default();
        disk.set_budget(Some(5));
        let (writer, guard) = BatchedWriter::spawn(
            disk.clone(),
            |lost| {
                TORN_LOST.fetch_add(lost, SeqCst);
            },
            |lost| {
                RECOVERED.fetch_add(lost, SeqCst);
            },
        )
        .unwrap();
        writer.make_writer().write_all(b"torn line\n").unwrap();
        // Room comes back only once the writer has seen the torn batch's failure.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while TORN_LOST.load(SeqCst) == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the torn batch's loss was never counted"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(disk.text(), "torn ");
        disk.set_budget(None);
        writer.make_writer().write_all(b"whole line\n").unwrap();
        drop(guard);
        assert_eq!(disk.text(), "torn \nwhole line\n");
        assert_eq!(RECOVERED.load(SeqCst), 5);
    }

    /// The recovery line says how many bytes were lost, at WARN.
    #[test]
    fn the_loss_is_reported_with_its_size() {
        let line = text_line(TextFields, || report_lost_log_lines(1234));
        assert_eq!(
            line,
            " WARN rolegate::logging: 1234 bytes of log lines were lost: stderr refused them (a full disk, a closed \
             pipe?); log writes succeed again lost_bytes=1234\n"
        );
    }

    #[test]
    fn a_lone_line_is_written_without_the_guard_dropping() {
        let sink = Sink::default();
        let (writer, _guard) = BatchedWriter::spawn(sink.clone(), |_| {}, |_| {}).unwrap();
        writer.make_writer().write_all(b"alone\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while sink.0.lock().unwrap().0.is_empty() {
            assert!(std::time::Instant::now() < deadline, "the line was never written");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(sink.0.lock().unwrap().0, b"alone\n");
    }
}
