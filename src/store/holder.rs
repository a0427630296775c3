//! Who holds an outbox lease: `host:pid:start` of a triage process (`start` = the process's start
//! time in clock ticks since boot, from `/proc`, so a reused pid is not mistaken for the holder).
//! A lease whose holder on this host is gone (`kill -9`, a crash, a closed SSH session) is taken
//! over at once instead of waiting for it to lapse; holders on other hosts are trusted until
//! their lease ends.

use std::sync::OnceLock;

/// This process as a lease holder.
pub fn this_process() -> &'static str {
    static HOLDER: OnceLock<String> = OnceLock::new();
    HOLDER.get_or_init(|| {
        let pid = std::process::id();
        let start = start_ticks(pid).unwrap_or(0);
        format!("{}:{pid}:{start}", host())
    })
}

/// This host's name, read once (the lease checks run per row of every outbox round).
fn host() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty() && !h.contains(':'))
            .unwrap_or_else(|| "localhost".to_string())
    })
}

/// The start time of `pid` (field 22 of `/proc/<pid>/stat`), if the process exists.
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// False only when `holder` names a process of this host that no longer runs; a holder of
/// another host, or one that cannot be read, counts as alive.
pub fn alive(holder: &str) -> bool {
    // This process holds most of the leases it looks at: no /proc read for those.
    if holder == this_process() {
        return true;
    }
    let mut parts = holder.rsplitn(3, ':');
    let (Some(start), Some(pid), Some(host_name)) = (parts.next(), parts.next(), parts.next())
    else {
        return true;
    };
    if host_name != host() {
        return true;
    }
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else {
        return true;
    };
    match start_ticks(pid) {
        Some(now) => start == 0 || now == start,
        // Without /proc nothing can be told: alive.
        None => !std::path::Path::new("/proc/self/stat").exists(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_gone_or_reused_pid_is_not() {
        assert!(alive(this_process()));
        let (host_part, _) = this_process().split_once(':').unwrap();
        // pid_max is at most 2^22: this pid cannot exist.
        assert!(!alive(&format!("{host_part}:4294967:1")));
        // Our pid with another start time: the pid was reused, the holder is gone.
        let pid = std::process::id();
        assert!(!alive(&format!("{host_part}:{pid}:1")));
        assert!(alive(&format!("another-host:{pid}:1")));
        assert!(alive("garbage"));
    }
}
