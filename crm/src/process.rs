//! Settings a host process may choose for running the engine.

/// Turns transparent huge pages off for the calling process (Linux; elsewhere it does
/// nothing) and says whether they are off. Bulk calls allocate and free many small records;
/// with huge pages the allocator's fresh memory comes in 2 MiB pages the kernel zeroes on
/// first touch, which made bulk inserts up to 1.6 times as slow on a machine with much free
/// memory. The engine never calls this itself: the process is the host's. The shells and the
/// benchmarks call it first thing.
pub fn use_small_pages() -> bool {
    #[cfg(target_os = "linux")]
    {
        rustix::thread::disable_transparent_huge_pages(true).is_ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn small_pages_stay_on_for_the_process() {
        assert!(super::use_small_pages(), "prctl refused");
        assert_eq!(rustix::thread::transparent_huge_pages_are_disabled().ok(), Some(true));
    }
}
