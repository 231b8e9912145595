//! The scheme id a model records for the images it was trained on (`pe:fixed`,
//! `le-4:per-image`, …, or [`PLAIN_SCHEME`]): checkpoints, plan specs and model cards carry
//! it so a client knows which perceptual key to apply. Never key material.

use crate::KeyMode;

/// Scheme id of unencrypted images.
pub const PLAIN_SCHEME: &str = "none";

/// Scheme id of a scheme name and key mode: characters outside `[A-Za-z0-9-_.]` become `-`,
/// the name is cut to 48 characters.
pub fn scheme_id(scheme_name: &str, mode: KeyMode) -> String {
    let clean: String = scheme_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let clean = clean.trim_matches('-');
    format!("{}:{mode}", &clean[..clean.len().min(48)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_ids() {
        assert_eq!(scheme_id("pe", KeyMode::Fixed), "pe:fixed");
        assert_eq!(scheme_id("le/4", KeyMode::PerImage), "le-4:per-image");
        assert_eq!(
            scheme_id("chain(pe-np,logistic)", KeyMode::Fixed),
            "chain-pe-np-logistic:fixed"
        );
    }
}
