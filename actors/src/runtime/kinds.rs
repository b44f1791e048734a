//! What this node runs: each job kind's handler.

use std::collections::HashMap;
use std::sync::Arc;

use crate::model::JobKind;
use crate::ports::ItemHandler;

/// Which handler runs each job kind's items.
pub type KindRegistry = HashMap<JobKind, Arc<dyn ItemHandler>>;
