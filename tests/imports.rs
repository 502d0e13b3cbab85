//! The crate's import graph has no cycle: a file may depend on another only
//! if the other does not depend, through any chain, on it. Layers that
//! import each other cannot be understood, tested or replaced one at a time.
//!
//! The graph is read from the source text, file by file: every `use` of a
//! path in the crate (`crate::`, `super::`, `self::` or a child module) and
//! every inline `crate::`/`super::` path, resolved to the file of the
//! deepest module it names. Test modules (`#[cfg(test)] mod ...`) are left
//! out: tests may reach across layers. The library and the binary
//! (`src/main.rs`, `src/cli*`) are separate crates, each checked.
//!
//! The same reading checks that no function outside tests is longer than
//! [`MAX_FUNCTION_LINES`]: a longer one is a subsystem that wants named
//! steps of its own.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Source text with comments, string and character literals blanked
/// (replaced by spaces), so that paths are only found in code.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if chars[i] == '\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r'
            && (next == Some('#') || next == Some('"'))
            && !ident_char_before(&chars, i)
        {
            // Raw string r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= chars.len() {
                    break;
                }
                if chars[j] == '"' && (0..hashes).all(|h| chars.get(j + 1 + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                // Lines are kept, so that line counts hold.
                if chars[j] == '\n' {
                    out.push('\n');
                }
                j += 1;
            }
            i = j;
            out.push(' ');
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                if chars.get(i) == Some(&'\n') {
                    out.push('\n');
                }
                i += 1;
            }
            i += 1;
            out.push(' ');
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{..}'), not a lifetime.
            let close = if next == Some('\\') {
                (i + 2..chars.len().min(i + 12)).find(|&j| chars[j] == '\'')
            } else if chars.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match close {
                Some(j) => {
                    i = j + 1;
                    out.push(' ');
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_char_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

/// `code` without the blocks of `#[cfg(test)] mod name { ... }`, and the
/// names of test modules declared out of line (`#[cfg(test)] mod name;`).
fn without_tests(code: &str) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut test_files = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "#[cfg(test)]".len()..];
        let trimmed = after.trim_start();
        let Some(m) = trimmed.strip_prefix("mod ") else {
            rest = after;
            continue;
        };
        let name: String = m
            .trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let tail = m.trim_start()[name.len()..].trim_start();
        if let Some(semi) = tail.strip_prefix(';') {
            test_files.push(name);
            rest = semi;
        } else if tail.starts_with('{') {
            let mut depth = 0;
            let mut end = tail.len();
            for (j, c) in tail.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = j + 1;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            rest = &tail[end..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    (out, test_files)
}

/// Expands a use tree (`a::{b, c::{d, self}}`, renames dropped) into whole
/// paths.
fn expand(tree: &str) -> Vec<Vec<String>> {
    // Drop `as name` renames, keeping what follows the name (`,` or `}`).
    let mut flat = String::new();
    let mut tokens = tree.split_whitespace();
    while let Some(t) = tokens.next() {
        if t == "as" {
            if let Some(name) = tokens.next() {
                flat.extend(
                    name.chars()
                        .skip_while(|c| c.is_alphanumeric() || *c == '_'),
                );
            }
        } else {
            flat.push_str(t);
        }
    }
    let mut out = Vec::new();
    expand_into(&flat, &[], &mut out);
    out
}

fn expand_into(tree: &str, prefix: &[String], out: &mut Vec<Vec<String>>) {
    let (head, group) = match tree.find('{') {
        Some(b) if tree.ends_with('}') => (&tree[..b], Some(&tree[b + 1..tree.len() - 1])),
        _ => (tree, None),
    };
    let mut path = prefix.to_vec();
    for seg in head.split("::").filter(|s| !s.is_empty()) {
        path.push(seg.to_string());
    }
    match group {
        None => out.push(path),
        Some(items) => {
            let mut depth = 0;
            let mut start = 0;
            let bytes: Vec<char> = items.chars().collect();
            let mut parts = Vec::new();
            for (j, &c) in bytes.iter().enumerate() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        parts.push(bytes[start..j].iter().collect::<String>());
                        start = j + 1;
                    }
                    _ => {}
                }
            }
            parts.push(bytes[start..].iter().collect::<String>());
            for p in parts.into_iter().filter(|p| !p.is_empty()) {
                if p == "self" {
                    out.push(path.clone());
                } else {
                    expand_into(&p, &path, out);
                }
            }
        }
    }
}

/// Every path the code names: use trees and inline `crate::`/`super::`
/// paths.
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let words: Vec<(usize, &str)> = code
        .match_indices(|c: char| !(c.is_alphanumeric() || c == '_'))
        .scan(0, |start, (i, sep)| {
            let w = (*start, &code[*start..i]);
            *start = i + sep.len();
            Some(w)
        })
        .collect();
    for (at, w) in &words {
        if *w == "use" {
            let stmt = &code[at + 3..];
            if let Some(end) = stmt.find(';') {
                found.extend(expand(&stmt[..end]));
            }
        }
    }
    // Inline paths: `crate::a::b`, `super::x`.
    let bytes = code.as_bytes();
    for root in ["crate::", "super::"] {
        for (at, _) in code.match_indices(root) {
            if at > 0
                && (bytes[at - 1].is_ascii_alphanumeric()
                    || bytes[at - 1] == b'_'
                    || bytes[at - 1] == b':')
            {
                continue;
            }
            let path: String = code[at..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            found.push(
                path.split("::")
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect(),
            );
        }
    }
    found
}

struct Crate {
    /// Module path -> file.
    modules: BTreeMap<Vec<String>, PathBuf>,
    /// File -> its module path.
    of_file: BTreeMap<PathBuf, Vec<String>>,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap();
    let mut segs: Vec<String> = rel
        .iter()
        .map(|s| s.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if segs
        .last()
        .is_some_and(|s| s == "mod" || s == "lib" || s == "main")
    {
        segs.pop();
    }
    segs
}

/// The file-level dependency graph of the files in `files`.
fn graph(src: &Path, files: &[PathBuf]) -> BTreeMap<PathBuf, BTreeMap<PathBuf, Vec<String>>> {
    let mut krate = Crate {
        modules: BTreeMap::new(),
        of_file: BTreeMap::new(),
    };
    for f in files {
        let m = module_path(src, f);
        krate.modules.insert(m.clone(), f.clone());
        krate.of_file.insert(f.clone(), m);
    }
    let mut test_only = BTreeSet::new();
    let mut code = BTreeMap::new();
    for f in files {
        let (c, tests) = without_tests(&code_only(&std::fs::read_to_string(f).unwrap()));
        let here = &krate.of_file[f];
        for t in tests {
            let mut m = here.clone();
            m.push(t);
            if let Some(file) = krate.modules.get(&m) {
                test_only.insert(file.clone());
            }
        }
        code.insert(f.clone(), c);
    }
    let mut edges: BTreeMap<PathBuf, BTreeMap<PathBuf, Vec<String>>> = BTreeMap::new();
    for f in files.iter().filter(|f| !test_only.contains(*f)) {
        let here = krate.of_file[f].clone();
        let to = edges.entry(f.clone()).or_default();
        for p in paths(&code[f]) {
            // To an absolute module path.
            let mut abs: Vec<String> = Vec::new();
            let mut segs = p.iter().peekable();
            match segs.peek().map(|s| s.as_str()) {
                Some("crate") => {
                    segs.next();
                }
                Some("super") => {
                    abs = here.clone();
                    while segs.peek().map(|s| s.as_str()) == Some("super") {
                        segs.next();
                        abs.pop();
                    }
                }
                Some("self") => {
                    segs.next();
                    abs = here.clone();
                }
                Some(first) => {
                    let mut child = here.clone();
                    child.push(first.to_string());
                    if !krate.modules.contains_key(&child) {
                        continue; // another crate, or a local item
                    }
                    abs = here.clone();
                }
                None => continue,
            }
            abs.extend(segs.cloned());
            // The deepest module the path names.
            while !abs.is_empty() && !krate.modules.contains_key(&abs) {
                abs.pop();
            }
            let Some(target) = krate.modules.get(&abs) else {
                continue;
            };
            // A path into the crate root's own items (`crate::SUITE_VERSION`)
            // and into the file itself are no dependency between files.
            if target != f && !abs.is_empty() {
                to.entry(target.clone()).or_default().push(p.join("::"));
            }
        }
    }
    edges
}

/// Strongly connected components of more than one file (Tarjan).
fn cycles(edges: &BTreeMap<PathBuf, BTreeMap<PathBuf, Vec<String>>>) -> Vec<Vec<PathBuf>> {
    struct State<'a> {
        edges: &'a BTreeMap<PathBuf, BTreeMap<PathBuf, Vec<String>>>,
        index: BTreeMap<&'a PathBuf, usize>,
        low: BTreeMap<&'a PathBuf, usize>,
        stack: Vec<&'a PathBuf>,
        on_stack: BTreeSet<&'a PathBuf>,
        next: usize,
        found: Vec<Vec<PathBuf>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a PathBuf) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        if let Some(to) = s.edges.get(v) {
            for w in to.keys() {
                let Some((w, _)) = s.edges.get_key_value(w) else {
                    continue;
                };
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let lw = s.low[w];
                    let lv = s.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if s.on_stack.contains(w) {
                    let iw = s.index[w];
                    let lv = s.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
        }
        if s.low[v] == s.index[v] {
            let mut scc = Vec::new();
            loop {
                let w = s.stack.pop().unwrap();
                s.on_stack.remove(w);
                scc.push(w.clone());
                if w == v {
                    break;
                }
            }
            if scc.len() > 1 {
                scc.sort();
                s.found.push(scc);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.found
}

fn describe(edges: &BTreeMap<PathBuf, BTreeMap<PathBuf, Vec<String>>>, scc: &[PathBuf]) -> String {
    let mut text = format!("a cycle of {} files:\n", scc.len());
    for a in scc {
        for (b, names) in &edges[a] {
            if scc.contains(b) {
                text.push_str(&format!(
                    "  {} -> {}: {}\n",
                    a.display(),
                    b.display(),
                    names.join(", ")
                ));
            }
        }
    }
    text
}

fn crates() -> (PathBuf, Vec<PathBuf>, Vec<PathBuf>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    rust_files(&src, &mut all);
    all.sort();
    let is_bin = |f: &PathBuf| {
        let rel = f.strip_prefix(&src).unwrap().to_string_lossy().to_string();
        rel == "main.rs" || rel == "cli.rs" || rel.starts_with("cli/")
    };
    let (bin, lib): (Vec<PathBuf>, Vec<PathBuf>) = all.into_iter().partition(is_bin);
    (src, lib, bin)
}

#[test]
fn the_import_graph_has_no_cycle() {
    let (src, lib, bin) = crates();
    let mut report = String::new();
    let mut files = 0;
    for set in [lib, bin] {
        let edges = graph(&src, &set);
        files += edges.len();
        for scc in cycles(&edges) {
            report.push_str(&describe(&edges, &scc));
        }
    }
    assert!(files > 50, "only {files} files read");
    assert!(report.is_empty(), "{report}");
}

/// The check finds a cycle where there is one, through `use` trees,
/// `super::` and inline paths, and leaves tests, comments and strings out.
#[test]
fn the_check_sees_cycles_and_ignores_tests_comments_and_strings() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path();
    let write = |rel: &str, text: &str| {
        let p = src.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    };
    let files = vec![
        write("lib.rs", "pub mod a;\npub mod b;\npub mod c;\n"),
        write(
            "a/mod.rs",
            "pub mod inner;\nuse crate::b::{x::{self, Y}, Z};\npub struct W;\n",
        ),
        write(
            "a/inner.rs",
            "use super::W as Renamed;\nfn f() { super::super::c::g(); }\n",
        ),
        write("b/mod.rs", "pub mod x;\npub struct Z;\n"),
        write("b/x.rs", "pub fn y() -> crate::a::inner::T { todo!() }\n"),
        write(
            "c.rs",
            "// use crate::a;\nconst S: &str = \"crate::a::inner\";\n#[cfg(test)]\nmod tests {\n    use crate::a::inner;\n}\npub fn g() {}\n",
        ),
    ];
    let edges = graph(src, &files);
    let found = cycles(&edges);
    assert_eq!(found.len(), 1, "{edges:?}");
    let names: Vec<String> = found[0]
        .iter()
        .map(|p| p.strip_prefix(src).unwrap().display().to_string())
        .collect();
    // a -> b::x (use tree), b::x -> a::inner (inline path), a::inner -> a
    // (super, renamed); a::inner -> c (super::super) is outside the cycle,
    // and c -> a only in a comment, a string and a test.
    assert_eq!(names, ["a/inner.rs", "a/mod.rs", "b/x.rs"], "{edges:?}");
    assert!(edges[&src.join("c.rs")].is_empty(), "{edges:?}");
    assert!(edges[&src.join("a/inner.rs")].contains_key(&src.join("c.rs")));
}

/// The longest a function outside tests may be, signature to closing brace.
const MAX_FUNCTION_LINES: usize = 120;

/// Every function defined in `code` (comments and literals blanked): its
/// name, first line (1-based) and length in lines, signature to closing
/// brace. Declarations without a body (trait methods) are left out; a
/// nested function is counted on its own and within its parent.
fn functions(code: &str) -> Vec<(String, usize, usize)> {
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(found) = code[at..].find("fn ") {
        let start = at + found;
        at = start + 3;
        let word_start =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let name: String = code[at..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !word_start || name.is_empty() {
            continue;
        }
        let Some(open) = code[at..].find(['{', ';']).map(|o| at + o) else {
            break;
        };
        if bytes[open] == b';' {
            continue;
        }
        let mut depth = 0;
        let mut close = code.len();
        for (j, b) in bytes.iter().enumerate().skip(open) {
            match b {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        close = j;
                        break;
                    }
                }
                _ => {}
            }
        }
        let line = code[..start].matches('\n').count() + 1;
        let lines = code[start..close].matches('\n').count() + 1;
        out.push((name, line, lines));
    }
    out
}

#[test]
fn no_function_outside_tests_is_over_the_limit() {
    let (_, lib, bin) = crates();
    let mut long = Vec::new();
    let mut count = 0;
    for file in lib.iter().chain(&bin) {
        let text = std::fs::read_to_string(file).unwrap();
        let (code, _) = without_tests(&code_only(&text));
        for (name, line, lines) in functions(&code) {
            count += 1;
            if lines > MAX_FUNCTION_LINES {
                long.push(format!(
                    "{}:{line}: fn {name} is {lines} lines",
                    file.display()
                ));
            }
        }
    }
    assert!(count > 500, "only {count} functions read");
    assert!(
        long.is_empty(),
        "functions over {MAX_FUNCTION_LINES} lines (split them into named steps):\n{}",
        long.join("\n")
    );
}

/// The length check counts from `fn` to the closing brace, skips bodiless
/// declarations, and is not fooled by braces or newlines in strings.
#[test]
fn the_length_check_counts_lines_and_ignores_strings() {
    let body = |n: usize| "    let x = 1;\n".repeat(n);
    let code = format!(
        "trait T {{ fn decl(&self); }}\nfn short() {{\n{}}}\nfn long() {{\n    let s = \"{{\n\n}}\";\n{}}}\n",
        body(1),
        body(119)
    );
    let found = functions(&code_only(&code));
    let names: Vec<(&str, usize, usize)> =
        found.iter().map(|(n, l, c)| (n.as_str(), *l, *c)).collect();
    assert_eq!(names, vec![("short", 2, 3), ("long", 5, 124)]);
}
