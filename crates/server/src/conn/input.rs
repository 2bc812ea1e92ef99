//! A connection's input: the read buffer, how it grows and shrinks, and the
//! read itself (which, for a monitor or a subscriber, also writes what
//! other clients' commands produced for it while it waits).

use std::io;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use resp::{Limits, Status};
use rt::net::TcpStream;

use crate::client::Client;
use crate::engine::worker::Shared;

/// A connection's first read buffer. Small, so 10,000 idle clients cost
/// 40 MB, not 300; it doubles while a client sends more.
const READ_CHUNK: usize = 4 * 1024;
/// The read buffer grows to this while reads keep filling it.
const READ_MAX: usize = 64 * 1024;

/// The bytes read and not yet run: `buf[start..end]`.
pub(super) struct Input {
    pub buf: Vec<u8>,
    pub start: usize,
    pub end: usize,
    /// Bytes the command at `start` needs in all, as the parser said (0:
    /// unknown); no parse is tried before they are here.
    need: usize,
    /// The command at `start` was left incomplete: the parser can resume it.
    resume: bool,
    /// Bytes the last read brought (sizes the read buffer).
    last_read: usize,
    /// Bytes handed over with a moved connection are parsed before any read.
    have_input: bool,
}

/// What one parse step found at `start`.
pub(super) enum Parsed {
    /// A whole command of this many bytes; its arguments are in `args`.
    Command(usize),
    /// Not all of it is here yet.
    Incomplete,
    /// Malformed: the connection is answered and closed.
    Bad(resp::ProtocolError),
}

impl Input {
    pub fn new(pending: Vec<u8>) -> Input {
        let mut buf = pending;
        let end = buf.len();
        buf.resize(buf.len().max(READ_CHUNK), 0);
        Input {
            buf,
            start: 0,
            end,
            need: 0,
            resume: false,
            last_read: 0,
            have_input: end > 0,
        }
    }

    /// The bytes not yet run.
    pub fn unparsed(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Reads until a whole command may be here: `Ok(false)` when the client
    /// closed the connection, went over `client-query-buffer-limit`, or
    /// stayed idle past `timeout`.
    #[inline]
    pub async fn fill(
        &mut self,
        stream: &mut TcpStream,
        client: &Client,
        shared: &Shared,
    ) -> io::Result<bool> {
        self.fill_until(stream, client, shared, None).await
    }

    /// [`Input::fill`], failing with `TimedOut` at `until` when given (the
    /// master's link wakes to send its ACKs) instead of the idle timeout.
    #[inline]
    pub async fn fill_until(
        &mut self,
        stream: &mut TcpStream,
        client: &Client,
        shared: &Shared,
        until: Option<Instant>,
    ) -> io::Result<bool> {
        loop {
            // Idle timeout, re-read each round so CONFIG SET applies to live clients.
            let t = shared.config.timeout.load(Ordering::Relaxed);
            let deadline =
                until.or_else(|| (t > 0).then(|| Instant::now() + Duration::from_secs(t as u64)));
            self.make_room();
            if !self.have_input {
                let room = self.buf.len() - self.end;
                let sink = client
                    .monitor
                    .clone()
                    .or_else(|| client.pubsub.as_ref().map(|s| Rc::clone(s.sink())));
                let n = match sink {
                    // Any other connection may be pushed invalidations
                    // (its own, or another client's redirected here).
                    None => {
                        let sink = &client.pushes.sink;
                        read_or_monitor(stream, &mut self.buf[self.end..], sink, deadline).await?
                    }
                    Some(sink) => {
                        read_or_monitor(stream, &mut self.buf[self.end..], &sink, None).await?
                    }
                };
                if n == 0 {
                    return Ok(false);
                }
                self.end += n;
                self.last_read = n;
                // A read that filled the buffer means a deep pipeline: read
                // more at a time (fewer system calls, and bigger batches of
                // commands per shard hop), up to READ_MAX.
                if n == room && self.buf.len() < READ_MAX {
                    self.buf.resize((self.buf.len() * 2).min(READ_MAX), 0);
                }
            }
            self.have_input = false;
            let limit = shared
                .config
                .client_query_buffer_limit
                .load(Ordering::Relaxed);
            if self.end - self.start > limit {
                log::warn!(
                    "closing client {} that reached max query buffer length",
                    client.id
                );
                return Ok(false);
            }
            if self.end - self.start >= self.need {
                self.need = 0;
                return Ok(true);
            }
        }
    }

    /// Compacts, then grows to what the parser said it needs.
    #[inline]
    fn make_room(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            // Back to the small buffer once the client stops sending
            // big batches (an idle client should cost 4 KB).
            if self.buf.len() > 4 * 1024 * 1024
                || (self.buf.len() > READ_CHUNK && self.last_read < self.buf.len() / 16)
            {
                self.buf = vec![0u8; READ_CHUNK];
            }
        }
        if self.buf.len() - self.end < 1024 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.buf.len() - self.end < 1024 {
                // Grow by doubling as data arrives, never straight to what a
                // header declared: a client that announces 512 MB and sends
                // 1 KB costs 1 KB, not a zeroed 512 MB buffer.
                let new_len = (self.buf.len() * 2).max(self.end + READ_CHUNK);
                let new_len = if self.need > 0 {
                    new_len.min(self.need.max(self.end + 1024))
                } else {
                    new_len
                };
                self.buf.resize(new_len, 0);
            }
        }
    }

    /// Parses the command at `start` into `args` (offsets into
    /// [`Input::unparsed`]).
    #[inline]
    pub fn parse(&mut self, limits: &Limits, args: &mut resp::Args) -> Parsed {
        let input = &self.buf[self.start..self.end];
        let parsed = if self.resume {
            resp::resume_command(input, limits, args)
        } else {
            resp::parse_command(input, limits, args)
        };
        self.resume = false;
        match parsed {
            Ok(Status::Complete(used)) => Parsed::Command(used),
            Ok(Status::Incomplete(n)) => {
                self.need = n;
                self.resume = true;
                Parsed::Incomplete
            }
            Err(e) => Parsed::Bad(e),
        }
    }

    /// Appends bytes to be parsed after what is here (what a client sent
    /// while a blocking pop held it).
    pub fn append(&mut self, bytes: &[u8]) {
        if self.buf.len() < self.end + bytes.len() {
            self.buf.resize(self.end + bytes.len(), 0);
        }
        self.buf[self.end..self.end + bytes.len()].copy_from_slice(bytes);
        self.end += bytes.len();
    }
}

/// The read of a connection: the lines other clients' commands produce for
/// a MONITOR, the messages published to a subscriber, the invalidations
/// pushed to any connection, are written as they come while it waits for
/// input (a monitor or a subscriber has no idle timeout, as in Redis;
/// others time out at `deadline`). The sink is polled only once the read
/// would wait, so a busy connection pays nothing for it. One that lets more than its sink's limit
/// pile up (`monitor::PENDING_MAX`, `client::tracking::PUSH_PENDING_MAX`), even while a
/// write to it is stuck, is closed.
async fn read_or_monitor(
    stream: &mut TcpStream,
    buf: &mut [u8],
    sink: &crate::client::Sink,
    deadline: Option<Instant>,
) -> std::io::Result<usize> {
    use std::future::{poll_fn, Future};
    use std::task::Poll;
    let over = |e: std::io::Error| {
        log::warn!("closing a client: {e}");
        e
    };
    loop {
        let got = {
            let mut read = std::pin::pin!(stream.read(buf, deadline));
            poll_fn(|cx| match read.as_mut().poll(cx) {
                Poll::Ready(r) => Poll::Ready(Some(r)),
                Poll::Pending => sink.poll_ready(cx).map(|()| None),
            })
            .await
        };
        if let Some(r) = got {
            return r;
        }
        let lines = sink.take().map_err(over)?;
        let mut write = std::pin::pin!(stream.write_all(&lines));
        poll_fn(|cx| match write.as_mut().poll(cx) {
            Poll::Ready(r) => Poll::Ready(r),
            Poll::Pending => sink.poll_overflow(cx).map(|()| sink.take().map(|_| ())),
        })
        .await
        .map_err(over)?;
    }
}
