//! Precision of every layer of a plan on real images: `cargo run --release -p pixveil-henn
//! --example trace -- MODEL [IMAGES]` (MNIST-family checkpoints; the built-in MNIST sample).

use std::sync::Arc;

use pixveil_henn::eval::image_values;
use pixveil_henn::{Client, HeEvaluator, Mode, Network, Plan};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: trace MODEL [IMAGES]")?;
    let count: usize = args.next().map_or(Ok(4), |s| s.parse())?;
    let (model, meta) = pixveil_nn::checkpoint::load(path.as_ref())?;
    let net = Network::from_model(&model)?;
    let plan = Arc::new(Plan::compile(
        net,
        model.architecture().name(),
        &meta.scheme,
    )?);
    println!(
        "params {:?}: {}",
        plan.spec().params,
        plan.spec().params_reason
    );
    println!("input scale 2^{:.2}", plan.spec().input.scale.log2());
    let mut rng = ChaCha20Rng::from_os_rng();
    let client = Client::new(plan.spec().clone(), &mut rng)?;
    let server = HeEvaluator::new(
        plan.clone(),
        client.evaluation_keys(Mode::Latency, &mut rng)?,
    )?;
    let data = pixveil_image::sample::load(pixveil_image::DatasetKind::Mnist)?;
    for i in 0..count {
        let x = image_values(&data.images, i);
        let want = plan.network().forward_layers(&x);
        let enc = client.encrypt_image(&x, &mut rng)?;
        let mut k = 0;
        server.classify_profiled(&enc, &mut |name, _, out| {
            let got = client.decrypt_slots_unrounded(&out[0]).expect("decrypt");
            let w = &want[k];
            let err = w.iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            let mag = w.iter().map(|a| a.abs()).fold(0.0, f64::max);
            println!(
                "image {i} {name:>8}: level {} scale 2^{:.1} max |value| {mag:9.3} max error {err:.2e} ({:.1} bits)",
                out[0].level(),
                out[0].scale().log2(),
                -err.log2()
            );
            k += 1;
        })?;
    }
    Ok(())
}
