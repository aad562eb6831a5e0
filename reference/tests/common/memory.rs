//! This test process's memory, as the kernel reports it (`/proc/self/status`): the brokers of
//! these tests run in-process, so their memory is the process's.

/// A `kB` field of `/proc/self/status` (`VmRSS:`, `VmHWM:`), in bytes.
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in kB in /proc/self/status"));
    kib * 1024
}

/// Resident set size now (`VmRSS`).
pub fn rss_bytes() -> u64 {
    status_bytes("VmRSS:")
}

/// Peak resident set size (`VmHWM`) since the process started or [`reset_peak`].
pub fn peak_rss_bytes() -> u64 {
    status_bytes("VmHWM:")
}

/// Resets the peak to the current RSS (Linux 4.0+), so that a peak measured next is the
/// work's that follows; false where the kernel does not allow it.
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}
