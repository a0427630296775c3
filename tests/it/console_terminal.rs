//! Terminal safety pieces that can run without a terminal: the panic hook restores the
//! terminal *and then* calls the hook that was installed before it, and dropping the guard
//! puts that previous hook back.

use std::sync::atomic::{AtomicUsize, Ordering};

use triage::console::terminal::PanicHookGuard;

static PREVIOUS_HOOK_CALLS: AtomicUsize = AtomicUsize::new(0);

#[test]
fn panic_hook_is_chained_and_restored() {
    std::panic::set_hook(Box::new(|_| {
        PREVIOUS_HOOK_CALLS.fetch_add(1, Ordering::SeqCst);
    }));
    let guard = PanicHookGuard::install();
    let result = std::panic::catch_unwind(|| panic!("boom inside the console"));
    assert!(result.is_err());
    assert_eq!(
        PREVIOUS_HOOK_CALLS.load(Ordering::SeqCst),
        1,
        "the previous hook still reports the panic"
    );
    drop(guard);
    let result = std::panic::catch_unwind(|| panic!("boom after the console"));
    assert!(result.is_err());
    assert_eq!(
        PREVIOUS_HOOK_CALLS.load(Ordering::SeqCst),
        2,
        "previous hook back in place"
    );
    let _ = std::panic::take_hook();
}
