//! `proofpack pack`: the parent side of a pack job. Builds the job request
//! (docs/formats/receipts.md §3.6 plus `target`), sends it with the SOPS files to the
//! enclave (`proofpack-enclave serve`, vsock or TCP), and writes the returned
//! artifacts and the signed receipt.
//!
//! The parent is untrusted by design: it learns nothing secret (artifacts are
//! ciphertext) and cannot forge the receipt. Check the receipt afterwards
//! with `proofpack receipt verify`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use clap::Args;
use rand::RngCore;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use enclave::service::PackJob;
use enclave::transport::retry::{call_with_busy_retry, BusyRetry};
use enclave::transport::{Endpoint, ErrorCode, JobCredentials, Limits, TransportError};

use crate::secrets_repo::{ProofObjects, SecretsRepo};

use super::exit::{self, ResultExt as _};
use super::input::read_limited;
use super::output::Format;

const AFTER_HELP: &str = "\
Examples:
  # the SOPS files are bound to the recipients policy (docs/notes/recipients.md)
  proofpack pack --enclave tcp:127.0.0.1:7000 --recipients-policy .proofpack/recipients.json \\
      --input secrets/base.enc.yaml --input secrets/prod.enc.yaml \\
      --service api --environment prod \\
      --output api-prod.ppa --recipient ops.pub.pem \\
      --recipient 'deploy.pub.pem,kms=arn:aws:kms:us-east-1:111122223333:key/...,ctx=team:payments' \\
      --out-dir out/

  # production: the enclave on vsock, KMS credentials sent with the job
  # (e.g. the instance role's temporary credentials exported in the environment)
  proofpack pack --enclave vsock:16:5000 --send-credentials \\
      --recipients-policy .proofpack/recipients.json \\
      --input secrets/prod.enc.yaml --service api --environment prod \\
      --output api-prod.ppa --recipient ops.pub.pem --out-dir out/

  # the emulator (scripts/enclave-emulator): QEMU's nitro-enclave machine,
  # reached through vhost-device-vsock's hybrid Unix socket
  proofpack pack --enclave vsock-uds:/tmp/emu/vm.vsock:5000 --send-credentials ...

  # the SOPS files as committed: the enclave checks each is the blob at its
  # path of that commit (git's hash chain, SHA-1 or SHA-256) before decrypting,
  # and the receipt records the commit, path and blob
  proofpack pack --enclave tcp:127.0.0.1:7000 --recipients-policy .proofpack/recipients.json \\
      --secrets-repo . --secrets-rev \"$(git rev-parse HEAD)\" \\
      --input secrets/prod.enc.yaml --service api --environment prod \\
      --output api-prod.ppa --recipient ops.pub.pem --out-dir out/

  # then check what the enclave signed:
  proofpack receipt verify out/api-prod.ppa.receipt.json --artifact out/api-prod.ppa

Writes <out-dir>/<output> (the artifact) and <out-dir>/<output>.receipt.json
(the DSSE envelope), and <out-dir>/request.json (the exact request bytes the
receipt binds, for `receipt verify --request`).

Recipient syntax: PEM_FILE[,kms=KEY_ARN[,ctx=K:V]...] — an RSA public key
(SPKI PEM), optionally wrapped again under a KMS key with an encryption context.

Sealed inputs (from `proofpack seal`): --sealed USER=FILE (repeatable) opens FILE
for USER inside the enclave; --org-key BUNDLE (the organisation-key bundle) is
then required. They appear in the artifact under `sealed.<name>`, and the
receipt lists them (digest, user, KMS key and call) and the org key fingerprint.

Recipients policy (--recipients-policy FILE, docs/notes/recipients.md): sent
with the job; the enclave refuses any recipient the policy does not allow for
--service/--environment, and any input whose KMS context does not carry
proofpack:recipients = SHA-256 of FILE (unless the image was built to allow
unbound inputs; the receipt says so). An image that binds inputs refuses a
job without a policy. See `proofpack recipients --help`.

Exit codes: 0 packed, 1 the enclave refused or failed the job (e.g. KMS denied
the decrypt, a recipient not allowed), 2 invalid input or usage, 3 transport or
internal error.";

/// Arguments of `proofpack pack`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct PackArgs {
    /// The enclave: `tcp:HOST:PORT` (development), `vsock:CID:PORT`, or
    /// `vsock-uds:PATH:PORT` (QEMU's nitro-enclave machine through
    /// vhost-device-vsock's hybrid socket PATH; `scripts/enclave-emulator`).
    #[arg(long)]
    enclave: String,
    /// A SOPS-encrypted input file (repeatable; order matters for the merge).
    #[arg(long = "input", required = true)]
    inputs: Vec<PathBuf>,
    /// Target service (selects `services.<service>`).
    #[arg(long)]
    service: String,
    /// Target environment (selects `environments.<environment>`).
    #[arg(long)]
    environment: String,
    /// Artifact file name.
    #[arg(long)]
    output: String,
    /// A recipient of the artifact (repeatable), see below.
    #[arg(long = "recipient", required = true)]
    recipients: Vec<String>,
    /// Directory for the artifact, receipt and request.
    #[arg(long)]
    out_dir: PathBuf,
    /// A sealed input for a user: USER=FILE (repeatable; needs --org-key).
    #[arg(long = "sealed", value_name = "USER=FILE", requires = "org_key")]
    sealed: Vec<String>,
    /// The organisation-key bundle that sealed inputs were sealed for.
    #[arg(long, value_name = "BUNDLE")]
    org_key: Option<PathBuf>,
    /// The recipients policy the inputs are bound to (JSON, at most 16 KiB),
    /// sent with the job; e.g. `.proofpack/recipients.json`.
    #[arg(long, value_name = "FILE")]
    recipients_policy: Option<PathBuf>,
    /// Job id (default: random).
    #[arg(long)]
    job_id: Option<String>,
    /// Send AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN
    /// from this environment with the job, for the enclave's KMS calls (an
    /// enclave has no credentials of its own). Not part of the request or
    /// the receipt.
    #[arg(long)]
    send_credentials: bool,
    /// The git repository the SOPS files are committed in (issue 21): every
    /// --input must be a file of its work tree, and the enclave checks that
    /// each file's bytes are the blob at that path of --secrets-rev before
    /// it decrypts anything. The receipt records the commit, path and blob.
    #[arg(long, value_name = "DIR", requires = "secrets_rev", help_heading = "Secrets commit")]
    secrets_repo: Option<PathBuf>,
    /// The commit the SOPS files come from: a full commit id (40 hex
    /// digits, or 64 in a SHA-256 repository), no branch names.
    #[arg(long, value_name = "COMMIT", requires = "secrets_repo", help_heading = "Secrets commit")]
    secrets_rev: Option<String>,
    /// The repository's name in the receipt (default: the URL of its
    /// `origin` remote, else file://DIR).
    #[arg(long, value_name = "URI", requires = "secrets_repo", help_heading = "Secrets commit")]
    secrets_repo_name: Option<String>,
    /// Socket timeout in seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Attempts in all when the enclave answers Busy (issue 17), with capped
    /// exponential backoff and full jitter between them; 1 = do not retry.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=100))]
    busy_attempts: u32,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

fn recipient(spec: &str) -> anyhow::Result<Value> {
    let mut parts = spec.split(',');
    let pem_path = parts.next().unwrap_or_default();
    let pem = crate::cli::input::read_limited_string(
        std::path::Path::new(pem_path),
        crate::cli::input::MAX_CERT_FILE,
    )
    .with_context(|| format!("reading recipient key {pem_path}"))?;
    let der = rsa_spki_der(&pem).with_context(|| format!("recipient key {pem_path}"))?;
    let mut r = json!({"publicKey": B64.encode(der)});
    let mut arn = None;
    let mut ctx = Map::new();
    for p in parts {
        if let Some(a) = p.strip_prefix("kms=") {
            arn = Some(a.to_string());
        } else if let Some(kv) = p.strip_prefix("ctx=") {
            let (k, v) =
                kv.split_once(':').with_context(|| format!("ctx={kv} must be KEY:VALUE"))?;
            ctx.insert(k.into(), Value::String(v.into()));
        } else {
            bail!("unknown recipient option {p:?} (expected kms=ARN or ctx=K:V)");
        }
    }
    match arn {
        Some(a) => r["kms"] = json!({"arn": a, "encryptionContext": ctx}),
        None if !ctx.is_empty() => bail!("ctx= needs kms= in recipient {spec:?}"),
        None => {}
    }
    Ok(r)
}

fn rsa_spki_der(pem: &str) -> anyhow::Result<Vec<u8>> {
    use rsa::pkcs8::{DecodePublicKey, EncodePublicKey};
    let k =
        rsa::RsaPublicKey::from_public_key_pem(pem).context("not an RSA public key in SPKI PEM")?;
    Ok(k.to_public_key_der()?.as_bytes().to_vec())
}

/// The name an input carries in the request (and the receipt): its path
/// without a leading `/` or `.` components; `..` is refused.
fn input_name(p: &Path) -> anyhow::Result<String> {
    use std::path::Component;
    let mut parts = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => {
                parts.push(s.to_str().with_context(|| format!("{} is not UTF-8", p.display()))?)
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => bail!(
                "input path {} contains `..`; pass it relative to a common directory",
                p.display()
            ),
        }
    }
    if parts.is_empty() {
        bail!("input path {} names no file", p.display());
    }
    Ok(parts.join("/"))
}

/// `--secrets-repo` and `--secrets-rev`, resolved: the repository, its
/// work tree and the commit every input is proven against.
struct SecretsCommit {
    repo: SecretsRepo,
    toplevel: PathBuf,
    commit: String,
    name: String,
}

impl SecretsCommit {
    fn open(dir: &Path, rev: &str, name: Option<&str>) -> anyhow::Result<Self> {
        let repo = SecretsRepo::open(dir).context("--secrets-repo")?;
        let commit = repo.commit_id(rev).context("--secrets-rev")?;
        if repo.object_type(&commit)?.as_deref() != Some("commit") {
            bail!("--secrets-rev {commit} is not a commit of {}", dir.display());
        }
        let toplevel = repo.toplevel()?.ok_or_else(|| {
            anyhow::anyhow!("--secrets-repo {} has no work tree (a bare repository)", dir.display())
        })?;
        let name = match name {
            Some(n) => n.to_owned(),
            None => repo.origin_url().unwrap_or_else(|| format!("file://{}", toplevel.display())),
        };
        Ok(Self { repo, toplevel, commit, name })
    }

    /// The request's `git` member for the input at `file` and its proof
    /// objects. The file's bytes are sent as they are on disk: the enclave,
    /// not this untrusted parent, decides whether they are the blob.
    fn input(&self, file: &Path) -> anyhow::Result<(Value, ProofObjects)> {
        let abs = file.canonicalize().with_context(|| format!("{}", file.display()))?;
        let rel = abs.strip_prefix(&self.toplevel).map_err(|_| {
            anyhow::anyhow!(
                "input {} is not inside --secrets-repo {} (every input must be a file of it)",
                file.display(),
                self.toplevel.display()
            )
        })?;
        let path = rel
            .components()
            .map(|c| c.as_os_str().to_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .with_context(|| format!("{} is not UTF-8", rel.display()))?
            .join("/");
        let objects = self.repo.proof(&self.commit, &path).with_context(|| {
            format!("input {}: reading its proof at {}", file.display(), self.commit)
        })?;
        let git = json!({
            "repository": self.name,
            "commit": self.commit,
            "objectFormat": self.repo.format().name(),
            "path": path,
        });
        Ok((git, objects))
    }
}

fn write_new(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).internal(format!("writing {}", path.display()))
}

/// Runs `proofpack pack`.
pub fn run(args: PackArgs) -> anyhow::Result<ExitCode> {
    let ep: Endpoint = args.enclave.parse()?;
    let credentials = if args.send_credentials {
        Some(JobCredentials::from_env().context(
            "--send-credentials needs temporary AWS credentials in AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN",
        )?)
    } else {
        None
    };
    let secrets = match (&args.secrets_repo, &args.secrets_rev) {
        (Some(dir), Some(rev)) => {
            Some(SecretsCommit::open(dir, rev, args.secrets_repo_name.as_deref())?)
        }
        _ => None,
    };
    let mut files = Vec::new();
    let mut inputs = Vec::new();
    let mut proofs: Vec<Vec<u8>> = Vec::new();
    for p in &args.inputs {
        let bytes = read_limited(p, enclave::sops::MAX_FILE_BYTES as u64)?;
        let mut input =
            json!({"name": input_name(p)?, "sha256": hex::encode(Sha256::digest(&bytes))});
        if let Some(s) = &secrets {
            let (git, objects) = s.input(p)?;
            input["git"] = git;
            proofs.push(objects.commit_body);
            proofs.extend(objects.trees);
        }
        inputs.push(input);
        files.push(bytes);
    }
    let mut sealed = Vec::new();
    for spec in &args.sealed {
        let (user, path) =
            spec.split_once('=').with_context(|| format!("--sealed {spec:?} must be USER=FILE"))?;
        let p = PathBuf::from(path);
        let bytes = read_limited(&p, enclave::seal::MAX_FILE as u64)?;
        sealed.push(json!({"name": input_name(&p)?, "sha256": hex::encode(Sha256::digest(&bytes)), "user": user}));
        files.push(bytes);
    }
    let org_key = match (&args.org_key, sealed.is_empty()) {
        (Some(p), false) => {
            let bytes = read_limited(p, enclave::seal::org_key::MAX_BUNDLE as u64)?;
            let digest = hex::encode(Sha256::digest(&bytes));
            files.push(bytes);
            Some(digest)
        }
        (Some(_), true) => bail!("--org-key is only used with --sealed"),
        (None, _) => None,
    };
    let recipients =
        args.recipients.iter().map(|r| recipient(r)).collect::<anyhow::Result<Vec<_>>>()?;
    let mut nonce = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let job_id = args.job_id.clone().unwrap_or_else(|| format!("job-{}", hex::encode(&nonce[..8])));
    let mut request = json!({
        "_type": "https://proofpack.dev/pack-request/v1",
        "jobId": job_id,
        "nonce": hex::encode(nonce),
        "inputs": inputs,
        "outputs": [{"name": args.output, "recipients": recipients}],
        "target": {"service": args.service, "environment": args.environment},
    });
    if let (Some(d), Some(o)) = (org_key, request.as_object_mut()) {
        o.insert("sealedInputs".into(), Value::Array(sealed));
        o.insert("orgKey".into(), json!({ "sha256": d }));
    }
    if let Some(p) = &args.recipients_policy {
        let (bytes, _) = super::recipients::read_policy(p)?;
        if let Some(o) = request.as_object_mut() {
            o.insert("recipientsPolicy".into(), json!({"document": B64.encode(&bytes)}));
        }
    }
    // The proof objects go last (docs/formats/receipts.md §3.6).
    files.extend(proofs);
    let request_bytes = serde_json::to_vec(&request)?;
    let limits = Limits { io_timeout: Duration::from_secs(args.timeout), ..Limits::default() };
    let job = PackJob { request: request_bytes.clone(), inputs: files };
    let busy = BusyRetry { max_attempts: args.busy_attempts, ..BusyRetry::default() };
    let mut say_busy = |attempt: u32, wait: Duration, message: &str| {
        eprintln!(
            "the enclave is busy ({message}); attempt {attempt} of {}, retrying in {} ms",
            busy.max_attempts,
            wait.as_millis()
        );
    };
    let sent = call_with_busy_retry(&ep, &job, credentials.as_ref(), &limits, &busy, &mut say_busy);
    let out = match sent {
        Ok(o) => o,
        Err(TransportError::Remote { code: ErrorCode::Busy, message }) => {
            eprintln!(
                "error: the enclave was busy on all {} attempts for job {job_id} ({message}); nothing was packed, run it again later",
                busy.max_attempts
            );
            return Ok(ExitCode::from(exit::INTERNAL));
        }
        Err(TransportError::Remote { code, message }) => {
            eprintln!("error: the enclave did not pack job {job_id}: {message}");
            return Ok(ExitCode::from(match code {
                ErrorCode::JobFailed => exit::CHECK_FAILED,
                ErrorCode::Malformed => exit::INVALID_INPUT,
                _ => exit::INTERNAL,
            }));
        }
        Err(e) => {
            eprintln!("error: talking to the enclave at {}: {e}", args.enclave);
            return Ok(ExitCode::from(exit::INTERNAL));
        }
    };
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("creating {}", args.out_dir.display()))?;
    let mut written = Vec::new();
    for a in &out.artifacts {
        // The name comes from our own request; refuse anything path-like anyway.
        if a.name.contains('/') || a.name.contains('\\') || a.name.starts_with('.') {
            bail!("enclave returned an artifact name that is not a plain file name: {:?}", a.name);
        }
        let p = args.out_dir.join(&a.name);
        write_new(&p, &a.bytes)?;
        written.push(json!({"name": a.name, "path": p.display().to_string(),
            "sha256": hex::encode(Sha256::digest(&a.bytes)), "size": a.bytes.len()}));
    }
    let receipt_path = args.out_dir.join(format!("{}.receipt.json", args.output));
    write_new(&receipt_path, &out.receipt)?;
    let request_path = args.out_dir.join("request.json");
    write_new(&request_path, &request_bytes)?;
    match args.format {
        Format::Json => println!(
            "{}",
            json!({"jobId": job_id, "nonce": hex::encode(nonce), "artifacts": written,
                   "receipt": receipt_path.display().to_string(), "request": request_path.display().to_string()})
        ),
        Format::Text => {
            println!("packed job {job_id}");
            for w in &written {
                println!(
                    "  artifact {} sha256:{} ({} bytes)",
                    w["path"].as_str().unwrap_or(""),
                    w["sha256"].as_str().unwrap_or(""),
                    w["size"]
                );
            }
            println!("  receipt  {}", receipt_path.display());
            println!("  request  {}", request_path.display());
            println!("verify with: proofpack receipt verify {}", receipt_path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn input_names() {
        assert_eq!(input_name(Path::new("/tmp/x/base.enc.json")).unwrap(), "tmp/x/base.enc.json");
        assert_eq!(input_name(Path::new("./secrets/a.yaml")).unwrap(), "secrets/a.yaml");
        assert!(input_name(Path::new("../a.yaml")).is_err());
        assert!(input_name(Path::new("/")).is_err());
    }
}
