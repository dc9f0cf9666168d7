//! The queue behind a group commit: writers of small rows join it, and one
//! task at a time (the one whose push found nobody writing) takes what has
//! queued, writes it together and answers each. While a write runs, new
//! items queue up for the next, so batches grow with load, and a lone item
//! never waits for company (there is no timer). A writer may give the
//! runtime one turn before each batch ([`GroupQueue::gather`]), so items
//! from tasks that are already ready to run (e.g. calls whose answers just
//! arrived) join this batch rather than each starting a write of its own.
//! With nothing else ready the turn comes straight back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

pub struct GroupQueue<T> {
    items: Mutex<Vec<T>>,
    writing: AtomicBool,
}

impl<T> Default for GroupQueue<T> {
    fn default() -> Self {
        Self { items: Mutex::new(Vec::new()), writing: AtomicBool::new(false) }
    }
}

impl<T> GroupQueue<T> {
    /// Queues `item`; `true` when the caller must start the writer (none
    /// is running), which then takes batches until [`next_batch`] says
    /// there are none left.
    ///
    /// [`next_batch`]: GroupQueue::next_batch
    pub fn push(&self, item: T) -> bool {
        self.items.lock().unwrap_or_else(|e| e.into_inner()).push(item);
        !self.writing.swap(true, Ordering::AcqRel)
    }

    /// [`GroupQueue::next_batch`] after one turn of the runtime, so that
    /// the items of tasks already ready to run join the batch (see the
    /// module's header). The call log takes its batches so (`bench
    /// connections` on SQLite: +20% calls per second, its commits no
    /// longer one per call); the job ledger's completions do not (`bench
    /// jobs` on SQLite: a third fewer jobs per second with it), nor do a
    /// run's progress writes (`bench actions`: no change beyond noise).
    pub async fn gather(&self, max: usize) -> Option<Vec<T>> {
        tokio::task::yield_now().await;
        self.next_batch(max)
    }

    /// The writer's next batch (at most `max` items, oldest first), or
    /// `None` when the queue is empty: the writer's part is then given up.
    pub fn next_batch(&self, max: usize) -> Option<Vec<T>> {
        loop {
            {
                let mut items = self.items.lock().unwrap_or_else(|e| e.into_inner());
                if !items.is_empty() {
                    let n = items.len().min(max.max(1));
                    return Some(items.drain(..n).collect());
                }
            }
            self.writing.store(false, Ordering::Release);
            // An item queued after the look but before the flag dropped
            // would wait for nobody: take the writer's part again.
            let more = !self.items.lock().unwrap_or_else(|e| e.into_inner()).is_empty();
            if !more || self.writing.swap(true, Ordering::AcqRel) {
                return None;
            }
        }
    }
}

impl<T> GroupQueue<T> {
    /// Held by the writer while it writes: should the writer panic, the
    /// writer's part is given up, so the next push starts a new one
    /// instead of every later item waiting for a writer that is gone.
    pub fn writer_guard(&self) -> WriterGuard<'_, T> {
        WriterGuard(self)
    }
}

pub struct WriterGuard<'a, T>(&'a GroupQueue<T>);

impl<T> Drop for WriterGuard<'_, T> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.writing.store(false, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_writer_at_a_time_takes_batches_until_the_queue_is_empty() {
        let q = GroupQueue::default();
        assert!(q.push(1), "the first push starts the writer");
        assert!(!q.push(2), "a writer is running");
        assert!(!q.push(3));
        assert_eq!(q.next_batch(2), Some(vec![1, 2]));
        assert_eq!(q.next_batch(2), Some(vec![3]));
        assert_eq!(q.next_batch(2), None);
        assert!(q.push(4), "the writer gave up its part: the next push starts one");
        assert_eq!(q.next_batch(10), Some(vec![4]));
        assert_eq!(q.next_batch(10), None);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn gather_lets_ready_tasks_queue_their_items_into_the_batch() {
        let q = std::sync::Arc::new(GroupQueue::default());
        assert!(q.push(1));
        // Ready to run, but on this one thread only once the writer yields.
        let pushers: Vec<_> = (2..=4)
            .map(|i| {
                let q = q.clone();
                tokio::spawn(async move { assert!(!q.push(i), "the writer is still running") })
            })
            .collect();
        assert_eq!(q.gather(10).await, Some(vec![1, 2, 3, 4]), "one batch, not one item each");
        for p in pushers {
            p.await.unwrap();
        }
        assert_eq!(q.gather(10).await, None);
        assert!(q.push(5), "the writer gave up its part");
    }
}
