//! The box init's prepared launchers, each known by the id the server gave
//! it. A run names the launcher it took from the server's slot; taking any
//! other one would start the program in another run's cgroup, under that
//! run's limits (a newer launcher can be prepared while a run that took the
//! older one is still on its way to the init).

use std::collections::VecDeque;

use nix::unistd::Pid;

use crate::protocol::MAX_LAUNCHERS;

/// One prepared launcher: its id, its process, and what the init keeps to
/// talk to it.
#[derive(Debug)]
pub(crate) struct Prepared<T> {
    pub id: u64,
    pub pid: Pid,
    pub link: T,
}

/// The launchers, oldest first.
#[derive(Debug)]
pub(crate) struct Launchers<T> {
    held: VecDeque<Prepared<T>>,
}

impl<T> Launchers<T> {
    pub(crate) fn new() -> Self {
        Launchers { held: VecDeque::new() }
    }

    /// Keeps a new launcher; returns the oldest when that makes one too
    /// many (the caller kills it).
    pub(crate) fn add(&mut self, launcher: Prepared<T>) -> Option<Prepared<T>> {
        self.held.push_back(launcher);
        if self.held.len() > MAX_LAUNCHERS {
            self.held.pop_front()
        } else {
            None
        }
    }

    /// Takes the launcher with this id, if it is still there.
    pub(crate) fn take(&mut self, id: u64) -> Option<Prepared<T>> {
        let at = self.held.iter().position(|l| l.id == id)?;
        self.held.remove(at)
    }

    /// Forgets a launcher whose process has exited.
    pub(crate) fn exited(&mut self, pid: Pid) {
        self.held.retain(|l| l.pid != pid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launcher(id: u64) -> Prepared<()> {
        Prepared { id, pid: Pid::from_raw(100 + id as i32), link: () }
    }

    #[test]
    fn a_run_gets_the_launcher_it_names_even_after_a_newer_one_came() {
        let mut launchers = Launchers::new();
        assert!(launchers.add(launcher(1)).is_none());
        assert!(launchers.add(launcher(2)).is_none());
        assert_eq!(launchers.take(1).map(|l| l.id), Some(1));
        assert!(launchers.take(1).is_none(), "a launcher serves one run");
        assert_eq!(launchers.take(2).map(|l| l.id), Some(2));
    }

    #[test]
    fn an_unknown_or_exited_launcher_is_not_replaced_by_another() {
        let mut launchers = Launchers::new();
        launchers.add(launcher(1));
        launchers.add(launcher(2));
        launchers.exited(Pid::from_raw(101));
        assert!(launchers.take(1).is_none());
        assert!(launchers.take(7).is_none());
        assert_eq!(launchers.take(2).map(|l| l.id), Some(2));
    }

    #[test]
    fn past_the_cap_the_oldest_launcher_is_given_up() {
        let mut launchers = Launchers::new();
        for id in 1..=MAX_LAUNCHERS as u64 {
            assert!(launchers.add(launcher(id)).is_none());
        }
        let evicted = launchers.add(launcher(99)).expect("one too many");
        assert_eq!(evicted.id, 1);
        assert!(launchers.take(1).is_none());
        assert_eq!(launchers.take(99).map(|l| l.id), Some(99));
    }
}
