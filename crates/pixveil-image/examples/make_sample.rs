//! Regenerates the built-in sample in `crates/pixveil-image/sample/`: the first 256 images and
//! labels of the *test* split of each dataset, in the original formats (gzip IDX for the MNIST
//! family, a gzip CIFAR-10 batch), gzip written deterministically (mtime 0, no name, level 9).
//!
//! ```text
//! cargo run -p pixveil-image --example make_sample -- [DATA_DIR] [OUT_DIR]
//! ```
//!
//! `DATA_DIR` defaults to `$PIXVEIL_DATA_DIR`, else `../shared/data` beside the repository;
//! `OUT_DIR` to this crate's `sample/` folder. Running it twice gives identical files.

use std::{error::Error, path::PathBuf};

use pixveil_image::{cifar, dataset, idx, sample, DatasetKind, Split};

fn main() -> Result<(), Box<dyn Error>> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut args = std::env::args_os().skip(1);
    let data_dir = args
        .next()
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("PIXVEIL_DATA_DIR").map(PathBuf::from))
        .unwrap_or_else(|| manifest.join("../../../shared/data"));
    let out_dir = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("sample"));
    for kind in DatasetKind::ALL {
        let ds = dataset::load(kind, &data_dir, Split::Test)?.limit(sample::SAMPLE_LEN);
        let dir = out_dir.join(kind.name());
        std::fs::create_dir_all(&dir)?;
        let files = if kind == DatasetKind::Cifar10 {
            let f = dir.join(sample::CIFAR_FILE);
            cifar::write_batch(&f, &ds.images, &ds.labels, true)?;
            vec![f]
        } else {
            let (fi, fl) = (
                dir.join(sample::IDX_IMAGES_FILE),
                dir.join(sample::IDX_LABELS_FILE),
            );
            idx::write_images(&fi, &ds.images, true)?;
            idx::write_labels(&fl, &ds.labels, true)?;
            vec![fi, fl]
        };
        for f in files {
            println!("{} ({} bytes)", f.display(), std::fs::metadata(&f)?.len());
        }
    }
    Ok(())
}
