//! The table of settings against its two readers outside the code: the configuration reference in
//! `docs/configuration.md` (the text between its markers is what `config::reference_markdown()`
//! generates; `AT_UPDATE_DOCS=1 cargo test --test fast config_reference::` rewrites it), and the
//! resolution itself: every setting taken from its variable and from the file, with its source,
//! and its credentials masked in what `status` lists.

use agent_telemetry::config::{reference_markdown, resolve, table, Config, Source};
use std::collections::HashMap;
use std::path::Path;

const BEGIN: &str = "<!-- settings:begin -->\n";
const END: &str = "<!-- settings:end -->";

#[test]
fn the_reference_in_the_docs_is_the_table_in_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md");
    let text = std::fs::read_to_string(&path).expect("docs/configuration.md");
    let (Some(b), Some(e)) = (text.find(BEGIN), text.find(END)) else {
        panic!("docs/configuration.md lacks the markers {BEGIN:?} and {END:?}");
    };
    assert!(b < e, "the markers are in the wrong order");
    let start = b + BEGIN.len();
    let want = reference_markdown();
    if text[start..e] == want {
        return;
    }
    if std::env::var_os("AT_UPDATE_DOCS").is_some() {
        std::fs::write(&path, format!("{}{want}{}", &text[..start], &text[e..])).unwrap();
        eprintln!("rewrote the settings table in {}", path.display());
        return;
    }
    panic!(
        "the settings table in docs/configuration.md differs from the code; regenerate it with\n  \
         AT_UPDATE_DOCS=1 cargo test --test fast config_reference::\n--- docs\n{}--- code\n{want}",
        &text[start..e]
    );
}

/// Resolves with exactly these variables and this config file (none when `None`).
fn resolved(home: &Path, vars: &[(&str, &str)], file: Option<&str>) -> Config {
    let config = home.join("config.toml");
    match file {
        Some(t) => std::fs::write(&config, t).unwrap(),
        None => {
            let _ = std::fs::remove_file(&config);
        }
    }
    let mut m: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    m.insert("HOME".into(), home.to_str().unwrap().into());
    m.insert("AGENT_TELEMETRY_HOME".into(), home.join("data").to_str().unwrap().into());
    m.insert("AGENT_TELEMETRY_CONFIG".into(), config.to_str().unwrap().into());
    resolve(&move |k| m.get(k).cloned().filter(|v| !v.is_empty()))
}

fn listed(c: &Config, key: &str) -> (String, Source) {
    let (_, v, s) = c.settings().into_iter().find(|(k, _, _)| *k == key).unwrap_or_else(|| panic!("{key} not listed"));
    (v, s)
}

#[test]
fn every_setting_resolves_from_its_variable_and_from_the_file() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let rows = table();
    let keys: Vec<&str> = rows.iter().map(|s| s.key).collect();
    let listing: Vec<&str> = resolved(h, &[], None).settings().into_iter().map(|(k, _, _)| k).collect();
    assert_eq!(listing, keys, "status lists every setting of the table, in its order");
    let mut seen = std::collections::BTreeSet::new();
    for s in rows.iter().filter(|s| s.in_file) {
        assert!(seen.insert(s.key), "{} twice", s.key);
        assert!(!s.doc.is_empty(), "{}: no description", s.key);
        let (section, name) = s.key.split_once('.').unwrap();
        let (default, src) = listed(&resolved(h, &[], None), s.key);
        assert_eq!(src, Source::Default, "{}", s.key);

        let c = resolved(h, &[], Some(&format!("[{section}]\n{name} = {}\n", s.example_toml)));
        assert!(c.error.is_none(), "{}: {:?}", s.key, c.error);
        let (from_file, src) = listed(&c, s.key);
        assert_eq!(src, Source::File, "{}", s.key);
        assert_ne!(from_file, default, "{}: the example {} changes nothing", s.key, s.example_toml);

        let Some(var) = s.env else { continue };
        assert!(var.starts_with("AGENT_TELEMETRY_"), "{var}");
        let c = resolved(h, &[(var, &s.example_env)], None);
        assert!(c.error.is_none(), "{}: {:?}", s.key, c.error);
        let (from_env, src) = listed(&c, s.key);
        assert_eq!(src, Source::Env(var), "{}", s.key);
        assert_eq!(from_env, from_file, "{}: {var}={} and the file disagree", s.key, s.example_env);
        // The variable wins over the file.
        let c = resolved(h, &[(var, &s.example_env)], Some(&format!("[{section}]\n{name} = {}\n", s.example_toml)));
        assert_eq!(listed(&c, s.key).1, Source::Env(var), "{}", s.key);
    }
    assert!(seen.len() >= 30, "{} settings in the file", seen.len());
}

#[test]
fn secrets_are_masked_where_status_lists_them() {
    let home = tempfile::tempdir().unwrap();
    let secrets: Vec<_> = table().into_iter().filter(|s| s.secret).collect();
    assert!(secrets.iter().any(|s| s.key == "export.endpoint") && secrets.iter().any(|s| s.key == "export.headers"));
    for s in secrets {
        // Every secret's example holds a credential spelled "s3cret".
        assert!(s.example_env.contains("s3cret"), "{}: the example holds no credential", s.key);
        let (section, name) = s.key.split_once('.').unwrap();
        for c in [
            resolved(home.path(), &[(s.env.unwrap(), &s.example_env)], None),
            resolved(home.path(), &[], Some(&format!("[{section}]\n{name} = {}\n", s.example_toml))),
        ] {
            let all = c.settings().into_iter().map(|(k, v, _)| format!("{k} {v}\n")).collect::<String>();
            assert!(!all.contains("s3cret"), "{}: a credential is listed:\n{all}", s.key);
            assert!(listed(&c, s.key).1 != Source::Default, "{}", s.key);
        }
    }
}

/// The README's short table of essential settings names settings the code has: each row's
/// variable and `[section] key` are one setting of the table, and every `AGENT_TELEMETRY_*`
/// variable the README names is a setting's (or a location's) variable.
#[test]
fn the_readmes_essential_settings_are_the_codes() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme.split("## Essential settings").nth(1).expect("README has an Essential settings section");
    let section = section.split("\n## ").next().unwrap();
    let settings = table();
    let mut rows = 0;
    for line in section.lines().filter(|l| l.starts_with("| ") && l.contains("`AGENT_TELEMETRY_")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let var = cells[2].trim_matches('`');
        let s = settings
            .iter()
            .find(|s| s.env == Some(var))
            .unwrap_or_else(|| panic!("README names {var}, which no setting reads: {line}"));
        if let Some(file) = cells[3].strip_prefix('`').and_then(|c| c.strip_suffix('`')) {
            // `[export] endpoint` is the key `export.endpoint`.
            let key = file.trim_start_matches('[').replacen("] ", ".", 1);
            assert_eq!(s.key, key, "README's row for {var} names the file key {file}");
        }
        rows += 1;
    }
    assert!(rows >= 5, "the README's settings table has {rows} rows");
    let words = readme.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
    for var in words.filter(|w| w.starts_with("AGENT_TELEMETRY_") && w.len() > "AGENT_TELEMETRY_".len()) {
        assert!(settings.iter().any(|s| s.env == Some(var)), "README names {var}, which no setting reads");
    }
}
