//! Prints the standard known-answer vectors as JSON (the content of `tests/kat/vectors.json`).
//!
//! `cargo run -p pixveil-cipher --example kat > crates/pixveil-cipher/tests/kat/vectors.json`

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let vectors = pixveil_cipher::kat::standard_vectors()?;
    println!("{}", serde_json::to_string_pretty(&vectors)?);
    Ok(())
}
