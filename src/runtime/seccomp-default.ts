// docker's default seccomp profile (moby profiles/seccomp/default.json), as bale's own data: which
// calls a container may make, which only when it holds a capability, and the few allowed only with
// certain arguments. Everything else fails with EPERM.
//
// The calls refused this way are the ones that reach past the container: kernel keyrings (keyctl,
// add_key, request_key), bpf and perf_event_open, modules, kexec, reboot, the clock, swap, quotas,
// mounts and new namespaces, open_by_handle_at (the "shocker" escape), ptrace on old kernels.
import type { Profile, Rule } from './seccomp.js';

const words = (s: string): string[] => s.trim().split(/\s+/);

/** Allowed whatever the container's capabilities. */
const ALLOWED = words(`
  accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32
  clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
  clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3
  epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old
  eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate
  fanotify_mark fchdir fchmod fchmodat fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr
  flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate
  ftruncate64 futex futex_time64 futex_waitv futimesat getcpu getcwd getdents getdents64 getegid
  getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp
  getpid getppid getpriority getrandom getresgid getresgid32 getresuid getresuid32 getrlimit
  get_robust_list getrusage getsid getsockname getsockopt get_thread_area gettid gettimeofday getuid
  getuid32 getxattr inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl
  io_destroy io_getevents io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit
  io_uring_enter io_uring_register io_uring_setup ipc kill landlock_add_rule landlock_create_ruleset
  landlock_restrict_self lchown lchown32 lgetxattr link linkat listen listxattr llistxattr _llseek
  lremovexattr lseek lsetxattr lstat lstat64 madvise membarrier memfd_create memfd_secret mincore mkdir
  mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open
  mq_timedreceive mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap msgctl msgget
  msgrcv msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat _newselect open
  openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll
  ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64
  pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg
  recvmmsg_time64 recvmsg remap_file_pages removexattr rename renameat renameat2 restart_syscall rmdir
  rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend
  rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity sched_getattr
  sched_getparam sched_get_priority_max sched_get_priority_min sched_getscheduler sched_rr_get_interval
  sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam sched_setscheduler
  sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64 send sendfile sendfile64
  sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32
  setitimer setpgid setpriority setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid
  setreuid32 setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setuid32
  setxattr shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn
  socketcall socketpair splice stat stat64 statfs statfs64 statx symlink symlinkat sync sync_file_range
  syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun timer_gettime
  timer_gettime64 timer_settime timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64
  timerfd_settime timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask uname unlink
  unlinkat utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev
`);

/** Allowed only to a container holding the capability. */
const BY_CAP: [string, string[]][] = [
  ['CAP_DAC_READ_SEARCH', ['open_by_handle_at']],
  ['CAP_SYS_ADMIN', words(`bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount
    mount_setattr move_mount open_tree perf_event_open quotactl quotactl_fd setdomainname sethostname setns
    syslog umount umount2 unshare`)],
  ['CAP_SYS_BOOT', ['reboot']],
  ['CAP_SYS_CHROOT', ['chroot']],
  ['CAP_SYS_MODULE', ['delete_module', 'init_module', 'finit_module']],
  ['CAP_SYS_PACCT', ['acct']],
  ['CAP_SYS_PTRACE', ['kcmp', 'pidfd_getfd', 'process_madvise', 'process_vm_readv', 'process_vm_writev', 'ptrace']],
  ['CAP_SYS_RAWIO', ['iopl', 'ioperm']],
  ['CAP_SYS_TIME', ['settimeofday', 'stime', 'clock_settime', 'clock_settime64']],
  ['CAP_SYS_TTY_CONFIG', ['vhangup']],
  ['CAP_SYS_NICE', ['get_mempolicy', 'mbind', 'set_mempolicy', 'set_mempolicy_home_node']],
  ['CAP_SYSLOG', ['syslog']],
  ['CAP_BPF', ['bpf']],
  ['CAP_PERFMON', ['perf_event_open']],
];

/** Allowed only on these architectures (docker's names for them). */
const BY_ARCH: [string[], string[]][] = [
  [['ppc64le'], ['sync_file_range2', 'swapcontext']],
  [['arm', 'arm64'], ['arm_fadvise64_64', 'arm_sync_file_range', 'sync_file_range2', 'breakpoint', 'cacheflush', 'set_tls']],
  [['amd64', 'x32'], ['arch_prctl']],
  [['amd64', 'x32', 'x86'], ['modify_ldt']],
  [['s390', 's390x'], ['s390_pci_mmio_read', 's390_pci_mmio_write', 's390_runtime_instr']],
  [['riscv64'], ['riscv_flush_icache']],
];

/** personality(2) values a program may ask for: Linux, UNAME26, ADDR_NO_RANDOMIZE, both, and the query. */
const PERSONALITIES = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

/** AF_VSOCK: sockets to the hypervisor are refused; every other family is allowed. */
const AF_VSOCK = 40;

/** clone(2) flags that make new namespaces: allowed only with CAP_SYS_ADMIN. */
const CLONE_NEW_ANY =
  0x00020000 /* NEWNS */ | 0x02000000 /* NEWCGROUP */ | 0x04000000 /* NEWUTS */ | 0x08000000 /* NEWIPC */ |
  0x10000000 /* NEWUSER */ | 0x20000000 /* NEWPID */ | 0x40000000; /* NEWNET */

const ENOSYS = 38;

const rule = (names: string[], extra: Partial<Rule> = {}): Rule => ({ names, action: 'allow', args: [], includes: {}, excludes: {}, ...extra });

export function dockerDefaultProfile(): Profile {
  const noAdmin = { caps: ['CAP_SYS_ADMIN'] };
  return {
    defaultAction: 'errno:1',
    architectures: [],
    archMap: [
      { arch: 'SCMP_ARCH_X86_64', sub: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
      { arch: 'SCMP_ARCH_AARCH64', sub: ['SCMP_ARCH_ARM'] },
      { arch: 'SCMP_ARCH_MIPS64', sub: ['SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64N32'] },
      { arch: 'SCMP_ARCH_MIPS64N32', sub: ['SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64'] },
      { arch: 'SCMP_ARCH_MIPSEL64', sub: ['SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64N32'] },
      { arch: 'SCMP_ARCH_MIPSEL64N32', sub: ['SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64'] },
      { arch: 'SCMP_ARCH_S390X', sub: ['SCMP_ARCH_S390'] },
      { arch: 'SCMP_ARCH_RISCV64', sub: [] },
    ],
    rules: [
      rule(ALLOWED),
      // ptrace became safe to allow once the kernel stopped it bypassing seccomp (4.8).
      rule(['process_vm_readv', 'process_vm_writev', 'ptrace'], { includes: { minKernel: '4.8' } }),
      rule(['socket'], { args: [{ index: 0, op: 'ne', value: AF_VSOCK, valueTwo: 0 }] }),
      ...PERSONALITIES.map((v) => rule(['personality'], { args: [{ index: 0, op: 'eq', value: v, valueTwo: 0 }] })),
      ...BY_ARCH.map(([arches, names]) => rule(names, { includes: { arches } })),
      ...BY_CAP.map(([cap, names]) => rule(names, { includes: { caps: [cap] } })),
      // Without CAP_SYS_ADMIN: clone without namespace flags (s390 passes flags second)...
      rule(['clone'], { args: [{ index: 0, op: 'masked_eq', value: CLONE_NEW_ANY, valueTwo: 0 }], excludes: { ...noAdmin, arches: ['s390', 's390x'] } }),
      rule(['clone'], { args: [{ index: 1, op: 'masked_eq', value: CLONE_NEW_ANY, valueTwo: 0 }], includes: { arches: ['s390', 's390x'] }, excludes: noAdmin }),
      // ...and clone3, whose flags sit in memory a filter cannot read, says ENOSYS so libc falls back to clone.
      rule(['clone3'], { action: `errno:${ENOSYS}`, excludes: noAdmin }),
    ],
  };
}
