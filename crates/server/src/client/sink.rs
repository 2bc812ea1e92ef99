//! A connection's second output: the lines and messages other clients'
//! commands produce for it (a MONITOR's lines, a subscriber's messages),
//! kept apart from its replies and written by its task between reads.

use std::cell::{Cell, RefCell};
use std::task::{Context, Poll, Waker};

/// What waits to be written to a connection besides its replies: a
/// monitor's lines, a subscriber's messages (see `pubsub.rs`).
pub struct Sink {
    pending: RefCell<Vec<u8>>,
    waker: Cell<Option<Waker>>,
    /// The most bytes that may wait.
    limit: usize,
    /// The kind of client, for the message that closes it.
    what: &'static str,
    /// More than `limit` piled up: the connection is to be closed.
    overflowed: Cell<bool>,
}

impl Sink {
    pub fn new(limit: usize, what: &'static str) -> Sink {
        Sink {
            pending: RefCell::new(Vec::new()),
            waker: Cell::new(None),
            limit,
            what,
            overflowed: Cell::new(false),
        }
    }

    /// Ready when there are lines to write (or the limit was passed).
    pub fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.pending.borrow().is_empty() && !self.overflowed.get() {
            self.waker.set(Some(cx.waker().clone()));
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }

    /// Ready once more than its limit piled up (watched while
    /// a write to the monitor is stuck).
    pub fn poll_overflow(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.overflowed.get() {
            Poll::Ready(())
        } else {
            self.waker.set(Some(cx.waker().clone()));
            Poll::Pending
        }
    }

    /// The bytes waiting, leaving none; an error once more than the
    /// limit waited.
    pub fn take(&self) -> std::io::Result<Vec<u8>> {
        if self.overflowed.get() {
            return Err(std::io::Error::other(format!(
                "{} client over its output buffer limit",
                self.what
            )));
        }
        Ok(std::mem::take(&mut *self.pending.borrow_mut()))
    }

    /// Whether bytes wait (or the limit was passed).
    #[inline]
    pub fn has_pending(&self) -> bool {
        self.overflowed.get() || !self.pending.borrow().is_empty()
    }

    pub fn push(&self, line: &[u8]) {
        if self.overflowed.get() {
            return;
        }
        let mut pending = self.pending.borrow_mut();
        if pending.len() + line.len() > self.limit {
            pending.clear();
            pending.shrink_to_fit();
            self.overflowed.set(true);
        } else {
            pending.extend_from_slice(line);
        }
        drop(pending);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_that_stops_reading_is_cut_off() {
        const LIMIT: usize = 64 << 20;
        let sink = Sink::new(LIMIT, "MONITOR");
        let line = vec![b'x'; 1 << 20];
        sink.push(&line);
        assert_eq!(sink.take().map(|v| v.len()).ok(), Some(1 << 20));
        for _ in 0..=LIMIT >> 20 {
            sink.push(&line);
        }
        assert!(sink.take().is_err());
        assert!(sink.pending.borrow().capacity() < 1 << 20);
    }
}
