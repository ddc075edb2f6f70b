//! What the session's task tells the futures of its own data connections: their commands
//! ([`super::data::Cmd`]) and an upload's "control caught up" answer.
//!
//! Sender and receiver live in one task. The session's task sends while it handles a message,
//! and polls every data connection's future (`Driver::poll_data`) before it waits again. A
//! wake on send would only have the runtime poll that task once more, and tokio's
//! multi-thread scheduler treats a task woken inside its own poll as a yield and wakes another
//! worker thread for it: a futex call and a context switch for every transfer. So sending
//! wakes nobody, and the receiver sees a message, or the sender's drop, at its next poll.
//! Never give a sender to another task.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;

struct State<T> {
    queue: VecDeque<T>,
    capacity: usize,
    sender_gone: bool,
    receiver_gone: bool,
}

type Shared<T> = Arc<Mutex<State<T>>>;

fn lock<T>(shared: &Shared<T>) -> MutexGuard<'_, State<T>> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// The sending side: the session's task.
pub(crate) struct MailboxSender<T>(Shared<T>);

/// The receiving side: a future the session's task polls.
pub(crate) struct MailboxReceiver<T>(Shared<T>);

/// A mailbox that holds at most `capacity` messages (at least one).
pub(crate) fn mailbox<T>(capacity: usize) -> (MailboxSender<T>, MailboxReceiver<T>) {
    let shared = Arc::new(Mutex::new(State {
        queue: VecDeque::new(),
        capacity: capacity.max(1),
        sender_gone: false,
        receiver_gone: false,
    }));
    (MailboxSender(Arc::clone(&shared)), MailboxReceiver(shared))
}

impl<T> MailboxSender<T> {
    /// Queues `msg`; it comes back when the mailbox is full or its receiver is gone.
    pub(crate) fn try_send(&self, msg: T) -> Result<(), T> {
        let mut state = lock(&self.0);
        if state.receiver_gone || state.queue.len() >= state.capacity {
            return Err(msg);
        }
        state.queue.push_back(msg);
        Ok(())
    }

    /// Drops every message the receiver has not taken, here and now.
    pub(crate) fn discard_queued(&self) {
        let queued = std::mem::take(&mut lock(&self.0).queue);
        drop(queued);
    }
}

impl<T> Drop for MailboxSender<T> {
    /// The receiver's next poll returns `None` once the queue is empty.
    fn drop(&mut self) {
        lock(&self.0).sender_gone = true;
    }
}

impl<T> MailboxReceiver<T> {
    /// The next message; `None` once the sender is gone and nothing is queued. Pending
    /// until the session's task polls this again after a send (see the module docs).
    pub(crate) async fn recv(&self) -> Option<T> {
        poll_fn(|_| {
            let mut state = lock(&self.0);
            match state.queue.pop_front() {
                Some(msg) => Poll::Ready(Some(msg)),
                None if state.sender_gone => Poll::Ready(None),
                None => Poll::Pending,
            }
        })
        .await
    }
}

impl<T> Drop for MailboxReceiver<T> {
    /// Later sends fail, and what was queued is dropped now.
    fn drop(&mut self) {
        let queued = {
            let mut state = lock(&self.0);
            state.receiver_gone = true;
            std::mem::take(&mut state.queue)
        };
        drop(queued);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Waker};

    fn poll_once<F: Future>(future: F) -> Poll<F::Output> {
        pin!(future).poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn messages_arrive_in_order_up_to_the_capacity() {
        let (tx, rx) = mailbox(2);
        assert!(tx.try_send(1).is_ok());
        assert!(tx.try_send(2).is_ok());
        assert_eq!(tx.try_send(3), Err(3));
        assert_eq!(poll_once(rx.recv()), Poll::Ready(Some(1)));
        assert_eq!(poll_once(rx.recv()), Poll::Ready(Some(2)));
        assert_eq!(poll_once(rx.recv()), Poll::Pending);
    }

    #[test]
    fn the_senders_drop_ends_the_receiver_after_the_queue() {
        let (tx, rx) = mailbox(1);
        tx.try_send("last").unwrap();
        drop(tx);
        assert_eq!(poll_once(rx.recv()), Poll::Ready(Some("last")));
        assert_eq!(poll_once(rx.recv()), Poll::Ready(None));
    }

    #[test]
    fn queued_messages_are_dropped_with_the_receiver_or_on_discard() {
        let (tx, rx) = mailbox(2);
        let held = Arc::new(());
        tx.try_send(Arc::clone(&held)).unwrap();
        tx.discard_queued();
        assert_eq!(Arc::strong_count(&held), 1);
        tx.try_send(Arc::clone(&held)).unwrap();
        drop(rx);
        assert_eq!(Arc::strong_count(&held), 1);
        assert!(tx.try_send(Arc::clone(&held)).is_err());
    }
}
