//! Obtains Datadog's browser RUM SDK for the storefront to embed and serve, as `rum-sdk` decides: from
//! `LAB_RUM_SDK=/path/to/datadog-rum-slim.js` when given, else from the npm registry at the pinned version with
//! its integrity checked. Without either the build still succeeds: the pages are served without RUM, and
//! `lab up` says so.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=LAB_RUM_SDK");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let given = std::env::var_os("LAB_RUM_SDK")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    if let Some(path) = &given {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    let pinned = &rum_sdk::SLIM;
    let built = rum_sdk::obtain(pinned, given.as_deref(), || {
        rum_sdk::fetch(pinned, &out.join("npm"), rum_sdk::FETCHERS)
    });
    if let Err(why) = &built {
        println!("cargo:warning={}", rum_sdk::absent(why));
    }
    let origin = rum_sdk::write(&out, built.ok().as_ref()).expect("writing the SDK into OUT_DIR");
    println!("cargo:rustc-env=LAB_RUM_SDK_ORIGIN={origin}");
}
