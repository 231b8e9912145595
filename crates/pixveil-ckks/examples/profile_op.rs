//! Repeats one operation for profiling: `cargo run --release -p pixveil-ckks --example
//! profile_op -- [relin|rotate|hoisted|encrypt|decrypt|decrypt_decode|decrypt_raw_decode|
//! keygen_public|keygen_relin|keygen_galois] [reps]`.
//!
//! Prints wall-clock and process CPU time per operation (CPU time from `/proc/self/stat`,
//! Linux only, 10 ms ticks: use enough repetitions). CPU time is the figure to compare on a
//! shared machine, where other processes stretch wall-clock time; run with
//! `RAYON_NUM_THREADS=1` for single-threaded key switching.

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
    // OS randomness, as in every example (a fixed seed gives a fixed secret key).
    let mut rng = ChaCha20Rng::from_os_rng();
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
    let cpu = cpu_seconds();
    let t = Instant::now();
    for _ in 0..reps {
        match op.as_str() {
            "rotate" => drop(ev.rotate(&ct, 1, &gk)?),
            "encrypt" => drop(e.encrypt(&pt, &mut rng)?),
            "decrypt" => drop(dec.decrypt_raw(&ct)?),
            "decrypt_decode" => drop(dec.decrypt_decode(&ct, &enc, 20)?),
            "decrypt_raw_decode" => drop(enc.decode(&dec.decrypt_raw(&ct)?)?),
            "keygen_public" => drop(kg.public_key(&mut rng)?),
            "keygen_relin" => drop(kg.relin_key(&mut rng)?),
            "keygen_galois" => drop(kg.galois_keys(&[1], false, &mut rng)?),
            "hoisted" => drop(ev.rotate_hoisted(&ct, &[1, 2, 3, 4, 5, 6, 7, 8], &gk)?),
            _ => drop(ev.relinearize(&ct3, &rlk)?),
        }
    }
    let wall = t.elapsed().as_secs_f64();
    let cpu = cpu_seconds().zip(cpu).map(|(end, start)| end - start);
    print!("{op}: {:.3} ms/op wall", wall * 1e3 / reps as f64);
    match cpu {
        Some(c) => println!(", {:.3} ms/op cpu", c * 1e3 / reps as f64),
        None => println!(" (no /proc/self/stat: CPU time unknown)"),
    }
    Ok(())
}

/// User + system CPU time of this process in seconds (all threads), from `/proc/self/stat`
/// (fields 14 and 15, in ticks of 1/100 s: `USER_HZ` is 100 on Linux).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is parenthesized and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    // `rest` starts at field 3.
    Some((ticks(14 - 3)? + ticks(15 - 3)?) / 100.0)
}
