//! What this node runs: each job kind's pool and handler.

use std::collections::HashMap;

use crate::model::JobKind;
use crate::ports::ItemWork;

/// Which pool and handler run each job kind's items.
pub type KindRegistry = HashMap<JobKind, ItemWork>;
