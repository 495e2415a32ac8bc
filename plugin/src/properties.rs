//! Properties over arbitrary input for everything that reads what others wrote: references,
//! versions, manifests, chart archives and Chart.yaml. Nothing panics, and what is made
//! is read back as made.

use crate::chart::archive;
use crate::chart::load::{Limits, Loader};
use crate::chart::metadata::Metadata;
use crate::chart::yaml;
use crate::gojson::go_json;
use crate::oci::helm::{self, Descriptor, Manifest};
use crate::oci::reference;
use crate::version::{Version, Wanted};
use proptest::prelude::*;

fn valid_archive() -> Vec<u8> {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    for (name, data) in
        [("app/Chart.yaml", &b"apiVersion: v2\nname: app\nversion: 0.1.0\n"[..]), ("app/values.yaml", b"a: 1\n")]
    {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        tar.append_data(&mut header, name, data).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in ".*") {
        let _ = reference::parse(&text);
        let _ = reference::endpoint(&text);
        let _ = Version::parse(&text);
        let _ = Wanted::from_flags(Some(&text), Some(&text), Some(&text), false);
        let _ = Metadata::from_yaml(text.as_bytes(), Some(text.as_bytes()), "Chart.yaml");
        let _ = yaml::values(text.as_bytes());
        let _ = serde_json::from_str::<Manifest>(&text);
        let _ = Metadata::from_config(text.as_bytes(), "config");
    }

    #[test]
    fn arbitrary_bytes_are_no_archive(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        prop_assert!(archive::load(&bytes[..], &Loader::new(Limits::default(), false), 0).is_err());
    }

    #[test]
    fn a_damaged_archive_is_refused_or_read_but_never_panics(at in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let mut bytes = valid_archive();
        let i = at.index(bytes.len());
        bytes[i] ^= flip;
        let _ = archive::load(&bytes[..], &Loader::new(Limits::default(), true), 0);
    }

    #[test]
    fn a_parsed_reference_is_written_back_the_same(
        host in "(localhost|[a-z][a-z0-9]{0,8}\\.[a-z]{2,4})(:[1-9][0-9]{0,3})?",
        path in "[a-z0-9]{1,8}(/[a-z0-9]{1,8}){0,3}",
        tag in proptest::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"),
    ) {
        let text = format!("oci://{host}/{path}{}", tag.as_ref().map(|t| format!(":{t}")).unwrap_or_default());
        let parsed = reference::parse(&text).unwrap();
        prop_assert_eq!(reference::parse(&format!("oci://{parsed}")).unwrap(), parsed.clone());
        prop_assert_eq!(parsed.repository, path);
    }

    #[test]
    fn versions_print_as_they_parse_and_order_consistently(
        a in (0u64..50, 0u64..50, 0u64..50, "([a-z]{1,4}|[1-9][0-9]{0,2})(\\.([a-z]{1,4}|[1-9][0-9]{0,2})){0,2}"),
        b in (0u64..50, 0u64..50, 0u64..50),
        pre in any::<bool>(),
    ) {
        let text = format!("{}.{}.{}{}", a.0, a.1, a.2, if pre { format!("-{}", a.3) } else { String::new() });
        let v = Version::parse(&text).unwrap();
        prop_assert_eq!(v.to_string(), text.clone());
        let w = Version::parse(&format!("v{}.{}.{}", b.0, b.1, b.2)).unwrap();
        prop_assert_eq!(v.cmp(&w), w.cmp(&v).reverse());
        prop_assert_eq!(v.is_prerelease(), pre);
    }

    #[test]
    fn a_manifest_is_read_back_as_written(
        digests in proptest::collection::vec("[0-9a-f]{64}", 1..4),
        annotations in proptest::collection::btree_map("[a-z.]{1,12}", ".{0,16}", 0..4),
    ) {
        let descriptor = |d: &String| Descriptor::new(helm::CHART, format!("sha256:{d}"), 7);
        let config = Descriptor { media_type: helm::CONFIG.into(), ..descriptor(&digests[0]) };
        let manifest = Manifest::for_chart(config, digests.iter().map(descriptor).collect(), annotations.clone());
        let back: Manifest = serde_json::from_slice(&go_json(&manifest)).unwrap();
        prop_assert_eq!(back.annotations, annotations);
        prop_assert_eq!(back.layers, manifest.layers);
    }

    #[test]
    fn chart_yaml_fields_survive_into_the_config(name in "[a-z][a-z0-9-]{0,20}", description in "[ -~]{0,40}") {
        let quoted = |text: &str| serde_json::to_string(text).unwrap();
        let yaml = format!("apiVersion: v2\nname: {}\nversion: 1.0.0\ndescription: {}\n", quoted(&name), quoted(&description));
        let meta = Metadata::from_yaml(yaml.as_bytes(), None, "Chart.yaml").unwrap();
        let back = Metadata::from_config(&go_json(&meta), "config").unwrap();
        prop_assert_eq!(back.name, name);
        prop_assert_eq!(back.description, description);
    }
}
