//! The log writer: threads that log copy their lines into one shared buffer, and a background thread
//! writes the buffer out in large batches.
//!
//! tracing-appender's non-blocking writer, used before, copies each line into an allocation of its
//! own, sends it through a channel and wakes its writer thread for it. A busy server logs a line per
//! request, so most lines paid for a wake-up and a context switch: together more than the formatting.
//! Here a logging thread takes a lock and copies its line; it wakes the writer thread only when its
//! line starts a batch or fills one, and the writer lets a batch gather for a few milliseconds before
//! writing it in one call.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

/// A batch this large is written at once, without waiting for more lines.
const BATCH_BYTES: usize = 64 * 1024;

/// How long the writer lets a batch that is not full gather: the most a line waits before it is
/// written.
const GATHER: Duration = Duration::from_millis(10);

/// Past this many bytes waiting, threads that log wait for the writer instead of adding more: about
/// 10,000 request lines. An access log that loses lines under load is worse than a slower server, and
/// memory stays bounded.
const MAX_WAITING_BYTES: usize = 2 * 1024 * 1024;

/// How long dropping the [`WriterGuard`] waits for the lines still waiting to be written.
const FINAL_WRITE: Duration = Duration::from_secs(1);

/// Starts the writer thread over `out`. Hand the [`BatchWriter`] to the subscriber; hold the guard
/// until exit, so that the lines still waiting are written.
///
/// # Errors
/// When the thread cannot be started.
pub(super) fn spawn<W: Write + Send + 'static>(out: W) -> io::Result<(BatchWriter, WriterGuard)> {
    let shared = Arc::new(Shared::default());
    let thread = thread::Builder::new().name("log-writer".into()).spawn({
        let shared = shared.clone();
        move || shared.write_batches(out)
    })?;
    drop(thread); // `WriterGuard` waits on `Shared::writer_done`, with a time limit that `join` lacks.
    Ok((
        BatchWriter {
            shared: shared.clone(),
        },
        WriterGuard { shared },
    ))
}

/// The subscriber's writer: each `write` adds one line to the batch.
#[derive(Debug, Clone)]
pub(super) struct BatchWriter {
    shared: Arc<Shared>,
}

impl<'a> MakeWriter<'a> for BatchWriter {
    type Writer = &'a Self;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

impl Write for &BatchWriter {
    /// Takes all of `line`: tracing-subscriber formats a line whole and writes it in one call, so
    /// lines from different threads never interleave.
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        self.shared.append(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Dropping it writes the lines still waiting, waiting at most a second for the writer thread.
#[derive(Debug)]
#[must_use = "dropping the guard stops the log writer"]
pub struct WriterGuard {
    shared: Arc<Shared>,
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        let deadline = Instant::now() + FINAL_WRITE;
        let mut batch = self.shared.lock();
        batch.closed = true;
        self.shared.writer_wakes.notify_one();
        while !batch.writer_done {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return;
            };
            batch = wait_timeout(&self.shared.room, batch, left);
        }
    }
}

/// What logging threads and the writer thread share.
#[derive(Debug, Default)]
struct Shared {
    batch: Mutex<Batch>,
    /// Wakes the writer thread: a batch has begun or filled up, or the guard was dropped.
    writer_wakes: Condvar,
    /// Wakes the threads waiting for room, and the guard waiting for the writer to finish.
    room: Condvar,
}

/// The lines waiting to be written.
#[derive(Debug, Default)]
struct Batch {
    lines: Vec<u8>,
    /// Threads waiting in [`Shared::append`] for room.
    waiting_for_room: usize,
    /// The guard was dropped: write what is left, then stop.
    closed: bool,
    /// The writer thread has stopped; nothing more will be written.
    writer_done: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Batch> {
        // Nothing panics while holding the lock; were it poisoned, the buffer is still whole bytes.
        self.batch.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `line` to the batch, after waiting for room if too much is waiting already.
    fn append(&self, line: &[u8]) {
        let mut batch = self.lock();
        while batch.lines.len() >= MAX_WAITING_BYTES && !batch.writer_done {
            batch.waiting_for_room += 1;
            self.writer_wakes.notify_one();
            batch = wait(&self.room, batch);
            batch.waiting_for_room -= 1;
        }
        if batch.writer_done {
            return; // after shutdown: there is no one left to write it
        }
        let before = batch.lines.len();
        batch.lines.extend_from_slice(line);
        // Wake the writer for the first line of a batch (it may be idle) and for the line that fills
        // one; the lines between need no wake-up.
        if before == 0 || (before < BATCH_BYTES && batch.lines.len() >= BATCH_BYTES) {
            self.writer_wakes.notify_one();
        }
    }

    /// The writer thread: waits for a batch, lets it gather, writes it; until the guard is dropped
    /// and everything is written.
    fn write_batches(&self, out: impl Write) {
        // Set however this returns, so no thread waits for room from a writer that is gone.
        let _done = WriterDone(self);
        let mut out = Output {
            out,
            mid_line: false,
        };
        let mut writing = Vec::with_capacity(BATCH_BYTES);
        let mut batch = self.lock();
        loop {
            while batch.lines.is_empty() && !batch.closed {
                batch = wait(&self.writer_wakes, batch);
            }
            if batch.lines.len() < BATCH_BYTES && !batch.closed {
                batch = wait_timeout(&self.writer_wakes, batch, GATHER);
            }
            if batch.lines.is_empty() && batch.closed {
                break;
            }
            std::mem::swap(&mut batch.lines, &mut writing);
            if batch.waiting_for_room > 0 {
                self.room.notify_all();
            }
            drop(batch);
            out.write_batch(&writing);
            writing.clear();
            if writing.capacity() > MAX_WAITING_BYTES {
                writing.shrink_to(BATCH_BYTES); // after a burst
            }
            batch = self.lock();
        }
    }
}

/// Marks the writer thread as stopped when dropped, and wakes everyone waiting on it.
struct WriterDone<'a>(&'a Shared);

impl Drop for WriterDone<'_> {
    fn drop(&mut self) {
        self.0.lock().writer_done = true;
        self.0.room.notify_all();
    }
}

/// Where the batches go, and whether the last one stopped inside a line.
struct Output<W> {
    out: W,
    mid_line: bool,
}

impl<W: Write> Output<W> {
    /// Writes `lines` whole: a short write goes on where it stopped, and an output that is full for
    /// now (`WouldBlock`: a non-blocking pipe shared with a parent process) is waited for. Any other
    /// error ends the batch: its lines are lost (a stdout that is gone has nowhere to report to),
    /// and if one was cut, the next batch starts on a line of its own.
    fn write_batch(&mut self, lines: &[u8]) {
        if self.mid_line {
            if write_all_patiently(&mut self.out, b"\n").is_err() {
                return;
            }
            self.mid_line = false;
        }
        if let Err(written) = write_all_patiently(&mut self.out, lines) {
            self.mid_line = written > 0 && lines.get(written - 1) != Some(&b'\n');
        }
        let _ = self.out.flush();
    }
}

/// `Write::write_all`, waiting out `WouldBlock`. The error is how many bytes were written.
fn write_all_patiently(out: &mut impl Write, bytes: &[u8]) -> Result<(), usize> {
    let mut written = 0;
    while let Some(rest) = bytes.get(written..).filter(|rest| !rest.is_empty()) {
        match out.write(rest) {
            Ok(0) => return Err(written),
            Ok(count) => written += count,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(1));
            }
            Err(_) => return Err(written),
        }
    }
    Ok(())
}

fn wait<'a>(condvar: &Condvar, batch: MutexGuard<'a, Batch>) -> MutexGuard<'a, Batch> {
    condvar.wait(batch).unwrap_or_else(PoisonError::into_inner)
}

fn wait_timeout<'a>(
    condvar: &Condvar,
    batch: MutexGuard<'a, Batch>,
    timeout: Duration,
) -> MutexGuard<'a, Batch> {
    match condvar.wait_timeout(batch, timeout) {
        Ok((batch, _)) => batch,
        Err(poisoned) => poisoned.into_inner().0,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    /// Everything written, and whether writing is held up (a stdout nobody reads).
    #[derive(Clone, Default)]
    struct Out {
        written: Arc<Mutex<Vec<u8>>>,
        stalled: Arc<AtomicBool>,
        writes: Arc<Mutex<usize>>,
    }

    impl Write for Out {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            while self.stalled.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(1));
            }
            *self.writes.lock().unwrap() += 1;
            self.written.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Out {
        fn text(&self) -> String {
            String::from_utf8(self.written.lock().unwrap().clone()).unwrap()
        }
    }

    fn log(writer: &BatchWriter, line: &str) {
        writer.make_writer().write_all(line.as_bytes()).unwrap();
    }

    #[test]
    fn lines_from_many_threads_are_written_whole_in_order_and_in_few_writes() {
        let out = Out::default();
        let (writer, guard) = spawn(out.clone()).unwrap();
        let threads: Vec<_> = (0..8)
            .map(|thread| {
                let writer = writer.clone();
                thread::spawn(move || {
                    for n in 0..2_000 {
                        log(
                            &writer,
                            &format!("thread {thread} line {n:04} {}\n", "x".repeat(n % 97)),
                        );
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(guard);

        let text = out.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 16_000);
        for thread in 0..8 {
            let numbers: Vec<usize> = lines
                .iter()
                .filter_map(|line| line.strip_prefix(&format!("thread {thread} line ")))
                .map(|rest| {
                    let (number, padding) = rest.split_once(' ').unwrap();
                    let number: usize = number.parse().unwrap();
                    assert_eq!(padding, "x".repeat(number % 97));
                    number
                })
                .collect();
            assert_eq!(numbers, (0..2_000).collect::<Vec<_>>(), "thread {thread}");
        }
        let writes = *out.writes.lock().unwrap();
        assert!(writes < 1_000, "{writes} writes for 16,000 lines");
    }

    #[test]
    fn a_lone_line_is_written_without_waiting_for_more() {
        let out = Out::default();
        let (writer, _guard) = spawn(out.clone()).unwrap();
        log(&writer, "listening\n");
        let deadline = Instant::now() + Duration::from_secs(5);
        while out.text().is_empty() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(out.text(), "listening\n");
    }

    #[test]
    fn a_stalled_output_makes_loggers_wait_instead_of_growing_or_dropping() {
        let out = Out::default();
        out.stalled.store(true, Ordering::SeqCst);
        let (writer, guard) = spawn(out.clone()).unwrap();
        let line = format!("{}\n", "y".repeat(1023));
        // The first batch is taken by the stalled writer; then 2 MiB may wait. 5,000 lines of 1 KiB
        // are more than both, so the logging thread has to wait.
        let logger = {
            let writer = writer.clone();
            let line = line.clone();
            thread::spawn(move || {
                for _ in 0..5_000 {
                    log(&writer, &line);
                }
            })
        };
        thread::sleep(Duration::from_millis(300));
        assert!(!logger.is_finished(), "the logger did not wait for room");
        let waiting = writer.shared.lock().lines.len();
        assert!(
            waiting <= MAX_WAITING_BYTES + line.len(),
            "{waiting} bytes waiting"
        );

        out.stalled.store(false, Ordering::SeqCst);
        logger.join().unwrap();
        drop(guard);
        assert_eq!(out.text().lines().count(), 5_000, "a line was dropped");
    }

    /// An output that takes at most 7 bytes a call, answers `WouldBlock` every other call, and fails
    /// outright for the calls listed in `fail_calls`.
    struct Choppy {
        written: Arc<Mutex<Vec<u8>>>,
        calls: usize,
        fail_calls: Vec<usize>,
    }

    impl Write for Choppy {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.calls += 1;
            if self.fail_calls.contains(&self.calls) {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            if self.calls.is_multiple_of(2) {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let count = bytes.len().min(7);
            self.written
                .lock()
                .unwrap()
                .extend_from_slice(&bytes[..count]);
            Ok(count)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// An [`Output`] over a [`Choppy`] that fails at `fail_calls`, and what it writes.
    fn choppy_output(fail_calls: Vec<usize>) -> (Output<Choppy>, Arc<Mutex<Vec<u8>>>) {
        let written = Arc::new(Mutex::new(Vec::new()));
        let out = Choppy {
            written: written.clone(),
            calls: 0,
            fail_calls,
        };
        (
            Output {
                out,
                mid_line: false,
            },
            written,
        )
    }

    #[test]
    fn short_writes_and_a_full_pipe_still_write_every_line_whole() {
        let (mut output, written) = choppy_output(vec![]);
        let lines: String = (0..50).map(|n| format!("line {n}\n")).collect();
        output.write_batch(lines.as_bytes());
        assert_eq!(
            String::from_utf8(written.lock().unwrap().clone()).unwrap(),
            lines
        );
    }

    #[test]
    fn after_a_failed_write_the_next_batch_starts_on_a_line_of_its_own() {
        // Call 3 fails: after "first l" (call 1; call 2 is a WouldBlock), inside the line.
        let (mut output, written) = choppy_output(vec![3]);
        output.write_batch(b"first line\nsecond line\n");
        output.write_batch(b"third line\n");
        let text = String::from_utf8(written.lock().unwrap().clone()).unwrap();
        assert_eq!(text, "first l\nthird line\n");
    }

    #[test]
    fn dropping_the_guard_writes_what_is_left_and_later_lines_are_ignored() {
        let out = Out::default();
        let (writer, guard) = spawn(out.clone()).unwrap();
        for n in 0..100 {
            log(&writer, &format!("line {n}\n"));
        }
        drop(guard);
        assert_eq!(out.text().lines().count(), 100);
        log(&writer, "after the end\n");
        assert_eq!(out.text().lines().count(), 100);
    }
}
