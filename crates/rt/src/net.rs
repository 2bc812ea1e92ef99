//! Non-blocking TCP on the thread's epoll reactor. A stream is registered
//! edge-triggered once; reads and writes go straight to `recv`/`send` and
//! wait for readiness only when the kernel says `EAGAIN`.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::task::Poll;
use std::time::Instant;

use socket2::{Domain, Protocol, Socket, Type};

use crate::{current, IoState, Sleep};

/// A listening socket with `SO_REUSEPORT`, so every thread can listen on
/// the same port and the kernel spreads connections among them.
pub struct TcpListener {
    inner: std::net::TcpListener,
    token: usize,
    state: Rc<IoState>,
}

impl TcpListener {
    pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
        let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        sock.set_reuse_address(true)?;
        sock.set_reuse_port(true)?;
        sock.set_nonblocking(true)?;
        sock.set_cloexec(true)?;
        sock.bind(&addr.into())?;
        sock.listen(1024)?;
        let inner: std::net::TcpListener = sock.into();
        let (token, state) = current().register(inner.as_raw_fd())?;
        Ok(TcpListener {
            inner,
            token,
            state,
        })
    }

    pub async fn accept(&self) -> io::Result<TcpStream> {
        poll_fn(|cx| loop {
            match self.inner.accept() {
                Ok((s, _)) => return Poll::Ready(TcpStream::new(s)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.state.readable.set(false);
                    self.state.read_waker.set(Some(cx.waker().clone()));
                    if self.state.readable.get() {
                        continue;
                    }
                    return Poll::Pending;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        })
        .await
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        current().deregister(self.inner.as_raw_fd(), self.token);
    }
}

/// A connected stream.
pub struct TcpStream {
    inner: std::net::TcpStream,
    token: usize,
    state: Rc<IoState>,
}

impl TcpStream {
    /// Registers an accepted (or handed-over) socket with this thread's reactor.
    pub fn new(s: std::net::TcpStream) -> io::Result<TcpStream> {
        s.set_nonblocking(true)?;
        let _ = s.set_nodelay(true);
        let (token, state) = current().register(s.as_raw_fd())?;
        // Edge-triggered: assume ready until the kernel says otherwise.
        state.readable.set(true);
        state.writable.set(true);
        Ok(TcpStream {
            inner: s,
            token,
            state,
        })
    }

    /// Connects to `addr` without blocking the thread; fails with
    /// `TimedOut` if the connection is not up by `deadline`.
    pub async fn connect(addr: SocketAddr, deadline: Instant) -> io::Result<TcpStream> {
        let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        sock.set_nonblocking(true)?;
        sock.set_cloexec(true)?;
        match sock.connect(&addr.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
        let s: std::net::TcpStream = sock.into();
        let stream = TcpStream::new(s)?;
        // Edge-triggered: the connection is up when it first turns writable.
        stream.state.writable.set(false);
        let mut timer = crate::sleep_until(deadline);
        poll_fn(|cx| {
            if stream.state.writable.get() {
                return Poll::Ready(Ok(()));
            }
            if std::pin::Pin::new(&mut timer).poll(cx).is_ready() {
                return Poll::Ready(Err(io::Error::from(io::ErrorKind::TimedOut)));
            }
            stream.state.write_waker.set(Some(cx.waker().clone()));
            Poll::Pending
        })
        .await?;
        if let Some(e) = socket2::SockRef::from(&stream.inner).take_error()? {
            return Err(e);
        }
        stream.inner.peer_addr()?;
        Ok(stream)
    }

    /// Leaves this thread's reactor, returning the open socket (to hand the
    /// connection to another thread).
    pub fn into_std(self) -> std::net::TcpStream {
        let me = std::mem::ManuallyDrop::new(self);
        current().deregister(me.inner.as_raw_fd(), me.token);
        // SAFETY: `me` is never used or dropped again, and each field with a
        // destructor is moved out exactly once.
        let (inner, state) = unsafe { (std::ptr::read(&me.inner), std::ptr::read(&me.state)) };
        drop(state);
        inner
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// The socket's descriptor (CLIENT LIST's fd, CLIENT KILL's target).
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.inner.as_raw_fd()
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Reads what is available (at least one byte, or 0 at end of stream).
    /// With a deadline, fails with `TimedOut` once it passes with no data.
    pub async fn read(&mut self, buf: &mut [u8], deadline: Option<Instant>) -> io::Result<usize> {
        let mut timer: Option<Sleep> = deadline.map(crate::sleep_until);
        poll_fn(|cx| loop {
            if self.state.readable.get() {
                match recv(self.inner.as_raw_fd(), buf) {
                    Ok(n) => {
                        // A short read drained the socket: the next byte to
                        // arrive raises a fresh edge, so skip the recv that
                        // would only say EAGAIN (one syscall per request).
                        if n < buf.len() && !self.state.hup.get() {
                            self.state.readable.set(false);
                        }
                        return Poll::Ready(Ok(n));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.state.readable.set(false)
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
            if let Some(t) = timer.as_mut() {
                if std::pin::Pin::new(t).poll(cx).is_ready() {
                    return Poll::Ready(Err(io::ErrorKind::TimedOut.into()));
                }
            }
            self.state.read_waker.set(Some(cx.waker().clone()));
            return Poll::Pending;
        })
        .await
    }

    /// Writes all of `buf`.
    pub async fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.write_all_within(buf, None).await
    }

    /// Writes all of `buf`; with a gap limit, fails with `TimedOut` when
    /// the socket accepts nothing for that long (the limit restarts after
    /// every write that makes progress).
    pub async fn write_all_within(
        &mut self,
        mut buf: &[u8],
        gap: Option<std::time::Duration>,
    ) -> io::Result<()> {
        while !buf.is_empty() {
            let mut timer: Option<Sleep> = gap.map(|g| crate::sleep_until(Instant::now() + g));
            let n = poll_fn(|cx| loop {
                if self.state.writable.get() {
                    match send(self.inner.as_raw_fd(), buf) {
                        Ok(n) => return Poll::Ready(Ok(n)),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            self.state.writable.set(false)
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Poll::Ready(Err(e)),
                    }
                }
                if let Some(t) = timer.as_mut() {
                    if std::pin::Pin::new(t).poll(cx).is_ready() {
                        return Poll::Ready(Err(io::ErrorKind::TimedOut.into()));
                    }
                }
                self.state.write_waker.set(Some(cx.waker().clone()));
                return Poll::Pending;
            })
            .await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            buf = &buf[n..];
        }
        Ok(())
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        current().deregister(self.inner.as_raw_fd(), self.token);
    }
}

use std::future::Future as _;

/// `recv` as a plain system call. glibc's wrapper is a thread-cancellation
/// point and toggles the cancel state around every call; nothing here uses
/// cancellation, and at 16-deep pipelines the toggling was ~8% of our
/// user time.
fn recv(fd: std::os::fd::RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of its length; no address is asked for.
    let r = unsafe {
        libc::syscall(
            libc::SYS_recvfrom,
            fd,
            buf.as_mut_ptr(),
            buf.len(),
            libc::MSG_DONTWAIT,
            std::ptr::null_mut::<libc::sockaddr>(),
            std::ptr::null_mut::<libc::socklen_t>(),
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// `send` as a plain system call (see [`recv`]); never raises SIGPIPE.
fn send(fd: std::os::fd::RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of its length; no address is given.
    let r = unsafe {
        libc::syscall(
            libc::SYS_sendto,
            fd,
            buf.as_ptr(),
            buf.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            std::ptr::null::<libc::sockaddr>(),
            0 as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}
