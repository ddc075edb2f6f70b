//! Transfers: the transfer command's replies, the driver's data-connection events, and the
//! join of the two signals a transfer needs before it completes (the final reply and the end
//! of the data connection, in either order). Also the replies that follow an ABOR.

use crate::addr::canonical_ip;
use crate::reply::{Reply, ReplyCode};

use super::replies::refused;
use super::state::{Abort, ClientSession, LinkState, Step};
use super::types::{
    size_hint, ClientDataEvent, ClientEvent, DataConnId, DataFailure, OpError, OpOutput,
    TransferOutcome,
};

// ---------------------------------------------------------------------------------------------
// The transfer command's replies

impl ClientSession {
    /// A reply to RETR, STOR, APPE, STOU, LIST, NLST or MLSD (RFC 959 §5.4): 125 or 150
    /// (once; 110 markers any time), then 226 or 250; or a refusal.
    pub(super) fn on_transfer_reply(&mut self, reply: Reply) {
        let Some(transfer) = self.transfer_ref() else {
            return;
        };
        if let Some(abort) = transfer.abort {
            return self.on_abort_reply(abort, reply);
        }
        let prelim = transfer.prelim;
        let code = reply.code();
        if code == ReplyCode::RESTART_MARKER {
            return self.restart_mark(&reply);
        }
        if code.is_preliminary() {
            if !prelim {
                self.transfer_started(&reply);
            }
            return;
        }
        if code.is_completion() {
            self.known.rest_pending = false;
            self.transfer_final(reply);
            self.extend_step();
            // No 1yz (some servers skip it for empty listings): move what is there.
            if self.link_state() == Some(LinkState::Open) {
                self.start_link(None);
            }
            return self.try_complete();
        }
        self.apply(refused(&reply));
    }

    /// 125/150: the server is moving bytes (or about to connect, in active mode).
    fn transfer_started(&mut self, reply: &Reply) {
        self.known.rest_pending = false;
        self.transfer_prelim(reply.stored_as(), size_hint(reply));
        self.extend_step();
        if self.link_state() == Some(LinkState::Open) {
            self.start_link(size_hint(reply));
        }
    }

    fn restart_mark(&mut self, reply: &Reply) {
        let op = self.current.as_ref().and_then(|op| op.id);
        if let (Some(op), Some((sender, receiver))) = (op, reply.restart_mark()) {
            self.event(ClientEvent::RestartMark {
                op,
                sender,
                receiver,
            });
        }
    }

    /// After ABOR: the transfer's own reply (426, or 226 when it had just finished), then
    /// ABOR's (226 or 225). A 225 first means nothing was running: ABOR's only reply.
    fn on_abort_reply(&mut self, abort: Abort, reply: Reply) {
        let code = reply.code();
        if code.is_preliminary() {
            return;
        }
        match abort {
            Abort::AwaitTransferReply if code == ReplyCode::DATA_OPEN_NO_TRANSFER => {
                self.complete(Err(OpError::Aborted { reply: None }))
            }
            Abort::AwaitTransferReply => {
                self.transfer_final(reply);
                self.set_abort(Abort::AwaitAborReply {
                    grace: code.is_completion(),
                });
            }
            Abort::AwaitAborReply { .. } => self.finish_abort(),
        }
    }

    /// The aborted transfer ends, reporting its own final reply if one came.
    pub(super) fn finish_abort(&mut self) {
        let reply = self.transfer_ref().and_then(|t| t.final_reply.clone());
        self.complete(Err(OpError::Aborted { reply }));
    }

    /// Completes the transfer once both signals are in: the final reply and the end of the
    /// data connection.
    pub(super) fn try_complete(&mut self) {
        let Some(transfer) = self.transfer_ref() else {
            return;
        };
        let (Some(reply), Some(link)) = (&transfer.final_reply, &transfer.link) else {
            return;
        };
        let LinkState::Ended(end) = link.state else {
            return;
        };
        let nothing_lost = transfer.expected == Some(0) && reply.code().is_completion();
        let result = match end {
            // An empty file whose data connection broke before it could end cleanly (a
            // server that closes right after its TLS handshake, whose reset overtakes the
            // end of the stream): the server said there was nothing to send and that it
            // sent it; no byte can be missing.
            Err(_) if nothing_lost => Ok(OpOutput::Transfer(TransferOutcome {
                kind: transfer.kind,
                bytes: 0,
                reply: reply.clone(),
                stored_as: None,
            })),
            Err(failure) => Err(OpError::DataConnection(failure)),
            Ok(()) => Ok(OpOutput::Transfer(TransferOutcome {
                kind: transfer.kind,
                bytes: link.bytes,
                reply: reply.clone(),
                stored_as: transfer.stored_as.clone(),
            })),
        };
        self.complete(result);
    }

    fn link_state(&self) -> Option<LinkState> {
        self.link_ref().map(|link| link.state)
    }
}

// ---------------------------------------------------------------------------------------------
// Data-connection events

impl ClientSession {
    pub(super) fn on_data_event(&mut self, id: DataConnId, event: ClientDataEvent) {
        let Some(link) = self.link_ref() else {
            return;
        };
        if link.id != id || link.ended() {
            return;
        }
        let (state, expect) = (link.state, link.expect);
        match event {
            ClientDataEvent::Listening { local } if state == LinkState::Binding => {
                self.link_to(LinkState::Listening);
                let step = self.active_address_step(local);
                self.end_step(vec![step]);
            }
            ClientDataEvent::Connected { peer }
                if matches!(state, LinkState::Connecting | LinkState::Listening) =>
            {
                if expect.is_some_and(|ip| ip != canonical_ip(peer.ip())) {
                    self.abort_link(DataFailure::PeerMismatch);
                    return self.after_link_end();
                }
                self.link_connected();
            }
            ClientDataEvent::Finished { bytes } if state == LinkState::Running => {
                self.finish_link(bytes);
                // The reply wait, suspended while bytes moved, starts again.
                self.extend_step();
            }
            ClientDataEvent::Closed => {
                self.link_to(LinkState::Ended(Ok(())));
                self.after_link_end();
            }
            ClientDataEvent::Failed(failure) => {
                self.link_to(LinkState::Ended(Err(failure)));
                self.after_link_end();
            }
            _ => {}
        }
    }

    /// The connection is up: the plan goes on (passive), or the bytes start moving once the
    /// 1yz (or the final reply) is in (active).
    fn link_connected(&mut self) {
        self.link_to(LinkState::Open);
        let step = self.current.as_ref().and_then(|op| op.step.clone());
        match step {
            Some(Step::Connect(_)) => self.end_step(Vec::new()),
            Some(Step::Transfer) => {
                let ready = self
                    .transfer_ref()
                    .is_some_and(|t| t.prelim || t.final_reply.is_some());
                if ready {
                    self.start_link(None);
                }
            }
            _ => {}
        }
    }

    /// The data connection is gone: before the transfer command, the operation fails; after
    /// it, the final reply decides (it may already be here).
    pub(super) fn after_link_end(&mut self) {
        let step = self.current.as_ref().and_then(|op| op.step.clone());
        let failure = match self.link_state() {
            Some(LinkState::Ended(Err(failure))) => failure,
            _ => DataFailure::Other,
        };
        match step {
            Some(Step::Listen | Step::Connect(_)) => {
                self.complete(Err(OpError::DataConnection(failure)))
            }
            Some(Step::Transfer) => {
                self.extend_step();
                self.try_complete();
            }
            _ => {}
        }
    }

    /// The data timer fired: the connection was not bound, connected or closed in time.
    pub(super) fn data_timeout(&mut self) {
        self.abort_link(DataFailure::TimedOut);
        self.after_link_end();
    }
}
