//! The cost of authenticating key-file settings (issue 15, item 1): file size with and without
//! the settings MAC, and load time of a file with the MAC (`KeyFile::from_bytes`: checks it)
//! against the same file without (`KeyFile::upgrade_legacy`: the load path of before, which
//! checks nothing), in the same run. Prints a markdown table.
//!
//! `cargo run --release -p pixveil-cipher --example keyfile_cost`

use std::time::Instant;

use pixveil_cipher::{KeyFile, KeyMode, SchemeSpec};
use pixveil_core::{format, kdf::Argon2Params};
use pixveil_image::Shape;

/// The file as written before issue 15: the same container without `kdf` and `mac`.
fn without_mac(bytes: &[u8]) -> Vec<u8> {
    let meta_len = u32::from_le_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]) as usize;
    let mut body_len = [0u8; 8];
    body_len.copy_from_slice(&bytes[20..28]);
    let body_len = u64::from_le_bytes(body_len) as usize;
    let mut meta: serde_json::Value =
        serde_json::from_slice(&bytes[28..28 + meta_len]).expect("key metadata is JSON");
    if let Some(o) = meta.as_object_mut() {
        o.remove("mac");
        o.remove("kdf");
    }
    let body = &bytes[28 + meta_len..28 + meta_len + body_len];
    format::encode("key", &meta, body).expect("re-encoding a key file")
}

/// Median seconds of `runs` calls of `f`.
fn median(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[runs / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let shape = Shape::new(32, 32, 3)?;
    let pass: &[u8] = b"correct horse battery staple";
    println!("| key file (32x32x3, per-image) | bytes without MAC | bytes with MAC | load without MAC | load with MAC (checked) | MAC check alone |");
    println!("|---|---|---|---|---|---|");
    let cases: Vec<(&str, KeyFile, Option<&[u8]>, usize)> = vec![
        (
            "pe, stored secret",
            KeyFile::generate(SchemeSpec::Pe { shuffle: true }, shape, KeyMode::PerImage)?,
            None,
            2001,
        ),
        (
            "grey, stored secret",
            KeyFile::generate(SchemeSpec::grey(), shape, KeyMode::PerImage)?,
            None,
            2001,
        ),
        (
            "pe, passphrase (Argon2id 19 MiB × 2)",
            KeyFile::from_passphrase(
                SchemeSpec::Pe { shuffle: true },
                shape,
                KeyMode::PerImage,
                pass,
                Argon2Params::default(),
            )?,
            Some(pass),
            11,
        ),
    ];
    for (name, key, pass, runs) in cases {
        let with = key.to_bytes()?;
        let without = without_mac(&with);
        let t_with = median(runs, || {
            KeyFile::from_bytes(&with, pass).expect("the key loads");
        });
        let t_without = median(runs, || {
            KeyFile::upgrade_legacy(&without, pass).expect("the old file loads");
        });
        // The MAC alone: the settings serialised and one HKDF + HMAC-SHA-256, as on load.
        let meta_len = u32::from_le_bytes([with[16], with[17], with[18], with[19]]) as usize;
        let mut settings: serde_json::Value = serde_json::from_slice(&with[28..28 + meta_len])?;
        if let Some(o) = settings.as_object_mut() {
            o.remove("mac");
        }
        let t_mac = median(20001, || {
            std::hint::black_box(
                format::settings_tag(key.secret(), "key", &settings).expect("serialises"),
            );
        });
        println!(
            "| {name} | {} | {} (+{}) | {:.1} µs | {:.1} µs | {:.1} µs |",
            without.len(),
            with.len(),
            with.len() - without.len(),
            t_without * 1e6,
            t_with * 1e6,
            t_mac * 1e6,
        );
    }
    Ok(())
}
