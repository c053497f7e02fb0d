//! The pack service's connection handling under load (issue 17), driven in
//! process with a stand-in job handler: parallel workers, the typed `Busy`
//! answer and the parent's retry of it, per-connection deadlines against a
//! stalled or vanished parent, and the graceful shutdown.

use std::io::Write;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use enclave::server::{self, ServerConfig, Shutdown, Stats};
use enclave::service::{PackJob, PackOutput};
use enclave::transport::retry::{call_with_busy_retry, BusyRetry};
use enclave::transport::{
    call, encode_job, Endpoint, ErrorCode, JobCredentials, Limits, Listener, TransportError,
    KIND_JOB, MAGIC,
};

fn job(tag: &str) -> PackJob {
    PackJob { request: tag.as_bytes().to_vec(), inputs: vec![b"x".to_vec()] }
}

fn limits() -> Limits {
    Limits { max_frame: 1 << 20, io_timeout: Duration::from_secs(10) }
}

/// A server on a free loopback port running `handler` on its own thread;
/// `stop()` requests the shutdown and returns the stats once it returned.
struct Running {
    ep: Endpoint,
    shutdown: Shutdown,
    thread: Option<std::thread::JoinHandle<Arc<Stats>>>,
}

impl Running {
    fn start(
        cfg: ServerConfig,
        handler: impl Fn(PackJob, Option<JobCredentials>, u64) -> Result<PackOutput, (ErrorCode, String)>
            + Send
            + Sync
            + 'static,
    ) -> Self {
        let listener = Listener::bind(&"tcp:127.0.0.1:0".parse().unwrap()).unwrap();
        let ep: Endpoint = listener.local_addr().parse().unwrap();
        let shutdown = Shutdown::new();
        let stop = shutdown.clone();
        let thread = std::thread::spawn(move || {
            let stats = Arc::new(Stats::default());
            server::serve(&listener, &cfg, &handler, &stop, &stats, &|_| {}).unwrap();
            stats
        });
        Self { ep, shutdown, thread: Some(thread) }
    }

    fn stop(mut self) -> [u64; 6] {
        self.shutdown.request();
        self.thread.take().unwrap().join().unwrap().snapshot()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.request();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Sends a job, retrying `Busy`: with no queue, a connection that arrives
/// before the worker waits for one is refused.
fn call_patiently(ep: &Endpoint, j: &PackJob) -> Result<PackOutput, TransportError> {
    let p = BusyRetry {
        max_attempts: 100,
        base: Duration::from_millis(5),
        cap: Duration::from_millis(20),
    };
    call_with_busy_retry(ep, j, None, &limits(), &p, &mut |_, _, _| {})
}

fn echo(job: PackJob) -> Result<PackOutput, (ErrorCode, String)> {
    Ok(PackOutput { artifacts: vec![], receipt: job.request })
}

fn cfg(workers: usize, queue: usize) -> ServerConfig {
    let mut c = ServerConfig::new(workers, limits());
    c.queue = queue;
    c.read_deadline = Duration::from_millis(800);
    c.write_deadline = Duration::from_secs(2);
    c.busy_linger = Duration::from_millis(500);
    c
}

#[test]
fn two_workers_run_two_jobs_at_once() {
    let s = Running::start(cfg(2, 2), |j, _, _| {
        std::thread::sleep(Duration::from_millis(400));
        echo(j)
    });
    let t = Instant::now();
    let clients: Vec<_> = (0..2)
        .map(|i| {
            let ep = s.ep.clone();
            std::thread::spawn(move || call(&ep, &job(&format!("j{i}")), &limits()).unwrap())
        })
        .collect();
    for (i, c) in clients.into_iter().enumerate() {
        assert_eq!(c.join().unwrap().receipt, format!("j{i}").as_bytes());
    }
    // One at a time would take 800 ms.
    assert!(t.elapsed() < Duration::from_millis(750), "{:?}", t.elapsed());
    let [accepted, started, packed, failed, busy, dropped] = s.stop();
    assert_eq!((accepted, started, packed, failed, busy, dropped), (2, 2, 2, 0, 0, 0));
}

/// One worker, no queue: while a job runs, the next parent is told `Busy`
/// at once (not after the running job); the retrying parent gets through
/// once the worker is free.
#[test]
fn a_full_service_answers_busy_at_once_and_the_parent_retries() {
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let entered_tx = Mutex::new(entered_tx);
    let s = Running::start(cfg(1, 0), move |j, _, id| {
        if id == 1 {
            entered_tx.lock().unwrap().send(()).unwrap();
            release_rx.lock().unwrap().recv().unwrap();
        }
        echo(j)
    });
    let ep = s.ep.clone();
    let first = std::thread::spawn(move || call_patiently(&ep, &job("first")).unwrap());
    entered_rx.recv_timeout(Duration::from_secs(20)).unwrap();

    let t = Instant::now();
    match call(&s.ep, &job("second"), &limits()) {
        Err(TransportError::Remote { code: ErrorCode::Busy, message }) => {
            assert!(message.contains("busy"), "{message}")
        }
        other => panic!("expected Busy, got {other:?}"),
    }
    assert!(t.elapsed() < Duration::from_millis(500), "Busy took {:?}", t.elapsed());

    // The retrying parent: Busy while the first job holds the worker, then through.
    let ep = s.ep.clone();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = Arc::clone(&seen);
    let retrying = std::thread::spawn(move || {
        let policy = BusyRetry {
            max_attempts: 50,
            base: Duration::from_millis(20),
            cap: Duration::from_millis(60),
        };
        call_with_busy_retry(&ep, &job("third"), None, &limits(), &policy, &mut |n, w, m| {
            seen2.lock().unwrap().push((n, w, m.to_string()))
        })
    });
    std::thread::sleep(Duration::from_millis(300));
    release_tx.send(()).unwrap();
    assert_eq!(first.join().unwrap().receipt, b"first");
    assert_eq!(retrying.join().unwrap().unwrap().receipt, b"third");
    let seen = seen.lock().unwrap();
    assert!(!seen.is_empty(), "the parent never saw Busy");
    assert!(seen.iter().all(|(_, w, _)| *w <= Duration::from_millis(60)));
    let [_, started, packed, _, busy, _] = s.stop();
    assert_eq!((started, packed), (2, 2));
    // The first job may have met Busy too, before the worker waited.
    assert!(busy as usize > seen.len());
}

/// Retry gives up after `max_attempts`, returning the Busy error.
#[test]
fn busy_retry_gives_up_after_its_attempts() {
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let s = Running::start(cfg(1, 0), move |j, _, _| {
        let _ = release_rx.lock().unwrap().recv_timeout(Duration::from_secs(10));
        echo(j)
    });
    let ep = s.ep.clone();
    let first = std::thread::spawn(move || call_patiently(&ep, &job("first")));
    std::thread::sleep(Duration::from_millis(300));
    let mut n = 0;
    let policy = BusyRetry {
        max_attempts: 3,
        base: Duration::from_millis(5),
        cap: Duration::from_millis(5),
    };
    let r = call_with_busy_retry(&s.ep, &job("x"), None, &limits(), &policy, &mut |_, _, _| n += 1);
    assert!(matches!(r, Err(TransportError::Remote { code: ErrorCode::Busy, .. })), "{r:?}");
    assert_eq!(n, 2, "two waits between three attempts");
    release_tx.send(()).unwrap();
    first.join().unwrap().unwrap();
}

/// A parent that sends half a frame and stalls holds only its own worker,
/// and only until the read deadline; a parent that vanishes mid-frame frees
/// its worker at once. Other jobs go through meanwhile.
#[test]
fn stalled_and_vanished_parents_hold_only_their_own_worker() {
    let s = Running::start(cfg(2, 4), |j, _, _| echo(j));
    let addr = match &s.ep {
        Endpoint::Tcp(a) => a.clone(),
        _ => unreachable!(),
    };
    let payload = encode_job(&job("stalled")).unwrap();
    let mut head = MAGIC.to_vec();
    head.push(KIND_JOB);
    head.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    let mut stalled = std::net::TcpStream::connect(&addr).unwrap();
    stalled.write_all(&head).unwrap();
    stalled.write_all(&payload[..payload.len() / 2]).unwrap();
    let mut vanished = std::net::TcpStream::connect(&addr).unwrap();
    vanished.write_all(&head[..5]).unwrap();
    drop(vanished);

    let t = Instant::now();
    for i in 0..5 {
        let out = call(&s.ep, &job(&format!("ok{i}")), &limits()).unwrap();
        assert_eq!(out.receipt, format!("ok{i}").as_bytes());
    }
    assert!(t.elapsed() < Duration::from_millis(700), "{:?}", t.elapsed());
    // The stalled connection is closed by its read deadline (800 ms).
    stalled.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let closed_at = Instant::now();
    let mut buf = [0u8; 16];
    let n = std::io::Read::read(&mut stalled, &mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the stalled parent got an answer");
    assert!(closed_at.elapsed() < Duration::from_secs(2));
    let [accepted, started, packed, failed, busy, dropped] = s.stop();
    assert_eq!((accepted, started, packed, failed, busy, dropped), (7, 7, 5, 0, 0, 2));
}

/// Shutdown: the running job finishes and is answered, a queued one is
/// answered Busy (it never started), and `serve` returns.
#[test]
fn shutdown_finishes_running_jobs_and_refuses_queued_ones() {
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let entered_tx = Mutex::new(entered_tx);
    let s = Running::start(cfg(1, 2), move |j, _, id| {
        if id == 1 {
            entered_tx.lock().unwrap().send(()).unwrap();
            std::thread::sleep(Duration::from_millis(600));
        }
        echo(j)
    });
    let ep = s.ep.clone();
    let running = std::thread::spawn(move || call(&ep, &job("running"), &limits()));
    entered_rx.recv_timeout(Duration::from_secs(20)).unwrap();
    let ep = s.ep.clone();
    let queued = std::thread::spawn(move || call(&ep, &job("queued"), &limits()));
    std::thread::sleep(Duration::from_millis(150));
    let t = Instant::now();
    let [_, started, packed, _, busy, _] = s.stop();
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(running.join().unwrap().unwrap().receipt, b"running");
    match queued.join().unwrap() {
        Err(TransportError::Remote { code: ErrorCode::Busy, message }) => {
            assert!(message.contains("shutting down"), "{message}")
        }
        other => panic!("expected Busy, got {other:?}"),
    }
    assert_eq!((started, packed, busy), (1, 1, 1));
}

/// `max_jobs` ends the server after that many jobs (the old `--max-jobs`).
#[test]
fn max_jobs_ends_the_server() {
    let mut c = cfg(2, 2);
    c.max_jobs = Some(3);
    let listener = Listener::bind(&"tcp:127.0.0.1:0".parse().unwrap()).unwrap();
    let ep: Endpoint = listener.local_addr().parse().unwrap();
    let t = std::thread::spawn(move || {
        let stats = Stats::default();
        server::serve(&listener, &c, &|j, _, _| echo(j), &Shutdown::new(), &stats, &|_| {})
            .unwrap();
        stats.snapshot()
    });
    for i in 0..3 {
        call(&ep, &job(&format!("{i}")), &limits()).unwrap();
    }
    assert_eq!(t.join().unwrap()[2], 3);
}
