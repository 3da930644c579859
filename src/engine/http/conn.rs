//! One HTTP/1 connection of the direct path, with no task of its own: the request using it polls
//! hyper's connection future in its own task, together with the response or body it waits for.
//!
//! Why: with a task per connection, a response's head, each body frame and the body's end each
//! wake the other task (often on the other thread) and back, and the read buffer is allocated on
//! one thread and freed on the other. Polled in place, the connection's work and the request's
//! share one poll. The connection and what waits on it each get a waker of their own, so the
//! connection (a full pass over hyper's read, write and flush) is polled only when something
//! woke it, and their wake-ups of each other inside that poll do not schedule the task again.
//!
//! An idle connection is not polled: a server's close is seen on its next use, which hands the
//! unsent request back (see `Direct::send`).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::engine::http::direct::Body;

/// The connection was woken: its IO is ready, or a request or the body reader wants it.
const DRIVER: u8 = 1;
/// What waits on the connection (the response, a body frame) was woken.
const WAITER: u8 = 2;
/// A poll is under way: a wake-up only sets its flag, which the poll's loop sees.
const POLLING: u8 = 4;

/// Rounds of one poll before the task yields, as hyper's own loop does, so a connection that
/// keeps waking itself cannot hold the thread.
const MAX_ROUNDS: u32 = 16;

/// One HTTP/1 connection: the handle requests go in by, hyper's connection future, and the
/// wakers that tell which of the two sides needs a poll.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) sender: SendRequest<Body>,
    /// None once the connection has finished (closed, or failed: hyper gives the error to the
    /// request or body that was waiting). Boxed: the connection moves between the idle list,
    /// the request and its reply, and hyper's state is large.
    driver: Option<Box<Connection<TokioIo<TcpStream>, Body>>>,
    wakes: Arc<Wakes>,
    /// Made once per connection: hyper keeps a clone, and compares it before cloning again.
    driver_waker: Waker,
    waiter_waker: Waker,
}

/// The flags of [`DRIVER`], [`WAITER`] and [`POLLING`], and the task to wake outside a poll.
#[derive(Debug, Default)]
struct Wakes {
    state: AtomicU8,
    task: AtomicWaker,
}

/// A waker that sets one flag, and wakes the task unless a poll is under way.
struct Flag {
    bit: u8,
    wakes: Arc<Wakes>,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let before = self.wakes.state.fetch_or(self.bit, Ordering::AcqRel);
        if before & POLLING == 0 {
            self.wakes.task.wake();
        }
    }
}

impl Conn {
    pub(crate) fn new(
        sender: SendRequest<Body>,
        driver: Connection<TokioIo<TcpStream>, Body>,
    ) -> Self {
        let wakes = Arc::new(Wakes {
            state: AtomicU8::new(DRIVER),
            task: AtomicWaker::new(),
        });
        let flag = |bit| {
            Waker::from(Arc::new(Flag {
                bit,
                wakes: Arc::clone(&wakes),
            }))
        };
        Self {
            sender,
            driver: Some(Box::new(driver)),
            driver_waker: flag(DRIVER),
            waiter_waker: flag(WAITER),
            wakes,
        }
    }

    /// Whether the connection may carry another request.
    pub(crate) fn is_open(&self) -> bool {
        self.driver.is_some() && !self.sender.is_closed()
    }

    /// Whether the connection is waiting for a request (not closed, nor still busy).
    pub(crate) fn is_ready(&self) -> bool {
        self.driver.is_some() && self.sender.is_ready()
    }

    /// Back to the idle list: no task is to be woken for it until its next use, which polls
    /// the connection first.
    pub(crate) fn park(&self) {
        drop(self.wakes.task.take());
        self.wakes.state.fetch_or(DRIVER, Ordering::AcqRel);
    }

    /// Polls `waiter`, which waits on this connection, letting the connection read and write
    /// first whenever it was woken; each wakes the other within this one poll.
    pub(crate) fn poll_with<T>(
        &mut self,
        cx: &mut Context<'_>,
        mut waiter: impl FnMut(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        self.wakes.task.register(cx.waker());
        let wakes = Arc::clone(&self.wakes);
        let state = &wakes.state;
        state.fetch_or(POLLING, Ordering::AcqRel);
        for _ in 0..MAX_ROUNDS {
            if state.fetch_and(!DRIVER, Ordering::AcqRel) & DRIVER != 0 {
                self.drive();
            }
            state.fetch_and(!WAITER, Ordering::AcqRel);
            if let Poll::Ready(out) = waiter(&mut Context::from_waker(&self.waiter_waker)) {
                state.fetch_and(!POLLING, Ordering::AcqRel);
                return Poll::Ready(out);
            }
            if state.load(Ordering::Acquire) & (DRIVER | WAITER) != 0 {
                continue;
            }
            // Stop holding wake-ups back; one that came in meanwhile means another round.
            if state.fetch_and(!POLLING, Ordering::AcqRel) & (DRIVER | WAITER) == 0 {
                return Poll::Pending;
            }
            state.fetch_or(POLLING, Ordering::AcqRel);
        }
        state.fetch_and(!POLLING, Ordering::AcqRel);
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// One pass of hyper's connection future.
    fn drive(&mut self) {
        let Some(driver) = self.driver.as_mut() else {
            return;
        };
        let mut cx = Context::from_waker(&self.driver_waker);
        if Pin::new(&mut **driver).poll(&mut cx).is_ready() {
            // Dropped at once: a request it still held gets its error, or comes back unsent.
            self.driver = None;
        }
    }
}
