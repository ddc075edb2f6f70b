//! A session's inbox: what its data connections report to it, from the session's own task
//! (their futures) and from the blocking pool (a fast-path copy's progress).
//!
//! A bounded queue behind a lock, made for a session's few messages: it holds no room while
//! empty (an idle session's inbox is about 100 bytes; a general-purpose channel with one slot
//! took 768 and a listener), and its only waker is the session's task. Senders that wait for
//! room are data connections' futures, which that task polls again after each message it
//! takes (`Driver::poll_wake`), so they are not woken: a wake from inside the task's own poll
//! would only have the runtime poll it once more, and tokio's multi-thread scheduler wakes
//! another worker thread for that too.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use super::Msg;

/// The session is gone: nothing reads the inbox any more.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Closed;

struct State {
    queue: VecDeque<Msg>,
    capacity: usize,
    /// The receiver's task, when it waits for a message.
    receiver: Option<Waker>,
    /// The receiver was dropped.
    closed: bool,
}

type Shared = Arc<Mutex<State>>;

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// The sending side; clones share the inbox.
#[derive(Clone)]
pub(crate) struct InboxSender(Shared);

/// The receiving side: the session's task.
pub(crate) struct InboxReceiver(Shared);

/// An inbox that holds at most `capacity` messages (at least one).
pub(crate) fn inbox(capacity: usize) -> (InboxSender, InboxReceiver) {
    let shared = Arc::new(Mutex::new(State {
        queue: VecDeque::new(),
        capacity: capacity.max(1),
        receiver: None,
        closed: false,
    }));
    (InboxSender(Arc::clone(&shared)), InboxReceiver(shared))
}

impl InboxSender {
    /// Queues `msg` unless the inbox is full or closed (then `msg` is dropped); true when
    /// queued.
    pub(crate) fn try_send(&self, msg: Msg) -> bool {
        self.offer(msg).is_none()
    }

    /// Queues `msg` unless the inbox is full or closed; then `msg` comes back.
    fn offer(&self, msg: Msg) -> Option<Msg> {
        let mut state = lock(&self.0);
        if state.closed || state.queue.len() >= state.capacity {
            return Some(msg);
        }
        state.queue.push_back(msg);
        let receiver = state.receiver.take();
        drop(state);
        if let Some(waker) = receiver {
            waker.wake();
        }
        None
    }

    /// Queues `msg`, waiting for room; fails only once the receiver is gone. Only for
    /// futures the receiver's task polls (see the module docs): nothing wakes this when room
    /// comes.
    pub(crate) async fn send(&self, msg: Msg) -> Result<(), Closed> {
        let mut msg = Some(msg);
        poll_fn(|_| {
            let Some(next) = msg.take() else {
                return Poll::Ready(Ok(()));
            };
            match self.offer(next) {
                None => Poll::Ready(Ok(())),
                Some(_) if lock(&self.0).closed => Poll::Ready(Err(Closed)),
                Some(back) => {
                    msg = Some(back);
                    Poll::Pending
                }
            }
        })
        .await
    }
}

impl InboxReceiver {
    /// Until the next [`InboxReceiver::poll_recv`], messages queue without waking the task.
    /// For the receiving task itself, about to poll futures that send to this inbox (the
    /// session's data connections) and then the inbox: a wake from inside its own poll would
    /// only have the runtime poll it once more, and tokio's multi-thread scheduler wakes
    /// another worker for that too.
    pub(crate) fn hold_wakes(&self) {
        lock(&self.0).receiver = None;
    }

    /// The next message, or `Pending` (the task is woken when one comes).
    pub(crate) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Msg> {
        let mut state = lock(&self.0);
        let Some(msg) = state.queue.pop_front() else {
            if !state
                .receiver
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                state.receiver = Some(cx.waker().clone());
            }
            return Poll::Pending;
        };
        if state.queue.is_empty() {
            state.queue = VecDeque::new();
        }
        Poll::Ready(msg)
    }
}

impl Drop for InboxReceiver {
    /// Closes the inbox: senders fail from their next poll on, and queued messages are
    /// dropped now.
    fn drop(&mut self) {
        let queued = {
            let mut state = lock(&self.0);
            state.closed = true;
            std::mem::take(&mut state.queue)
        };
        drop(queued);
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use ftp_proto::server::{DataConnId, ServerDataEvent};

    use super::*;

    /// A waker that counts its wakes.
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker() -> (Waker, Arc<Count>) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        (Waker::from(Arc::clone(&count)), count)
    }

    fn closed_event(id: u64) -> Msg {
        Msg::Data(DataConnId::from_raw(id), ServerDataEvent::Closed)
    }

    fn id_of(msg: &Msg) -> u64 {
        match msg {
            Msg::Data(id, _) => id.raw(),
            _ => u64::MAX,
        }
    }

    #[test]
    fn messages_come_in_order_and_a_full_inbox_refuses_more() {
        let (tx, rx) = inbox(2);
        let (w, woken) = waker();
        let mut cx = Context::from_waker(&w);
        assert!(rx.poll_recv(&mut cx).is_pending());
        assert!(tx.try_send(closed_event(1)));
        assert_eq!(
            woken.0.load(Ordering::SeqCst),
            1,
            "the waiting receiver is woken"
        );
        assert!(tx.clone().try_send(closed_event(2)));
        assert!(!tx.try_send(closed_event(3)));
        let ids: Vec<u64> = (0..2)
            .map(|_| match rx.poll_recv(&mut cx) {
                Poll::Ready(msg) => id_of(&msg),
                Poll::Pending => 0,
            })
            .collect();
        assert_eq!(ids, [1, 2]);
        assert!(rx.poll_recv(&mut cx).is_pending());
    }

    /// A full one-slot inbox (message 1) and a send of message 2 waiting for room; `run`
    /// gets the inbox's two ends, that send, a context and its waker's count.
    fn with_a_waiting_sender(
        run: impl FnOnce(
            InboxSender,
            InboxReceiver,
            Pin<&mut dyn Future<Output = Result<(), Closed>>>,
            &mut Context<'_>,
            &Count,
        ),
    ) {
        let (tx, rx) = inbox(1);
        assert!(tx.try_send(closed_event(1)));
        let (w, woken) = waker();
        let mut cx = Context::from_waker(&w);
        let sender = tx.clone();
        let mut send = Box::pin(async move { sender.send(closed_event(2)).await });
        assert!(send.as_mut().poll(&mut cx).is_pending());
        run(tx, rx, send.as_mut(), &mut cx, &woken);
    }

    #[test]
    fn a_sender_waits_for_room_unwoken_and_takes_it_at_its_next_poll() {
        with_a_waiting_sender(|_, rx, mut send, cx, woken| {
            assert!(matches!(rx.poll_recv(cx), Poll::Ready(msg) if id_of(&msg) == 1));
            assert_eq!(
                woken.0.load(Ordering::SeqCst),
                0,
                "the receiver's own task polls the sender next"
            );
            assert_eq!(send.as_mut().poll(cx), Poll::Ready(Ok(())));
            assert!(matches!(rx.poll_recv(cx), Poll::Ready(msg) if id_of(&msg) == 2));
        });
    }

    #[test]
    fn without_a_receiver_senders_fail_at_their_next_poll() {
        with_a_waiting_sender(|tx, rx, mut send, cx, _| {
            drop(rx);
            assert_eq!(send.as_mut().poll(cx), Poll::Ready(Err(Closed)));
            assert!(!tx.try_send(closed_event(3)));
            let mut late = Box::pin(tx.send(closed_event(4)));
            assert_eq!(late.as_mut().poll(cx), Poll::Ready(Err(Closed)));
        });
    }
}
