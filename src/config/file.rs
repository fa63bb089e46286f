//! The config file as written on disk: its sections are built from the table of settings
//! ([`super::settings`]: every section typed, every key optional, unknown keys and wrong types
//! rejected by name). [`super::resolve`] turns it (with the environment and the defaults) into
//! the one resolved [`super::Config`]; nothing else reads this type.

pub(crate) use super::settings::FileConfig;

/// Parses the file's text; the error names the key and line (`toml`'s own message).
pub(crate) fn parse(text: &str) -> Result<FileConfig, super::SettingError> {
    toml::from_str::<FileConfig>(text).map_err(|e| super::SettingError::File {
        line: e.span().map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1),
        message: e.message().trim().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::{Fsync, Protocol, Scope};
    use super::*;

    #[test]
    fn mistakes_are_errors_that_name_the_key() {
        for (text, want) in [
            ("[export]\nendpont = \"http://x:4317\"", "endpont"),
            ("[export]\ntimeout_ms = 1.5", "timeout_ms"),
            ("[export]\nautostart = \"false\"", "autostart"),
            ("[export]\nprotocol = \"GRPC\"", "GRPC"),
            ("[scope]\nenabled = \"everywhere\"", "everywhere"),
            ("[journal]\nfsync = true", "fsync"),
            ("[exprot]\nendpoint = \"file\"", "exprot"),
            ("[export]\nheaders = { a = 1 }", "headers"),
            ("[fleet]\nregistery = \"f.toml\"", "registery"),
            ("[fleet]\nregistry = 1", "registry"),
        ] {
            let e = parse(text).expect_err(text).to_string();
            assert!(e.contains(want) || e.contains("line 2"), "{text}: {e}");
            assert!(e.starts_with("line "), "{text}: {e}");
        }
    }

    #[test]
    fn a_full_file_parses() {
        let f = parse(
            "[scope]\nenabled = \"all\"\nallow_paths = [\"/tmp\"]\n[capture]\ncontent = true\n[journal]\nfsync = \"always\"\n\
             [agent]\nid = \"a\"\n[policy]\nenforce = true\n[export]\nendpoint = \"http://h:4318\"\nprotocol = \"http/protobuf\"\n\
             headers = { \"x-scope-orgid\" = \"t\" }\ntimeout_ms = 5\nautostart = false\n",
        )
        .unwrap();
        assert_eq!(f.scope.enabled, Some(Scope::All));
        assert_eq!(f.export.protocol, Some(Protocol::HttpProtobuf));
        assert_eq!(f.export.autostart, Some(false));
        assert_eq!(f.journal.fsync, Some(Fsync::Always));
    }
}
