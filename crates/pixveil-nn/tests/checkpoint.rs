//! Safetensors round trip and metadata validation.
#![allow(clippy::unwrap_used)]

use pixveil_nn::checkpoint::{from_bytes, to_bytes};
use pixveil_nn::checkpoint::{load_state, save_state};
use pixveil_nn::{
    load, save, Adam, Architecture, Error, Model, ModelConfig, Optimizer, Sgd, FORMAT_VERSION,
};

fn tenseal() -> Model {
    Model::new(&ModelConfig::new(Architecture::TensealCnn, [1, 28, 28]), 5).unwrap()
}

/// Rewrites the JSON header of a safetensors file (same length keeps offsets valid).
fn patch_header(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let n = usize::try_from(u64::from_le_bytes(bytes[..8].try_into().unwrap())).unwrap();
    let header = std::str::from_utf8(&bytes[8..8 + n]).unwrap();
    assert!(header.contains(from), "{header}");
    let mut out = bytes[..8].to_vec();
    out.extend(header.replacen(from, to, 1).bytes());
    out.extend(&bytes[8 + n..]);
    out
}

#[test]
fn round_trip_keeps_weights_and_metadata() {
    let model = tenseal();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    save(&path, &model, "pixveil-v1").unwrap();
    let (back, meta) = load(&path).unwrap();
    assert_eq!(back, model);
    assert_eq!(meta.config, *model.config());
    assert_eq!(meta.scheme, "pixveil-v1");
    assert_eq!(FORMAT_VERSION, 2);
    // A ResNet with adaptation network and batch-norm buffers round-trips too.
    let mut c = ModelConfig::new(Architecture::Resnet18, [3, 32, 32]);
    c.width = 4;
    c.adaptation = true;
    let r = Model::new(&c, 1).unwrap();
    save(&path, &r, "pe:fixed").unwrap();
    let (back, meta) = load(&path).unwrap();
    assert_eq!(back, r);
    assert_eq!(meta.config, c);
    assert!(matches!(
        load(&dir.path().join("missing")),
        Err(Error::Io { .. })
    ));
}

#[test]
fn bad_checkpoints_are_rejected() {
    let model = tenseal();
    let good = to_bytes(&model, "none").unwrap();
    assert!(from_bytes(&good).is_ok());
    // Truncated anywhere: header, data.
    for cut in [0, 4, 8, 100, good.len() / 2, good.len() - 1] {
        assert!(from_bytes(&good[..cut]).is_err(), "cut at {cut}");
    }
    // Wrong version, architecture, format, input shape.
    let v = patch_header(
        &good,
        "\"format_version\":\"2\"",
        "\"format_version\":\"1\"",
    );
    assert!(matches!(from_bytes(&v), Err(Error::Metadata(_))));
    let a = patch_header(&good, "tenseal-cnn", "tenseal-xyz");
    assert!(matches!(from_bytes(&a), Err(Error::Metadata(_))));
    let f = patch_header(&good, "\"pixveil-nn\"", "\"pixveil-xx\"");
    assert!(matches!(from_bytes(&f), Err(Error::Metadata(_))));
    // An input shape the tensors do not fit.
    let s = patch_header(&good, "1,28,28", "3,28,28");
    assert!(matches!(from_bytes(&s), Err(Error::Shape(_))));
    let s = patch_header(&good, "1,28,28", "1,28,2x");
    assert!(matches!(from_bytes(&s), Err(Error::Metadata(_))));
    // A renamed tensor.
    let t = patch_header(&good, "fc1.bias", "fc9.bias");
    assert!(matches!(from_bytes(&t), Err(Error::MissingTensor { .. })));
    // Invalid scheme ids (a key must never be stored, nor anything odd).
    assert!(to_bytes(&model, "").is_err());
    assert!(to_bytes(&model, "key=00112233").is_err());
    assert!(to_bytes(&model, &"a".repeat(65)).is_err());
}

#[test]
fn training_state_round_trips_and_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.state");
    let mut model = tenseal();
    let mut opt = Adam::new(&model, 1e-3, 0.0);
    let grads: Vec<Vec<f32>> = model
        .params()
        .iter()
        .map(|p| vec![0.5; p.value.len()])
        .collect();
    opt.step(&mut model, &grads, 1.0);
    save_state(&path, &model, &opt, 3).unwrap();
    let mut fresh = tenseal();
    let mut opt2 = Adam::new(&fresh, 1e-3, 0.0);
    assert_eq!(load_state(&path, &mut fresh, &mut opt2).unwrap(), 3);
    assert_eq!(fresh, model);
    assert_eq!(opt2.state(), opt.state());
    // Another optimiser kind or another model is refused.
    let mut sgd = Sgd::new(&fresh, 0.1, 0.9, 0.0);
    assert!(matches!(
        load_state(&path, &mut fresh, &mut sgd),
        Err(Error::Shape(_))
    ));
    let mut other = Model::new(&ModelConfig::new(Architecture::HeCnn, [1, 28, 28]), 0).unwrap();
    let mut opt3 = Adam::new(&other, 1e-3, 0.0);
    assert!(matches!(
        load_state(&path, &mut other, &mut opt3),
        Err(Error::Metadata(_))
    ));
    // A checkpoint is not a state file.
    save(&path, &model, "none").unwrap();
    assert!(load_state(&path, &mut fresh, &mut opt2).is_err());
}

/// A PyTorch `state_dict` saved with `safetensors.torch.save_file` has no pixveil metadata:
/// it loads given the configuration, and refuses missing or misshapen tensors.
#[test]
fn plain_state_dicts_load_with_a_configuration() {
    use safetensors::tensor::TensorView;
    let model = Model::new(&ModelConfig::new(Architecture::HeCnn, [1, 28, 28]), 9).unwrap();
    let bytes_of = |skip: Option<&str>| {
        let data: Vec<(String, Vec<usize>, safetensors::Dtype, Vec<u8>)> = model
            .params()
            .iter()
            .chain(model.buffers())
            .filter(|p| Some(p.name.as_str()) != skip)
            .map(|p| {
                if p.name.ends_with("num_batches_tracked") {
                    (
                        p.name.clone(),
                        vec![],
                        safetensors::Dtype::I64,
                        7i64.to_le_bytes().to_vec(),
                    )
                } else {
                    let b = p.value.iter().flat_map(|v| v.to_le_bytes()).collect();
                    (p.name.clone(), p.shape.clone(), safetensors::Dtype::F32, b)
                }
            })
            .collect();
        let views: Vec<(String, TensorView<'_>)> = data
            .iter()
            .map(|(n, s, d, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
            .collect();
        safetensors::serialize(views, None).unwrap()
    };
    let config = *model.config();
    let (back, meta) =
        pixveil_nn::checkpoint::from_state_dict_bytes(&bytes_of(None), &config).unwrap();
    assert_eq!(back.params(), model.params());
    assert_eq!(meta.scheme, "none");
    // Without metadata the plain reader refuses it; a missing tensor is an error.
    assert!(from_bytes(&bytes_of(None)).is_err());
    assert!(
        pixveil_nn::checkpoint::from_state_dict_bytes(&bytes_of(Some("fc1.weight")), &config)
            .is_err()
    );
    // Another architecture's configuration does not fit the tensors.
    let other = ModelConfig::new(Architecture::TensealCnn, [1, 28, 28]);
    assert!(pixveil_nn::checkpoint::from_state_dict_bytes(&bytes_of(None), &other).is_err());
    // A pixveil checkpoint of another configuration is refused too.
    let ours = to_bytes(&model, "none").unwrap();
    assert!(pixveil_nn::checkpoint::from_state_dict_bytes(&ours, &other).is_err());
    assert!(pixveil_nn::checkpoint::from_state_dict_bytes(&ours, &config).is_ok());
}

#[test]
fn the_key_id_round_trips_and_is_optional() {
    use pixveil_nn::checkpoint::to_bytes_keyed;
    let model = tenseal();
    let (_, meta) =
        from_bytes(&to_bytes_keyed(&model, "pe:fixed", Some("0123abcd4567ef89")).unwrap()).unwrap();
    assert_eq!(meta.key_id.as_deref(), Some("0123abcd4567ef89"));
    let (_, meta) = from_bytes(&to_bytes(&model, "none").unwrap()).unwrap();
    assert_eq!(meta.key_id, None);
    // Only a public id (hex), never anything else.
    for bad in ["", "not hex!", &"a".repeat(65)] {
        assert!(matches!(
            to_bytes_keyed(&model, "pe:fixed", Some(bad)),
            Err(Error::Metadata(_))
        ));
    }
    let patched = patch_header(
        &to_bytes_keyed(&model, "pe:fixed", Some("0123abcd4567ef89")).unwrap(),
        "0123abcd4567ef89",
        "0123abcd4567ef8z",
    );
    assert!(matches!(from_bytes(&patched), Err(Error::Metadata(_))));
}
