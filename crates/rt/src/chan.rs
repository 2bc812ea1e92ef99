//! The doorbell other threads ring to wake a reactor: an eventfd, rung only
//! when the reactor says it may be asleep, so a busy thread receives
//! messages with no system call at all.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{fence, AtomicBool, Ordering};

use async_task::Runnable;
use crossbeam_channel::{Receiver, Sender};

pub struct Doorbell {
    fd: RawFd,
    sleeping: AtomicBool,
    remote_tx: Sender<Runnable>,
    remote_rx: Receiver<Runnable>,
}

impl Doorbell {
    pub fn new() -> io::Result<Doorbell> {
        // SAFETY: plain syscall.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let (remote_tx, remote_rx) = crossbeam_channel::unbounded();
        Ok(Doorbell {
            fd,
            sleeping: AtomicBool::new(false),
            remote_tx,
            remote_rx,
        })
    }

    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// Called by the owner around `epoll_wait`. After setting the flag the
    /// owner re-checks its channels; the fence pairs with the one in
    /// [`Doorbell::ring`] so that either the owner sees the message or the
    /// sender sees the flag.
    #[inline]
    pub fn set_sleeping(&self, sleeping: bool) {
        self.sleeping.store(sleeping, Ordering::SeqCst);
        if sleeping {
            fence(Ordering::SeqCst);
        }
    }

    /// Wakes the owner if it may be asleep. Call after sending it a message.
    #[inline]
    pub fn ring(&self) {
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) && self.sleeping.swap(false, Ordering::SeqCst) {
            let one: u64 = 1;
            // SAFETY: writing 8 bytes to our eventfd.
            unsafe {
                libc::write(self.fd, (&one as *const u64).cast(), 8);
            }
        }
    }

    /// Resets the eventfd after it fired.
    pub fn drain(&self) {
        let mut v: u64 = 0;
        // SAFETY: reading 8 bytes from our non-blocking eventfd.
        unsafe {
            libc::read(self.fd, (&mut v as *mut u64).cast(), 8);
        }
    }

    /// A task woken from another thread: queued here for the owner to run.
    #[inline]
    pub fn push_remote(&self, r: Runnable) {
        let _ = self.remote_tx.send(r);
        self.ring();
    }

    #[inline]
    pub fn pop_remote(&self) -> Option<Runnable> {
        self.remote_rx.try_recv().ok()
    }
}

impl Drop for Doorbell {
    fn drop(&mut self) {
        // SAFETY: closing our own fd.
        unsafe {
            libc::close(self.fd);
        }
    }
}
