//! Repeats one operation for profiling: `cargo run --release -p pixveil-ckks --example
//! profile_op -- [relin|rotate|encrypt] [reps]`.

use pixveil_ckks::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::time::Instant;

fn main() -> Result<()> {
    let op = std::env::args().nth(1).unwrap_or_else(|| "relin".into());
    let reps: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let preset = match std::env::var("PRESET").as_deref() {
        Ok("precise") => Preset::Precise8192,
        Ok("fast") => Preset::Fast8192,
        _ => Preset::TenSeal8192,
    };
    let params = Parameters::preset(preset)?;
    let mut rng = ChaCha20Rng::from_seed([1; 32]);
    let kg = KeyGenerator::new(&params, &mut rng)?;
    let pk = kg.public_key(&mut rng)?;
    let rlk = kg.relin_key(&mut rng)?;
    let gk = kg.galois_keys(&[1, 2, 3, 4, 5, 6, 7, 8], false, &mut rng)?;
    let enc = Encoder::new(&params)?;
    let e = Encryptor::with_public_key(&params, &pk)?;
    let ev = Evaluator::new(&params);
    let dec = Decryptor::new(&params, kg.secret_key())?;
    let pt = enc.encode_real(&[1.0, 2.0], params.max_level(), params.default_scale())?;
    let ct = e.encrypt(&pt, &mut rng)?;
    let ct3 = ev.mul(&ct, &ct)?;
    let t = Instant::now();
    for _ in 0..reps {
        match op.as_str() {
            "rotate" => drop(ev.rotate(&ct, 1, &gk)?),
            "encrypt" => drop(e.encrypt(&pt, &mut rng)?),
            "decrypt" => drop(dec.decrypt_raw(&ct)?),
            "hoisted" => drop(ev.rotate_hoisted(&ct, &[1, 2, 3, 4, 5, 6, 7, 8], &gk)?),
            _ => drop(ev.relinearize(&ct3, &rlk)?),
        }
    }
    println!(
        "{op}: {:.3} ms/op",
        t.elapsed().as_secs_f64() * 1e3 / reps as f64
    );
    Ok(())
}
