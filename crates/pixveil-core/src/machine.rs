//! The machine a measurement runs on: CPU model and the vector extensions kernels dispatch
//! on. Every benchmark and report prints these (one detection for all of them).

/// CPU model name (Linux `/proc/cpuinfo`), or the architecture where it is unavailable.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned())
}

/// The detected extensions relevant to pixveil's kernels, among `avx2`, `fma`, `avx512f`,
/// `avx512ifma` (empty off x86-64).
pub fn cpu_features() -> Vec<&'static str> {
    #[allow(unused_mut)]
    let mut features = Vec::new();
    #[cfg(target_arch = "x86_64")]
    for (name, on) in [
        ("avx2", std::arch::is_x86_feature_detected!("avx2")),
        ("fma", std::arch::is_x86_feature_detected!("fma")),
        ("avx512f", std::arch::is_x86_feature_detected!("avx512f")),
        (
            "avx512ifma",
            std::arch::is_x86_feature_detected!("avx512ifma"),
        ),
    ] {
        if on {
            features.push(name);
        }
    }
    features
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_a_cpu_and_known_features() {
        assert!(!cpu_model().is_empty());
        let f = cpu_features();
        assert!(f
            .iter()
            .all(|x| ["avx2", "fma", "avx512f", "avx512ifma"].contains(x)));
        #[cfg(target_arch = "x86_64")]
        assert_eq!(
            f.contains(&"avx2"),
            std::arch::is_x86_feature_detected!("avx2")
        );
    }
}
