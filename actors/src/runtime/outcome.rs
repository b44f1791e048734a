//! What one attempt at an item becomes, decided by the error's class alone.

use crate::error::{ErrorClass, ItemError};
use crate::model::{ItemOutcome, ItemStatus, JobError};
use crate::retry::RetryPolicy;

use super::work::Attempt;

/// The outcome to persist for an attempt, and the job's error if the attempt's error was
/// fatal. `round` is the job's auto retry round; `now` is in epoch milliseconds.
pub fn decide(
    item_no: i64,
    attempt: i64,
    result: Attempt,
    retry: &RetryPolicy,
    round: u32,
    now: i64,
) -> (ItemOutcome, Option<JobError>) {
    let error = match result {
        Attempt::Finished(Ok(value)) => return (ItemOutcome::completed(item_no, value, now), None),
        Attempt::Dropped | Attempt::Finished(Err(ItemError::Stopped)) => {
            return (ItemOutcome::released(item_no), None);
        }
        Attempt::Finished(Err(error)) => error,
    };
    let mut out = ItemOutcome::released(item_no);
    out.error_class = Some(error.class());
    out.error_code = Some(error.code().to_owned());
    out.error = Some(error.to_string());
    match error.class() {
        ErrorClass::Retryable if retry.may_retry(attempt, round) => {
            let retry_after = match error {
                ItemError::RateLimited { retry_after } => retry_after,
                _ => None,
            };
            let in_round = attempt - i64::from(retry.max_attempts) * i64::from(round);
            let wait = retry.backoff(in_round.max(1) as u32, retry_after);
            out.not_before = Some(now + wait.as_millis() as i64);
            (out, None)
        }
        ErrorClass::Retryable | ErrorClass::Terminal => {
            out.status = ItemStatus::Failed;
            out.finished_at = Some(now);
            (out, None)
        }
        // The item stays pending (a resume runs it again); the job fails.
        ErrorClass::Fatal => {
            let job_error = JobError {
                code: error.code().to_owned(),
                message: error.to_string(),
            };
            (out, Some(job_error))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_000_000;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            base: Duration::from_millis(100),
            max: Duration::from_secs(10),
            auto_retry_rounds: 1,
        }
    }

    fn fail(e: ItemError, attempt: i64, round: u32) -> (ItemOutcome, Option<JobError>) {
        decide(7, attempt, Attempt::Finished(Err(e)), &policy(), round, NOW)
    }

    #[test]
    fn success_and_drops() {
        let (ok, err) = decide(7, 1, Attempt::Finished(Ok(json!(1))), &policy(), 0, NOW);
        assert_eq!(
            (ok.status, ok.result, ok.finished_at, err),
            (ItemStatus::Completed, Some(json!(1)), Some(NOW), None)
        );
        let (dropped, _) = decide(7, 1, Attempt::Dropped, &policy(), 0, NOW);
        assert_eq!(
            (dropped.status, dropped.error_code),
            (ItemStatus::Pending, None)
        );
    }

    #[test]
    fn an_item_stopped_before_it_called_out_is_released() {
        let (out, err) = fail(ItemError::Stopped, 3, 0);
        assert_eq!(
            (out.status, out.error_code, out.not_before, err),
            (ItemStatus::Pending, None, None, None)
        );
    }

    #[test]
    fn retryable_errors_back_off_until_the_budget_of_the_round_is_spent() {
        let (again, _) = fail(ItemError::retryable("TIMEOUT", "slow"), 2, 0);
        assert_eq!(again.status, ItemStatus::Pending);
        let wait = again.not_before.unwrap() - NOW;
        assert!(
            (0..=200).contains(&wait),
            "full jitter under base * 2: {wait}"
        );
        assert_eq!(again.error_code.as_deref(), Some("TIMEOUT"));

        let (spent, _) = fail(ItemError::retryable("TIMEOUT", "slow"), 3, 0);
        assert_eq!(
            (spent.status, spent.error_class),
            (ItemStatus::Failed, Some(ErrorClass::Retryable))
        );
        // The next round grants a fresh budget.
        let (next_round, _) = fail(ItemError::retryable("TIMEOUT", "slow"), 4, 1);
        assert_eq!(next_round.status, ItemStatus::Pending);
    }

    #[test]
    fn retry_after_wins_over_the_backoff() {
        let limited = ItemError::RateLimited {
            retry_after: Some(Duration::from_secs(7)),
        };
        let (out, _) = fail(limited, 1, 0);
        assert_eq!(out.not_before, Some(NOW + 7_000));
        assert_eq!(out.error_code.as_deref(), Some("PROVIDER_RATE_LIMITED"));
    }

    #[test]
    fn terminal_errors_fail_the_item_and_fatal_ones_the_job() {
        let (out, err) = fail(ItemError::terminal("CORRUPT_IMAGE", "bad"), 1, 0);
        assert_eq!(
            (out.status, out.error_class, err),
            (ItemStatus::Failed, Some(ErrorClass::Terminal), None)
        );
        let (out, err) = fail(ItemError::fatal("BAD_CREDENTIALS", "key"), 1, 0);
        assert_eq!(out.status, ItemStatus::Pending, "a resume runs it again");
        assert_eq!(err.unwrap().code, "BAD_CREDENTIALS");
    }
}
