//! Prints precision statistics (bits) of each operation for the shipped presets:
//! `cargo run --release -p pixveil-ckks --example precision [tenseal|precise|fast]`.

use pixveil_ckks::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn main() -> Result<()> {
    let which = std::env::args().nth(1).unwrap_or_else(|| "tenseal".into());
    let preset = match which.as_str() {
        "precise" => Preset::Precise8192,
        "fast" => Preset::Fast8192,
        _ => Preset::TenSeal8192,
    };
    let params = Parameters::preset(preset)?;
    let mut rng = ChaCha20Rng::from_os_rng();
    let kg = KeyGenerator::new(&params, &mut rng)?;
    let pk = kg.public_key(&mut rng)?;
    let rlk = kg.relin_key(&mut rng)?;
    let gk = kg.galois_keys(&[1, 5], true, &mut rng)?;
    let enc = Encoder::new(&params)?;
    let encryptor = Encryptor::with_public_key(&params, &pk)?;
    let dec = Decryptor::new(&params, kg.secret_key())?;
    let eval = Evaluator::new(&params);
    let slots = params.slots();
    let a: Vec<Complex> = (0..slots)
        .map(|i| Complex::new((i as f64 * 0.37).sin(), (i as f64 * 0.11).cos()))
        .collect();
    let b: Vec<Complex> = (0..slots)
        .map(|i| Complex::new((i as f64 * 0.05).cos(), 0.0))
        .collect();
    let l = params.max_level();
    let s = params.default_scale();
    let ca = encryptor.encrypt(&enc.encode(&a, l, s)?, &mut rng)?;
    let cb = encryptor.encrypt(&enc.encode(&b, l, s)?, &mut rng)?;
    let show = |name: &str, want: &[Complex], ct: &Ciphertext| -> Result<()> {
        let got = enc.decode(&dec.decrypt_raw(ct)?)?;
        println!(
            "{name:<28} level {} {}",
            ct.level(),
            PrecisionStats::compute(want, &got)
        );
        Ok(())
    };
    println!(
        "preset {} (log QP = {} bits)",
        preset.name(),
        params.log_qp()
    );
    let pt = enc.encode(&a, l, s)?;
    let got = enc.decode(&pt)?;
    println!(
        "{:<28} level {l} {}",
        "encode/decode",
        PrecisionStats::compute(&a, &got)
    );
    show("encrypt (pk)", &a, &ca)?;
    let prod: Vec<Complex> = a.iter().zip(&b).map(|(x, y)| *x * *y).collect();
    let pb = enc.encode(&b, l, s)?;
    show(
        "mul_plain+rescale",
        &prod,
        &eval.rescale(&eval.mul_plain(&ca, &pb)?)?,
    )?;
    let m = eval.rescale(&eval.mul_relin(&ca, &cb, &rlk)?)?;
    show("mul_relin+rescale", &prod, &m)?;
    let rot: Vec<Complex> = (0..slots).map(|i| a[(i + 1) % slots]).collect();
    show("rotate(1)", &rot, &eval.rotate(&ca, 1, &gk)?)?;
    let rot_m: Vec<Complex> = (0..slots).map(|i| prod[(i + 1) % slots]).collect();
    show(
        "rotate(1) after mul+rescale",
        &rot_m,
        &eval.rotate(&m, 1, &gk)?,
    )?;
    let conj: Vec<Complex> = a.iter().map(|z| z.conj()).collect();
    show("conjugate", &conj, &eval.conjugate(&ca, &gk)?)?;
    let sk_ct = Encryptor::with_secret_key(&params, kg.secret_key())?
        .encrypt(&enc.encode(&a, l, s)?, &mut rng)?;
    println!(
        "sizes (bytes): ciphertext (pk, level {l}) {}, seeded sk ciphertext {}, relin key {}, \
         {} Galois keys {}, public key {}",
        ca.to_bytes().len(),
        sk_ct.to_bytes().len(),
        rlk.to_bytes().len(),
        3,
        gk.to_bytes().len(),
        pk.to_bytes().len()
    );
    Ok(())
}
