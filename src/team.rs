//! Internal: a small team of helper threads that the *calling* thread works with.
//!
//! A parallel loop started on rayon's pool from a thread outside the pool hands the whole
//! loop to the pool and puts the caller to sleep until a worker wakes it again. That costs
//! two cross-thread wake-ups per loop, which on virtual machines are slow: on the 2-vCPU VM
//! the benchmarks run on, an empty `rayon::join` from the main thread takes 20–30 µs, a third
//! of the budget of a whole sampling step of 8×16×24×24.
//!
//! The team avoids both wake-ups for the loops this crate runs (diffuse, undiffuse, the
//! sampling step's two passes): the caller publishes the loop, takes tasks from it itself,
//! and the helpers (one fewer than rayon's thread count) join in as they come. Helpers that
//! just finished a loop keep looking for the next one for a short while before they sleep,
//! and the caller waits for helpers still inside the loop by spinning, since they are
//! running. Which thread takes which task never changes the result: every task writes its
//! own outputs.
//!
//! [`overlap`] opens a loop to the helpers *without* the caller, which meanwhile does work
//! of its own and joins the loop afterwards: a sampling step's noise, which does not depend
//! on the model's prediction, is drawn on the helpers while the caller runs the model.
//!
//! The team serves one loop at a time. A second caller while it is busy, a caller that is a
//! rayon worker (nested parallelism is rayon's business) and a re-entrant call from inside a
//! task all get `false` from [`try_run`] and use rayon instead.

use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long an idle helper spins (busy-waits) for the next loop.
const SPIN: Duration = Duration::from_micros(5);
/// How long an idle helper keeps looking, yielding its core between looks, before it sleeps.
const LOOK: Duration = Duration::from_micros(500);

/// `state`: bit 0 is set while a loop is open to helpers, bits 1..32 count the helpers inside
/// it, bits 32..64 number the loops (so a helper does not re-enter one it already left).
const OPEN: u64 = 1;
const ONE_HELPER: u64 = 2;
const ACTIVE: u64 = 0xffff_fffe;

fn epoch(state: u64) -> u64 {
    state >> 32
}

/// One published loop. It lives on the caller's stack; helpers reach it only while counted
/// in `state`, and the caller does not return before that count is back to zero.
struct Job<'a> {
    f: &'a (dyn Fn(usize) + Sync),
    /// Participants so far (the caller is the first).
    joined: AtomicUsize,
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

/// A contiguous share of a loop's tasks: each participant streams through its own share
/// (so memory-bound loops read long runs, as hardware prefetchers like), then takes what is
/// left of the others'.
#[repr(align(64))]
struct Share {
    next: AtomicUsize,
    end: AtomicUsize,
}

struct Team {
    owner: AtomicBool,
    state: AtomicU64,
    job: AtomicPtr<Job<'static>>,
    /// One share per participant (the caller and each helper, so one more than the helpers),
    /// reset by each loop's owner.
    shares: Box<[Share]>,
    sleeping: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
}

static TEAM: OnceLock<Team> = OnceLock::new();

impl Team {
    fn get() -> &'static Team {
        TEAM.get_or_init(|| Team {
            owner: AtomicBool::new(false),
            state: AtomicU64::new(0),
            job: AtomicPtr::new(core::ptr::null_mut()),
            // Called from outside rayon's pool, so this is the global pool's size
            // (RAYON_NUM_THREADS, or the number of cores).
            shares: (0..rayon::current_num_threads().max(1))
                .map(|_| Share {
                    next: AtomicUsize::new(0),
                    end: AtomicUsize::new(0),
                })
                .collect(),
            sleeping: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        })
    }

    /// The number of helper threads.
    fn helpers(&self) -> usize {
        self.shares.len() - 1
    }

    /// Splits `tasks` into one contiguous share per participant.
    fn split(&self, tasks: usize) {
        let n = self.shares.len();
        for (k, sh) in self.shares.iter().enumerate() {
            sh.next.store(tasks * k / n, Ordering::Relaxed);
            sh.end.store(tasks * (k + 1) / n, Ordering::Relaxed);
        }
    }

    /// Takes tasks, from share `first` on, until none are left.
    fn work(&self, job: &Job<'_>, first: usize) {
        let n = self.shares.len();
        for k in (first..n).chain(0..first) {
            let sh = &self.shares[k];
            let end = sh.end.load(Ordering::Relaxed);
            loop {
                let t = sh.next.fetch_add(1, Ordering::Relaxed);
                if t >= end {
                    break;
                }
                (job.f)(t);
            }
        }
    }

    /// Leaves the remaining tasks undone (after a panic, which is re-raised anyway).
    fn abandon(&self) {
        for sh in self.shares.iter() {
            sh.next
                .store(sh.end.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }

    /// Whether a loop this helper has not yet entered is open.
    fn new_loop(state: u64, seen: u64) -> bool {
        state & OPEN != 0 && epoch(state) != seen
    }

    fn helper(&'static self) {
        let mut seen = u64::MAX;
        let mut idle_since = Instant::now();
        loop {
            let s = self.state.load(Ordering::Acquire);
            if Self::new_loop(s, seen) {
                // Enter only the loop that was read, and only while it is open.
                if self
                    .state
                    .compare_exchange_weak(s, s + ONE_HELPER, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
                {
                    seen = epoch(s);
                    // SAFETY: the pointer was stored before the loop was opened (release on
                    // `state`, acquired by the exchange above), and the caller keeps the job
                    // alive until this helper leaves (the decrement below).
                    let job = unsafe { &*self.job.load(Ordering::Acquire) };
                    let me = job.joined.fetch_add(1, Ordering::Relaxed) % self.shares.len();
                    if let Err(p) = catch_unwind(AssertUnwindSafe(|| self.work(job, me))) {
                        self.abandon();
                        *job.panic.lock().unwrap_or_else(|e| e.into_inner()) = Some(p);
                    }
                    self.state.fetch_sub(ONE_HELPER, Ordering::Release);
                    idle_since = Instant::now();
                }
                continue;
            }
            let idle = idle_since.elapsed();
            if idle < SPIN {
                for _ in 0..64 {
                    core::hint::spin_loop();
                }
            } else if idle < LOOK {
                std::thread::yield_now();
            } else {
                let guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
                // Announce the sleep before the last look: a caller that opens a loop after
                // that look sees the count and wakes us (both sides are sequentially
                // consistent), one that opened it before is seen by the look.
                self.sleeping.fetch_add(1, Ordering::SeqCst);
                if !Self::new_loop(self.state.load(Ordering::SeqCst), seen) {
                    let _unused = self.wake.wait_timeout(guard, Duration::from_secs(1));
                }
                self.sleeping.fetch_sub(1, Ordering::SeqCst);
                idle_since = Instant::now();
            }
        }
    }
}

/// Starts the helper threads (once per process). One that cannot be started leaves its share
/// of each loop to the others, so the team works with however many there are.
fn start(team: &'static Team) {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        for i in 0..team.helpers() {
            let _spawned = std::thread::Builder::new()
                .name(format!("gdf-helper-{i}"))
                .spawn(move || team.helper());
        }
    });
}

/// Closes the loop and waits for the helpers inside it, also when the caller's own tasks
/// panic.
struct Close<'t> {
    team: &'t Team,
}

impl Drop for Close<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.team.abandon();
        }
        self.team.state.fetch_and(!OPEN, Ordering::AcqRel);
        let mut spins = 0u32;
        while self.team.state.load(Ordering::Acquire) & ACTIVE != 0 {
            spins += 1;
            if spins < 1 << 12 {
                core::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        self.team.owner.store(false, Ordering::Release);
    }
}

/// Runs `f(0), …, f(tasks - 1)` on the calling thread and the team's helpers (on the calling
/// thread alone when rayon is set to one thread), and returns `true`; or returns `false`
/// without running anything when the team cannot take the loop (see the module docs), and
/// the caller should use rayon.
///
/// A panic in any task is re-raised here after every helper has left the loop.
pub(crate) fn try_run(tasks: usize, f: &(dyn Fn(usize) + Sync)) -> bool {
    if rayon::current_thread_index().is_some() {
        return false;
    }
    let team = Team::get();
    if team.helpers() == 0 {
        (0..tasks).for_each(f);
        return true;
    }
    if !team.take() {
        return false;
    }
    team.open_and_run(tasks, f, || ());
    true
}

/// The number of helper threads the team lends the calling thread: zero inside rayon's pool
/// (whose loops are rayon's business) or when rayon is set to one thread.
pub(crate) fn helpers() -> usize {
    if rayon::current_thread_index().is_some() {
        return 0;
    }
    Team::get().helpers()
}

/// Runs `main` on the calling thread while the team's helpers run `f(0), …, f(tasks - 1)`;
/// once `main` returns, the caller takes the tasks still left and waits for the helpers
/// inside the loop. Returns what `main` returned.
///
/// This overlaps work that does not depend on `main` (a sampling step's noise) with work the
/// caller must do itself (the model call). When the team cannot take the loop (no helpers, a
/// caller inside rayon's pool, the team busy), `main` runs first and the tasks after it, on
/// the caller. A panic in `main` or in a task is re-raised after every helper has left.
pub(crate) fn overlap<R>(tasks: usize, f: &(dyn Fn(usize) + Sync), main: impl FnOnce() -> R) -> R {
    // Inside rayon's pool the team is not even sized (it takes the global pool's size).
    let team = (tasks > 0 && rayon::current_thread_index().is_none()).then(Team::get);
    match team {
        Some(team) if team.helpers() > 0 && team.take() => team.open_and_run(tasks, f, main),
        _ => {
            let r = main();
            (0..tasks).for_each(f);
            r
        }
    }
}

impl Team {
    /// Takes the team for one loop (`false` when another caller holds it).
    fn take(&self) -> bool {
        self.owner
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// With the team taken: opens the loop of `f` to the helpers, runs `main`, then takes
    /// the tasks still left, waits for the helpers and frees the team.
    fn open_and_run<R>(
        &'static self,
        tasks: usize,
        f: &(dyn Fn(usize) + Sync),
        main: impl FnOnce() -> R,
    ) -> R {
        start(self);
        let job = Job {
            f,
            joined: AtomicUsize::new(1),
            panic: Mutex::new(None),
        };
        self.split(tasks);
        let r = {
            // From here until `close` is dropped, helpers may hold `&job`.
            let close = Close { team: self };
            self.job.store(
                &job as *const Job<'_> as *mut Job<'static>,
                Ordering::Release,
            );
            let next = (epoch(self.state.load(Ordering::Relaxed)) + 1) & 0xffff_ffff;
            self.state.store(next << 32 | OPEN, Ordering::SeqCst);
            if self.sleeping.load(Ordering::SeqCst) > 0 {
                let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
                self.wake.notify_all();
            }
            let r = main();
            self.work(&job, 0);
            drop(close);
            r
        };
        if let Some(p) = job.panic.lock().unwrap_or_else(|e| e.into_inner()).take() {
            resume_unwind(p);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    fn count_each(tasks: usize) -> Vec<u32> {
        let hits: Vec<AtomicU32> = (0..tasks).map(|_| AtomicU32::new(0)).collect();
        let f = |t: usize| {
            hits[t].fetch_add(1, Ordering::Relaxed);
        };
        if !try_run(tasks, &f) {
            (0..tasks).for_each(f);
        }
        hits.into_iter().map(|h| h.into_inner()).collect()
    }

    #[test]
    fn every_task_runs_exactly_once_from_many_callers() {
        // Several callers at once: one holds the team, the others fall back; each loop still
        // runs each of its tasks exactly once.
        std::thread::scope(|s| {
            for k in 0..4 {
                s.spawn(move || {
                    for round in 0..200 {
                        let tasks = (k * 37 + round) % 50;
                        assert!(count_each(tasks).iter().all(|&h| h == 1), "{tasks} tasks");
                    }
                });
            }
        });
    }

    #[test]
    fn overlap_runs_main_once_and_every_task_once() {
        for tasks in [0, 1, 2, 7, 50] {
            let hits: Vec<AtomicU32> = (0..tasks).map(|_| AtomicU32::new(0)).collect();
            let f = |t: usize| {
                hits[t].fetch_add(1, Ordering::Relaxed);
            };
            let mut mains = 0;
            // `main` may take a while (a model call): the helpers go on meanwhile.
            let r = overlap(tasks, &f, || {
                mains += 1;
                std::thread::sleep(Duration::from_micros(200));
                tasks * 3
            });
            assert_eq!((r, mains), (tasks * 3, 1));
            assert!(
                hits.iter().all(|h| h.load(Ordering::Relaxed) == 1),
                "{tasks} tasks"
            );
        }
        // A loop started inside `main` finds the team busy and is refused, not deadlocked.
        let inner = overlap(4, &|_| {}, || try_run(3, &|_| {}));
        assert!(!inner || helpers() == 0);
    }

    #[test]
    fn a_panic_in_overlaps_main_frees_the_team() {
        let payload = catch_unwind(|| overlap(16, &|_| {}, || panic!("main"))).unwrap_err();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"main"));
        for _ in 0..100 {
            assert!(count_each(16).iter().all(|&h| h == 1));
        }
    }

    #[test]
    fn a_task_may_start_another_loop() {
        let inner = AtomicUsize::new(0);
        let f = |_t: usize| {
            // The team is held by the outer loop (or a rayon worker runs this): the inner
            // loop is refused, never deadlocked.
            if !try_run(3, &|_| {
                inner.fetch_add(1, Ordering::Relaxed);
            }) {
                inner.fetch_add(3, Ordering::Relaxed);
            }
        };
        if !try_run(8, &f) {
            (0..8).for_each(f);
        }
        assert_eq!(inner.load(Ordering::Relaxed), 24);
    }

    #[test]
    fn a_panicking_task_panics_the_caller_and_frees_the_team() {
        // Other tests may hold the team for a moment: retry until this loop gets it.
        let payload = loop {
            match catch_unwind(|| {
                try_run(64, &|t| {
                    if t == 40 {
                        panic!("task 40");
                    }
                })
            }) {
                Ok(false) => std::thread::yield_now(),
                Ok(true) => panic!("the loop returned although a task panicked"),
                Err(p) => break p,
            }
        };
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"task 40"));
        // The team is usable afterwards.
        for _ in 0..100 {
            assert!(count_each(16).iter().all(|&h| h == 1));
        }
    }
}
