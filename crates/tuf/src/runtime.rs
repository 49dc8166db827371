//! Running tough's async client from blocking code.

use crate::error::TufError;
use std::future::Future;

/// Runs `fut` to completion on a private current-thread tokio runtime.
///
/// Safe to call from inside another tokio runtime: in that case the
/// private runtime runs on a scoped helper thread, because tokio forbids
/// blocking on a runtime from within one. Panics in `fut` propagate.
pub(crate) fn block_on<F, T>(fut: F) -> Result<T, TufError>
where
    F: Future<Output = Result<T, TufError>> + Send,
    T: Send,
{
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| match s.spawn(|| run(fut)).join() {
            Ok(out) => out,
            Err(panic) => std::panic::resume_unwind(panic),
        })
    } else {
        run(fut)
    }
}

fn run<F, T>(fut: F) -> Result<T, TufError>
where
    F: Future<Output = Result<T, TufError>>,
{
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(TufError::Runtime)?
        .block_on(fut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn works_outside_and_inside_a_runtime() {
        assert_eq!(block_on(async { Ok(1) }).ok(), Some(1));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let inner = rt.block_on(async { block_on(async { Ok(2) }) });
        assert_eq!(inner.ok(), Some(2));
    }
}
