//! The progress bar of file runs: bytes read of the file's size, records per second and the
//! time left, on stderr when it is a terminal; nothing at all otherwise (logs, CI, pipes).
//!
//! Log lines written while the bar is drawn go through [`log_writer`], which lifts the bar
//! for the line and draws it again below, so the two never mix on one line.

use crate::decode::files::BytesRead;
use indicatif::{HumanCount, HumanFloatCount, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Records between two updates of the bar: its work (a clock read, a lock) is then a few
/// nanoseconds per record at most, and it still moves several times a second.
const UPDATE_EVERY: u64 = 4096;

/// Runs shorter than this show no bar: it would only flash.
const SHOW_AFTER: Duration = Duration::from_secs(1);

/// For tests only: milliseconds to sleep at each update of the bar, which is then drawn from
/// the start, so a test sees it in the middle of a run however fast the machine is.
pub const TEST_PACE_ENV: &str = "SPANFLOW_TEST_PROGRESS_PACE_MS";

/// The bar being drawn, for [`log_writer`].
static ACTIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// The progress of a file run.
#[derive(Debug)]
pub struct FileProgress {
    bar: ProgressBar,
    bytes: BytesRead,
    started: Instant,
    show_after: Duration,
    shown: bool,
    pace: Option<Duration>,
}

impl FileProgress {
    /// A bar for reading `input`, whose reader counts into `bytes`; `None` when stderr is not
    /// a terminal. A file of unknown size (a pipe) gets a counter without bar or ETA, and a
    /// file whose reader counts no bytes (`bytes_counted` false: Parquet, read by row group
    /// with seeks) only its records.
    pub fn start(input: &Path, bytes: &BytesRead, bytes_counted: bool) -> Option<Self> {
        if !io::stderr().is_terminal() {
            return None;
        }
        let pace = std::env::var(TEST_PACE_ENV)
            .ok()
            .and_then(|ms| ms.parse().ok())
            .map(Duration::from_millis);
        let size = std::fs::metadata(input)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len());
        let size = size.filter(|_| bytes_counted);
        let template = match (size.is_some(), bytes_counted) {
            (true, _) => {
                "{wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec}  {msg}  ETA {eta}"
            }
            (false, true) => "{spinner} {bytes} read {binary_bytes_per_sec}  {msg}",
            (false, false) => "{spinner} {msg}",
        };
        let style = ProgressStyle::with_template(template)
            .expect("the templates are valid")
            .progress_chars("█▉▊▋▌▍▎▏ ");
        // Hidden until the run has taken long enough to be worth a bar.
        let bar =
            ProgressBar::with_draw_target(size, ProgressDrawTarget::hidden()).with_style(style);
        Some(Self {
            bar,
            bytes: bytes.clone(),
            started: Instant::now(),
            show_after: if pace.is_some() {
                Duration::ZERO
            } else {
                SHOW_AFTER
            },
            shown: false,
            pace,
        })
    }

    /// Called with the number of records decoded so far, after each record; does its work
    /// once every [`UPDATE_EVERY`] records.
    #[inline]
    pub fn record(&mut self, records: u64) {
        if records.is_multiple_of(UPDATE_EVERY) {
            self.update(records);
        }
    }

    #[cold]
    fn update(&mut self, records: u64) {
        let elapsed = self.started.elapsed();
        if !self.shown {
            if elapsed < self.show_after {
                return;
            }
            self.shown = true;
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            *active() = Some(self.bar.clone());
        }
        let rate = records as f64 / elapsed.as_secs_f64().max(1e-3);
        self.bar.set_message(format!(
            "{} records, {}/s",
            HumanCount(records),
            HumanFloatCount(rate.round())
        ));
        self.bar.set_position(self.bytes.get());
        if let Some(pace) = self.pace {
            std::thread::sleep(pace);
        }
    }
}

/// Dropping the progress clears the bar, however the run ended: the summary or the error
/// follows on stderr.
impl Drop for FileProgress {
    fn drop(&mut self) {
        *active() = None;
        self.bar.finish_and_clear();
    }
}

fn active() -> std::sync::MutexGuard<'static, Option<ProgressBar>> {
    ACTIVE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The writer of log lines on stderr: lifts the progress bar, if one is drawn, for each line.
pub fn log_writer() -> LogWriter {
    LogWriter
}

/// See [`log_writer`].
#[derive(Debug)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let bar = active().clone();
        match bar {
            Some(bar) => bar.suspend(|| io::stderr().write(buf)),
            None => io::stderr().write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        // One suspension per log line (the formatter writes a line at once).
        let bar = active().clone();
        match bar {
            Some(bar) => bar.suspend(|| io::stderr().write_all(buf)),
            None => io::stderr().write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}
