//! The enclave init (PID 1), as a library so the pure parts are unit-tested.
//!
//! The image layout it expects is the one `proofpack build` writes (and the
//! one nitro-cli writes, see `docs/formats/eif-and-pcrs.md` §6):
//!
//! * ramdisk 0 (PCR1): `dev/`, `init` (this program), `nsm.ko` (production only),
//!   `modules/NN-name.ko` (profiles whose kernel needs modules, e.g. `emulator`);
//! * ramdisk 1 (PCR2): `rootfs/…`, `cmd` (argv, one element per line),
//!   `env` (`NAME=value`, one per line).
//!
//! What it does, in order (compare AWS's `init.c`, docs/formats/eif-and-pcrs.md §6.3):
//!
//! 1. mounts `devtmpfs` on `/dev` and re-opens `/dev/console` as
//!    stdin/stdout/stderr, so every later failure is reported on the console;
//! 2. loads `/nsm.ko` with `finit_module` and unlinks it, when the file is
//!    present (kernels with the NSM driver built in ship without it), then
//!    every `/modules/NN-name.ko` in name order (the spec's `modules` list,
//!    e.g. a Debian kernel's `virtio_mmio`, `vsock`, … `nsm`); a module that
//!    fails to load stops the boot with a console line naming it;
//! 3. sends the heartbeat byte `0xB7` to vsock CID 3 port 9000 and waits for
//!    the echo (nitro-cli's "enclave ready" signal);
//! 4. reads `/cmd` and `/env` and unlinks them;
//! 5. bind-mounts `/rootfs` onto itself and moves it onto `/` (`mount
//!    --rbind`, `mount --move` + `chroot`), then mounts
//!    `proc`, `sysfs`, `devtmpfs`, and `tmpfs` on `/run` and `/tmp` inside it;
//! 6. brings the loopback interface `lo` up (see "Loopback" below); a failure
//!    is printed on the console and boot continues;
//! 7. forks; the child execs `cmd[0]` with exactly the `/env` environment
//!    (`PATH` defaults to `/sbin:/usr/sbin:/bin:/usr/bin` when `/env` has none);
//!    the parent reaps every child (it is PID 1) and reboots the enclave when
//!    the application exits, printing its exit status.
//!
//! What it does NOT do compared with AWS's init: no `devpts`, `/dev/shm` or
//! cgroup mounts, no `setsid`/controlling-terminal setup, no `$PATH` search
//! for a relative `cmd[0]` beyond what `execvp` does with the `/env` PATH.
//! Applications that need those must mount them themselves.
//!
//! # Loopback
//!
//! An enclave has no network device, only vsock, and the kernel starts with
//! `lo` down. AWS's `init.c` does not touch `lo` either; AWS's samples bring it
//! up from the application's shell script (`ip link set dev lo up`) before
//! starting a TCP→vsock forwarder. Our image has no shell and no `ip`, and the
//! pack service forwards KMS traffic through `127.0.0.1` (`serve --kms-vsock`),
//! so the init does it: the equivalent of `ip link set dev lo up`, i.e. an
//! `RTM_NEWLINK` request with `IFF_UP` in both `ifi_flags` and `ifi_change`
//! over a `NETLINK_ROUTE` socket. (The classic `SIOCSIFFLAGS` ioctl would do
//! the same, but every ioctl entry point of `rustix` is `unsafe` and this crate
//! forbids `unsafe`; netlink needs only safe `socket`/`sendto`/`recv`.) It is
//! not fatal: an application that does not use loopback still works, and the
//! console says why a KMS forwarder would fail.
//!
//! All syscalls go through `rustix` / `vsock` (safe wrappers), so this crate
//! keeps `unsafe_code = "forbid"`.

use std::fmt;

/// An environment: `(name, value)` pairs in order.
pub type Env = Vec<(String, String)>;

/// Largest `/cmd` or `/env` file read (they are tiny in practice).
pub const MAX_CONFIG_LEN: usize = 64 * 1024;

/// Largest number of argv or env entries.
pub const MAX_ENTRIES: usize = 1024;

/// `PATH` used when `/env` does not set one (same as AWS's init).
pub const DEFAULT_PATH: &str = "/sbin:/usr/sbin:/bin:/usr/bin";

/// vsock CID of the parent instance.
pub const HEARTBEAT_CID: u32 = 3;
/// vsock port nitro-cli listens on for the heartbeat.
pub const HEARTBEAT_PORT: u32 = 9000;
/// The heartbeat byte; nitro-cli echoes it back.
pub const HEARTBEAT_BYTE: u8 = 0xB7;

/// Name of the loopback interface.
pub const LOOPBACK: &str = "lo";
/// `IFNAMSIZ`: interface names are at most 15 bytes plus the NUL.
pub const IFNAMSIZ: usize = 16;

/// Netlink constants (`linux/netlink.h`, `linux/rtnetlink.h`, `linux/if.h`).
const RTM_NEWLINK: u16 = 16;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const IFF_UP: u32 = 0x1;
/// `sizeof(struct nlmsghdr) + sizeof(struct ifinfomsg)`.
pub const LINK_UP_REQUEST_LEN: usize = 32;

/// Errors bringing an interface up.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkError {
    /// Empty name, longer than `IFNAMSIZ - 1` bytes, or containing NUL, `/`
    /// or whitespace (the kernel's `dev_valid_name` rules).
    #[error("invalid interface name {0:?}")]
    BadName(String),
    /// The kernel answered with an error (negative errno in `nlmsgerr`).
    #[error("kernel refused: errno {0}")]
    Kernel(i32),
    /// The reply is not the acknowledgement of our request.
    #[error("unexpected netlink reply: {0}")]
    BadReply(&'static str),
}

/// Checks an interface name the way the kernel does (`dev_valid_name`).
pub fn check_ifname(name: &str) -> Result<(), LinkError> {
    let ok = !name.is_empty()
        && name.len() < IFNAMSIZ
        && name != "."
        && name != ".."
        && !name.bytes().any(|b| b == 0 || b == b'/' || b == b':' || b.is_ascii_whitespace());
    if ok {
        Ok(())
    } else {
        Err(LinkError::BadName(name.chars().take(32).collect()))
    }
}

/// The `RTM_NEWLINK` request that sets `IFF_UP` on interface `index` and
/// leaves every other flag alone (`ifi_change = IFF_UP`), asking for an ACK.
/// Netlink uses host byte order.
pub fn link_up_request(index: u32, seq: u32) -> [u8; LINK_UP_REQUEST_LEN] {
    let mut m = [0u8; LINK_UP_REQUEST_LEN];
    // struct nlmsghdr
    m[0..4].copy_from_slice(&(LINK_UP_REQUEST_LEN as u32).to_ne_bytes());
    m[4..6].copy_from_slice(&RTM_NEWLINK.to_ne_bytes());
    m[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    m[8..12].copy_from_slice(&seq.to_ne_bytes());
    // nlmsg_pid 0: the kernel fills in the port id.
    // struct ifinfomsg: family AF_UNSPEC (0), pad, type 0, index, flags, change.
    m[20..24].copy_from_slice(&index.to_ne_bytes());
    m[24..28].copy_from_slice(&IFF_UP.to_ne_bytes());
    m[28..32].copy_from_slice(&IFF_UP.to_ne_bytes());
    m
}

/// Parses the kernel's reply to [`link_up_request`]: an `NLMSG_ERROR`
/// message for `seq` whose error is 0 (the ACK), or the negative errno.
pub fn parse_link_ack(reply: &[u8], seq: u32) -> Result<(), LinkError> {
    let u32_at = |o: usize| -> Option<u32> {
        reply.get(o..o + 4).map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    };
    let len = u32_at(0).ok_or(LinkError::BadReply("shorter than a netlink header"))? as usize;
    if len < 20 || len > reply.len() {
        return Err(LinkError::BadReply("length field out of range"));
    }
    let kind = u16::from_ne_bytes([reply[4], reply[5]]);
    if kind != NLMSG_ERROR {
        return Err(LinkError::BadReply("not an NLMSG_ERROR/ACK message"));
    }
    if u32_at(8) != Some(seq) {
        return Err(LinkError::BadReply("sequence number does not match the request"));
    }
    match u32_at(16).map(|e| e as i32) {
        Some(0) => Ok(()),
        Some(e) => Err(LinkError::Kernel(-e)),
        None => Err(LinkError::BadReply("truncated nlmsgerr")),
    }
}

/// Errors parsing `/cmd` or `/env`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// File larger than [`MAX_CONFIG_LEN`].
    #[error("/{file} is {len} bytes, more than {MAX_CONFIG_LEN}")]
    TooLarge {
        /// `cmd` or `env`.
        file: &'static str,
        /// Its size.
        len: usize,
    },
    /// More than [`MAX_ENTRIES`] lines.
    #[error("/{0} has more than {MAX_ENTRIES} entries")]
    TooManyEntries(&'static str),
    /// A NUL byte (cannot be passed to exec).
    #[error("/{file} line {line} contains a NUL byte")]
    Nul {
        /// `cmd` or `env`.
        file: &'static str,
        /// 1-based line.
        line: usize,
    },
    /// `/cmd` is empty: nothing to run.
    #[error("/cmd is empty: no program to run")]
    EmptyCmd,
    /// An `/env` line without `=` or with an empty name.
    #[error("/env line {line} is not NAME=value: {text:?}")]
    BadEnv {
        /// 1-based line.
        line: usize,
        /// The line (truncated).
        text: String,
    },
}

/// Splits a config file into lines the way AWS's init does: one entry per
/// line, the trailing `\n` stripped; a final line without `\n` still counts.
/// Empty lines are kept for `/cmd` (an empty argument is legal) but a file
/// that is entirely empty has no entries.
fn lines(file: &'static str, bytes: &[u8]) -> Result<Vec<String>, ConfigError> {
    if bytes.len() > MAX_CONFIG_LEN {
        return Err(ConfigError::TooLarge { file, len: bytes.len() });
    }
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if body.is_empty() && bytes.len() <= 1 {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
        if out.len() == MAX_ENTRIES {
            return Err(ConfigError::TooManyEntries(file));
        }
        if raw.contains(&0) {
            return Err(ConfigError::Nul { file, line: i + 1 });
        }
        out.push(String::from_utf8_lossy(raw).into_owned());
    }
    Ok(out)
}

/// Parses `/cmd`: argv, one element per line. At least one element.
pub fn parse_cmd(bytes: &[u8]) -> Result<Vec<String>, ConfigError> {
    let argv = lines("cmd", bytes)?;
    match argv.first() {
        Some(a) if !a.is_empty() => Ok(argv),
        _ => Err(ConfigError::EmptyCmd),
    }
}

/// Parses `/env`: `NAME=value` per line; blank lines are skipped.
pub fn parse_env(bytes: &[u8]) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::new();
    for (i, l) in lines("env", bytes)?.into_iter().enumerate() {
        if l.is_empty() {
            continue;
        }
        match l.split_once('=') {
            Some((k, v)) if !k.is_empty() => out.push((k.to_string(), v.to_string())),
            _ => {
                let mut text = l;
                text.truncate(80);
                return Err(ConfigError::BadEnv { line: i + 1, text });
            }
        }
    }
    Ok(out)
}

/// The environment the application gets: `/env` as given, plus the default
/// `PATH` when `/env` does not set one.
pub fn app_env(env: &[(String, String)]) -> Vec<(String, String)> {
    let mut out = env.to_vec();
    if !out.iter().any(|(k, _)| k == "PATH") {
        out.push(("PATH".to_string(), DEFAULT_PATH.to_string()));
    }
    out
}

/// Where the build puts the spec's kernel modules (ramdisk 0, PCR1).
pub const MODULES_DIR: &str = "/modules";

/// A file name in `/modules` that is not `NN-name.ko`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected file {0:?} in /modules (expected NN-name.ko, two decimal digits)")]
pub struct ModuleNameError(pub String);

/// The load order of the files in `/modules`: the build names them
/// `NN-name.ko` (`NN` = position in the spec's list, two digits), so the
/// order is the byte order of the names. Anything else is refused: the
/// directory is measured (PCR1), so a stray name is a build bug.
pub fn module_order(mut names: Vec<String>) -> Result<Vec<String>, ModuleNameError> {
    for n in &names {
        let b = n.as_bytes();
        let ok = b.len() > 6
            && b[0].is_ascii_digit()
            && b[1].is_ascii_digit()
            && b[2] == b'-'
            && n.ends_with(".ko")
            && n[3..n.len() - 3]
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
        if !ok {
            return Err(ModuleNameError(n.clone()));
        }
    }
    names.sort();
    Ok(names)
}

/// One failed step, as printed on the console.
#[derive(Debug)]
pub struct StepError {
    /// What the init was doing.
    pub step: &'static str,
    /// Why it failed.
    pub cause: String,
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "proofpack-init: {} failed: {}", self.step, self.cause)
    }
}

impl std::error::Error for StepError {}

fn step<T, E: fmt::Display>(step: &'static str, r: Result<T, E>) -> Result<T, StepError> {
    r.map_err(|e| StepError { step, cause: e.to_string() })
}

/// The Linux side effects; only meaningful as PID 1 inside an enclave.
#[cfg(target_os = "linux")]
pub mod run {
    use super::*;
    use rustix::fs::{Mode, OFlags};
    use rustix::mount::{mount, mount_move, MountFlags};
    use std::io::{Read, Write};
    use std::os::unix::process::CommandExt;

    fn mount_fs(src: &str, target: &str, fstype: &str, flags: MountFlags) -> Result<(), StepError> {
        let _ = std::fs::create_dir_all(target);
        match mount(src, target, fstype, flags, None) {
            Ok(()) | Err(rustix::io::Errno::BUSY) => Ok(()),
            Err(e) => Err(StepError { step: "mount", cause: format!("{fstype} on {target}: {e}") }),
        }
    }

    /// Steps 1-2: devtmpfs, console, `nsm.ko`.
    pub fn early() -> Result<(), StepError> {
        mount_fs("devtmpfs", "/dev", "devtmpfs", MountFlags::NOSUID)?;
        let console = step(
            "open /dev/console",
            rustix::fs::open("/dev/console", OFlags::RDWR | OFlags::NOCTTY, Mode::empty()),
        )?;
        step("dup console to stdin", rustix::stdio::dup2_stdin(&console))?;
        step("dup console to stdout", rustix::stdio::dup2_stdout(&console))?;
        step("dup console to stderr", rustix::stdio::dup2_stderr(&console))?;
        match std::fs::File::open("/nsm.ko") {
            Ok(f) => {
                step("finit_module(/nsm.ko)", rustix::system::finit_module(&f, c"", 0))?;
                step("unlink /nsm.ko", std::fs::remove_file("/nsm.ko"))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StepError { step: "open /nsm.ko", cause: e.to_string() }),
        }
        load_modules()
    }

    /// Step 2b: the spec's kernel modules, `/modules/NN-name.ko`, in order
    /// (see [`module_order`]); each is unlinked once loaded. A module that
    /// fails stops the boot, and the console line names it.
    fn load_modules() -> Result<(), StepError> {
        let names = match std::fs::read_dir(MODULES_DIR) {
            Ok(rd) => rd
                .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| StepError { step: "list /modules", cause: e.to_string() })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(StepError { step: "list /modules", cause: e.to_string() }),
        };
        let order = step("list /modules", module_order(names))?;
        for name in order {
            let path = format!("{MODULES_DIR}/{name}");
            let f = std::fs::File::open(&path).map_err(|e| StepError {
                step: "load kernel module",
                cause: format!("{path}: {e}"),
            })?;
            rustix::system::finit_module(&f, c"", 0).map_err(|e| StepError {
                step: "load kernel module",
                cause: format!("{path}: finit_module: {e}"),
            })?;
            eprintln!("proofpack-init: loaded kernel module {path}");
            let _ = std::fs::remove_file(&path);
        }
        Ok(())
    }

    /// Step 3: heartbeat over vsock.
    pub fn heartbeat() -> Result<(), StepError> {
        let mut s = step(
            "heartbeat connect (vsock 3:9000)",
            vsock::VsockStream::connect_with_cid_port(HEARTBEAT_CID, HEARTBEAT_PORT),
        )?;
        step("heartbeat write", s.write_all(&[HEARTBEAT_BYTE]))?;
        let mut echo = [0u8; 1];
        step("heartbeat read", s.read_exact(&mut echo))?;
        if echo[0] != HEARTBEAT_BYTE {
            return Err(StepError {
                step: "heartbeat",
                cause: format!("echo was {:#04x}, expected {HEARTBEAT_BYTE:#04x}", echo[0]),
            });
        }
        Ok(())
    }

    /// Reads `/cmd` or `/env`, refusing one over [`MAX_CONFIG_LEN`] from its
    /// size before reading it.
    fn read_config(path: &str) -> Result<Vec<u8>, StepError> {
        let buf = step(
            "read config",
            build_spec::bounded::read_file(std::path::Path::new(path), MAX_CONFIG_LEN as u64),
        )?;
        let _ = std::fs::remove_file(path);
        Ok(buf)
    }

    /// Steps 4-5: read `/cmd`, `/env`; switch root to `/rootfs`.
    pub fn configure() -> Result<(Vec<String>, Env), StepError> {
        let argv = step("parse /cmd", parse_cmd(&read_config("/cmd")?))?;
        let env = match std::fs::metadata("/env") {
            Ok(_) => step("parse /env", parse_env(&read_config("/env")?))?,
            Err(_) => Vec::new(),
        };
        // /rootfs is a directory of the initramfs, not a mount point, and
        // only a mount can be moved: bind it onto itself first (AWS's init
        // does the same). Found by booting the image (scripts/enclave-emulator).
        step(
            "mount --rbind /rootfs /rootfs",
            rustix::mount::mount_bind_recursive("/rootfs", "/rootfs"),
        )?;
        step("chdir /rootfs", rustix::process::chdir("/rootfs"))?;
        step("mount --move /rootfs /", mount_move(".", "/"))?;
        step("chroot .", rustix::process::chroot("."))?;
        step("chdir /", rustix::process::chdir("/"))?;
        mount_fs(
            "proc",
            "/proc",
            "proc",
            MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        )?;
        mount_fs(
            "sysfs",
            "/sys",
            "sysfs",
            MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        )?;
        mount_fs("devtmpfs", "/dev", "devtmpfs", MountFlags::NOSUID)?;
        mount_fs("tmpfs", "/run", "tmpfs", MountFlags::NOSUID | MountFlags::NODEV)?;
        mount_fs("tmpfs", "/tmp", "tmpfs", MountFlags::NOSUID | MountFlags::NODEV)?;
        Ok((argv, app_env(&env)))
    }

    /// Brings interface `name` up via `NETLINK_ROUTE` (see the module doc,
    /// "Loopback"). Bounded: one request, one reply, 2 s receive timeout.
    pub fn link_up(name: &str) -> Result<(), StepError> {
        use rustix::net::{
            netlink::SocketAddrNetlink, sockopt, AddressFamily, RecvFlags, SendFlags, SocketType,
        };
        let what = "bring loopback up";
        step(what, check_ifname(name))?;
        // SIOCGIFINDEX (safe wrapper in rustix) on any AF_INET socket.
        let inet = step(what, rustix::net::socket(AddressFamily::INET, SocketType::DGRAM, None))?;
        let index = rustix::net::netdevice::name_to_index(&inet, name)
            .map_err(|e| StepError { step: what, cause: format!("index of {name}: {e}") })?;
        // Protocol 0 is NETLINK_ROUTE.
        let nl = step(what, rustix::net::socket(AddressFamily::NETLINK, SocketType::RAW, None))?;
        step(
            what,
            sockopt::set_socket_timeout(
                &nl,
                sockopt::Timeout::Recv,
                Some(std::time::Duration::from_secs(2)),
            ),
        )?;
        let seq = 1;
        step(
            what,
            rustix::net::sendto(
                &nl,
                &link_up_request(index, seq),
                SendFlags::empty(),
                &SocketAddrNetlink::new(0, 0),
            ),
        )?;
        let mut buf = [0u8; 1024];
        let (got, _) = step(what, rustix::net::recv(&nl, &mut buf[..], RecvFlags::empty()))?;
        parse_link_ack(&buf[..got.min(buf.len())], seq)
            .map_err(|e| StepError { step: what, cause: format!("{name}: {e}") })
    }

    /// Step 7: start the app, reap children, return the app's exit status.
    pub fn exec_and_reap(argv: &[String], env: &[(String, String)]) -> Result<String, StepError> {
        let mut cmd = std::process::Command::new(&argv[0]);
        cmd.args(&argv[1..]).env_clear().envs(env.iter().cloned());
        let child = step("spawn application", cmd.spawn())?;
        let app = rustix::process::Pid::from_child(&child);
        loop {
            match rustix::process::wait(rustix::process::WaitOptions::empty()) {
                Ok(Some((pid, status))) if pid == app => return Ok(format!("{status:?}")),
                Ok(_) => continue,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(StepError { step: "wait", cause: e.to_string() }),
            }
        }
    }

    /// Powers the enclave off (PID 1 must never return).
    pub fn reboot() -> ! {
        let _ = rustix::system::reboot(rustix::system::RebootCommand::Restart);
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }

    /// `exec`s instead of forking, for testing an image without reaping.
    pub fn exec(argv: &[String], env: &[(String, String)]) -> StepError {
        let e = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .env_clear()
            .envs(env.iter().cloned())
            .exec();
        StepError { step: "exec", cause: e.to_string() }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn modules_load_in_name_order_and_strays_are_refused() {
        let got = module_order(vec![
            "02-vmw_vsock_virtio_transport_common.ko".into(),
            "00-virtio_mmio.ko".into(),
            "01-vsock.ko".into(),
        ])
        .unwrap();
        assert_eq!(
            got,
            ["00-virtio_mmio.ko", "01-vsock.ko", "02-vmw_vsock_virtio_transport_common.ko"]
        );
        for bad in ["nsm.ko", "0-nsm.ko", "00-nsm.ko.xz", "00-.ko", "00-a/b.ko", "aa-nsm.ko"] {
            assert_eq!(module_order(vec![bad.into()]), Err(ModuleNameError(bad.into())));
        }
    }

    #[test]
    fn cmd_lines() {
        assert_eq!(parse_cmd(b"/bin/app\n--x\n\n").unwrap(), vec!["/bin/app", "--x", ""]);
        assert_eq!(parse_cmd(b"/bin/app").unwrap(), vec!["/bin/app"]);
        assert_eq!(parse_cmd(b""), Err(ConfigError::EmptyCmd));
        assert_eq!(parse_cmd(b"\n"), Err(ConfigError::EmptyCmd));
        assert_eq!(parse_cmd(b"\n/bin/app\n"), Err(ConfigError::EmptyCmd));
        assert_eq!(parse_cmd(b"/a\nb\0c\n"), Err(ConfigError::Nul { file: "cmd", line: 2 }));
        let big = vec![b'a'; MAX_CONFIG_LEN + 1];
        assert!(matches!(parse_cmd(&big), Err(ConfigError::TooLarge { .. })));
        let many = "a\n".repeat(MAX_ENTRIES + 1);
        assert_eq!(parse_cmd(many.as_bytes()), Err(ConfigError::TooManyEntries("cmd")));
    }

    #[test]
    fn env_lines() {
        let e = parse_env(b"A=1\n\nB=x=y\nC=\n").unwrap();
        assert_eq!(
            e,
            vec![("A".into(), "1".into()), ("B".into(), "x=y".into()), ("C".into(), "".into())]
        );
        assert!(matches!(parse_env(b"A=1\nnoeq\n"), Err(ConfigError::BadEnv { line: 2, .. })));
        assert!(matches!(parse_env(b"=v\n"), Err(ConfigError::BadEnv { line: 1, .. })));
        assert_eq!(parse_env(b"").unwrap(), vec![]);
    }

    #[test]
    fn ifname_bounds() {
        assert_eq!(check_ifname("lo"), Ok(()));
        assert_eq!(check_ifname(&"a".repeat(IFNAMSIZ - 1)), Ok(()));
        for bad in ["", ".", "..", "a/b", "a b", "a:0", "a\0b"] {
            assert!(check_ifname(bad).is_err(), "{bad:?}");
        }
        assert!(check_ifname(&"a".repeat(IFNAMSIZ)).is_err());
    }

    #[test]
    fn link_up_request_layout() {
        let m = link_up_request(1, 7);
        let u32_at = |o: usize| u32::from_ne_bytes(m[o..o + 4].try_into().unwrap());
        assert_eq!(u32_at(0), 32);
        assert_eq!(u16::from_ne_bytes([m[4], m[5]]), 16); // RTM_NEWLINK
        assert_eq!(u16::from_ne_bytes([m[6], m[7]]), 0x5); // REQUEST | ACK
        assert_eq!(u32_at(8), 7);
        assert_eq!(u32_at(12), 0);
        assert_eq!(&m[16..20], &[0, 0, 0, 0]); // AF_UNSPEC, pad, type
        assert_eq!(u32_at(20), 1);
        assert_eq!((u32_at(24), u32_at(28)), (1, 1)); // IFF_UP set, only IFF_UP changed
    }

    fn ack(kind: u16, seq: u32, errno: i32) -> Vec<u8> {
        let mut r = Vec::new();
        r.extend_from_slice(&36u32.to_ne_bytes());
        r.extend_from_slice(&kind.to_ne_bytes());
        r.extend_from_slice(&0u16.to_ne_bytes());
        r.extend_from_slice(&seq.to_ne_bytes());
        r.extend_from_slice(&99u32.to_ne_bytes());
        r.extend_from_slice(&errno.to_ne_bytes());
        r.extend_from_slice(&link_up_request(1, seq)[..16]);
        r
    }

    #[test]
    fn link_ack_parsing() {
        assert_eq!(parse_link_ack(&ack(2, 7, 0), 7), Ok(()));
        assert_eq!(parse_link_ack(&ack(2, 7, -1), 7), Err(LinkError::Kernel(1)));
        assert!(matches!(parse_link_ack(&ack(2, 8, 0), 7), Err(LinkError::BadReply(_))));
        assert!(matches!(parse_link_ack(&ack(16, 7, 0), 7), Err(LinkError::BadReply(_))));
        let full = ack(2, 7, 0);
        for cut in 0..20 {
            assert!(parse_link_ack(&full[..cut], 7).is_err(), "cut {cut}");
        }
    }

    /// Loopback TCP works (connect to a listener on 127.0.0.1).
    #[cfg(target_os = "linux")]
    fn loopback_connects() -> bool {
        let Ok(l) = std::net::TcpListener::bind("127.0.0.1:0") else { return false };
        let Ok(a) = l.local_addr() else { return false };
        std::net::TcpStream::connect(a).is_ok()
    }

    /// The real netlink call, in a fresh network namespace where `lo` starts
    /// down (as in an enclave). Runs only as root with `unshare` available:
    /// the test re-executes itself under `unshare -n`; elsewhere it says why
    /// it did nothing.
    #[cfg(target_os = "linux")]
    #[test]
    fn link_up_in_fresh_netns() {
        const CHILD: &str = "PROOFPACK_INIT_NETNS_CHILD";
        if std::env::var_os(CHILD).is_some() {
            assert!(!loopback_connects(), "lo should start down in a new netns");
            run::link_up(LOOPBACK).unwrap();
            assert!(loopback_connects(), "lo still down after link_up");
            // Idempotent: a second call on an up interface is acknowledged.
            run::link_up(LOOPBACK).unwrap();
            assert!(run::link_up("nosuchif0").is_err());
            return;
        }
        let probe = std::process::Command::new("unshare").args(["-n", "true"]).status();
        if !matches!(probe, Ok(s) if s.success()) {
            eprintln!("skipped: `unshare -n` unavailable (needs root)");
            return;
        }
        let exe = std::env::current_exe().unwrap();
        let out = std::process::Command::new("unshare")
            .arg("-n")
            .arg(exe)
            .args(["--exact", "init::tests::link_up_in_fresh_netns", "--nocapture"])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && text.contains("1 passed"), "{text}");
    }

    #[test]
    fn default_path_added_only_when_absent() {
        let e = app_env(&[("A".into(), "1".into())]);
        assert!(e.contains(&("PATH".into(), DEFAULT_PATH.into())));
        let e = app_env(&[("PATH".into(), "/x".into())]);
        assert_eq!(e, vec![("PATH".into(), "/x".into())]);
    }
}
