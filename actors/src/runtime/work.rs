//! The messages between a JobActor and the pools that run its items.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Message, Recipient};
use serde_json::Value;

use super::stop::StopSignal;
use crate::error::ItemError;
use crate::ports::{ItemContext, ItemHandler};

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

/// A pool's word that an attempt passed its kind's soft item limit and still runs.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct ItemSlow {
    pub item_no: i64,
    pub attempt: i64,
    pub limit: Duration,
}

/// The soft and hard limits of one call of a handler; `None` is no limit.
#[derive(Clone, Copy, Debug, Default)]
pub struct CallLimits {
    pub soft: Option<Duration>,
    pub hard: Option<Duration>,
}

/// One item handed to a pool; the pool answers by sending [`ItemDone`] to its JobActor.
///
/// It answers exactly once: a `RunItem` dropped unanswered (the pool's task died, its
/// mailbox was closed) answers `WORKER_LOST` as it goes, so no dispatched item is left
/// without an outcome.
pub struct RunItem {
    pub item: ItemContext,
    pub stop: StopSignal,
    pub limits: CallLimits,
    pub dispatched: Instant,
    /// `None` once answered.
    reply_to: Option<Recipient<ItemDone>>,
    slow_to: Recipient<ItemSlow>,
}

impl RunItem {
    pub fn new(
        item: ItemContext,
        stop: StopSignal,
        limits: CallLimits,
        reply_to: Recipient<ItemDone>,
        slow_to: Recipient<ItemSlow>,
    ) -> Self {
        Self {
            item,
            stop,
            limits,
            dispatched: Instant::now(),
            reply_to: Some(reply_to),
            slow_to,
        }
    }

    pub fn reply(mut self, outcome: Attempt) {
        self.answer(outcome);
    }

    /// Tells the JobActor the attempt passed its soft limit.
    pub fn report_slow(&self, limit: Duration) {
        self.slow_to.do_send(ItemSlow {
            item_no: self.item.item_no,
            attempt: self.item.attempt,
            limit,
        });
    }

    fn answer(&mut self, outcome: Attempt) {
        if let Some(reply_to) = self.reply_to.take() {
            reply_to.do_send(ItemDone {
                item_no: self.item.item_no,
                attempt: self.item.attempt,
                outcome,
                took: self.dispatched.elapsed(),
            });
        }
    }
}

impl Drop for RunItem {
    fn drop(&mut self) {
        if self.reply_to.is_some() {
            tracing::warn!(job_id = %self.item.job_id, item = self.item.item_no,
                "an item was dropped by its pool without an answer");
            self.answer(Attempt::Finished(Err(ItemError::WorkerLost {
                reason: "its pool dropped it without an answer".to_owned(),
            })));
        }
    }
}

/// One item for the [`super::ItemPool`], with the handler that runs it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Dispatch {
    pub run: RunItem,
    pub handler: Arc<dyn ItemHandler>,
}

/// The message of a caught panic, for the item's error.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a worker panicked".to_owned())
}
