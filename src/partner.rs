//! A partner thread for one training call of a small dense network on two threads.
//!
//! A small network's step is a chain of products of about 100 × 100 × 100: each takes a few
//! microseconds, less than waking a sleeping pool worker does (a futex wake and a reschedule,
//! measured at tens of microseconds on the 2-core machine), so on rayon's pool they ran on one
//! thread and the second core idled. During such a training call a partner thread instead
//! waits for work by spinning, and [`join`] hands it one of two independent computations (dW
//! and dA_prev of a backward pass, the two halves of a split product or update) through one
//! atomic pointer: the hand-off costs about as much as a cache line's trip between cores.
//!
//! Nothing changes in what is computed: each half is the computation the single thread would
//! run, on the same data, so results are bit-identical with and without the partner. Nothing
//! is allocated per hand-off (the job lives on the caller's stack, which waits for it).
//!
//! The partner spins only while its training call runs (it yields the core to the scheduler
//! between checks after a short while, so a busy machine is not starved) and exits with the
//! call. Only the training thread hands it work; a [`join`] made while the partner is busy, or
//! on the partner itself, runs both halves in turn.

use std::any::Any;
use std::cell::Cell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::AtomicU32;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Spins between two looks at the job slot before the partner starts yielding its core.
const SPINS_BEFORE_YIELD: u32 = 1 << 12;

/// A hand-off whose job came back this much later than the training thread's own half (and
/// later than that half took) is slow: on a machine whose cores are busy with other work, the
/// partner was off its core while the training thread waited.
const SLOW_WAIT: Duration = Duration::from_micros(300);

/// After this many slow hand-offs the partner stops for the rest of the training call, which
/// goes on as it would without one (a spinning thread only helps on a core of its own).
const SLOW_LIMIT: u32 = 4;

/// A job on the caller's stack: the closure, how to call it, and its completion.
struct Job {
    call: unsafe fn(*mut ()),
    closure: *mut (),
    done: AtomicBool,
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

/// The state a training thread and its partner share.
pub struct Partner {
    job: AtomicPtr<Job>,
    exit: AtomicBool,
    /// Slow hand-offs so far (see [`SLOW_WAIT`]).
    slow: AtomicU32,
}

thread_local! {
    /// The partner of the training call running on this thread, if any.
    static CURRENT: Cell<*const Partner> = const { Cell::new(ptr::null()) };
    /// Whether this thread is a partner.
    static IS_PARTNER: Cell<bool> = const { Cell::new(false) };
}

/// Whether the calling thread has a partner (so [`join`] can run two computations at once).
pub fn available() -> bool {
    CURRENT.with(|c| !c.get().is_null())
}

/// Whether a second thread can take work from here now, in a training call with a partner:
/// `Some(true)` on the training thread while its partner is idle, `Some(false)` while it is
/// busy and on the partner itself (work split further would only run in turn), `None` outside
/// such a call (the pool decides).
pub fn can_share() -> Option<bool> {
    if IS_PARTNER.with(Cell::get) {
        return Some(false);
    }
    let partner = CURRENT.with(|c| c.get());
    // SAFETY: see `join`
    let partner = unsafe { partner.as_ref() }?;
    if partner.exit.load(Ordering::Relaxed) {
        return None; // stopped (slow hand-offs): the pool decides, as without a partner
    }
    Some(partner.job.load(Ordering::Acquire).is_null())
}

/// Runs `f` with a partner thread spinning beside the calling thread, which [`join`] uses.
pub fn with_partner<R>(f: impl FnOnce() -> R) -> R {
    let partner = Partner {
        job: AtomicPtr::new(ptr::null_mut()),
        exit: AtomicBool::new(false),
        slow: AtomicU32::new(0),
    };
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("deepnet-partner".into())
            .spawn_scoped(scope, || partner.serve());
        if spawned.is_err() {
            // no thread to be had: train alone rather than fail
            return f();
        }
        let previous = CURRENT.with(|c| c.replace(&partner));
        let result = catch_unwind(AssertUnwindSafe(f));
        CURRENT.with(|c| c.set(previous));
        partner.exit.store(true, Ordering::Release);
        result.unwrap_or_else(|panic| resume_unwind(panic))
    })
}

impl Partner {
    /// The partner's loop: run each job handed over, until told to exit.
    fn serve(&self) {
        IS_PARTNER.with(|p| p.set(true));
        let mut idle = 0u32;
        loop {
            let job = self.job.load(Ordering::Acquire);
            if !job.is_null() {
                // SAFETY: the job was published by `join`, which keeps it alive and does not
                // return before `done` is set below.
                let job = unsafe { &*job };
                let outcome = catch_unwind(AssertUnwindSafe(|| unsafe { (job.call)(job.closure) }));
                if let Err(panic) = outcome {
                    *job.panic.lock().unwrap_or_else(|p| p.into_inner()) = Some(panic);
                }
                self.job.store(ptr::null_mut(), Ordering::Release);
                job.done.store(true, Ordering::Release);
                idle = 0;
            } else if self.exit.load(Ordering::Acquire) {
                return;
            } else if idle < SPINS_BEFORE_YIELD {
                idle += 1;
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }
}

/// Calls the `Option<B>` behind `closure` once.
unsafe fn call_once<B: FnOnce()>(closure: *mut ()) {
    // SAFETY: `closure` points at the `Option<B>` `join` made, alive until the job is done.
    let closure = unsafe { &mut *(closure as *mut Option<B>) };
    if let Some(b) = closure.take() {
        b();
    }
}

/// Runs `a` here and `b` on the partner at the same time when the calling thread has an idle
/// partner; otherwise `a` then `b` here. Returns when both are done; a panic in either is
/// resumed here after both finished.
pub fn join<A: FnOnce() + Send, B: FnOnce() + Send>(a: A, b: B) {
    let partner = CURRENT.with(|c| c.get());
    // SAFETY: CURRENT points at the Partner of `with_partner`, alive while it runs f, which is
    // where this thread is now (it is reset before with_partner returns).
    let partner = unsafe { partner.as_ref() };
    let Some(partner) = partner
        .filter(|p| !p.exit.load(Ordering::Relaxed) && p.job.load(Ordering::Acquire).is_null())
    else {
        a();
        b();
        return;
    };
    let mut b = Some(b);
    let job = Job {
        call: call_once::<B>,
        closure: &mut b as *mut Option<B> as *mut (),
        done: AtomicBool::new(false),
        panic: Mutex::new(None),
    };
    partner
        .job
        .store(&job as *const Job as *mut Job, Ordering::Release);
    let begun = Instant::now();
    let here = catch_unwind(AssertUnwindSafe(a));
    let start = Instant::now();
    let own = start - begun;
    let mut spins = 0u32;
    while !job.done.load(Ordering::Acquire) {
        if spins < SPINS_BEFORE_YIELD {
            spins += 1;
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
    // slow: the wait outlasted both SLOW_WAIT and this thread's own half (a half that is
    // merely longer, e.g. dW beside dA_prev, does not count)
    if spins >= SPINS_BEFORE_YIELD
        && start.elapsed() > SLOW_WAIT.max(own)
        && partner.slow.fetch_add(1, Ordering::Relaxed) + 1 >= SLOW_LIMIT
    {
        partner.exit.store(true, Ordering::Release);
    }
    if let Err(panic) = here {
        resume_unwind(panic);
    }
    let panic = job.panic.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(panic) = panic {
        resume_unwind(panic);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn join_runs_both_halves_with_and_without_a_partner() {
        let count = AtomicUsize::new(0);
        let work = || {
            let mut left = vec![0u64; 1000];
            let mut right = vec![0u64; 1000];
            for _ in 0..100 {
                join(
                    || left.iter_mut().for_each(|v| *v += 1),
                    || right.iter_mut().for_each(|v| *v += 2),
                );
                count.fetch_add(1, Ordering::Relaxed);
            }
            (left, right)
        };
        let alone = work();
        assert!(!available());
        let paired = with_partner(|| {
            assert!(available());
            work()
        });
        assert!(!available());
        assert_eq!(alone, paired);
        assert_eq!(alone.1[0], 200);
        assert_eq!(count.load(Ordering::Relaxed), 200);
    }

    #[test]
    fn nested_joins_and_panics_are_safe() {
        let mut sums = [0u32; 4];
        with_partner(|| {
            let (left, right) = sums.split_at_mut(2);
            join(
                || {
                    let (a, b) = left.split_at_mut(1);
                    join(|| a[0] = 1, || b[0] = 2) // the partner is busy: in turn, here
                },
                || right[0] = 3,
            );
            right[1] = 4;
        });
        assert_eq!(sums, [1, 2, 3, 4]);
        let panicked = catch_unwind(|| with_partner(|| join(|| (), || panic!("in the partner"))));
        assert!(panicked.is_err());
        let panicked = catch_unwind(|| with_partner(|| join(|| panic!("here"), || ())));
        assert!(panicked.is_err());
    }
}
