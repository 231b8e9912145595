//! End-to-end tests of the `pixveil` binary: round trips through real files, and every kind of
//! bad input giving a one-line `error:` and exit status 1 (never a panic, never partial output).

use std::{fs, path::Path};

use predicates::prelude::*;
use tempfile::TempDir;

use crate::common::{assert_error, keygen, pixveil};

/// `pixveil --quiet encrypt|decrypt --key KEY INPUT -o OUT` (`op` = `encrypt` or `decrypt`).
fn crypt(op: &str, key: &Path, input: &Path, out: &Path) -> assert_cmd::Command {
    let mut c = pixveil();
    c.args([op, "--key"]).arg(key).arg(input).arg("-o").arg(out);
    c
}

/// Writes a small IDX image file (`n` images of 28×28), gzip-compressed or not.
fn write_idx(path: &Path, n: u32, gzip: bool) {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&0x0803u32.to_be_bytes());
    bytes.extend_from_slice(&n.to_be_bytes());
    bytes.extend_from_slice(&28u32.to_be_bytes());
    bytes.extend_from_slice(&28u32.to_be_bytes());
    for i in 0..n * 28 * 28 {
        bytes.push((i.wrapping_mul(2654435761) >> 13) as u8);
    }
    if gzip {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&bytes).unwrap();
        bytes = enc.finish().unwrap();
    }
    fs::write(path, bytes).unwrap();
}

fn decoded(path: &Path) -> Vec<u8> {
    let raw = fs::read(path).unwrap();
    if raw.starts_with(&[0x1f, 0x8b]) {
        use std::io::Read;
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        raw
    }
}

#[test]
fn round_trip_every_scheme_and_mode_gzip_idx() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("t10k-images-idx3-ubyte.gz");
    write_idx(&input, 5, true);
    for scheme in ["pe", "pe-np", "logistic", "grey", "le", "etc"] {
        for mode in ["fixed", "per-image"] {
            let key = keygen(
                dir.path(),
                &format!("{scheme}-{mode}.key"),
                scheme,
                "28x28x1",
                mode,
            );
            let enc = dir.path().join(format!("{scheme}-{mode}.idx.gz"));
            let dec = dir.path().join(format!("{scheme}-{mode}.dec.gz"));
            crypt("encrypt", &key, &input, &enc).assert().success();
            assert!(
                fs::read(&enc).unwrap().starts_with(&[0x1f, 0x8b]),
                "output keeps gzip"
            );
            assert_ne!(
                decoded(&enc),
                decoded(&input),
                "{scheme} {mode} changed nothing"
            );
            crypt("decrypt", &key, &enc, &dec).assert().success();
            assert_eq!(decoded(&dec), decoded(&input), "{scheme} {mode} round trip");
        }
    }
}

#[test]
fn info_describes_any_container_without_its_body() {
    // A CKKS ciphertext (or any container kind `info` has no view of): kind, metadata and
    // body size; a damaged one is an error.
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("x.ct");
    let meta = serde_json::json!({"layout": 2, "params": "00112233445566778899aabbccddeeff"});
    let bytes = pixveil_core::format::encode("ckks-ct", &meta, &[9u8; 40]).unwrap();
    fs::write(&path, &bytes).unwrap();
    let v = crate::common::json_of(pixveil().args(["info", "--json"]).arg(&path));
    assert_eq!(v["kind"], "ckks-ct");
    assert_eq!(v["metadata"], meta);
    assert_eq!(v["body_bytes"], 40);
    let mut bad = bytes;
    bad[40] ^= 1;
    fs::write(&path, &bad).unwrap();
    assert_error(pixveil().arg("info").arg(&path), "checksum");
}

#[test]
fn json_summary_and_info() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("imgs-idx3-ubyte");
    write_idx(&input, 3, false);
    let key = keygen(dir.path(), "k", "pe", "28x28x1", "per-image");
    let enc = dir.path().join("enc-idx3-ubyte");
    let out = pixveil()
        .args(["encrypt", "--json", "--key"])
        .arg(&key)
        .arg(&input)
        .arg("-o")
        .arg(&enc)
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["images"], 3);
    assert_eq!(v["mode"], "per-image");
    let info = pixveil()
        .args(["info", "--json"])
        .arg(&key)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(v["kind"], "key");
    assert_eq!(
        v["shape"],
        serde_json::json!({"height": 28, "width": 28, "channels": 1})
    );
    let text = String::from_utf8(info.stdout).unwrap();
    let secret = fs::read(&key).unwrap();
    let body = &secret[secret.len() - 64..secret.len() - 32];
    let hex: String = body.iter().map(|b| format!("{b:02x}")).collect();
    assert!(!text.contains(&hex), "info must not print the secret");
    let info = pixveil()
        .args(["info", "--json"])
        .arg(&enc)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(v["images"], 3);
    assert_eq!(v["encrypted"], true);
}

#[test]
fn bad_inputs_give_clear_errors() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let input = d.join("in-idx3-ubyte");
    write_idx(&input, 4, false);
    let key = keygen(d, "k", "pe", "28x28x1", "fixed");
    let out = d.join("out-idx3-ubyte");

    // Truncated data file; no output is left behind.
    let trunc = d.join("trunc-idx3-ubyte");
    let bytes = fs::read(&input).unwrap();
    fs::write(&trunc, &bytes[..bytes.len() - 100]).unwrap();
    assert_error(&mut crypt("encrypt", &key, &trunc, &out), "trunc");
    assert!(!out.exists());

    // Corrupt magic.
    let mut bad = bytes.clone();
    bad[2] = 0x55;
    fs::write(&trunc, &bad).unwrap();
    assert_error(&mut crypt("encrypt", &key, &trunc, &out), "trunc");

    // Key for another shape.
    let key32 = keygen(d, "k32", "pe", "32x32x3", "fixed");
    assert_error(
        &mut crypt("encrypt", &key32, &input, &out),
        "shape mismatch",
    );

    // Wrong key on decrypt.
    crypt("encrypt", &key, &input, &out).assert().success();
    let other = keygen(d, "k2", "pe", "28x28x1", "fixed");
    assert_error(
        &mut crypt("decrypt", &other, &out, &d.join("x")),
        "wrong key",
    );
    // Key of another scheme.
    let other = keygen(d, "k3", "logistic", "28x28x1", "fixed");
    assert_error(
        &mut crypt("decrypt", &other, &out, &d.join("x")),
        "wrong key",
    );

    // Tampered key file, truncated key file, a key file of a newer version, not a key at all.
    let kbytes = fs::read(&key).unwrap();
    let tampered = d.join("tampered.key");
    let mut t = kbytes.clone();
    let last = t.len() - 40;
    t[last] ^= 1;
    fs::write(&tampered, &t).unwrap();
    assert_error(
        &mut crypt("encrypt", &tampered, &input, &d.join("y")),
        "checksum",
    );
    fs::write(&tampered, &kbytes[..kbytes.len() / 2]).unwrap();
    assert_error(
        &mut crypt("encrypt", &tampered, &input, &d.join("y")),
        "truncated",
    );
    let mut newer = kbytes.clone();
    newer[4] = 2;
    fs::write(&tampered, &newer).unwrap();
    assert_error(
        &mut crypt("encrypt", &tampered, &input, &d.join("y")),
        "newer",
    );
    assert_error(
        &mut crypt("encrypt", &input, &input, &d.join("y")),
        "not a pixveil file",
    );
    assert!(!d.join("y").exists());

    // Unwritable output path.
    assert_error(
        &mut crypt("encrypt", &key, &input, &d.join("no/such/dir/out")),
        "cannot write",
    );
    // Missing input.
    assert_error(
        &mut crypt("encrypt", &key, &d.join("missing"), &d.join("z")),
        "missing",
    );
    // Refuses to overwrite a key without --force.
    pixveil()
        .args(["keygen", "--scheme", "pe", "--shape", "28x28x1", "-o"])
        .arg(&key)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--force"));
    // Bad usage is exit status 2.
    pixveil()
        .args(["keygen", "--scheme", "pe"])
        .assert()
        .code(2);
    assert_error(
        pixveil()
            .args(["keygen", "--scheme", "nope", "--shape", "2x2x1", "-o"])
            .arg(d.join("n")),
        "unknown scheme",
    );
    assert_error(
        pixveil()
            .args(["keygen", "--scheme", "le", "--shape", "30x30x3", "-o"])
            .arg(d.join("n")),
        "",
    );
}

#[test]
fn per_image_mode_needs_its_manifest() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let input = d.join("in-idx3-ubyte");
    write_idx(&input, 3, false);
    let key = keygen(d, "k", "logistic", "28x28x1", "per-image");
    let enc = d.join("enc-idx3-ubyte");
    crypt("encrypt", &key, &input, &enc).assert().success();
    let manifest = d.join("enc-idx3-ubyte.pxv");
    assert!(manifest.exists());
    // Same image twice under per-image keys: different ciphertexts.
    let mut m = fs::read(&manifest).unwrap();
    let last = m.len() - 40;
    m[last] ^= 0x80;
    fs::write(&manifest, &m).unwrap();
    assert_error(&mut crypt("decrypt", &key, &enc, &d.join("x")), "checksum");
    fs::remove_file(&manifest).unwrap();
    assert_error(&mut crypt("decrypt", &key, &enc, &d.join("x")), "missing");
}

#[test]
fn passphrase_keys() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let pass = d.join("pass");
    fs::write(&pass, "correct horse battery staple\n").unwrap();
    let key = d.join("k");
    pixveil()
        .args([
            "keygen",
            "--scheme",
            "pe",
            "--shape",
            "28x28x1",
            "--passphrase-file",
        ])
        .arg(&pass)
        .arg("-o")
        .arg(&key)
        .assert()
        .success();
    let input = d.join("in-idx3-ubyte");
    write_idx(&input, 2, false);
    let enc = d.join("enc");
    assert_error(&mut crypt("encrypt", &key, &input, &enc), "passphrase");
    let wrong = d.join("wrong");
    fs::write(&wrong, "Correct horse battery staple\n").unwrap();
    assert_error(
        pixveil()
            .args(["encrypt", "--key"])
            .arg(&key)
            .arg("--passphrase-file")
            .arg(&wrong)
            .arg(&input)
            .arg("-o")
            .arg(&enc),
        "wrong passphrase",
    );
    pixveil()
        .args(["encrypt", "--key"])
        .arg(&key)
        .arg("--passphrase-file")
        .arg(&pass)
        .arg(&input)
        .arg("-o")
        .arg(&enc)
        .assert()
        .success();
    // The secret is not stored in a passphrase key file.
    assert!(fs::read(&key).unwrap().len() < 1024);
}

#[test]
fn png_folder_round_trip() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let imgs = d.join("imgs");
    fs::create_dir(&imgs).unwrap();
    for i in 0..3u8 {
        let img = image::RgbImage::from_fn(8, 8, |x, y| {
            image::Rgb([x as u8 * 30, y as u8 * 30, i * 80])
        });
        img.save(imgs.join(format!("img{i}.png"))).unwrap();
    }
    let key = keygen(d, "k", "etc", "8x8x3", "per-image");
    let enc = d.join("enc");
    let dec = d.join("dec");
    crypt("encrypt", &key, &imgs, &enc).assert().success();
    crypt("decrypt", &key, &enc, &dec).assert().success();
    for i in 0..3 {
        let a = image::open(imgs.join(format!("img{i}.png")))
            .unwrap()
            .to_rgb8();
        let b = image::open(dec.join(format!("img{i}.png")))
            .unwrap()
            .to_rgb8();
        assert_eq!(a, b);
    }
}

#[test]
fn bench_encrypt_json_contract() {
    let rows: Vec<serde_json::Value> = serde_json::from_value(crate::common::json_of(
        pixveil().args(["bench", "encrypt", "--json", "--quick"]),
    ))
    .unwrap();
    assert!(rows.len() >= 12);
    for r in rows {
        for k in [
            "scheme",
            "mode",
            "single_thread_mb_s",
            "all_threads_mb_s",
            "memcpy_mb_s",
            "ratio_vs_memcpy",
        ] {
            assert!(r.get(k).is_some(), "missing {k} in {r}");
        }
        assert!(r["single_thread_mb_s"].as_f64().unwrap() > 0.0);
    }
    // The batch size is the caller's (here 3 images of 32x32x3, 9 216 bytes per row).
    let rows = crate::common::json_of(
        pixveil().args(["bench", "encrypt", "--json", "--images", "3", "--reps", "1"]),
    );
    for r in rows.as_array().unwrap() {
        let images = r["images"].as_u64().unwrap();
        match r["shape"].as_str().unwrap() {
            "32x32x3" => assert_eq!(images, 3, "{r}"),
            "28x28x1" => assert_eq!(images, 9216 / 784, "{r}"),
            other => panic!("unexpected shape {other}"),
        }
    }
    crate::common::assert_error(
        pixveil().args(["bench", "encrypt", "--images", "0"]),
        "--images",
    );
}

#[test]
fn demo_runs_on_the_builtin_sample() {
    let dir = TempDir::new().unwrap();
    let out = pixveil()
        .args(["demo", "--out"])
        .arg(dir.path().join("demo"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    // Where it writes, said first.
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with("pixveil demo: writing PNG grids to ")
            && first.contains(&dir.path().join("demo").display().to_string()),
        "{text}"
    );
    assert!(!text.contains("FAILED"));
    assert!(text.contains("cifar10") && text.contains("mnist"));
    assert!(dir.path().join("demo/cifar10.png").exists());
    // Each grid: a labelled row for plain and for each scheme (fixed key), 8 images at 3×.
    let names = pixveil_cipher::SchemeSpec::NAMES;
    for (ds, side) in [("mnist", 28), ("cifar10", 32)] {
        let grid =
            pixveil_image::files::read_image(&dir.path().join(format!("demo/{ds}.png"))).unwrap();
        let s = grid.shape();
        let (band, sep, cell) = (pixveil_image::grid::LABEL_BAND, 2, 3 * side);
        let rows = 1 + names.len();
        assert_eq!(s.height(), rows * (band + cell) + (rows + 1) * sep, "{ds}");
        assert_eq!(s.width(), 8 * cell + 9 * sep, "{ds}");
        let px = grid.as_bytes();
        for r in 0..rows {
            let y0 = sep + r * (band + cell + sep);
            let ink = (y0..y0 + band)
                .flat_map(|y| (sep..s.width() - sep).map(move |x| (y, x)))
                .filter(|&(y, x)| {
                    px[(y * s.width() + x) * 3..][..3] == pixveil_image::grid::LABEL_RGB
                })
                .count();
            assert!(ink > 30, "{ds}: row {r} has no label ({ink} text pixels)");
        }
    }
    assert!(text.contains("each row labelled"), "{text}");
    // The train-and-evaluate section: plain and every fixed-key scheme, then per-image pe.
    assert!(text.contains("Train and evaluate"), "{text}");
    assert!(text.contains("per-image"), "{text}");
}

#[test]
fn bench_ckks_json_contract() {
    let rows: Vec<serde_json::Value> = serde_json::from_value(crate::common::json_of(
        pixveil().args(["bench", "ckks", "--json", "--quick"]),
    ))
    .unwrap();
    for op in [
        "ntt",
        "encrypt",
        "mul_plain",
        "mul_relin",
        "rescale",
        "rotate",
    ] {
        let r = rows
            .iter()
            .find(|r| r["op"] == op && r["chain"] == "tenseal")
            .unwrap_or_else(|| panic!("no {op}"));
        assert!(r["median_ms"].as_f64().unwrap() > 0.0);
        assert!(r["threads"].as_u64().unwrap() >= 1);
    }
}

#[test]
fn attack_contract_fixed_key_pe_falls_to_one_chosen_image() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("in-idx3-ubyte");
    write_idx(&input, 12, false);
    for (mode, broken) in [("fixed", true), ("per-image", false)] {
        let key = keygen(dir.path(), &format!("k-{mode}"), "pe", "28x28x1", mode);
        let out = pixveil()
            .args(["attack", "cpa", "--json", "--key"])
            .arg(&key)
            .arg(&input)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for k in [
            "attack",
            "scheme",
            "mode",
            "recovered_fraction",
            "psnr_db",
            "ssim",
            "queries",
        ] {
            assert!(v.get(k).is_some(), "missing {k} in {v}");
        }
        let frac = v["recovered_fraction"].as_f64().unwrap();
        if broken {
            assert_eq!(frac, 1.0, "{v}");
        } else {
            assert!(frac < 0.9, "{v}");
        }
    }
}

#[test]
fn attack_png_is_a_captioned_readable_panel() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("in-idx3-ubyte");
    write_idx(&input, 8, false);
    let key = keygen(dir.path(), "k", "pe", "28x28x1", "fixed");
    let png = dir.path().join("kpa.png");
    pixveil()
        .args(["attack", "kpa", "--json", "--key"])
        .arg(&key)
        .arg(&input)
        .arg("--png")
        .arg(&png)
        .assert()
        .success();
    let img = pixveil_image::files::read_image(&png).unwrap();
    let s = img.shape();
    // Was 28 × 88 (the three images 1:1, no captions).
    assert!(s.height() >= 4 * 28 && s.width() >= 3 * 4 * 28, "{s}");
    assert_eq!(s.channels(), 3);
    assert_eq!(
        pixveil_analysis::attacks::PANEL_CAPTIONS,
        ["original", "ciphertext", "recovered"]
    );
}

#[test]
fn analyze_contract() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("in-idx3-ubyte");
    write_idx(&input, 8, false);
    let key = keygen(dir.path(), "k", "logistic", "28x28x1", "fixed");
    let out = pixveil()
        .args(["analyze", "--json", "--key"])
        .arg(&key)
        .arg(&input)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v.is_object());
}

#[test]
fn oversized_key_shape_is_refused() {
    let dir = TempDir::new().unwrap();
    assert_error(
        pixveil()
            .args(["keygen", "--scheme", "le", "--shape", "16384x16384x3", "-o"])
            .arg(dir.path().join("k")),
        "limit",
    );
}

#[test]
fn analyze_all_report_on_builtin_sample() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("report");
    pixveil()
        .args([
            "analyze",
            "--all",
            "--sample",
            "mnist",
            "--attack-limit",
            "16",
            "--coa-limit",
            "2",
            "--out",
        ])
        .arg(&out)
        .assert()
        .success();
    let md = fs::read_to_string(out.join("report.md")).unwrap();
    for scheme in ["pe", "pe-np", "logistic", "grey", "le", "etc"] {
        assert!(
            md.contains(&format!("| {scheme}")),
            "{scheme} missing from the report"
        );
    }
    assert!(md.contains("per-image") && md.contains("fixed"));
}

#[test]
fn decrypting_over_a_ciphertext_removes_its_stale_manifest() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let input = d.join("in-idx3-ubyte");
    write_idx(&input, 2, false);
    let key = keygen(d, "k", "pe", "28x28x1", "fixed");
    let (a, b) = (d.join("a-idx3-ubyte"), d.join("b-idx3-ubyte"));
    for out in [&a, &b] {
        crypt("encrypt", &key, &input, out).assert().success();
    }
    crypt("decrypt", &key, &a, &b).assert().success();
    assert_eq!(fs::read(&b).unwrap(), fs::read(&input).unwrap());
    assert!(
        !d.join("b-idx3-ubyte.pxv").exists(),
        "plaintext output keeps a ciphertext manifest"
    );
}

/// Rewrites a key file's metadata with `edit` and writes the container again with its SHA-256
/// checksum recomputed (what anyone can do to a key file).
fn edit_key_meta(path: &Path, out: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let bytes = fs::read(path).unwrap();
    let meta_len = u32::from_le_bytes(bytes[16..20].try_into().unwrap()) as usize;
    let body_len = u64::from_le_bytes(bytes[20..28].try_into().unwrap()) as usize;
    let mut meta: serde_json::Value = serde_json::from_slice(&bytes[28..28 + meta_len]).unwrap();
    edit(&mut meta);
    let body = &bytes[28 + meta_len..28 + meta_len + body_len];
    fs::write(
        out,
        pixveil_core::format::encode("key", &meta, body).unwrap(),
    )
    .unwrap();
}

/// Issue 15, item 1, end to end: a passphrase-protected `pe` per-image key edited to fixed mode
/// (checksum recomputed) was accepted by `info` and `encrypt`, which then encrypted in fixed
/// mode. `encrypt` refuses it now, and `info` says it cannot vouch for the settings.
#[test]
fn edited_key_settings_are_refused() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let pass = d.join("pass");
    fs::write(&pass, "correct horse battery staple\n").unwrap();
    let key = d.join("k");
    pixveil()
        .args(["keygen", "--scheme", "pe", "--shape", "28x28x1"])
        .args(["--mode", "per-image", "--passphrase-file"])
        .arg(&pass)
        .arg("-o")
        .arg(&key)
        .assert()
        .success();
    let edited = d.join("edited");
    edit_key_meta(&key, &edited, |m| m["mode"] = "fixed".into());
    let input = d.join("in-idx3-ubyte");
    write_idx(&input, 2, false);
    assert_error(
        pixveil()
            .args(["encrypt", "--key"])
            .arg(&edited)
            .arg("--passphrase-file")
            .arg(&pass)
            .arg(&input)
            .arg("-o")
            .arg(d.join("enc")),
        "edited",
    );
    assert!(!d.join("enc").exists());
    let info = pixveil()
        .args(["info", "--json"])
        .arg(&edited)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(v["settings"], "needs-passphrase");
    // A key that stores its secret: `info` checks the MAC itself.
    let stored = keygen(d, "s", "pe", "28x28x1", "per-image");
    let v: serde_json::Value = serde_json::from_slice(
        &pixveil()
            .args(["info", "--json"])
            .arg(&stored)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(v["settings"], "verified");
    assert_eq!(v["kdf_version"], 3);
    let edited = d.join("edited-stored");
    edit_key_meta(&stored, &edited, |m| m["mode"] = "fixed".into());
    assert_error(pixveil().arg("info").arg(&edited), "edited");
}

/// Issue 15, item 1: key files without a settings MAC are refused with a way out, and
/// `pixveil rekey` converts them without changing what they encrypt (derivation v1).
#[test]
fn old_key_files_are_refused_until_rekeyed() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let key = keygen(d, "k", "pe", "28x28x1", "fixed");
    let old = d.join("old");
    edit_key_meta(&key, &old, |m| {
        let o = m.as_object_mut().unwrap();
        o.remove("mac");
        o.remove("kdf");
    });
    let input = d.join("in-idx3-ubyte");
    write_idx(&input, 2, false);
    assert_error(
        &mut crypt("encrypt", &old, &input, &d.join("enc")),
        "pixveil rekey",
    );
    let new = d.join("new");
    pixveil()
        .arg("rekey")
        .arg(&old)
        .arg("-o")
        .arg(&new)
        .assert()
        .success()
        .stderr(predicate::str::contains("derivation v1"));
    // Refuses to overwrite without --force, and to re-key a key that has a MAC.
    assert_error(
        pixveil().arg("rekey").arg(&old).arg("-o").arg(&new),
        "--force",
    );
    assert_error(
        pixveil().arg("rekey").arg(&new).arg("-o").arg(d.join("x")),
        "nothing to re-key",
    );
    let enc = d.join("enc-idx3-ubyte");
    crypt("encrypt", &new, &input, &enc).assert().success();
    // The ciphertext is the one the old key made (derivation v1), computed independently.
    let bytes = fs::read(&key).unwrap();
    let secret =
        pixveil_core::MasterSecret::from_slice(&bytes[bytes.len() - 64..bytes.len() - 32]).unwrap();
    let shape = pixveil_image::Shape::new(28, 28, 1).unwrap();
    let plain = decoded(&input);
    let mut batch = pixveil_image::ImageBatch::new(shape, plain[16..].to_vec()).unwrap();
    pixveil_cipher::BatchCipher::with_kdf(
        pixveil_cipher::SchemeSpec::Pe { shuffle: true },
        shape,
        pixveil_cipher::KeyMode::Fixed,
        &secret,
        pixveil_cipher::KdfVersion::V1,
    )
    .unwrap()
    .encrypt_batch(&mut batch, None, &|_| {})
    .unwrap();
    assert_eq!(&decoded(&enc)[16..], batch.as_bytes());
}

/// Issue 15, item 9: key files are owner-only (0600), set explicitly by the secret-file writer
/// (before, only the `tempfile` crate's default made them so).
#[cfg(unix)]
#[test]
fn key_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let key = keygen(d, "k", "pe", "28x28x1", "fixed");
    assert_eq!(mode(&key), 0o600);
    // Overwriting a world-readable file with --force gives an owner-only key too.
    let open = d.join("open");
    fs::write(&open, b"x").unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o644)).unwrap();
    pixveil()
        .args([
            "keygen", "--scheme", "le", "--shape", "28x28x1", "--force", "-o",
        ])
        .arg(&open)
        .assert()
        .success();
    assert_eq!(mode(&open), 0o600);
    // And re-keyed files.
    let old = d.join("old");
    edit_key_meta(&key, &old, |m| {
        let o = m.as_object_mut().unwrap();
        o.remove("mac");
        o.remove("kdf");
    });
    let new = d.join("new");
    pixveil()
        .arg("rekey")
        .arg(&old)
        .arg("-o")
        .arg(&new)
        .assert()
        .success();
    assert_eq!(mode(&new), 0o600);
}

/// Writes `images` (28×28 grey) as an IDX image file.
fn write_idx_images(path: &Path, images: &[&[u8]]) {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&0x0803u32.to_be_bytes());
    bytes.extend_from_slice(&(images.len() as u32).to_be_bytes());
    bytes.extend_from_slice(&28u32.to_be_bytes());
    bytes.extend_from_slice(&28u32.to_be_bytes());
    for img in images {
        assert_eq!(img.len(), 28 * 28);
        bytes.extend_from_slice(img);
    }
    fs::write(path, bytes).unwrap();
}

#[test]
fn attack_stat_contract_needs_no_pair_and_reports_baselines() {
    let dir = TempDir::new().unwrap();
    let ds = pixveil_image::sample::load(pixveil_image::dataset::DatasetKind::Mnist).unwrap();
    let imgs: Vec<&[u8]> = ds.images.images().collect();
    let (public, victims) = (dir.path().join("public"), dir.path().join("victims"));
    write_idx_images(&public, &imgs[..128]);
    write_idx_images(&victims, &imgs[128..]);
    for mode in ["fixed", "per-image"] {
        let key = keygen(dir.path(), &format!("k-{mode}"), "pe-np", "28x28x1", mode);
        let out = pixveil()
            .args(["attack", "stat", "--json", "--key"])
            .arg(&key)
            .arg(&victims)
            .arg("--public")
            .arg(&public)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["attack"], "stat", "{v}");
        assert_eq!(v["queries"], 0, "{v}");
        assert_eq!(v["pairs"], 0, "{v}");
        assert_eq!(v["held_out"], 128, "{v}");
        let b = &v["baselines"];
        assert_eq!(b["coin"].as_f64(), Some(0.5), "{v}");
        let most_common = b["most_common"].as_f64().unwrap();
        assert!(b["identity"].as_f64().is_some(), "{v}");
        let frac = v["recovered_fraction"].as_f64().unwrap();
        if mode == "fixed" {
            // Well above guessing the background everywhere.
            assert!(frac > most_common + 0.1, "{v}");
        } else {
            // No single key to fit: not even the background guess.
            assert!(frac < most_common, "{v}");
        }
    }
    let key = dir.path().join("k-fixed");
    assert_error(
        pixveil()
            .args(["attack", "stat", "--key"])
            .arg(&key)
            .arg(&victims),
        "--public",
    );
    assert_error(
        pixveil()
            .args(["attack", "stat", "--limit", "0", "--key"])
            .arg(&key)
            .arg(&victims)
            .arg("--public")
            .arg(&public),
        "limit 0",
    );
    let cifar = pixveil_image::sample::load(pixveil_image::dataset::DatasetKind::Cifar10).unwrap();
    let other = dir.path().join("cifar-dir");
    fs::create_dir(&other).unwrap();
    pixveil_image::files::write_png(
        &other.join("a.png"),
        cifar.images.image(0).unwrap(),
        cifar.images.shape(),
    )
    .unwrap();
    assert_error(
        pixveil()
            .args(["attack", "stat", "--key"])
            .arg(&key)
            .arg(&victims)
            .arg("--public")
            .arg(&other),
        "shape mismatch",
    );
}
