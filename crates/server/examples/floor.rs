//! The floor: a RESP server that does nothing but answer, to measure what
//! the kernel alone costs per request on a machine.
//!
//! It accepts connections on one thread, waits on edge-triggered epoll, and
//! for each readable connection makes one `recv` and one `send`, the same
//! system calls Redis and Tessera make per request at `-P 1`, answering
//! `+OK` to every command it counts (a line starting with `*`). It keeps no
//! data and parses nothing else. Its ops per server CPU-second under
//! `redis-benchmark -P 1` is the most any server built on these calls can
//! reach there; `scripts/bench.sh` runs it beside redis-server and Tessera.
//!
//! ```sh
//! cargo run --release -p server --example floor -- 7399
//! ```
//!
//! Not a server to use: inline commands, partial reads and full send
//! buffers are not handled (a reply that does not fit is dropped).

use std::io;
use std::net::TcpListener;
use std::os::fd::AsRawFd;

const LISTENER: u64 = u64::MAX;

fn main() -> io::Result<()> {
    let port: u16 = match std::env::args().nth(1).map(|p| p.parse()) {
        None => 7399,
        Some(Ok(p)) => p,
        Some(Err(e)) => {
            eprintln!("floor: bad port: {e}");
            std::process::exit(2);
        }
    };
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    listener.set_nonblocking(true)?;
    let lfd = listener.as_raw_fd();
    // SAFETY: plain system calls on descriptors this function owns, with
    // buffers that outlive each call.
    unsafe {
        let ep = libc::epoll_create1(libc::EPOLL_CLOEXEC);
        if ep < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: LISTENER,
        };
        if libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, lfd, &mut ev) < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
        let mut buf = vec![0u8; 16 * 1024];
        let replies = b"+OK\r\n".repeat(1024);
        loop {
            let n = libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, -1);
            for e in events.iter().take(n.max(0) as usize) {
                if e.u64 == LISTENER {
                    accept_all(ep, lfd);
                    continue;
                }
                let fd = e.u64 as i32;
                let r = libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0);
                if r == 0
                    || (r < 0 && io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock)
                {
                    libc::close(fd);
                    continue;
                }
                if r < 0 {
                    continue;
                }
                let got = &buf[..r as usize];
                let cmds = got
                    .iter()
                    .enumerate()
                    .filter(|&(i, &c)| c == b'*' && (i == 0 || got[i - 1] == b'\n'))
                    .count()
                    .min(1024);
                libc::send(fd, replies.as_ptr().cast(), cmds * 5, libc::MSG_NOSIGNAL);
            }
        }
    }
}

/// Accepts every pending connection and adds it to the epoll set (`ep`
/// and `lfd` are the epoll descriptor and the non-blocking listener).
fn accept_all(ep: i32, lfd: i32) {
    // SAFETY: plain system calls; `one` and `ev` outlive the calls using them.
    unsafe {
        loop {
            let fd = libc::accept4(
                lfd,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            );
            if fd < 0 {
                return;
            }
            let one: libc::c_int = 1;
            libc::setsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
            let mut ev = libc::epoll_event {
                events: (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
                u64: fd as u64,
            };
            if libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev) < 0 {
                libc::close(fd);
            }
        }
    }
}
