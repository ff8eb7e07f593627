//! Obtains Datadog's browser RUM SDK (`@datadog/browser-rum-slim`, Apache-2.0) for the storefront to embed and
//! serve: from `LAB_RUM_SDK=/path/to/datadog-rum-slim.js` when given (a machine without the registry), else from
//! the npm registry at the pinned version, its tarball checked against the registry's sha512 integrity pinned
//! here. Without either the build still succeeds: the pages are served without RUM, and `lab up` says so.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use sha2::Digest as _;

const PACKAGE: &str = "@datadog/browser-rum-slim";
const VERSION: &str = "7.16.0";
/// The registry's `dist.integrity` of the version's tarball.
const INTEGRITY: &str = "sha512-EkRB42hjRc/5DLYAPeeJ0gczxdRiSW5CzOTWS/hPSnPWbLv5ZILSExhWuEDTHDSjUq5ni80MBiCluL+GMBTLPA==";
const TARBALL: &str =
    "https://registry.npmjs.org/@datadog/browser-rum-slim/-/browser-rum-slim-7.16.0.tgz";
const BUNDLE: &str = "package/bundle/datadog-rum-slim.js";
const LICENSE: &str = "package/LICENSE";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=LAB_RUM_SDK");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let (sdk, license, origin) = match obtain(&out) {
        Ok(found) => found,
        Err(why) => {
            println!(
                "cargo:warning=the storefront is built without Datadog's browser SDK ({why}): its pages \
                 are served without RUM. Set LAB_RUM_SDK=/path/to/datadog-rum-slim.js to supply it."
            );
            (Vec::new(), Vec::new(), String::new())
        }
    };
    std::fs::write(out.join("rum-sdk.js"), sdk).expect("writing OUT_DIR/rum-sdk.js");
    std::fs::write(out.join("rum-sdk-LICENSE"), license).expect("writing the licence");
    println!("cargo:rustc-env=LAB_RUM_SDK_ORIGIN={origin}");
}

/// The SDK, its licence notice and where it came from.
fn obtain(out: &Path) -> Result<(Vec<u8>, Vec<u8>, String), String> {
    if let Some(path) = std::env::var_os("LAB_RUM_SDK").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        println!("cargo:rerun-if-changed={}", path.display());
        let sdk =
            std::fs::read(&path).map_err(|e| format!("LAB_RUM_SDK={}: {e}", path.display()))?;
        // The licence is the one the package ships, when it sits beside the file.
        let license = ["LICENSE", "../LICENSE"]
            .iter()
            .find_map(|name| std::fs::read(path.parent()?.join(name)).ok())
            .unwrap_or_else(|| {
                format!(
                    "{PACKAGE}: Apache License 2.0, https://www.apache.org/licenses/LICENSE-2.0\n"
                )
                .into_bytes()
            });
        return Ok((sdk, license, format!("LAB_RUM_SDK {}", path.display())));
    }
    let tarball = fetch(out)?;
    let want = INTEGRITY
        .strip_prefix("sha512-")
        .expect("a sha512 integrity");
    let got = base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(&tarball));
    if got != want {
        return Err(format!(
            "{PACKAGE}@{VERSION}'s tarball does not match its pinned integrity (sha512-{got})"
        ));
    }
    let (mut sdk, mut license) = (None, None);
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&tarball[..]));
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let name = entry
            .path()
            .map_err(|e| e.to_string())?
            .display()
            .to_string();
        let slot = match name.as_str() {
            BUNDLE => &mut sdk,
            LICENSE => &mut license,
            _ => continue,
        };
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).map_err(|e| e.to_string())?;
        *slot = Some(bytes);
    }
    let sdk = sdk.ok_or_else(|| format!("{BUNDLE} is not in the tarball"))?;
    let license = license.ok_or_else(|| format!("{LICENSE} is not in the tarball"))?;
    Ok((sdk, license, format!("npm {PACKAGE}@{VERSION}")))
}

/// The tarball, by npm (`npm pack`, which checks it against the registry's integrity too) or, without npm,
/// straight from the registry with curl.
fn fetch(out: &Path) -> Result<Vec<u8>, String> {
    let dir = out.join("npm");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let file = dir.join(format!("datadog-browser-rum-slim-{VERSION}.tgz"));
    if let Ok(bytes) = std::fs::read(&file) {
        return Ok(bytes);
    }
    let npm = Command::new("npm")
        .args([
            "pack",
            &format!("{PACKAGE}@{VERSION}"),
            "--silent",
            "--pack-destination",
        ])
        .arg(&dir)
        .current_dir(&dir)
        .output();
    match npm {
        Ok(done) if done.status.success() => {}
        _ => {
            let curl = Command::new("curl")
                .args(["-sSfL", "--max-time", "60", "-o"])
                .arg(&file)
                .arg(TARBALL)
                .status();
            if !matches!(curl, Ok(status) if status.success()) {
                return Err(format!(
                    "neither npm nor curl could fetch {PACKAGE}@{VERSION} from the registry"
                ));
            }
        }
    }
    std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))
}
