//! The `pixveil analyze --all` report: every scheme × key mode, metrics and attacks (with their
//! trivial baselines, the statistical attack when public images are given, and the content
//! score when a classifier is given), as markdown tables.

use pixveil_cipher::{BatchCipher, KeyMode, SchemeSpec};
use pixveil_core::MasterSecret;
use pixveil_image::ImageBatch;
use serde::Serialize;

use crate::attacks::{coa, cpa, kpa, stat, AttackOutcome, ContentJudge, EncryptionOracle};
use crate::metrics::{analyze, Analysis, AnalyzeOptions};
use crate::Result;

/// What [`run_all`] does.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    /// Scheme names ([`SchemeSpec::from_name`]). By default, this is every name.
    pub schemes: Vec<String>,
    /// Block size for block schemes. By default, this is 4.
    pub block: u32,
    /// Known pairs tried by the known-plaintext attack. By default, this is `[1, 2, 4, 8]`.
    pub pairs: Vec<usize>,
    /// Held-out images per known- and chosen-plaintext attack. By default, this is 200.
    pub attack_limit: usize,
    /// Held-out images per ciphertext-only jigsaw attack (the slow one; the MSB and neighbour
    /// attacks take `attack_limit`). By default, this is 20.
    pub coa_limit: usize,
    /// Victim images of the statistical attack (`None`: every image). By default, this is
    /// `None`.
    pub stat_limit: Option<usize>,
    /// Metric options.
    pub analyze: AnalyzeOptions,
}

impl Default for ReportOptions {
    fn default() -> Self {
        Self {
            schemes: SchemeSpec::NAMES.iter().map(|s| (*s).to_string()).collect(),
            block: 4,
            pairs: vec![1, 2, 4, 8],
            attack_limit: 200,
            coa_limit: 20,
            stat_limit: None,
            analyze: AnalyzeOptions::default(),
        }
    }
}

/// One scheme × mode: metrics and every attack.
#[derive(Clone, Debug, Serialize)]
pub struct ReportRow {
    /// Scheme name.
    pub scheme: String,
    /// Key mode.
    pub mode: String,
    /// Metrics.
    pub metrics: Analysis,
    /// Known-plaintext attacks, one per pair count.
    pub kpa: Vec<AttackOutcome>,
    /// The chosen-plaintext attack.
    pub cpa: AttackOutcome,
    /// Ciphertext-only attacks (MSB and neighbour search for pixel schemes, jigsaw for EtC).
    pub coa: Vec<AttackOutcome>,
    /// The statistical ciphertext-only attack (only with public images).
    pub stat: Option<AttackOutcome>,
}

/// What the report attacks, and with what.
#[derive(Clone, Copy, Debug)]
pub struct ReportInputs<'a> {
    /// The victim's plain images (metrics, attack targets).
    pub images: &'a ImageBatch,
    /// Public plain images of the same kind for the statistical attack (e.g. the training
    /// split when `images` is the test split); no statistical attack without them.
    pub public: Option<&'a ImageBatch>,
    /// Scores every attack's reconstructions with a plain-trained classifier; no content
    /// score without it.
    pub judge: Option<&'a ContentJudge<'a>>,
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Image shape.
    pub shape: String,
    /// Images measured.
    pub images: usize,
    /// Rows, scheme-major, fixed before per-image.
    pub rows: Vec<ReportRow>,
    /// Schemes skipped (e.g. a block size that does not divide the shape), with the reason.
    pub skipped: Vec<String>,
    /// Public images of the statistical attack (0: not run).
    pub public_images: usize,
    /// The content classifier and its accuracy on every plain image (`None`: no content
    /// score).
    pub classifier: Option<(String, f64)>,
}

/// Runs metrics and attacks for every scheme of `opts` in both key modes, with fresh keys from
/// the OS generator. `progress(done, total)` is called after each scheme × mode.
///
/// # Errors
/// Only errors that are not about one scheme (those are recorded in [`Report::skipped`]).
pub fn run_all(
    inputs: ReportInputs<'_>,
    opts: &ReportOptions,
    progress: &dyn Fn(usize, usize),
) -> Result<Report> {
    let images = inputs.images;
    let shape = images.shape();
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    let total = opts.schemes.len() * 2;
    let mut done = 0;
    for name in &opts.schemes {
        let spec = match SchemeSpec::from_name(name, Some(opts.block)) {
            Ok(s) => s,
            Err(e) => {
                skipped.push(format!("{name}: {e}"));
                continue;
            }
        };
        for mode in [KeyMode::Fixed, KeyMode::PerImage] {
            done += 1;
            match run_one(inputs, &spec, mode, opts) {
                Ok(r) => rows.push(r),
                Err(e) => skipped.push(format!("{} ({mode}): {e}", spec.name())),
            }
            progress(done, total);
        }
    }
    Ok(Report {
        shape: shape.to_string(),
        images: images.len(),
        rows,
        skipped,
        public_images: inputs.public.map_or(0, ImageBatch::len),
        classifier: inputs
            .judge
            .map(|j| (j.name().to_string(), j.plain_accuracy())),
    })
}

/// Metrics and attacks for one scheme and mode with a fresh key; every outcome is scored by
/// the judge (if any) as soon as it exists, so its held-out images are freed.
///
/// # Errors
/// Cipher errors (e.g. the scheme does not fit the shape), too few images, classifier errors.
pub fn run_one(
    inputs: ReportInputs<'_>,
    spec: &SchemeSpec,
    mode: KeyMode,
    opts: &ReportOptions,
) -> Result<ReportRow> {
    let images = inputs.images;
    let shape = images.shape();
    let secret = MasterSecret::generate_os();
    let metrics = analyze(images, spec, mode, &secret, opts.analyze)?;
    let bc = BatchCipher::new(spec.clone(), shape, mode, &secret)?;
    let judged = |mut o: AttackOutcome| -> Result<AttackOutcome> {
        if let Some(j) = inputs.judge {
            j.score(&mut o)?;
        }
        o.held_out_images = None;
        Ok(o)
    };
    let mut kpas = Vec::new();
    for &k in opts.pairs.iter().filter(|&&k| k < images.len()) {
        kpas.push(judged(kpa::run(
            &EncryptionOracle::new(&bc),
            images,
            k,
            Some(opts.attack_limit),
        )?)?);
    }
    let cpa = judged(cpa::run(
        &EncryptionOracle::new(&bc),
        images,
        Some(opts.attack_limit),
    )?)?;
    let methods: &[coa::CoaMethod] = match spec {
        SchemeSpec::Etc { .. } => &[coa::CoaMethod::Jigsaw],
        _ => &[coa::CoaMethod::Msb, coa::CoaMethod::Neighbour],
    };
    let mut coas = Vec::new();
    for &m in methods {
        let limit = if m == coa::CoaMethod::Jigsaw {
            opts.coa_limit
        } else {
            opts.attack_limit
        };
        coas.push(judged(coa::run(
            &EncryptionOracle::new(&bc),
            images,
            Some(limit),
            m,
        )?)?);
    }
    let stat = match inputs.public {
        Some(public) => Some(judged(stat::run(
            &EncryptionOracle::new(&bc),
            images,
            public,
            opts.stat_limit,
        )?)?),
        None => None,
    };
    Ok(ReportRow {
        scheme: spec.name(),
        mode: mode.to_string(),
        metrics,
        kpa: kpas,
        cpa,
        coa: coas,
        stat,
    })
}

fn cell(o: &AttackOutcome) -> String {
    let mut s = format!("{:.1}% / {:.1} dB", 100.0 * o.recovered_fraction, o.psnr_db);
    if let (Some(dc), Some(nc)) = (o.direct_comparison, o.neighbour_comparison) {
        s.push_str(&format!(" (Dc {:.2}, Nc {:.2})", dc, nc));
    }
    s
}

fn acc(o: &AttackOutcome) -> String {
    o.content.as_ref().map_or("–".to_string(), |c| {
        format!("{:.1}", 100.0 * c.reconstruction)
    })
}

impl Report {
    /// The content-score table: accuracy (%) of the plain-trained classifier on the held-out
    /// plain images, their ciphertexts, and each attack's reconstructions.
    fn content_markdown(&self, name: &str, plain: f64, pairs: &[usize]) -> String {
        let mut s = format!(
            "\nContent score: accuracy % of a classifier trained on plain images ({name}; {:.1}% \
             on all {} plain images) on the held-out plain images, on their ciphertexts (no \
             attack) and on each attack's reconstructions. Chance is 10%.\n\n| scheme | mode | \
             plain | ciphertext |",
            100.0 * plain,
            self.images
        );
        for k in pairs {
            s.push_str(&format!(" KPA k={k} |"));
        }
        s.push_str(" CPA | COA | stat | ciphertext (stat images) |\n|---|---|---|---|");
        for _ in pairs {
            s.push_str("---|");
        }
        s.push_str("---|---|---|---|\n");
        for r in &self.rows {
            let c = r.cpa.content.as_ref();
            s.push_str(&format!(
                "| {} | {} | {} | {} |",
                r.scheme,
                r.mode,
                c.map_or("–".to_string(), |c| format!("{:.1}", 100.0 * c.plain)),
                c.map_or("–".to_string(), |c| format!(
                    "{:.1}",
                    100.0 * c.ciphertext
                )),
            ));
            for o in &r.kpa {
                s.push_str(&format!(" {} |", acc(o)));
            }
            let coa: Vec<String> = r
                .coa
                .iter()
                .map(|o| format!("{}: {}", o.method, acc(o)))
                .collect();
            let stat_c = r.stat.as_ref().and_then(|o| o.content.as_ref());
            s.push_str(&format!(
                " {} | {} | {} | {} |\n",
                acc(&r.cpa),
                coa.join("; "),
                r.stat.as_ref().map_or("–".to_string(), acc),
                stat_c.map_or("–".to_string(), |c| format!(
                    "{:.1}",
                    100.0 * c.ciphertext
                )),
            ));
        }
        s
    }

    /// The markdown tables: metrics (encrypted images; plain images in the first line), and
    /// attacks (recovered exact values % / PSNR of the reconstruction).
    pub fn to_markdown(&self) -> String {
        let mut s =
            format!(
            "Images: {} of shape {}. Metrics are mean ± std over images; NPCR/UACI over the first \
             {} images.\n\n",
            self.images,
            self.shape,
            self.rows.first().map_or(0, |r| r.metrics.sensitivity_images)
        );
        s.push_str(
            "| scheme | mode | key space (bits) | entropy | local entropy | corr. H | corr. V | corr. D | χ² | NPCR key % | UACI key % | NPCR plain % | UACI plain % | PSNR dB | SSIM |\n\
             |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
        );
        if let Some(r) = self.rows.first() {
            let m = &r.metrics;
            s.push_str(&format!(
                "| *plain images* | | | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.0} | | | | | | |\n",
                m.entropy.plain,
                m.local_entropy.plain,
                m.correlation_horizontal.plain,
                m.correlation_vertical.plain,
                m.correlation_diagonal.plain,
                m.chi2.plain.mean
            ));
        }
        for r in &self.rows {
            let m = &r.metrics;
            s.push_str(&format!(
                "| {} | {} | {:.0} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.3} |\n",
                r.scheme,
                r.mode,
                m.key_space.nominal_bits,
                m.entropy.encrypted,
                m.local_entropy.encrypted,
                m.correlation_horizontal.encrypted,
                m.correlation_vertical.encrypted,
                m.correlation_diagonal.encrypted,
                m.chi2.encrypted.mean,
                m.npcr_key.mean,
                m.uaci_key.mean,
                m.npcr_plaintext.mean,
                m.uaci_plaintext.mean,
                m.psnr_db.mean,
                m.ssim.mean,
            ));
        }
        // A report without rows has no KPA columns.
        let pairs: Vec<usize> = self
            .rows
            .first()
            .map(|r| r.kpa.iter().map(|o| o.pairs).collect())
            .unwrap_or_default();
        s.push_str("\nAttacks: exactly recovered held-out values % / PSNR of the reconstruction (100 dB = exact).\n\n| scheme | mode |");
        for k in &pairs {
            s.push_str(&format!(" KPA k={k} |"));
        }
        s.push_str(" CPA (queries) | COA | stat (public statistics) | baselines: most common / identity / coin |\n|---|---|");
        for _ in &pairs {
            s.push_str("---|");
        }
        s.push_str("---|---|---|---|\n");
        for r in &self.rows {
            s.push_str(&format!("| {} | {} |", r.scheme, r.mode));
            for o in &r.kpa {
                s.push_str(&format!(" {} |", cell(o)));
            }
            s.push_str(&format!(" {} ({}) |", cell(&r.cpa), r.cpa.queries));
            let coa: Vec<String> = r
                .coa
                .iter()
                .map(|o| format!("{}: {}", o.method, cell(o)))
                .collect();
            s.push_str(&format!(" {} |", coa.join("; ")));
            let stat = r.stat.as_ref().map_or("–".to_string(), cell);
            let b = &r.cpa.baselines;
            s.push_str(&format!(
                " {stat} | {:.1}% / {:.1}% / {} |\n",
                100.0 * b.most_common,
                100.0 * b.identity,
                b.coin
                    .map_or("–".to_string(), |c| format!("{:.1}%", 100.0 * c))
            ));
        }
        s.push_str(&format!(
            "\nBaselines: over the CPA's held-out values (KPA's differ by the k images left out). \
             Most common = one value guessed everywhere; identity = the ciphertext taken as the \
             plaintext; coin = a random mask per value (schemes that keep values in place). stat: \
             {} victim images against {} public images.\n",
            self.rows
                .iter()
                .find_map(|r| r.stat.as_ref().map(|o| o.held_out))
                .unwrap_or(0), // no statistical attack was run: 0 victims
            self.public_images
        ));
        if let Some((name, acc)) = &self.classifier {
            s.push_str(&self.content_markdown(name, *acc, &pairs));
        }
        for k in &self.skipped {
            s.push_str(&format!("\nSkipped: {k}\n"));
        }
        s
    }
}
