//! The web client loads no third-party code at run time: what the server embeds (the
//! files under `web/`, rendered as it serves them) names no script, style, font or frame
//! outside its own origin, imports nothing, evaluates nothing, and every script and style
//! sheet carries Subresource Integrity. The page's CSP forbids the rest. The browser test
//! (`crates/sealgate/tests/browser.rs`) checks the same at run time: no request leaves
//! the origin.

use std::path::{Path, PathBuf};

fn web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(web_dir().join(name)).unwrap_or_else(|e| panic!("read web/{name}: {e}"))
}

/// Every value of `attr="…"` in `html`.
fn attr_values<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let needle = format!(" {attr}=\"");
    html.match_indices(&needle)
        .filter_map(|(i, _)| {
            let rest = &html[i + needle.len()..];
            rest.find('"').map(|end| &rest[..end])
        })
        .collect()
}

/// The text of every `<TAG …>` opening tag.
fn tags<'a>(html: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}");
    html.match_indices(&open)
        .filter(|(i, _)| html[i + open.len()..].starts_with([' ', '>', '\n']))
        .filter_map(|(i, _)| html[i..].find('>').map(|end| &html[i..=i + end]))
        .collect()
}

/// An address the page may load from: its own origin (an absolute path, not `//host`),
/// a fragment, or an inline `data:` icon.
fn same_origin(url: &str) -> bool {
    (url.starts_with('/') && !url.starts_with("//")) || url.starts_with('#') || url == "data:,"
}

#[test]
fn the_served_page_loads_only_its_own_integrity_checked_files() {
    let html = sealgate_server::web::index_html("pin-for-the-test");
    let scripts = tags(&html, "script");
    assert_eq!(scripts.len(), 2, "the page has exactly its two module scripts: {scripts:?}");
    for s in &scripts {
        let src = attr_values(s, "src");
        assert!(matches!(src.as_slice(), [p] if p.starts_with("/app/")), "script from elsewhere: {s}");
        let integrity = attr_values(s, "integrity");
        assert!(
            matches!(integrity.as_slice(), [i] if i.starts_with("sha384-") && i.len() == 7 + 64),
            "script without SRI: {s}"
        );
    }
    for l in tags(&html, "link") {
        let href = attr_values(l, "href");
        assert!(matches!(href.as_slice(), [h] if same_origin(h)), "link to elsewhere: {l}");
        if l.contains("stylesheet") {
            assert!(attr_values(l, "integrity").first().is_some_and(|i| i.starts_with("sha384-")), "no SRI: {l}");
        }
    }
    for attr in ["src", "href", "action", "data", "poster", "formaction"] {
        for v in attr_values(&html, attr) {
            assert!(same_origin(v), "{attr}={v:?} leaves the origin");
        }
    }
    for tag in ["iframe", "object", "embed", "base", "frame"] {
        assert!(tags(&html, tag).is_empty(), "the page has a <{tag}>");
    }
    assert!(!html.contains("{{"), "an unreplaced template marker is served");
}

#[test]
fn the_scripts_import_and_evaluate_nothing() {
    for name in ["seal.js", "app.js"] {
        let js = read(name);
        for (n, line) in js.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") || code.starts_with('*') || code.starts_with("/*") {
                continue;
            }
            let at = || format!("web/{name}:{}: {line}", n + 1);
            // `import x from`, `import {…}`, `import(…)`, `export … from`: Chromium fetches
            // an imported module without the integrity check.
            assert!(!code.starts_with("import ") && !code.starts_with("import{"), "static import at {}", at());
            assert!(!code.contains("import(") && !code.contains("importScripts"), "dynamic import at {}", at());
            assert!(!(code.starts_with("export") && code.contains(" from ")), "re-export at {}", at());
            // The SVG namespace is a name `createElementNS` takes, never fetched: the one URL
            // a script may spell.
            let code = code.replace("'http://www.w3.org/2000/svg'", "SVG_NAMESPACE");
            for bad in ["eval(", "new Function", "document.write", "http://", "https://", "//cdn", "WebSocket("] {
                assert!(!code.contains(bad), "{bad:?} at {}", at());
            }
        }
    }
    let css = read("app.css");
    assert!(!css.contains("@import"), "app.css imports a style sheet");
    for (i, _) in css.match_indices("url(") {
        let rest = css[i + 4..].trim_start_matches(['"', '\'']);
        assert!(
            rest.starts_with("data:") || (rest.starts_with('/') && !rest.starts_with("//")),
            "app.css loads {rest:.40}"
        );
    }
}

#[test]
fn the_csp_allows_nothing_from_elsewhere() {
    let csp = sealgate_server::web::PAGE_CSP;
    for directive in
        ["default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "object-src 'none'"]
    {
        assert!(csp.contains(directive), "the page CSP lacks {directive:?}: {csp}");
    }
    for loose in ["unsafe-inline", "unsafe-eval", "http:", "https:", "*", "wasm-unsafe-eval"] {
        assert!(!csp.contains(loose), "the page CSP allows {loose:?}: {csp}");
    }
}

#[test]
fn the_client_has_no_runtime_npm_dependency() {
    // Only the browser test has npm packages (web/tests); the client is plain files.
    assert!(!web_dir().join("package.json").exists(), "web/package.json: the client must not depend on npm");
    let tests: serde_json::Value =
        serde_json::from_str(&read("tests/package.json")).expect("web/tests/package.json is JSON");
    assert_eq!(tests["private"], serde_json::json!(true), "web/tests is never published");
}
