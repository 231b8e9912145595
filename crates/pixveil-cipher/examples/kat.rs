//! Prints known-answer vectors as JSON.
//!
//! * no argument: the fixed-key vectors of the current key derivation (`tests/kat/vectors.json`);
//! * `1`: those of derivation v1 (`tests/kat/vectors-v1.json`, key files written before issue
//!   15);
//! * `per-image N`: the per-image vectors of derivation `N`
//!   (`tests/kat/vectors-per-image-vN.json`).
//!
//! `cargo run -p pixveil-cipher --example kat > crates/pixveil-cipher/tests/kat/vectors.json`
//! `cargo run -p pixveil-cipher --example kat -- 1 > crates/pixveil-cipher/tests/kat/vectors-v1.json`
//! `cargo run -p pixveil-cipher --example kat -- per-image 2 > crates/pixveil-cipher/tests/kat/vectors-per-image-v2.json`

use pixveil_cipher::KdfVersion;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let kdf = |n: Option<&String>| -> Result<KdfVersion, Box<dyn std::error::Error>> {
        Ok(match n {
            None => KdfVersion::CURRENT,
            Some(n) => KdfVersion::from_number(n.parse()?)?,
        })
    };
    let json = if args.first().map(String::as_str) == Some("per-image") {
        serde_json::to_string_pretty(&pixveil_cipher::kat::per_image_vectors_with(kdf(
            args.get(1)
        )?)?)?
    } else {
        serde_json::to_string_pretty(&pixveil_cipher::kat::standard_vectors_with(kdf(
            args.first()
        )?)?)?
    };
    println!("{json}");
    Ok(())
}
