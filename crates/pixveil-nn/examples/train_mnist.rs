//! Trains the TenSEAL CNN on plain MNIST and prints per-epoch metrics as JSON lines.
//!
//! ```text
//! cargo run --release -p pixveil-nn --example train_mnist -- [DATA_DIR] [EPOCHS] [OUT.safetensors] [ARCH]
//! ```
//! `DATA_DIR` (default `$PIXVEIL_DATA_DIR` or `/work/shared/data`) holds `mnist/`;
//! `ARCH` is `tenseal-cnn` (default) or `he-cnn`; `-` skips saving.

use std::path::PathBuf;
use std::time::Instant;

use pixveil_image::{dataset, DatasetKind, Split};
use pixveil_nn::{evaluate, save, train_epoch, Adam, Architecture, Model, ModelConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .or_else(|| std::env::var("PIXVEIL_DATA_DIR").ok())
        .map_or_else(|| PathBuf::from("/work/shared/data"), PathBuf::from);
    let epochs: u64 = args.next().map_or(Ok(3), |s| s.parse())?;
    let out = args.next().filter(|s| s != "-").map(PathBuf::from);
    let arch = Architecture::from_name(&args.next().unwrap_or_else(|| "tenseal-cnn".into()))?;

    let train = dataset::load(DatasetKind::Mnist, &dir, Split::Train)?;
    let test = dataset::load(DatasetKind::Mnist, &dir, Split::Test)?;
    let mut model = Model::new(&ModelConfig::new(arch, [1, 28, 28]), 0)?;
    let mut opt = Adam::new(&model, 1e-3, 0.0);
    for epoch in 0..epochs {
        let t0 = Instant::now();
        let s = train_epoch(
            &mut model,
            &mut opt,
            &train.images,
            &train.labels,
            64,
            epoch,
            &mut |_| {},
        )?;
        let secs = t0.elapsed().as_secs_f64();
        let e = evaluate(&model, &test.images, &test.labels)?;
        println!(
            "{{\"epoch\":{},\"train_loss\":{:.4},\"train_acc\":{:.4},\"test_loss\":{:.4},\"test_acc\":{:.4},\"train_images_per_s\":{:.0}}}",
            epoch + 1,
            s.loss,
            s.accuracy,
            e.loss,
            e.accuracy,
            s.images as f64 / secs
        );
    }
    if let Some(path) = out {
        save(&path, &model, "none")?;
        eprintln!("saved {}", path.display());
    }
    Ok(())
}
