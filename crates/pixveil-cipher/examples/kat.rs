//! Prints the standard known-answer vectors as JSON: with no argument those of the current key
//! derivation (the content of `tests/kat/vectors.json`), with `1` those of derivation v1
//! (`tests/kat/vectors-v1.json`, key files written before issue 15).
//!
//! `cargo run -p pixveil-cipher --example kat > crates/pixveil-cipher/tests/kat/vectors.json`
//! `cargo run -p pixveil-cipher --example kat -- 1 > crates/pixveil-cipher/tests/kat/vectors-v1.json`

use pixveil_cipher::KdfVersion;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let kdf = match std::env::args().nth(1) {
        None => KdfVersion::CURRENT,
        Some(n) => KdfVersion::from_number(n.parse()?)?,
    };
    let vectors = pixveil_cipher::kat::standard_vectors_with(kdf)?;
    println!("{}", serde_json::to_string_pretty(&vectors)?);
    Ok(())
}
