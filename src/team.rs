//! A team of threads that runs the stages of a training step together: the data-parallel step
//! of dense networks ([`crate::data_parallel`]) is two stages, each a handful of independent
//! tasks (blocks of examples, then blocks of neurons).
//!
//! Why not rayon: a stage lasts tens of microseconds, and waking a sleeping pool worker for
//! each of a step's ~10 products cost more than the half product it took (measured: a
//! `rayon::join` of dW with dA_prev made a small network's step slower). A team's helpers
//! stay awake between stages (spinning briefly, then parking), so a stage costs one atomic
//! store to start and one counter to finish.
//!
//! Robustness comes first:
//! - Tasks are claimed one at a time from a shared counter, by the calling thread too, and
//!   the caller never waits for a helper to *start*: a helper that is late (descheduled, busy
//!   with another process, or parked) just claims fewer tasks, and with none at all the caller
//!   runs every task itself. So no schedule of the threads can deadlock a step, and results do
//!   not depend on who ran which task (each task writes its own outputs; nothing is summed
//!   across tasks).
//! - A helper spins for at most [`SPIN`] after its last task, then parks until the next stage
//!   or team: between `fit` calls it costs nothing, and on a machine busy with other work it
//!   does not hold a core for long.
//! - A panic in a task is caught on the thread that ran it and resumed on the caller's thread
//!   once the stage has finished.
//!
//! Helpers are process-wide threads, lent to one team at a time: concurrent `fit` calls take
//! the ones that are free (see [`Team::new`]).

use std::any::Any;
use std::cell::Cell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// How long a helper waits for the next stage, spinning and yielding, before it parks. Far
/// longer than the gaps between a training call's stages: a helper that parked would be
/// woken onto the caller's core by some schedulers (wake-affine placement), and the two
/// threads would then share one core while the other stays idle. A thread that keeps running
/// is spread to an idle core by the load balancer.
pub const SPIN: Duration = Duration::from_millis(20);

/// The most tasks one stage may have (they are counted in 16 bits).
pub const MAX_TASKS: usize = u16::MAX as usize;

thread_local! {
    /// Set while this thread runs a team's task: the kernels it calls then run on this thread
    /// alone (see [`crate::matmul::num_threads`]).
    static IN_TASK: Cell<bool> = const { Cell::new(false) };
}

/// Whether the current thread is running a team's task.
pub fn in_task() -> bool {
    IN_TASK.with(|t| t.get())
}

/// Runs `f` with the task flag set on this thread.
fn as_task<R>(f: impl FnOnce() -> R) -> R {
    let before = IN_TASK.with(|t| t.replace(true));
    let out = f();
    IN_TASK.with(|t| t.set(before));
    out
}

/// The current stage's task function (type-erased: it lives on the caller's stack for as long
/// as the stage runs; see [`Team::run`]).
struct Stage<'a> {
    task: &'a (dyn Fn(usize) + Sync),
}

/// The state one team's threads share.
struct Shared {
    /// The stage: generation (bits 32..64), number of tasks (16..32), next task to claim
    /// (0..16). One word, so that a claim (a compare-and-swap) can never take a task of a
    /// later stage than the one its thread saw.
    state: AtomicU64,
    /// Tasks of the current stage finished.
    done: AtomicU32,
    /// The current stage's [`Stage`].
    stage: AtomicPtr<()>,
    /// Set when the team is dropped: its helpers leave.
    closed: AtomicBool,
    /// The first panic of the current stage, resumed on the caller's thread.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

fn pack(generation: u32, tasks: usize, next: usize) -> u64 {
    ((generation as u64) << 32) | ((tasks as u64) << 16) | next as u64
}

fn unpack(state: u64) -> (u32, usize, usize) {
    (
        (state >> 32) as u32,
        ((state >> 16) & 0xffff) as usize,
        (state & 0xffff) as usize,
    )
}

impl Shared {
    /// Claims and runs tasks of the current stage until none is left; returns the generation
    /// it worked on.
    fn work(&self) -> u32 {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            let (generation, tasks, next) = unpack(state);
            if next >= tasks {
                return generation;
            }
            match self.state.compare_exchange_weak(
                state,
                pack(generation, tasks, next + 1),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    // SAFETY: task `next` of this generation is claimed and not yet counted in
                    // `done`, so the stage cannot end (and its `Stage` cannot be dropped or
                    // replaced) before this call returns; the pointer was stored before the
                    // generation was published (Release), and read after it (Acquire).
                    let stage = unsafe { &*(self.stage.load(Ordering::Acquire) as *const Stage) };
                    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| (stage.task)(next))) {
                        let mut first = self.panic.lock().unwrap_or_else(|p| p.into_inner());
                        first.get_or_insert(payload);
                    }
                    self.done.fetch_add(1, Ordering::Release);
                    state = self.state.load(Ordering::Acquire);
                }
                Err(now) => state = now,
            }
        }
    }
}

/// A process-wide helper thread.
struct Helper {
    thread: OnceLock<Thread>,
    /// The team it is lent to next (taken by the helper when it wakes).
    assignment: Mutex<Option<Arc<Shared>>>,
    /// Set while the helper is parked or about to park: a new stage must unpark it.
    sleeping: AtomicBool,
}

/// Helpers not lent to any team.
static IDLE: Mutex<Vec<Arc<Helper>>> = Mutex::new(Vec::new());
/// Helpers ever started (they live as long as the process).
static STARTED: Mutex<usize> = Mutex::new(0);

/// The most helper threads the process starts, whatever thread count is asked for.
const MAX_HELPERS: usize = 255;

fn helper_main(me: Arc<Helper>) {
    loop {
        let team = me
            .assignment
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match team {
            Some(team) => as_task(|| serve(&me, &team)),
            None => std::thread::park(),
        }
    }
}

/// A helper's life in one team: run the tasks of each stage, wait for the next one, leave
/// when the team closes.
fn serve(me: &Helper, team: &Shared) {
    loop {
        let generation = team.work();
        if !wait_for_stage(me, team, generation) {
            return;
        }
    }
}

/// Waits until a stage after `generation` starts (true) or the team closes (false): spins for
/// [`SPIN`], then parks.
fn wait_for_stage(me: &Helper, team: &Shared, generation: u32) -> bool {
    let changed = || (team.state.load(Ordering::SeqCst) >> 32) as u32 != generation;
    let start = Instant::now();
    let mut spins = 0u32;
    loop {
        if team.closed.load(Ordering::Acquire) {
            return false;
        }
        if changed() {
            return true;
        }
        spins = spins.wrapping_add(1);
        if spins % 64 == 0 && start.elapsed() >= SPIN {
            break;
        }
        pause(spins);
    }
    loop {
        // Dekker-style: the caller stores the new state then reads `sleeping`; this thread
        // stores `sleeping` then reads the state (all SeqCst), so at least one of the two sees
        // the other's store and no wake-up is lost.
        me.sleeping.store(true, Ordering::SeqCst);
        if team.closed.load(Ordering::SeqCst) {
            me.sleeping.store(false, Ordering::SeqCst);
            return false;
        }
        if changed() {
            me.sleeping.store(false, Ordering::SeqCst);
            return true;
        }
        std::thread::park();
        me.sleeping.store(false, Ordering::SeqCst);
    }
}

/// One round of a wait loop: mostly a spin hint, and every [`YIELD_EVERY`]th round a yield
/// of the CPU, so that a waiting thread that shares its core with the thread it waits for
/// (the scheduler may put them together) lets that thread run instead of halving its speed.
#[inline]
fn pause(round: u32) {
    if round % YIELD_EVERY == 0 {
        std::thread::yield_now();
    } else {
        std::hint::spin_loop();
    }
}

/// See [`pause`].
const YIELD_EVERY: u32 = 8;

/// Lends up to `wanted` helpers, starting new ones while fewer than [`MAX_HELPERS`] exist.
fn borrow(wanted: usize) -> Vec<Arc<Helper>> {
    let mut idle = IDLE.lock().unwrap_or_else(|p| p.into_inner());
    let keep = idle.len().saturating_sub(wanted);
    let mut helpers = idle.split_off(keep);
    drop(idle);
    if helpers.len() < wanted {
        let mut started = STARTED.lock().unwrap_or_else(|p| p.into_inner());
        while helpers.len() < wanted && *started < MAX_HELPERS {
            let helper = Arc::new(Helper {
                thread: OnceLock::new(),
                assignment: Mutex::new(None),
                sleeping: AtomicBool::new(false),
            });
            let me = Arc::clone(&helper);
            let spawned = std::thread::Builder::new()
                .name(format!("deepnet-team-{}", *started))
                .spawn(move || helper_main(me));
            match spawned {
                Ok(handle) => {
                    let _ = helper.thread.set(handle.thread().clone());
                    *started += 1;
                    helpers.push(helper);
                }
                // no thread to be had: the team works with fewer
                Err(_) => break,
            }
        }
    }
    helpers
}

/// The calling thread and the helpers it borrowed, for one training call.
pub struct Team {
    shared: Arc<Shared>,
    helpers: Vec<Arc<Helper>>,
    generation: Cell<u32>,
}

impl Team {
    /// A team of at most `threads` threads: the calling thread and up to `threads − 1` free
    /// helpers (fewer when other teams hold them).
    pub fn new(threads: usize) -> Team {
        let shared = Arc::new(Shared {
            state: AtomicU64::new(0),
            done: AtomicU32::new(0),
            stage: AtomicPtr::new(std::ptr::null_mut()),
            closed: AtomicBool::new(false),
            panic: Mutex::new(None),
        });
        let helpers = borrow(threads.saturating_sub(1).min(MAX_HELPERS));
        for helper in &helpers {
            *helper.assignment.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(Arc::clone(&shared));
            if let Some(thread) = helper.thread.get() {
                thread.unpark();
            }
        }
        Team {
            shared,
            helpers,
            generation: Cell::new(0),
        }
    }

    /// The threads of the team, the caller's included.
    pub fn threads(&self) -> usize {
        1 + self.helpers.len()
    }

    /// Runs `task(0)`, …, `task(tasks − 1)` on the team's threads (each exactly once, in no
    /// particular order, the calling thread taking its share) and returns when all are done.
    /// A panic in a task is resumed here once the others have finished.
    pub fn run(&self, tasks: usize, task: &(dyn Fn(usize) + Sync)) {
        assert!(tasks <= MAX_TASKS, "a stage has at most {MAX_TASKS} tasks");
        if tasks == 0 {
            return;
        }
        if self.helpers.is_empty() {
            as_task(|| (0..tasks).for_each(task));
            return;
        }
        let stage = Stage { task };
        let shared = &*self.shared;
        shared
            .stage
            .store(&stage as *const Stage as *mut (), Ordering::Release);
        shared.done.store(0, Ordering::Relaxed);
        let generation = self.generation.get().wrapping_add(1);
        self.generation.set(generation);
        shared
            .state
            .store(pack(generation, tasks, 0), Ordering::SeqCst);
        for helper in &self.helpers {
            if helper.sleeping.load(Ordering::SeqCst) {
                if let Some(thread) = helper.thread.get() {
                    thread.unpark();
                }
            }
        }
        as_task(|| shared.work());
        // the helpers' last tasks
        let mut spins = 0u32;
        while shared.done.load(Ordering::Acquire) < tasks as u32 {
            spins = spins.wrapping_add(1);
            pause(spins);
        }
        let panic = shared
            .panic
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(payload) = panic {
            resume_unwind(payload);
        }
    }
}

impl Drop for Team {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        for helper in &self.helpers {
            if let Some(thread) = helper.thread.get() {
                thread.unpark();
            }
        }
        // A helper may still be leaving this team (it holds its own reference to the shared
        // state, and touches no stage any more: the last one has finished): it can be lent
        // again at once, and takes its next assignment when it has left.
        IDLE.lock()
            .unwrap_or_else(|p| p.into_inner())
            .append(&mut self.helpers);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn every_task_runs_exactly_once() {
        for threads in [1, 2, 3, 5] {
            let team = Team::new(threads);
            assert!(team.threads() <= threads);
            for tasks in [1, 2, 7, 64, 1000] {
                let counts: Vec<AtomicUsize> = (0..tasks).map(|_| AtomicUsize::new(0)).collect();
                team.run(tasks, &|i| {
                    assert!(in_task());
                    counts[i].fetch_add(1, Ordering::Relaxed);
                });
                assert!(counts.iter().all(|c| c.load(Ordering::Relaxed) == 1));
            }
        }
        assert!(!in_task());
    }

    #[test]
    fn many_short_stages_and_teams() {
        // stress the hand-offs: stages back to back, teams made and dropped, helpers lent again
        let total = AtomicUsize::new(0);
        for _ in 0..50 {
            let team = Team::new(3);
            for _ in 0..200 {
                team.run(3, &|_| {
                    total.fetch_add(1, Ordering::Relaxed);
                });
            }
        }
        assert_eq!(total.load(Ordering::Relaxed), 50 * 200 * 3);
    }

    #[test]
    fn concurrent_teams_share_the_helpers() {
        let total = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    let team = Team::new(3);
                    for _ in 0..100 {
                        team.run(4, &|_| {
                            total.fetch_add(1, Ordering::Relaxed);
                        });
                    }
                });
            }
        });
        assert_eq!(total.load(Ordering::Relaxed), 4 * 100 * 4);
    }

    #[test]
    fn a_stage_after_a_long_pause_wakes_parked_helpers() {
        let team = Team::new(2);
        let seen = Mutex::new(Vec::new());
        for _ in 0..3 {
            std::thread::sleep(SPIN * 5);
            team.run(8, &|_| {
                seen.lock().unwrap().push(std::thread::current().id());
            });
        }
        assert_eq!(seen.lock().unwrap().len(), 24);
    }

    #[test]
    fn a_panicking_task_is_resumed_on_the_caller_after_the_stage() {
        let team = Team::new(2);
        let ran = AtomicUsize::new(0);
        let result = catch_unwind(AssertUnwindSafe(|| {
            team.run(16, &|i| {
                ran.fetch_add(1, Ordering::Relaxed);
                if i == 5 {
                    panic!("task 5");
                }
            })
        }));
        let payload = result.expect_err("the panic reaches the caller");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"task 5"));
        assert_eq!(ran.load(Ordering::Relaxed), 16);
        // the team still works afterwards
        let after = AtomicUsize::new(0);
        team.run(4, &|_| {
            after.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(after.load(Ordering::Relaxed), 4);
    }
}
