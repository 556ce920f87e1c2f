//! A one-item store: the spare box, a box's prepared launcher.

use std::sync::Mutex;

/// Puts `value` into `slot` if it is empty; false if it was taken (the
/// caller then cleans up what it made).
pub(crate) fn fill_empty_slot<T>(slot: &Mutex<Option<T>>, value: T) -> bool {
    match slot.lock() {
        Ok(mut slot) if slot.is_none() => {
            *slot = Some(value);
            true
        }
        _ => false,
    }
}
