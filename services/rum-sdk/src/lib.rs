//! How the storefront's build obtains Datadog's browser RUM SDK (`@datadog/browser-rum-slim`, Apache-2.0) to
//! embed: from `LAB_RUM_SDK=/path/to/datadog-rum-slim.js` when given (a machine without the registry), else
//! from the npm registry at the pinned version, its tarball checked against the registry's sha512 integrity
//! pinned here. Without either the build still succeeds and the pages go without RUM ([`absent`] says so).
//! The storefront's `build.rs` only wires these together, so every decision is unit-tested here.

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use sha2::Digest as _;

/// An npm package version pinned by its integrity, and the files taken from its tarball.
#[derive(Debug, Clone, Copy)]
pub struct Pinned {
    pub package: &'static str,
    pub version: &'static str,
    /// The registry's `dist.integrity` of the version's tarball (`sha512-…`).
    pub integrity: &'static str,
    /// The tarball's URL on the registry, for fetching without npm.
    pub tarball: &'static str,
    /// The SDK's path inside the tarball.
    pub bundle: &'static str,
    /// The licence's path inside the tarball.
    pub license: &'static str,
}

/// The SDK the storefront embeds.
pub const SLIM: Pinned = Pinned {
    package: "@datadog/browser-rum-slim",
    version: "7.16.0",
    integrity: "sha512-EkRB42hjRc/5DLYAPeeJ0gczxdRiSW5CzOTWS/hPSnPWbLv5ZILSExhWuEDTHDSjUq5ni80MBiCluL+GMBTLPA==",
    tarball: "https://registry.npmjs.org/@datadog/browser-rum-slim/-/browser-rum-slim-7.16.0.tgz",
    bundle: "package/bundle/datadog-rum-slim.js",
    license: "package/LICENSE",
};

/// The programs that fetch the tarball: npm (`npm pack`, which checks the registry's integrity too), else curl.
#[derive(Debug, Clone, Copy)]
pub struct Fetchers {
    pub npm: &'static str,
    pub curl: &'static str,
}

/// npm and curl from `PATH`.
pub const FETCHERS: Fetchers = Fetchers {
    npm: "npm",
    curl: "curl",
};

/// The SDK found, with its licence notice and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub sdk: Vec<u8>,
    pub license: Vec<u8>,
    /// `npm @datadog/browser-rum-slim@7.16.0`, or `LAB_RUM_SDK /path`.
    pub origin: String,
}

/// The SDK from `given` (`LAB_RUM_SDK`) when set, else from the tarball `fetch` brings, checked against
/// `pinned`'s integrity. `Err` says why there is none.
pub fn obtain(
    pinned: &Pinned,
    given: Option<&Path>,
    fetch: impl FnOnce() -> Result<Vec<u8>, String>,
) -> Result<Found, String> {
    match given {
        Some(path) => from_file(pinned, path),
        None => from_tarball(pinned, &fetch()?),
    }
}

/// What the build says when it has no SDK.
pub fn absent(why: &str) -> String {
    format!(
        "the storefront is built without Datadog's browser SDK ({why}): its pages are served without RUM. Set \
         LAB_RUM_SDK=/path/to/datadog-rum-slim.js to supply it."
    )
}

/// `LAB_RUM_SDK`'s file, with the licence the package ships when it sits beside the file (or one level up, as
/// in the package's `bundle/`), else a notice naming the licence.
fn from_file(pinned: &Pinned, path: &Path) -> Result<Found, String> {
    let sdk = std::fs::read(path).map_err(|e| format!("LAB_RUM_SDK={}: {e}", path.display()))?;
    if sdk.is_empty() {
        return Err(format!("LAB_RUM_SDK={}: the file is empty", path.display()));
    }
    let license = ["LICENSE", "../LICENSE"]
        .iter()
        .find_map(|name| std::fs::read(path.parent()?.join(name)).ok())
        .unwrap_or_else(|| {
            format!(
                "{}: Apache License 2.0, https://www.apache.org/licenses/LICENSE-2.0\n",
                pinned.package
            )
            .into_bytes()
        });
    Ok(Found {
        sdk,
        license,
        origin: format!("LAB_RUM_SDK {}", path.display()),
    })
}

/// The SDK and licence out of `tarball`, once it matches the pinned integrity.
pub fn from_tarball(pinned: &Pinned, tarball: &[u8]) -> Result<Found, String> {
    let got = integrity(tarball);
    if got != pinned.integrity {
        return Err(format!(
            "{}@{}'s tarball does not match its pinned integrity ({got})",
            pinned.package, pinned.version
        ));
    }
    let (mut sdk, mut license) = (None, None);
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tarball));
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let name = entry
            .path()
            .map_err(|e| e.to_string())?
            .display()
            .to_string();
        let slot = match name.as_str() {
            n if n == pinned.bundle => &mut sdk,
            n if n == pinned.license => &mut license,
            _ => continue,
        };
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).map_err(|e| e.to_string())?;
        *slot = Some(bytes);
    }
    let sdk = sdk.ok_or_else(|| format!("{} is not in the tarball", pinned.bundle))?;
    let license = license.ok_or_else(|| format!("{} is not in the tarball", pinned.license))?;
    Ok(Found {
        sdk,
        license,
        origin: format!("npm {}@{}", pinned.package, pinned.version),
    })
}

/// npm's integrity string of `bytes`: `sha512-` and the digest in base64.
pub fn integrity(bytes: &[u8]) -> String {
    let digest = sha2::Sha512::digest(bytes);
    format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The pinned tarball, kept in `dir` once fetched: by npm, else straight from the registry with curl.
pub fn fetch(pinned: &Pinned, dir: &Path, with: Fetchers) -> Result<Vec<u8>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let name = pinned.package.trim_start_matches('@').replace('/', "-");
    let file = dir.join(format!("{name}-{}.tgz", pinned.version));
    if let Ok(bytes) = std::fs::read(&file) {
        return Ok(bytes);
    }
    let npm = Command::new(with.npm)
        .args([
            "pack",
            &format!("{}@{}", pinned.package, pinned.version),
            "--silent",
            "--pack-destination",
        ])
        .arg(dir)
        .current_dir(dir)
        .output();
    let packed = matches!(npm, Ok(done) if done.status.success()) && file.exists();
    if !packed {
        let curl = Command::new(with.curl)
            .args(["-sSfL", "--max-time", "60", "-o"])
            .arg(&file)
            .arg(pinned.tarball)
            .status();
        if !matches!(curl, Ok(status) if status.success()) {
            return Err(format!(
                "neither npm nor curl could fetch {}@{} from the registry",
                pinned.package, pinned.version
            ));
        }
    }
    std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))
}

/// Writes the SDK and its licence (both empty without one) where the storefront includes them from:
/// `rum-sdk.js` and `rum-sdk-LICENSE` in `out`. Returns where the SDK came from (empty without one).
pub fn write(out: &Path, found: Option<&Found>) -> std::io::Result<String> {
    let (sdk, license, origin) = match found {
        Some(found) => (&found.sdk[..], &found.license[..], found.origin.clone()),
        None => (&[][..], &[][..], String::new()),
    };
    std::fs::write(out.join("rum-sdk.js"), sdk)?;
    std::fs::write(out.join("rum-sdk-LICENSE"), license)?;
    Ok(origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDK: &[u8] = b"/* a stand-in SDK */ window.DD_RUM = {};";
    const LICENSE: &[u8] = b"Apache License 2.0";

    /// A package tarball as npm packs it: gzip'd tar with the files under `package/`.
    fn tarball(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        for (name, bytes) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, name, *bytes).unwrap();
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar.into_inner().unwrap()).unwrap();
        gz.finish().unwrap()
    }

    fn pinned_to(tarball: &[u8]) -> Pinned {
        Pinned {
            integrity: Box::leak(integrity(tarball).into_boxed_str()),
            ..SLIM
        }
    }

    fn never() -> Result<Vec<u8>, String> {
        panic!("LAB_RUM_SDK given: nothing is fetched")
    }

    #[test]
    fn lab_rum_sdk_is_taken_as_given_with_the_licence_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle");
        std::fs::create_dir(&bundle).unwrap();
        let file = bundle.join("datadog-rum-slim.js");
        std::fs::write(&file, SDK).unwrap();
        let found = obtain(&SLIM, Some(&file), never).unwrap();
        assert_eq!(found.sdk, SDK);
        assert!(
            String::from_utf8(found.license.clone())
                .unwrap()
                .contains("Apache License 2.0"),
            "a notice naming the licence when the package's is not beside it"
        );
        assert_eq!(found.origin, format!("LAB_RUM_SDK {}", file.display()));
        std::fs::write(dir.path().join("LICENSE"), b"the package's own").unwrap();
        let found = obtain(&SLIM, Some(&file), never).unwrap();
        assert_eq!(
            found.license, b"the package's own",
            "as unpacked: bundle/../LICENSE"
        );

        let missing = dir.path().join("nowhere.js");
        let why = obtain(&SLIM, Some(&missing), never).unwrap_err();
        assert!(
            why.starts_with(&format!("LAB_RUM_SDK={}", missing.display())),
            "{why}"
        );
    }

    #[test]
    fn a_tarball_matching_its_integrity_gives_the_sdk_and_its_licence() {
        let tgz = tarball(&[
            ("package/package.json", b"{}"),
            ("package/bundle/datadog-rum-slim.js", SDK),
            ("package/LICENSE", LICENSE),
        ]);
        let found = obtain(&pinned_to(&tgz), None, || Ok(tgz.clone())).unwrap();
        assert_eq!(
            found,
            Found {
                sdk: SDK.to_vec(),
                license: LICENSE.to_vec(),
                origin: "npm @datadog/browser-rum-slim@7.16.0".into(),
            }
        );
        let without_bundle = tarball(&[("package/LICENSE", LICENSE)]);
        let why = obtain(&pinned_to(&without_bundle), None, || {
            Ok(without_bundle.clone())
        })
        .unwrap_err();
        assert!(
            why.contains("datadog-rum-slim.js is not in the tarball"),
            "{why}"
        );
    }

    #[test]
    fn a_tarball_that_does_not_match_its_integrity_is_refused() {
        let tgz = tarball(&[("package/bundle/datadog-rum-slim.js", SDK)]);
        let why = obtain(&SLIM, None, || Ok(tgz.clone())).unwrap_err();
        assert!(why.contains("does not match its pinned integrity"), "{why}");
        assert!(why.contains(&integrity(&tgz)), "says what it got: {why}");
    }

    #[test]
    fn without_npm_curl_or_lab_rum_sdk_the_build_goes_without_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let nothing = Fetchers {
            npm: "/nonexistent/npm",
            curl: "/nonexistent/curl",
        };
        let why = obtain(&SLIM, None, || fetch(&SLIM, dir.path(), nothing)).unwrap_err();
        assert_eq!(
            why,
            "neither npm nor curl could fetch @datadog/browser-rum-slim@7.16.0 from the registry"
        );
        let said = absent(&why);
        assert!(said.contains("served without RUM"), "{said}");
        assert!(
            said.contains("LAB_RUM_SDK=/path/to/datadog-rum-slim.js"),
            "{said}"
        );
        // What the storefront then includes: nothing, and no origin.
        assert_eq!(write(dir.path(), None).unwrap(), "");
        assert!(
            std::fs::read(dir.path().join("rum-sdk.js"))
                .unwrap()
                .is_empty()
        );
        assert!(
            std::fs::read(dir.path().join("rum-sdk-LICENSE"))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_tarball_fetched_once_is_kept_and_not_fetched_again() {
        let dir = tempfile::tempdir().unwrap();
        let kept = dir.path().join("datadog-browser-rum-slim-7.16.0.tgz");
        std::fs::write(&kept, b"kept").unwrap();
        let nothing = Fetchers {
            npm: "/nonexistent/npm",
            curl: "/nonexistent/curl",
        };
        assert_eq!(fetch(&SLIM, dir.path(), nothing).unwrap(), b"kept");
    }
}
