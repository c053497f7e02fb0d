//! `proofpack-init`: PID 1 of a proofpack enclave image.
//!
//! See [`enclave::init`] for what it does and does not do compared with
//! AWS's init. Every failure is printed on the console, then the enclave is
//! rebooted (PID 1 must not exit).

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
            .and_then(|(argv, env)| run::exec_and_reap(&argv, &env));
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
