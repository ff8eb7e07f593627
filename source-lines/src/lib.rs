//! The sandboxed source reader: the lines around a `file:line` a span named (where an error was raised,
//! where an N+1 loop runs), read only from a project's own source files and never from outside its root.
//! The dashboard reads with it when it runs beside the source tree; the collector's query API serves the
//! same lines, under the same rules, to dashboards elsewhere (`lab tui --connect`).
//!
//! A span from any sender can name any path: a path is refused when it leads outside the workspace (`..`, a
//! root, a link out), names a hidden file or folder, or is not source code, templates or queries by its
//! extension (configuration may hold secrets); a workspace is used only when it looks like a project's root.

use std::io::{BufRead as _, BufReader};
use std::path::{Component, Path, PathBuf};

/// Numbered source lines, or why there are none.
pub type Lines = Result<Vec<(u32, String)>, String>;

/// Lines of source shown above and below the failing one.
pub const SOURCE_CONTEXT: u32 = 2;
/// Source files larger than this are not read.
pub const MAX_SOURCE_BYTES: u64 = 8 << 20;

/// Project roots hold one of these: a workspace without any shows no source, wherever it is.
pub const PROJECT_MARKERS: [&str; 5] = [
    "Cargo.toml",
    ".git",
    "package.json",
    "pyproject.toml",
    "go.mod",
];
/// Extensions of the files whose lines the details show: source code, templates and queries (not configuration,
/// which may hold secrets).
pub const SOURCE_EXTENSIONS: [&str; 24] = [
    "rs", "py", "go", "js", "ts", "tsx", "jsx", "java", "kt", "rb", "php", "cs", "c", "h", "cc",
    "cpp", "hpp", "swift", "scala", "ex", "exs", "erl", "html", "sql",
];

/// Whether `path` (relative, as written) stays below where it starts: no `..`, no root, at least one name.
fn stays_inside(path: &Path) -> bool {
    let mut normal = false;
    for component in path.components() {
        match component {
            Component::Normal(_) => normal = true,
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    normal
}

/// Whether `path` names a source file: a source-code extension, and no hidden file or folder on the way (a
/// span from any sender can name any path; `.ssh/id_rsa` or `.env` are not what the details are for).
fn is_source_file(path: &Path) -> bool {
    let hidden = path.components().any(|c| match c {
        Component::Normal(name) => name.as_encoded_bytes().starts_with(b"."),
        _ => false,
    });
    let extension = path.extension().and_then(|e| e.to_str());
    !hidden
        && extension.is_some_and(|e| SOURCE_EXTENSIONS.iter().any(|s| s.eq_ignore_ascii_case(e)))
}

/// Whether `root` looks like a project's root (it holds one of [`PROJECT_MARKERS`]): the dashboard started in
/// a home folder shows nothing from it.
fn is_project(root: &Path) -> bool {
    PROJECT_MARKERS
        .iter()
        .any(|marker| std::fs::symlink_metadata(root.join(marker)).is_ok())
}

/// `file` relative to `workspace`, refused when it could lead outside it, also through a link; with where it
/// really is, relative to the workspace (what a link leads to).
fn workspace_file(workspace: &Path, file: &str) -> Option<(PathBuf, PathBuf)> {
    let relative = Path::new(file);
    if !stays_inside(relative) {
        return None;
    }
    let root = workspace.canonicalize().ok()?;
    let path = root.join(relative).canonicalize().ok()?;
    let within = path.strip_prefix(&root).ok()?.to_owned();
    Some((path, within))
}

/// The lines `line - SOURCE_CONTEXT ..= line + SOURCE_CONTEXT` of `file` under `workspace`, read only when
/// `workspace` is a project's root and `file` a source file in it (also where a link leads), else why not.
/// Lines come as written (tabs as four spaces, line ends cut); `file` is named as given in the reasons: a
/// terminal showing either escapes them first.
pub fn read(workspace: Option<&Path>, file: &str, line: u32) -> Lines {
    let shown = file;
    let Some(workspace) = workspace else {
        return Err(format!(
            "source not read (no workspace given: --workspace DIR names one): {shown}"
        ));
    };
    if !stays_inside(Path::new(file)) {
        return Err(format!("source not in this workspace: {shown}"));
    }
    if !is_source_file(Path::new(file)) {
        return Err(format!("source not shown (not a source file): {shown}"));
    }
    if !is_project(workspace) {
        return Err(format!(
            "source not shown (the workspace is not a project's root: --workspace DIR names one): {shown}"
        ));
    }
    let Some((path, within)) = workspace_file(workspace, file) else {
        return Err(format!("source not in this workspace: {shown}"));
    };
    // A link may lead elsewhere in the workspace: what it leads to must be a source file too.
    if !is_source_file(&within) {
        return Err(format!("source not shown (not a source file): {shown}"));
    }
    let metadata =
        std::fs::metadata(&path).map_err(|_| format!("source not in this workspace: {shown}"))?;
    if !metadata.is_file() {
        return Err(format!("source not in this workspace: {shown}"));
    }
    if metadata.len() > MAX_SOURCE_BYTES {
        return Err(format!("source too large to show: {shown}"));
    }
    let file_handle =
        std::fs::File::open(&path).map_err(|e| format!("source not readable: {shown} ({e})"))?;
    // Read no further than the size checked above, should the file grow meanwhile.
    let mut reader = BufReader::new(std::io::Read::take(file_handle, MAX_SOURCE_BYTES));
    let first = line.saturating_sub(SOURCE_CONTEXT).max(1);
    let last = line.saturating_add(SOURCE_CONTEXT);
    let mut out = Vec::new();
    let mut bytes = Vec::new();
    let mut number = 0_u32;
    while number < last {
        bytes.clear();
        match reader.read_until(b'\n', &mut bytes) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return Err(format!("source not readable: {shown} ({e})")),
        }
        number += 1;
        if number >= first {
            let text = String::from_utf8_lossy(&bytes);
            let text = text.trim_end_matches(['\n', '\r']).replace('\t', "    ");
            out.push((number, text));
        }
    }
    if number < line {
        return Err(format!("{shown} has no line {line} here (it has {number})"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{PROJECT_MARKERS, read};

    const BANNER_FILE: &str = "services/storefront/src/layout.rs";

    /// A project (a `Cargo.toml` marks it) with a 20-line source file.
    fn workspace() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Cargo.toml"), "[workspace]\n").unwrap();
        let file = dir.path().join(BANNER_FILE);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        let text: String = (1..=20).map(|n| format!("\tline {n}\r\n")).collect();
        std::fs::write(file, text).unwrap();
        dir
    }

    #[test]
    fn source_outside_the_workspace_is_named_not_read() {
        let dir = workspace();
        for path in [
            "../secret.rs",
            "/etc/passwd",
            "services/../../x.rs",
            "",
            ".",
        ] {
            let read = read(Some(dir.path()), path, 1);
            assert!(read.is_err(), "{path:?} must be refused");
        }
        let inside = read(Some(dir.path()), &format!("./{BANNER_FILE}"), 1).unwrap();
        assert_eq!(
            inside,
            [
                (1, "    line 1".to_owned()),
                (2, "    line 2".to_owned()),
                (3, "    line 3".to_owned())
            ],
            "lines 1 to 3, tabs as spaces, line ends cut"
        );
        assert!(read(Some(dir.path()), BANNER_FILE, 500).is_err());
        assert!(read(None, BANNER_FILE, 1).is_err());
    }

    #[test]
    fn source_is_shown_only_from_a_projects_source_files() {
        fn write(root: &Path, file: &str, text: &str) {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let lines = "one\ntwo\nthree\n";
        let project = tempfile::tempdir().unwrap();
        let root = project.path();
        write(root, "Cargo.toml", "[package]\n");
        write(root, "src/main.rs", lines);
        write(root, "src/page.HTML", lines);
        write(root, ".ssh/id_rsa", lines);
        write(root, ".env", lines);
        write(root, "secrets/key.rs.bak", lines);
        write(root, "notes.txt", lines);
        write(root, "config/.hidden.toml", lines);

        let shown = read(Some(root), "src/main.rs", 2).unwrap();
        assert_eq!(
            shown,
            [
                (1, "one".to_owned()),
                (2, "two".to_owned()),
                (3, "three".to_owned())
            ]
        );
        assert!(read(Some(root), "src/page.HTML", 1).is_ok(), "any case");
        for file in [
            ".ssh/id_rsa",
            "./.ssh/id_rsa",
            ".env",
            "secrets/key.rs.bak",
            "notes.txt",
            "config/.hidden.toml",
            "Cargo.lock",
            "Cargo.toml",
        ] {
            let why = read(Some(root), file, 1).unwrap_err();
            assert_eq!(
                why,
                format!("source not shown (not a source file): {file}"),
                "{file}"
            );
        }
        // A source file's name leading to another file (a link) is judged by where it leads.
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(root.join(".ssh/id_rsa"), root.join("src/key.rs")).unwrap();
            let why = read(Some(root), "src/key.rs", 1).unwrap_err();
            assert!(
                why.starts_with("source not shown (not a source file)"),
                "{why}"
            );
        }

        // The same file, without anything that makes its folder a project: not shown.
        let loose = tempfile::tempdir().unwrap();
        write(loose.path(), "src/main.rs", lines);
        let why = read(Some(loose.path()), "src/main.rs", 2).unwrap_err();
        assert_eq!(
            why,
            "source not shown (the workspace is not a project's root: --workspace DIR names one): src/main.rs"
        );
        // Any of the markers makes it one.
        for marker in PROJECT_MARKERS {
            let dir = tempfile::tempdir().unwrap();
            write(dir.path(), "src/main.rs", lines);
            std::fs::create_dir(dir.path().join(marker)).unwrap();
            assert!(read(Some(dir.path()), "src/main.rs", 2).is_ok(), "{marker}");
        }
    }
}
