//! The messages between a JobActor and the pools that run its items.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Message, Recipient};
use serde_json::Value;

use super::stop::StopSignal;
use crate::error::ItemError;
use crate::ports::{BlockingItemHandler, ItemContext, RemoteItemHandler};

/// How one dispatched item came back.
#[derive(Debug)]
pub enum Attempt {
    Finished(Result<Value, ItemError>),
    /// Never started (the job stopped first) or dropped while running.
    Dropped,
}

#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct ItemDone {
    pub item_no: i64,
    pub attempt: i64,
    pub outcome: Attempt,
    /// From dispatch to the pool until the answer.
    pub took: Duration,
}

/// One item handed to a pool; the pool answers by sending [`ItemDone`] to `reply_to`.
pub struct RunItem {
    pub item: ItemContext,
    pub stop: StopSignal,
    pub reply_to: Recipient<ItemDone>,
    pub dispatched: Instant,
}

impl RunItem {
    pub fn reply(self, outcome: Attempt) {
        self.reply_to.do_send(ItemDone {
            item_no: self.item.item_no,
            attempt: self.item.attempt,
            outcome,
            took: self.dispatched.elapsed(),
        });
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct RunBlocking {
    pub run: RunItem,
    pub handler: Arc<dyn BlockingItemHandler>,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct RunRemote {
    pub run: RunItem,
    pub handler: Arc<dyn RemoteItemHandler>,
}

/// The message of a caught panic, for the item's error.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a worker panicked".to_owned())
}
