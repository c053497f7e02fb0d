//! `proofpack emulator-parent`: the parent instance's side of an enclave
//! running in QEMU's `nitro-enclave` machine (`scripts/enclave-emulator`).
//!
//! vhost-device-vsock (`uds-path=PATH`, with the CID-3 patch kept in
//! `scripts/emulator/`) delivers every connection the enclave opens to
//! vsock CID 3 port P as a connection to the Unix socket `PATH_P`. This
//! command serves the two ports a proofpack enclave uses there:
//!
//! * `PATH_9000`: the boot heartbeat. The init sends `0xB7` and waits for
//!   the echo (what nitro-cli does on a real parent);
//! * `PATH_8000`: the KMS relay. Each connection is spliced to `--kms`
//!   (a TCP address: proofpack-kms-local in the tests). On a real parent
//!   AWS's `vsock-proxy 8000 kms.<region>.amazonaws.com 443` does this.
//!
//! It runs until it is killed (SIGTERM/SIGINT end it; the sockets are
//! removed at start, not at exit). It prints one JSON line on stdout when
//! both sockets listen, so a harness can wait for it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use enclave::forward::{ConnectFn, ForwardLimits, Forwarder, SpliceStream};

const AFTER_HELP: &str = "\
Example (what scripts/enclave-emulator runs):
  vhost-device-vsock --vm guest-cid=16,uds-path=/tmp/emu/vm.vsock,socket=/tmp/emu/vhost.sock &
  proofpack emulator-parent --uds /tmp/emu/vm.vsock --kms 127.0.0.1:4566 &
  qemu-system-x86_64 -M nitro-enclave,vsock=c,acpi=on -kernel image.eif \\
      -chardev socket,id=c,path=/tmp/emu/vhost.sock ...
  proofpack pack --enclave vsock-uds:/tmp/emu/vm.vsock:5000 --send-credentials ...

Serves PATH_9000 (boot heartbeat: echoes 0xB7) and PATH_8000 (splices each
connection to --kms, as AWS's vsock-proxy does on a real parent instance).
Prints {\"heartbeat\":…,\"kms_relay\":…} on stdout once both listen, and runs
until killed. Exit codes: 2 a socket could not be bound (nothing served).";

/// The heartbeat byte of the Nitro boot protocol.
pub const HEARTBEAT: u8 = 0xB7;
/// The vsock port of the heartbeat.
pub const HEARTBEAT_PORT: u32 = 9000;
/// The vsock port the enclave's KMS forwarder connects to (`--kms-vsock 3:8000`).
pub const KMS_PORT: u32 = 8000;

/// Arguments of `emulator-parent`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct EmulatorParentArgs {
    /// vhost-device-vsock's `uds-path` (the sockets served are PATH_9000 and PATH_8000).
    #[arg(long, value_name = "PATH")]
    pub uds: PathBuf,
    /// Where KMS connections go (HOST:PORT; proofpack-kms-local's address).
    #[arg(long, value_name = "HOST:PORT")]
    pub kms: SocketAddr,
    /// Read/write timeout of relayed connections, seconds.
    #[arg(long, default_value_t = 60)]
    pub io_timeout: u64,
}

fn port_path(uds: &Path, port: u32) -> PathBuf {
    let mut s = uds.as_os_str().to_owned();
    s.push(format!("_{port}"));
    PathBuf::from(s)
}

fn bind(path: &Path) -> anyhow::Result<UnixListener> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("removing stale {}", path.display()))
        }
        _ => {}
    }
    UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))
}

/// Answers heartbeats on `listener` forever: reads one byte, echoes it if it
/// is [`HEARTBEAT`], closes the connection either way.
pub fn serve_heartbeat(listener: UnixListener) {
    for conn in listener.incoming() {
        let Ok(mut c) = conn else { continue };
        let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
        let mut b = [0u8; 1];
        match c.read_exact(&mut b) {
            Ok(()) if b[0] == HEARTBEAT => {
                let _ = c.write_all(&b);
                eprintln!("proofpack emulator-parent: heartbeat from the enclave answered");
            }
            Ok(()) => {
                eprintln!("proofpack emulator-parent: heartbeat port got {:#04x}, not 0xb7", b[0])
            }
            Err(e) => eprintln!("proofpack emulator-parent: heartbeat read: {e}"),
        }
    }
}

/// Runs `emulator-parent`.
pub fn run(a: EmulatorParentArgs) -> anyhow::Result<ExitCode> {
    let hb_path = port_path(&a.uds, HEARTBEAT_PORT);
    let kms_path = port_path(&a.uds, KMS_PORT);
    let hb = bind(&hb_path)?;
    let relay = bind(&kms_path)?;
    let kms = a.kms;
    let timeout = Duration::from_secs(a.io_timeout.max(1));
    let connect: Arc<ConnectFn> = Arc::new(move || {
        let s = TcpStream::connect_timeout(&kms, Duration::from_secs(5))?;
        Ok(Box::new(s) as Box<dyn SpliceStream>)
    });
    let _fwd = Forwarder::spawn_unix(
        relay,
        connect,
        ForwardLimits { io_timeout: timeout, ..ForwardLimits::default() },
    )
    .context("starting the KMS relay")?;
    println!(
        "{}",
        serde_json::json!({
            "heartbeat": hb_path,
            "kms_relay": kms_path,
            "kms": kms.to_string(),
        })
    );
    let _ = std::io::stdout().flush();
    serve_heartbeat(hb);
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::net::UnixStream;

    #[test]
    fn port_paths_are_firecrackers() {
        assert_eq!(port_path(Path::new("/t/vm.vsock"), 8000), PathBuf::from("/t/vm.vsock_8000"));
    }

    #[test]
    fn heartbeat_is_echoed_and_others_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let p = port_path(&dir.path().join("vm.vsock"), HEARTBEAT_PORT);
        let l = bind(&p).unwrap();
        std::thread::spawn(move || serve_heartbeat(l));
        let mut c = UnixStream::connect(&p).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(&[HEARTBEAT]).unwrap();
        let mut b = [0u8; 1];
        c.read_exact(&mut b).unwrap();
        assert_eq!(b[0], HEARTBEAT);
        let mut c = UnixStream::connect(&p).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(&[0x00]).unwrap();
        let mut rest = Vec::new();
        c.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
        // A stale socket file from an earlier run is replaced.
        drop(bind(&p).unwrap());
    }

    #[test]
    fn kms_relay_splices_to_tcp() {
        let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let kms = upstream.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = upstream.accept().unwrap();
            let mut req = [0u8; 4];
            s.read_exact(&mut req).unwrap();
            s.write_all(b"pong").unwrap();
        });
        let dir = tempfile::tempdir().unwrap();
        let p = port_path(&dir.path().join("vm.vsock"), KMS_PORT);
        let connect: Arc<ConnectFn> =
            Arc::new(move || Ok(Box::new(TcpStream::connect(kms)?) as Box<dyn SpliceStream>));
        let _f =
            Forwarder::spawn_unix(bind(&p).unwrap(), connect, ForwardLimits::default()).unwrap();
        let mut c = UnixStream::connect(&p).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(b"ping").unwrap();
        let mut back = [0u8; 4];
        c.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"pong");
    }
}
