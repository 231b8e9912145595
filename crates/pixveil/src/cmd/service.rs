//! `pixveil serve` and `pixveil client`: the encrypted-inference server and its client
//! (library: `pixveil-service`).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use pixveil_henn::Mode;
use pixveil_image::{input, ImageBatch};
use pixveil_service::client::{self, ClassifyOptions, ClientKey, Connection, Retry};
use pixveil_service::ServerConfig;
use serde::Serialize;

use super::he::ModeArg;

/// `pixveil serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Model to serve (tenseal-cnn or he-cnn, from `pixveil train` or `export-model`).
    #[arg(long, value_name = "MODEL")]
    pub model: PathBuf,
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Folder of persistent state (registered keys).
    #[arg(long, value_name = "DIR", default_value = "pixveil-data")]
    pub data_dir: PathBuf,
    /// Largest request body, MiB.
    #[arg(long, value_name = "MIB", default_value_t = 256)]
    pub max_body_mib: u64,
    /// Key store capacity, MiB of serialized keys (least recently used evicted first).
    #[arg(long, value_name = "MIB", default_value_t = 1024)]
    pub key_store_mib: u64,
    /// Parsed key sets kept in memory (each about 4× its serialized size).
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub resident_keys: usize,
    /// Evaluations running at once (each already uses every --threads core).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub max_concurrent: usize,
    /// Requests waiting for an evaluation before the server answers 503.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_queue: usize,
    /// Time limit of one request, seconds.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub request_timeout: u64,
    /// Time a client has to send its request headers, seconds.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub header_timeout: u64,
    /// Open connections at most.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub max_connections: usize,
}

pub fn serve(a: &ServeArgs) -> Result<()> {
    let config = ServerConfig {
        listen: a.listen,
        data_dir: a.data_dir.clone(),
        max_body_bytes: a.max_body_mib << 20,
        key_store_bytes: a.key_store_mib << 20,
        resident_keys: a.resident_keys,
        max_concurrent: a.max_concurrent,
        max_queue: a.max_queue,
        request_timeout: Duration::from_secs(a.request_timeout),
        header_timeout: Duration::from_secs(a.header_timeout),
        max_connections: a.max_connections,
    };
    pixveil_service::server::run(&a.model, config, |addr, plan| {
        let spec = plan.spec();
        eprintln!(
            "serving {} ({}, scheme {}, plan {}) with data in {}",
            a.model.display(),
            spec.architecture,
            spec.scheme,
            hex::encode(spec.id()),
            a.data_dir.display()
        );
        println!("listening on http://{addr}");
        let _ = std::io::stdout().flush();
    })
    .with_context(|| format!("serving {}", a.model.display()))
}

/// `pixveil client`.
#[derive(Debug, clap::Subcommand)]
pub enum ClientCommand {
    /// Fetch the server's model card, make CKKS keys (and hold the perceptual key of a
    /// hybrid model), register the public evaluation keys, save the client key.
    Keygen(ClientKeygenArgs),
    /// Encrypt images, have the server classify them, decrypt the scores.
    Classify(ClientClassifyArgs),
}

/// `pixveil client keygen`.
#[derive(Debug, clap::Args)]
pub struct ClientKeygenArgs {
    /// Server URL, e.g. http://127.0.0.1:8080.
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// Client key file to write (holds the secret key: keep it private).
    #[arg(short, long, value_name = "CLIENT_KEY")]
    pub output: PathBuf,
    /// Keys for latency mode (Galois keys; serve both modes) or throughput mode only
    /// (relinearization key; much smaller).
    #[arg(long, value_enum, default_value_t = ModeArg::Latency)]
    pub mode: ModeArg,
    /// Perceptual key of a model trained on encrypted images (a `pixveil keygen` file).
    #[arg(long, value_name = "KEY")]
    pub perceptual_key: Option<PathBuf>,
    /// The key's passphrase.
    #[command(flatten)]
    pub passphrase: crate::cli::PassphraseArgs,
}

/// `pixveil client classify`.
#[derive(Debug, clap::Args)]
pub struct ClientClassifyArgs {
    /// Server URL (default: the one the client key was made against).
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Client key file from `pixveil client keygen`.
    #[arg(long, value_name = "CLIENT_KEY")]
    pub key: PathBuf,
    /// One request per image (latency) or per batch of up to N/2 images (throughput).
    #[arg(long, value_enum, default_value_t = ModeArg::Latency)]
    pub mode: ModeArg,
    /// The key's passphrase.
    #[command(flatten)]
    pub passphrase: crate::cli::PassphraseArgs,
    /// Seconds to keep retrying a server that is restarting or overloaded.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub patience: u64,
    /// Print one JSON array of {"image", "class", "scores"}.
    #[arg(long)]
    pub json: bool,
    /// Images: PNG/JPEG files, folders of them, IDX image files or CIFAR-10 batches.
    #[arg(required = true, value_name = "IMAGE")]
    pub inputs: Vec<PathBuf>,
}

fn mode(m: ModeArg) -> Mode {
    match m {
        ModeArg::Latency => Mode::Latency,
        ModeArg::Throughput => Mode::Throughput,
    }
}

pub fn client(c: &ClientCommand, quiet: bool) -> Result<()> {
    match c {
        ClientCommand::Keygen(a) => keygen(a),
        ClientCommand::Classify(a) => classify(a, quiet),
    }
}

fn keygen(a: &ClientKeygenArgs) -> Result<()> {
    super::check_writable(&a.output)?;
    let perceptual = a
        .perceptual_key
        .as_deref()
        .map(|p| std::fs::read(p).with_context(|| format!("cannot read key file {}", p.display())))
        .transpose()?
        .map(zeroize::Zeroizing::new);
    let pass = a
        .passphrase
        .path()
        .map(super::read_passphrase)
        .transpose()?;
    let conn = Connection::new(&a.server, Retry::default())?;
    let (key, reg) = client::keygen(
        &conn,
        mode(a.mode),
        perceptual.as_deref().map(Vec::as_slice),
        pass.as_deref().map(Vec::as_slice),
    )?;
    super::write_secret_atomic(&a.output, &key.to_bytes()?)?;
    eprintln!(
        "wrote {} for {} ({}, scheme {}); registered {} keys {} ({:.1} MB)",
        a.output.display(),
        conn.server(),
        key.spec().architecture,
        key.spec().scheme,
        reg.mode,
        reg.key_id,
        reg.bytes as f64 / 1e6
    );
    Ok(())
}

#[derive(Serialize)]
struct Classified {
    image: String,
    class: usize,
    scores: Vec<f64>,
}

fn classify(a: &ClientClassifyArgs, quiet: bool) -> Result<()> {
    let bytes = std::fs::read(&a.key)
        .with_context(|| format!("cannot read client key {}", a.key.display()))?;
    let key =
        ClientKey::from_bytes(&bytes).with_context(|| format!("client key {}", a.key.display()))?;
    let pass = a
        .passphrase
        .path()
        .map(super::read_passphrase)
        .transpose()?;
    let server = a.server.as_deref().unwrap_or(key.server());
    let conn = Connection::new(
        server,
        Retry {
            patience: Duration::from_secs(a.patience),
        },
    )?;
    let mut names = Vec::new();
    let mut shape = None;
    let mut data = Vec::new();
    for path in &a.inputs {
        let inp = input::read_input(path)?;
        match shape {
            None => shape = Some(inp.images.shape()),
            Some(s) if s != inp.images.shape() => bail!(
                "{} holds {} images, the earlier inputs {s}",
                path.display(),
                inp.images.shape()
            ),
            Some(_) => {}
        }
        names.extend(inp.item_names());
        data.extend_from_slice(inp.images.as_bytes());
    }
    let Some(shape) = shape else {
        bail!("no images given");
    };
    let images = ImageBatch::new(shape, data)?;
    let bar = crate::progress::bar(images.len() as u64, "classify", quiet);
    let scores = client::classify(
        &conn,
        &key,
        &images,
        ClassifyOptions {
            mode: mode(a.mode),
            passphrase: pass.as_deref().map(Vec::as_slice),
        },
        &|done| bar.set_position(done as u64),
    )?;
    bar.finish_and_clear();
    let out: Vec<Classified> = names
        .into_iter()
        .zip(scores)
        .map(|(image, s)| Classified {
            image,
            class: s.class,
            scores: s.scores,
        })
        .collect();
    if a.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        for c in &out {
            println!("{}\t{}", c.image, c.class);
        }
    }
    Ok(())
}
