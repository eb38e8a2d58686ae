//! Spreading independent per-row work of a bulk call over the machine's cores.

/// Below this many items the work stays on the calling thread: starting a thread costs more
/// than it saves.
pub(crate) const MIN_ITEMS: usize = 256;

/// `f` applied to every item, results in item order. With at least [`MIN_ITEMS`] items and
/// more than one core, contiguous runs of items go to scoped threads, the calling thread
/// taking the first run.
pub(crate) fn map<T, R, F>(items: Vec<T>, f: F) -> Vec<R>
where
    T: Send,
    R: Send,
    F: Fn(T) -> R + Sync,
{
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let workers = cores.min(items.len() / (MIN_ITEMS / 2)).max(1);
    if workers == 1 {
        return items.into_iter().map(f).collect();
    }
    let per_worker = items.len().div_ceil(workers);
    let mut runs: Vec<Vec<T>> = Vec::with_capacity(workers);
    let mut items = items.into_iter();
    for _ in 0..workers {
        runs.push(items.by_ref().take(per_worker).collect());
    }
    let f = &f;
    std::thread::scope(|scope| {
        let mut runs = runs.into_iter();
        let first = runs.next().unwrap_or_default();
        let mut started = Vec::with_capacity(workers - 1);
        for run in runs {
            started.push(start(scope, f, run));
        }
        let mut results: Vec<R> = first.into_iter().map(f).collect();
        for run in started {
            match run {
                Run::Thread(thread) => match thread.join() {
                    Ok(run) => results.extend(run),
                    // A panic in `f` is a bug; carry it to the caller as the sequential path
                    // would.
                    Err(panic) => std::panic::resume_unwind(panic),
                },
                Run::Here(run) => results.extend(run.into_iter().map(f)),
            }
        }
        results
    })
}

/// A run of items handed to a thread, or kept for the calling thread.
enum Run<'scope, T, R> {
    Thread(std::thread::ScopedJoinHandle<'scope, Vec<R>>),
    Here(Vec<T>),
}

/// Starts a thread for `run`; when the process cannot start one (it is at its thread limit),
/// the run stays with the caller instead of failing the call.
fn start<'scope, T, R, F>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    f: &'scope F,
    run: Vec<T>,
) -> Run<'scope, T, R>
where
    T: Send + 'scope,
    R: Send + 'scope,
    F: Fn(T) -> R + Sync,
{
    // The run goes over a channel once the thread exists, so a failed start keeps it.
    let (send, receive) = std::sync::mpsc::sync_channel::<Vec<T>>(1);
    let thread = std::thread::Builder::new().spawn_scoped(scope, move || {
        receive.recv().map(|run| run.into_iter().map(f).collect()).unwrap_or_default()
    });
    match thread {
        Ok(thread) => match send.send(run) {
            Ok(()) => Run::Thread(thread),
            Err(std::sync::mpsc::SendError(run)) => Run::Here(run),
        },
        Err(_) => Run::Here(run),
    }
}

/// Runs `elsewhere` on a thread of its own while `here` runs on the calling thread, and
/// returns both results: two waits on a server overlap. Without a thread to be had (the
/// process's limit), `elsewhere` runs here after `here`.
pub(crate) fn both<A, B, E>(elsewhere: E, here: impl FnOnce() -> B) -> (A, B)
where
    A: Send,
    E: FnOnce() -> A + Send,
{
    std::thread::scope(|scope| {
        let (send, receive) = std::sync::mpsc::sync_channel::<E>(1);
        let thread = std::thread::Builder::new()
            .spawn_scoped(scope, move || receive.recv().ok().map(|f| f()));
        let elsewhere = match thread {
            Ok(thread) => match send.send(elsewhere) {
                Ok(()) => Ok(thread),
                Err(std::sync::mpsc::SendError(elsewhere)) => Err(elsewhere),
            },
            Err(_) => Err(elsewhere),
        };
        let b = here();
        let a = match elsewhere {
            Ok(thread) => match thread.join() {
                Ok(Some(a)) => a,
                Ok(None) => unreachable!("the closure was sent before the thread could end"),
                Err(panic) => std::panic::resume_unwind(panic),
            },
            Err(elsewhere) => elsewhere(),
        };
        (a, b)
    })
}

/// Drops `value` on a thread of its own, so a caller that built a large structure (a bulk
/// batch of records, each a map of strings) returns without spending its time freeing it.
/// When no thread can be started, it is dropped here.
pub(crate) fn drop_elsewhere<T: Send + 'static>(value: T) {
    // On failure `spawn` drops the closure, and with it `value`, on this thread.
    let _ = std::thread::Builder::new().name("crm-drop".into()).spawn(move || drop(value));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_runs_one_side_elsewhere_and_returns_both() {
        let caller = std::thread::current().id();
        let (a, b) = both(|| (std::thread::current().id(), 1), || (std::thread::current().id(), 2));
        assert_eq!((a.1, b.1), (1, 2));
        assert_ne!(a.0, caller, "the first closure runs on a thread of its own");
        assert_eq!(b.0, caller);
    }

    #[test]
    fn results_keep_item_order_at_every_size() {
        for len in [0, 1, 255, 256, 257, 1000, 4099] {
            let items: Vec<usize> = (0..len).collect();
            let doubled = map(items, |i| i * 2);
            assert_eq!(doubled, (0..len).map(|i| i * 2).collect::<Vec<_>>(), "{len} items");
        }
    }

    #[test]
    fn work_reaches_other_threads_for_large_inputs() {
        let caller = std::thread::current().id();
        let threads = map((0..4096).collect(), |_: i32| std::thread::current().id());
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let others = threads.iter().filter(|id| **id != caller).count();
        if cores > 1 {
            assert!(others > 0, "no item ran on another thread");
            assert!(threads[0] == caller, "the caller takes the first run");
        } else {
            assert_eq!(others, 0);
        }
    }

    #[test]
    fn values_dropped_elsewhere_are_dropped_on_another_thread() {
        struct Signal(std::sync::mpsc::Sender<std::thread::ThreadId>);
        impl Drop for Signal {
            fn drop(&mut self) {
                let _ = self.0.send(std::thread::current().id());
            }
        }
        let (send, receive) = std::sync::mpsc::channel();
        drop_elsewhere(Signal(send));
        let dropped_on = receive.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        assert_ne!(dropped_on, std::thread::current().id());
    }
}
