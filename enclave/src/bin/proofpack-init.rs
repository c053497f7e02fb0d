//! `proofpack-init`: PID 1 of a proofpack enclave image.
//!
//! See [`enclave::init`] for what it does and does not do compared with
//! AWS's init. Every failure is printed on the console, then the enclave is
//! rebooted (PID 1 must not exit), except bringing `lo` up, which is
//! reported and skipped.

fn main() {
    #[cfg(target_os = "linux")]
    {
        use enclave::init::run;
        if std::process::id() != 1 {
            eprintln!("proofpack-init: must run as PID 1 inside an enclave image; refusing");
            std::process::exit(2);
        }
        let result = run::early()
            .and_then(|()| run::heartbeat())
            .and_then(|()| run::configure())
            .and_then(|(argv, env)| {
                // Not fatal: report and boot on (see enclave::init, "Loopback").
                if let Err(e) = run::link_up(enclave::init::LOOPBACK) {
                    eprintln!("{e} (continuing without loopback)");
                }
                run::exec_and_reap(&argv, &env)
            });
        match result {
            Ok(status) => eprintln!("proofpack-init: application exited: {status}"),
            Err(e) => eprintln!("{e}"),
        }
        run::reboot()
    }
    #[cfg(not(target_os = "linux"))]
    {
        eprintln!("proofpack-init only runs on Linux");
        std::process::exit(2);
    }
}
