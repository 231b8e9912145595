//! Progress bars on stderr (hidden when stderr is not a terminal or with `--quiet`).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar of `len` items with a message, or a hidden one.
pub fn bar(len: u64, msg: &str, quiet: bool) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if quiet {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    let style =
        ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
            .expect("the template is a valid constant")
            .progress_chars("=> ");
    pb.set_style(style);
    pb.set_message(msg.to_string());
    pb
}

/// A progress bar over the images of one training epoch; the message carries the running loss
/// and accuracy.
pub fn train_bar(len: u64, quiet: bool) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if quiet {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    let style = ProgressStyle::with_template("{msg} [{bar:25}] {pos}/{len} {per_sec} eta {eta}")
        .expect("the template is a valid constant")
        .progress_chars("=> ");
    pb.set_style(style);
    pb
}

/// Training progress on stderr: a bar per epoch (hidden with `--quiet`) and, with `log_epochs`,
/// one line per epoch and a line when a run is resumed.
pub struct TrainProgress {
    quiet: bool,
    log_epochs: bool,
    bar: Option<(ProgressBar, String)>,
}

impl TrainProgress {
    /// Progress for one training job.
    pub fn new(quiet: bool, log_epochs: bool) -> Self {
        Self {
            quiet,
            log_epochs,
            bar: None,
        }
    }
}

impl pixveil_ml::train::TrainObserver for TrainProgress {
    fn note(&mut self, text: &str) {
        eprintln!("note: {text}");
    }

    fn resumed(&mut self, model: &std::path::Path, done: usize, total: usize) {
        if self.log_epochs {
            eprintln!("resuming {} after epoch {done} of {total}", model.display());
        }
    }

    fn epoch_started(&mut self, epoch: usize, total: usize, images: usize) {
        let pb = train_bar(images as u64, self.quiet);
        let label = format!("epoch {}/{}", epoch + 1, total);
        pb.set_message(label.clone());
        self.bar = Some((pb, label));
    }

    fn batch(&mut self, p: pixveil_ml::engine::BatchProgress) {
        if let Some((pb, label)) = &self.bar {
            pb.set_position(p.done as u64);
            pb.set_message(format!(
                "{label} loss {:.4} acc {:.2}%",
                p.loss,
                100.0 * p.accuracy
            ));
        }
    }

    fn epoch_trained(&mut self) {
        if let Some((pb, _)) = self.bar.take() {
            pb.finish_and_clear();
        }
    }

    fn epoch_finished(&mut self, r: &pixveil_ml::train::EpochRecord, total: usize) {
        if self.log_epochs {
            let test = r
                .test_accuracy
                .map_or_else(|| "  -    ".to_owned(), |a| format!("{:6.2}%", 100.0 * a));
            eprintln!(
                "epoch {:>3}/{}  lr {:.2e}  loss {:.4}  train {:6.2}%  test {test}  {:.1} s",
                r.epoch,
                total,
                r.lr,
                r.train_loss,
                100.0 * r.train_accuracy,
                r.seconds
            );
        }
    }
}
