//! Linux: rlimits, capabilities, no-new-privs, Landlock and the seccomp allow-list (see the
//! parent module for what each layer does and why).

use super::{Confinement, MAX_FILE_BYTES, MAX_OPEN_FILES, Policy};
use landlock::{
    ABI, Access, AccessFs, AccessNet, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus,
    Scope, path_beneath_rules,
};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use std::collections::BTreeMap;

pub(super) fn apply(policy: &Policy, audit: bool) -> Confinement {
    let mut c = Confinement::default();
    let mut record = |layer: &str, r: Result<Option<String>, String>| match r {
        Ok(None) => c.layers.push(layer.to_string()),
        Ok(Some(part)) => c.layers.push(format!("{layer} ({part})")),
        Err(why) => c.missing.push(format!("{layer}: {why}")),
    };
    record("rlimits", rlimits(policy));
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        record("capabilities-dropped", drop_capabilities());
    }
    record("no-new-privs", no_new_privs());
    record("landlock", landlock(policy));
    record("seccomp", seccomp(audit));
    c
}

fn set_limit(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) -> Result<(), String> {
    let limit = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `limit` is a valid rlimit for the duration of the call.
    if unsafe { libc::setrlimit(resource, &limit) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error().to_string())
    }
}

fn get_limit(resource: libc::__rlimit_resource_t) -> libc::rlimit {
    let mut limit = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: `limit` is writable for the duration of the call.
    unsafe { libc::getrlimit(resource, &mut limit) };
    limit
}

/// Lowers a limit (never raises one the caller set lower).
fn cap_limit(resource: libc::__rlimit_resource_t, value: u64) -> Result<(), String> {
    let now = get_limit(resource);
    let v = value.min(now.rlim_max);
    set_limit(resource, v, v)
}

fn rlimits(policy: &Policy) -> Result<Option<String>, String> {
    cap_limit(libc::RLIMIT_CORE, 0).map_err(|e| format!("core: {e}"))?;
    cap_limit(libc::RLIMIT_NOFILE, MAX_OPEN_FILES).map_err(|e| format!("nofile: {e}"))?;
    cap_limit(libc::RLIMIT_FSIZE, MAX_FILE_BYTES).map_err(|e| format!("fsize: {e}"))?;
    if policy.data_bytes > 0 {
        cap_limit(libc::RLIMIT_DATA, policy.data_bytes).map_err(|e| format!("data: {e}"))?;
    }
    Ok(None)
}

pub(super) fn cpu_backstop(seconds: u64) {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` is writable; getrusage fills it.
    let used = if unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } == 0 {
        // SAFETY: filled by the successful call.
        let u = unsafe { usage.assume_init() };
        (u.ru_utime.tv_sec + u.ru_stime.tv_sec) as u64 + 1
    } else {
        0
    };
    let hard = get_limit(libc::RLIMIT_CPU).rlim_max;
    let _ = set_limit(libc::RLIMIT_CPU, (used + seconds).min(hard), hard);
}

fn drop_capabilities() -> Result<Option<String>, String> {
    use caps::CapSet;
    let err = |e: caps::errors::CapsError| e.to_string();
    // The bounding set first: dropping from it needs CAP_SETPCAP, which goes next.
    for cap in caps::all() {
        caps::drop(None, CapSet::Bounding, cap).map_err(err)?;
    }
    caps::clear(None, CapSet::Ambient).map_err(err)?;
    caps::clear(None, CapSet::Inheritable).map_err(err)?;
    caps::clear(None, CapSet::Effective).map_err(err)?;
    caps::clear(None, CapSet::Permitted).map_err(err)?;
    Ok(None)
}

fn no_new_privs() -> Result<Option<String>, String> {
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } == 0 {
        Ok(None)
    } else {
        Err(std::io::Error::last_os_error().to_string())
    }
}

fn landlock(policy: &Policy) -> Result<Option<String>, String> {
    let fs = ABI::V5;
    let err = |e: landlock::RulesetError| e.to_string();
    let status = Ruleset::default()
        .handle_access(AccessFs::from_all(fs))
        .map_err(err)?
        .handle_access(AccessNet::from_all(ABI::V4))
        .map_err(err)?
        .scope(Scope::from_all(ABI::V6))
        .map_err(err)?
        .create()
        .map_err(err)?
        .add_rules(path_beneath_rules(&policy.read, AccessFs::from_read(fs)))
        .map_err(err)?
        .add_rules(path_beneath_rules(&policy.write, AccessFs::from_all(fs)))
        .map_err(err)?
        .restrict_self()
        .map_err(err)?;
    match status.ruleset {
        RulesetStatus::FullyEnforced => Ok(None),
        RulesetStatus::PartiallyEnforced => Ok(Some("partial: an older kernel ABI".into())),
        RulesetStatus::NotEnforced => Err("not supported by this kernel".into()),
    }
}

/// System calls allowed with any arguments.
const ALLOWED: &[libc::c_long] = &[
    // Files (Landlock decides which paths).
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_readv,
    libc::SYS_writev,
    libc::SYS_pread64,
    libc::SYS_pwrite64,
    libc::SYS_preadv,
    libc::SYS_pwritev,
    libc::SYS_openat,
    libc::SYS_close,
    libc::SYS_close_range,
    libc::SYS_fstat,
    libc::SYS_newfstatat,
    libc::SYS_statx,
    libc::SYS_statfs,
    libc::SYS_fstatfs,
    libc::SYS_lseek,
    libc::SYS_getdents64,
    libc::SYS_faccessat,
    libc::SYS_faccessat2,
    libc::SYS_readlinkat,
    libc::SYS_getcwd,
    libc::SYS_fcntl,
    libc::SYS_flock,
    libc::SYS_dup,
    libc::SYS_dup3,
    libc::SYS_mkdirat,
    libc::SYS_renameat,
    libc::SYS_renameat2,
    libc::SYS_unlinkat,
    libc::SYS_ftruncate,
    libc::SYS_fallocate,
    libc::SYS_fsync,
    libc::SYS_fdatasync,
    libc::SYS_copy_file_range,
    libc::SYS_sendfile,
    libc::SYS_ppoll,
    libc::SYS_pselect6,
    // wasmtime-wasi's WASI calls run on a small tokio runtime (an epoll loop woken by an
    // eventfd).
    libc::SYS_epoll_create1,
    libc::SYS_epoll_ctl,
    libc::SYS_epoll_pwait,
    libc::SYS_epoll_pwait2,
    libc::SYS_eventfd2,
    // Memory.
    libc::SYS_brk,
    libc::SYS_mmap,
    libc::SYS_munmap,
    libc::SYS_mprotect,
    libc::SYS_mremap,
    libc::SYS_madvise,
    libc::SYS_msync,
    libc::SYS_mincore,
    libc::SYS_membarrier,
    libc::SYS_memfd_create,
    // Threads and synchronisation.
    libc::SYS_futex,
    libc::SYS_set_robust_list,
    libc::SYS_get_robust_list,
    libc::SYS_set_tid_address,
    libc::SYS_rseq,
    libc::SYS_sched_yield,
    libc::SYS_sched_getaffinity,
    libc::SYS_getcpu,
    libc::SYS_exit,
    libc::SYS_exit_group,
    libc::SYS_restart_syscall,
    libc::SYS_prctl,
    // clone3 is allowed here and answered ENOSYS by the second filter, so that the C library
    // falls back to clone, whose flags a filter can see.
    libc::SYS_clone3,
    // Signals (to itself only: see tgkill below).
    libc::SYS_rt_sigaction,
    libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigreturn,
    libc::SYS_sigaltstack,
    // Clocks, identity, randomness.
    libc::SYS_clock_gettime,
    libc::SYS_clock_getres,
    libc::SYS_clock_nanosleep,
    libc::SYS_nanosleep,
    libc::SYS_gettimeofday,
    libc::SYS_getrusage,
    libc::SYS_times,
    libc::SYS_getrandom,
    libc::SYS_getpid,
    libc::SYS_gettid,
    libc::SYS_getppid,
    libc::SYS_getuid,
    libc::SYS_geteuid,
    libc::SYS_getgid,
    libc::SYS_getegid,
    libc::SYS_getresuid,
    libc::SYS_getresgid,
    libc::SYS_getgroups,
    libc::SYS_uname,
    libc::SYS_sysinfo,
];

/// The same, for calls only x86_64 has (aarch64 has only their `*at` forms, listed above).
#[cfg(target_arch = "x86_64")]
const ALLOWED_X86_64: &[libc::c_long] = &[
    libc::SYS_open,
    libc::SYS_stat,
    libc::SYS_lstat,
    libc::SYS_access,
    libc::SYS_readlink,
    libc::SYS_dup2,
    libc::SYS_mkdir,
    libc::SYS_rename,
    libc::SYS_unlink,
    libc::SYS_poll,
    libc::SYS_select,
    libc::SYS_epoll_wait,
    libc::SYS_time,
    libc::SYS_getrlimit,
    libc::SYS_arch_prctl,
];

#[cfg(not(target_arch = "x86_64"))]
const ALLOWED_X86_64: &[libc::c_long] = &[];

fn condition(arg: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition, String> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Qword, op, value).map_err(|e| e.to_string())
}

fn rule(conditions: Vec<SeccompCondition>) -> Result<SeccompRule, String> {
    SeccompRule::new(conditions).map_err(|e| e.to_string())
}

fn seccomp(audit: bool) -> Result<Option<String>, String> {
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(|e| e.to_string())?;
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = ALLOWED
        .iter()
        .chain(ALLOWED_X86_64)
        .map(|&n| (n, Vec::new()))
        .collect();
    // Threads, never processes.
    let thread = libc::CLONE_THREAD as u64;
    rules.insert(
        libc::SYS_clone,
        vec![rule(vec![condition(
            0,
            SeccompCmpOp::MaskedEq(thread),
            thread,
        )?])?],
    );
    // Signals to its own threads only (abort, wasmtime's traps).
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() } as u64;
    rules.insert(
        libc::SYS_tgkill,
        vec![rule(vec![condition(0, SeccompCmpOp::Eq, pid)?])?],
    );
    // Its own limits only.
    rules.insert(
        libc::SYS_prlimit64,
        vec![rule(vec![condition(0, SeccompCmpOp::Eq, 0)?])?],
    );
    // A connected pair of Unix sockets, reachable by no address: tokio's signal driver (in
    // wasmtime-wasi's runtime) wakes itself through one. No other socket.
    rules.insert(
        libc::SYS_socketpair,
        vec![rule(vec![condition(
            0,
            SeccompCmpOp::Eq,
            libc::AF_UNIX as u64,
        )?])?],
    );
    // Terminal queries and non-blocking flags; no device control. (The cast: libc's request
    // type differs between targets.)
    #[allow(clippy::unnecessary_cast)]
    rules.insert(
        libc::SYS_ioctl,
        [libc::TCGETS, libc::FIONBIO, libc::FIOCLEX, libc::FIONCLEX]
            .iter()
            .map(|&request| rule(vec![condition(1, SeccompCmpOp::Eq, request as u64)?]))
            .collect::<Result<_, _>>()?,
    );
    let otherwise = if audit {
        SeccompAction::Log
    } else {
        SeccompAction::KillProcess
    };
    let allow: BpfProgram = SeccompFilter::new(rules, otherwise, SeccompAction::Allow, arch)
        .and_then(TryInto::try_into)
        .map_err(|e| e.to_string())?;
    let no_clone3: BpfProgram = SeccompFilter::new(
        BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .and_then(TryInto::try_into)
    .map_err(|e| e.to_string())?;
    seccompiler::apply_filter_all_threads(&no_clone3).map_err(|e| e.to_string())?;
    seccompiler::apply_filter_all_threads(&allow).map_err(|e| e.to_string())?;
    Ok(audit.then(|| "log only".to_string()))
}
